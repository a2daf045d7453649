/**
 * Benchmark harness. Each suite (bench/*.bench.ts) exports `suite: BenchSuite`,
 * measuring our code and the native reference on the same data in the same run.
 * bench/run.ts runs them all and writes BENCHMARKS.md.
 */
export interface BenchRow {
  /** Section in BENCHMARKS.md, e.g. "hashing". */
  group: string;
  /** What was measured, e.g. "SHA-1 (native injected)". */
  name: string;
  /** Bytes processed per run (for MB/s). */
  bytes: number;
  /** Best wall time of ours, in seconds. */
  seconds: number;
  /** The native reference, e.g. "sha1sum", and its best time on the same data. */
  reference?: { name: string; seconds: number };
  /** The goal as a max time ratio ours/reference (e.g. 1.25), if the issue sets one. */
  goal?: number;
  note?: string;
}

/** A section with its own columns (e.g. end-to-end comparisons that are not MB/s). */
export interface BenchTable {
  /** Section in BENCHMARKS.md. */
  group: string;
  /** Paragraph lines printed before the table. */
  intro: string[];
  header: string[];
  rows: string[][];
}

/** What a suite returns: MB/s rows, and optionally whole tables. */
export interface BenchResult {
  rows: BenchRow[];
  tables: BenchTable[];
}

export type BenchSuite = () => Promise<BenchRow[] | BenchResult>;

/** Best of `runs` wall-clock times of fn, in seconds (after one warm-up). */
export async function best(fn: () => unknown | Promise<unknown>, runs = 5): Promise<number> {
  await fn();
  let min = Infinity;
  for (let i = 0; i < runs; i++) {
    const t = performance.now();
    await fn();
    min = Math.min(min, (performance.now() - t) / 1000);
  }
  return min;
}

/** Deterministic pseudo-random bytes (xorshift), so runs compare like with like. */
export { randomBytes } from '../test/random-bytes.js';

/** Text-like bytes (compressible, line-structured): what source files look like. */
export function textBytes(n: number, seed = 1): Uint8Array {
  const words = ['const', 'return', 'function', 'value', 'delta', 'object', 'stream', '=', '{', '}', '(', ')', ';', 'if', 'else'];
  const out = new Uint8Array(n);
  let x = seed >>> 0 || 1;
  let i = 0;
  while (i < n) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    const w = (x >>> 0) % 23 === 0 ? '\n' : `${words[(x >>> 0) % words.length]} `;
    for (let k = 0; k < w.length && i < n; k++) out[i++] = w.charCodeAt(k);
  }
  return out;
}
