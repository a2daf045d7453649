/**
 * Delta engines: our Fossil delta create/apply against fossil 2.21's own
 * (`fossil test-delta-create` / `test-delta-apply`) on the same 32 MB text and
 * an edited copy, plus translation and streaming apply (no native reference).
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { applyFossilDelta, createFossilDelta } from '../shared/delta/fossil.js';
import { applyGitDelta } from '../shared/delta/git.js';
import { applyDeltaStream } from '../shared/delta/stream.js';
import { fossilToGitDelta, gitToFossilDelta } from '../shared/delta/translate.js';
import { type BenchRow, type BenchSuite, best, textBytes } from './harness.js';

const SIZE = 32 * 1024 * 1024;

// The target: the base with an edit every ~64 KB (a replaced word, an insertion
// or a deletion), about what a new version of a large file looks like.
function edited(base: Uint8Array): Uint8Array {
  const out = new Uint8Array(base.length + base.length / 1024);
  const note = new TextEncoder().encode('/* edited here */');
  let i = 0;
  let o = 0;
  for (let k = 0; i < base.length; k++) {
    const run = Math.min(65_536 + ((k * 7919) % 4096), base.length - i);
    out.set(base.subarray(i, i + run), o);
    o += run;
    i += run;
    if (k % 3 === 0) {
      out.set(note, o);
      o += note.length;
    } else if (k % 3 === 1) i += 40;
    else {
      out.set(note, o);
      o += note.length;
      i += note.length;
    }
  }
  return out.slice(0, o);
}

function fossilSeconds(args: string[], cwd: string): number {
  const t = performance.now();
  execFileSync('fossil', args, { cwd, env: { ...process.env, HOME: cwd }, stdio: 'ignore' });
  return (performance.now() - t) / 1000;
}

async function bestFossil(args: string[], cwd: string, runs = 5): Promise<number> {
  fossilSeconds(args, cwd);
  let min = Infinity;
  for (let i = 0; i < runs; i++) min = Math.min(min, fossilSeconds(args, cwd));
  return min;
}

/** The suite: MB/s of the target size for each operation. */
export const suite: BenchSuite = async () => {
  const base = textBytes(SIZE, 7);
  const target = edited(base);
  const delta = createFossilDelta(base, target);
  const gitDelta = fossilToGitDelta(delta, base.length);
  const dir = mkdtempSync(join(tmpdir(), 'delta-bench-'));
  const rows: BenchRow[] = [];
  const group = 'delta';
  const startup = fossilSeconds(['version'], dir);
  const note = `32 MB text, edit every ~64 KB, delta ${delta.length} B; fossil time is the whole process (start-up ~${(startup * 1000).toFixed(0)} ms, reading and writing the files)`;
  try {
    writeFileSync(join(dir, 'base'), base);
    writeFileSync(join(dir, 'target'), target);
    writeFileSync(join(dir, 'delta'), delta);
    rows.push({
      group,
      name: 'createFossilDelta',
      bytes: target.length,
      seconds: await best(() => createFossilDelta(base, target), 3),
      reference: { name: 'fossil test-delta-create', seconds: await bestFossil(['test-delta-create', 'base', 'target', 'out.delta'], dir, 3) },
      goal: 2,
      note,
    });
    rows.push({
      group,
      name: 'applyFossilDelta (checksum verified)',
      bytes: target.length,
      seconds: await best(() => applyFossilDelta(base, delta)),
      reference: { name: 'fossil test-delta-apply', seconds: await bestFossil(['test-delta-apply', 'base', 'delta', 'out.target'], dir) },
      goal: 2,
      note: `${note}; fossil does not verify the checksum`,
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  rows.push({
    group,
    name: 'applyDeltaStream fossil (64 KB chunks)',
    bytes: target.length,
    seconds: await best(async () => {
      for await (const chunk of applyDeltaStream(base, delta, 'fossil')) void chunk;
    }),
  });
  rows.push({ group, name: 'applyGitDelta (same program)', bytes: target.length, seconds: await best(() => applyGitDelta(base, gitDelta)) });
  rows.push({ group, name: 'fossilToGitDelta', bytes: delta.length, seconds: await best(() => fossilToGitDelta(delta, base.length)), note: 'MB/s of delta bytes' });
  rows.push({
    group,
    name: 'gitToFossilDelta (checksums the target from base slices)',
    bytes: target.length,
    seconds: await best(() => gitToFossilDelta(gitDelta, base)),
  });
  return rows;
};
