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
import express, { type NextFunction, type Request, type Response } from 'express';
import { z } from 'zod';
import { ProxyError } from './errors.js';
import type { Ledger } from './ledger.js';
import type { ProxyMetrics } from './metrics.js';
import type { PolicyKeeper } from './policy.js';
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
  /** Clients' signed cumulative totals (`POST /v1/vouchers`); absent when the proxy does not settle. */
  vouchers?: VoucherBook;
  log?: Logger;
}

const NDJSON = 'application/x-ndjson';
const ModelQuery = z.object({ model: Hex32.optional() });
/** A receipt is fetched by its id (cell hash, 32 bytes) or by its job id (16 bytes). */
const ReceiptKey = z.union([Hex32, hexBytes(16)]);

/** The client HTTP API: model and worker lists, sealed jobs answered as NDJSON, receipts, health, metrics. */
export function createHttpApi(deps: HttpApiDeps): express.Express {
  const { registry, router, ledger, policy, metrics, clock, log } = deps;
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);

  app.get('/healthz', (_req, res) => {
    const workers = registry.all().length;
    const policyAgeSeconds = Math.round(policy.ageMs() / 1000);
    try {
      policy.current();
      res.json({ status: 'ok', workers, policyAgeSeconds });
    } catch (error) {
      res.status(503).json({ status: 'policy_stale', workers, message: (error as Error).message });
    }
  });

  app.get('/metrics', async (_req, res) => {
    res.type(metrics.registry.contentType).send(await metrics.registry.metrics());
  });

  app.get('/v1/models', (_req, res) => {
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
    res.json(ModelsResponse.encode({ models: [...models].map(([model, entry]) => ({ model, ...entry })) }));
  });

  app.get('/v1/workers', (req, res) => {
    const query = ModelQuery.safeParse(req.query);
    if (!query.success) throw new ProxyError('bad_request', 'model must be a 32-byte lowercase hex hash');
    const { model } = query.data;
    const workers = registry
      .all()
      .filter((worker) => !worker.draining && (model === undefined || worker.offers.has(model)))
      .map((worker) => ({
        workerId: worker.id,
        // As the worker sent it, collateral included, so clients verify it themselves.
        bundle: worker.bundle,
        models: [...worker.offers.values()],
        load: { activeJobs: worker.inFlight, capacity: worker.load.capacity },
      }));
    res.json(WorkersResponse.encode({ workers }));
  });

  app.post('/v1/jobs', express.raw({ type: () => true, limit: deps.maxBodyBytes }), async (req, res) => {
    const body = bodyBytes(req);
    const client = await authenticate(req, body, clock);
    const { sealed, wire } = parseJob(body);
    const jobId = sealed.header.jobId;
    let started = false;
    let ended = false;
    const line = (event: JobStreamEvent) => `${JSON.stringify(event)}\n`;
    const sink: JobSink = {
      accepted(workerId) {
        if (!started) {
          started = true;
          res.status(200).setHeader('content-type', NDJSON).setHeader('cache-control', 'no-store');
        }
        res.write(line({ type: 'accepted', jobId, workerId }));
      },
      chunk(chunk) {
        res.write(line({ type: 'chunk', chunk }));
      },
      receipt(receipt) {
        ended = true;
        // The last line and the end of the response in one write.
        res.end(line({ type: 'receipt', receipt }));
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
  });

  app.get('/v1/receipts/:id', async (req, res) => {
    const client = await authenticate(req, new Uint8Array(0), clock);
    const key = ReceiptKey.safeParse(req.params.id);
    if (!key.success)
      throw new ProxyError('bad_request', 'a receipt id is 32 bytes of hex, a job id 16 bytes');
    const receipt = await ledger.find(key.data, client);
    if (receipt === undefined) throw new ProxyError('not_found', 'no receipt with this id for this client');
    res.json({ receipt });
  });

  const { vouchers } = deps;
  if (vouchers !== undefined) {
    app.get('/v1/vouchers', async (req, res) => {
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
      res.json(z.encode(VoucherHeld, { voucher }));
    });
    app.post('/v1/vouchers', express.raw({ type: () => true, limit: 4096 }), async (req, res) => {
      const body = bodyBytes(req);
      const client = await authenticate(req, body, clock);
      const voucher = parseJson(body, VoucherMessage, 'voucher');
      try {
        res.json(z.encode(VoucherReply, await vouchers.accept(client, voucher)));
      } catch (error) {
        if (!(error instanceof VoucherRefused)) throw error;
        const forged = error.code === 'bad_signature' || error.code === 'wrong_contract';
        throw forged
          ? new ProxyError('forbidden', error.message, undefined, 'forged_voucher')
          : new ProxyError('bad_request', error.message, undefined, 'invalid_voucher');
      }
    });
  }

  app.use((_req: Request, _res: Response) => {
    throw new ProxyError('not_found', 'no such endpoint');
  });

  app.use((error: unknown, req: Request, res: Response, _next: NextFunction) => {
    const proxyError = toProxyError(error);
    if (proxyError.code === 'internal') log?.error({ err: error, path: req.path }, 'request failed');
    if (res.headersSent) {
      res.end();
      return;
    }
    if (proxyError.code !== 'internal') metrics.refusals.inc({ reason: proxyError.reason });
    sendError(res, proxyError);
  });

  return app;
}

function sendError(res: Response, error: ProxyError): void {
  if (error.retryAfterSeconds !== undefined) res.setHeader('retry-after', String(error.retryAfterSeconds));
  res.status(error.status).json(error.toApiError());
}

function bodyBytes(req: Request): Uint8Array {
  return Buffer.isBuffer(req.body)
    ? new Uint8Array(req.body.buffer, req.body.byteOffset, req.body.length)
    : new Uint8Array(0);
}

async function authenticate(req: Request, body: Uint8Array, clock: Clock): Promise<string> {
  try {
    return await verifyRequest(
      { method: req.method, path: req.originalUrl, body },
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
  if (error instanceof ProxyError) return error;
  const type = (error as { type?: unknown } | null)?.type;
  if (type === 'entity.too.large')
    return new ProxyError('payload_too_large', 'the request body is too large');
  if (type === 'entity.parse.failed' || type === 'request.aborted') {
    return new ProxyError('bad_request', 'the request body could not be read');
  }
  return new ProxyError('internal', 'internal error');
}
