// Regenerates .env.example and README's settings table from shared/src/config.ts.
import { readFileSync, writeFileSync } from 'node:fs';
import { renderEnvExample, renderSettingsTable } from '../src/config.js';

const root = new URL('../../', import.meta.url);
writeFileSync(new URL('.env.example', root), renderEnvExample());

const readmePath = new URL('README.md', root);
const readme = readFileSync(readmePath, 'utf8');
const section = /(<!-- settings:start[^\n]*-->\n)[\s\S]*?(<!-- settings:end -->)/;
if (!section.test(readme)) throw new Error('README.md has no settings:start/settings:end markers');
writeFileSync(
  readmePath,
  readme.replace(section, (_, start: string, end: string) => `${start}${renderSettingsTable()}\n${end}`),
);
