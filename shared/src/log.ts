import { type DestinationStream, type Logger, pino } from 'pino';

export type { Logger };

/**
 * Fields that could hold what users wrote or read. They are censored wherever they appear in a log object,
 * as a second line of defence: code must not log them in the first place.
 */
export const CONTENT_FIELDS = [
  'prompt',
  'messages',
  'content',
  'text',
  'post',
  'summary',
  'answer',
  'body',
  'request',
  'response',
];

const redactPaths = CONTENT_FIELDS.flatMap((field) => [field, `*.${field}`]);

export function createLogger(name: string, level = 'info', destination?: DestinationStream): Logger {
  const options = { name, level, redact: { paths: redactPaths, censor: '[content withheld]' } };
  return destination === undefined ? pino(options) : pino(options, destination);
}
