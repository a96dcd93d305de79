import {
  AnswerEvent,
  fromHex,
  fromUtf8,
  generateSigningKeyPair,
  JobStreamEvent,
  randomBytes,
  type SealedJob,
  SealedJob as SealedJobSchema,
  type SignedReceipt,
  type SigningKeyPair,
  signRequest,
  toHex,
  utf8,
  verifyReceipt,
  WorkersResponse,
} from '@cocoon/shared';
import { ChunkOpener, type JobKey, requestHash, sealJob } from '@cocoon/shared/crypto/seal';

export interface JobOutcome {
  status: number;
  headers: Headers;
  /** JSON error body for a refused job. */
  error?: { code: string; message: string };
  events: JobStreamEvent[];
  /** The answer's text, opened and checked chunk by chunk. */
  text: string;
  receipt?: SignedReceipt;
}

/** A client that really seals jobs to workers' HPKE keys, signs its requests, and opens the answer. */
export class TestClient {
  constructor(
    readonly baseUrl: string,
    readonly keys: SigningKeyPair = generateSigningKeyPair(),
    /** Another fetch (one that trusts a test CA, for a proxy serving HTTPS). */
    private readonly fetch: typeof globalThis.fetch = globalThis.fetch,
  ) {}

  get account(): string {
    return toHex(this.keys.publicKey);
  }

  async workers(model: string) {
    const response = await this.fetch(`${this.baseUrl}/v1/workers?model=${model}`);
    return WorkersResponse.parse(await response.json()).workers;
  }

  async seal(
    model: string,
    recipients: string[],
    options: { text?: string; maxTokens?: number; maxCost?: bigint; expiresIn?: number } = {},
  ): Promise<{ sealed: SealedJob; jobKey: JobKey }> {
    const request = { messages: [{ role: 'user', content: options.text ?? 'hello from a sealed job' }] };
    return sealJob(
      {
        v: 1,
        jobId: toHex(randomBytes(16)),
        model,
        client: this.account,
        maxTokens: options.maxTokens ?? 100,
        maxCost: options.maxCost ?? 1_000_000n,
        expiresAt: Math.floor(Date.now() / 1000) + (options.expiresIn ?? 300),
      },
      utf8(JSON.stringify(request)),
      recipients.map((key) => fromHex(key)),
    );
  }

  /** POSTs a sealed job; the caller reads the stream (all of it within 10 s unless `signal` says otherwise). */
  post(
    sealed: SealedJob,
    signal: AbortSignal = AbortSignal.timeout(10_000),
    signer: SigningKeyPair = this.keys,
  ): Promise<Response> {
    const body = utf8(JSON.stringify(SealedJobSchema.encode(sealed)));
    const headers = signRequest(
      { method: 'POST', path: '/v1/jobs', body },
      signer.secretKey,
      Math.floor(Date.now() / 1000),
    );
    return this.fetch(`${this.baseUrl}/v1/jobs`, {
      method: 'POST',
      headers: { ...headers, 'content-type': 'application/json' },
      body,
      signal,
    });
  }

  /** Runs a job to its end: opens every chunk, and checks the receipt against what was sent and received. */
  async run(sealed: SealedJob, jobKey: JobKey): Promise<JobOutcome> {
    const response = await this.post(sealed);
    if (response.headers.get('content-type')?.startsWith('application/json')) {
      const body = (await response.json()) as { error: { code: string; message: string } };
      return { status: response.status, headers: response.headers, error: body.error, events: [], text: '' };
    }
    const events = await readEvents(response);
    const opener = new ChunkOpener(jobKey, sealed.header.jobId);
    let text = '';
    let receipt: SignedReceipt | undefined;
    let workerId: string | undefined;
    for (const event of events) {
      if (event.type === 'accepted') workerId = event.workerId;
      if (event.type === 'chunk') {
        const answer = AnswerEvent.parse(JSON.parse(fromUtf8(await opener.open(event.chunk))));
        if (answer.type === 'text') text += answer.text;
      }
      if (event.type === 'receipt') {
        receipt = event.receipt;
        const decoded = verifyReceipt(receipt);
        if (decoded.jobId !== sealed.header.jobId) throw new Error('receipt names another job');
        if (decoded.requestHash !== toHex(requestHash(sealed)))
          throw new Error('receipt request hash differs');
        if (decoded.responseHash !== toHex(opener.responseHash()))
          throw new Error('receipt response hash differs');
      }
    }
    if (workerId === undefined) throw new Error('stream had no accepted event');
    return {
      status: response.status,
      headers: response.headers,
      events,
      text,
      ...(receipt ? { receipt } : {}),
    };
  }

  /** A signed GET. */
  get(path: string): Promise<Response> {
    const headers = signRequest(
      { method: 'GET', path, body: new Uint8Array(0) },
      this.keys.secretKey,
      Math.floor(Date.now() / 1000),
    );
    return this.fetch(`${this.baseUrl}${path}`, { headers });
  }
}

/** Reads an NDJSON stream of job events to its end. */
export async function readEvents(response: Response): Promise<JobStreamEvent[]> {
  const text = await response.text();
  return text
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => JobStreamEvent.parse(JSON.parse(line)));
}
