/** Pure and native zlib against each other, on streams from node:zlib with every strategy and window. */
import * as nodeZlib from 'node:zlib';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ZlibError } from '../../../shared/core/errors.js';
import { pureZlib } from '../../../shared/core/zlib.js';
import { nativeZlib } from '../../../worker/native-zlib.js';

const text = (n: number) => new TextEncoder().encode(Array.from({ length: n }, (_, i) => `row ${i * 31} ${i % 5 ? 'x' : 'yy'}\n`).join(''));
function noise(n: number, seed = 3): Uint8Array {
  let s = seed;
  return new Uint8Array(n).map(() => ((s = (Math.imul(s, 1103515245) + 12345) | 0), s >>> 24));
}
const same = (a: Uint8Array, b: Uint8Array) => Buffer.compare(Buffer.from(a.buffer, a.byteOffset, a.length), Buffer.from(b.buffer, b.byteOffset, b.length)) === 0;
const codeOf = (f: () => unknown) => {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(ZlibError);
    return (e as ZlibError).code;
  }
  return 'no-error';
};

const { Z_FILTERED, Z_HUFFMAN_ONLY, Z_RLE, Z_FIXED, Z_DEFAULT_STRATEGY } = nodeZlib.constants;

describe('pure vs native zlib', () => {
  const inputs = [new Uint8Array(0), text(1), text(4000), noise(200_000), new Uint8Array(100_000).fill(97), new Uint8Array([...text(300), ...noise(3000)])];

  it('both inflate node:zlib streams of every strategy, level and window exactly', () => {
    for (const data of inputs) {
      for (const strategy of [Z_DEFAULT_STRATEGY, Z_FILTERED, Z_HUFFMAN_ONLY, Z_RLE, Z_FIXED]) {
        for (const [level, windowBits, memLevel] of [[0, 15, 8], [1, 15, 8], [6, 9, 1], [9, 15, 9], [4, 12, 4]]) {
          const s = nodeZlib.deflateSync(data, { level, windowBits, memLevel, strategy });
          const tailed = new Uint8Array([...s, 0x78, 0x9c, 0]);
          for (const z of [pureZlib, nativeZlib]) {
            const r = z.inflatePrefix(tailed, data.length)!;
            expect(r.consumed).toBe(s.length);
            expect(same(r.output, data)).toBe(true);
          }
        }
      }
    }
  });

  it('node:zlib inflates what both deflate', () => {
    for (const data of inputs) {
      for (const z of [pureZlib, nativeZlib]) expect(same(nodeZlib.inflateSync(z.deflate(data, 6)), data)).toBe(true);
    }
  });

  it('agree on truncation (null), limits and damage', () => {
    const data = text(500);
    const s = new Uint8Array(nodeZlib.deflateSync(data)); // a copy: Buffer.slice would be a view
    for (let n = 0; n < s.length; n += 7) {
      expect(nativeZlib.inflatePrefix(s.subarray(0, n), 1 << 20)).toBeNull();
      expect(pureZlib.inflatePrefix(s.subarray(0, n), 1 << 20)).toBeNull();
    }
    for (const z of [pureZlib, nativeZlib]) {
      expect(codeOf(() => z.inflatePrefix(s, data.length - 1))).toBe('zlib-too-large');
      expect(codeOf(() => z.inflate(s.subarray(0, s.length - 2)))).toBe('zlib-truncated');
      expect(codeOf(() => z.inflate(new Uint8Array([...s, 1])))).toBe('zlib-trailing-data');
      const bad = s.slice();
      bad[bad.length - 2] ^= 0x10;
      expect(codeOf(() => z.inflate(bad))).toBe('zlib-checksum');
      expect(codeOf(() => z.inflate(Uint8Array.of(0x78, 0x9c, 0x07, 0, 0, 0, 0)))).toBe('zlib-damaged');
    }
  });

  it('a flipped byte: both fail, or both give the same output and length', () => {
    const data = text(800);
    const s = new Uint8Array(nodeZlib.deflateSync(data, { level: 9 }));
    fc.assert(
      fc.property(fc.nat(s.length - 1), fc.integer({ min: 1, max: 255 }), (at, x) => {
        const c = s.slice();
        c[at] ^= x;
        const run = (z: typeof pureZlib) => {
          try {
            const r = z.inflatePrefix(c, 1 << 20);
            return r ? `ok:${r.consumed}:${Buffer.from(r.output).toString('base64')}` : 'null';
          } catch (e) {
            expect(e).toBeInstanceOf(ZlibError);
            return 'error';
          }
        };
        const p = run(pureZlib);
        const n = run(nativeZlib);
        // zlib may report some damage only as "more input needed"; the pure decoder stops at the same point or errs earlier.
        if (p.startsWith('ok') || n.startsWith('ok')) expect(p).toBe(n);
      }),
      { numRuns: 300 },
    );
  });
});

describe('native streaming inflater (its own node:zlib engine per stream)', () => {
  /** Push `data` cut at the given points; the output, the stream end (input used), or the error code. `sink`: output taken through one. */
  function run(z: typeof pureZlib, data: Uint8Array, cuts: number[], maxSize: number, sink = false): string {
    const inf = z.createInflater(maxSize);
    const out: Uint8Array[] = [];
    // A sink's pieces are valid only during the call: copied.
    const take = sink ? (piece: Uint8Array) => void out.push(piece.slice()) : undefined;
    const points = [...new Set([0, ...cuts.map((c) => Math.min(c, data.length)), data.length])].sort((a, b) => a - b);
    try {
      for (let k = 0; k + 1 < points.length; k++) {
        const step = inf.push(data.subarray(points[k], points[k + 1]), take);
        if (sink) expect(step.output).toEqual([]);
        out.push(...step.output);
        if (step.done) return `end ${points[k] + step.used} ${Buffer.concat(out).toString('base64')}`;
      }
      // Input over: one more (empty) chunk cannot end it; a stream that ended exactly at the last byte shows up with more input.
      const step = inf.push(Uint8Array.of(0xee));
      out.push(...step.output);
      return step.done ? `end ${data.length + step.used} ${Buffer.concat(out).toString('base64')}` : `open ${Buffer.concat(out).toString('base64')}`;
    } catch (e) {
      expect(e).toBeInstanceOf(ZlibError);
      return (e as ZlibError).code;
    }
  }

  it('agrees with the pure inflater on the output and the stream end, at every split point', () => {
    for (const data of [new Uint8Array(0), text(3000), noise(70_000), new Uint8Array(600_000).fill(3)]) {
      for (const level of [0, 1, 9]) {
        const s = nodeZlib.deflateSync(data, { level });
        const tailed = new Uint8Array([...s, 0x78, 0x9c, 7, 7]);
        const step = Math.max(1, Math.floor(s.length / 40));
        for (let cut = 0; cut <= tailed.length; cut += step) {
          for (const input of [s, tailed]) {
            const want = run(pureZlib, input, [cut], data.length);
            expect(run(nativeZlib, input, [cut], data.length)).toBe(want);
            expect(run(nativeZlib, input, [cut], data.length, true)).toBe(want);
            expect(run(pureZlib, input, [cut], data.length, true)).toBe(want);
          }
        }
        // Limits: one byte short is too large for both.
        if (data.length > 0) expect(run(nativeZlib, s, [7], data.length - 1)).toBe('zlib-too-large');
        if (data.length > 0) expect(run(nativeZlib, s, [7], data.length - 1, true)).toBe('zlib-too-large');
      }
    }
  });

  it('random chunkings, truncations and damage: same output and end as pure, or both fail', () => {
    const data = new Uint8Array([...text(2000), ...noise(5000)]);
    const s = new Uint8Array(nodeZlib.deflateSync(data, { level: 6 }));
    fc.assert(
      fc.property(fc.array(fc.nat(s.length + 8), { maxLength: 6 }), fc.nat(s.length - 1), fc.integer({ min: 0, max: 255 }), fc.nat(s.length), (cuts, at, x, keep) => {
        const c = new Uint8Array([...s, 1, 2, 3]);
        c[at] ^= x;
        const input = c.subarray(0, Math.max(keep, 1));
        const p = run(pureZlib, input, cuts, data.length);
        const n = run(nativeZlib, input, cuts, data.length);
        // zlib may report some damage only as "more input needed" (open); otherwise they agree.
        if (p.startsWith('end') || n.startsWith('end')) expect(n).toBe(p);
        if (p === 'open') expect(n === 'open' || n.startsWith('zlib-')).toBe(true);
      }),
      { numRuns: 300 },
    );
  });
});
