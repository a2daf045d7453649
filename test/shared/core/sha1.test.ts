/** The plain-JS SHA-1 against the pure hasher (noble's): every length around the block edges, pieces, reuse. */
import { describe, expect, it } from 'vitest';
import { toHex } from '../../../shared/core/bytes.js';
import { pureHash } from '../../../shared/core/hash.js';
import { Sha1 } from '../../../shared/core/sha1.js';

function bytes(n: number, seed: number): Uint8Array {
  const out = new Uint8Array(n);
  let x = seed * 2654435761 + 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 255;
  }
  return out;
}

describe('Sha1', () => {
  it('matches a known digest', () => {
    expect(toHex(new Sha1().update(new TextEncoder().encode('abc')).digest())).toBe('a9993e364706816aba3e25717850c26c9cd0d89d');
    expect(toHex(new Sha1().digest())).toBe('da39a3ee5e6b4b0d3255bfef95601890afd80709');
  });

  it('agrees with the pure hasher on every length to 300 and some larger, whole and in pieces, one hasher reused', () => {
    const h = new Sha1();
    const lengths = [...Array.from({ length: 301 }, (_, i) => i), 1000, 4095, 4096, 4097, 65536 + 3];
    for (const n of lengths) {
      const data = bytes(n, n);
      const want = toHex(pureHash('sha1').update(data).digest());
      expect(toHex(h.reset().update(data).digest())).toBe(want);
      // Pieces of uneven sizes, crossing block edges.
      h.reset();
      for (let at = 0, step = 1; at < n; at += step, step = (step * 7) % 71 + 1) h.update(data.subarray(at, Math.min(n, at + step)));
      expect(toHex(h.digest())).toBe(want);
    }
  });
});
