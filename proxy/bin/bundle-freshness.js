// Plain JavaScript: the bin decides with it whether it can run without tsx.
import { readFileSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';

/**
 * The list of the files a bundle was built from, written beside it by scripts/build.ts (paths relative to
 * its folder).
 * @param {string} bundlePath
 */
export function inputsFileOf(bundlePath) {
  return `${bundlePath}.inputs.json`;
}

/** @param {string} path */
function modifiedMs(path) {
  return statSync(path, { throwIfNoEntry: false })?.mtimeMs;
}

/**
 * Why the bundle at `bundlePath` must not be run, or undefined when it is at least as new as every file it
 * was built from (its sources and their package.json files: a few stats, no hashing).
 * @param {string} bundlePath
 * @returns {string | undefined}
 */
export function bundleStaleness(bundlePath) {
  const builtMs = modifiedMs(bundlePath);
  if (builtMs === undefined) return `${bundlePath} is missing`;
  /** @type {unknown} */
  let inputs;
  try {
    inputs = JSON.parse(readFileSync(inputsFileOf(bundlePath), 'utf8'));
  } catch {
    return `${inputsFileOf(bundlePath)}, the list of its sources, is missing or unreadable`;
  }
  if (!Array.isArray(inputs)) return `${inputsFileOf(bundlePath)} is not a list of files`;
  for (const listed of inputs) {
    const input = resolve(dirname(bundlePath), String(listed));
    const inputMs = modifiedMs(input);
    if (inputMs === undefined) return `${input}, one of the sources of ${bundlePath}, is gone`;
    if (inputMs > builtMs) return `${input} is newer than ${bundlePath}`;
  }
  return undefined;
}
