/**
 * The WebAssembly SHA3-256 (worker/keccak.wasm from scripts/gen-keccak-wasm.mjs,
 * wrapped by worker/sha3-wasm.ts) in Node: the committed binary is what the
 * generator writes, and its digests agree with node:crypto's sha3-256.
 * test/worker/sha3-wasm.test.ts runs it inside workerd.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
// @ts-expect-error: a plain .mjs script without types
import { keccakWasm } from '../scripts/gen-keccak-wasm.mjs';
import { wasmSha3_256 } from '../worker/sha3-wasm.js';
import { randomBytes as bytes } from './random-bytes.js';

const committed = new Uint8Array(readFileSync(new URL('../worker/keccak.wasm', import.meta.url)));
// Node compiles from bytes (workers-types, which this project's tsconfig loads, declares the class abstract).
const compile = WebAssembly.Module as unknown as new (bytes: Uint8Array) => WebAssembly.Module;
const sha3 = wasmSha3_256(new compile(committed));
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const ref = (d: Uint8Array) => createHash('sha3-256').update(d).digest('hex');

describe('keccak.wasm', () => {
  it('is exactly what scripts/gen-keccak-wasm.mjs generates (run it after changing the generator)', () => {
    expect(Buffer.compare(Buffer.from(keccakWasm() as Uint8Array), Buffer.from(committed))).toBe(0);
    expect(committed.length).toBeLessThan(4096);
  });

  it('known answers (FIPS 202 examples)', () => {
    expect(hex(sha3().digest())).toBe('a7ffc6f8bf1ed76651c14756a061d662f580ff4de43b49fa82d80a4b80f8434a');
    expect(hex(sha3().update(new TextEncoder().encode('abc')).digest())).toBe('3a985da74fe225b2045c172d6bd390bd855f086e3e9d525b46bfe24511431532');
  });

  it('agrees with node:crypto around the 136-byte rate and the 481-block buffer, one-shot and chunked', () => {
    const sizes = [1, 2, 55, 56, 134, 135, 136, 137, 138, 271, 272, 273, 408, 1000, 65415, 65416, 65417, 65536, 65552, 130832, 130833, 200000];
    for (const n of sizes) {
      const d = bytes(n, n);
      expect(hex(sha3().update(d).digest()), `one-shot ${n}`).toBe(ref(d));
      for (const step of [1, 7, 135, 136, 137, 4096, 65536]) {
        if (step === 1 && n > 2000) continue;
        const h = sha3();
        for (let at = 0; at < n; at += step) h.update(d.subarray(at, at + step));
        expect(hex(h.digest()), `${n} in steps of ${step}`).toBe(ref(d));
      }
    }
  });

  it('1 MiB in random pieces, with empty updates', () => {
    const d = bytes(1 << 20, 7);
    const h = sha3();
    let at = 0;
    let r = 12345;
    while (at < d.length) {
      r = (r * 1103515245 + 12345) >>> 0;
      const k = r % 3 === 0 ? 0 : r % 100000;
      h.update(d.subarray(at, at + k));
      at += k;
    }
    expect(hex(h.digest())).toBe(ref(d));
  });

  it('interleaved hashers keep their own states (one instance, states swapped)', () => {
    const ds = [bytes(5000, 1), bytes(300, 2), bytes(70000, 3), bytes(0, 4)];
    const hs = ds.map(() => sha3());
    for (let at = 0; at < 70000; at += 999) for (const [i, h] of hs.entries()) h.update(ds[i].subarray(at, at + 999));
    // Digest in a different order from creation; a new hasher in between.
    const late = sha3().update(bytes(10, 9));
    expect(hex(hs[2].digest())).toBe(ref(ds[2]));
    expect(hex(hs[0].digest())).toBe(ref(ds[0]));
    expect(hex(late.digest())).toBe(ref(bytes(10, 9)));
    expect(hex(hs[3].digest())).toBe(ref(ds[3]));
    expect(hex(hs[1].digest())).toBe(ref(ds[1]));
  });

  it('digest once; the input buffer is never modified', () => {
    const d = bytes(1000, 5);
    const copy = d.slice();
    const h = sha3().update(d);
    h.digest();
    expect(() => h.digest()).toThrow();
    expect(() => h.update(d)).toThrow();
    expect(d).toEqual(copy);
  });
});
