import { z } from 'zod';
import { SignedReceipt } from '../receipt.js';
import { SealedChunk, SealedJob } from './job.js';
import { Base64, Hex32, JobId, Nanotons, PROTOCOL_VERSION } from './primitives.js';

/**
 * Messages between worker and proxy (one WebSocket the worker dials) and between client and proxy (HTTP).
 * Nothing here holds content: jobs and answers travel sealed.
 * The attestation bundle is validated by its own schema in attestation/, so it is opaque here.
 */

export const ModelOffer = z.object({
  model: Hex32,
  /** Human name shown in model lists (from GGUF metadata or the file name). */
  name: z.string().min(1).max(200),
  pricePerToken: Nanotons,
  /** Basis points of 10000 applied to the Root's price (the GPU owner's coefficient). */
  priceCoefficient: z.number().int().positive(),
  /** The Root's multipliers per token kind (10000 = 1×); with pricePerToken they make the PriceSchedule. */
  promptMultiplier: z.number().int().nonnegative().default(10_000),
  completionMultiplier: z.number().int().nonnegative().default(10_000),
  contextSize: z.number().int().positive(),
});
export type ModelOffer = z.output<typeof ModelOffer>;

export const WorkerLoad = z.object({
  activeJobs: z.number().int().nonnegative(),
  capacity: z.number().int().nonnegative(),
});

export const WorkerToProxy = z.discriminatedUnion('type', [
  z.object({
    type: z.literal('hello'),
    v: z.literal(PROTOCOL_VERSION),
    bundle: z.unknown(),
    models: z.array(ModelOffer).min(1),
    payoutAddress: z.string().min(1),
    /** The payout address signed by the attested signing key (`signPayoutAddress`). */
    payoutSignature: Base64,
    /** The model offers signed by the attested signing key (`signOffers`); clients check it too. */
    offersSignature: Base64,
    load: WorkerLoad,
  }),
  z.object({ type: z.literal('heartbeat'), load: WorkerLoad }),
  /** A fresh attestation after key rotation; the old key stays valid only for jobs in flight. */
  z.object({
    type: z.literal('rotated'),
    bundle: z.unknown(),
    /** The payout address and offers, signed again by the new key. */
    payoutSignature: Base64,
    offersSignature: Base64,
  }),
  z.object({ type: z.literal('chunk'), chunk: SealedChunk }),
  z.object({ type: z.literal('receipt'), jobId: JobId, receipt: SignedReceipt }),
  /**
   * A job the worker could not start (content-free code; details go to the client sealed). `replayed`: it
   * has already run this job id (a sealed job runs once, whichever proxy sends it again).
   */
  z.object({
    type: z.literal('refused'),
    jobId: JobId,
    code: z.enum(['busy', 'unknown_key', 'unknown_model', 'expired', 'malformed', 'draining', 'replayed']),
  }),
  z.object({ type: z.literal('draining') }),
]);
export type WorkerToProxy = z.output<typeof WorkerToProxy>;

export const ProxyToWorker = z.discriminatedUnion('type', [
  z.object({ type: z.literal('welcome'), workerId: z.string().min(1) }),
  z.object({ type: z.literal('rejected'), reason: z.string() }),
  z.object({ type: z.literal('job'), job: SealedJob }),
  z.object({ type: z.literal('cancel'), jobId: JobId }),
]);
export type ProxyToWorker = z.output<typeof ProxyToWorker>;

/** One line of the NDJSON stream that answers `POST /v1/jobs`. */
export const JobStreamEvent = z.discriminatedUnion('type', [
  z.object({ type: z.literal('accepted'), jobId: JobId, workerId: z.string() }),
  z.object({ type: z.literal('chunk'), chunk: SealedChunk }),
  z.object({ type: z.literal('receipt'), receipt: SignedReceipt }),
  z.object({ type: z.literal('error'), code: z.string(), message: z.string() }),
]);
export type JobStreamEvent = z.output<typeof JobStreamEvent>;

export const ApiError = z.object({ error: z.object({ code: z.string(), message: z.string() }) });
export type ApiError = z.output<typeof ApiError>;

/** `GET /v1/workers?model=`: what a client needs to verify each worker itself and seal to it. */
export const WorkerListing = z.object({
  workerId: z.string().min(1),
  /** The worker's attestation bundle, with cached collateral for TDX (validated by the attestation schema). */
  bundle: z.unknown(),
  models: z.array(ModelOffer),
  /** `models` as the worker signed them with its attested key (`verifyOffers`). */
  offersSignature: Base64,
  load: WorkerLoad,
});
export type WorkerListing = z.output<typeof WorkerListing>;
export const WorkersResponse = z.object({ workers: z.array(WorkerListing) });

/** `GET /v1/models`: models served by at least one admitted worker. */
export const ModelListing = z.object({
  model: Hex32,
  name: z.string(),
  workers: z.number().int().nonnegative(),
  minPricePerToken: Nanotons,
});
export const ModelsResponse = z.object({ models: z.array(ModelListing) });
