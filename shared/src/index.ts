/** @cocoon/shared: the protocol core every role builds on. Runs in Node and in browsers (Node-only modules are separate entries). */
export * from './bytes.js';
export type * from './chain.js';
export * from './clock.js';
export * from './config.js';
export * from './crypto/errors.js';
export * from './crypto/hpke.js';
export * from './crypto/seal.js';
export * from './pricing.js';
export * from './protocol/chat.js';
export * from './protocol/client-auth.js';
export * from './protocol/job.js';
export * from './protocol/messages.js';
export * from './protocol/primitives.js';
export * from './receipt.js';
export * from './signing.js';
