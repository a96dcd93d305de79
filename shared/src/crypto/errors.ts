/**
 * Why sealing or opening failed. Messages name the failure and positions, never any plaintext or key bytes.
 * - wrong_recipient: the job holds no key for this worker.
 * - tampered: an AEAD or HPKE check failed (body, enc, wrapped key, header, chunk data or its flags).
 * - out_of_order: a chunk arrived with an index other than the next one (reordered, dropped or duplicated).
 * - truncated: the stream ended without its final chunk.
 * - after_final: a chunk came (or was sealed) after the final one.
 * - wrong_job: a chunk names another job.
 * - malformed: the input does not have the wire shape (bad base64, lengths, schema).
 * - expired: the job's header says it has expired.
 */
export type SealErrorCode =
  | 'wrong_recipient'
  | 'tampered'
  | 'out_of_order'
  | 'truncated'
  | 'after_final'
  | 'wrong_job'
  | 'malformed'
  | 'expired';

export class SealError extends Error {
  override readonly name = 'SealError';
  constructor(
    readonly code: SealErrorCode,
    message: string,
  ) {
    super(message);
  }
}
