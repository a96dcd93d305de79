import type { Translate } from '../i18n.js';
import { PaymentRequiredError } from '../payments/billing.js';
import { formatTon } from '../payments/pricing.js';
import { SummarizeError } from '../summarize/types.js';
import type { BotServices } from './services.js';

/** What to tell the user when a summary was not made. */
export function summaryFailureText(t: Translate, error: unknown, services: BotServices): string {
  if (error instanceof PaymentRequiredError) {
    return t('payment-required', {
      freeDaily: services.settings.freeDailySummaries,
      estimate: formatTon(error.estimate),
      balance: formatTon(error.balance),
    });
  }
  if (error instanceof SummarizeError && error.code === 'busy') return t('summary-busy');
  return t('summary-failed');
}
