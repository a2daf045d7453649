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
