#!/usr/bin/env node
/**
 * Writes worker/keccak.wasm: Keccak-f[1600] absorbing for SHA3-256, emitted as
 * a WebAssembly binary by hand (no toolchain, no network). Committed together
 * with its output; test/worker/sha3-wasm.node.test.ts checks that running this
 * again gives the same bytes.
 *
 *   node scripts/gen-keccak-wasm.mjs          write worker/keccak.wasm
 *   node scripts/gen-keccak-wasm.mjs --check  exit 1 if the committed file differs
 *
 * The module (why wasm: workerd's node:crypto and crypto.subtle have no SHA3,
 * and Workers may not compile wasm from bytes at run time, but may import a
 * bundled .wasm module; see worker/sha3-wasm.ts):
 *
 *   memory "memory": 2 pages (128 KiB), exported, fixed size
 *     [0, 200)        the Keccak state, 25 little-endian 64-bit lanes (lane x+5y at 8(x+5y))
 *     [256, 448)      the 24 round constants (data segment)
 *     [512, 512+BUF)  the input buffer the caller fills (BUF = 481 x 136 bytes, under 64 KiB)
 *   func "absorb"(ptr: i32, blocks: i32): XOR `blocks` consecutive 136-byte blocks
 *     at ptr into the state's first 17 lanes, running Keccak-f[1600] after each.
 *     The state lives in 25 i64 locals while it runs (loaded once, stored once).
 *
 * Padding, partial blocks and reading the digest are left to the JS wrapper.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const RATE = 136;
export const STATE_AT = 0;
export const RC_AT = 256;
export const BUF_AT = 512;
export const BUF_BLOCKS = 481;

// ---- Keccak constants, derived from the spec rather than typed in ----

/** FIPS 202 §3.2.5: the round constants from the degree-8 LFSR rc(t). */
function roundConstants() {
  let r = 1;
  const rc = (t) => {
    // rc(t) for t = 0, 1, 2, ... in sequence (the LFSR state carries over).
    void t;
    const bit = r & 1;
    r <<= 1;
    if (r & 0x100) r ^= 0x171;
    return bit;
  };
  const out = [];
  for (let i = 0; i < 24; i++) {
    let c = 0n;
    for (let j = 0; j < 7; j++) if (rc(7 * i + j)) c |= 1n << BigInt((1 << j) - 1);
    out.push(c);
  }
  return out;
}

/** FIPS 202 §3.2.2: ρ's offsets r[x + 5y]. */
function rhoOffsets() {
  const r = new Array(25).fill(0);
  let x = 1;
  let y = 0;
  for (let t = 0; t < 24; t++) {
    r[x + 5 * y] = (((t + 1) * (t + 2)) / 2) % 64;
    [x, y] = [y, (2 * x + 3 * y) % 5];
  }
  return r;
}

// ---- a tiny WebAssembly binary writer ----

const uleb = (n) => {
  const out = [];
  do {
    let b = n & 0x7f;
    n >>>= 7;
    if (n) b |= 0x80;
    out.push(b);
  } while (n);
  return out;
};
const sleb64 = (v) => {
  // v: BigInt, as a signed 64-bit value.
  v = BigInt.asIntN(64, v);
  const out = [];
  for (;;) {
    const b = Number(v & 0x7fn);
    v >>= 7n;
    if ((v === 0n && !(b & 0x40)) || (v === -1n && b & 0x40)) {
      out.push(b);
      return out;
    }
    out.push(b | 0x80);
  }
};
const sleb32 = (n) => sleb64(BigInt(n));
const str = (s) => [...uleb(s.length), ...new TextEncoder().encode(s)];
const section = (id, body) => [id, ...uleb(body.length), ...body];
const vec = (items) => [...uleb(items.length), ...items.flat()];

const I32 = 0x7f;
const I64 = 0x7e;
const op = {
  block: 0x02, loop: 0x03, br: 0x0c, br_if: 0x0d, end: 0x0b,
  get: 0x20, set: 0x21, tee: 0x22,
  i64load: 0x29, i64store: 0x37,
  i32const: 0x41, i64const: 0x42,
  i32eqz: 0x45, i32ne: 0x47, i32add: 0x6a, i32sub: 0x6b,
  i64and: 0x83, i64xor: 0x85, i64rotl: 0x89,
};

/** The absorb function's body (locals and code). */
function absorbBody() {
  // Locals: 0 ptr, 1 blocks (params); a0..a24, b0..b24, c0..c4, d0..d4 (i64); rnd (i32).
  const PTR = 0;
  const BLOCKS = 1;
  const A = (i) => 2 + i;
  const B = (i) => 27 + i;
  const C = (x) => 52 + x;
  const D = (x) => 57 + x;
  const RND = 62;
  const rho = rhoOffsets();
  const code = [];
  const emit = (...bytes) => code.push(...bytes);
  const get = (l) => emit(op.get, ...uleb(l));
  const set = (l) => emit(op.set, ...uleb(l));
  const load = (offset) => emit(op.i64load, 3, ...uleb(offset));
  const store = (offset) => emit(op.i64store, 3, ...uleb(offset));

  // Load the state into locals.
  for (let i = 0; i < 25; i++) {
    emit(op.i32const, ...sleb32(0));
    load(STATE_AT + 8 * i);
    set(A(i));
  }
  emit(op.block, 0x40); // $done
  emit(op.loop, 0x40); // $blocks
  get(BLOCKS);
  emit(op.i32eqz, op.br_if, 1);
  // XOR one block into the first 17 lanes.
  for (let i = 0; i < RATE / 8; i++) {
    get(A(i));
    get(PTR);
    load(8 * i);
    emit(op.i64xor);
    set(A(i));
  }
  emit(op.i32const, ...sleb32(0));
  set(RND);
  emit(op.loop, 0x40); // $rounds
  // θ: column parities C[x], then D[x] = C[x-1] ^ rotl(C[x+1], 1).
  for (let x = 0; x < 5; x++) {
    get(A(x));
    for (let y = 1; y < 5; y++) {
      get(A(x + 5 * y));
      emit(op.i64xor);
    }
    set(C(x));
  }
  for (let x = 0; x < 5; x++) {
    get(C((x + 4) % 5));
    get(C((x + 1) % 5));
    emit(op.i64const, ...sleb64(1n), op.i64rotl, op.i64xor);
    set(D(x));
  }
  // θ applied, ρ and π: B[y, 2x+3y] = rotl(A[x,y] ^ D[x], r[x,y]).
  for (let y = 0; y < 5; y++) {
    for (let x = 0; x < 5; x++) {
      const i = x + 5 * y;
      get(A(i));
      get(D(x));
      emit(op.i64xor);
      if (rho[i]) emit(op.i64const, ...sleb64(BigInt(rho[i])), op.i64rotl);
      set(B(y + 5 * ((2 * x + 3 * y) % 5)));
    }
  }
  // χ: A[x,y] = B[x,y] ^ (~B[x+1,y] & B[x+2,y]).
  for (let y = 0; y < 5; y++) {
    for (let x = 0; x < 5; x++) {
      get(B(x + 5 * y));
      get(B(((x + 1) % 5) + 5 * y));
      emit(op.i64const, ...sleb64(-1n), op.i64xor);
      get(B(((x + 2) % 5) + 5 * y));
      emit(op.i64and, op.i64xor);
      set(A(x + 5 * y));
    }
  }
  // ι: A[0,0] ^= RC[round] (rnd counts bytes into the table).
  get(A(0));
  get(RND);
  load(RC_AT);
  emit(op.i64xor);
  set(A(0));
  get(RND);
  emit(op.i32const, ...sleb32(8), op.i32add, op.tee, ...uleb(RND));
  emit(op.i32const, ...sleb32(24 * 8), op.i32ne, op.br_if, 0);
  emit(op.end); // $rounds
  // Next block.
  get(PTR);
  emit(op.i32const, ...sleb32(RATE), op.i32add);
  set(PTR);
  get(BLOCKS);
  emit(op.i32const, ...sleb32(1), op.i32sub);
  set(BLOCKS);
  emit(op.br, 0);
  emit(op.end); // $blocks
  emit(op.end); // $done
  // Store the state back.
  for (let i = 0; i < 25; i++) {
    emit(op.i32const, ...sleb32(0));
    get(A(i));
    store(STATE_AT + 8 * i);
  }
  emit(op.end);
  const locals = vec([[...uleb(60), I64], [...uleb(1), I32]]);
  const body = [...locals, ...code];
  return [...uleb(body.length), ...body];
}

/** The whole module's bytes. */
export function keccakWasm() {
  const rcBytes = [];
  for (const c of roundConstants()) for (let k = 0n; k < 64n; k += 8n) rcBytes.push(Number((c >> k) & 0xffn));
  const bytes = [
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
    // type 0: (i32, i32) -> ()
    ...section(1, vec([[0x60, ...vec([[I32], [I32]]), ...vec([])]])),
    // function 0 has type 0
    ...section(3, vec([[0]])),
    // memory 0: min 2, max 2 pages
    ...section(5, vec([[0x01, 2, 2]])),
    // exports: memory, absorb
    ...section(7, vec([[...str('memory'), 0x02, 0], [...str('absorb'), 0x00, 0]])),
    ...section(10, vec([absorbBody()])),
    // data: the round constants at RC_AT (active segment in memory 0)
    ...section(11, vec([[0x00, op.i32const, ...sleb32(RC_AT), op.end, ...uleb(rcBytes.length), ...rcBytes]])),
  ];
  return new Uint8Array(bytes);
}

const OUT = join(dirname(fileURLToPath(import.meta.url)), '..', 'worker', 'keccak.wasm');

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const bytes = keccakWasm();
  if (process.argv.includes('--check')) {
    const same = Buffer.compare(readFileSync(OUT), Buffer.from(bytes)) === 0;
    console.log(same ? `${OUT} is up to date` : `${OUT} differs from the generator's output`);
    process.exit(same ? 0 : 1);
  }
  writeFileSync(OUT, bytes);
  console.log(`wrote ${OUT} (${bytes.length} bytes)`);
}
