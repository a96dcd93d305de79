// Node-only: resolves files on disk and downloads with node-llama-cpp.
import { stat } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { resolveModelFile } from 'node-llama-cpp';
import { modelFileSha256 } from './model-hash.js';

export interface DownloadProgress {
  downloadedBytes: number;
  totalBytes: number;
  /** Recent transfer rate, averaged over the last few seconds. */
  bytesPerSecond: number;
}

export interface ResolveModelOptions {
  /** Where `hf:` and URL models are downloaded and found again (default: {@link defaultModelCacheDir}). */
  cacheDir?: string;
  onDownloadProgress?: (progress: DownloadProgress) => void;
  /** Called while a model without a valid hash sidecar is hashed. */
  onHashProgress?: (progress: { hashedBytes: number; totalBytes: number }) => void;
  /** Hugging Face endpoint for `hf:` URIs (node-llama-cpp also reads `MODEL_ENDPOINT` / `HF_ENDPOINT`). */
  huggingFaceEndpoint?: string;
  signal?: AbortSignal;
}

export interface ResolvedModel {
  /** What the operator gave: a path, an `hf:` URI or a URL. */
  source: string;
  /** Absolute path of the GGUF file on disk. */
  path: string;
  sizeBytes: number;
  /** Lowercase hex SHA-256 of the file: the model's identity on the network. */
  sha256: string;
}

export class ModelResolutionError extends Error {
  override readonly name = 'ModelResolutionError';
}

const REMOTE_SOURCE = /^(hf:|hf\.co\/|huggingface:|huggingface\.co\/|https?:\/\/)/i;

export function isRemoteModelSource(source: string): boolean {
  return REMOTE_SOURCE.test(source);
}

export function defaultModelCacheDir(): string {
  const cacheHome = process.env.XDG_CACHE_HOME || join(homedir(), '.cache');
  return join(cacheHome, 'cocoon', 'models');
}

/**
 * Finds a model on disk or downloads it (an interrupted download resumes from its partial file),
 * then computes or reads its SHA-256 identity.
 */
export async function resolveModel(
  source: string,
  options: ResolveModelOptions = {},
): Promise<ResolvedModel> {
  const path = isRemoteModelSource(source) ? await download(source, options) : resolve(source);
  let sizeBytes: number;
  try {
    const info = await stat(path);
    if (!info.isFile()) throw new ModelResolutionError(`model path ${path} is not a file`);
    sizeBytes = info.size;
  } catch (error) {
    if (error instanceof ModelResolutionError) throw error;
    throw new ModelResolutionError(`model file ${path} not found`, { cause: error });
  }
  const sha256 = await modelFileSha256(path, { onProgress: options.onHashProgress });
  return { source, path, sizeBytes, sha256 };
}

async function download(source: string, options: ResolveModelOptions): Promise<string> {
  const meter = new TransferRateMeter();
  const onProgress = options.onDownloadProgress;
  let path: string;
  try {
    path = await resolveModelFile(source, {
      directory: options.cacheDir ?? defaultModelCacheDir(),
      cli: false,
      // Keep the partial file on cancel so the next start resumes instead of starting over.
      deleteTempFileOnCancel: false,
      signal: options.signal,
      endpoints: options.huggingFaceEndpoint ? { huggingFace: options.huggingFaceEndpoint } : undefined,
      onProgress: onProgress
        ? ({ downloadedSize, totalSize }) =>
            onProgress({
              downloadedBytes: downloadedSize,
              totalBytes: totalSize,
              bytesPerSecond: meter.record(downloadedSize),
            })
        : undefined,
    });
  } catch (error) {
    if (options.signal?.aborted) throw options.signal.reason;
    const reason = error instanceof Error ? error.message : String(error);
    throw new ModelResolutionError(`could not download model ${source}: ${reason}`, { cause: error });
  }
  // A cancelled download returns the path it would have written instead of throwing.
  if (options.signal?.aborted) throw options.signal.reason;
  return path;
}

const RATE_WINDOW_MS = 3000;

/** Bytes per second over a sliding window, so the shown speed follows the link, not the whole history. */
class TransferRateMeter {
  private readonly samples: Array<{ atMs: number; bytes: number }> = [];

  constructor(private readonly now: () => number = () => performance.now()) {}

  record(totalBytes: number): number {
    const atMs = this.now();
    this.samples.push({ atMs, bytes: totalBytes });
    while (this.samples.length > 2 && atMs - (this.samples[1]?.atMs ?? atMs) >= RATE_WINDOW_MS)
      this.samples.shift();
    const oldest = this.samples[0];
    if (!oldest || atMs <= oldest.atMs) return 0;
    return ((totalBytes - oldest.bytes) * 1000) / (atMs - oldest.atMs);
  }
}

/** One line for a terminal progress display, e.g. `1.2 GiB / 4.4 GiB  27.3%  41.0 MiB/s`. */
export function formatDownloadProgress(progress: DownloadProgress): string {
  const percent = progress.totalBytes > 0 ? (progress.downloadedBytes / progress.totalBytes) * 100 : 0;
  return `${formatBytes(progress.downloadedBytes)} / ${formatBytes(progress.totalBytes)}  ${percent.toFixed(1)}%  ${formatBytes(progress.bytesPerSecond)}/s`;
}

function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value.toFixed(unit === 0 ? 0 : 1)} ${units[unit]}`;
}
