/**
 * The two hot primitives, hashing and zlib, behind a small injected interface.
 *
 * shared/ must run anywhere, so its defaults are pure JS (@noble/hashes, fflate).
 * Each runtime adapter passes native implementations instead (workerd's
 * nodejs_compat and Node give node:crypto and node:zlib; see worker/primitives.ts),
 * because the pure versions run at 0.05x-0.4x of native on the hot paths.
 * Functions that hash or inflate take a `Primitives` argument; nothing here is
 * module state.
 */
import { pureHash } from './hash.js';
import { pureZlib } from './zlib.js';

export type HashAlgorithm = 'sha1' | 'sha256' | 'sha3-256';

/** An incremental hash: update any number of times, then digest once. */
export interface Hasher {
  update(data: Uint8Array): Hasher;
  digest(): Uint8Array;
}

/** One zlib stream inflated from the front of a buffer. */
export interface InflateResult {
  output: Uint8Array;
  /** Bytes of input the zlib stream occupied (header, deflate data and Adler-32 trailer). */
  consumed: number;
}

/** What a streaming inflater produced for one pushed chunk. */
export interface InflateStep {
  output: Uint8Array[];
  /** True once the zlib stream (including its trailer) has ended. */
  done: boolean;
  /** When done: how many bytes of the last pushed chunk belonged to the stream. */
  used: number;
}

/** A streaming inflater for one zlib stream of unknown compressed length. */
export interface Inflater {
  /**
   * With `sink`, the output goes to it piece by piece instead of into the
   * step's `output` (then empty): views of memory the inflater may reuse,
   * valid only during the call (for output that is hashed, not kept).
   */
  push(chunk: Uint8Array, sink?: (piece: Uint8Array) => void): InflateStep;
}

/** A streaming deflater producing one zlib stream. */
export interface Deflater {
  push(chunk: Uint8Array, final: boolean): Uint8Array[];
}

export interface Zlib {
  /** Compress `data` into one zlib stream (RFC 1950). */
  deflate(data: Uint8Array, level?: number): Uint8Array;
  /** Inflate one whole zlib stream; throws ZlibError if damaged, truncated or larger than maxSize. */
  inflate(data: Uint8Array, maxSize?: number): Uint8Array;
  /**
   * Inflate the zlib stream that starts at data[0] (bytes after its end are allowed
   * and not touched). Returns null when `data` ends before the stream does, so the
   * caller can retry with more input or switch to createInflater. Output past
   * maxSize is a ZlibError, never an allocation. With `into` of more than maxSize
   * bytes, the output is a view of it instead of a new array (a caller reusing
   * memory for contents it does not keep).
   */
  inflatePrefix(data: Uint8Array, maxSize: number, into?: Uint8Array): InflateResult | null;
  /** A streaming inflater that finds the end of one zlib stream; output is bounded by maxSize. */
  createInflater(maxSize: number): Inflater;
  /** A streaming deflater (for records too large to hold whole). */
  createDeflater(level?: number): Deflater;
}

export interface Primitives {
  hash(algorithm: HashAlgorithm): Hasher;
  zlib: Zlib;
  /** MD5 of one buffer (fossil's Z and R cards); absent: the pure one (@noble/hashes). */
  md5?(data: Uint8Array): Uint8Array;
}

/** Pure-JS primitives: run in any WinterTC runtime, slower than native. */
export const purePrimitives: Primitives = { hash: pureHash, zlib: pureZlib };
