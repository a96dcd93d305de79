import { PaymentRequiredError } from '../payments/billing.js';
import { texts } from '../texts.js';
import type { BotServices } from './services.js';

/** What to tell the user when a summary was not made. */
export function summaryFailureText(error: unknown, services: BotServices): string {
  if (error instanceof PaymentRequiredError) {
    return texts.paymentRequired(services.settings.freeDailySummaries, error.estimate, error.balance);
  }
  return texts.summaryFailed;
}
