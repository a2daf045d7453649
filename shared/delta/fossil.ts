/**
 * Fossil's delta format (www/delta_format.wiki, src/delta.c of fossil 2.21).
 *
 *     delta   = INT(target-size) "\n" segment* INT(checksum) ";"
 *     segment = INT(n) "@" INT(offset) ","     copy n bytes from base[offset...]
 *             | INT(n) ":" <n raw bytes>       insert n literal bytes
 *     INT     = base-64 digits "0-9A-Z_a-z~", most significant first
 *     checksum = sum modulo 2^32 of the target read as big-endian 32-bit
 *                words, the last partial word padded with zero bytes
 *
 * The encoder is fossil's: the base is indexed by a rolling hash of its
 * 16-byte blocks (NHASH), the target is scanned one byte at a time, each
 * candidate is extended forwards and backwards, and a copy is emitted only
 * when it is cheaper than inserting its bytes. The decoder checks every bound
 * with its own error code, and the checksum (fossil only checks it in debug
 * builds; we always do, it is cheap).
 */
import { ByteBuilder, concat, releaseNow } from '../core/bytes.js';
import { DeltaError } from './errors.js';

/** Default bound on a delta's declared target size (bytes), checked before allocating. */
export const FOSSIL_DELTA_MAX_OUTPUT = 256 * 1024 * 1024;
/** Size of the blocks of the base that the encoder indexes (fossil's NHASH). */
export const NHASH = 16;
/** Largest integer the format carries (fossil's getInt reads an unsigned int). */
export const FOSSIL_DELTA_MAX_INT = 0xffffffff;
// 64^6 > 2^32: a longer integer is either padded with zeros or out of range;
// refusing it keeps the bytes an incremental decoder must buffer tiny.
const MAX_INT_DIGITS = 6;
// fossil's limit on candidate blocks tried per target position.
const MAX_CANDIDATES = 250;

const DIGITS = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz~';
const DIGIT_CODES = Uint8Array.from(DIGITS, (c) => c.charCodeAt(0));
// Value of each byte as a base-64 digit, -1 if it is not one.
const DIGIT_VALUE = (() => {
  const t = new Int8Array(256).fill(-1);
  for (let i = 0; i < 64; i++) t[DIGITS.charCodeAt(i)] = i;
  return t;
})();
const LF = 0x0a;
const AT = 0x40; // '@'
const COMMA = 0x2c; // ','
const COLON = 0x3a; // ':'
const SEMI = 0x3b; // ';'

// Whether a Uint32Array sees the first byte of a word in its low bits; the
// checksum's word-at-a-time path relies on it (all current JS hosts are).
const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

// ---- checksum ----

/**
 * The Fossil delta checksum computed incrementally over consecutive pieces
 * of the target (so a target can be checksummed without being assembled).
 */
export class FossilChecksum {
  // Sum of the bytes at stream positions congruent to 0, 1, 2, 3 modulo 4.
  private s0 = 0;
  private s1 = 0;
  private s2 = 0;
  private s3 = 0;
  private length = 0;

  /** Add the next piece of the target. */
  update(data: Uint8Array, start = 0, end = data.length): this {
    let i = start;
    let phase = this.length & 3;
    this.length += end - start;
    // Bytes one at a time until memory is word-aligned (or the piece is small).
    const bulk = LITTLE_ENDIAN && end - i >= 64;
    while (i < end && (!bulk || ((data.byteOffset + i) & 3) !== 0)) {
      this.add(phase, data[i++]);
      phase = (phase + 1) & 3;
    }
    if (i < end) {
      const words = (end - i) >>> 2;
      const w = new Uint32Array(data.buffer, data.byteOffset + i, words);
      // Lanes of the little-endian words: two bytes per accumulator in 16-bit
      // fields; 128 words per block cannot carry from one field to the next.
      let l0 = 0;
      let l1 = 0;
      let l2 = 0;
      let l3 = 0;
      for (let k = 0; k < words; ) {
        const stop = Math.min(words, k + 128);
        let even = 0;
        let odd = 0;
        for (; k < stop; k++) {
          const x = w[k];
          even = (even + (x & 0x00ff00ff)) | 0;
          odd = (odd + ((x >>> 8) & 0x00ff00ff)) | 0;
        }
        l0 += even & 0xffff;
        l2 += even >>> 16;
        l1 += odd & 0xffff;
        l3 += odd >>> 16;
      }
      // Memory byte k of each word sits at stream lane (phase + k) & 3.
      this.add(phase, l0);
      this.add((phase + 1) & 3, l1);
      this.add((phase + 2) & 3, l2);
      this.add((phase + 3) & 3, l3);
      i += words << 2;
      while (i < end) {
        this.add(phase, data[i++]);
        phase = (phase + 1) & 3;
      }
    }
    return this;
  }

  /** The checksum of everything added so far. */
  digest(): number {
    return ((this.s0 * 0x1000000 + this.s1 * 0x10000 + this.s2 * 0x100 + this.s3) % 0x100000000) >>> 0;
  }

  private add(lane: number, v: number): void {
    // Only the low bits that reach the 32-bit sum matter; keep each lane small.
    if (lane === 0) this.s0 = (this.s0 + v) & 0xff;
    else if (lane === 1) this.s1 = (this.s1 + v) & 0xffff;
    else if (lane === 2) this.s2 = (this.s2 + v) & 0xffffff;
    else this.s3 = (this.s3 + v) % 0x100000000;
  }
}

/** The Fossil delta checksum of a whole target. */
export function fossilChecksum(data: Uint8Array): number {
  return new FossilChecksum().update(data).digest();
}

// ---- integers ----

/** Number of base-64 digits of v (fossil's digit_count). */
function digitCount(v: number): number {
  let i = 1;
  for (let x = 64; v >= x; i++) x *= 64;
  return i;
}

/** The base-64 text of an integer, as fossil's putInt writes it. */
export function fossilInt(v: number): string {
  let s = '';
  do {
    s = DIGITS[v % 64] + s;
    v = Math.floor(v / 64);
  } while (v > 0);
  return s;
}

// ---- decoder ----

/** The target size line at the front of a delta, or `need` if it is not complete yet. */
export type FossilDeltaHeader = { kind: 'header'; size: number; next: number } | { kind: 'need' };

/**
 * One decoded segment, or the closing checksum, or `need` when the bytes
 * end inside the segment's integers (more may come in a stream). An insert's
 * payload is delta[start, start + size), which may extend past `end`.
 */
export type FossilDeltaOp =
  | { kind: 'copy'; size: number; offset: number; next: number }
  | { kind: 'insert'; size: number; start: number }
  | { kind: 'checksum'; value: number; next: number }
  | { kind: 'need' };

// Read an INT at delta[pos] (bounded by end): its value in `value`, the index
// after it in the return; -1 if the bytes end inside it.
class IntReader {
  value = 0;
  read(delta: Uint8Array, pos: number, end: number): number {
    let v = 0;
    let i = pos;
    for (; i < end; i++) {
      const d = DIGIT_VALUE[delta[i]];
      if (d < 0) break;
      if (i - pos >= MAX_INT_DIGITS) throw new DeltaError('delta-bad-int', 'integer too long', { at: pos });
      v = v * 64 + d;
    }
    if (i === end) return -1;
    if (i === pos) throw new DeltaError('delta-bad-int', `expected a base-64 integer, found byte ${delta[i]}`, { at: pos });
    if (v > FOSSIL_DELTA_MAX_INT) throw new DeltaError('delta-bad-int', `integer ${v} out of range`, { at: pos });
    this.value = v;
    return i;
  }
}

/** Decode the `INT "\n"` target size at delta[pos]. */
export function decodeFossilDeltaHeader(delta: Uint8Array, pos = 0, end = delta.length): FossilDeltaHeader {
  const r = new IntReader();
  const p = r.read(delta, pos, end);
  if (p < 0) return { kind: 'need' };
  if (delta[p] !== LF) throw new DeltaError('delta-bad-header', 'target size not followed by a newline', { at: p });
  return { kind: 'header', size: r.value, next: p + 1 };
}

/** Decode the segment or checksum starting at delta[pos]. */
export function decodeFossilDeltaOp(delta: Uint8Array, pos: number, end = delta.length, r = new IntReader()): FossilDeltaOp {
  const p = r.read(delta, pos, end);
  if (p < 0) return { kind: 'need' };
  const n = r.value;
  const op = delta[p];
  if (op === AT) {
    const q = r.read(delta, p + 1, end);
    if (q < 0) return { kind: 'need' };
    if (delta[q] !== COMMA) throw new DeltaError('delta-bad-opcode', 'copy not terminated by ","', { at: q });
    return { kind: 'copy', size: n, offset: r.value, next: q + 1 };
  }
  if (op === COLON) return { kind: 'insert', size: n, start: p + 1 };
  if (op === SEMI) return { kind: 'checksum', value: n, next: p + 1 };
  throw new DeltaError('delta-bad-opcode', `unknown delta operator byte ${op}`, { at: p });
}

/** The target size a delta declares. */
export function fossilDeltaOutputSize(delta: Uint8Array): number {
  const h = decodeFossilDeltaHeader(delta);
  if (h.kind === 'need') throw new DeltaError('delta-truncated', 'delta ends inside its target size', { at: delta.length });
  return h.size;
}

/**
 * Walk a complete delta: calls onCopy/onInsert for each segment in order,
 * checking the encoding and that the segments add up to the declared size.
 * Returns the declared size and checksum. Base bounds are the caller's.
 */
export function walkFossilDelta(
  delta: Uint8Array,
  onCopy: (offset: number, size: number, at: number) => void,
  onInsert: (start: number, end: number) => void,
  maxSize = FOSSIL_DELTA_MAX_OUTPUT,
): { size: number; checksum: number } {
  const end = delta.length;
  const h = decodeFossilDeltaHeader(delta, 0, end);
  if (h.kind === 'need') throw new DeltaError('delta-truncated', 'delta ends inside its target size', { at: end });
  const limit = h.size;
  if (limit > maxSize) throw new DeltaError('delta-too-large', `delta target of ${limit} bytes exceeds limit ${maxSize}`, { size: limit, limit: maxSize });
  const r = new IntReader();
  let total = 0;
  let pos = h.next;
  for (;;) {
    const op = decodeFossilDeltaOp(delta, pos, end, r);
    switch (op.kind) {
      case 'need':
        throw new DeltaError('delta-truncated', 'delta ends without its checksum', { at: pos });
      case 'copy':
        if (total + op.size > limit) throw new DeltaError('delta-result-overflow', 'copy writes past the declared target size', { at: pos });
        onCopy(op.offset, op.size, pos);
        total += op.size;
        pos = op.next;
        break;
      case 'insert': {
        if (total + op.size > limit) throw new DeltaError('delta-result-overflow', 'insert writes past the declared target size', { at: pos });
        const stop = op.start + op.size;
        if (stop > end) throw new DeltaError('delta-truncated', 'insert runs past the end of the delta', { at: pos });
        onInsert(op.start, stop);
        total += op.size;
        pos = stop;
        break;
      }
      case 'checksum':
        if (op.next !== end) throw new DeltaError('delta-trailing-data', `${end - op.next} bytes after the checksum`, { at: op.next });
        if (total !== limit) throw new DeltaError('delta-result-size', `delta produced ${total} bytes, declared ${limit}`, { expected: limit, actual: total });
        return { size: limit, checksum: op.value };
    }
  }
}

/**
 * Apply a Fossil delta to `base`. Throws DeltaError when the delta is
 * malformed, declares more than `maxSize` bytes, copies outside the base,
 * writes more or fewer bytes than declared, or fails its checksum.
 */
export function applyFossilDelta(base: Uint8Array, delta: Uint8Array, maxSize = FOSSIL_DELTA_MAX_OUTPUT): Uint8Array {
  // Bound before allocating: the declared size is attacker-controlled.
  const size = fossilDeltaOutputSize(delta);
  if (size > maxSize) throw new DeltaError('delta-too-large', `delta target of ${size} bytes exceeds limit ${maxSize}`, { size, limit: maxSize });
  const out = new Uint8Array(size);
  let o = 0;
  const baseSize = base.length;
  const { checksum } = walkFossilDelta(
    delta,
    (offset, n, at) => {
      if (offset + n > baseSize) {
        throw new DeltaError('delta-copy-out-of-range', `copy [${offset}, +${n}) outside base of ${baseSize} bytes`, { at, offset, size: n });
      }
      out.set(base.subarray(offset, offset + n), o);
      o += n;
    },
    (start, stop) => {
      out.set(delta.subarray(start, stop), o);
      o += stop - start;
    },
    maxSize,
  );
  const actual = fossilChecksum(out);
  if (actual !== checksum) throw new DeltaError('delta-bad-checksum', `target checksum ${actual} differs from the delta's ${checksum}`, { expected: checksum, actual });
  return out;
}

// ---- encoder ----

/** Output buffer of a delta being written, handed out in chunks. */
class DeltaWriter extends ByteBuilder {
  int(v: number): void {
    this.ensure(7);
    const d = digitCount(v);
    for (let k = d - 1; k >= 0; k--) {
      this.buf[this.length + k] = DIGIT_CODES[v % 64];
      v = Math.floor(v / 64);
    }
    this.length += d;
  }
  /** The bytes written so far, copied out; the buffer is reused. */
  take(): Uint8Array {
    const out = this.result();
    this.length = 0;
    return out;
  }
  /**
   * The last bytes, the writer done: its buffer itself when mostly full, else
   * a copy, and the buffer freed now (releaseNow): a repack makes thousands
   * of deltas, and V8 15.8 left their grown buffers as garbage for long.
   */
  finish(): Uint8Array {
    if (this.length * 4 >= this.buf.length * 3) return this.buf.subarray(0, this.length);
    const out = this.result();
    releaseNow(this.buf);
    return out;
  }
}

// Signed value of a byte: fossil hashes `char`, which is signed on x86 and
// ARM Linux builds; hashing the same way picks the same candidates.
const sc = (b: number) => (b << 24) >> 24;

// Fossil's hash_init over target[at, at+NHASH): returns (b << 16 | a).
function hashInit(z: Uint8Array, at: number): number {
  let a = sc(z[at]);
  let b = a;
  for (let i = 1; i < NHASH; i++) {
    a += sc(z[at + i]);
    b += a;
  }
  return ((a & 0xffff) | ((b & 0xffff) << 16)) >>> 0;
}

/**
 * The delta, in chunks of about `chunkSize` bytes (a chunk may grow to hold
 * one whole insert). The core of createFossilDelta and the streaming form.
 */
export function* fossilDeltaChunks(base: Uint8Array, target: Uint8Array, chunkSize = Infinity): Generator<Uint8Array> {
  const lenSrc = base.length;
  const lenOut = target.length;
  const w = new DeltaWriter(Math.min(chunkSize, lenOut + 60, 1 << 16));
  w.int(lenOut);
  w.byte(LF);
  const literal = (from: number, to: number) => {
    w.int(to - from);
    w.byte(COLON);
    w.bytes(target.subarray(from, to));
  };

  // A base of at most NHASH bytes has no block to copy from: one insert.
  if (lenSrc <= NHASH) {
    literal(0, lenOut);
    w.int(fossilChecksum(target));
    w.byte(SEMI);
    yield w.finish();
    return;
  }

  // Index the base's blocks: landmark[hash] is the latest block with that
  // hash, collide[block] the previous one (fossil skips the final block when
  // the base is a whole number of blocks; so do we, to pick the same copies).
  const nHash = Math.floor(lenSrc / NHASH);
  const collide = new Int32Array(nHash).fill(-1);
  const landmark = new Int32Array(nHash).fill(-1);
  for (let i = 0; i < lenSrc - NHASH; i += NHASH) {
    const hv = hashInit(base, i) % nHash;
    collide[i / NHASH] = landmark[hv];
    landmark[hv] = i / NHASH;
  }

  let b = 0; // fossil's `base`: target bytes before it are in the delta
  while (b + NHASH < lenOut) {
    let h = hashInit(target, b);
    let ha = h & 0xffff;
    let hb = h >>> 16;
    let i = 0; // trying to match a block against target[b + i...]
    let bestCnt = 0;
    let bestOfst = 0;
    let bestLitsz = 0;
    for (;;) {
      let iBlock = landmark[h % nHash];
      let limit = MAX_CANDIDATES;
      while (iBlock >= 0 && limit-- > 0) {
        // Extend the candidate forwards from its block start, then backwards
        // (never before target[b], never to base[0], as fossil does).
        const iSrc = iBlock * NHASH;
        let x = iSrc;
        let y = b + i;
        const limitX = lenSrc - iSrc <= lenOut - y ? lenSrc : iSrc + lenOut - y;
        while (x < limitX && base[x] === target[y]) {
          x++;
          y++;
        }
        const j = x - iSrc - 1;
        let k = 1;
        while (k < iSrc && k <= i && base[iSrc - k] === target[b + i - k]) k++;
        k--;
        const ofst = iSrc - k;
        const cnt = j + k + 1;
        const litsz = i - k;
        // Cost of the insert header and the copy command, not the literal bytes.
        const sz = digitCount(litsz) + digitCount(cnt) + digitCount(ofst) + 3;
        if (cnt >= sz && cnt > bestCnt) {
          bestCnt = cnt;
          bestOfst = ofst;
          bestLitsz = litsz;
        }
        iBlock = collide[iBlock];
      }
      if (bestCnt > 0) {
        if (bestLitsz > 0) {
          literal(b, b + bestLitsz);
          b += bestLitsz;
        }
        w.int(bestCnt);
        w.byte(AT);
        w.int(bestOfst);
        w.byte(COMMA);
        b += bestCnt;
        break;
      }
      if (b + i + NHASH >= lenOut) {
        // No match before the end: the rest is one insert.
        literal(b, lenOut);
        b = lenOut;
        break;
      }
      // Roll the hash one byte forwards (fossil's hash_next, 16-bit halves).
      const old = sc(target[b + i]);
      const c = sc(target[b + i + NHASH]);
      ha = (ha - old + c) & 0xffff;
      hb = (hb - NHASH * old + ha) & 0xffff;
      h = (ha | (hb << 16)) >>> 0;
      i++;
    }
    if (w.length >= chunkSize) yield w.take();
  }
  releaseNow(collide, landmark);
  if (b < lenOut) literal(b, lenOut);
  w.int(fossilChecksum(target));
  w.byte(SEMI);
  yield w.finish();
}

/** Encode `target` as a Fossil delta against `base` (fossil's algorithm). */
export function createFossilDelta(base: Uint8Array, target: Uint8Array): Uint8Array {
  const chunks = [...fossilDeltaChunks(base, target)];
  return chunks.length === 1 ? chunks[0] : concat(chunks);
}

/** Copies shorter than this are written as inserts in a reversed delta (a copy command costs about this much). */
const MIN_REVERSED_COPY = 16;

/**
 * Given `delta`, which turns `base` into a target, a delta that turns that
 * target back into `base`, read off the delta's own copies: a base range the
 * delta copied is copied back from where it landed in the target, the rest of
 * the base is inserted. Linear in the sizes, with no block index or matching
 * (createFossilDelta on the same pair is several times slower), and about as
 * small when the delta copied most of the base; not byte-for-byte what
 * createFossilDelta(target, base) would write. Throws DeltaError as
 * walkFossilDelta does, or when a copy lies outside `base`.
 */
export function reverseFossilDelta(delta: Uint8Array, base: Uint8Array): Uint8Array {
  // Each copy: base[from, from + n) is target[at, at + n).
  const copies: { from: number; n: number; at: number }[] = [];
  let at = 0;
  walkFossilDelta(
    delta,
    (offset, n, pos) => {
      if (offset + n > base.length) throw new DeltaError('delta-copy-out-of-range', `copy [${offset}, +${n}) outside base of ${base.length} bytes`, { at: pos, offset, size: n });
      if (n >= MIN_REVERSED_COPY) copies.push({ from: offset, n, at });
      at += n;
    },
    (start, stop) => void (at += stop - start),
  );
  copies.sort((a, b) => a.from - b.from || b.n - a.n);
  const w = new DeltaWriter(Math.min(base.length + 64, 1 << 16));
  w.int(base.length);
  w.byte(LF);
  // Greedy cover of the base: at each point the copy reaching furthest (of those starting at or
  // before it); where none reaches MIN_REVERSED_COPY further, an insert up to the next copy's start.
  let cur = 0;
  let k = 0;
  let best: { from: number; n: number; at: number } | null = null;
  while (cur < base.length) {
    for (; k < copies.length && copies[k].from <= cur; k++) if (best === null || copies[k].from + copies[k].n > best.from + best.n) best = copies[k];
    if (best !== null && best.from + best.n - cur >= MIN_REVERSED_COPY) {
      const end = best.from + best.n;
      w.int(end - cur);
      w.byte(AT);
      w.int(best.at + (cur - best.from));
      w.byte(COMMA);
      cur = end;
      continue;
    }
    const stop = k < copies.length ? copies[k].from : base.length;
    w.int(stop - cur);
    w.byte(COLON);
    w.bytes(base.subarray(cur, stop));
    cur = stop;
  }
  w.int(fossilChecksum(base));
  w.byte(SEMI);
  return w.finish();
}
