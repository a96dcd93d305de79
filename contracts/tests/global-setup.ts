import { compileAll } from '../src/compile.js';

export default async function setup(): Promise<void> {
  await compileAll();
}
