import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig, renderEnvExample, renderSettingsTable } from '../src/config.js';

const repoFile = (name: string) => readFileSync(new URL(`../../${name}`, import.meta.url), 'utf8');

describe('configuration', () => {
  it('runs on defaults alone', () => {
    const config = loadConfig({});
    expect(config.PROXY_PORT).toBe(8480);
    expect(config.TON_NETWORK).toBe('sandbox');
    expect(config.ATTESTATION_ALLOW_DEV).toBe(true);
    expect(config.BOT_TOKEN).toBeUndefined();
  });

  it('takes the environment over the file, and the file over defaults', () => {
    const file = 'PROXY_PORT=9000\nAPP_PORT=9001\n';
    const config = loadConfig({ PROXY_PORT: '9100' }, file);
    expect(config.PROXY_PORT).toBe(9100);
    expect(config.APP_PORT).toBe(9001);
  });

  it('names every bad setting and the form it expects, without echoing secrets', () => {
    try {
      loadConfig({ PROXY_PORT: 'eighty', BOT_TOKEN: 'hunter2', TON_NETWORK: 'moon' });
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(ConfigError);
      const message = (error as ConfigError).message;
      expect(message).toMatch(/PROXY_PORT="eighty"/);
      expect(message).toMatch(/TON_NETWORK="moon".*sandbox/);
      expect(message).toMatch(/BOT_TOKEN=\(hidden\): expected a token from @BotFather/);
      expect(message).not.toContain('hunter2');
    }
  });

  it('refuses unknown keys in the config file (a typo must not pass silently)', () => {
    expect(() => loadConfig({}, 'PROXY_PROT=1\n')).toThrowError(/PROXY_PROT: unknown setting/);
  });

  it('.env.example is exactly what the settings say', () => {
    expect(repoFile('.env.example')).toBe(renderEnvExample());
  });

  it("README's settings table is exactly what the settings say", () => {
    expect(repoFile('README.md')).toContain(`-->\n${renderSettingsTable()}\n<!-- settings:end -->`);
  });
});
