/**
 * Hashing: the pure-JS hashers on @noble/hashes (the default Primitives; runtimes
 * inject native ones, see worker/native-hash.ts) and one-shot helpers.
 *
 * Git names objects by SHA-1 (or SHA-256 in sha256 repositories); Fossil names
 * artifacts by SHA-1 or SHA3-256.
 */
import { sha1 } from '@noble/hashes/legacy.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { toHex } from './bytes.js';
import type { HashAlgorithm, Hasher, Primitives } from './primitives.js';

/** Digest length in bytes of each algorithm. */
export const HASH_LENGTH: Readonly<Record<HashAlgorithm, number>> = { sha1: 20, sha256: 32, 'sha3-256': 32 };

const noble = { sha1, sha256 } as const;

/**
 * A pure-JS incremental hasher: @noble/hashes for SHA-1 and SHA-256, and the
 * unrolled Keccak below for SHA3-256 (about 3x @noble's; it matters because
 * workerd's node:crypto has no SHA3 and Fossil names artifacts with it).
 */
export function pureHash(algorithm: HashAlgorithm): Hasher {
  if (algorithm === 'sha3-256') return sha3_256Hasher();
  const h = noble[algorithm].create();
  const hasher: Hasher = {
    update(data) {
      h.update(data);
      return hasher;
    },
    digest: () => h.digest(),
  };
  return hasher;
}

/** The digest of `data` (one or more chunks) with the injected hashers. */
export function digest(p: Primitives, algorithm: HashAlgorithm, data: Uint8Array | readonly Uint8Array[]): Uint8Array {
  const h = p.hash(algorithm);
  if (data instanceof Uint8Array) h.update(data);
  else for (const chunk of data) h.update(chunk);
  return h.digest();
}

/** The digest of `data` as lowercase hex. */
export function digestHex(p: Primitives, algorithm: HashAlgorithm, data: Uint8Array | readonly Uint8Array[]): string {
  return toHex(digest(p, algorithm, data));
}

// SHA3-256 round constants (FIPS 202 §3.2.5), high and low 32-bit halves.
const RC = [
  '0000000000000001', '0000000000008082', '800000000000808a', '8000000080008000', '000000000000808b', '0000000080000001',
  '8000000080008081', '8000000000008009', '000000000000008a', '0000000000000088', '0000000080008009', '000000008000000a',
  '000000008000808b', '800000000000008b', '8000000000008089', '8000000000008003', '8000000000008002', '8000000000000080',
  '000000000000800a', '800000008000000a', '8000000080008081', '8000000000008080', '0000000080000001', '8000000080008008',
];
const RC_H = Int32Array.from(RC, (h) => parseInt(h.slice(0, 8), 16) | 0);
const RC_L = Int32Array.from(RC, (h) => parseInt(h.slice(8), 16) | 0);

/** SHA3-256's rate: 1600 - 2 x 256 bits = 136 bytes per block. */
const SHA3_256_RATE = 136;

/** SHA3-256 (FIPS 202) on an unrolled Keccak-f[1600] over 32-bit halves of each lane. */
export function sha3_256Hasher(): Hasher {
  const state = new Int32Array(50);
  const block = new Uint8Array(SHA3_256_RATE);
  let filled = 0;
  let done = false;
  const absorb = (b: Uint8Array, at: number) => {
    for (let w = 0; w < SHA3_256_RATE / 4; w++) {
      const i = at + 4 * w;
      state[w] ^= b[i] | (b[i + 1] << 8) | (b[i + 2] << 16) | (b[i + 3] << 24);
    }
    keccakF1600(state);
  };
  const hasher: Hasher = {
    update(data) {
      if (done) throw new Error('digest already taken');
      let pos = 0;
      if (filled > 0) {
        const k = Math.min(SHA3_256_RATE - filled, data.length);
        block.set(data.subarray(0, k), filled);
        filled += k;
        pos = k;
        if (filled < SHA3_256_RATE) return hasher;
        absorb(block, 0);
        filled = 0;
      }
      for (; pos + SHA3_256_RATE <= data.length; pos += SHA3_256_RATE) absorb(data, pos);
      block.set(data.subarray(pos), 0);
      filled = data.length - pos;
      return hasher;
    },
    digest() {
      if (done) throw new Error('digest already taken');
      done = true;
      // Padding: the SHA-3 domain bits 01, then pad10*1.
      block.fill(0, filled);
      block[filled] ^= 0x06;
      block[SHA3_256_RATE - 1] ^= 0x80;
      absorb(block, 0);
      const out = new Uint8Array(32);
      for (let w = 0; w < 8; w++) {
        const v = state[w];
        out[4 * w] = v;
        out[4 * w + 1] = v >>> 8;
        out[4 * w + 2] = v >>> 16;
        out[4 * w + 3] = v >>> 24;
      }
      return out;
    },
  };
  return hasher;
}

/**
 * Keccak-f[1600] (FIPS 202 §3.3) with each 64-bit lane in two int32 halves held
 * in locals (a<i>h/a<i>l for lane i = x + 5y; s[2i] is the low half). Unrolled
 * because JS has no 64-bit ints and indexed state costs ~3x: every line follows
 * from the spec's tables, θ's column parities, ρ's offsets r[x,y], π's move of
 * lane (x,y) to (y, 2x+3y), χ along rows and ι's constant on lane 0; the tests
 * check it against node:crypto and the FIPS vectors.
 */
function keccakF1600(s: Int32Array): void {
  let a0h = s[1], a0l = s[0];
  let a1h = s[3], a1l = s[2];
  let a2h = s[5], a2l = s[4];
  let a3h = s[7], a3l = s[6];
  let a4h = s[9], a4l = s[8];
  let a5h = s[11], a5l = s[10];
  let a6h = s[13], a6l = s[12];
  let a7h = s[15], a7l = s[14];
  let a8h = s[17], a8l = s[16];
  let a9h = s[19], a9l = s[18];
  let a10h = s[21], a10l = s[20];
  let a11h = s[23], a11l = s[22];
  let a12h = s[25], a12l = s[24];
  let a13h = s[27], a13l = s[26];
  let a14h = s[29], a14l = s[28];
  let a15h = s[31], a15l = s[30];
  let a16h = s[33], a16l = s[32];
  let a17h = s[35], a17l = s[34];
  let a18h = s[37], a18l = s[36];
  let a19h = s[39], a19l = s[38];
  let a20h = s[41], a20l = s[40];
  let a21h = s[43], a21l = s[42];
  let a22h = s[45], a22l = s[44];
  let a23h = s[47], a23l = s[46];
  let a24h = s[49], a24l = s[48];
  for (let round = 0; round < 24; round++) {
    // θ
    const c0h = a0h ^ a5h ^ a10h ^ a15h ^ a20h, c0l = a0l ^ a5l ^ a10l ^ a15l ^ a20l;
    const c1h = a1h ^ a6h ^ a11h ^ a16h ^ a21h, c1l = a1l ^ a6l ^ a11l ^ a16l ^ a21l;
    const c2h = a2h ^ a7h ^ a12h ^ a17h ^ a22h, c2l = a2l ^ a7l ^ a12l ^ a17l ^ a22l;
    const c3h = a3h ^ a8h ^ a13h ^ a18h ^ a23h, c3l = a3l ^ a8l ^ a13l ^ a18l ^ a23l;
    const c4h = a4h ^ a9h ^ a14h ^ a19h ^ a24h, c4l = a4l ^ a9l ^ a14l ^ a19l ^ a24l;
    const d0h = c4h ^ ((c1h << 1) | (c1l >>> 31)), d0l = c4l ^ ((c1l << 1) | (c1h >>> 31));
    const d1h = c0h ^ ((c2h << 1) | (c2l >>> 31)), d1l = c0l ^ ((c2l << 1) | (c2h >>> 31));
    const d2h = c1h ^ ((c3h << 1) | (c3l >>> 31)), d2l = c1l ^ ((c3l << 1) | (c3h >>> 31));
    const d3h = c2h ^ ((c4h << 1) | (c4l >>> 31)), d3l = c2l ^ ((c4l << 1) | (c4h >>> 31));
    const d4h = c3h ^ ((c0h << 1) | (c0l >>> 31)), d4l = c3l ^ ((c0l << 1) | (c0h >>> 31));
    // ρ and π: b[y, 2x+3y] = rotl(a[x, y] ^ d[x], r[x, y])
    const b0h = a0h ^ d0h, b0l = a0l ^ d0l;
    const t1h = a1h ^ d1h, t1l = a1l ^ d1l;
    const b10h = (t1h << 1) | (t1l >>> 31), b10l = (t1l << 1) | (t1h >>> 31);
    const t2h = a2h ^ d2h, t2l = a2l ^ d2l;
    const b20h = (t2l << 30) | (t2h >>> 2), b20l = (t2h << 30) | (t2l >>> 2);
    const t3h = a3h ^ d3h, t3l = a3l ^ d3l;
    const b5h = (t3h << 28) | (t3l >>> 4), b5l = (t3l << 28) | (t3h >>> 4);
    const t4h = a4h ^ d4h, t4l = a4l ^ d4l;
    const b15h = (t4h << 27) | (t4l >>> 5), b15l = (t4l << 27) | (t4h >>> 5);
    const t5h = a5h ^ d0h, t5l = a5l ^ d0l;
    const b16h = (t5l << 4) | (t5h >>> 28), b16l = (t5h << 4) | (t5l >>> 28);
    const t6h = a6h ^ d1h, t6l = a6l ^ d1l;
    const b1h = (t6l << 12) | (t6h >>> 20), b1l = (t6h << 12) | (t6l >>> 20);
    const t7h = a7h ^ d2h, t7l = a7l ^ d2l;
    const b11h = (t7h << 6) | (t7l >>> 26), b11l = (t7l << 6) | (t7h >>> 26);
    const t8h = a8h ^ d3h, t8l = a8l ^ d3l;
    const b21h = (t8l << 23) | (t8h >>> 9), b21l = (t8h << 23) | (t8l >>> 9);
    const t9h = a9h ^ d4h, t9l = a9l ^ d4l;
    const b6h = (t9h << 20) | (t9l >>> 12), b6l = (t9l << 20) | (t9h >>> 12);
    const t10h = a10h ^ d0h, t10l = a10l ^ d0l;
    const b7h = (t10h << 3) | (t10l >>> 29), b7l = (t10l << 3) | (t10h >>> 29);
    const t11h = a11h ^ d1h, t11l = a11l ^ d1l;
    const b17h = (t11h << 10) | (t11l >>> 22), b17l = (t11l << 10) | (t11h >>> 22);
    const t12h = a12h ^ d2h, t12l = a12l ^ d2l;
    const b2h = (t12l << 11) | (t12h >>> 21), b2l = (t12h << 11) | (t12l >>> 21);
    const t13h = a13h ^ d3h, t13l = a13l ^ d3l;
    const b12h = (t13h << 25) | (t13l >>> 7), b12l = (t13l << 25) | (t13h >>> 7);
    const t14h = a14h ^ d4h, t14l = a14l ^ d4l;
    const b22h = (t14l << 7) | (t14h >>> 25), b22l = (t14h << 7) | (t14l >>> 25);
    const t15h = a15h ^ d0h, t15l = a15l ^ d0l;
    const b23h = (t15l << 9) | (t15h >>> 23), b23l = (t15h << 9) | (t15l >>> 23);
    const t16h = a16h ^ d1h, t16l = a16l ^ d1l;
    const b8h = (t16l << 13) | (t16h >>> 19), b8l = (t16h << 13) | (t16l >>> 19);
    const t17h = a17h ^ d2h, t17l = a17l ^ d2l;
    const b18h = (t17h << 15) | (t17l >>> 17), b18l = (t17l << 15) | (t17h >>> 17);
    const t18h = a18h ^ d3h, t18l = a18l ^ d3l;
    const b3h = (t18h << 21) | (t18l >>> 11), b3l = (t18l << 21) | (t18h >>> 11);
    const t19h = a19h ^ d4h, t19l = a19l ^ d4l;
    const b13h = (t19h << 8) | (t19l >>> 24), b13l = (t19l << 8) | (t19h >>> 24);
    const t20h = a20h ^ d0h, t20l = a20l ^ d0l;
    const b14h = (t20h << 18) | (t20l >>> 14), b14l = (t20l << 18) | (t20h >>> 14);
    const t21h = a21h ^ d1h, t21l = a21l ^ d1l;
    const b24h = (t21h << 2) | (t21l >>> 30), b24l = (t21l << 2) | (t21h >>> 30);
    const t22h = a22h ^ d2h, t22l = a22l ^ d2l;
    const b9h = (t22l << 29) | (t22h >>> 3), b9l = (t22h << 29) | (t22l >>> 3);
    const t23h = a23h ^ d3h, t23l = a23l ^ d3l;
    const b19h = (t23l << 24) | (t23h >>> 8), b19l = (t23h << 24) | (t23l >>> 8);
    const t24h = a24h ^ d4h, t24l = a24l ^ d4l;
    const b4h = (t24h << 14) | (t24l >>> 18), b4l = (t24l << 14) | (t24h >>> 18);
    // χ and ι
    a0h = b0h ^ (~b1h & b2h) ^ RC_H[round];
    a0l = b0l ^ (~b1l & b2l) ^ RC_L[round];
    a1h = b1h ^ (~b2h & b3h);
    a1l = b1l ^ (~b2l & b3l);
    a2h = b2h ^ (~b3h & b4h);
    a2l = b2l ^ (~b3l & b4l);
    a3h = b3h ^ (~b4h & b0h);
    a3l = b3l ^ (~b4l & b0l);
    a4h = b4h ^ (~b0h & b1h);
    a4l = b4l ^ (~b0l & b1l);
    a5h = b5h ^ (~b6h & b7h);
    a5l = b5l ^ (~b6l & b7l);
    a6h = b6h ^ (~b7h & b8h);
    a6l = b6l ^ (~b7l & b8l);
    a7h = b7h ^ (~b8h & b9h);
    a7l = b7l ^ (~b8l & b9l);
    a8h = b8h ^ (~b9h & b5h);
    a8l = b8l ^ (~b9l & b5l);
    a9h = b9h ^ (~b5h & b6h);
    a9l = b9l ^ (~b5l & b6l);
    a10h = b10h ^ (~b11h & b12h);
    a10l = b10l ^ (~b11l & b12l);
    a11h = b11h ^ (~b12h & b13h);
    a11l = b11l ^ (~b12l & b13l);
    a12h = b12h ^ (~b13h & b14h);
    a12l = b12l ^ (~b13l & b14l);
    a13h = b13h ^ (~b14h & b10h);
    a13l = b13l ^ (~b14l & b10l);
    a14h = b14h ^ (~b10h & b11h);
    a14l = b14l ^ (~b10l & b11l);
    a15h = b15h ^ (~b16h & b17h);
    a15l = b15l ^ (~b16l & b17l);
    a16h = b16h ^ (~b17h & b18h);
    a16l = b16l ^ (~b17l & b18l);
    a17h = b17h ^ (~b18h & b19h);
    a17l = b17l ^ (~b18l & b19l);
    a18h = b18h ^ (~b19h & b15h);
    a18l = b18l ^ (~b19l & b15l);
    a19h = b19h ^ (~b15h & b16h);
    a19l = b19l ^ (~b15l & b16l);
    a20h = b20h ^ (~b21h & b22h);
    a20l = b20l ^ (~b21l & b22l);
    a21h = b21h ^ (~b22h & b23h);
    a21l = b21l ^ (~b22l & b23l);
    a22h = b22h ^ (~b23h & b24h);
    a22l = b22l ^ (~b23l & b24l);
    a23h = b23h ^ (~b24h & b20h);
    a23l = b23l ^ (~b24l & b20l);
    a24h = b24h ^ (~b20h & b21h);
    a24l = b24l ^ (~b20l & b21l);
  }
  s[1] = a0h;
  s[0] = a0l;
  s[3] = a1h;
  s[2] = a1l;
  s[5] = a2h;
  s[4] = a2l;
  s[7] = a3h;
  s[6] = a3l;
  s[9] = a4h;
  s[8] = a4l;
  s[11] = a5h;
  s[10] = a5l;
  s[13] = a6h;
  s[12] = a6l;
  s[15] = a7h;
  s[14] = a7l;
  s[17] = a8h;
  s[16] = a8l;
  s[19] = a9h;
  s[18] = a9l;
  s[21] = a10h;
  s[20] = a10l;
  s[23] = a11h;
  s[22] = a11l;
  s[25] = a12h;
  s[24] = a12l;
  s[27] = a13h;
  s[26] = a13l;
  s[29] = a14h;
  s[28] = a14l;
  s[31] = a15h;
  s[30] = a15l;
  s[33] = a16h;
  s[32] = a16l;
  s[35] = a17h;
  s[34] = a17l;
  s[37] = a18h;
  s[36] = a18l;
  s[39] = a19h;
  s[38] = a19l;
  s[41] = a20h;
  s[40] = a20l;
  s[43] = a21h;
  s[42] = a21l;
  s[45] = a22h;
  s[44] = a22l;
  s[47] = a23h;
  s[46] = a23l;
  s[49] = a24h;
  s[48] = a24l;
}
