export type { FakeEngineOptions, FakeModelSpec } from './fake-engine.js';
export { FakeEngine, FakeEngineModel } from './fake-engine.js';
export type { GeneratedGguf, RandomGgufOptions, RandomGgufShape } from './random-gguf.js';
export { buildTinyGguf, RANDOM_GGUF_SHAPES, writeRandomGguf, writeTinyGguf } from './random-gguf.js';
