/** Pure-JS hashers on @noble/hashes (the default; runtimes inject native ones). */
import { sha1 } from '@noble/hashes/legacy.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { sha3_256 } from '@noble/hashes/sha3.js';
import type { HashAlgorithm, Hasher } from './primitives.js';

const impl = { sha1, sha256, 'sha3-256': sha3_256 } as const;

export function pureHash(algorithm: HashAlgorithm): Hasher {
  const h = impl[algorithm].create();
  const hasher: Hasher = {
    update(data) {
      h.update(data);
      return hasher;
    },
    digest: () => h.digest(),
  };
  return hasher;
}
