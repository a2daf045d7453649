/**
 * The WebAssembly SHA3-256 inside workerd: the bundled .wasm import gives a
 * module that instantiates there (compiling from bytes is forbidden), the
 * Worker's native hashers use it for SHA3-256, and its digests agree with the
 * pure Keccak. Also prints MB/s of both, measured in the same run.
 */
import { describe, expect, it } from 'vitest';
import { pureHash } from '../../shared/core/hash.js';
import keccak from '../../worker/keccak.wasm';
import '../../worker/keccak-module.js';
import { isNativeHash, isWasmSha3, nativeHash } from '../../worker/native-hash.js';
import { nativePrimitives } from '../../worker/primitives.js';
import { wasmSha3_256 } from '../../worker/sha3-wasm.js';
import { randomBytes as bytes } from '../random-bytes.js';

const hex = (b: Uint8Array) => [...b].map((x) => x.toString(16).padStart(2, '0')).join('');
const pure = (d: Uint8Array) => hex(pureHash('sha3-256').update(d).digest());

describe('wasm SHA3-256 in workerd', () => {
  it('the .wasm import is a compiled module, and compiling from bytes is what workerd forbids', () => {
    expect(keccak).toBeInstanceOf(WebAssembly.Module);
    const compile = WebAssembly.Module as unknown as new (bytes: Uint8Array) => WebAssembly.Module;
    expect(() => new compile(new Uint8Array([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0]))).toThrow();
  });

  it('is what the native primitives hash SHA3-256 with (node:crypto has none here)', () => {
    expect(isNativeHash('sha3-256')).toBe(false);
    expect(isWasmSha3()).toBe(true);
    expect(hex(nativePrimitives.hash('sha3-256').update(new TextEncoder().encode('abc')).digest())).toBe(
      '3a985da74fe225b2045c172d6bd390bd855f086e3e9d525b46bfe24511431532',
    );
    expect(hex(nativeHash('sha3-256').digest())).toBe('a7ffc6f8bf1ed76651c14756a061d662f580ff4de43b49fa82d80a4b80f8434a');
  });

  it('agrees with the pure Keccak around the rate and buffer boundaries, one-shot and chunked, interleaved', () => {
    const sha3 = wasmSha3_256(keccak);
    for (const n of [0, 1, 135, 136, 137, 272, 273, 65415, 65416, 65417, 1 << 20]) {
      const d = bytes(n, n + 1);
      const want = pure(d);
      expect(hex(sha3().update(d).digest()), `one-shot ${n}`).toBe(want);
      const a = sha3();
      const b = nativeHash('sha3-256');
      for (let at = 0; at < n || at === 0; at += 4099) {
        a.update(d.subarray(at, at + 4099));
        b.update(d.subarray(at, at + 4099));
      }
      expect(hex(a.digest()), `chunked ${n}`).toBe(want);
      expect(hex(b.digest()), `chunked native ${n}`).toBe(want);
    }
  });

  it('throughput: wasm vs pure Keccak, 64 KiB chunks (printed)', () => {
    const chunk = bytes(1 << 16, 3);
    const run = (make: () => { update(d: Uint8Array): unknown; digest(): Uint8Array }, mib: number) => {
      const t = performance.now();
      const h = make();
      for (let i = 0; i < mib * 16; i++) h.update(chunk);
      h.digest();
      return mib / ((performance.now() - t) / 1000);
    };
    const wasm = () => nativeHash('sha3-256');
    const js = () => pureHash('sha3-256');
    run(wasm, 4);
    run(js, 4);
    let w = 0;
    let p = 0;
    for (let i = 0; i < 3; i++) {
      w = Math.max(w, run(wasm, 16));
      p = Math.max(p, run(js, 16));
    }
    console.log(`SHA3-256 in workerd: wasm ${w.toFixed(1)} MB/s, pure JS ${p.toFixed(1)} MB/s (${(w / p).toFixed(2)}x)`);
    expect(w).toBeGreaterThan(0);
  });
});
