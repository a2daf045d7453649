/** PLACEHOLDER until the core helper writes it: node:crypto hashers. */
import { createHash } from 'node:crypto';
import type { HashAlgorithm, Hasher } from '../shared/core/primitives.js';

const names: Record<HashAlgorithm, string> = { sha1: 'sha1', sha256: 'sha256', 'sha3-256': 'sha3-256' };

export function nativeHash(algorithm: HashAlgorithm): Hasher {
  const h = createHash(names[algorithm]);
  const hasher: Hasher = {
    update(data) {
      h.update(data);
      return hasher;
    },
    digest: () => new Uint8Array(h.digest()),
  };
  return hasher;
}
