// A worker process SIGKILLed mid-stream: the client gets a clear error, is charged nothing (its
// reservation released, no receipt), and its retry is served by another worker.
import { ClientError, CocoonClient, generateSigningKeyPair } from '@cocoon/shared';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  devPolicy,
  fakeModel,
  type LocalProxy,
  startLocalProxy,
  WorkerProcess,
  waitFor,
} from '../support/faults.js';

const model = fakeModel();
let local: LocalProxy;
const workers: WorkerProcess[] = [];

beforeAll(async () => {
  local = await startLocalProxy(model);
}, 30_000);

afterAll(async () => {
  await Promise.all(workers.map((worker) => worker.stop('SIGKILL')));
  await local?.close();
});

describe('a worker process killed mid-stream', () => {
  it('fails the job clearly, charges nothing, and the retry goes to another worker', async () => {
    const { proxy, credit } = local;
    // slow streams (a word every 150 ms) so the kill lands between chunks
    for (let i = 0; i < 2; i++)
      workers.push(WorkerProcess.start({ proxyUrl: proxy.url, model, tokenDelayMs: 150 }));
    await waitFor(() => proxy.registry.all().length === 2, 'both workers admitted', 60_000).catch((error) => {
      throw new Error(`${(error as Error).message}\n${workers.map((w) => w.output).join('\n')}`);
    });
    const clientKey = generateSigningKeyPair();
    const client = new CocoonClient({ proxyUrl: proxy.url, clientKey, policy: devPolicy(model) });
    const available = await credit.available(client.account);

    let killed: WorkerProcess | undefined;
    let killedId: string | undefined;
    const job = client.chat(
      // greedy: the same answer every run, not a draw that could end at once
      {
        messages: [{ role: 'user', content: 'Tell me about TON in a few words.' }],
        max_tokens: 64,
        temperature: 0,
      },
      {
        model,
        signal: AbortSignal.timeout(30_000),
        onText: () => {
          if (killed !== undefined) return;
          // the worker streaming this job: the one the proxy counts a job in flight for
          const serving = proxy.registry.all().find((worker) => worker.inFlight > 0);
          killed = workers.find((w) => w.payoutAddress === serving?.payoutAddress);
          killedId = serving?.id;
          killed?.child.kill('SIGKILL');
        },
      },
    );
    const error = await job.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(killed, 'a worker was streaming the job').toBeDefined();
    expect(error).toBeInstanceOf(ClientError);
    expect(error).toMatchObject({ code: 'proxy_error', detail: { code: 'bad_gateway' } });
    expect((error as Error).message).toMatch(/worker was lost mid-answer/);

    // not charged: the reservation is released in full and no receipt was recorded
    await waitFor(
      async () => (await credit.available(client.account)) === available,
      'the reservation released',
    );
    expect(await proxy.ledger.clientTotals(client.account)).toMatchObject({ jobs: 0n, amount: 0n });

    // the retry: served by the worker that is still alive
    await waitFor(() => proxy.registry.all().length === 1, 'the dead worker dropped', 10_000);
    const retry = await client.chat(
      // greedy: the same answer every run, not a draw that could end at once
      {
        messages: [{ role: 'user', content: 'Tell me about TON in a few words.' }],
        max_tokens: 64,
        temperature: 0,
      },
      { model, signal: AbortSignal.timeout(30_000) },
    );
    expect(retry.worker.workerId).not.toBe(killedId);
    expect(retry.text.length).toBeGreaterThan(0);
    expect(await credit.available(client.account)).toBe(available - retry.receipt.amount);
    expect(await proxy.ledger.clientTotals(client.account)).toMatchObject({
      jobs: 1n,
      amount: retry.receipt.amount,
    });
  }, 90_000);
});
