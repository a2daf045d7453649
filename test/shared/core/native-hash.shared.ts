// Native (node:crypto) and pure hashers must agree: run from a Node test and a
// workerd test, since the two runtimes' node:crypto differ (workerd lacks SHA3).
import fc from 'fast-check';
import { expect, it } from 'vitest';
import { digest } from '../../../shared/core/hash.js';
import { purePrimitives, type HashAlgorithm, type Primitives } from '../../../shared/core/primitives.js';
import { md5 } from '@noble/hashes/legacy.js';
import { nativeHash, nativeMd5 } from '../../../worker/native-hash.js';

const native: Primitives = { ...purePrimitives, hash: nativeHash };

/** Register the agreement tests for every algorithm. */
export function nativeAgreesWithPure(): void {
  it('md5 (fossil Z cards): native where the runtime has it, and agrees with @noble', () => {
    // Both Node and workerd (BoringSSL) have MD5: the artifact parser relies on it being native.
    expect(nativeMd5).toBeDefined();
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 700 }), (data) => {
        expect(nativeMd5!(data)).toEqual(md5(data));
      }),
      { numRuns: 150 },
    );
  });
  for (const algo of ['sha1', 'sha256', 'sha3-256'] as HashAlgorithm[]) {
    it(`${algo}: native and pure agree on random inputs and chunkings`, () => {
      fc.assert(
        fc.property(fc.array(fc.uint8Array({ maxLength: 300 }), { maxLength: 8 }), (parts) => {
          const h = nativeHash(algo);
          for (const p of parts) h.update(p);
          expect(h.digest()).toEqual(digest(purePrimitives, algo, parts));
        }),
        { numRuns: 150 },
      );
      // Views into a larger buffer (pack entries are hashed as views of a ring): only the view's bytes count.
      const buf = new Uint8Array(600).map((_, i) => i * 7);
      const view = nativeHash(algo).update(buf.subarray(3, 200)).update(buf.subarray(0, 0)).update(buf.subarray(450, 599)).digest();
      expect(view).toEqual(digest(purePrimitives, algo, [buf.slice(3, 200), buf.slice(450, 599)]));
      // A large input crossing many internal blocks.
      const big = new Uint8Array(1 << 20).map((_, i) => (i * 2654435761) >>> 24);
      expect(digest(native, algo, big)).toEqual(digest(purePrimitives, algo, big));
    });
  }
}
