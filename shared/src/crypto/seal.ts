import { aesGcmDecrypt, aesGcmEncrypt, createSha256, deriveAeadKey } from '#crypto-primitives';
import { fromBase64, fromHex, randomBytes, sha256, toBase64, utf8 } from '../bytes.js';
import { type Clock, unixSeconds } from '../clock.js';
import { encodeJobHeader, JobHeader, SealedChunk, SealedJob, type SealedKey } from '../protocol/job.js';
import { JobId } from '../protocol/primitives.js';
import { SealError } from './errors.js';
import { HPKE_TAG_LENGTH, hpkeKeyId, hpkeOpen, hpkeSeal, type WorkerHpkeKeyPair } from './hpke.js';
import { AES_GCM_TAG_LENGTH, type AeadKey } from './primitives.js';

/*
 * Job sealing. A random 32-byte job key K is wrapped by HPKE to each candidate worker, with the canonical
 * header bytes as associated data. Bulk data rides on AES-256-GCM under keys derived from K by HKDF-SHA256:
 * - request: one message under HKDF(K, info "cocoon/v1/request"), so a fixed zero nonce never repeats;
 * - response: chunks under HKDF(K, salt = a fresh random stream salt, info "cocoon/v1/response" ‖ job id),
 *   nonce = chunk index. The salt matters: the proxy may hand one job to several candidates, or retry it,
 *   and each stream then gets its own key instead of reusing (key, nonce) pairs under K. The salt travels
 *   in front of chunk 0's ciphertext and is authenticated through the key it derives.
 * Chunk associated data binds job id, index and the final flag, so reordering, dropping, truncation and
 * splicing fail.
 */

export const JOB_KEY_LENGTH = 32;
const STREAM_SALT_LENGTH = 32;
const GCM_NONCE_LENGTH = 12;
const MAX_CHUNK_INDEX = 0xffffffff;

const HPKE_INFO = utf8('cocoon/job-key/v1');
const REQUEST_INFO = utf8('cocoon/v1/request');
const RESPONSE_INFO = utf8('cocoon/v1/response');
const CHUNK_AAD_LABEL = utf8('cocoon/v1/chunk');
const MAX_RECIPIENTS = 8;

/** The symmetric secret of one job. Keep it in memory for as long as the job's answer may still arrive. */
export class JobKey {
  readonly #secret: Uint8Array;

  private constructor(secret: Uint8Array) {
    this.#secret = secret;
  }

  static generate(): JobKey {
    return new JobKey(randomBytes(JOB_KEY_LENGTH));
  }

  static fromBytes(bytes: Uint8Array): JobKey {
    if (bytes.length !== JOB_KEY_LENGTH)
      throw new SealError('malformed', `job key must be ${JOB_KEY_LENGTH} bytes`);
    return new JobKey(Uint8Array.from(bytes));
  }

  /** A copy of the raw key, for wrapping it to recipients or keeping a pending job across restarts. Secret. */
  exportBytes(): Uint8Array {
    return Uint8Array.from(this.#secret);
  }

  requestKey(): Promise<AeadKey> {
    return deriveAeadKey(this.#secret, new Uint8Array(0), REQUEST_INFO);
  }

  responseKey(streamSalt: Uint8Array, jobId: string): Promise<AeadKey> {
    return deriveAeadKey(this.#secret, streamSalt, concat(RESPONSE_INFO, fromHex(jobId)));
  }
}

const concat = (...parts: Uint8Array[]): Uint8Array<ArrayBuffer> => {
  const out = new Uint8Array(parts.reduce((sum, part) => sum + part.length, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
};

const u32be = (value: number): Uint8Array => {
  const out = new Uint8Array(4);
  new DataView(out.buffer).setUint32(0, value);
  return out;
};

const decodeBase64 = (text: string, what: string): Uint8Array => {
  try {
    return fromBase64(text);
  } catch {
    throw new SealError('malformed', `${what} is not valid base64`);
  }
};

/** The request key encrypts exactly one message per job key, so a constant nonce is safe. */
const REQUEST_NONCE = new Uint8Array(GCM_NONCE_LENGTH);

/**
 * Seals a request once and wraps its key to each candidate worker (1 to 8, distinct).
 * The header must already be in domain form (maxCost a bigint); it is validated here.
 */
export async function sealJob(
  header: JobHeader,
  request: Uint8Array,
  recipientPublicKeys: Uint8Array[],
): Promise<{ sealed: SealedJob; jobKey: JobKey }> {
  const validHeader = validateHeader(header);
  if (recipientPublicKeys.length < 1 || recipientPublicKeys.length > MAX_RECIPIENTS) {
    throw new SealError('malformed', `a job needs 1 to ${MAX_RECIPIENTS} recipients`);
  }
  const keyIds = recipientPublicKeys.map(hpkeKeyId);
  if (new Set(keyIds).size !== keyIds.length) {
    throw new SealError('malformed', 'recipient public keys repeat');
  }

  const jobKey = JobKey.generate();
  const aad = encodeJobHeader(validHeader);
  const secret = jobKey.exportBytes();
  const [body, wrapped] = await Promise.all([
    jobKey.requestKey().then((key) => aesGcmEncrypt(key, REQUEST_NONCE, request, aad)),
    Promise.all(recipientPublicKeys.map((publicKey) => hpkeSeal(publicKey, secret, aad, HPKE_INFO))),
  ]);
  const recipients: SealedKey[] = wrapped.map(({ enc, ciphertext }, i) => ({
    keyId: keyIds[i] as string,
    enc: toBase64(enc),
    wrappedKey: toBase64(ciphertext),
  }));
  return { sealed: { header: validHeader, recipients, body: toBase64(body) }, jobKey };
}

function validateHeader(header: JobHeader): JobHeader {
  const wire = JobHeader.safeEncode(header);
  if (!wire.success) throw new SealError('malformed', `job header invalid: ${wire.error.issues[0]?.message}`);
  return JobHeader.parse(wire.data);
}

export interface OpenJobOptions {
  /** Clock for the expiry check; the system clock by default. */
  clock?: Clock;
}

/**
 * Opens a job with this worker's key: finds its entry by key id, unwraps the job key (header as associated
 * data), decrypts the body, then refuses an expired job. `sealed` is in domain form and is validated here.
 */
export async function openJob(
  sealed: SealedJob,
  keyPair: WorkerHpkeKeyPair,
  options: OpenJobOptions = {},
): Promise<{ request: Uint8Array; jobKey: JobKey }> {
  const wire = SealedJob.safeEncode(sealed);
  if (!wire.success) throw new SealError('malformed', `sealed job invalid: ${wire.error.issues[0]?.message}`);
  const { header } = sealed;
  const entry = wire.data.recipients.find((recipient) => recipient.keyId === keyPair.keyId);
  if (!entry) {
    throw new SealError(
      'wrong_recipient',
      `job ${header.jobId} holds no key for worker key ${keyPair.keyId}`,
    );
  }
  const aad = encodeJobHeader(header);
  const enc = decodeBase64(entry.enc, 'enc');
  const wrappedKey = decodeBase64(entry.wrappedKey, 'wrappedKey');
  if (wrappedKey.length !== JOB_KEY_LENGTH + HPKE_TAG_LENGTH) {
    throw new SealError('malformed', `wrappedKey must be ${JOB_KEY_LENGTH + HPKE_TAG_LENGTH} bytes`);
  }
  const jobKey = JobKey.fromBytes(await hpkeOpen(keyPair, enc, wrappedKey, aad, HPKE_INFO));

  const ciphertext = decodeBase64(wire.data.body, 'body');
  if (ciphertext.length < AES_GCM_TAG_LENGTH)
    throw new SealError('malformed', 'body is shorter than its tag');
  let request: Uint8Array;
  try {
    request = await aesGcmDecrypt(await jobKey.requestKey(), REQUEST_NONCE, ciphertext, aad);
  } catch {
    throw new SealError('tampered', `job ${header.jobId}: body failed authentication`);
  }
  if (header.expiresAt <= unixSeconds(options.clock)) {
    throw new SealError('expired', `job ${header.jobId} expired at ${header.expiresAt}`);
  }
  return { request, jobKey };
}

/** SHA-256 of the body ciphertext: what the worker's receipt commits to and the client compares. */
export function requestHash(sealed: SealedJob): Uint8Array {
  return sha256(decodeBase64(sealed.body, 'body'));
}

const chunkNonce = (index: number): Uint8Array => concat(new Uint8Array(GCM_NONCE_LENGTH - 4), u32be(index));

const chunkAad = (jobId: Uint8Array, index: number, final: boolean): Uint8Array =>
  concat(CHUNK_AAD_LABEL, jobId, u32be(index), Uint8Array.of(final ? 1 : 0));

const parseJobId = (jobId: string): Uint8Array => {
  const parsed = JobId.safeParse(jobId);
  if (!parsed.success) throw new SealError('malformed', 'job id must be 16 bytes of lowercase hex');
  return fromHex(parsed.data);
};

/**
 * Running hash of a response: SHA-256 over each chunk's data bytes, in order, each prefixed by its u32 length.
 * Sealer and opener feed it the same bytes, so the worker's receipt and the client's check agree.
 */
class ResponseHasher {
  readonly #hash = createSha256();
  add(data: Uint8Array): void {
    this.#hash.update(u32be(data.length)).update(data);
  }
  digest(): Uint8Array {
    return this.#hash.digest();
  }
}

/** Runs async steps one after another, so callers may fire calls without awaiting each. */
class Serial {
  #tail: Promise<unknown> = Promise.resolve();
  run<T>(step: () => Promise<T>): Promise<T> {
    const result = this.#tail.then(step);
    this.#tail = result.catch(() => undefined);
    return result;
  }
}

/** Worker side: seals the answer as numbered chunks; the last one is sealed with `final: true`. */
export class ChunkSealer {
  readonly #jobKey: JobKey;
  readonly #jobId: string;
  readonly #jobIdBytes: Uint8Array;
  readonly #salt = randomBytes(STREAM_SALT_LENGTH);
  readonly #hasher = new ResponseHasher();
  readonly #serial = new Serial();
  #key: Promise<AeadKey> | undefined;
  #next = 0;
  #finished = false;

  constructor(jobKey: JobKey, jobId: string) {
    this.#jobKey = jobKey;
    this.#jobIdBytes = parseJobId(jobId);
    this.#jobId = jobId;
  }

  seal(plaintext: Uint8Array, options: { final: boolean }): Promise<SealedChunk> {
    return this.#serial.run(() => this.#seal(plaintext, options.final));
  }

  async #seal(plaintext: Uint8Array, final: boolean): Promise<SealedChunk> {
    if (this.#finished)
      throw new SealError('after_final', `job ${this.#jobId}: the final chunk was already sealed`);
    const index = this.#next;
    if (index > MAX_CHUNK_INDEX) throw new SealError('malformed', `job ${this.#jobId}: too many chunks`);
    this.#key ??= this.#jobKey.responseKey(this.#salt, this.#jobId);
    const ciphertext = await aesGcmEncrypt(
      await this.#key,
      chunkNonce(index),
      plaintext,
      chunkAad(this.#jobIdBytes, index, final),
    );
    const data = index === 0 ? concat(this.#salt, ciphertext) : ciphertext;
    this.#hasher.add(data);
    this.#next = index + 1;
    this.#finished = final;
    return { jobId: this.#jobId, index, final, data: toBase64(data) };
  }

  /** Hash of every chunk sealed; only once the final one is, since a receipt covers a whole answer. */
  responseHash(): Uint8Array {
    if (!this.#finished)
      throw new SealError('truncated', `job ${this.#jobId}: the final chunk is not sealed yet`);
    return this.#hasher.digest();
  }
}

/** Client side: opens chunks strictly in order, refuses anything after the final one. */
export class ChunkOpener {
  readonly #jobKey: JobKey;
  readonly #jobId: string;
  readonly #jobIdBytes: Uint8Array;
  readonly #hasher = new ResponseHasher();
  readonly #serial = new Serial();
  #key: AeadKey | undefined;
  #next = 0;
  #finished = false;

  constructor(jobKey: JobKey, jobId: string) {
    this.#jobKey = jobKey;
    this.#jobIdBytes = parseJobId(jobId);
    this.#jobId = jobId;
  }

  /** Plaintext of the next chunk. A refused chunk leaves the state as it was: what was accepted stays a prefix. */
  open(chunk: SealedChunk): Promise<Uint8Array> {
    return this.#serial.run(() => this.#open(chunk));
  }

  async #open(chunk: SealedChunk): Promise<Uint8Array> {
    const parsed = SealedChunk.safeParse(chunk);
    if (!parsed.success)
      throw new SealError('malformed', `chunk invalid: ${parsed.error.issues[0]?.message}`);
    const { jobId, index, final } = parsed.data;
    if (this.#finished)
      throw new SealError('after_final', `job ${this.#jobId}: chunk ${index} after the final one`);
    if (jobId !== this.#jobId)
      throw new SealError('wrong_job', `chunk of job ${jobId} in the stream of ${this.#jobId}`);
    if (index !== this.#next) {
      throw new SealError('out_of_order', `job ${this.#jobId}: expected chunk ${this.#next}, got ${index}`);
    }
    const data = decodeBase64(parsed.data.data, 'chunk data');
    const headerLength = index === 0 ? STREAM_SALT_LENGTH : 0;
    if (data.length < headerLength + AES_GCM_TAG_LENGTH) {
      throw new SealError('malformed', `job ${this.#jobId}: chunk ${index} is too short`);
    }
    const key =
      this.#key ?? (await this.#jobKey.responseKey(data.subarray(0, STREAM_SALT_LENGTH), this.#jobId));
    let plaintext: Uint8Array;
    try {
      plaintext = await aesGcmDecrypt(
        key,
        chunkNonce(index),
        data.subarray(headerLength),
        chunkAad(this.#jobIdBytes, index, final),
      );
    } catch {
      throw new SealError('tampered', `job ${this.#jobId}: chunk ${index} failed authentication`);
    }
    this.#key = key;
    this.#hasher.add(data);
    this.#next = index + 1;
    this.#finished = final;
    return plaintext;
  }

  /** Call when the stream ends: throws 'truncated' unless the final chunk was opened. */
  finish(): void {
    if (!this.#finished) {
      throw new SealError(
        'truncated',
        `job ${this.#jobId}: stream ended after ${this.#next} chunks without a final one`,
      );
    }
  }

  /** Hash of the whole answer as received, to compare with the worker's receipt; needs the final chunk. */
  responseHash(): Uint8Array {
    this.finish();
    return this.#hasher.digest();
  }
}
