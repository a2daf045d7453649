/**
 * Pure-JS zlib (RFC 1950 around RFC 1951 DEFLATE), the default `Zlib`;
 * runtimes inject native zlib instead (worker/native-zlib.ts).
 *
 *     zlib-stream = CMF FLG [DICTID] deflate-data ADLER32(4, big-endian)
 *     CMF         = CM(4 bits, 8 = deflate) CINFO(4 bits, window log2 - 8, <= 7)
 *     FLG         = FCHECK(5) FDICT(1) FLEVEL(2);  (CMF*256 + FLG) % 31 == 0
 *     block       = BFINAL(1) BTYPE(2) (stored | fixed-huffman | dynamic-huffman)
 *
 * Deflate is fflate's. Inflate is our own decoder, because a pack holds zlib
 * streams back to back with no lengths: we must know exactly where each stream
 * ends, and fflate does not report the input it consumed. The decoder is a
 * resumable state machine: it parses from a checkpoint (block start, or symbol
 * start inside a Huffman block), and when input runs out it rewinds to the last
 * checkpoint and keeps only the unread tail, so it can take input in any split.
 * It validates everything zlib validates (header check, over-subscribed or
 * incomplete codes, invalid symbols, distances before the start, stored LEN vs
 * NLEN, the Adler-32 trailer) and never writes past its output bound.
 */
import { Zlib as FZlib, zlibSync } from 'fflate';
import { ZlibError } from './errors.js';
import type { Deflater, InflateResult, InflateStep, Inflater, Zlib } from './primitives.js';

/** Size of the DEFLATE history window (RFC 1951: distances up to 32768). */
export const DEFLATE_WINDOW = 32768;
/** Longest match a length code can produce (RFC 1951). */
const MAX_MATCH = 258;
/** Output emitted per chunk by the streaming inflater (beyond the window it keeps). */
const STREAM_CHUNK = 65536;

// RFC 1951 3.2.5: base lengths and extra bits for length codes 257..285.
const LEN_BASE = Uint16Array.of(3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258);
const LEN_EXTRA = Uint8Array.of(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0);
// Base distances and extra bits for distance codes 0..29.
const DIST_BASE = Uint16Array.of(1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025, 1537, 2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577);
const DIST_EXTRA = Uint8Array.of(0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13);
// Order in which code length code lengths are sent (RFC 1951 3.2.7).
const CLEN_ORDER = Uint8Array.of(16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15);

/** A decoding table: index by the next `bits` input bits, entry = symbol << 4 | code length (0 = invalid). */
interface Huffman {
  table: Uint16Array;
  bits: number;
}

const damaged = (why: string, data: Record<string, unknown> = {}) => new ZlibError('zlib-damaged', `damaged zlib stream: ${why}`, data);

/**
 * Build a decoding table from code lengths, as zlib's inflate_table does:
 * an over-subscribed set is an error, an incomplete one only allowed as a single
 * 1-bit code (or no codes at all, for a distance tree that is never used).
 */
function buildHuffman(lengths: Uint8Array, what: string): Huffman {
  const count = new Uint16Array(16);
  let maxBits = 0;
  for (let i = 0; i < lengths.length; i++) {
    const l = lengths[i];
    count[l]++;
    if (l > maxBits) maxBits = l;
  }
  if (maxBits === 0) return { table: new Uint16Array(1), bits: 0 };
  let left = 1;
  for (let len = 1; len <= 15; len++) {
    left = left * 2 - count[len];
    if (left < 0) throw damaged(`over-subscribed ${what} code`);
  }
  if (left > 0 && (what === 'code-length' || maxBits !== 1)) throw damaged(`incomplete ${what} code`);
  const next = new Uint16Array(16);
  // Canonical codes: next[len] = (next[len-1] + count[len-1]) << 1, starting at 0.
  let code = 0;
  count[0] = 0;
  for (let len = 1; len <= 15; len++) {
    code = (code + count[len - 1]) << 1;
    next[len] = code;
  }
  const size = 1 << maxBits;
  const table = new Uint16Array(size);
  for (let sym = 0; sym < lengths.length; sym++) {
    const len = lengths[sym];
    if (!len) continue;
    let c = next[len]++;
    let rev = 0;
    for (let i = 0; i < len; i++) {
      rev = (rev << 1) | (c & 1);
      c >>= 1;
    }
    const entry = (sym << 4) | len;
    for (let j = rev; j < size; j += 1 << len) table[j] = entry;
  }
  return { table, bits: maxBits };
}

// The fixed Huffman codes of RFC 1951 3.2.6 (immutable, built once).
const FIXED_LIT = buildHuffman(
  Uint8Array.from({ length: 288 }, (_, i) => (i < 144 ? 8 : i < 256 ? 9 : i < 280 ? 7 : 8)),
  'literal/length',
);
const FIXED_DIST = buildHuffman(new Uint8Array(32).fill(5), 'distance'); // 30, 31 decode but are rejected

/** Adler-32 of `data[start, end)` continuing from `adler` (RFC 1950 8.2). */
export function adler32(data: Uint8Array, start = 0, end = data.length, adler = 1): number {
  let a = adler & 0xffff;
  let b = adler >>> 16;
  let i = start;
  while (i < end) {
    // NMAX = 5552: the longest run before b can pass 2^32 - 1 (zlib's bound). Sums stay
    // int32 (`| 0`: V8 keeps them in registers, no float math); b may wrap past 2^31, and
    // `b >>> 0` reads it back as the unsigned value it is.
    const n = Math.min(end, i + 5552);
    for (const n16 = n - 15; i < n16; i += 16) {
      a = (a + data[i]) | 0; b = (b + a) | 0; a = (a + data[i + 1]) | 0; b = (b + a) | 0;
      a = (a + data[i + 2]) | 0; b = (b + a) | 0; a = (a + data[i + 3]) | 0; b = (b + a) | 0;
      a = (a + data[i + 4]) | 0; b = (b + a) | 0; a = (a + data[i + 5]) | 0; b = (b + a) | 0;
      a = (a + data[i + 6]) | 0; b = (b + a) | 0; a = (a + data[i + 7]) | 0; b = (b + a) | 0;
      a = (a + data[i + 8]) | 0; b = (b + a) | 0; a = (a + data[i + 9]) | 0; b = (b + a) | 0;
      a = (a + data[i + 10]) | 0; b = (b + a) | 0; a = (a + data[i + 11]) | 0; b = (b + a) | 0;
      a = (a + data[i + 12]) | 0; b = (b + a) | 0; a = (a + data[i + 13]) | 0; b = (b + a) | 0;
      a = (a + data[i + 14]) | 0; b = (b + a) | 0; a = (a + data[i + 15]) | 0; b = (b + a) | 0;
    }
    for (; i < n; i++) {
      a = (a + data[i]) | 0;
      b = (b + a) | 0;
    }
    a %= 65521;
    b = (b >>> 0) % 65521;
  }
  return ((b << 16) | a) >>> 0;
}

const M_HEADER = 0;
const M_BLOCK = 1;
const M_STORED = 2;
const M_CODES = 3;
const M_TRAILER = 4;
const M_DONE = 5;

/** Thrown inside the block-header and trailer parsers when input ran out (caught in run()). */
const NEED_INPUT = Symbol('need-input');

/**
 * The inflate state machine. `streaming` keeps only the 32 KiB window plus one
 * chunk of output (emitted through `take()`); otherwise output grows up to maxSize.
 */
class InflateState {
  mode = M_HEADER;
  // Bit buffer: `bc` bits in `bb`, least significant first; bc <= 31.
  bb = 0;
  bc = 0;
  final = false;
  lit: Huffman = FIXED_LIT;
  dist: Huffman = FIXED_DIST;
  storedLeft = 0;
  out: Uint8Array;
  op = 0;
  /** Output bytes dropped from the front of `out` by compaction (streaming only). */
  dropped = 0;
  /** Start of output not yet handed out by take(). */
  emitFrom = 0;
  /** Start of output not yet folded into `adler`. */
  adlerFrom = 0;
  adler = 1;
  /** Input position in the buffer given to the last run(): where the unread tail starts. */
  ip = 0;

  constructor(
    readonly maxSize: number,
    readonly streaming: boolean,
    sizeHint: number,
    into?: Uint8Array,
  ) {
    if (!(maxSize >= 0)) throw new ZlibError('zlib-bad-limit', `bad output limit ${maxSize}`);
    if (!streaming && into !== undefined && into.length > maxSize) {
      this.out = into; // room() refuses output past maxSize before it would outgrow it
      return;
    }
    const cap = streaming ? DEFLATE_WINDOW + STREAM_CHUNK + MAX_MATCH : Math.max(64, Math.min(maxSize, sizeHint));
    this.out = new Uint8Array(cap);
  }

  /** Make room for `n` more output bytes (grow or compact), or throw past maxSize. */
  room(n: number): void {
    if (this.dropped + this.op + n > this.maxSize) {
      throw new ZlibError('zlib-too-large', `inflated past ${this.maxSize} bytes`, { limit: this.maxSize });
    }
    if (this.op + n <= this.out.length) return;
    if (!this.streaming) {
      const cap = Math.min(this.maxSize, Math.max(this.out.length * 2, this.op + n));
      const grown = new Uint8Array(cap);
      grown.set(this.out.subarray(0, this.op));
      this.out = grown;
      return;
    }
    // Streaming: the caller took output up to emitFrom only at push boundaries,
    // so keep what is not yet emitted (it is emitted from `pending`).
    this.compact();
  }

  pending: Uint8Array[] = [];

  compact(): void {
    this.adler = adler32(this.out, this.adlerFrom, this.op, this.adler);
    if (this.emitFrom < this.op) this.pending.push(this.out.slice(this.emitFrom, this.op));
    const keep = Math.min(this.op, DEFLATE_WINDOW);
    this.out.copyWithin(0, this.op - keep, this.op);
    this.dropped += this.op - keep;
    this.op = keep;
    this.emitFrom = keep;
    this.adlerFrom = keep;
  }

  /** Output produced since the last take() (streaming). */
  take(): Uint8Array[] {
    const res = this.pending;
    this.pending = [];
    if (this.emitFrom < this.op) res.push(this.out.slice(this.emitFrom, this.op));
    this.emitFrom = this.op;
    return res;
  }

  /** Bits: read n (<= 16) bits for the header parsers, or throw NEED_INPUT. */
  need(inp: Uint8Array, end: number, n: number): number {
    while (this.bc < n) {
      if (this.ip >= end) throw NEED_INPUT;
      this.bb |= inp[this.ip++] << this.bc;
      this.bc += 8;
    }
    const v = this.bb & ((1 << n) - 1);
    this.bb >>>= n;
    this.bc -= n;
    return v;
  }

  /** Decode one symbol with `h` in the header parsers (code-length codes). */
  symbol(inp: Uint8Array, end: number, h: Huffman): number {
    while (this.bc < h.bits && this.ip < end) {
      this.bb |= inp[this.ip++] << this.bc;
      this.bc += 8;
    }
    const e = h.table[this.bb & ((1 << h.bits) - 1)];
    const len = e & 15;
    if (len === 0 || len > this.bc) {
      if (this.bc < h.bits) throw NEED_INPUT;
      throw damaged('invalid code');
    }
    this.bb >>>= len;
    this.bc -= len;
    return e >> 4;
  }

  /** Give back whole bytes held in the bit buffer, so `ip` is exact. */
  unread(): void {
    this.ip -= this.bc >> 3;
    this.bc &= 7;
    this.bb &= (1 << this.bc) - 1;
  }

  /**
   * Inflate from inp[start, end). Returns true when the stream (with its trailer)
   * ended, `ip` then being just past it; false when more input is needed, `ip`
   * then being where the unread tail of `inp` starts.
   */
  run(inp: Uint8Array, start: number, end: number): boolean {
    this.ip = start;
    for (;;) {
      const ckIp = this.ip;
      const ckBb = this.bb;
      const ckBc = this.bc;
      try {
        switch (this.mode) {
          case M_HEADER: {
            const cmf = this.need(inp, end, 8);
            const flg = this.need(inp, end, 8);
            if ((cmf & 15) !== 8) throw damaged('not deflate (CM != 8)', { cmf });
            if (cmf >> 4 > 7) throw damaged('window larger than 32K', { cmf });
            if ((cmf * 256 + flg) % 31 !== 0) throw damaged('header check failed', { cmf, flg });
            if (flg & 0x20) throw damaged('preset dictionary not supported');
            this.mode = M_BLOCK;
            break;
          }
          case M_BLOCK:
            this.blockHeader(inp, end);
            break;
          case M_STORED: {
            if (this.storedLeft === 0) {
              this.mode = this.final ? M_TRAILER : M_BLOCK;
              break;
            }
            if (this.ip >= end) return false;
            const n = Math.min(this.storedLeft, end - this.ip, STREAM_CHUNK);
            this.room(n);
            this.out.set(inp.subarray(this.ip, this.ip + n), this.op);
            this.op += n;
            this.ip += n;
            this.storedLeft -= n;
            break;
          }
          case M_CODES:
            if (!this.codes(inp, end)) return false;
            break;
          case M_TRAILER: {
            this.bb >>>= this.bc & 7; // to a byte boundary
            this.bc &= ~7;
            this.unread();
            if (end - this.ip < 4) throw NEED_INPUT;
            this.adler = adler32(this.out, this.adlerFrom, this.op, this.adler);
            this.adlerFrom = this.op;
            const want = ((inp[this.ip] << 24) | (inp[this.ip + 1] << 16) | (inp[this.ip + 2] << 8) | inp[this.ip + 3]) >>> 0;
            if (want !== this.adler) throw new ZlibError('zlib-checksum', 'Adler-32 mismatch', { expected: want, actual: this.adler });
            this.ip += 4;
            this.mode = M_DONE;
            return true;
          }
          default:
            return true;
        }
      } catch (e) {
        if (e !== NEED_INPUT) throw e;
        this.ip = ckIp;
        this.bb = ckBb;
        this.bc = ckBc;
        this.unread();
        return false;
      }
    }
  }

  blockHeader(inp: Uint8Array, end: number): void {
    const head = this.need(inp, end, 3);
    const type = head >> 1;
    if (type === 0) {
      this.bb >>>= this.bc & 7;
      this.bc &= ~7;
      this.unread();
      if (end - this.ip < 4) throw NEED_INPUT;
      const len = inp[this.ip] | (inp[this.ip + 1] << 8);
      const nlen = inp[this.ip + 2] | (inp[this.ip + 3] << 8);
      if (len !== (~nlen & 0xffff)) throw damaged('stored block LEN/NLEN mismatch');
      this.ip += 4;
      this.storedLeft = len;
      this.mode = M_STORED;
    } else if (type === 1) {
      this.lit = FIXED_LIT;
      this.dist = FIXED_DIST;
      this.mode = M_CODES;
    } else if (type === 2) {
      const hlit = this.need(inp, end, 5) + 257;
      const hdist = this.need(inp, end, 5) + 1;
      const hclen = this.need(inp, end, 4) + 4;
      if (hlit > 286 || hdist > 30) throw damaged('too many length or distance codes');
      const clens = new Uint8Array(19);
      for (let i = 0; i < hclen; i++) clens[CLEN_ORDER[i]] = this.need(inp, end, 3);
      const clh = buildHuffman(clens, 'code-length');
      const lens = new Uint8Array(hlit + hdist);
      for (let i = 0; i < lens.length; ) {
        const sym = this.symbol(inp, end, clh);
        if (sym < 16) {
          lens[i++] = sym;
          continue;
        }
        let rep: number;
        let val = 0;
        if (sym === 16) {
          if (i === 0) throw damaged('repeat with no previous length');
          val = lens[i - 1];
          rep = 3 + this.need(inp, end, 2);
        } else if (sym === 17) rep = 3 + this.need(inp, end, 3);
        else rep = 11 + this.need(inp, end, 7);
        if (i + rep > lens.length) throw damaged('code lengths repeat past the end');
        lens.fill(val, i, i + rep);
        i += rep;
      }
      if (lens[256] === 0) throw damaged('no end-of-block code');
      this.lit = buildHuffman(lens.subarray(0, hlit), 'literal/length');
      this.dist = buildHuffman(lens.subarray(hlit), 'distance');
      this.mode = M_CODES;
    } else {
      throw damaged('invalid block type 3');
    }
    this.final = (head & 1) === 1;
  }

  /** Decode symbols of a Huffman block; false when input ran out (state at a symbol start). */
  codes(inp: Uint8Array, end: number): boolean {
    const lt = this.lit.table;
    const lmask = (1 << this.lit.bits) - 1;
    const lbits = this.lit.bits;
    const dt = this.dist.table;
    const dmask = (1 << this.dist.bits) - 1;
    const dbits = this.dist.bits;
    let { bb, bc, ip, op, out } = this;
    // Output limit for this run: the room() call re-checks maxSize and space.
    let limit = Math.min(out.length, this.maxSize - this.dropped);
    for (;;) {
      const sIp = ip;
      const sBb = bb;
      const sBc = bc;
      // Refill to >= 15 bits (or what is left of the input).
      while (bc < 15 && ip < end) {
        bb |= inp[ip++] << bc;
        bc += 8;
      }
      let e = lt[bb & lmask];
      let len = e & 15;
      if (len === 0 || len > bc) {
        if (bc < lbits) return this.suspend(sIp, sBb, sBc, op);
        throw damaged('invalid literal/length code');
      }
      bb >>>= len;
      bc -= len;
      const sym = e >> 4;
      if (sym < 256) {
        if (op >= limit) {
          this.op = op;
          this.room(1);
          out = this.out;
          op = this.op;
          limit = Math.min(out.length, this.maxSize - this.dropped);
        }
        out[op++] = sym;
        continue;
      }
      if (sym === 256) {
        this.bb = bb;
        this.bc = bc;
        this.ip = ip;
        this.op = op;
        this.mode = this.final ? M_TRAILER : M_BLOCK;
        return true;
      }
      const li = sym - 257;
      if (li >= 29) throw damaged('invalid length symbol');
      let eb = LEN_EXTRA[li];
      while (bc < eb + 15 && ip < end) {
        bb |= inp[ip++] << bc;
        bc += 8;
      }
      if (bc < eb) return this.suspend(sIp, sBb, sBc, op);
      const length = LEN_BASE[li] + (bb & ((1 << eb) - 1));
      bb >>>= eb;
      bc -= eb;
      e = dt[bb & dmask];
      len = e & 15;
      if (len === 0 || len > bc) {
        if (bc < dbits) return this.suspend(sIp, sBb, sBc, op);
        throw damaged('invalid distance code');
      }
      bb >>>= len;
      bc -= len;
      const ds = e >> 4;
      if (ds >= 30) throw damaged('invalid distance symbol');
      eb = DIST_EXTRA[ds];
      while (bc < eb && ip < end) {
        bb |= inp[ip++] << bc;
        bc += 8;
      }
      if (bc < eb) return this.suspend(sIp, sBb, sBc, op);
      const distance = DIST_BASE[ds] + (bb & ((1 << eb) - 1));
      bb >>>= eb;
      bc -= eb;
      if (distance > op + this.dropped) throw damaged('distance before the start of the output', { distance });
      if (op + length > limit) {
        this.op = op;
        this.room(length);
        out = this.out;
        op = this.op;
        limit = Math.min(out.length, this.maxSize - this.dropped);
      }
      let from = op - distance;
      if (distance >= length) {
        out.copyWithin(op, from, from + length);
        op += length;
      } else {
        for (const stop = op + length; op < stop; ) out[op++] = out[from++];
      }
    }
  }

  suspend(ip: number, bb: number, bc: number, op: number): boolean {
    this.ip = ip;
    this.bb = bb;
    this.bc = bc;
    this.op = op;
    this.unread();
    return false;
  }
}

/**
 * Inflate the zlib stream at the front of data[start..]: the state, or null when
 * the input ended first. `sizeHint` sizes the first output buffer.
 */
function inflateFront(data: Uint8Array, maxSize: number, sizeHint: number, into?: Uint8Array): InflateResult | null {
  const st = new InflateState(maxSize, false, sizeHint, into);
  if (!st.run(data, 0, data.length)) return null;
  const output = st.out === into || st.op * 4 >= st.out.length * 3 ? st.out.subarray(0, st.op) : st.out.slice(0, st.op);
  return { output, consumed: st.ip };
}

/** A streaming inflater on our decoder: exact stream end, output bounded by maxSize. */
export function createPureInflater(maxSize: number): Inflater {
  const st = new InflateState(maxSize, true, 0);
  let tail: Uint8Array = new Uint8Array(0); // unread input kept from the previous push
  return {
    push(chunk: Uint8Array, sink?: (piece: Uint8Array) => void): InflateStep {
      if (st.mode === M_DONE) return { output: [], done: true, used: 0 };
      let buf = chunk;
      if (tail.length) {
        buf = new Uint8Array(tail.length + chunk.length);
        buf.set(tail);
        buf.set(chunk, tail.length);
      }
      const done = st.run(buf, 0, buf.length);
      let output = st.take();
      if (sink) {
        for (const piece of output) sink(piece);
        output = [];
      }
      if (done) {
        tail = new Uint8Array(0);
        return { output, done, used: st.ip - (buf.length - chunk.length) };
      }
      tail = buf.slice(st.ip);
      return { output, done, used: chunk.length };
    },
  };
}

/** Pure-JS zlib: fflate's deflate, our own exact-end inflate. */
export const pureZlib: Zlib = {
  deflate: (data, level = 6) => zlibSync(data, { level: level as 6 }),
  inflate(data, maxSize = Infinity) {
    const r = inflateFront(data, maxSize, data.length * 4);
    if (!r) throw new ZlibError('zlib-truncated', 'zlib stream ends early');
    if (r.consumed !== data.length) {
      throw new ZlibError('zlib-trailing-data', `${data.length - r.consumed} bytes after the zlib stream`, { consumed: r.consumed });
    }
    return r.output;
  },
  inflatePrefix: (data, maxSize, into) => inflateFront(data, maxSize, data.length * 4, into),
  createInflater: createPureInflater,
  createDeflater(level = 6): Deflater {
    const out: Uint8Array[] = [];
    const d = new FZlib({ level: level as 6 }, (chunk) => out.push(chunk));
    return {
      push(chunk, final) {
        d.push(chunk, final);
        return out.splice(0);
      },
    };
  },
};
