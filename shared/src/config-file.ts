// Node-only: reads the optional config file named by COCOON_CONFIG (or ./cocoon.env when present).
import { existsSync, readFileSync } from 'node:fs';
import { type Config, ConfigError, loadConfig } from './config.js';

export const DEFAULT_CONFIG_FILE = 'cocoon.env';

export function loadProcessConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const named = env.COCOON_CONFIG;
  const path = named ?? (existsSync(DEFAULT_CONFIG_FILE) ? DEFAULT_CONFIG_FILE : undefined);
  if (named !== undefined && !existsSync(named)) {
    throw new ConfigError([`COCOON_CONFIG=${JSON.stringify(named)}: no such file`]);
  }
  return loadConfig(env, path === undefined ? undefined : readFileSync(path, 'utf8'));
}

/** For programs' entry points: the settings, or the list of what is wrong with them and exit code 2. */
export function loadProcessConfigOrExit(env: NodeJS.ProcessEnv = process.env): Config {
  try {
    return loadProcessConfig(env);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    console.error(error.message);
    process.exit(2);
  }
}
