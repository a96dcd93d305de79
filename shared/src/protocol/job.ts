import { z } from 'zod';
import { utf8 } from '../bytes.js';
import { Base64, Hex32, JobId, Nanotons, PROTOCOL_VERSION, TokenCount, UnixSeconds } from './primitives.js';

/**
 * What the proxy may see of a job: enough to route, admit and bill it, nothing of its content.
 * It is the associated data of every recipient's sealed key, so no field can be changed in transit.
 */
export const JobHeader = z.object({
  v: z.literal(PROTOCOL_VERSION),
  jobId: JobId,
  /** SHA-256 of the GGUF file the client wants. */
  model: Hex32,
  /** The client account: the Ed25519 public key that signs the client's requests and cumulative totals. */
  client: Hex32,
  maxTokens: TokenCount.min(1),
  /** The most the client accepts to pay for this job, in nanotons. */
  maxCost: Nanotons,
  expiresAt: UnixSeconds,
});
export type JobHeader = z.output<typeof JobHeader>;

/** Canonical bytes of a header: fixed field order, so client and worker derive the same associated data. */
export function encodeJobHeader(header: JobHeader): Uint8Array {
  const canonical = [
    header.v,
    header.jobId,
    header.model,
    header.client,
    header.maxTokens,
    header.maxCost.toString(),
    header.expiresAt,
  ];
  return utf8(`cocoon/job/v${PROTOCOL_VERSION}\n${JSON.stringify(canonical)}`);
}

/** The job key wrapped for one candidate worker (RFC 9180 single-shot seal of the 32-byte job key). */
export const SealedKey = z.object({
  /** Hex SHA-256 of the worker's HPKE public key, so a worker finds its entry without trial decryption. */
  keyId: Hex32,
  /** HPKE encapsulated key. */
  enc: Base64,
  /** The job key sealed to that worker. */
  wrappedKey: Base64,
});
export type SealedKey = z.output<typeof SealedKey>;

/** The largest sealed job (its JSON) a proxy takes by default (`ProxyLimits.maxBodyBytes`). */
export const MAX_SEALED_JOB_BYTES = 8 * 1024 * 1024;

export const SealedJob = z.object({
  header: JobHeader,
  recipients: z.array(SealedKey).min(1).max(8),
  /** The request, AEAD-sealed once under the job key with the header as associated data. */
  body: Base64,
});
export type SealedJob = z.output<typeof SealedJob>;

/** One sealed piece of the answer; its AEAD associated data binds job id, index and the final flag. */
export const SealedChunk = z.object({
  jobId: JobId,
  index: z.number().int().nonnegative().max(0xffffffff),
  final: z.boolean(),
  data: Base64,
});
export type SealedChunk = z.output<typeof SealedChunk>;
