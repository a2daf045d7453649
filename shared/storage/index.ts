/** Storage interfaces, their shared logic and the in-memory implementation. */
export * from './errors.js';
export * from './ids.js';
export * from './refs.js';
export * from './segments.js';
export * from './object-index.js';
export * from './object-store.js';
export * from './memory.js';
export * from './quarantine.js';
export * from './fossil.js';
export * from './fossil-memory.js';
