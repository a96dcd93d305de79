// Node-only: small state files in the data folder (cursors, signed totals, counters), written atomically so a
// crash leaves the old content or the new, never a torn file.
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { z } from 'zod';

export class JsonFileError extends Error {
  override readonly name = 'JsonFileError';
}

/** The file's content decoded by `schema`, or undefined when there is no file; a bad file is an error. */
export async function readJsonFile<S extends z.ZodType>(
  path: string,
  schema: S,
): Promise<z.output<S> | undefined> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new JsonFileError(`${path} is not JSON`);
  }
  const parsed = schema.safeParse(json);
  if (!parsed.success)
    throw new JsonFileError(`${path} holds something else: ${parsed.error.issues[0]?.message}`);
  return parsed.data;
}

/** Encodes `value` with `schema` and replaces the file atomically (readable by its owner only). */
export async function writeJsonFile<S extends z.ZodType>(
  path: string,
  schema: S,
  value: z.output<S>,
): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const tmp = `${path}.${process.pid}.tmp`;
  await writeFile(tmp, JSON.stringify(z.encode(schema, value)), { mode: 0o600 });
  await rename(tmp, path);
}
