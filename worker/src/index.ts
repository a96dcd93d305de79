/** @cocoon/worker: the attested llama.cpp node GPU owners run. */
export * from './engine/index.js';
export * from './models/index.js';
export { WorkerIdentity, type WorkerKeys } from './node/identity.js';
export { type LinkState, ProxyLink, type ProxyLinkOptions } from './node/link.js';
export { type JobOutcome, serveJob } from './node/serve-job.js';
export {
  checkPayoutAddress,
  DEFAULT_MODEL,
  loadEngine,
  parseModelSources,
  type RunningWorker,
  type StartWorkerOptions,
  startWorker,
  type WorkerStats,
  type WorkerStatusReport,
} from './runtime.js';
