import { type Api, Composer, type Context } from 'grammy';
import type { InlineKeyboardButton, Message, SuccessfulPayment } from 'grammy/types';
import type { PendingJob } from '../payments/pending-jobs.js';
import { texts } from '../texts.js';
import { type BotServices, type BotSettings, describeError } from './services.js';
import { summaryFailureText } from './summary-failures.js';
import { deliverSummary } from './summary-messages.js';

/**
 * Telegram Stars: /topup packages, per-job invoices for long texts, the pre-checkout answer, crediting
 * successful payments once per charge id, and the refund of a paid job that failed.
 */

const STARS = 'XTR';

/** What an invoice pays for; its payload is the only link between a payment and the bot's state. */
type InvoicePayload = { kind: 'topup'; stars: number } | { kind: 'job'; pendingId: string };

function parsePayload(payload: string): InvoicePayload | undefined {
  const topup = payload.match(/^topup:(\d{1,6})$/);
  if (topup?.[1] !== undefined) return { kind: 'topup', stars: Number(topup[1]) };
  const job = payload.match(/^job:([0-9a-f]{32})$/);
  if (job?.[1] !== undefined) return { kind: 'job', pendingId: job[1] };
  return undefined;
}

const topUpInvoice = (stars: number, nanotonsPerStar: bigint) =>
  [
    texts.invoiceTitle(stars),
    texts.invoiceDescription(BigInt(stars) * nanotonsPerStar),
    `topup:${stars}`,
    [{ label: texts.invoiceTitle(stars), amount: stars }],
  ] as const;

/** An invoice link for a Stars top-up package, for the Mini App's `openInvoice`. */
export function createStarsTopUpLink(
  api: Api,
  stars: number,
  settings: Pick<BotSettings, 'starsPackages' | 'nanotonsPerStar'>,
): Promise<string> {
  if (!settings.starsPackages.includes(stars)) {
    throw new RangeError(`${stars} Stars is not one of the offered packages`);
  }
  const [title, description, payload, prices] = topUpInvoice(stars, settings.nanotonsPerStar);
  return api.createInvoiceLink(title, description, payload, '', STARS, [...prices]);
}

/** Sends the invoice that pays for one pending job in Stars. */
export async function sendJobInvoice(ctx: Context, pending: PendingJob): Promise<void> {
  await ctx.api.sendInvoice(
    pending.userId,
    texts.jobInvoiceTitle,
    texts.jobInvoiceDescription(pending.estimate),
    `job:${pending.id}`,
    STARS,
    [{ label: texts.jobInvoiceTitle, amount: pending.stars }],
    { provider_token: '' },
  );
}

function topUpKeyboard(services: BotServices): InlineKeyboardButton[][] {
  const { starsPackages, nanotonsPerStar, miniAppUrl } = services.settings;
  return [
    starsPackages.map((stars) => ({
      text: texts.topupButton(stars, nanotonsPerStar),
      callback_data: `topup:${stars}`,
    })),
    ...(miniAppUrl === undefined ? [] : [[{ text: texts.topupAppButton, web_app: { url: miniAppUrl } }]]),
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

export function payments(services: BotServices): Composer<Context> {
  const composer = new Composer<Context>();

  composer.chatType('private').command('topup', async (ctx) => {
    await ctx.reply(texts.topup(services.settings.nanotonsPerStar), {
      parse_mode: 'HTML',
      reply_markup: { inline_keyboard: topUpKeyboard(services) },
    });
  });

  composer.callbackQuery(/^topup:(\d{1,6})$/, async (ctx) => {
    const stars = Number(ctx.match[1]);
    if (!services.settings.starsPackages.includes(stars)) {
      return void (await ctx.answerCallbackQuery({ text: texts.unknownPayment, show_alert: true }));
    }
    await ctx.answerCallbackQuery();
    const [title, description, payload, prices] = topUpInvoice(stars, services.settings.nanotonsPerStar);
    await ctx.api.sendInvoice(ctx.from.id, title, description, payload, STARS, prices, {
      provider_token: '',
    });
  });

  composer.on('pre_checkout_query', async (ctx) => {
    const query = ctx.preCheckoutQuery;
    if (acceptable(services, query.invoice_payload, query.currency, query.total_amount, query.from.id)) {
      await ctx.answerPreCheckoutQuery(true);
    } else {
      services.logger.warn({ userId: query.from.id }, 'refused a pre-checkout query for an unknown invoice');
      await ctx.answerPreCheckoutQuery(false, { error_message: texts.unknownPayment });
    }
  });

  composer.on('message:successful_payment', async (ctx) => {
    const payment = ctx.message.successful_payment;
    if (payment.currency !== STARS) return;
    const credited = await creditStars(services, ctx.from.id, payment);
    const payload = parsePayload(payment.invoice_payload);
    if (payload?.kind === 'job') return runPaidJob(ctx, services, payload.pendingId, payment, credited);
    await ctx.reply(texts.credited(credited, await services.store.balance(ctx.from.id)));
  });

  return composer;
}

/** Credits a Stars payment once per charge id; returns the nanotons it is worth. */
async function creditStars(
  services: BotServices,
  userId: number,
  payment: SuccessfulPayment,
): Promise<bigint> {
  const amount = BigInt(payment.total_amount) * services.settings.nanotonsPerStar;
  const added = await services.store.addLedgerEntry({
    key: `stars:${payment.telegram_payment_charge_id}`,
    account: userId,
    amount,
    kind: 'stars',
    stars: payment.total_amount,
    at: services.clock.now(),
  });
  services.logger.info({ userId, stars: payment.total_amount, added }, 'stars payment credited');
  return amount;
}

/** Runs the job a Stars payment was for; when it cannot run or fails, the payment is refunded. */
async function runPaidJob(
  ctx: Context & { from: { id: number } },
  services: BotServices,
  pendingId: string,
  payment: SuccessfulPayment,
  credited: bigint,
): Promise<void> {
  const pending = services.pendingJobs.take(pendingId, ctx.from.id);
  if (pending === undefined) {
    await refund(ctx, services, payment, credited);
    return void (await ctx.reply(texts.jobExpired));
  }
  await ctx.replyWithChatAction('typing');
  const progress: Message = await ctx.reply(texts.summarizing);
  try {
    await deliverSummary(ctx, await services.summaries.summarize(pending.job), progress);
  } catch (error) {
    services.logger.warn({ error: describeError(error) }, 'paid summary failed');
    await ctx.api.editMessageText(progress.chat.id, progress.message_id, summaryFailureText(error, services));
    await refund(ctx, services, payment, credited);
  }
}

/** Refunds a Stars payment and takes its credit back (once per charge id). */
async function refund(
  ctx: Context & { from: { id: number } },
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
  await ctx.reply(texts.refunded(payment.total_amount));
}
