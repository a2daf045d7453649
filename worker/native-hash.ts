/**
 * Native hashers on node:crypto (Node, and workerd with nodejs_compat), injected
 * into shared/ in place of the pure-JS ones. Where the runtime's crypto lacks an
 * algorithm (workerd's BoringSSL has no SHA3), the pure hasher stands in.
 */
import { createHash, getHashes } from 'node:crypto';
import { pureHash } from '../shared/core/hash.js';
import type { HashAlgorithm, Hasher } from '../shared/core/primitives.js';

/** Algorithms this runtime's node:crypto can hash, asked once per call site rather than cached in module state. */
function nativeSupports(algorithm: HashAlgorithm): boolean {
  try {
    createHash(algorithm);
    return true;
  } catch {
    return false;
  }
}

/** A node:crypto incremental hasher (falls back to @noble/hashes if the algorithm is missing). */
export function nativeHash(algorithm: HashAlgorithm): Hasher {
  let h;
  try {
    h = createHash(algorithm);
  } catch {
    return pureHash(algorithm);
  }
  const hasher: Hasher = {
    update(data) {
      h.update(data);
      return hasher;
    },
    digest: () => {
      const d = h.digest();
      return new Uint8Array(d.buffer, d.byteOffset, d.length);
    },
  };
  return hasher;
}

/** Whether nativeHash(algorithm) is really native here (for tests and benchmarks). */
export function isNativeHash(algorithm: HashAlgorithm): boolean {
  return getHashes().includes(algorithm) || nativeSupports(algorithm);
}
