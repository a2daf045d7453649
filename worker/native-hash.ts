/**
 * Native hashers on node:crypto (Node, and workerd with nodejs_compat), injected
 * into shared/ in place of the pure-JS ones. Where the runtime's crypto lacks an
 * algorithm (workerd's BoringSSL has no SHA3), the pure hasher stands in.
 */
import { createHash } from 'node:crypto';
import { pureHash } from '../shared/core/hash.js';
import type { HashAlgorithm, Hasher } from '../shared/core/primitives.js';

function probe(algorithm: HashAlgorithm): boolean {
  try {
    createHash(algorithm).update(new Uint8Array(1)).digest();
    return true;
  } catch {
    return false;
  }
}

/** Which algorithms this runtime's node:crypto provides: a constant, probed once at load. */
const NATIVE: Readonly<Record<HashAlgorithm, boolean>> = Object.freeze({
  sha1: probe('sha1'),
  sha256: probe('sha256'),
  'sha3-256': probe('sha3-256'),
});

const NATIVE_MD5 = (() => {
  try {
    createHash('md5').update(new Uint8Array(1)).digest();
    return true;
  } catch {
    return false;
  }
})();

/** MD5 of one buffer on node:crypto (fossil's Z cards: every received manifest), or undefined where the runtime lacks it. */
export const nativeMd5: ((data: Uint8Array) => Uint8Array) | undefined = NATIVE_MD5 ? (data) => new Uint8Array(createHash('md5').update(data).digest()) : undefined;

/** Whether nativeHash(algorithm) is really native in this runtime. */
export function isNativeHash(algorithm: HashAlgorithm): boolean {
  return NATIVE[algorithm];
}

/** The WebAssembly SHA3-256 where node:crypto lacks it (workerd), installed by worker/keccak-module.ts. */
let sha3_256: (() => Hasher) | undefined;

/** Use `factory` for SHA3-256 where node:crypto has none (no effect where it has one). */
export function installSha3_256(factory: (() => Hasher) | undefined): void {
  sha3_256 = factory;
}

/** Whether SHA3-256 comes from the installed WebAssembly Keccak (workerd) rather than node:crypto or pure JS. */
export function isWasmSha3(): boolean {
  return !NATIVE['sha3-256'] && sha3_256 !== undefined;
}

/**
 * A node:crypto hash as a Hasher. A class rather than an object of closures: a push makes
 * one per object, and the bundle names every closure made (a property definition each).
 */
class NodeHasher implements Hasher {
  constructor(private readonly h: ReturnType<typeof createHash>) {}
  update(data: Uint8Array): Hasher {
    this.h.update(data);
    return this;
  }
  digest(): Uint8Array {
    // Copied out of the Buffer (20-32 bytes) so callers never hold a view of Node's buffer pool.
    return new Uint8Array(this.h.digest());
  }
}

/** A node:crypto incremental hasher (where the runtime lacks the algorithm: the installed wasm SHA3-256, else the pure one). */
export function nativeHash(algorithm: HashAlgorithm): Hasher {
  if (!NATIVE[algorithm]) return algorithm === 'sha3-256' && sha3_256 ? sha3_256() : pureHash(algorithm);
  return new NodeHasher(createHash(algorithm));
}
