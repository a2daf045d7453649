/**
 * Primitives for these tests with only hashing (@noble/hashes): the artifact
 * layer never inflates, so the tests do not depend on the zlib module loading.
 */
import { sha1 } from '@noble/hashes/legacy.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { sha3_256 } from '@noble/hashes/sha3.js';
import type { Hasher, Primitives } from '../../../../shared/core/primitives.js';

const impl = { sha1, sha256, 'sha3-256': sha3_256 } as const;

/** Hash-only primitives; using zlib through them is a test bug and throws. */
export const hashOnly: Primitives = {
  hash(algorithm) {
    const h = impl[algorithm].create();
    const hasher: Hasher = {
      update(data) {
        h.update(data);
        return hasher;
      },
      digest: () => h.digest(),
    };
    return hasher;
  },
  get zlib(): never {
    throw new Error('zlib is not used by the artifact tests');
  },
};
