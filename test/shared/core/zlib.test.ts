import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { concat } from '../../../shared/core/bytes.js';
import { ZlibError } from '../../../shared/core/errors.js';
import { adler32, pureZlib } from '../../../shared/core/zlib.js';

const z = pureZlib;
const text = (n: number) => new TextEncoder().encode(Array.from({ length: n }, (_, i) => `line ${i} ${i % 7 ? 'bar' : 'foo'} text\n`).join(''));
function noise(n: number, seed = 1): Uint8Array {
  let s = seed;
  return new Uint8Array(n).map(() => ((s = (Math.imul(s, 1103515245) + 12345) | 0), s >>> 24));
}
const cat = (...parts: Uint8Array[]) => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) out.set(p, (at += p.length) - p.length);
  return out;
};
const same = (a: Uint8Array, b: Uint8Array) => a.length === b.length && a.every((x, i) => x === b[i]);
const codeOf = (f: () => unknown) => {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(ZlibError);
    return (e as ZlibError).code;
  }
  return 'no-error';
};

/** Feed `data` to a streaming inflater in pieces of the given sizes; the output and the stream end. */
function streamed(data: Uint8Array, sizes: number[], maxSize: number) {
  const inf = z.createInflater(maxSize);
  const out: Uint8Array[] = [];
  let at = 0;
  for (let k = 0; at < data.length; k++) {
    const n = Math.max(1, sizes[k % sizes.length] ?? 1);
    const step = inf.push(data.subarray(at, at + n));
    out.push(...step.output);
    // concat takes an array: spreading ~150k one-byte chunks as arguments overflows workerd's stack.
    if (step.done) return { output: concat(out), end: at + step.used };
    at += n;
  }
  return { output: concat(out), end: -1 };
}

describe('pure zlib', () => {
  it('computes Adler-32 like RFC 1950 (Wikipedia example)', () => {
    expect(adler32(new TextEncoder().encode('Wikipedia'))).toBe(0x11e60398);
    const big = noise(100_000);
    expect(adler32(big, 50_000, 100_000, adler32(big, 0, 50_000))).toBe(adler32(big));
  });

  it('Adler-32 agrees with the byte-at-a-time definition on any input, run length and split (0xff runs give the largest sums)', () => {
    const reference = (d: Uint8Array, adler = 1) => {
      let a = adler & 0xffff;
      let b = adler >>> 16;
      for (const x of d) {
        a = (a + x) % 65521;
        b = (b + a) % 65521;
      }
      return ((b << 16) | a) >>> 0;
    };
    const ff = new Uint8Array(3 * 5552 + 40).fill(0xff);
    for (const n of [0, 1, 15, 16, 17, 5551, 5552, 5553, 2 * 5552 + 7, ff.length]) {
      // Start from the largest a and b (65520 each) too: b's first run then comes closest to 2^32.
      for (const init of [1, 0xfff0fff0]) expect(adler32(ff, 0, n, init)).toBe(reference(ff.subarray(0, n), init));
    }
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 20_000 }), fc.nat(), fc.integer({ min: 0, max: 0xfff0fff0 }), (d, cut, init) => {
        const at = d.length ? cut % (d.length + 1) : 0;
        expect(adler32(d, 0, d.length, init)).toBe(reference(d, init));
        expect(adler32(d, at, d.length, adler32(d, 0, at, init))).toBe(reference(d, init));
      }),
      { numRuns: 200 },
    );
  });

  it('round-trips at every level, stored blocks included', () => {
    for (const data of [new Uint8Array(0), text(1), text(3000), noise(70_000)]) {
      for (const level of [0, 1, 6, 9]) expect(same(z.inflate(z.deflate(data, level)), data)).toBe(true);
    }
  });

  it('inflatePrefix reports the exact end and ignores trailing bytes', () => {
    for (const data of [new Uint8Array(0), text(200), noise(5000)]) {
      const s = z.deflate(data);
      const r = z.inflatePrefix(cat(s, Uint8Array.of(0x78, 0x9c, 1, 2, 3)), data.length)!;
      expect(r.consumed).toBe(s.length);
      expect(same(r.output, data)).toBe(true);
    }
  });

  it('returns null for every truncation, and inflate() says zlib-truncated', () => {
    const data = text(300);
    const s = z.deflate(data);
    for (let n = 0; n < s.length; n++) expect(z.inflatePrefix(s.subarray(0, n), 1 << 20)).toBeNull();
    expect(codeOf(() => z.inflate(s.subarray(0, s.length - 1)))).toBe('zlib-truncated');
    expect(codeOf(() => z.inflate(cat(s, Uint8Array.of(0))))).toBe('zlib-trailing-data');
  });

  it('refuses output past maxSize (one-shot and streaming)', () => {
    const data = text(2000);
    const s = z.deflate(data);
    expect(codeOf(() => z.inflatePrefix(s, data.length - 1))).toBe('zlib-too-large');
    expect(z.inflatePrefix(s, data.length)!.output.length).toBe(data.length);
    expect(codeOf(() => streamed(s, [100], data.length - 1))).toBe('zlib-too-large');
    // A zip bomb: 10 MB of zeros in ~10 KB, refused at 1 MB without inflating it all.
    const bomb = z.deflate(new Uint8Array(10_000_000));
    expect(codeOf(() => z.inflatePrefix(bomb, 1_000_000))).toBe('zlib-too-large');
  });

  it('detects a bad header, a bad checksum and a bad block type', () => {
    const s = z.deflate(text(50));
    expect(codeOf(() => z.inflate(cat(Uint8Array.of(0x78, 0x9d), s.subarray(2))))).toBe('zlib-damaged');
    expect(codeOf(() => z.inflate(cat(Uint8Array.of(0x79, 0x9c), s.subarray(2))))).toBe('zlib-damaged');
    const bad = s.slice();
    bad[bad.length - 1] ^= 1;
    expect(codeOf(() => z.inflate(bad))).toBe('zlib-checksum');
    // BFINAL=1, BTYPE=11 (reserved).
    expect(codeOf(() => z.inflate(Uint8Array.of(0x78, 0x9c, 0x07, 0, 0, 0, 0)))).toBe('zlib-damaged');
    // Stored block whose NLEN is not ~LEN.
    expect(codeOf(() => z.inflate(Uint8Array.of(0x78, 0x01, 0x01, 0x01, 0x00, 0xfe, 0xfe, 0x41, 0, 0, 0, 0)))).toBe('zlib-damaged');
    // Fixed block: distance 1 with no output before it.
    expect(codeOf(() => z.inflate(Uint8Array.of(0x78, 0x9c, 0x03, 0x02, 0, 0, 0, 0, 0)))).toBe('zlib-damaged');
  });

  it('a flipped byte gives a ZlibError, null, or (padding bits) the same output', () => {
    const data = text(400);
    const s = z.deflate(data, 9);
    fc.assert(
      fc.property(fc.nat(s.length - 1), fc.integer({ min: 1, max: 255 }), (at, x) => {
        const c = s.slice();
        c[at] ^= x;
        try {
          const r = z.inflatePrefix(c, 1 << 20);
          if (r) expect(same(r.output, data)).toBe(true);
        } catch (e) {
          expect(e).toBeInstanceOf(ZlibError);
        }
      }),
      { numRuns: 400 },
    );
  });

  it('random bytes never escape as anything but ZlibError or null', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (junk) => {
        const input = cat(Uint8Array.of(0x78, 0x9c), junk);
        try {
          z.inflatePrefix(input, 1 << 16);
        } catch (e) {
          expect(e).toBeInstanceOf(ZlibError);
        }
      }),
      { numRuns: 2000 },
    );
  });

  it('the streaming inflater agrees with inflatePrefix on any split', () => {
    const inputs = [text(5000), noise(150_000), new Uint8Array(300_000)];
    const streams = inputs.flatMap((d) => [0, 1, 9].map((level) => ({ d, s: z.deflate(d, level) })));
    fc.assert(
      fc.property(fc.nat(streams.length - 1), fc.array(fc.integer({ min: 1, max: 70_000 }), { minLength: 1, maxLength: 5 }), (k, sizes) => {
        const { d, s } = streams[k];
        const r = streamed(cat(s, Uint8Array.of(9, 9, 9)), sizes, d.length);
        expect(r.end).toBe(s.length);
        expect(same(r.output, d)).toBe(true);
      }),
      { numRuns: 60 },
    );
    const one = streamed(streams[0].s, [1], inputs[0].length);
    expect(same(one.output, inputs[0])).toBe(true);
  });

  it('finds every stream of many back to back, as a pack holds them', () => {
    const datas = Array.from({ length: 200 }, (_, i) => (i % 3 ? text(i) : noise(i * 13, i)));
    const all = cat(...datas.map((d, i) => z.deflate(d, i % 10)));
    let at = 0;
    for (const d of datas) {
      const r = z.inflatePrefix(all.subarray(at), d.length)!;
      expect(same(r.output, d)).toBe(true);
      at += r.consumed;
    }
    expect(at).toBe(all.length);
  });

  it('the streaming deflater makes one stream inflate reads back', () => {
    const d = z.createDeflater(6);
    const data = text(10_000);
    const parts = [...d.push(data.subarray(0, 1000), false), ...d.push(data.subarray(1000), true)];
    expect(same(z.inflate(cat(...parts)), data)).toBe(true);
  });
});
