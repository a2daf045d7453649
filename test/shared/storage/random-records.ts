/** `n` deterministic records of 1..700 pseudo-random bytes (an LCG from `seed`). */
export function records(n: number, seed: number): Uint8Array[] {
  let x = seed;
  const next = () => ((x = (Math.imul(x, 1103515245) + 12345) >>> 0), x >>> 8);
  return Array.from({ length: n }, () => {
    const r = new Uint8Array(1 + (next() % 700));
    for (let i = 0; i < r.length; i++) r[i] = next() & 0xff;
    return r;
  });
}
