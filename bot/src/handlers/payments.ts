import { type Api, Composer } from 'grammy';
import type { InlineKeyboardButton, Message, SuccessfulPayment } from 'grammy/types';
import { z } from 'zod';
import { type BotContext, type Locale, type Translate, translator } from '../i18n.js';
import type { PendingJob } from '../payments/pending-jobs.js';
import { formatTon } from '../payments/pricing.js';
import { type BotServices, type BotSettings, describeError } from './services.js';
import { summaryFailureText } from './summary-failures.js';
import { deliverSummary } from './summary-messages.js';

/**
 * Telegram Stars: /topup packages, per-job invoices for long texts, the pre-checkout answer, crediting
 * successful payments once per charge id, and the refund of a paid job that failed.
 */

const STARS = 'XTR';

const StarsPayment = z.object({
  currency: z.literal(STARS),
  total_amount: z.number().int().positive().max(1_000_000),
  telegram_payment_charge_id: z.string().min(1),
});

/** What an invoice pays for; its payload is the only link between a payment and the bot's state. */
type InvoicePayload = { kind: 'topup'; stars: number } | { kind: 'job'; pendingId: string };

function parsePayload(payload: string): InvoicePayload | undefined {
  const topup = payload.match(/^topup:(\d{1,6})$/);
  if (topup?.[1] !== undefined) return { kind: 'topup', stars: Number(topup[1]) };
  const job = payload.match(/^job:([0-9a-f]{32})$/);
  if (job?.[1] !== undefined) return { kind: 'job', pendingId: job[1] };
  return undefined;
}

const topUpInvoice = (t: Translate, stars: number, nanotonsPerStar: bigint) => {
  const title = t('invoice-title', { stars });
  return [
    title,
    t('invoice-description', { amount: formatTon(BigInt(stars) * nanotonsPerStar) }),
    `topup:${stars}`,
    [{ label: title, amount: stars }],
  ] as const;
};

/** An invoice link for a Stars top-up package, for the Mini App's `openInvoice`, in the user's language. */
export function createStarsTopUpLink(
  api: Api,
  stars: number,
  settings: Pick<BotSettings, 'starsPackages' | 'nanotonsPerStar'>,
  locale: Locale,
): Promise<string> {
  if (!settings.starsPackages.includes(stars)) {
    throw new RangeError(`${stars} Stars is not one of the offered packages`);
  }
  const [title, description, payload, prices] = topUpInvoice(
    translator(locale),
    stars,
    settings.nanotonsPerStar,
  );
  return api.createInvoiceLink(title, description, payload, '', STARS, [...prices]);
}

/** Sends the invoice that pays for one pending job in Stars. */
export async function sendJobInvoice(ctx: BotContext, pending: PendingJob): Promise<void> {
  const title = ctx.t('job-invoice-title');
  await ctx.api.sendInvoice(
    pending.userId,
    title,
    ctx.t('job-invoice-description', { estimate: formatTon(pending.estimate) }),
    `job:${pending.id}`,
    STARS,
    [{ label: title, amount: pending.stars }],
    { provider_token: '' },
  );
}

function topUpKeyboard(t: Translate, services: BotServices): InlineKeyboardButton[][] {
  const { starsPackages, nanotonsPerStar, miniAppUrl } = services.settings;
  return [
    starsPackages.map((stars) => ({
      text: t('topup-button', { stars, amount: formatTon(BigInt(stars) * nanotonsPerStar) }),
      callback_data: `topup:${stars}`,
    })),
    ...(miniAppUrl === undefined ? [] : [[{ text: t('topup-app-button'), web_app: { url: miniAppUrl } }]]),
  ];
}

/** Is this the invoice the bot issued, still valid, for this amount and user? */
function acceptable(services: BotServices, payload: string, currency: string, total: number, userId: number) {
  const parsed = parsePayload(payload);
  if (parsed === undefined || currency !== STARS) return false;
  if (parsed.kind === 'topup')
    return services.settings.starsPackages.includes(parsed.stars) && total === parsed.stars;
  return services.pendingJobs.get(parsed.pendingId, userId)?.stars === total;
}

export function payments(services: BotServices): Composer<BotContext> {
  const composer = new Composer<BotContext>();

  composer.chatType('private').command('topup', async (ctx) => {
    await ctx.reply(ctx.t('topup', { rate: formatTon(services.settings.nanotonsPerStar) }), {
      parse_mode: 'HTML',
      reply_markup: { inline_keyboard: topUpKeyboard(ctx.t, services) },
    });
  });

  composer.callbackQuery(/^topup:(\d{1,6})$/, async (ctx) => {
    const stars = Number(ctx.match[1]);
    if (!services.settings.starsPackages.includes(stars)) {
      return void (await ctx.answerCallbackQuery({ text: ctx.t('unknown-payment'), show_alert: true }));
    }
    await ctx.answerCallbackQuery();
    const [title, description, payload, prices] = topUpInvoice(
      ctx.t,
      stars,
      services.settings.nanotonsPerStar,
    );
    await ctx.api.sendInvoice(ctx.from.id, title, description, payload, STARS, prices, {
      provider_token: '',
    });
  });

  composer.on('pre_checkout_query', async (ctx) => {
    const query = ctx.preCheckoutQuery;
    if (acceptable(services, query.invoice_payload, query.currency, query.total_amount, query.from.id)) {
      await ctx.answerPreCheckoutQuery(true);
    } else {
      services.metrics.refuse('pre_checkout_refused');
      services.logger.warn({ userId: query.from.id }, 'refused a pre-checkout query for an unknown invoice');
      await ctx.answerPreCheckoutQuery(false, { error_message: ctx.t('unknown-payment') });
    }
  });

  composer.on('message:successful_payment', async (ctx) => {
    const payment = ctx.message.successful_payment;
    // Telegram only sends what it charged; a shape it never sends (another currency, a non-positive or
    // fractional total) can only be forged, and crediting it could debit or crash.
    if (!StarsPayment.safeParse(payment).success) {
      services.metrics.refuse('payment_forged');
      services.logger.warn({ userId: ctx.from.id }, 'ignored a successful_payment that Telegram never sends');
      return;
    }
    const { amount: credited, added } = await creditStars(services, ctx.from.id, payment);
    // Telegram may deliver an update twice: the second must neither run the paid job again nor refund it.
    if (!added) return;
    const payload = parsePayload(payment.invoice_payload);
    if (payload?.kind === 'job') return runPaidJob(ctx, services, payload.pendingId, payment, credited);
    const balance = await services.store.balance(ctx.from.id);
    await ctx.reply(ctx.t('credited', { amount: formatTon(credited), balance: formatTon(balance) }));
  });

  return composer;
}

/** Credits a Stars payment once per charge id; returns the nanotons it is worth, and whether this credited it. */
async function creditStars(
  services: BotServices,
  userId: number,
  payment: SuccessfulPayment,
): Promise<{ amount: bigint; added: boolean }> {
  const amount = BigInt(payment.total_amount) * services.settings.nanotonsPerStar;
  const added = await services.store.addLedgerEntry({
    key: `stars:${payment.telegram_payment_charge_id}`,
    account: userId,
    amount,
    kind: 'stars',
    stars: payment.total_amount,
    at: services.clock.now(),
  });
  services.metrics.credit('stars', amount, added);
  services.logger.info({ userId, stars: payment.total_amount, added }, 'stars payment credited');
  return { amount, added };
}

/** Runs the job a Stars payment was for; when it cannot run or fails, the payment is refunded. */
async function runPaidJob(
  ctx: BotContext & { from: { id: number } },
  services: BotServices,
  pendingId: string,
  payment: SuccessfulPayment,
  credited: bigint,
): Promise<void> {
  const pending = services.pendingJobs.take(pendingId, ctx.from.id);
  if (pending === undefined) {
    await refund(ctx, services, payment, credited);
    return void (await ctx.reply(ctx.t('job-expired')));
  }
  await ctx.replyWithChatAction('typing');
  const progress: Message = await ctx.reply(ctx.t('summarizing'));
  try {
    await deliverSummary(ctx, await services.summaries.summarize(pending.job), progress);
  } catch (error) {
    services.logger.warn({ error: describeError(error) }, 'paid summary failed');
    await ctx.api.editMessageText(
      progress.chat.id,
      progress.message_id,
      summaryFailureText(ctx.t, error, services),
    );
    await refund(ctx, services, payment, credited);
  }
}

/** Refunds a Stars payment and takes its credit back (once per charge id). */
async function refund(
  ctx: BotContext & { from: { id: number } },
  services: BotServices,
  payment: SuccessfulPayment,
  credited: bigint,
): Promise<void> {
  const chargeId = payment.telegram_payment_charge_id;
  const key = `refund:${chargeId}`;
  if ((await services.store.ledgerEntry(key)) !== undefined) return;
  // Stars first: if Telegram refuses, the user keeps the credit instead of losing both.
  await ctx.api.refundStarPayment(ctx.from.id, chargeId);
  await services.store.addLedgerEntry({
    key,
    account: ctx.from.id,
    amount: -credited,
    kind: 'refund',
    stars: payment.total_amount,
    at: services.clock.now(),
  });
  await ctx.reply(ctx.t('refunded', { stars: payment.total_amount }));
}
