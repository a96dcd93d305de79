export { MODEL_HASH_SIDECAR_SUFFIX, modelFileSha256, modelHashSidecarPath } from './model-hash.js';
export type { DownloadProgress, ResolvedModel, ResolveModelOptions } from './resolve-model.js';
export {
  defaultModelCacheDir,
  formatDownloadProgress,
  isRemoteModelSource,
  ModelResolutionError,
  resolveModel,
} from './resolve-model.js';
