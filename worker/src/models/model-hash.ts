// Node-only: reads model files and their sidecars with node:fs.
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readFile, rename, stat, writeFile } from 'node:fs/promises';
import { z } from 'zod';

/**
 * Model identity is the SHA-256 of the GGUF file. Hashing tens of GB takes minutes, so the digest is
 * kept beside the file in `<file>.sha256.json`, valid while the file's size and mtime are unchanged.
 */
export const MODEL_HASH_SIDECAR_SUFFIX = '.sha256.json';

const Sidecar = z.object({
  v: z.literal(1),
  size: z.number().int().nonnegative(),
  mtimeMs: z.number().nonnegative(),
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
});
type Sidecar = z.output<typeof Sidecar>;

export interface ModelHashOptions {
  /** Called while hashing a file that has no valid sidecar, with bytes hashed so far. */
  onProgress?: (progress: { hashedBytes: number; totalBytes: number }) => void;
}

export function modelHashSidecarPath(modelPath: string): string {
  return `${modelPath}${MODEL_HASH_SIDECAR_SUFFIX}`;
}

/** Lowercase hex SHA-256 of the model file, from its sidecar when the file is unchanged. */
export async function modelFileSha256(modelPath: string, options: ModelHashOptions = {}): Promise<string> {
  const before = await stat(modelPath);
  const cached = await readSidecar(modelPath);
  if (cached && cached.size === before.size && cached.mtimeMs === before.mtimeMs) return cached.sha256;

  const sha256 = await hashFile(modelPath, before.size, options.onProgress);
  const after = await stat(modelPath);
  // A file that changed while it was hashed gets no sidecar: the digest may match neither version.
  if (after.size === before.size && after.mtimeMs === before.mtimeMs) {
    await writeSidecar(modelPath, { v: 1, size: after.size, mtimeMs: after.mtimeMs, sha256 });
  }
  return sha256;
}

async function hashFile(
  path: string,
  totalBytes: number,
  onProgress: ModelHashOptions['onProgress'],
): Promise<string> {
  const hash = createHash('sha256');
  let hashedBytes = 0;
  for await (const chunk of createReadStream(path, { highWaterMark: 4 << 20 })) {
    hash.update(chunk as Buffer);
    hashedBytes += (chunk as Buffer).length;
    onProgress?.({ hashedBytes, totalBytes });
  }
  return hash.digest('hex');
}

async function readSidecar(modelPath: string): Promise<Sidecar | undefined> {
  let text: string;
  try {
    text = await readFile(modelHashSidecarPath(modelPath), 'utf8');
  } catch {
    return undefined;
  }
  try {
    const parsed = Sidecar.safeParse(JSON.parse(text));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined; // not JSON: treat as absent and rewrite it
  }
}

async function writeSidecar(modelPath: string, sidecar: Sidecar): Promise<void> {
  const path = modelHashSidecarPath(modelPath);
  const partialPath = `${path}.${process.pid}.partial`;
  try {
    await writeFile(partialPath, `${JSON.stringify(sidecar)}\n`);
    await rename(partialPath, path);
  } catch {
    // A read-only model folder only costs a re-hash at the next start; identity stays correct.
  }
}
