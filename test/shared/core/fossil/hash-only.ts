/**
 * Primitives for these tests with only hashing (the pure-JS hashers of
 * shared/core/hash.ts): the artifact layer never inflates, so the tests do not
 * depend on the zlib module loading.
 */
import { pureHash } from '../../../../shared/core/hash.js';
import type { Primitives } from '../../../../shared/core/primitives.js';

/** Hash-only primitives; using zlib through them is a test bug and throws. */
export const hashOnly: Primitives = {
  hash: pureHash,
  get zlib(): never {
    throw new Error('zlib is not used by the artifact tests');
  },
};
