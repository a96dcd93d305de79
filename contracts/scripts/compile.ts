// `npm run build`: compiles every contract into build/<name>.json (code BOC base64 + hash).
import { buildDir, compileAll } from '../src/compile.js';

const compiled = await compileAll();
for (const contract of Object.values(compiled)) {
  console.log(`${contract.name.padEnd(7)} ${contract.codeHashHex}  (Tolk ${contract.tolkVersion})`);
}
console.log(`written to ${buildDir}`);
