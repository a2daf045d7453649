/**
 * Hashing: the pure-JS hashers on @noble/hashes (the default Primitives; runtimes
 * inject native ones, see worker/native-hash.ts) and one-shot helpers.
 *
 * Git names objects by SHA-1 (or SHA-256 in sha256 repositories); Fossil names
 * artifacts by SHA-1 or SHA3-256.
 */
import { sha1 } from '@noble/hashes/legacy.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { sha3_256 } from '@noble/hashes/sha3.js';
import { toHex } from './bytes.js';
import type { HashAlgorithm, Hasher, Primitives } from './primitives.js';

/** Digest length in bytes of each algorithm. */
export const HASH_LENGTH: Readonly<Record<HashAlgorithm, number>> = { sha1: 20, sha256: 32, 'sha3-256': 32 };

const impl = { sha1, sha256, 'sha3-256': sha3_256 } as const;

/** A pure-JS incremental hasher (@noble/hashes). */
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

/** The digest of `data` (one or more chunks) with the injected hashers. */
export function digest(p: Primitives, algorithm: HashAlgorithm, data: Uint8Array | readonly Uint8Array[]): Uint8Array {
  const h = p.hash(algorithm);
  if (data instanceof Uint8Array) h.update(data);
  else for (const chunk of data) h.update(chunk);
  return h.digest();
}

/** The digest of `data` as lowercase hex. */
export function digestHex(p: Primitives, algorithm: HashAlgorithm, data: Uint8Array | readonly Uint8Array[]): string {
  return toHex(digest(p, algorithm, data));
}
