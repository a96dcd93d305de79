import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';
import {
  type Clock,
  Hex32,
  hexBytes,
  type JobStreamEvent,
  ModelsResponse,
  RequestAuthError,
  SealedJob,
  unixSeconds,
  verifyRequest,
  WorkersResponse,
} from '@cocoon/shared';
import { VoucherHeld, VoucherMessage, VoucherReply } from '@cocoon/shared/client/voucher';
import type { Logger } from '@cocoon/shared/log';
import Router from 'find-my-way';
import getRawBody from 'raw-body';
import { z } from 'zod';
import { ProxyError } from './errors.js';
import type { Ledger } from './ledger.js';
import type { ProxyMetrics } from './metrics.js';
import type { PolicyKeeper } from './policy.js';
import { type RateLimiter, requestNetwork } from './rate-limit.js';
import type { WorkerRegistry } from './registry.js';
import type { JobRouter, JobSink } from './router.js';
import { type VoucherBook, VoucherRefused } from './settlement/vouchers.js';

export interface HttpApiDeps {
  registry: WorkerRegistry;
  router: JobRouter;
  ledger: Ledger;
  policy: PolicyKeeper;
  metrics: ProxyMetrics;
  clock: Clock;
  /** Largest request body accepted (a sealed job). */
  maxBodyBytes: number;
  /** Requests per network (`requestNetwork`) on the client API, checked before anything else. */
  addressLimit: { limiter: RateLimiter; trustForwardedFor: boolean };
  /** Clients' signed cumulative totals (`POST /v1/vouchers`); absent when the proxy does not settle. */
  vouchers?: VoucherBook;
  log?: Logger;
}

const NDJSON = 'application/x-ndjson';
const ModelQuery = z.object({ model: Hex32.optional() });
/** A receipt is fetched by its id (cell hash, 32 bytes) or by its job id (16 bytes). */
const ReceiptKey = z.union([Hex32, hexBytes(16)]);
const VOUCHER_MAX_BYTES = 4096;

type Handler = (
  req: IncomingMessage,
  res: ServerResponse,
  params: Record<string, string | undefined>,
  query: Record<string, string | string[]>,
) => unknown;

/**
 * The client HTTP API: model and worker lists, sealed jobs answered as NDJSON, receipts, vouchers, health,
 * metrics. On node:http with a radix router (find-my-way), not a framework: a job's request costs the
 * proxy ≈ 20 µs of HTTP handling this way, ≈ 90 µs through Express.
 */
export function createHttpApi(deps: HttpApiDeps): RequestListener {
  const { registry, router, ledger, policy, metrics, clock, log } = deps;

  const fail = (req: IncomingMessage, res: ServerResponse, error: unknown): void => {
    const proxyError = toProxyError(error);
    if (proxyError.code === 'internal') log?.error({ err: error, path: req.url }, 'request failed');
    if (res.headersSent) {
      res.end();
      return;
    }
    if (proxyError.code !== 'internal') metrics.refusals.inc({ reason: proxyError.reason });
    sendError(res, proxyError);
  };
  /** Every handler's error, thrown or rejected, becomes the error response. */
  const route =
    (handler: Handler) =>
    (
      req: IncomingMessage,
      res: ServerResponse,
      params: Record<string, string | undefined>,
      _store: unknown,
      query: Record<string, string | string[]>,
    ) => {
      try {
        const done = handler(req, res, params, query);
        if (done instanceof Promise) done.catch((error: unknown) => fail(req, res, error));
      } catch (error) {
        fail(req, res, error);
      }
    };
  /** A client API route: the request's network takes a token first, so a flood costs no signature check. */
  const clientRoute = (handler: Handler) =>
    route((req, res, params, query) => {
      const network = requestNetwork(req, deps.addressLimit.trustForwardedFor);
      const waitSeconds = network === undefined ? 0 : deps.addressLimit.limiter.take(network);
      if (waitSeconds > 0) {
        throw new ProxyError(
          'rate_limited',
          'too many requests from this network address',
          waitSeconds,
          'address_rate_limited',
        );
      }
      return handler(req, res, params, query);
    });
  const api = Router({
    ignoreTrailingSlash: false,
    defaultRoute: (req, res) => fail(req, res, new ProxyError('not_found', 'no such endpoint')),
    onBadUrl: (_path, req, res) => fail(req, res, new ProxyError('bad_request', 'the URL is malformed')),
  });

  api.get(
    '/healthz',
    route((_req, res) => {
      const workers = registry.all().length;
      const policyAgeSeconds = Math.round(policy.ageMs() / 1000);
      try {
        policy.current();
        sendJson(res, 200, { status: 'ok', workers, policyAgeSeconds });
      } catch (error) {
        sendJson(res, 503, { status: 'policy_stale', workers, message: (error as Error).message });
      }
    }),
  );

  api.get(
    '/metrics',
    route(async (_req, res) => {
      const text = await metrics.registry.metrics();
      res.writeHead(200, { 'content-type': metrics.registry.contentType }).end(text);
    }),
  );

  api.get(
    '/v1/models',
    clientRoute((_req, res) => {
      const models = new Map<string, { name: string; workers: number; minPricePerToken: bigint }>();
      for (const worker of registry.all()) {
        if (worker.draining) continue;
        for (const offer of worker.offers.values()) {
          const entry = models.get(offer.model);
          if (entry === undefined) {
            models.set(offer.model, { name: offer.name, workers: 1, minPricePerToken: offer.pricePerToken });
          } else {
            entry.workers += 1;
            if (offer.pricePerToken < entry.minPricePerToken) entry.minPricePerToken = offer.pricePerToken;
          }
        }
      }
      sendJson(
        res,
        200,
        ModelsResponse.encode({ models: [...models].map(([model, entry]) => ({ model, ...entry })) }),
      );
    }),
  );

  api.get(
    '/v1/workers',
    clientRoute((_req, res, _params, query) => {
      const parsed = ModelQuery.safeParse(query);
      if (!parsed.success) throw new ProxyError('bad_request', 'model must be a 32-byte lowercase hex hash');
      const { model } = parsed.data;
      const workers = registry
        .all()
        .filter((worker) => !worker.draining && (model === undefined || worker.offers.has(model)))
        .map((worker) => ({
          workerId: worker.id,
          // As the worker sent it, collateral included, so clients verify it themselves.
          bundle: worker.bundle,
          models: [...worker.offers.values()],
          offersSignature: worker.offersSignature,
          load: { activeJobs: worker.inFlight, capacity: worker.load.capacity },
        }));
      sendJson(res, 200, WorkersResponse.encode({ workers }));
    }),
  );

  api.post(
    '/v1/jobs',
    clientRoute(async (req, res) => {
      const arrivedAtMs = performance.now();
      const body = await readBody(req, deps.maxBodyBytes);
      const client = await authenticate(req, body, clock);
      const { sealed, wire } = parseJob(body);
      const jobId = sealed.header.jobId;
      let started = false;
      let ended = false;
      let dispatchedAtMs = 0;
      let workerTurnMs = 0;
      const line = (event: JobStreamEvent) => `${JSON.stringify(event)}\n`;
      const sink: JobSink = {
        accepted(workerId) {
          dispatchedAtMs = performance.now();
          if (!started) {
            started = true;
            res.writeHead(200, { 'content-type': NDJSON, 'cache-control': 'no-store' });
          }
          res.write(line({ type: 'accepted', jobId, workerId }));
        },
        chunk(chunk) {
          res.write(line({ type: 'chunk', chunk }));
        },
        answered() {
          workerTurnMs = performance.now() - dispatchedAtMs;
        },
        receipt(receipt) {
          ended = true;
          // The last line and the end of the response in one write.
          res.end(line({ type: 'receipt', receipt }));
          metrics.addedLatency.observe((performance.now() - arrivedAtMs - workerTurnMs) / 1000);
        },
        fail(error) {
          ended = true;
          if (started) {
            res.end(line({ type: 'error', code: error.code, message: error.message }));
          } else {
            sendError(res, error);
          }
        },
      };
      res.on('close', () => {
        if (!ended) router.cancel(jobId, sink);
      });
      await router.submit({ sealed, wire }, client, sink);
    }),
  );

  api.get(
    '/v1/receipts/:id',
    clientRoute(async (req, res, params) => {
      const client = await authenticate(req, new Uint8Array(0), clock);
      const key = ReceiptKey.safeParse(params.id);
      if (!key.success)
        throw new ProxyError('bad_request', 'a receipt id is 32 bytes of hex, a job id 16 bytes');
      const receipt = await ledger.find(key.data, client);
      if (receipt === undefined) throw new ProxyError('not_found', 'no receipt with this id for this client');
      sendJson(res, 200, { receipt });
    }),
  );

  const { vouchers } = deps;
  if (vouchers !== undefined) {
    api.get(
      '/v1/vouchers',
      clientRoute(async (req, res) => {
        const client = await authenticate(req, new Uint8Array(0), clock);
        const held = await vouchers.latest(client);
        const voucher =
          held === undefined
            ? null
            : {
                contract: held.contract,
                owner: held.owner,
                total: held.total,
                queryId: held.queryId,
                signature: held.signature,
              };
        sendJson(res, 200, z.encode(VoucherHeld, { voucher }));
      }),
    );
    api.post(
      '/v1/vouchers',
      clientRoute(async (req, res) => {
        const body = await readBody(req, VOUCHER_MAX_BYTES);
        const client = await authenticate(req, body, clock);
        const voucher = parseJson(body, VoucherMessage, 'voucher');
        try {
          sendJson(res, 200, z.encode(VoucherReply, await vouchers.accept(client, voucher)));
        } catch (error) {
          if (!(error instanceof VoucherRefused)) throw error;
          const forged = error.code === 'bad_signature' || error.code === 'wrong_contract';
          throw forged
            ? new ProxyError('forbidden', error.message, undefined, 'forged_voucher')
            : new ProxyError('bad_request', error.message, undefined, 'invalid_voucher');
        }
      }),
    );
  }

  return (req, res) => api.lookup(req, res);
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
  });
  res.end(text);
}

function sendError(res: ServerResponse, error: ProxyError): void {
  if (error.retryAfterSeconds !== undefined) res.setHeader('retry-after', String(error.retryAfterSeconds));
  sendJson(res, error.status, error.toApiError());
}

/** The request body, at most `limit` bytes (413 beyond it, told by Content-Length or counted). */
async function readBody(req: IncomingMessage, limit: number): Promise<Uint8Array> {
  try {
    const body = await getRawBody(req, { limit, length: req.headers['content-length'] });
    return new Uint8Array(body.buffer, body.byteOffset, body.length);
  } catch (error) {
    const type = (error as { type?: unknown } | null)?.type;
    if (type === 'entity.too.large')
      throw new ProxyError('payload_too_large', 'the request body is too large');
    throw new ProxyError('bad_request', 'the request body could not be read');
  }
}

async function authenticate(req: IncomingMessage, body: Uint8Array, clock: Clock): Promise<string> {
  try {
    return await verifyRequest(
      { method: req.method ?? '', path: req.url ?? '', body },
      req.headers,
      unixSeconds(clock),
    );
  } catch (error) {
    if (error instanceof RequestAuthError) {
      const reason = error.code === 'stale' ? 'stale_request' : 'bad_signature';
      throw new ProxyError('unauthorized', error.message, undefined, reason);
    }
    throw error;
  }
}

function parseJson<S extends z.ZodType>(body: Uint8Array, schema: S, what: string): z.output<S> {
  let json: unknown;
  try {
    json = JSON.parse(Buffer.from(body.buffer, body.byteOffset, body.length).toString('utf8'));
  } catch {
    throw new ProxyError('bad_request', 'the body is not JSON');
  }
  const parsed = schema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new ProxyError(
      'bad_request',
      `invalid ${what} at ${issue?.path.join('.') || '(root)'}: ${issue?.message}`,
    );
  }
  return parsed.data;
}

function parseJob(body: Uint8Array): { sealed: SealedJob; wire: string } {
  const wire = Buffer.from(body.buffer, body.byteOffset, body.length).toString('utf8');
  let json: unknown;
  try {
    json = JSON.parse(wire);
  } catch {
    throw new ProxyError('bad_request', 'the body is not JSON');
  }
  const parsed = SealedJob.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new ProxyError(
      'bad_request',
      `invalid sealed job at ${issue?.path.join('.') || '(root)'}: ${issue?.message}`,
    );
  }
  return { sealed: parsed.data, wire };
}

function toProxyError(error: unknown): ProxyError {
  return error instanceof ProxyError ? error : new ProxyError('internal', 'internal error');
}
