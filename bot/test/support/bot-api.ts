import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Transformer } from 'grammy';
import type {
  CallbackQuery,
  Chat,
  ChatMember,
  ChatMemberAdministrator,
  InlineKeyboardMarkup,
  Message,
  MessageEntity,
  Update,
  User,
  UserFromGetMe,
} from 'grammy/types';

/**
 * A recording stand-in for the Telegram Bot API on loopback. grammY talks to it through
 * `client: { apiRoot }`; it records every call with its parameters, answers the way Telegram does (including
 * its errors for bad HTML, over-long texts, bad button data and missing edit rights), keeps the messages it
 * knows so edits return whole messages, and serves `getUpdates` long polling from a queue of updates.
 */

export const TEST_TOKEN = '123456789:TEST-token-for-the-recording-bot-api';

export const TEST_BOT: UserFromGetMe = {
  id: 123456789,
  is_bot: true,
  first_name: 'Cocoon Summaries',
  username: 'cocoon_summary_bot',
  can_join_groups: true,
  can_read_all_group_messages: false,
  supports_inline_queries: true,
  can_connect_to_business: false,
  has_main_web_app: false,
  has_topics_enabled: false,
  allows_users_to_create_topics: false,
  can_manage_bots: false,
  supports_join_request_queries: false,
};

export interface RecordedCall {
  method: string;
  params: Record<string, unknown>;
  /** What the API answered, once it has (errors included). */
  result?: unknown;
}

export interface ApiFailure {
  error_code: number;
  description: string;
}

type Params = Record<string, unknown>;

class ApiError extends Error {
  constructor(
    readonly errorCode: number,
    readonly description: string,
  ) {
    super(description);
  }
}

const badRequest = (description: string) => new ApiError(400, `Bad Request: ${description}`);

const MESSAGE_TEXT_LIMIT = 4096;
const CAPTION_LIMIT = 1024;
const CALLBACK_ALERT_LIMIT = 200;
const CALLBACK_DATA_LIMIT = 64;

export class RecordingBotApi {
  readonly calls: RecordedCall[] = [];
  readonly token = TEST_TOKEN;
  readonly botInfo = TEST_BOT;
  private readonly messages = new Map<string, Message>();
  private readonly chats = new Map<number, Chat>();
  private readonly members = new Map<string, ChatMember>();
  private readonly failures = new Map<string, ApiFailure[]>();
  private readonly pending: Update[] = [];
  private readonly pollers = new Set<() => void>();
  private readonly callWaiters = new Set<() => void>();
  private nextUpdateId = 1;
  private nextMessageId = 1000;
  private nextQueryId = 1;
  /** Stars charges: paid (false) or refunded (true). */
  private readonly charges = new Map<string, { userId: number; refunded: boolean }>();
  private nextChargeId = 1;
  private clockSeconds = 1_764_000_000;

  private constructor(
    private readonly server: http.Server,
    readonly apiRoot: string,
  ) {}

  static async start(): Promise<RecordingBotApi> {
    const server = http.createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    const api = new RecordingBotApi(server, `http://127.0.0.1:${port}`);
    server.on('request', (request, response) => void api.serve(request, response));
    return api;
  }

  async close(): Promise<void> {
    for (const wake of this.pollers) wake();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  /** The grammY client options that point a bot here. */
  get clientOptions() {
    return { apiRoot: this.apiRoot };
  }

  // ---- What the bot sent ----

  /** Parameters of every call to one method, in order; `getUpdates` polling is recorded too. */
  callsTo(method: string): Params[] {
    return this.calls.filter((call) => call.method === method).map((call) => call.params);
  }

  /** Calls other than the polling machinery. */
  get sent(): RecordedCall[] {
    return this.calls.filter((call) => !['getUpdates', 'deleteWebhook', 'getMe'].includes(call.method));
  }

  /** The messages the bot sent with sendMessage, as the API returned them. */
  sentMessages(chatId?: number): Message[] {
    return this.calls
      .filter(
        (call) => call.method === 'sendMessage' && (chatId === undefined || call.params.chat_id === chatId),
      )
      .map((call) => call.result as Message);
  }

  /** What a chat shows: the texts of sent and edited messages, after Telegram parsed their HTML. */
  shownTexts(chatId: number): string[] {
    return this.sent
      .filter(
        (call) => ['sendMessage', 'editMessageText'].includes(call.method) && call.params.chat_id === chatId,
      )
      .map((call) => {
        const text = String(call.params.text);
        return call.params.parse_mode === 'HTML' ? parseTelegramHtml(text) : text;
      });
  }

  clearCalls(): void {
    this.calls.length = 0;
  }

  /** Resolves with the parameters of the first call (already made or coming) to `method` that matches. */
  async waitForCall(method: string, matches: (params: Params) => boolean = () => true, timeoutMs = 5_000) {
    const started = Date.now();
    for (;;) {
      const found = this.callsTo(method).find(matches);
      if (found !== undefined) return found;
      if (Date.now() - started > timeoutMs) throw new Error(`no ${method} call within ${timeoutMs} ms`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, 50);
        this.callWaiters.add(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  /** The last message of a chat as the API holds it now (after edits). */
  message(chatId: number, messageId: number): Message | undefined {
    return this.messages.get(`${chatId}:${messageId}`);
  }

  /** Makes the next `times` calls to `method` fail with this error. */
  failNext(method: string, failure: ApiFailure, times = 1): void {
    this.failures.set(method, [
      ...(this.failures.get(method) ?? []),
      ...Array<ApiFailure>(times).fill(failure),
    ]);
  }

  // ---- The world the bot sees ----

  user(id: number, firstName = `User${id}`, languageCode = 'en'): User {
    return { id, is_bot: false, first_name: firstName, username: `user${id}`, language_code: languageCode };
  }

  channel(id: number, title: string, username?: string): Chat {
    const chat: Chat =
      username === undefined ? { id, type: 'channel', title } : { id, type: 'channel', title, username };
    this.chats.set(id, chat);
    return chat;
  }

  /** Sets the bot's membership in a chat, as getChatMember and edit rights see it. */
  setBotMember(chatId: number, member: ChatMember): void {
    this.members.set(`${chatId}:${this.botInfo.id}`, member);
  }

  setMember(chatId: number, member: ChatMember): void {
    this.members.set(`${chatId}:${member.user.id}`, member);
  }

  botAdministrator(rights: Partial<ChatMemberAdministrator> = {}): ChatMemberAdministrator {
    return {
      status: 'administrator',
      user: this.botInfo,
      can_be_edited: false,
      is_anonymous: false,
      can_manage_chat: true,
      can_delete_messages: false,
      can_manage_video_chats: false,
      can_restrict_members: false,
      can_promote_members: false,
      can_change_info: false,
      can_invite_users: false,
      can_post_stories: false,
      can_edit_stories: false,
      can_delete_stories: false,
      can_post_messages: true,
      can_edit_messages: true,
      ...rights,
    } as ChatMemberAdministrator;
  }

  // ---- Updates ----

  /** Builds an update with the next id; `deliver` queues it for polling, or pass it to `bot.handleUpdate`. */
  update(fields: Omit<Update, 'update_id'>): Update {
    const update = { update_id: this.nextUpdateId++, ...fields } as Update;
    for (const message of [
      update.message,
      update.channel_post,
      update.edited_channel_post,
      update.edited_message,
    ]) {
      if (message !== undefined) this.remember(message);
    }
    return update;
  }

  deliver(update: Update): void {
    this.pending.push(update);
    for (const wake of this.pollers) wake();
  }

  privateText(from: User, text: string, extra: Partial<Message> = {}): Update {
    const chat: Chat = { id: from.id, type: 'private', first_name: from.first_name };
    const message = {
      message_id: this.nextMessageId++,
      date: this.now(),
      chat,
      from,
      text,
      ...extra,
    } as Message;
    if (message.entities === undefined) {
      const entities = urlEntities(text);
      if (entities.length > 0) message.entities = entities;
    }
    return this.update({ message: message as Message & Update.NonChannel });
  }

  command(from: User, command: string, payload?: string): Update {
    const text = payload === undefined ? `/${command}` : `/${command} ${payload}`;
    return this.privateText(from, text, {
      entities: [{ type: 'bot_command', offset: 0, length: command.length + 1 }],
    });
  }

  channelPost(chat: Chat, text: string, extra: Partial<Message> = {}): Update {
    const channel_post = {
      message_id: this.nextMessageId++,
      date: this.now(),
      chat,
      sender_chat: chat,
      text,
      ...extra,
    } as Message;
    return this.update({ channel_post: channel_post as Message & Update.Channel });
  }

  editedChannelPost(chatId: number, messageId: number, text: string): Update {
    const current = this.message(chatId, messageId);
    if (current === undefined) throw new Error(`no message ${messageId} in ${chatId}`);
    const edited = { ...current, text, edit_date: this.now() } as Message;
    return this.update({ edited_channel_post: edited as Message & Update.Edited & Update.Channel });
  }

  callbackQuery(from: User, message: Message, data: string): Update {
    const callback_query: CallbackQuery = {
      id: `cbq-${this.nextQueryId++}`,
      from,
      message: this.message(message.chat.id, message.message_id) ?? message,
      chat_instance: `instance-${message.chat.id}`,
      data,
    };
    return this.update({ callback_query });
  }

  inlineQuery(from: User, query: string): Update {
    return this.update({ inline_query: { id: `iq-${this.nextQueryId++}`, from, query, offset: '' } });
  }

  /** The pre-checkout query Telegram sends when the user confirms an invoice's payment. */
  preCheckoutQuery(from: User, payload: string, totalAmount: number, currency = 'XTR'): Update {
    return this.update({
      pre_checkout_query: {
        id: `pcq-${this.nextQueryId++}`,
        from,
        currency,
        total_amount: totalAmount,
        invoice_payload: payload,
      },
    });
  }

  /** The service message of a completed payment; its charge can then be refunded once. */
  successfulPayment(from: User, payload: string, totalAmount: number, currency = 'XTR'): Update {
    const chargeId = `stxCharge${this.nextChargeId++}`;
    this.charges.set(chargeId, { userId: from.id, refunded: false });
    const message = {
      message_id: this.nextMessageId++,
      date: this.now(),
      chat: { id: from.id, type: 'private', first_name: from.first_name },
      from,
      successful_payment: {
        currency,
        total_amount: totalAmount,
        invoice_payload: payload,
        telegram_payment_charge_id: chargeId,
        provider_payment_charge_id: '',
      },
    } as Message;
    return this.update({ message: message as Message & Update.NonChannel });
  }

  /** Whether a Stars charge was refunded. */
  refunded(chargeId: string): boolean {
    return this.charges.get(chargeId)?.refunded === true;
  }

  myChatMember(chat: Chat, from: User, oldMember: ChatMember, newMember: ChatMember): Update {
    this.members.set(`${chat.id}:${newMember.user.id}`, newMember);
    return this.update({
      my_chat_member: {
        chat,
        from,
        date: this.now(),
        old_chat_member: oldMember,
        new_chat_member: newMember,
      },
    });
  }

  // ---- The HTTP side ----

  private now(): number {
    return this.clockSeconds++;
  }

  private remember(message: Message): void {
    this.chats.set(message.chat.id, message.chat);
    this.messages.set(`${message.chat.id}:${message.message_id}`, message);
  }

  private async serve(request: http.IncomingMessage, response: http.ServerResponse): Promise<void> {
    const match = request.url?.match(/^\/bot([^/]+)\/([A-Za-z]+)$/);
    const chunks: Buffer[] = [];
    for await (const chunk of request) chunks.push(chunk as Buffer);
    const reply = (status: number, body: unknown) => {
      if (response.destroyed) return;
      response.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    };
    if (match === null || match === undefined || match[1] !== this.token) {
      return reply(404, { ok: false, error_code: 404, description: 'Not Found' });
    }
    const method = match[2] as string;
    let params: Params = {};
    const body = Buffer.concat(chunks).toString('utf8');
    if (body !== '') {
      if (!(request.headers['content-type'] ?? '').startsWith('application/json')) {
        return reply(400, {
          ok: false,
          error_code: 400,
          description: 'Bad Request: the recording API reads JSON only',
        });
      }
      params = JSON.parse(body) as Params;
    }
    const { status, body: answer } = await this.answer(method, params, request);
    reply(status, answer);
  }

  /** A grammY transformer that answers in process as the HTTP side does, without the network: for benchmarks. */
  transformer(): Transformer {
    return async (_prev, method, payload) => {
      // What JSON would carry (no undefined fields), as over HTTP.
      const params = JSON.parse(JSON.stringify(payload ?? {})) as Params;
      return (await this.answer(method, params)).body as Awaited<ReturnType<Transformer>>;
    };
  }

  /** Records a call and answers it: a result, or Telegram's error (a failure set with failNext first). */
  private async answer(
    method: string,
    params: Params,
    request?: http.IncomingMessage,
  ): Promise<{ status: number; body: Record<string, unknown> }> {
    const call: RecordedCall = { method, params };
    this.calls.push(call);
    for (const wake of this.callWaiters) wake();
    this.callWaiters.clear();
    const failure = this.failures.get(method)?.shift();
    if (failure !== undefined) {
      call.result = failure;
      return { status: failure.error_code, body: { ok: false, ...failure } };
    }
    try {
      call.result = await this.handle(method, params, request);
      return { status: 200, body: { ok: true, result: call.result } };
    } catch (error) {
      const failure =
        error instanceof ApiError
          ? error
          : new ApiError(500, `Internal Server Error: ${(error as Error).message}`);
      return {
        status: failure.errorCode,
        body: { ok: false, error_code: failure.errorCode, description: failure.description },
      };
    }
  }

  private handle(method: string, params: Params, request?: http.IncomingMessage): unknown {
    switch (method) {
      case 'getMe':
        return this.botInfo;
      case 'deleteWebhook':
      case 'setMyCommands':
      case 'sendChatAction':
        return true;
      case 'getUpdates':
        return this.getUpdates(params, request);
      case 'setWebhook':
        return this.setWebhook(params);
      case 'sendMessage':
        return this.sendMessage(params);
      case 'editMessageText':
        return this.editMessageText(params);
      case 'editMessageReplyMarkup':
        return this.editMessageReplyMarkup(params);
      case 'answerCallbackQuery':
        return this.answerCallbackQuery(params);
      case 'answerInlineQuery':
        return this.answerInlineQuery(params);
      case 'getChatMember':
        return this.getChatMember(params);
      case 'deleteMessage':
        return this.messages.delete(`${params.chat_id}:${params.message_id}`);
      case 'sendInvoice':
        return this.sendInvoice(params);
      case 'createInvoiceLink':
        this.checkInvoice(params);
        return `https://t.me/$invoice-${this.nextQueryId++}`;
      case 'answerPreCheckoutQuery':
        return this.answerPreCheckoutQuery(params);
      case 'refundStarPayment':
        return this.refundStarPayment(params);
      default:
        throw new ApiError(404, 'Not Found: method not found');
    }
  }

  private async getUpdates(params: Params, request?: http.IncomingMessage): Promise<Update[]> {
    const offset = typeof params.offset === 'number' ? params.offset : 0;
    // Telegram forgets updates below the offset: they are confirmed.
    while (this.pending.length > 0 && (this.pending[0] as Update).update_id < offset) this.pending.shift();
    const timeoutMs = Math.min(Number(params.timeout ?? 0), 2) * 1000;
    if (this.pending.length === 0 && timeoutMs > 0) {
      await new Promise<void>((resolve) => {
        const wake = () => {
          this.pollers.delete(wake);
          clearTimeout(timer);
          resolve();
        };
        const timer = setTimeout(wake, timeoutMs);
        this.pollers.add(wake);
        request?.once('close', wake);
      });
    }
    return this.pending.slice(0, Number(params.limit ?? 100));
  }

  /** Telegram's rules: an https URL, and a secret token of 1–256 characters from A-Z, a-z, 0-9, _ and -. */
  private setWebhook(params: Params): true {
    if (typeof params.url !== 'string' || !params.url.startsWith('https://')) {
      throw badRequest('bad webhook: An HTTPS URL must be provided for webhook');
    }
    if (params.secret_token !== undefined && !/^[A-Za-z0-9_-]{1,256}$/.test(String(params.secret_token))) {
      throw badRequest('secret token contains unallowed characters');
    }
    return true;
  }

  private chatOf(chatId: unknown): Chat {
    if (typeof chatId !== 'number' && typeof chatId !== 'string') throw badRequest('chat_id is empty');
    const known = this.chats.get(Number(chatId));
    if (known !== undefined) return known;
    if (Number(chatId) > 0) return { id: Number(chatId), type: 'private', first_name: `User${chatId}` };
    throw badRequest('chat not found');
  }

  private sendMessage(params: Params): Message {
    const chat = this.chatOf(params.chat_id);
    const text = checkText(params, 'text', MESSAGE_TEXT_LIMIT);
    checkMarkup(params.reply_markup);
    const message = {
      message_id: this.nextMessageId++,
      date: this.now(),
      chat,
      from: this.botInfo,
      text,
      ...(params.reply_markup === undefined ? {} : { reply_markup: params.reply_markup }),
    } as Message;
    this.remember(message);
    return message;
  }

  private editable(params: Params): Message {
    const chat = this.chatOf(params.chat_id);
    const message = this.message(chat.id, Number(params.message_id));
    if (message === undefined) throw badRequest('message to edit not found');
    const byBot = message.from?.id === this.botInfo.id;
    if (!byBot) {
      const member = this.members.get(`${chat.id}:${this.botInfo.id}`);
      const canEdit =
        chat.type === 'channel' && member?.status === 'administrator' && member.can_edit_messages;
      if (!canEdit) throw badRequest("message can't be edited");
    }
    return message;
  }

  private editMessageText(params: Params): Message {
    const message = this.editable(params);
    const text = checkText(params, 'text', MESSAGE_TEXT_LIMIT);
    checkMarkup(params.reply_markup);
    if (text === message.text && params.reply_markup === undefined) {
      throw badRequest(
        'message is not modified: specified new message content and reply markup are exactly the same as a current content and reply markup of the message',
      );
    }
    const edited = { ...message, text, edit_date: this.now() } as Message;
    if (params.reply_markup === undefined) delete edited.reply_markup;
    else edited.reply_markup = params.reply_markup as InlineKeyboardMarkup;
    this.remember(edited);
    return edited;
  }

  private editMessageReplyMarkup(params: Params): Message {
    const message = this.editable(params);
    checkMarkup(params.reply_markup);
    if (JSON.stringify(params.reply_markup) === JSON.stringify(message.reply_markup)) {
      throw badRequest('message is not modified');
    }
    const edited = { ...message, edit_date: this.now() } as Message;
    if (params.reply_markup === undefined) delete edited.reply_markup;
    else edited.reply_markup = params.reply_markup as InlineKeyboardMarkup;
    this.remember(edited);
    return edited;
  }

  private answerCallbackQuery(params: Params): true {
    if (typeof params.callback_query_id !== 'string') throw badRequest('query_id is empty');
    if (typeof params.text === 'string' && params.text.length > CALLBACK_ALERT_LIMIT) {
      throw badRequest('MESSAGE_TOO_LONG');
    }
    if (
      params.url !== undefined &&
      !String(params.url).startsWith(`https://t.me/${this.botInfo.username}?start=`)
    ) {
      throw badRequest('URL_INVALID');
    }
    return true;
  }

  private answerInlineQuery(params: Params): true {
    if (typeof params.inline_query_id !== 'string') throw badRequest('query_id is empty');
    const results = params.results;
    if (!Array.isArray(results)) throw badRequest('results is not an array');
    for (const result of results as Params[]) {
      const content = result.input_message_content as Params | undefined;
      if (typeof result.id !== 'string' || result.id === '' || result.id.length > 64) {
        throw badRequest('RESULT_ID_INVALID');
      }
      if (content !== undefined) checkText(content, 'message_text', MESSAGE_TEXT_LIMIT);
      checkMarkup(result.reply_markup);
    }
    return true;
  }

  /** Telegram's rules for Stars invoices: XTR, no provider token, one price, a payload of 1–128 bytes. */
  private checkInvoice(params: Params): void {
    if (typeof params.title !== 'string' || params.title === '' || params.title.length > 32) {
      throw badRequest('INVOICE_TITLE_INVALID');
    }
    if (typeof params.description !== 'string' || params.description.length > 255) {
      throw badRequest('INVOICE_DESCRIPTION_INVALID');
    }
    const payload = params.payload;
    if (typeof payload !== 'string' || payload === '' || Buffer.byteLength(payload) > 128) {
      throw badRequest('INVOICE_PAYLOAD_INVALID');
    }
    if (params.currency !== 'XTR') throw badRequest('CURRENCY_INVALID');
    if (params.provider_token !== undefined && params.provider_token !== '') {
      throw badRequest('PAYMENT_PROVIDER_INVALID');
    }
    const prices = params.prices as { label?: unknown; amount?: unknown }[] | undefined;
    if (!Array.isArray(prices) || prices.length !== 1) throw badRequest('STARS_INVOICE_INVALID');
    const [price] = prices;
    if (typeof price?.label !== 'string' || !Number.isInteger(price.amount) || Number(price.amount) < 1) {
      throw badRequest('STARS_INVOICE_INVALID');
    }
  }

  private sendInvoice(params: Params): Message {
    const chat = this.chatOf(params.chat_id);
    this.checkInvoice(params);
    const [price] = params.prices as { amount: number }[];
    const message = {
      message_id: this.nextMessageId++,
      date: this.now(),
      chat,
      from: this.botInfo,
      invoice: {
        title: params.title,
        description: params.description,
        start_parameter: '',
        currency: 'XTR',
        total_amount: price?.amount,
      },
    } as Message;
    this.remember(message);
    return message;
  }

  private answerPreCheckoutQuery(params: Params): true {
    if (typeof params.pre_checkout_query_id !== 'string') throw badRequest('QUERY_ID_INVALID');
    if (params.ok === false && (typeof params.error_message !== 'string' || params.error_message === '')) {
      throw badRequest('ERROR_MESSAGE_EMPTY');
    }
    return true;
  }

  private refundStarPayment(params: Params): true {
    const charge = this.charges.get(String(params.telegram_payment_charge_id));
    if (charge === undefined || charge.userId !== params.user_id) throw badRequest('CHARGE_NOT_FOUND');
    if (charge.refunded) throw badRequest('CHARGE_ALREADY_REFUNDED');
    charge.refunded = true;
    return true;
  }

  private getChatMember(params: Params): ChatMember {
    const chat = this.chatOf(params.chat_id);
    const member = this.members.get(`${chat.id}:${params.user_id}`);
    if (member !== undefined) return member;
    if (Number(params.user_id) === this.botInfo.id) return { status: 'left', user: this.botInfo };
    throw badRequest('user not found');
  }
}

/** `url` entities for the links in a text, the way Telegram clients mark them (offsets in UTF-16 units, as JS strings). */
function urlEntities(text: string): MessageEntity[] {
  return [...text.matchAll(/https?:\/\/[^\s]+/g)].map((found) => ({
    type: 'url' as const,
    offset: found.index,
    length: found[0].length,
  }));
}

function checkText(params: Params, field: string, limit: number): string {
  const raw = params[field];
  if (typeof raw !== 'string' || raw.trim() === '') {
    throw badRequest(`${field === 'text' ? 'message' : field} text is empty`);
  }
  const text = params.parse_mode === 'HTML' ? parseTelegramHtml(raw) : raw;
  if (text.trim() === '') throw badRequest('message text is empty');
  if (text.length > (field === 'caption' ? CAPTION_LIMIT : limit)) throw badRequest('message is too long');
  return text;
}

function checkMarkup(markup: unknown): void {
  if (markup === undefined) return;
  const keyboard = (markup as InlineKeyboardMarkup).inline_keyboard;
  if (!Array.isArray(keyboard)) throw badRequest('inline keyboard expected');
  for (const row of keyboard) {
    for (const button of row) {
      if (typeof button.text !== 'string' || button.text === '') {
        throw badRequest('text buttons are unallowed');
      }
      if ('callback_data' in button && Buffer.byteLength(button.callback_data) > CALLBACK_DATA_LIMIT) {
        throw badRequest('BUTTON_DATA_INVALID');
      }
    }
  }
}

const HTML_TAGS = new Set([
  'b',
  'strong',
  'i',
  'em',
  'u',
  'ins',
  's',
  'strike',
  'del',
  'span',
  'tg-spoiler',
  'a',
  'code',
  'pre',
  'blockquote',
  'tg-emoji',
]);
const HTML_ENTITIES: Record<string, string> = { lt: '<', gt: '>', amp: '&', quot: '"' };

/**
 * Parses Telegram's HTML parse mode as strictly as Telegram does for what the bot sends: only its tags,
 * properly nested and closed, `<`, `>` and `&` escaped in text. Returns the plain text the message shows.
 */
export function parseTelegramHtml(html: string): string {
  let text = '';
  const open: string[] = [];
  let index = 0;
  const fail = (reason: string): never => {
    throw badRequest(
      `can't parse entities: ${reason} at byte offset ${Buffer.byteLength(html.slice(0, index))}`,
    );
  };
  while (index < html.length) {
    const char = html[index] as string;
    if (char === '<') {
      const end = html.indexOf('>', index);
      if (end === -1) fail('Unclosed start tag');
      const tag = html.slice(index + 1, end);
      const closing = tag.startsWith('/');
      const name = (closing ? tag.slice(1) : tag).split(/\s/, 1)[0]?.toLowerCase() ?? '';
      if (!HTML_TAGS.has(name)) fail(`Unsupported start tag "${name}"`);
      if (closing) {
        if (open.pop() !== name) fail(`Unmatched end tag "${name}"`);
      } else {
        if (name === 'a' && !/\shref\s*=\s*"[^"]*"/.test(tag)) fail('Tag "a" must have attribute "href"');
        open.push(name);
      }
      index = end + 1;
    } else if (char === '&') {
      const entity = html.slice(index).match(/^&(lt|gt|amp|quot|#\d+|#x[0-9a-f]+);/i);
      if (entity === null) fail("Character '&' is reserved and must be escaped");
      const name = (entity as RegExpMatchArray)[1] as string;
      text += name.startsWith('#')
        ? String.fromCodePoint(
            name[1] === 'x' || name[1] === 'X' ? Number.parseInt(name.slice(2), 16) : Number(name.slice(1)),
          )
        : (HTML_ENTITIES[name.toLowerCase()] as string);
      index += (entity as RegExpMatchArray)[0].length;
    } else if (char === '>') {
      fail("Character '>' is reserved and must be escaped");
    } else {
      text += char;
      index += 1;
    }
  }
  if (open.length > 0) fail(`Can't find end tag corresponding to start tag "${open.at(-1)}"`);
  return text;
}
