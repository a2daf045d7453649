import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { toHex, utf8Encode } from '../../../shared/core/bytes.js';
import { sha3_256 } from '@noble/hashes/sha3.js';
import { HASH_LENGTH, digest, digestHex, pureHash, sha3_256Hasher } from '../../../shared/core/hash.js';
import { purePrimitives, type HashAlgorithm } from '../../../shared/core/primitives.js';

const ALGOS: HashAlgorithm[] = ['sha1', 'sha256', 'sha3-256'];

// Published vectors (FIPS 180 / FIPS 202 examples).
const VECTORS: Record<HashAlgorithm, [string, string][]> = {
  sha1: [
    ['', 'da39a3ee5e6b4b0d3255bfef95601890afd80709'],
    ['abc', 'a9993e364706816aba3e25717850c26c9cd0d89d'],
    ['abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq', '84983e441c3bd26ebaae4aa1f95129e5e54670f1'],
  ],
  sha256: [
    ['', 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855'],
    ['abc', 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad'],
  ],
  'sha3-256': [
    ['', 'a7ffc6f8bf1ed76651c14756a061d662f580ff4de43b49fa82d80a4b80f8434a'],
    ['abc', '3a985da74fe225b2045c172d6bd390bd855f086e3e9d525b46bfe24511431532'],
  ],
};

describe('pure hashers', () => {
  for (const algo of ALGOS) {
    it(`${algo}: known vectors`, () => {
      for (const [input, hex] of VECTORS[algo]) {
        expect(digestHex(purePrimitives, algo, utf8Encode(input))).toBe(hex);
        expect(digest(purePrimitives, algo, utf8Encode(input)).length).toBe(HASH_LENGTH[algo]);
      }
    });

    it(`${algo}: a million 'a's`, () => {
      const h = pureHash(algo);
      const chunk = utf8Encode('a'.repeat(1000));
      for (let i = 0; i < 1000; i++) h.update(chunk);
      const expected = {
        sha1: '34aa973cd4c4daa4f61eeb2bdbad27316534016f',
        sha256: 'cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0',
        'sha3-256': '5c8875ae474a3634ba4fd55ec85bffd661f32aca75c6d699d0cdcb6c115891c1',
      }[algo];
      expect(toHex(h.digest())).toBe(expected);
    });

    it(`${algo}: chunked updates equal one-shot`, () => {
      fc.assert(
        fc.property(fc.uint8Array({ maxLength: 600 }), fc.array(fc.nat(700), { maxLength: 6 }), (data, cuts) => {
          const points = [...new Set(cuts.map((c) => c % (data.length + 1)))].sort((a, b) => a - b);
          const parts: Uint8Array[] = [];
          let prev = 0;
          for (const p of [...points, data.length]) {
            parts.push(data.subarray(prev, p));
            prev = p;
          }
          expect(digest(purePrimitives, algo, parts)).toEqual(digest(purePrimitives, algo, data));
        }),
        { numRuns: 100 },
      );
    });
  }

  it('our unrolled SHA3-256 agrees with @noble/hashes at every length around the 136-byte rate, however fed', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 700 }), fc.integer({ min: 1, max: 300 }), (data, step) => {
        const h = sha3_256Hasher();
        for (let i = 0; i < data.length; i += step) h.update(data.subarray(i, i + step));
        expect(h.digest()).toEqual(sha3_256(data));
      }),
      { numRuns: 200 },
    );
    for (let n = 130; n <= 280; n++) {
      const data = new Uint8Array(n).map((_, i) => i * 31 + n);
      expect(sha3_256Hasher().update(data).digest()).toEqual(sha3_256(data));
    }
  });

  it('a hasher refuses use after digest', () => {
    const h = sha3_256Hasher();
    h.digest();
    expect(() => h.digest()).toThrow();
    expect(() => h.update(new Uint8Array(1))).toThrow();
  });

  it('agrees with crypto.subtle for SHA-1 and SHA-256', async () => {
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ maxLength: 3000 }), async (data) => {
        for (const [algo, name] of [['sha1', 'SHA-1'], ['sha256', 'SHA-256']] as const) {
          const subtle = new Uint8Array(await crypto.subtle.digest(name, data));
          expect(digest(purePrimitives, algo, data)).toEqual(subtle);
        }
      }),
      { numRuns: 50 },
    );
  });
});
