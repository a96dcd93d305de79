import { escapeHtml } from './format.js';
import type { FetchPageErrorCode } from './links/fetch-page.js';
import { formatTon } from './payments/pricing.js';
import type { ChannelSettings, JobRecord } from './store/types.js';

/** Every text the bot shows, in one place (English; Russian comes with i18n). HTML parse mode. */
export const texts = {
  welcome: (firstName: string) =>
    `Hi, ${escapeHtml(firstName)}! I summarize what you send me, privately: the text is only ever read inside an attested enclave.\n\n` +
    '• Forward me a post or paste a text.\n' +
    '• Send me a link: I read the article and summarize it.\n' +
    '• In any chat, type my name and a link to share a summary.\n' +
    '• Add me to your channel as an admin: long posts get a ✨ Summary button.',
  help: (botUsername: string) =>
    '<b>What I do</b>\n' +
    '• A forwarded post or a pasted text → its summary.\n' +
    '• A link → the article on the page, summarized, with its title and source.\n' +
    `• Inline: type <code>@${botUsername} https://…</code> in any chat.\n` +
    '• Channels: make me an admin with the right to edit messages; I add a ✨ Summary button under long posts.\n\n' +
    '/start: welcome · /help: this message\n' +
    '/balance: your credit · /topup: add credit · /settings: summary language and length\n' +
    '/history: your recent summaries · /privacy: who can see what',
  tooShort: (minLength: number) =>
    `Send me a text of at least ${minLength} characters, a forwarded post or a link, and I will summarize it.`,
  nothingToSummarize: 'Send me a text, a forwarded post or a link, and I will summarize it.',
  reading: '⏳ Reading the page…',
  summarizing: '⏳ Summarizing…',
  summaryFailed: 'I could not make a summary right now. Please try again in a minute.',
  summaryMissing: 'This summary is no longer available. Tap the ✨ Summary button under the post again.',
  summaryButton: '✨ Summary',
  tapFailed: 'Could not summarize this post right now. Please try again in a minute.',
  inlineHint: 'Paste a link to summarize',
  inlineOpenBot: 'Summarize in the bot',
  inlineStillReading: 'Still reading… try again in a moment',
  pageError: (code: FetchPageErrorCode | 'no-article', detail?: number): string => {
    switch (code) {
      case 'invalid-url':
        return 'This does not look like a link I can open.';
      case 'unsupported-scheme':
        return 'I only open http and https links.';
      case 'refused-address':
        return 'I can’t open this link: it leads to a private or local network address.';
      case 'dns-failed':
        return 'I could not find this site. Is the address right?';
      case 'too-many-redirects':
        return 'This link redirects too many times.';
      case 'http-status':
        return `The site answered with an error${detail === undefined ? '' : ` (${detail})`}.`;
      case 'unsupported-content-type':
        return 'This link is not a web page or a text I can read.';
      case 'invalid-body':
        return 'The page could not be read.';
      case 'timeout':
        return 'The page took too long to load.';
      case 'aborted':
      case 'network':
        return 'I could not load the page. Please try again later.';
      case 'no-article':
        return 'I could not find an article on this page.';
    }
  },
  addedToChannel: (channel: string, settingsLink: string, canEdit: boolean) =>
    `I was added to <b>${escapeHtml(channel)}</b>. Long posts will get a ✨ Summary button.\n\n` +
    (canEdit ? '' : `${texts.missingEditRight(channel)}\n\n`) +
    `<a href="${escapeHtml(settingsLink)}">Open the channel’s summary settings</a>`,
  missingEditRight: (channel: string) =>
    `⚠️ I can’t add the ✨ Summary button in <b>${escapeHtml(channel)}</b>: I need the admin right “Edit messages of others”. ` +
    'Please grant it in the channel’s admin settings.',
  notChannelAdmin: 'Only admins of this channel can change its summary settings.',
  unknownChannel: 'I am not in this channel (any more). Add me as an admin first.',
  settingsSaved: 'Saved',
  channelSettings: (settings: ChannelSettings) =>
    `<b>${escapeHtml(settings.title)}</b>: summary settings\n\n` +
    `Summaries: ${settings.enabled ? 'on' : 'off'}\n` +
    `Length: ${settings.length}\n` +
    `Language: ${settings.language === 'auto' ? 'the post’s own' : settings.language}\n` +
    `Posts from ${settings.minPostLength} characters\n` +
    `Paid by: ${settings.payer === 'sponsor' ? 'the channel’s sponsor budget' : 'each reader'}` +
    (settings.canEditMessages ? '' : `\n\n${texts.missingEditRight(settings.title)}`),
  settingsButtons: {
    enabled: (on: boolean) => `Summaries: ${on ? 'on ✅' : 'off ⏸'}`,
    length: (length: string) => `Length: ${length}`,
    language: (language: string) => `Language: ${language === 'auto' ? 'post’s own' : language}`,
    minPostLength: (chars: number) => `From ${chars} characters`,
    payer: (payer: ChannelSettings['payer']) =>
      `Paid by: ${payer === 'sponsor' ? 'sponsor budget' : 'reader'}`,
  },
  balance: (balance: bigint, freeLeft: number, freeDaily: number) =>
    `<b>Your credit</b>: ${formatTon(balance)}\n` +
    `Free summaries left today: ${freeLeft} of ${freeDaily}\n\n` +
    'Add credit with /topup.',
  topup: (nanotonsPerStar: bigint) =>
    '<b>Add credit</b>\n' +
    `Pay with Telegram Stars (1 ⭐ = ${formatTon(nanotonsPerStar)}) or with TON in the app.`,
  topupButton: (stars: number, nanotonsPerStar: bigint) =>
    `⭐ ${stars} → ${formatTon(BigInt(stars) * nanotonsPerStar)}`,
  topupAppButton: '💎 Top up with TON',
  invoiceTitle: (stars: number) => `${stars} Stars of summary credit`,
  invoiceDescription: (nanotons: bigint) =>
    `Adds ${formatTon(nanotons)} of credit for private summaries in the Cocoon network.`,
  jobInvoiceTitle: 'One summary',
  jobInvoiceDescription: (estimate: bigint) =>
    `Pays for summarizing your long text (up to ${formatTon(estimate)}); what is left stays as credit. Refunded if the summary fails.`,
  unknownPayment: 'This offer is no longer valid. Please open /topup again.',
  credited: (nanotons: bigint, balance: bigint) =>
    `✅ ${formatTon(nanotons)} added. Your credit: ${formatTon(balance)}.`,
  refunded: (stars: number) => `The summary failed, so your ${stars} ⭐ were refunded.`,
  paymentRequired: (freeDaily: number, estimate: bigint, balance: bigint) =>
    (freeDaily > 0
      ? `You have used your ${freeDaily} free summaries for today, and your credit`
      : 'Your credit') +
    ` (${formatTon(balance)}) does not cover this summary (up to ${formatTon(estimate)}). Add credit with /topup.`,
  paymentRequiredAlert:
    'No free summaries left today. Add credit in the bot with /topup to read this summary.',
  confirmJob: (chars: number, estimate: bigint, freeLeft: number, balance: bigint) =>
    `This text is long (${chars} characters). Its summary costs up to <b>${formatTon(estimate)}</b>.\n` +
    (freeLeft > 0
      ? `It will use one of your ${freeLeft} free summaries left today.`
      : `Your credit: ${formatTon(balance)}.`),
  confirmButton: '✅ Summarize',
  payJobButton: (stars: number) => `⭐ Pay ${stars} Stars and summarize`,
  jobExpired: 'This request expired. Please send the text again.',
  settings: (language: string, length: string) =>
    '<b>Your summary settings</b> (private chats and inline mode)\n\n' +
    `Language: ${language === 'auto' ? 'the text’s own' : language}\n` +
    `Length: ${length}`,
  languageButton: (language: string, selected: boolean) =>
    `${selected ? '✓ ' : ''}${language === 'auto' ? 'Text’s own' : language.toUpperCase()}`,
  lengthButton: (length: string, selected: boolean) => `${selected ? '✓ ' : ''}${length}`,
  noHistory: 'You have no summaries yet.',
  history: (jobs: JobRecord[]) =>
    '<b>Your recent summaries</b>\n\n' +
    jobs
      .map(
        (job) =>
          `${new Date(job.at).toISOString().slice(0, 16).replace('T', ' ')} · ${job.sourceKind} · ` +
          `${job.promptTokens}+${job.completionTokens} tokens · ` +
          `${job.paidBy === 'free' ? 'free' : `${formatTon(job.cost)}${job.paidBy === 'sponsor' ? ' (sponsor)' : ''}`}` +
          (job.receiptId === undefined ? '' : `\nreceipt <code>${job.receiptId}</code>`),
      )
      .join('\n\n'),
  privacy: (last: JobRecord | undefined) =>
    '<b>Who can see what</b>\n' +
    '• Your texts and summaries are read only inside an attested enclave (Intel TDX) of a worker; the bot checks its attestation before sealing the job to it.\n' +
    '• The proxy routes sealed data: it sees sizes, timing and prices, never content.\n' +
    '• The bot keeps a summary only for a while, so your links to it work; it keeps no texts, and logs no content.\n' +
    '• /history holds tokens, costs and receipt ids, never content.\n\n' +
    (last === undefined
      ? 'You have no summaries yet.'
      : `Your last summary was served by a worker attested as <b>${escapeHtml(last.attestationKind ?? 'unknown')}</b>` +
        (last.attestationKind === 'dev' ? ' (a development attestation: test networks only)' : '') +
        (last.receiptId === undefined ? '.' : `; its receipt: <code>${last.receiptId}</code>.`)),
};
