/**
 * Native primitives for runtimes with node:crypto and node:zlib (workerd with
 * nodejs_compat, Node, Deno, Bun). Injected into shared/ code in place of the
 * pure-JS defaults. SHA3-256, which workerd's node:crypto lacks, is the
 * WebAssembly Keccak there (worker/sha3-wasm.ts, installed into nativeHash by
 * worker/keccak-module.ts, which the Worker's entry imports).
 */
import type { Primitives } from '../shared/core/primitives.js';
import { nativeHash, nativeMd5 } from './native-hash.js';
import { nativeZlib } from './native-zlib.js';

export const nativePrimitives: Primitives = { hash: nativeHash, zlib: nativeZlib, ...(nativeMd5 ? { md5: nativeMd5 } : {}) };
