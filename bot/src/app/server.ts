import { existsSync } from 'node:fs';
import { join } from 'node:path';
import {
  AttestationPolicy,
  type Clock,
  type DcapCollateral,
  type Logger,
  type ModelListing,
  randomBytes,
  systemClock,
  toHex,
  unixSeconds,
  type WorkerListing,
} from '@cocoon/shared';
import {
  AppChannel,
  ChannelsResponse,
  ChannelUpdateRequest,
  encodeTopUpPayload,
  HistoryQuery,
  HistoryResponse,
  INIT_DATA_SCHEME,
  InitDataError,
  MeResponse,
  NetworkResponse,
  ReaderRequest,
  ReaderResponse,
  StarsInvoiceRequest,
  StarsInvoiceResponse,
  type TelegramUser,
  TonConnectManifest,
  TopUpIntent,
  TopUpRequest,
  verifyInitData,
} from '@cocoon/shared/protocol/app-api';
import express, { type NextFunction, type Request, type Response } from 'express';
import { rateLimit } from 'express-rate-limit';
import { z } from 'zod';
import { mayReadMetrics, type RefusalReason, TelegramMetrics } from '../metrics.js';
import type { AppChannelRecord, AppStore, StoredTopUp } from './store.js';

/** Telegram's `getChatMember` through the Bot API; only the status is read. */
export type GetChatMember = (chatId: number, userId: number) => Promise<{ status: string }>;

/**
 * Telegram's `createInvoiceLink` in Stars (currency XTR) through the Bot API; returns the link. The payload
 * is the bot's top-up payload (`topup:<stars>`), so its pre-checkout and payment handlers credit the ledger.
 */
export type CreateStarsInvoice = (request: {
  userId: number;
  stars: number;
  payload: string;
}) => Promise<string>;

export interface ReaderJob {
  userId: number;
  url: string;
  length: 'short' | 'bullets' | 'detailed';
  signal: AbortSignal;
}

/**
 * Reads a link and summarizes it for a user, paying from their free quota or credit and recording the job
 * in their history. Throws ReaderError for what the user should be told.
 */
export type ReaderSummarizer = (job: ReaderJob) => Promise<z.output<typeof ReaderResponse>>;

/**
 * Thrown by getChatMember or createStarsInvoice when no bot runs (no BOT_TOKEN): the endpoints that need the
 * Bot API answer 503 with this message, the rest of the app works.
 */
export class BotNotRunningError extends Error {
  override readonly name = 'BotNotRunningError';
  constructor() {
    super('the bot is not running: set BOT_TOKEN');
  }
}

export type ReaderErrorCode = 'bad_link' | 'no_credit' | 'unavailable';

export class ReaderError extends Error {
  override readonly name = 'ReaderError';
  constructor(
    readonly code: ReaderErrorCode,
    message: string,
  ) {
    super(message);
  }
}

/** The proxy's current listings (`GET /v1/workers`, `GET /v1/models`). */
export type NetworkSource = () => Promise<{
  workers: WorkerListing[];
  models: z.output<typeof ModelListing>[];
  /** Collateral the app's client fetched itself, by worker id (see NetworkResponse). */
  collateral?: Record<string, DcapCollateral>;
}>;

export interface AppServerOptions {
  botToken: string;
  store: AppStore;
  /** The app's client contract, user-friendly form: where top-ups go. */
  clientContractAddress: string;
  /** Public HTTPS origin of the Mini App, for the TonConnect manifest. */
  publicUrl: string;
  appName?: string;
  /** The built Mini App (miniapp/dist); served with an index.html fallback when given. */
  staticDir?: string;
  getChatMember: GetChatMember;
  createStarsInvoice: CreateStarsInvoice;
  reader: ReaderSummarizer;
  network: NetworkSource;
  /** The attestation policy the bot's client uses; the browser verifies workers against it. */
  policy: () => Promise<z.input<typeof AttestationPolicy>>;
  clock?: Clock;
  /** How old initData may be; Telegram re-signs it each time the app opens. */
  initDataMaxAgeSeconds?: number;
  /** Requests per user per window on `/api`. */
  rateLimit?: { windowMs: number; limit: number };
  /** Express's `trust proxy` when behind a reverse proxy, so the per-address limit sees client addresses. */
  trustProxy?: boolean | number | string;
  /** Seconds a TonConnect transfer stays valid. */
  topUpTtlSeconds?: number;
  /** The bot's webhook: Telegram POSTs updates to `path`; `handle` checks their secret token and runs them. */
  botWebhook?: { path: string; handle: (req: Request, res: Response) => Promise<void> };
  /** Where refusals are counted, served at `GET /metrics`; the app's own when not given. */
  metrics?: TelegramMetrics;
  /** METRICS_TOKEN: a bearer token that reads `/metrics` from anywhere (without it, only from this host). */
  metricsToken?: string;
  logger?: Logger;
}

class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    /** Counted as a refusal of this reason when answered. */
    readonly refusal?: RefusalReason,
  ) {
    super(message);
  }
}

const ADMIN_STATUSES = new Set(['creator', 'administrator']);
const READER_STATUS: Record<ReaderErrorCode, number> = { bad_link: 422, no_credit: 402, unavailable: 503 };

/** Reads `schema` from untrusted input or answers 400 naming what is wrong. */
function parseInput<S extends z.ZodType>(schema: S, value: unknown, what: string): z.output<S> {
  const parsed = schema.safeParse(value);
  if (!parsed.success)
    throw new HttpError(
      400,
      'bad_request',
      `invalid ${what}: ${z.prettifyError(parsed.error)}`,
      'bad_request',
    );
  return parsed.data;
}

/** Sends the wire form of `value` (bigints become decimal strings). */
function send<S extends z.ZodType>(res: Response, schema: S, value: z.output<S>, status = 200): void {
  res.status(status).json(z.encode(schema, value));
}

function userOf(res: Response): TelegramUser {
  return res.locals.user as TelegramUser;
}

/**
 * The Mini App's HTTP server: `/api/*` authenticated with Telegram initData and rate-limited per user,
 * `/tonconnect-manifest.json`, and the built app. Errors are JSON `{ error: { code, message } }`.
 */
export function createAppServer(options: AppServerOptions): express.Express {
  const clock = options.clock ?? systemClock;
  const maxAge = options.initDataMaxAgeSeconds ?? 86_400;
  const topUpTtl = options.topUpTtlSeconds ?? 900;
  const { store } = options;
  const metrics = options.metrics ?? new TelegramMetrics();
  const app = express();
  app.disable('x-powered-by');
  if (options.trustProxy !== undefined) app.set('trust proxy', options.trustProxy);

  // The server is public (it serves the Mini App): others get the 404 of a path that does not exist.
  app.get('/metrics', async (req, res) => {
    if (
      !mayReadMetrics({ remoteAddress: req.socket.remoteAddress, headers: req.headers }, options.metricsToken)
    ) {
      res.status(404).type('text/plain').send('Not Found');
      return;
    }
    res.type(metrics.registry.contentType).send(await metrics.registry.metrics());
  });

  if (options.botWebhook !== undefined) {
    // Updates carry whole messages (up to 4096 characters, with entities), well within this limit.
    app.post(options.botWebhook.path, express.json({ limit: '1mb' }), options.botWebhook.handle);
  }

  app.get('/tonconnect-manifest.json', (_req, res) => {
    const origin = options.publicUrl.replace(/\/+$/, '');
    send(res, TonConnectManifest, {
      url: origin,
      name: options.appName ?? 'Cocoon',
      iconUrl: `${origin}/icon.png`,
    });
  });

  const api = express.Router();
  const windowMs = options.rateLimit?.windowMs ?? 60_000;
  const perUser = options.rateLimit?.limit ?? 120;
  const limitReached = (_req: Request, res: Response) => {
    metrics.refuse('rate_limited');
    res
      .status(429)
      .json({ error: { code: 'rate_limited', message: 'too many requests; try again shortly' } });
  };
  // Per address before authentication (so forged initData cannot flood the HMAC check), per user after it.
  api.use(
    rateLimit({
      windowMs,
      limit: perUser * 5,
      standardHeaders: false,
      legacyHeaders: false,
      handler: limitReached,
    }),
  );
  api.use((req, res, next) => {
    const header = req.get('authorization') ?? '';
    const [scheme, raw] = header.split(' ', 2);
    if (scheme !== INIT_DATA_SCHEME || raw === undefined || raw === '') {
      throw new HttpError(
        401,
        'unauthorized',
        `send initData as "Authorization: ${INIT_DATA_SCHEME} <initData>"`,
        'init_data_missing',
      );
    }
    try {
      res.locals.user = verifyInitData(raw, options.botToken, unixSeconds(clock), maxAge).user;
    } catch (error) {
      if (error instanceof InitDataError) {
        const refusal = error.code === 'expired' ? 'init_data_expired' : 'init_data_invalid';
        throw new HttpError(401, `init_data_${error.code}`, error.message, refusal);
      }
      throw error;
    }
    next();
  });
  api.use(
    rateLimit({
      windowMs,
      limit: perUser,
      standardHeaders: 'draft-8',
      legacyHeaders: false,
      keyGenerator: (_req, res) => `user:${userOf(res).id}`,
      handler: limitReached,
    }),
  );
  api.use(express.json({ limit: '16kb' }));

  api.get('/me', async (_req, res) => {
    const user = userOf(res);
    const account = await store.account(user.id);
    send(res, MeResponse, {
      user: {
        id: user.id,
        firstName: user.first_name,
        ...(user.username === undefined ? {} : { username: user.username }),
      },
      balance: { ton: account.tonCredit, stars: account.starsCredit },
      freeQuota: account.freeQuota,
    });
  });

  api.get('/history', async (req, res) => {
    const page = parseInput(HistoryQuery, req.query, 'history query');
    const jobs = await store.jobs(userOf(res).id, {
      limit: page.limit,
      ...(page.before === undefined ? {} : { before: page.before }),
    });
    send(res, HistoryResponse, { jobs, policy: AttestationPolicy.parse(await options.policy()) });
  });

  api.post('/topups', async (req, res) => {
    const { amount } = parseInput(TopUpRequest, req.body, 'top-up');
    const user = userOf(res);
    const now = unixSeconds(clock);
    // A random 63-bit query id names the intent on chain; it stays below 2^63 for any signed reader.
    const queryId = BigInt(`0x${toHex(randomBytes(8))}`) >> 1n;
    const topUp: StoredTopUp = {
      queryId,
      userId: user.id,
      amount,
      createdAt: now,
      validUntil: now + topUpTtl,
    };
    await store.saveTopUp(topUp);
    send(res, TopUpIntent, await intentOf(topUp), 201);
  });

  api.get('/topups/:id', async (req, res) => {
    const id = parseInput(
      z.string().regex(/^\d{1,20}$/, 'expected a decimal id'),
      req.params.id,
      'top-up id',
    );
    const topUp = await store.topUp(userOf(res).id, BigInt(id));
    if (topUp === undefined) throw new HttpError(404, 'not_found', 'no such top-up');
    send(res, TopUpIntent, await intentOf(topUp));
  });

  async function intentOf(topUp: StoredTopUp): Promise<z.output<typeof TopUpIntent>> {
    const credit = await store.credit(topUp.userId, topUp.queryId);
    return {
      id: topUp.queryId.toString(),
      address: options.clientContractAddress,
      amount: topUp.amount,
      payload: encodeTopUpPayload(topUp.queryId, BigInt(topUp.userId)),
      status: credit === undefined ? 'pending' : 'confirmed',
      createdAt: topUp.createdAt,
      validUntil: topUp.validUntil,
      ...(credit === undefined ? {} : { credited: credit.amount, txHash: credit.hash }),
    };
  }

  api.post('/stars/invoice', async (req, res) => {
    const { stars } = parseInput(StarsInvoiceRequest, req.body, 'Stars invoice');
    const userId = userOf(res).id;
    let link: string;
    try {
      link = await options.createStarsInvoice({ userId, stars, payload: `topup:${stars}` });
    } catch (error) {
      // The bot offers only its Stars packages; another amount is the request's mistake.
      if (error instanceof RangeError) throw new HttpError(400, 'bad_request', error.message, 'bad_request');
      throw error;
    }
    send(res, StarsInvoiceResponse, { link });
  });

  /** Whether Telegram says this user administers the chat now (a failed lookup counts as no). */
  async function isAdmin(chatId: number, userId: number): Promise<boolean> {
    try {
      return ADMIN_STATUSES.has((await options.getChatMember(chatId, userId)).status);
    } catch (error) {
      if (error instanceof BotNotRunningError) throw error;
      options.logger?.warn({ chatId, err: (error as Error).message }, 'getChatMember failed');
      return false;
    }
  }

  api.get('/channels', async (_req, res) => {
    const userId = userOf(res).id;
    const channels = await store.channels();
    const admin = await Promise.all(channels.map((channel) => isAdmin(channel.chatId, userId)));
    send(res, ChannelsResponse, { channels: channels.filter((_, i) => admin[i]).map(channelOf) });
  });

  api.put('/channels/:chatId', async (req, res) => {
    const chatId = parseInput(z.coerce.number().int(), req.params.chatId, 'chat id');
    const update = parseInput(ChannelUpdateRequest, req.body, 'channel settings');
    const channel = await store.channel(chatId);
    if (channel === undefined || !channel.active) {
      throw new HttpError(404, 'not_found', 'the bot is not in this channel');
    }
    if (!(await isAdmin(chatId, userOf(res).id))) {
      throw new HttpError(403, 'not_admin', 'only the channel’s administrators can change its settings');
    }
    const saved = await store.saveChannelSettings(chatId, { ...channel.settings, ...update });
    send(res, AppChannel, channelOf(saved));
  });

  api.post('/reader', async (req, res) => {
    const { url, length } = parseInput(ReaderRequest, req.body, 'reader request');
    const abort = new AbortController();
    res.on('close', () => abort.abort());
    try {
      const result = await options.reader({ userId: userOf(res).id, url, length, signal: abort.signal });
      send(res, ReaderResponse, result);
    } catch (error) {
      if (error instanceof ReaderError)
        throw new HttpError(READER_STATUS[error.code], error.code, error.message);
      throw error;
    }
  });

  api.get('/network', async (_req, res) => {
    const [{ workers, models, collateral = {} }, policy] = await Promise.all([
      options.network(),
      options.policy(),
    ]);
    send(res, NetworkResponse, {
      workers,
      models,
      policy: AttestationPolicy.parse(policy),
      collateral,
      fetchedAt: unixSeconds(clock),
    });
  });

  api.use((req) => {
    throw new HttpError(404, 'not_found', `no API route ${req.method} ${req.path}`);
  });
  app.use('/api', api);

  if (options.staticDir !== undefined) {
    const staticDir = options.staticDir;
    const index = join(staticDir, 'index.html');
    if (!existsSync(index))
      throw new Error(`no built Mini App at ${staticDir} (run npm run build -w @cocoon/miniapp)`);
    app.use(express.static(staticDir, { index: 'index.html', maxAge: '1h' }));
    app.get('/{*path}', (_req, res) => res.sendFile(index));
  }

  app.use((error: unknown, _req: Request, res: Response, _next: NextFunction) => {
    if (error instanceof HttpError) {
      if (error.refusal !== undefined) metrics.refuse(error.refusal);
      res.status(error.status).json({ error: { code: error.code, message: error.message } });
      return;
    }
    if (error instanceof BotNotRunningError) {
      res.status(503).json({ error: { code: 'bot_not_running', message: error.message } });
      return;
    }
    // express.json's parse and size errors carry a status and a type.
    const status = (error as { status?: number }).status;
    if (status !== undefined && status >= 400 && status < 500) {
      const type = (error as { type?: string }).type ?? 'bad_request';
      metrics.refuse(status === 413 ? 'too_large' : 'bad_request');
      res.status(status).json({ error: { code: 'bad_request', message: `request body rejected: ${type}` } });
      return;
    }
    options.logger?.error({ err: (error as Error).message }, 'app API request failed');
    res.status(500).json({ error: { code: 'internal', message: 'internal error' } });
  });
  return app;
}

function channelOf(record: AppChannelRecord): AppChannel {
  return {
    chatId: record.chatId,
    title: record.title,
    botCanEdit: record.botCanEdit,
    settings: record.settings,
    sponsorSpent: record.sponsorSpent,
  };
}
