export type { FakeEngineOptions, FakeModelSpec } from './fake-engine.js';
export { FakeEngine, FakeEngineModel } from './fake-engine.js';
export type { TinyGguf, TinyGgufOptions } from './tiny-gguf.js';
export { buildTinyGguf, writeTinyGguf } from './tiny-gguf.js';
