/**
 * Small byte helpers used across the core: joining, comparing, hex and UTF-8.
 * Plain Uint8Array only (no Buffer), so they run in every WinterTC runtime.
 */
import { StreamError } from './errors.js';

/** Join byte arrays into one new array (one allocation, `total` if the caller knows it). */
export function concat(parts: readonly Uint8Array[], total?: number): Uint8Array {
  const size = total ?? parts.reduce((n, p) => n + p.length, 0);
  const out = new Uint8Array(size);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/**
 * A growable byte buffer: append bytes, then copy them out with result().
 * `buf[0, length)` is what has been written; a subclass or caller that writes
 * into `buf` directly calls ensure() first and advances `length` itself.
 */
export class ByteBuilder {
  buf: Uint8Array;
  length = 0;
  constructor(capacity = 64) {
    this.buf = new Uint8Array(Math.max(capacity, 64));
  }
  /** Room for `extra` more bytes (at least doubling, so appends are amortised O(1)). */
  ensure(extra: number): void {
    if (this.length + extra <= this.buf.length) return;
    const next = new Uint8Array(Math.max(this.buf.length * 2, this.length + extra));
    next.set(this.buf.subarray(0, this.length));
    this.buf = next;
  }
  byte(b: number): void {
    this.ensure(1);
    this.buf[this.length++] = b;
  }
  bytes(data: Uint8Array): void {
    this.ensure(data.length);
    this.buf.set(data, this.length);
    this.length += data.length;
  }
  /** The bytes written so far, copied out. */
  result(): Uint8Array {
    return this.buf.slice(0, this.length);
  }
}

/** True when both arrays hold the same bytes. */
export function equal(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Byte-wise lexicographic order (memcmp, then shorter first): negative, zero or positive. */
export function compare(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return a[i] - b[i];
  return a.length - b.length;
}

// Two-character strings for every byte: one lookup per byte instead of toString(16)+padStart.
const HEX_PAIRS = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

/** Character codes of each byte's two hex digits. */
const HEX_CODES = Uint16Array.from({ length: 512 }, (_, i) => HEX_PAIRS[i >> 1].charCodeAt(i & 1));
/** Reused code arrays by length, for toHexAt of short ranges (ids). */
const codeArrays: number[][] = [];

/** Lowercase hex of `bytes`. */
export function toHex(bytes: Uint8Array): string {
  return toHexAt(bytes, 0, bytes.length);
}

function hexDigit(c: number): number {
  if (c >= 48 && c <= 57) return c - 48; // 0-9
  if (c >= 97 && c <= 102) return c - 87; // a-f
  if (c >= 65 && c <= 70) return c - 55; // A-F
  return -1;
}

/** Bytes from hex (either case); a StreamError for odd length or a non-hex character. */
export function fromHex(hex: string): Uint8Array {
  if (hex.length % 2 !== 0) throw new StreamError('bad-hex', 'hex string has odd length', { length: hex.length });
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) {
    const hi = hexDigit(hex.charCodeAt(2 * i));
    const lo = hexDigit(hex.charCodeAt(2 * i + 1));
    if (hi < 0 || lo < 0) throw new StreamError('bad-hex', 'not a hex digit', { offset: hi < 0 ? 2 * i : 2 * i + 1 });
    out[i] = (hi << 4) | lo;
  }
  return out;
}

/** Lowercase hex of `length` bytes at `bytes[offset]`, without copying them out first. */
export function toHexAt(bytes: Uint8Array, offset: number, length: number): string {
  if (length <= 64) {
    // One flat string from its codes: appending pairs made a rope of `length` pieces (garbage, flattened again on first read).
    const codes = (codeArrays[length] ??= new Array<number>(2 * length).fill(0));
    for (let i = 0; i < length; i++) {
      const b = bytes[offset + i] << 1;
      codes[2 * i] = HEX_CODES[b];
      codes[2 * i + 1] = HEX_CODES[b + 1];
    }
    return String.fromCharCode.apply(null, codes);
  }
  let s = '';
  for (let i = offset; i < offset + length; i++) s += HEX_PAIRS[bytes[i]];
  return s;
}

/** Each ASCII character's value as a hex digit, -1 where it is none (a push decodes every id several times). */
const HEX_VALUE = Int8Array.from({ length: 128 }, (_, c) => hexDigit(c));
/** HEX_VALUE for stored ids, which are lowercase: A-F are none. */
const ID_HEX_VALUE = Int8Array.from({ length: 128 }, (_, c) => (c >= 65 && c <= 70 ? -1 : hexDigit(c)));

/** Write the bytes of a hex string into `out` at `offset` (the string must already be valid hex). */
export function writeHex(hex: string, out: Uint8Array, offset: number): void {
  const n = hex.length >> 1;
  for (let i = 0; i < n; i++) out[offset + i] = (HEX_VALUE[hex.charCodeAt(2 * i) & 127] << 4) | HEX_VALUE[hex.charCodeAt(2 * i + 1) & 127];
}

/**
 * writeHex of a SHA-1 id that also checks it, as checkObjectId would for 40
 * characters: true when `hex` is 40 lowercase hex digits (its 20 bytes are then
 * in `out`). One pass instead of a regex test and a decode per id.
 */
export function writeSha1Hex(hex: string, out: Uint8Array, offset: number): boolean {
  if (typeof hex !== 'string' || hex.length !== 40) return false;
  let bad = 0;
  for (let i = 0; i < 20; i++) {
    const a = hex.charCodeAt(2 * i);
    const b = hex.charCodeAt(2 * i + 1);
    const hi = ID_HEX_VALUE[a & 127];
    const lo = ID_HEX_VALUE[b & 127];
    bad |= hi | lo | ((a | b) & ~127); // -1 or a non-ASCII character sets bits above the digits' four
    out[offset + i] = (hi << 4) | lo;
  }
  return (bad & ~15) === 0;
}

const encoder = new TextEncoder();
// ignoreBOM keeps a leading U+FEFF in the text: stripping it would break byte-exact round trips.
const lenientDecoder = new TextDecoder('utf-8', { fatal: false, ignoreBOM: true });
const strictDecoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** UTF-8 bytes of a string. */
export function utf8Encode(text: string): Uint8Array {
  return encoder.encode(text);
}

/**
 * String from UTF-8 bytes. Lenient by default (bad sequences become U+FFFD); with
 * `strict`, invalid UTF-8 is a StreamError, so callers that must round-trip can refuse it.
 */
export function utf8Decode(bytes: Uint8Array, strict = false): string {
  if (!strict) return lenientDecoder.decode(bytes);
  try {
    return strictDecoder.decode(bytes);
  } catch {
    throw new StreamError('bad-utf8', 'invalid UTF-8');
  }
}

/** First index of `byte` in `bytes[from, to)`, or -1. */
export function indexOfByte(bytes: Uint8Array, byte: number, from = 0, to = bytes.length): number {
  // indexOf on the typed array is native; bound it with a subarray only when `to` cuts it short.
  if (to >= bytes.length) return bytes.indexOf(byte, from);
  const i = bytes.subarray(0, to).indexOf(byte, from);
  return i;
}

/**
 * Frees the memory of temporaries now, each a view of a whole buffer nothing else views: a
 * detached buffer's memory goes at once, where garbage waits for a full collection (which V8 runs
 * once some 64 MiB more of it has piled up: a column grown by doubling leaves its size again).
 * A no-op where ArrayBuffer.prototype.transfer is missing (Node 20; workerd has it).
 */
export function releaseNow(...views: (ArrayBufferView | ArrayBuffer)[]): void {
  for (const v of views) {
    const buf = (v instanceof ArrayBuffer ? v : v.buffer) as ArrayBuffer & { transfer?: (length: number) => ArrayBuffer };
    buf.transfer?.(0);
  }
}
