/**
 * Installs the WebAssembly SHA3-256 (worker/sha3-wasm.ts) into the Worker's
 * native hashers where node:crypto lacks SHA3 (workerd). Imported for its effect
 * by worker/index.ts only: the .wasm import needs wrangler's bundling (or the
 * vitest pool's), which Node does not do; Node has a native SHA3 anyway.
 */
import keccak from './keccak.wasm';
import { installSha3_256, isNativeHash } from './native-hash.js';
import { wasmSha3_256 } from './sha3-wasm.js';

if (!isNativeHash('sha3-256')) installSha3_256(wasmSha3_256(keccak));
