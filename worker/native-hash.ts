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

/** workerd's native hash object under node:crypto's Hash: update, and a digest as a new Uint8Array. */
interface HashHandle {
  update(data: Uint8Array): unknown;
  digest(): Uint8Array;
}
type HashHandleClass = new (algorithm: string, xofLength: undefined) => HashHandle;

/**
 * workerd's HashHandle class, checked on known digests, or null. node:crypto's
 * Hash is a stream (Transform, Duplex, EventEmitter) around it, built per
 * object hashed: in workerd that construction, and the Buffer made of each
 * digest, cost more than hashing the object (a 4076-object push: ~3 us an
 * object). Only workerd's: Node's own handle class aborts the process on
 * arguments it does not expect, which no try can catch.
 */
function workerdHashHandle(): HashHandleClass | null {
  if ((globalThis as { navigator?: { userAgent?: string } }).navigator?.userAgent !== 'Cloudflare-Workers') return null;
  try {
    const hash = createHash('sha1') as unknown as Record<symbol, unknown>;
    const key = Object.getOwnPropertySymbols(hash).find((s) => s.description === 'kHandle');
    const Handle = key === undefined ? undefined : (hash[key] as { constructor?: unknown } | undefined)?.constructor;
    if (typeof Handle !== 'function' || Handle.name !== 'HashHandle') return null;
    const Class = Handle as HashHandleClass;
    const abc = new TextEncoder().encode('abc');
    const check = (algorithm: string, hex: string) => {
      const h = new Class(algorithm, undefined);
      h.update(abc.subarray(0, 1));
      h.update(abc.subarray(1));
      const d = h.digest();
      return d instanceof Uint8Array && [...d].map((b) => b.toString(16).padStart(2, '0')).join('') === hex;
    };
    const ok =
      check('sha1', 'a9993e364706816aba3e25717850c26c9cd0d89d') && check('sha256', 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
    return ok ? Class : null;
  } catch {
    return null;
  }
}

const HASH_HANDLE = workerdHashHandle();

/** A Hasher straight on workerd's HashHandle (see workerdHashHandle). */
class HandleHasher implements Hasher {
  constructor(private readonly h: HashHandle) {}
  update(data: Uint8Array): Hasher {
    this.h.update(data);
    return this;
  }
  digest(): Uint8Array {
    return this.h.digest();
  }
}

/** Whether nativeHash uses workerd's HashHandle directly (for tests). */
export const usesHashHandle = (): boolean => HASH_HANDLE !== null;

/** A node:crypto incremental hasher (where the runtime lacks the algorithm: the installed wasm SHA3-256, else the pure one). */
export function nativeHash(algorithm: HashAlgorithm): Hasher {
  if (!NATIVE[algorithm]) return algorithm === 'sha3-256' && sha3_256 ? sha3_256() : pureHash(algorithm);
  if (HASH_HANDLE !== null) return new HandleHasher(new HASH_HANDLE(algorithm, undefined));
  return new NodeHasher(createHash(algorithm));
}
