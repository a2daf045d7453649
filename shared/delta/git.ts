/**
 * Git's binary delta format (gitformat-pack, "Deltified representation").
 *
 *     delta       = base-size result-size *instruction
 *     size        = varint: 7 bits per byte, least significant group first,
 *                   high bit set on every byte but the last
 *     instruction = copy / insert
 *     copy        = 1xxxxxxx [offset1] [offset2] [offset3] [offset4]
 *                            [size1] [size2] [size3]
 *                   bits 0-3 say which offset bytes follow, bits 4-6 which
 *                   size bytes; a size of 0 means 0x10000
 *     insert      = 0xxxxxxx data    (x = 1..127 literal bytes follow)
 *     0x00        = reserved, an error
 *
 * Pure and bounded: every copy must lie inside the base, the result may never
 * outgrow its declared size, and the declared size is checked against a
 * limit before anything is allocated.
 */
import { ByteBuilder } from '../core/bytes.js';
import { DeltaError } from './errors.js';

/** Default bound on a delta's declared result size (bytes). */
export const GIT_DELTA_MAX_RESULT = 256 * 1024 * 1024;
/** Largest copy one instruction can express (3 size bytes). */
export const GIT_DELTA_MAX_COPY = 0xffffff;
/** Largest insert one instruction can express (7 bits). */
export const GIT_DELTA_MAX_INSERT = 0x7f;
/** Largest base offset a copy can express (4 offset bytes). */
export const GIT_DELTA_MAX_OFFSET = 0xffffffff;

/** The two sizes at the front of a git delta, and where the instructions start. */
export interface GitDeltaHeader {
  baseSize: number;
  resultSize: number;
  /** Index in the delta of the first instruction. */
  offset: number;
}

/** One decoded delta instruction: copy a base range, or insert delta[start, end). */
export type GitDeltaOp = { op: 'copy'; offset: number; size: number } | { op: 'insert'; start: number; end: number };

// A size varint: 7 bits per byte. Capped at 7 bytes (49 bits), safe in a JS number.
function readSize(delta: Uint8Array, pos: number): [number, number] {
  let value = 0;
  let scale = 1;
  for (let i = 0; i < 7; i++) {
    if (pos >= delta.length) throw new DeltaError('delta-truncated', 'delta ends inside its header', { at: pos });
    const b = delta[pos++];
    value += (b & 0x7f) * scale;
    if ((b & 0x80) === 0) return [value, pos];
    scale *= 128;
  }
  throw new DeltaError('delta-bad-header', 'delta header size too long', { at: pos });
}

/** Read the base and result sizes at the front of a git delta. */
export function gitDeltaHeader(delta: Uint8Array): GitDeltaHeader {
  const [baseSize, p1] = readSize(delta, 0);
  const [resultSize, offset] = readSize(delta, p1);
  return { baseSize, resultSize, offset };
}

/**
 * The instructions of a git delta in order, positions into `delta` for inserts.
 * Checks the encoding only (reserved opcode, truncation), not the base bounds.
 */
export function* gitDeltaOps(delta: Uint8Array): Generator<GitDeltaOp> {
  let pos = gitDeltaHeader(delta).offset;
  const end = delta.length;
  while (pos < end) {
    const at = pos;
    const cmd = delta[pos++];
    if (cmd & 0x80) {
      const r = readCopy(delta, pos, cmd, at);
      pos = r.next;
      yield { op: 'copy', offset: r.offset, size: r.size };
    } else if (cmd !== 0) {
      if (pos + cmd > end) throw new DeltaError('delta-truncated', 'insert runs past the end of the delta', { at });
      yield { op: 'insert', start: pos, end: pos + cmd };
      pos += cmd;
    } else {
      throw new DeltaError('delta-reserved-opcode', 'reserved delta opcode 0x00', { at });
    }
  }
}

// Decode the offset and size bytes of a copy instruction whose opcode byte was `cmd`.
function readCopy(delta: Uint8Array, pos: number, cmd: number, at: number): { offset: number; size: number; next: number } {
  let need = 0;
  for (let m = cmd & 0x7f; m; m >>= 1) need += m & 1;
  if (pos + need > delta.length) throw new DeltaError('delta-truncated', 'copy instruction runs past the end of the delta', { at });
  let offset = 0;
  let size = 0;
  if (cmd & 0x01) offset = delta[pos++];
  if (cmd & 0x02) offset |= delta[pos++] << 8;
  if (cmd & 0x04) offset |= delta[pos++] << 16;
  if (cmd & 0x08) offset = (offset | (delta[pos++] << 24)) >>> 0;
  if (cmd & 0x10) size = delta[pos++];
  if (cmd & 0x20) size |= delta[pos++] << 8;
  if (cmd & 0x40) size |= delta[pos++] << 16;
  if (size === 0) size = 0x10000;
  return { offset, size, next: pos };
}

const EMPTY = new Uint8Array(0);

/**
 * Checks a git delta against `base` and `maxSize`, then hands its result to
 * `copy` (ranges of `base`) and `insert` (ranges of `delta`) in order.
 * Throws DeltaError if the delta is malformed, names a different base size,
 * copies outside the base, or declares or produces a result other than its
 * stated size, or larger than `maxSize`. `start` is called once, with the
 * result's size, after the header's checks and before the first range.
 */
function walkGitDelta(
  base: { length: number },
  delta: Uint8Array,
  maxSize: number,
  start: (resultSize: number) => void,
  copy: (from: number, to: number) => void,
  insert: (from: number, to: number) => void,
): number {
  const { baseSize, resultSize, offset } = gitDeltaHeader(delta);
  if (baseSize !== base.length) {
    throw new DeltaError('delta-base-size', `delta expects a base of ${baseSize} bytes, got ${base.length}`, { expected: baseSize, actual: base.length });
  }
  // Bound before allocating: the declared size is attacker-controlled.
  if (resultSize > maxSize) {
    throw new DeltaError('delta-too-large', `delta result of ${resultSize} bytes exceeds limit ${maxSize}`, { size: resultSize, limit: maxSize });
  }
  start(resultSize);
  let o = 0;
  let pos = offset;
  const end = delta.length;
  while (pos < end) {
    const at = pos;
    const cmd = delta[pos++];
    if (cmd & 0x80) {
      const r = readCopy(delta, pos, cmd, at);
      pos = r.next;
      if (r.offset + r.size > baseSize) {
        throw new DeltaError('delta-copy-out-of-range', `copy [${r.offset}, +${r.size}) outside base of ${baseSize} bytes`, { at, offset: r.offset, size: r.size });
      }
      if (o + r.size > resultSize) throw new DeltaError('delta-result-overflow', 'delta writes past its declared result size', { at });
      copy(r.offset, r.offset + r.size);
      o += r.size;
    } else if (cmd !== 0) {
      if (pos + cmd > end) throw new DeltaError('delta-truncated', 'insert runs past the end of the delta', { at });
      if (o + cmd > resultSize) throw new DeltaError('delta-result-overflow', 'delta writes past its declared result size', { at });
      insert(pos, pos + cmd);
      o += cmd;
      pos += cmd;
    } else {
      throw new DeltaError('delta-reserved-opcode', 'reserved delta opcode 0x00', { at });
    }
  }
  if (o !== resultSize) {
    throw new DeltaError('delta-result-size', `delta produced ${o} bytes, declared ${resultSize}`, { expected: resultSize, actual: o });
  }
  return o;
}

/**
 * Apply a git delta to `base` (errors: walkGitDelta). `alloc` hands out the
 * result's memory (the caller's reused memory: every byte of it is written
 * before the result is returned).
 */
export function applyGitDelta(base: Uint8Array, delta: Uint8Array, maxSize = GIT_DELTA_MAX_RESULT, alloc?: (size: number) => Uint8Array): Uint8Array {
  let out: Uint8Array = EMPTY;
  let o = 0;
  walkGitDelta(
    base,
    delta,
    maxSize,
    (size) => (out = alloc ? alloc(size) : new Uint8Array(size)),
    (from, to) => {
      out.set(base.subarray(from, to), o);
      o += to - from;
    },
    (from, to) => {
      out.set(delta.subarray(from, to), o);
      o += to - from;
    },
  );
  return out;
}

/**
 * applyGitDelta without the result in memory: its bytes go to `sink` in order,
 * as views of `base` for copies and of a small buffer that consecutive inserts
 * are gathered in (reused: a piece is valid only during the call). The same
 * checks and errors as applyGitDelta; returns the result's size. For a large
 * object that is hashed, not kept.
 */
export function applyGitDeltaTo(base: Uint8Array, delta: Uint8Array, maxSize: number, sink: (piece: Uint8Array) => void): number {
  const inserts = new Uint8Array(64 * 1024);
  let held = 0;
  const flush = () => {
    if (held > 0) sink(inserts.subarray(0, held));
    held = 0;
  };
  const size = walkGitDelta(
    base,
    delta,
    maxSize,
    () => {},
    (from, to) => {
      flush();
      sink(base.subarray(from, to));
    },
    (from, to) => {
      if (held + (to - from) > inserts.length) flush();
      inserts.set(delta.subarray(from, to), held);
      held += to - from;
    },
  );
  flush();
  return size;
}

/**
 * A base read in order, piece by piece: `read` hands its content to `sink`
 * from its first byte on (pieces valid only during the call) and stops early
 * once `stop()` says so, checked between pieces. E.g. a large blob inflated
 * from its record as it streams, never held whole.
 */
export interface GitDeltaBaseSource {
  size: number;
  /** `pace`, when given, is awaited between the pieces read (a reader taking the output at its own pace). */
  read(sink: (piece: Uint8Array) => void, stop: () => boolean, pace?: () => Promise<void>): Promise<void>;
}

/**
 * Times `read` must pass over the base to apply `delta` from a
 * GitDeltaBaseSource: one, plus one per copy that starts before the end of the
 * copy before it (a small edit's delta from git's diff-delta copies in
 * ascending order: one pass). Checks the delta as applyGitDelta does (errors:
 * walkGitDelta), against a base of `baseSize` bytes.
 */
export function gitDeltaPasses(baseSize: number, delta: Uint8Array, maxSize = GIT_DELTA_MAX_RESULT): number {
  let passes = 1;
  let prevEnd = 0;
  walkGitDelta(
    { length: baseSize },
    delta,
    maxSize,
    () => {},
    (from, to) => {
      if (from < prevEnd) passes++;
      prevEnd = to;
    },
    () => {},
  );
  return passes;
}

/**
 * applyGitDeltaTo with the base read as it streams (GitDeltaBaseSource), not
 * held: copies are served as the base passes; a copy that starts before the
 * piece being read makes the base read again from its start (at most
 * `maxPasses` reads, gitDeltaPasses' count, else a DeltaError
 * 'delta-too-scattered' before anything is read or sent). The delta is checked
 * first, so a bad one throws the same DeltaErrors as applyGitDelta before
 * `sink` sees a byte. A base that ends short is 'delta-base-size'. `stopOuter`
 * and `pace` are the caller's, when it is itself a base being read.
 */
export async function applyGitDeltaStream(
  base: GitDeltaBaseSource,
  delta: Uint8Array,
  maxSize: number,
  sink: (piece: Uint8Array) => void,
  maxPasses = Infinity,
  stopOuter: () => boolean = () => false,
  pace?: () => Promise<void>,
): Promise<number> {
  const passes = gitDeltaPasses(base.size, delta, maxSize);
  if (passes > maxPasses) {
    throw new DeltaError('delta-too-scattered', `delta copies out of order: ${passes} reads of its ${base.size}-byte base, more than ${maxPasses}`, { passes, limit: maxPasses });
  }
  const { resultSize, offset } = gitDeltaHeader(delta);
  const inserts = new Uint8Array(Math.min(64 * 1024, Math.max(resultSize, 1)));
  let held = 0;
  const flush = () => {
    if (held > 0) sink(inserts.subarray(0, held));
    held = 0;
  };
  let pos = offset; // next instruction in the delta (checked: no error can arise below)
  let from = 0; // the current copy: base [from, to)
  let to = 0;
  // Inserts up to the next copy go out (gathered); false when the delta is done.
  const nextCopy = (): boolean => {
    while (pos < delta.length) {
      const cmd = delta[pos++];
      if (cmd & 0x80) {
        const r = readCopy(delta, pos, cmd, pos - 1);
        pos = r.next;
        from = r.offset;
        to = r.offset + r.size;
        return true;
      }
      if (held + cmd > inserts.length) flush();
      inserts.set(delta.subarray(pos, pos + cmd), held);
      held += cmd;
      pos += cmd;
    }
    return false;
  };
  let copying = nextCopy();
  let at = 0; // base offset of the next piece
  let stalled = false; // the current copy starts before the piece: read the base again
  const feed = (piece: Uint8Array) => {
    const start = at;
    at += piece.length;
    while (copying && !stalled) {
      if (from < start) {
        stalled = true;
        return;
      }
      if (from >= at) return;
      const end = Math.min(to, at);
      flush();
      sink(piece.subarray(from - start, end - start));
      from = end;
      if (from < to) return;
      copying = nextCopy();
    }
  };
  while (copying) {
    at = 0;
    stalled = false;
    await base.read(feed, () => !copying || stalled || stopOuter(), pace);
    if (stopOuter()) return 0;
    if (copying && !stalled) {
      throw new DeltaError('delta-base-size', `delta expects a base of ${base.size} bytes, its read ended at ${at}`, { expected: base.size, actual: at });
    }
  }
  flush();
  return resultSize;
}

// ---- encoder ----

/** Block size of the base index (git uses 16 too). */
const BLOCK = 16;
/** Most candidates tried per target position (bounds the work on repetitive bases). */
const MAX_CANDIDATES = 64;
/** Shortest match worth a copy instruction (a copy costs up to 8 bytes). */
const MIN_MATCH = BLOCK;
const PRIME = 0x01000193;

// PRIME^(BLOCK-1) mod 2^32, for removing the outgoing byte of the rolling hash.
const PRIME_POW = (() => {
  let p = 1;
  for (let i = 0; i < BLOCK - 1; i++) p = Math.imul(p, PRIME);
  return p;
})();

function blockHash(data: Uint8Array, at: number): number {
  let h = 0;
  for (let i = 0; i < BLOCK; i++) h = (Math.imul(h, PRIME) + data[at + i]) | 0;
  return h;
}

/** A git delta being written: its header varints and copy instructions, on a ByteBuilder. */
export class GitDeltaWriter extends ByteBuilder {
  /** A header size: 7 bits a byte, low bits first, high bit set on all but the last. */
  varint(v: number): void {
    while (v >= 0x80) {
      this.byte((v % 0x80) | 0x80);
      v = Math.floor(v / 0x80);
    }
    this.byte(v);
  }
  /** One copy of exactly `size` (1..0xffffff) bytes: only non-zero offset and size bytes are sent. */
  copy(offset: number, size: number): void {
    this.ensure(8);
    const at = this.length++;
    let cmd = 0x80;
    for (let k = 0; k < 4; k++) {
      const byte = Math.floor(offset / 2 ** (8 * k)) & 0xff;
      if (byte) {
        cmd |= 1 << k;
        this.buf[this.length++] = byte;
      }
    }
    // 0x10000 is the size an empty size field means.
    const sz = size === 0x10000 ? 0 : size;
    for (let k = 0; k < 3; k++) {
      const byte = (sz >>> (8 * k)) & 0xff;
      if (byte) {
        cmd |= 0x10 << k;
        this.buf[this.length++] = byte;
      }
    }
    this.buf[at] = cmd;
  }
}

/**
 * Encode `target` as a git delta against `base`: a hash index of the base's
 * 16-byte blocks, greedy longest match extended both ways, copies up to
 * 0xffffff bytes and inserts up to 127. Bases above 4 GiB are copied from
 * only within their first 4 GiB.
 */
export function createGitDelta(base: Uint8Array, target: Uint8Array): Uint8Array {
  const out = new GitDeltaWriter(256);
  out.varint(base.length);
  out.varint(target.length);

  // Index: one entry per whole block of the base (later blocks first in each chain).
  const indexable = Math.min(base.length, GIT_DELTA_MAX_OFFSET + 1);
  const blocks = Math.floor(indexable / BLOCK);
  let bits = 4;
  while (1 << bits < blocks && bits < 24) bits++;
  const mask = (1 << bits) - 1;
  const heads = new Int32Array(1 << bits).fill(-1);
  const next = new Int32Array(Math.max(blocks, 1));
  for (let b = 0; b < blocks; b++) {
    const slot = blockHash(base, b * BLOCK) & mask;
    next[b] = heads[slot];
    heads[slot] = b;
  }

  let insStart = 0; // start of pending literal bytes in target
  const flushInsert = (endAt: number) => {
    for (let p = insStart; p < endAt; ) {
      const n = Math.min(GIT_DELTA_MAX_INSERT, endAt - p);
      out.ensure(n + 1);
      out.byte(n);
      out.bytes(target.subarray(p, p + n));
      p += n;
    }
  };
  const emitCopy = (offset: number, size: number) => {
    while (size > 0) {
      const n = Math.min(size, GIT_DELTA_MAX_COPY);
      out.copy(offset, n);
      offset += n;
      size -= n;
    }
  };

  let i = 0;
  let lastEnd = -1; // base offset just past the last copy
  const tlen = target.length;
  let h = tlen >= BLOCK && blocks > 0 ? blockHash(target, 0) : 0;
  while (blocks > 0 && i + BLOCK <= tlen) {
    let bestLen = 0;
    let bestOff = 0;
    let bestBack = 0;
    // Candidates: where the last copy's base run would continue (after an
    // insertion or a same-length replacement), then the hash chain.
    let tries = -2;
    let b = heads[h & mask];
    for (; tries < MAX_CANDIDATES; tries++) {
      let off: number;
      if (tries === -2) off = lastEnd;
      else if (tries === -1) off = lastEnd + (i - insStart);
      else if (b >= 0) {
        off = b * BLOCK;
        b = next[b];
      } else break;
      if (off < 0 || off >= indexable || (tries === -1 && i === insStart)) continue;
      let len = 0;
      const maxLen = Math.min(indexable - off, tlen - i);
      while (len < maxLen && base[off + len] === target[i + len]) len++;
      if (len < BLOCK) continue;
      let back = 0;
      while (back < i - insStart && back < off && base[off - back - 1] === target[i - back - 1]) back++;
      if (len + back > bestLen + bestBack) {
        bestLen = len;
        bestBack = back;
        bestOff = off;
      }
    }
    if (bestLen + bestBack >= MIN_MATCH) {
      flushInsert(i - bestBack);
      emitCopy(bestOff - bestBack, bestLen + bestBack);
      i += bestLen;
      lastEnd = bestOff + bestLen;
      insStart = i;
      if (i + BLOCK <= tlen) h = blockHash(target, i);
    } else {
      if (i + BLOCK < tlen) h = (Math.imul(h - Math.imul(target[i], PRIME_POW), PRIME) + target[i + BLOCK]) | 0;
      i++;
    }
  }
  flushInsert(tlen);
  return out.result();
}
