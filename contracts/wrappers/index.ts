export * from './Client.js';
export * from './constants.js';
export * from './Proxy.js';
export * from './Root.js';
export * from './signing.js';
export * from './Worker.js';
