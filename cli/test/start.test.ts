import { describe, expect, it } from 'vitest';
import { formatStatus } from '../src/start.js';

describe('npm start status table', () => {
  it('aligns components and details', () => {
    expect(
      formatStatus([
        { component: 'proxy', detail: 'http://127.0.0.1:8480' },
        { component: 'Root contract', detail: 'EQ…' },
      ]),
    ).toBe('  proxy          http://127.0.0.1:8480\n  Root contract  EQ…');
  });
});
