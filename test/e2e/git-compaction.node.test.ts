// Git segment compaction with the real git: a repository built by many small pushes (one segment
// each) on a hub that compacts only past that many small segments (HUB_GIT_COMPACT_AFTER), cloned;
// then one more push arms the alarm (worker/durable/git-compact.ts), which copies the small
// segments into a few; the clone after it has every ref and object (git fsck --full) and reads a
// few segments instead of one per push. COMPACT_E2E_PUSHES=300 measures a bigger one.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { gitIn, lsRemote, setupRepos, writerUrl } from './hub-client.js';
import { startHub, type Hub } from './hub-server.js';

const PUSHES = Number(process.env.COMPACT_E2E_PUSHES ?? 100);

let hub: Hub;
let home: string;
let state: string;
let work: string;
let ok: ReturnType<typeof gitIn>['ok'];

/** The Durable Objects' SQLite files under the state directory. */
function sqliteFiles(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...sqliteFiles(p));
    else if (name.endsWith('.sqlite') && p.includes(join('v3', 'do'))) out.push(p);
  }
  return out;
}

/** One number from the repository DO's SQLite (the DO with the most git objects: others, e.g. /healthz's, have none), read beside the running hub. */
function doQuery(sql: string): number {
  const count = (file: string) => Number(spawnSync('sqlite3', ['-readonly', file, `SELECT count(*) FROM objects`], { encoding: 'utf8' }).stdout.trim() || 0);
  const file = sqliteFiles(state).sort((a, b) => count(b) - count(a))[0];
  if (file === undefined || count(file) === 0) throw new Error('no repository DO SQLite found');
  const r = spawnSync('sqlite3', ['-readonly', file, sql], { encoding: 'utf8' });
  expect(r.status, r.stderr).toBe(0);
  return Number(r.stdout.trim());
}

/** Segments a full clone reads (each with one R2 get while its records lie within 16 MiB): those holding objects. */
const segmentsInUse = () => doQuery(`SELECT count(DISTINCT segment) FROM objects`);

/** CPU seconds (utime + stime) of the workerd serving the hub (found by its port; NaN when not found): the hub and miniflare's simulators. */
function hubCpu(): number {
  const port = new URL(hub.url).port;
  const pid = /pid=(\d+)/.exec(spawnSync('ss', ['-ltnpH', `sport = :${port}`], { encoding: 'utf8' }).stdout ?? '')?.[1];
  if (pid === undefined) return NaN;
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/**
 * Clones into a new directory (checked: fsck --full, every ref equal to the pusher's), then twice
 * more: the best wall time and the least workerd CPU of the three.
 */
function cloneAndCheck(dir: string): { wall: number; cpu: number } {
  let best = Infinity;
  let cpu = Infinity;
  for (let run = 0; run < 3; run++) {
    const to = run === 0 ? dir : `${dir}-${run}`;
    const c0 = hubCpu();
    const t0 = performance.now();
    ok(['clone', '-q', '--mirror', writerUrl(hub, 'many'), to]);
    best = Math.min(best, performance.now() - t0);
    cpu = Math.min(cpu, hubCpu() - c0);
  }
  ok(['fsck', '--full', '--no-dangling'], dir);
  const refs = (cwd: string) => ok(['for-each-ref', '--format=%(refname) %(objectname)', 'refs/heads', 'refs/tags'], cwd);
  expect(refs(dir)).toBe(refs(work));
  expect(ok(['rev-list', '--objects', '--all'], dir).split('\n').length).toBe(ok(['rev-list', '--objects', '--all'], work).split('\n').length);
  return { wall: best, cpu };
}

/** A commit changing one line of a 4 KiB file (git sends the new blob as a delta on the last one), pushed. */
function pushOne(i: number): void {
  const lines = Array.from({ length: 100 }, (_, k) => `line ${k} of a file that changes one line per push${k === i % 100 ? ` (push ${i})` : ''}`);
  writeFileSync(join(work, `file${i % 3}.txt`), lines.join('\n') + '\n');
  ok(['add', '-A'], work);
  ok(['commit', '-q', '-m', `push ${i}`], work);
  if (i % 25 === 0) ok(['tag', `v${i}`], work);
  // The hub's URL, not a remote's: a restarted hub listens on another port.
  ok(['push', '-q', '--tags', writerUrl(hub, 'many'), 'main'], work);
}

beforeAll(async () => {
  home = mkdtempSync(join(tmpdir(), 'git-compaction-'));
  state = join(home, 'state');
  ({ ok } = gitIn(home));
  // No compaction until more than PUSHES small segments exist.
  hub = await startHub({ state, vars: { HUB_GIT_COMPACT_AFTER: String(PUSHES) } });
  await setupRepos(hub, ['many']);
  work = join(home, 'work');
  ok(['init', '-q', '-b', 'main', work]);
}, 180_000);

afterAll(async () => {
  await hub?.stop();
  if (home) rmSync(home, { recursive: true, force: true });
});

describe('git segment compaction, with git', () => {
  it(`compacts a repository of ${PUSHES} small pushes; clones before and after are complete, the one after reads a few segments`, async () => {
    const t0 = performance.now();
    for (let i = 0; i < PUSHES; i++) pushOne(i);
    const pushWall = performance.now() - t0;
    const before = segmentsInUse();
    expect(before).toBeGreaterThanOrEqual(PUSHES);
    expect(doQuery(`SELECT count(*) FROM objects WHERE format = 'git-delta'`)).toBeGreaterThan(0);
    const cloneBefore = cloneAndCheck(join(home, 'before.git'));

    // One push more: past the threshold, the alarm the push arms compacts.
    pushOne(PUSHES);
    let after = segmentsInUse();
    for (let t = 0; t < 600 && after > 3; t++) {
      await new Promise((r) => setTimeout(r, 200));
      after = segmentsInUse();
    }
    expect(after).toBeLessThanOrEqual(3);
    expect(doQuery(`SELECT count(*) FROM git_compact`)).toBe(0);
    expect(doQuery(`SELECT count(*) FROM objects WHERE format = 'git-delta'`)).toBeGreaterThan(0);
    const cloneAfter = cloneAndCheck(join(home, 'after.git'));
    expect(lsRemote(ok, hub, 'many').length).toBeGreaterThan(1);
    console.log(
      `git compaction e2e: ${PUSHES} pushes in ${(pushWall / 1000).toFixed(1)} s; segments a clone reads ${before} -> ${after}; ` +
        `mirror clone wall (best of 3) ${(cloneBefore.wall / 1000).toFixed(2)} -> ${(cloneAfter.wall / 1000).toFixed(2)} s, ` +
        `workerd CPU (least of 3) ${cloneBefore.cpu.toFixed(2)} -> ${cloneAfter.cpu.toFixed(2)} s`,
    );
    expect(hub.log()).not.toMatch(/git compaction failed|Uncaught/);
  }, 600_000);
});
