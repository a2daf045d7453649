import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { equal } from '../../../shared/core/bytes.js';
import { DeltaError } from '../../../shared/delta/errors.js';
import { code } from './helpers.js';
import {
  FossilChecksum,
  applyFossilDelta,
  createFossilDelta,
  fossilChecksum,
  fossilDeltaChunks,
  fossilDeltaOutputSize,
  fossilInt,
} from '../../../shared/delta/fossil.js';

const enc = (s: string) => new TextEncoder().encode(s);
const dec = (b: Uint8Array) => new TextDecoder().decode(b);

// The checksum as the format defines it: big-endian words, zero-padded, summed mod 2^32.
function naiveChecksum(data: Uint8Array): number {
  let sum = 0;
  for (let i = 0; i < data.length; i += 4) {
    const w = ((data[i] << 24) | ((data[i + 1] ?? 0) << 16) | ((data[i + 2] ?? 0) << 8) | (data[i + 3] ?? 0)) >>> 0;
    sum = (sum + w) % 0x100000000;
  }
  return sum;
}

// A small deterministic generator of bytes for bases and targets.
function bytes(n: number, seed: number): Uint8Array {
  const out = new Uint8Array(n);
  let x = seed | 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}


describe('fossil delta integers and checksum', () => {
  it('writes base-64 integers most significant digit first', () => {
    expect(fossilInt(0)).toBe('0');
    expect(fossilInt(63)).toBe('~');
    expect(fossilInt(64)).toBe('10');
    expect(fossilInt(6246)).toBe('1Xb');
    expect(fossilInt(0xffffffff)).toBe('3~~~~~');
  });

  it('matches the word-sum definition for every length 0..300 and a large input', () => {
    for (let n = 0; n <= 300; n++) {
      const d = bytes(n, n + 1);
      expect(fossilChecksum(d)).toBe(naiveChecksum(d));
    }
    const big = bytes(1 << 20, 99);
    expect(fossilChecksum(big)).toBe(naiveChecksum(big));
    // All 0xff bytes: every lane saturates, so any carry mistake shows.
    const ff = new Uint8Array(100_003).fill(0xff);
    expect(fossilChecksum(ff)).toBe(naiveChecksum(ff));
  });

  it('gives the same checksum over any split into pieces at any memory alignment', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 2000 }), fc.array(fc.nat(2000), { maxLength: 6 }), fc.nat(7), (data, cuts, shift) => {
        // Copy at an odd offset inside a larger buffer so the word path sees misaligned views.
        const holder = new Uint8Array(data.length + 8);
        holder.set(data, shift);
        const view = holder.subarray(shift, shift + data.length);
        const points = [...new Set(cuts.map((c) => c % (data.length + 1)))].sort((a, b) => a - b);
        const sum = new FossilChecksum();
        let at = 0;
        for (const p of [...points, data.length]) {
          sum.update(view, at, p);
          at = p;
        }
        expect(sum.digest()).toBe(naiveChecksum(data));
      }),
      { numRuns: 300 },
    );
  });
});

describe('fossil delta create/apply', () => {
  it('encodes a small base as one insert, and an empty target', () => {
    expect(dec(createFossilDelta(enc('short'), enc('hello')))).toBe(`5\n5:hello${fossilInt(naiveChecksum(enc('hello')))};`);
    expect(dec(createFossilDelta(bytes(100, 1), new Uint8Array(0)))).toBe('0\n0;');
  });

  it('copies a shared block and inserts the edit', () => {
    const base = enc('The quick brown fox jumps over the lazy dog, again and again and again.');
    const target = enc('The quick brown fox jumps over the lazy cat, again and again and again.');
    const d = createFossilDelta(base, target);
    expect(dec(d)).toMatch(/@/);
    expect(d.length).toBeLessThan(target.length);
    expect(applyFossilDelta(base, d)).toEqual(target);
    expect(fossilDeltaOutputSize(d)).toBe(target.length);
  });

  it('round-trips arbitrary pairs and related pairs', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 3000 }), fc.uint8Array({ maxLength: 3000 }), (a, b) => {
        expect(applyFossilDelta(a, createFossilDelta(a, b))).toEqual(b);
      }),
      { numRuns: 200 },
    );
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 17, maxLength: 5000 }),
        fc.array(fc.tuple(fc.nat(), fc.nat(40), fc.uint8Array({ maxLength: 30 })), { maxLength: 8 }),
        (base, edits) => {
          let t = base;
          for (const [pos, del, ins] of edits) {
            const p = pos % (t.length + 1);
            t = Uint8Array.from([...t.subarray(0, p), ...ins, ...t.subarray(p + del)]);
          }
          const d = createFossilDelta(base, t);
          expect(applyFossilDelta(base, d)).toEqual(t);
          // Few edits over a long base must give a delta much smaller than the target.
          if (base.length > 2000 && edits.length <= 2) expect(d.length).toBeLessThan(t.length / 2);
        },
      ),
      { numRuns: 200 },
    );
  });

  it('gives the same bytes whole and in chunks', () => {
    const base = bytes(200_000, 5);
    const target = new Uint8Array(200_000);
    target.set(base.subarray(1000, 90_000));
    target.set(bytes(50_000, 6), 89_000);
    target.set(base.subarray(0, 61_000), 139_000);
    const whole = createFossilDelta(base, target);
    const chunks = [...fossilDeltaChunks(base, target, 1024)];
    expect(chunks.length).toBeGreaterThan(1);
    const joined = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
    let o = 0;
    for (const c of chunks) {
      joined.set(c, o);
      o += c.length;
    }
    expect(equal(joined, whole)).toBe(true);
    expect(equal(applyFossilDelta(base, whole), target)).toBe(true);
  });
});

describe('fossil delta apply rejects malformed deltas', () => {
  const base = enc('0123456789abcdefghijklmnopqrstuvwxyz');
  const target = enc('abcdefghij0123');
  const good = `E\nA@A,4:0123${fossilInt(naiveChecksum(target))};`;

  it('accepts the well-formed delta the cases below are cut from', () => {
    expect(applyFossilDelta(base, enc(good))).toEqual(target);
  });

  const cases: [string, string, number?][] = [
    ['', 'delta-truncated'],
    ['E', 'delta-truncated'],
    ['E\nA@A,4:01', 'delta-truncated'],
    ['E\nA@A,', 'delta-truncated'],
    ['E\nA@', 'delta-truncated'],
    ['E;', 'delta-bad-header'],
    ['\nA@A,', 'delta-bad-int'],
    ['E\n@A,', 'delta-bad-int'],
    ['E\nA@,', 'delta-bad-int'],
    ['E\n0000001:x', 'delta-bad-int'],
    ['E\n4~~~~~:x', 'delta-bad-int'],
    ['E\nA@A;', 'delta-bad-opcode'],
    ['E\nA!', 'delta-bad-opcode'],
    ['E\nA@Z,', 'delta-copy-out-of-range'],
    ['E\nF@A,', 'delta-result-overflow'],
    ['E\nA@A,5:01234', 'delta-result-overflow'],
    ['E\nA@A,3:0120;', 'delta-result-size'],
    ['E\nA@A,4:01230;', 'delta-bad-checksum'],
    [`${good}x`, 'delta-trailing-data'],
    ['~~~~~\n', 'delta-too-large'],
    ['1000\n', 'delta-too-large', 1000],
  ];
  for (const [delta, expected, max] of cases) {
    it(`${JSON.stringify(delta)} -> ${expected}`, () => {
      expect(code(() => applyFossilDelta(base, enc(delta), max))).toBe(expected);
    });
  }

  it('throws only DeltaError on arbitrary bytes, and never outputs past the limit', () => {
    const alphabet = fc.constantFrom(...'0123AZaz~_@,:;\n\x00\xff'.split('').map((c) => c.charCodeAt(0)));
    const deltas = fc.oneof(
      fc.uint8Array({ maxLength: 200 }),
      fc.array(alphabet, { maxLength: 60 }).map((a) => Uint8Array.from(a)),
      // Mutations of a valid delta hit the deeper checks.
      fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })).map(([i, v]) => {
        const d = enc(good);
        d[i % d.length] = v;
        return d;
      }),
    );
    fc.assert(
      fc.property(deltas, (d) => {
        try {
          const out = applyFossilDelta(base, d, 64);
          expect(out.length).toBeLessThanOrEqual(64);
        } catch (e) {
          expect(e).toBeInstanceOf(DeltaError);
        }
      }),
      { numRuns: 3000 },
    );
  });
});
