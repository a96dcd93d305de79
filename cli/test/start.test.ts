import { loadConfig } from '@cocoon/shared';
import { describe, expect, it } from 'vitest';
import { formatStatus, start } from '../src/start.js';

describe('npm start', () => {
  it('reports every role, and the bot as off without a token', async () => {
    const network = await start(loadConfig({}));
    const names = network.rows.map((row) => row.component);
    expect(names).toEqual(expect.arrayContaining(['proxy', 'worker (llama.cpp)', 'Telegram bot']));
    expect(network.rows.find((row) => row.component === 'Telegram bot')?.state).toBe('off');
    expect(formatStatus(network.rows)).toMatch(/^ {2}component +state +detail\n/);
    await network.stop();
  });
});
