// Cross-checks our Fossil delta against the real fossil 2.21 binary, both ways:
// every delta we create applies with `fossil test-delta-apply` to the exact
// target, and every delta `fossil test-delta-create` writes applies with ours
// (which also verifies its checksum). Fossil runs once per pair and direction,
// all from one shell script so process start-up is paid in one spawn.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { applyFossilDelta, createFossilDelta } from '../../../shared/delta/fossil.js';

interface Pair {
  kind: string;
  base: Uint8Array;
  target: Uint8Array;
}

const root = process.cwd();
const dir = mkdtempSync(join(tmpdir(), 'fossil-delta-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function rng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 2 ** 32;
  };
}

function randomBytes(n: number, r: () => number): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = (r() * 256) | 0;
  return out;
}

function textBytes(n: number, r: () => number): Uint8Array {
  const words = ['let', 'const', 'return', 'delta', 'fossil', 'base', 'target', '{', '}', '(x)', ';', '=', 'if', '\n', '\n  '];
  const parts: string[] = [];
  let len = 0;
  while (len < n) {
    const w = words[(r() * words.length) | 0] + ' ';
    parts.push(w);
    len += w.length;
  }
  return new TextEncoder().encode(parts.join('').slice(0, n));
}

// Insertions, deletions and replacements at random places (text or binary payloads).
function mutate(base: Uint8Array, edits: number, r: () => number, text: boolean): Uint8Array {
  let t = base;
  for (let e = 0; e < edits; e++) {
    const p = (r() * (t.length + 1)) | 0;
    const del = (r() * 64) | 0;
    const insLen = (r() * 64) | 0;
    const ins = text ? textBytes(insLen, r) : randomBytes(insLen, r);
    const kind = (r() * 3) | 0; // 0 insert, 1 delete, 2 replace
    const next = new Uint8Array(t.length + (kind === 1 ? 0 : ins.length));
    next.set(t.subarray(0, p));
    let o = p;
    if (kind !== 1) {
      next.set(ins, o);
      o += ins.length;
    }
    const rest = t.subarray(kind === 0 ? p : Math.min(t.length, p + del));
    next.set(rest, o);
    t = next.subarray(0, o + rest.length);
  }
  return t;
}

function pairs(): Pair[] {
  const r = rng(2024);
  const out: Pair[] = [];
  // Edge cases.
  const some = textBytes(5000, r);
  out.push({ kind: 'edge', base: new Uint8Array(0), target: new Uint8Array(0) });
  out.push({ kind: 'edge', base: new Uint8Array(0), target: some });
  out.push({ kind: 'edge', base: some, target: new Uint8Array(0) });
  out.push({ kind: 'edge', base: some, target: some });
  out.push({ kind: 'edge', base: some.subarray(0, 16), target: some.subarray(0, 100) });
  out.push({ kind: 'edge', base: some.subarray(0, 17), target: some.subarray(0, 100) });
  out.push({ kind: 'edge', base: some.subarray(0, 32), target: some.subarray(0, 32) });
  out.push({ kind: 'edge', base: some.subarray(0, 10), target: some.subarray(0, 10) });
  out.push({ kind: 'edge', base: randomBytes(3000, r), target: randomBytes(3000, r) });
  out.push({ kind: 'edge', base: new Uint8Array(10000), target: new Uint8Array(12000) });
  out.push({ kind: 'edge', base: new Uint8Array(4096).fill(0xff), target: new Uint8Array(4100).fill(0x80) });
  // Random pairs up to ~200 KB, related and unrelated.
  for (let i = 0; i < 60; i++) {
    const n = (r() ** 2 * 200_000) | 0;
    const base = i % 2 ? randomBytes(n, r) : textBytes(n, r);
    const target = i % 3 === 0 ? randomBytes((r() * 200_000) | 0, r) : base.slice((r() * n) | 0).reverse();
    out.push({ kind: 'random', base, target });
  }
  // Mutated pairs, text and binary.
  for (let i = 0; i < 160; i++) {
    const text = i % 2 === 0;
    const n = 17 + ((r() ** 2 * 150_000) | 0);
    const base = text ? textBytes(n, r) : randomBytes(n, r);
    out.push({ kind: text ? 'mutated-text' : 'mutated-binary', base, target: mutate(base, 1 + ((r() * 20) | 0), r, text) });
  }
  // Real file versions: successive versions of files in this repository's history.
  const git = (...args: string[]) => execFileSync('git', args, { cwd: root, maxBuffer: 1 << 28, stdio: ['ignore', 'pipe', 'ignore'] });
  const revs = git('rev-list', '--max-count=40', 'HEAD').toString().trim().split('\n').filter(Boolean);
  for (const rev of revs) {
    let changed: string[] = [];
    try {
      changed = git('diff', '--name-only', '--diff-filter=M', `${rev}^`, rev).toString().trim().split('\n').filter(Boolean);
    } catch {
      continue; // root commit
    }
    for (const path of changed.slice(0, 10)) {
      out.push({ kind: 'git-history', base: git('show', `${rev}^:${path}`), target: git('show', `${rev}:${path}`) });
    }
  }
  // Real related files: TypeScript's localized messages (same keys, other language),
  // its two compiler bundles (several MB each), and an edited copy of the big one.
  const ts = join(root, 'node_modules/typescript/lib');
  const langs = readdirSync(ts).filter((d) => existsSync(join(ts, d, 'diagnosticMessages.generated.json')));
  for (let i = 0; i + 1 < langs.length && i < 6; i++) {
    out.push({
      kind: 'real-files',
      base: readFileSync(join(ts, langs[i], 'diagnosticMessages.generated.json')),
      target: readFileSync(join(ts, langs[i + 1], 'diagnosticMessages.generated.json')),
    });
  }
  const big = readFileSync(join(ts, 'typescript.js'));
  out.push({ kind: 'large', base: readFileSync(join(ts, '_tsc.js')), target: big });
  out.push({ kind: 'large', base: big, target: mutate(big, 200, r, true) });
  return out;
}

describe('fossil delta vs fossil 2.21', () => {
  const all = pairs();

  it('applies each way to the exact target, with the same deltas as fossil', () => {
    expect(statSync(dir).isDirectory()).toBe(true);
    const deltas: Uint8Array[] = [];
    for (const [i, p] of all.entries()) {
      writeFileSync(join(dir, `${i}.a`), p.base);
      writeFileSync(join(dir, `${i}.t`), p.target);
      const d = createFossilDelta(p.base, p.target);
      deltas.push(d);
      writeFileSync(join(dir, `${i}.ours`), d);
    }
    const script = `for i in $(seq 0 ${all.length - 1}); do
      fossil test-delta-create $i.a $i.t $i.theirs || echo "create failed $i"
      fossil test-delta-apply $i.a $i.ours $i.out || echo "apply failed $i"
    done`;
    const log = execFileSync('sh', ['-c', script], { cwd: dir, env: { ...process.env, HOME: dir }, maxBuffer: 1 << 26, stdio: ['ignore', 'pipe', 'pipe'] }).toString();
    expect(log).not.toMatch(/failed/);

    const stats = new Map<string, { n: number; ours: number; theirs: number; identical: number }>();
    for (const [i, p] of all.entries()) {
      const out = readFileSync(join(dir, `${i}.out`));
      expect(Buffer.compare(out, p.target), `fossil applying our delta, pair ${i} (${p.kind})`).toBe(0);
      const theirs = readFileSync(join(dir, `${i}.theirs`));
      const mine = applyFossilDelta(p.base, new Uint8Array(theirs.buffer, theirs.byteOffset, theirs.length));
      expect(Buffer.compare(mine, p.target), `us applying fossil's delta, pair ${i} (${p.kind})`).toBe(0);
      const s = stats.get(p.kind) ?? { n: 0, ours: 0, theirs: 0, identical: 0 };
      s.n++;
      s.ours += deltas[i].length;
      s.theirs += theirs.length;
      if (Buffer.compare(deltas[i], theirs) === 0) s.identical++;
      stats.set(p.kind, s);
    }
    let oursTotal = 0;
    let theirsTotal = 0;
    for (const [kind, s] of stats) {
      oursTotal += s.ours;
      theirsTotal += s.theirs;
      console.log(`${kind}: ${s.n} pairs, our deltas ${s.ours} B, fossil's ${s.theirs} B, ratio ${(s.ours / s.theirs).toFixed(4)}, byte-identical ${s.identical}/${s.n}`);
    }
    console.log(`all: ${all.length} pairs, size ratio ours/fossil ${(oursTotal / theirsTotal).toFixed(4)}`);
    // We run fossil's own algorithm (same hash, same candidate order and limits):
    // the deltas come out byte for byte as fossil writes them.
    expect(oursTotal / theirsTotal).toBeLessThanOrEqual(1.0);
    expect([...stats.values()].reduce((n, s) => n + s.identical, 0)).toBe(all.length);
    expect(all.length).toBeGreaterThan(250);
  });
});
