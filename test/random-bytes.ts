/**
 * Deterministic pseudo-random bytes (xorshift32), so runs compare like with
 * like. Runtime-neutral (no node:* imports): test/worker/ tests import it
 * inside workerd; bench/harness.ts re-exports it.
 */
export function randomBytes(n: number, seed = 1): Uint8Array {
  const out = new Uint8Array(n);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}
