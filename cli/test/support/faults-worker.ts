// A `cocoon-worker` process on the fake engine, for fault tests that kill workers: the real worker runtime
// (attestation, proxy link, sealed streams, receipts) with FakeEngine's slow, deterministic answers.
// Settings come from the environment as for `cocoon-worker`; FAKE_MODEL names the model it serves and
// FAKE_TOKEN_DELAY_MS slows its stream down.
import { loadProcessConfigOrExit } from '@cocoon/shared/config-file';
import { createLogger } from '@cocoon/shared/log';
import { startWorker } from '@cocoon/worker';
import { FakeEngine } from '@cocoon/worker/testing';

const model = process.env.FAKE_MODEL;
if (model === undefined) throw new Error('FAKE_MODEL is not set');
const config = loadProcessConfigOrExit();
const worker = await startWorker({
  config,
  log: createLogger('worker', config.LOG_LEVEL),
  engine: new FakeEngine({
    models: [{ id: model }],
    tokenDelayMs: Number(process.env.FAKE_TOKEN_DELAY_MS ?? '0'),
  }),
  statusPort: null,
});
process.once('SIGTERM', () => void worker.stop().then(() => process.exit(0)));
