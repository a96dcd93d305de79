import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { CONTENT_FIELDS, createLogger } from '../src/log.js';

describe('logger', () => {
  it('withholds content fields at the top level and one level down', () => {
    const lines: string[] = [];
    const sink = new Writable({
      write(chunk, _encoding, done) {
        lines.push(String(chunk));
        done();
      },
    });
    const logger = createLogger('test', 'info', sink);
    logger.info({ prompt: 'secret prompt', job: { summary: 'secret summary' }, jobId: 'abc' }, 'job done');
    const [line] = lines;
    expect(line).toContain('abc');
    expect(line).not.toContain('secret');
    expect(CONTENT_FIELDS).toContain('summary');
  });
});
