// Git operations overlapping each other and the repository's lifecycle, with the real git:
// clones and fetches while a push commits, pushes to two branches at once and to one branch
// at once, a push killed mid-pack and pushed again, clones while the alarm compacts segments,
// a repository deleted while a push or a clone runs (and its content, R2 segments included,
// gone afterwards), created again under the same name (empty, no old members), and made
// private while a clone runs. Each clone is checked whole (fsck --full, refs all old or all
// new), the Worker must log no exception, and no answer is a 5xx.
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { gitEnv } from './git-client.js';
import { api, apiOk, FLUSH, gitIn, lsRemote, pkt, packObjects, postReceivePack, receivePackBody, setupRepos, writerAuth, writerUrl, ZERO_ID } from './hub-client.js';
import { startHub, type Hub } from './hub-server.js';

let hub: Hub;
let home: string;
let state: string;
let git: ReturnType<typeof gitIn>['git'];
let ok: ReturnType<typeof gitIn>['ok'];
let gitAsync: ReturnType<typeof gitIn>['gitAsync'];

/** One column of a query on a SQLite file of the hub's local state (read beside the running hub). */
function stateQuery(file: string, sql: string): string[] {
  const r = spawnSync('sqlite3', ['-readonly', file, sql], { encoding: 'utf8' });
  expect(r.status, r.stderr).toBe(0);
  return r.stdout.split('\n').filter(Boolean);
}
const sqliteIn = (dir: string) => spawnSync('sh', ['-c', `ls ${dir}/*.sqlite | grep -v metadata.sqlite`], { encoding: 'utf8' }).stdout.trim().split('\n')[0];
/** The repository's immutable id (its DO and R2 prefix), from D1. */
const repoId = (name: string) => stateQuery(sqliteIn(join(state, 'v3/d1/miniflare-D1DatabaseObject')), `SELECT id FROM repos WHERE name = '${name}'`)[0];
/** R2 keys (objects and multipart uploads in progress) under a repository's prefix. */
const r2Keys = (id: string) => {
  const file = sqliteIn(join(state, 'v3/r2/miniflare-R2BucketObject'));
  return [
    ...stateQuery(file, `SELECT key FROM _mf_objects WHERE key LIKE 'repos/${id}/%'`),
    ...stateQuery(file, `SELECT key FROM _mf_multipart_uploads WHERE key LIKE 'repos/${id}/%' AND state = 0`),
  ];
};

/** The repository DO's SQLite file (its segment collector names the repository id). */
function doFile(id: string): string {
  const root = join(state, 'v3/do');
  for (const dir of readdirSync(root)) {
    for (const file of readdirSync(join(root, dir)).filter((f) => f.endsWith('.sqlite') && f !== 'metadata.sqlite')) {
      const path = join(root, dir, file);
      if (stateQuery(path, `SELECT count(*) FROM sqlite_master WHERE name = 'segment_gc'`)[0] === '1' && stateQuery(path, `SELECT repo FROM segment_gc`)[0] === id) return path;
    }
  }
  throw new Error(`no DO file for ${id}`);
}

/** Refs of a local repository, `name id` lines (heads and tags). */
const refsOf = (dir: string) => ok(['for-each-ref', '--format=%(refname) %(objectname)', 'refs/heads', 'refs/tags'], dir);

/** A work tree with `commits` commits on main (a text file changed each time), pushed to `repo`. */
function seed(repo: string, commits: number, bigBytes = 0): string {
  const dir = join(home, `work-${repo}`);
  ok(['init', '-q', '-b', 'main', dir]);
  for (let i = 0; i < commits; i++) {
    writeFileSync(join(dir, `f${i % 4}.txt`), `${repo} commit ${i}\n`.repeat(50 + i));
    if (i === 0 && bigBytes > 0) writeFileSync(join(dir, 'big.bin'), randomBytes(bigBytes));
    ok(['add', '-A'], dir);
    ok(['commit', '-q', '-m', `${repo} ${i}`], dir);
  }
  ok(['push', '-q', writerUrl(hub, repo), 'main'], dir);
  return dir;
}

/** A commit adding `bytes` random bytes in a new file, on the work tree's current branch. */
function commitBlob(dir: string, name: string, bytes: number): string {
  writeFileSync(join(dir, name), randomBytes(bytes));
  ok(['add', name], dir);
  ok(['commit', '-q', '-m', `add ${name}`], dir);
  return ok(['rev-parse', 'HEAD'], dir).trim();
}

let clones = 0;
/** A mirror clone of `repo` made concurrently; its directory and git's result. */
async function cloneAsync(repo: string, url = `${hub.url}/${repo}.git`) {
  const dir = join(home, `clone-${repo}-${clones++}`);
  return { dir, r: await gitAsync(['clone', '-q', '--mirror', url, dir]) };
}

beforeAll(async () => {
  home = mkdtempSync(join(tmpdir(), 'qa-lifecycle-git-'));
  state = join(home, 'state');
  ({ git, ok, gitAsync } = gitIn(home));
  // Compaction past 6 small segments, and the clone's reach plan built by the alarm after every push (not past 20,000 objects only).
  hub = await startHub({ state, vars: { HUB_GIT_COMPACT_AFTER: '6', HUB_REACH_PREBUILD_ROWS: '0' } });
  await setupRepos(hub, ['race', 'branches', 'killed', 'compact', 'doomed', 'gone-clone', 'hidden']);
}, 180_000);

afterAll(async () => {
  await hub?.stop();
  if (home) rmSync(home, { recursive: true, force: true });
});

describe('git: operations overlapping a push', () => {
  it('clones running while a push commits, and while the alarm then builds the reach plan, see the old refs or the new ones, whole (fsck --full)', async () => {
    const dir = seed('race', 12);
    for (let round = 0; round < 2; round++) {
      const before = refsOf(dir);
      ok(['checkout', '-q', '-b', `topic${round}`], dir);
      commitBlob(dir, `t${round}.bin`, 1 << 20);
      ok(['checkout', '-q', 'main'], dir);
      commitBlob(dir, `m${round}.bin`, 2 << 20);
      ok(['tag', `v${round}`], dir);
      const after = refsOf(dir);
      const [push, ...cloned] = await Promise.all([
        gitAsync(['push', '-q', '--tags', writerUrl(hub, 'race'), 'main', `topic${round}`], dir),
        ...Array.from({ length: 5 }, () => cloneAsync('race')),
      ]);
      expect(push.status, push.stderr).toBe(0);
      // The alarm builds the next clone's plan COMPACT_DELAY_MS (1 s) after the push: clones and a fetch around then.
      const fetching = join(home, `race-fetch-${round}`);
      if (round > 0) ok(['clone', '-q', '--mirror', cloned[0].dir, fetching]);
      await new Promise((r) => setTimeout(r, 700));
      const [f, ...more] = await Promise.all([round > 0 ? gitAsync(['fetch', '-q', `${hub.url}/race.git`, '+refs/*:refs/*'], fetching) : null, cloneAsync('race'), cloneAsync('race'), cloneAsync('race')]);
      if (f !== null) {
        expect(f.status, f.stderr).toBe(0);
        expect(refsOf(fetching)).toBe(after);
      }
      for (const c of more) {
        expect(c.r.status, c.r.stderr).toBe(0);
        ok(['fsck', '--full', '--no-dangling', '--no-progress'], c.dir);
        expect(refsOf(c.dir)).toBe(after);
      }
      for (const c of cloned) {
        expect(c.r.status, c.r.stderr).toBe(0);
        ok(['fsck', '--full', '--no-dangling', '--no-progress'], c.dir);
        expect([before, after]).toContain(refsOf(c.dir));
      }
    }
    expect(hub.log()).not.toMatch(/Uncaught|exception|internal error/i);
  });

  it('two pushes to different branches at once both land; two to one branch: one lands, the other is told to fetch', async () => {
    const dir = seed('branches', 3);
    const other = join(home, 'branches-other');
    ok(['clone', '-q', writerUrl(hub, 'branches'), other]);
    for (let round = 0; round < 2; round++) {
      ok(['checkout', '-q', '-B', `a${round}`, 'main'], dir);
      const a = commitBlob(dir, `a${round}.bin`, 256 << 10);
      ok(['checkout', '-q', '-B', `b${round}`, 'origin/main'], other);
      const b = commitBlob(other, `b${round}.bin`, 256 << 10);
      const [pa, pb] = await Promise.all([gitAsync(['push', '-q', writerUrl(hub, 'branches'), `a${round}`], dir), gitAsync(['push', '-q', 'origin', `b${round}`], other)]);
      expect(pa.status, pa.stderr).toBe(0);
      expect(pb.status, pb.stderr).toBe(0);
      const refs = lsRemote(ok, hub, 'branches');
      expect(refs).toContain(`${a}\trefs/heads/a${round}`);
      expect(refs).toContain(`${b}\trefs/heads/b${round}`);
    }
    // The same new objects in two pushes at once, to two branches: both land (each stores them or finds them stored).
    ok(['fetch', '-q', 'origin'], other);
    for (let round = 0; round < 2; round++) {
      ok(['checkout', '-q', '-B', `same${round}`, 'origin/main'], other);
      const same = commitBlob(other, `same${round}.bin`, 512 << 10);
      const [px, py] = await Promise.all([gitAsync(['push', '-q', 'origin', `same${round}:refs/heads/x${round}`], other), gitAsync(['push', '-q', 'origin', `same${round}:refs/heads/y${round}`], other)]);
      expect(px.status, px.stderr).toBe(0);
      expect(py.status, py.stderr).toBe(0);
      const refs = lsRemote(ok, hub, 'branches');
      expect(refs).toContain(`${same}\trefs/heads/x${round}`);
      expect(refs).toContain(`${same}\trefs/heads/y${round}`);
      // One new branch created by both at once: one lands, the other is told so.
      ok(['checkout', '-q', '-B', `n${round}`, 'main'], dir);
      const a = commitBlob(dir, `n${round}.bin`, 256 << 10);
      const b = ok(['rev-parse', `same${round}`], other).trim();
      const [pa, pb] = await Promise.all([gitAsync(['push', writerUrl(hub, 'branches'), `n${round}:refs/heads/new${round}`], dir), gitAsync(['push', 'origin', `same${round}:refs/heads/new${round}`], other)]);
      const got = lsRemote(ok, hub, 'branches').find((l) => l.endsWith(`\trefs/heads/new${round}`))!.split('\t')[0];
      expect([a, b]).toContain(got);
      expect([pa.status, pb.status].filter((st) => st === 0)).toHaveLength(1);
      const loser = pa.status === 0 ? pb : pa;
      // git's words as http-backend's: refused at the advertisement, or at the commit (the ref appeared meanwhile).
      expect(loser.stderr).toMatch(/\(fetch first\)|cannot lock ref 'refs\/heads\/new\d': reference already exists/);
    }
    // One branch: both start from the same main, so exactly one may move it.
    ok(['fetch', '-q', 'origin'], other);
    const base = ok(['rev-parse', 'origin/main'], other).trim();
    for (let round = 0; round < 2; round++) {
      ok(['checkout', '-q', '-B', 'main', base], dir);
      const a = commitBlob(dir, `ma${round}.bin`, 256 << 10);
      ok(['checkout', '-q', '-B', 'main', base], other);
      const b = commitBlob(other, `mb${round}.bin`, 256 << 10);
      const [pa, pb] = await Promise.all([
        gitAsync(['push', '-q', '--force', writerUrl(hub, 'branches'), `main`], dir),
        gitAsync(['push', '-q', `--force-with-lease=main:${base}`, 'origin', 'main'], other),
      ]);
      const main = lsRemote(ok, hub, 'branches').find((l) => l.endsWith('\trefs/heads/main'))!.split('\t')[0];
      // A forced push may land after the lease's: then both succeed in order. Otherwise one is refused.
      expect([a, b]).toContain(main);
      if (pb.status === 0 && pa.status === 0) expect(main).toBe(a);
      // Refused at the commit as http-backend words it, or (the lease) before sending.
      const moved = /cannot lock ref 'refs\/heads\/main': is at [0-9a-f]{40} but expected [0-9a-f]{40}/;
      if (pb.status !== 0) expect(pb.stderr).toMatch(new RegExp(`${moved.source}|stale info`));
      if (pa.status !== 0) expect(pa.stderr).toMatch(moved);
      // The hub's main is back at base for the next round.
      ok(['push', '-q', '--force', writerUrl(hub, 'branches'), `${base}:refs/heads/main`], dir);
    }
    expect(hub.log()).not.toMatch(/Uncaught|exception|internal error/i);
  });

  it('a push killed mid-pack leaves the refs as they were (or whole), and the same push again lands', async () => {
    const dir = seed('killed', 3);
    const before = lsRemote(ok, hub, 'killed');
    const tip = commitBlob(dir, 'large.bin', 24 << 20);
    for (const delay of [300, 900]) {
      const child = spawn('git', ['push', '-q', writerUrl(hub, 'killed'), 'main'], { cwd: dir, env: gitEnv(home) });
      // Listened for at once: a push that ends before the kill has closed by then.
      const closed = new Promise((r) => child.once('close', r));
      await new Promise((r) => setTimeout(r, delay));
      child.kill('SIGKILL');
      await closed;
      const refs = lsRemote(ok, hub, 'killed');
      if (refs.some((l) => l.startsWith(tip))) break; // it got through before the kill
      expect(refs).toEqual(before);
    }
    const again = git(['push', writerUrl(hub, 'killed'), 'main'], dir);
    expect(again.status, again.stderr).toBe(0);
    const { dir: mirror, r } = await cloneAsync('killed');
    expect(r.status, r.stderr).toBe(0);
    ok(['fsck', '--full', '--no-dangling', '--no-progress'], mirror);
    expect(ok(['rev-parse', 'main'], mirror).trim()).toBe(tip);
    expect(hub.log()).not.toMatch(/Uncaught|exception|internal error/i);
  });

  it('clones and a push while the alarm compacts segments: every clone whole, the push lands', async () => {
    const dir = seed('compact', 1);
    const db = doFile(repoId('compact'));
    const segmentsInUse = () => Number(stateQuery(db, `SELECT count(DISTINCT segment) FROM objects`)[0]);
    // A segment a push, until more than 6 are in use: the alarm 1 s after a push may already compact them
    // between these pushes (on a loaded machine a push takes longer than that), so push on until the
    // count is seen past the threshold, right after the push that took it there.
    for (let i = 0; i < 30 && segmentsInUse() <= 6; i++) {
      commitBlob(dir, `c${i}.bin`, 64 << 10);
      ok(['push', '-q', writerUrl(hub, 'compact'), 'main'], dir);
    }
    expect(segmentsInUse()).toBeGreaterThan(6);
    // The last push armed the alarm (COMPACT_DELAY_MS = 1 s): clones and a push overlap it.
    const results: { dir: string; r: { status: number | null; stderr: string } }[] = [];
    const expected = new Set<string>([refsOf(dir)]);
    const deadline = Date.now() + 4000;
    let pushed = false;
    while (Date.now() < deadline) {
      const jobs = [cloneAsync('compact'), cloneAsync('compact')];
      if (!pushed && Date.now() > deadline - 2500) {
        pushed = true;
        commitBlob(dir, 'during.bin', 64 << 10);
        expected.add(refsOf(dir));
        const p = await gitAsync(['push', '-q', writerUrl(hub, 'compact'), 'main'], dir);
        expect(p.status, p.stderr).toBe(0);
      }
      results.push(...(await Promise.all(jobs)));
    }
    for (const c of results) {
      expect(c.r.status, c.r.stderr).toBe(0);
      ok(['fsck', '--full', '--no-dangling', '--no-progress'], c.dir);
      expect([...expected]).toContain(refsOf(c.dir));
    }
    // It compacted (the push during it, one segment more, may wait for the next pass).
    for (let t = 0; t < 50 && segmentsInUse() > 3; t++) await new Promise((r) => setTimeout(r, 200));
    expect(segmentsInUse()).toBeLessThanOrEqual(3);
    expect(hub.log()).not.toMatch(/Uncaught|exception|internal error|compaction failed/i);
  });
});

describe('git: a repository deleted, created again, made private', () => {
  it('deleted while a push is half sent: the push is refused or lost, nothing of it stays in R2, and the name created again is empty', async () => {
    const dir = seed('doomed', 3);
    const id = repoId('doomed');
    const old = ok(['rev-parse', 'main'], dir).trim();
    // An anonymous read first: the Worker remembers the name's old id (its cache is checked by the DO).
    expect(lsRemote(ok, hub, 'doomed')).toEqual([`${old}\tHEAD`, `${old}\trefs/heads/main`]);
    // 12 MiB: a segment piece (5 MiB) is put before the delete, the rest after it.
    const tip = commitBlob(dir, 'half.bin', 12 << 20);
    const body = receivePackBody([{ old, new: tip, ref: 'refs/heads/main' }], 'report-status', packObjects(dir, `${tip}\n^${old}\n`));
    const answer = new Promise<{ status: number; text: string }>((resolve, reject) => {
      const req = httpRequest(`${hub.url}/doomed.git/git-receive-pack`, {
        method: 'POST',
        agent: false,
        headers: { authorization: writerAuth(), 'content-type': 'application/x-git-receive-pack-request', 'content-length': String(body.length) },
      });
      req.on('error', reject);
      req.on('response', (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (d: Buffer) => chunks.push(d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('latin1') }));
        res.on('error', reject);
      });
      req.write(body.subarray(0, body.length >> 1));
      setTimeout(async () => {
        const del = await api(hub, 'DELETE', '/repos/doomed');
        expect(del.status).toBe(204);
        req.end(body.subarray(body.length >> 1));
      }, 1000);
    });
    const res = await answer;
    // git's report says why (what git push prints as `! [remote rejected] main (unpacker error)` and `error: remote unpack failed: the repository was deleted`).
    expect(res.status).toBe(200);
    expect(res.text).toContain('unpack the repository was deleted\n');
    expect(res.text).toContain('ng refs/heads/main unpacker error\n');
    // Nothing of the old repository stays: not its name, not its content (the segment written before the delete and the rest after).
    expect(git(['ls-remote', `${hub.url}/doomed.git`]).status).not.toBe(0);
    expect(r2Keys(id)).toEqual([]);
    // Created again: empty, a new id, and the old writer is no member.
    await apiOk(hub, 'POST', '/repos', { name: 'doomed', kind: 'git', public: true });
    expect(repoId('doomed')).not.toBe(id);
    expect(lsRemote(ok, hub, 'doomed')).toEqual([]);
    const refused = git(['push', writerUrl(hub, 'doomed'), 'main'], dir);
    expect(refused.status).not.toBe(0);
    expect(refused.stderr).toMatch(/403|denied/);
    // A writer again: objects of the old repository are unknown to the new one (want and ref update alike).
    await apiOk(hub, 'PUT', '/repos/doomed/members/wendy', { role: 'write' });
    const fresh = join(home, 'doomed-fresh.git');
    ok(['init', '-q', '--bare', fresh]);
    const want = git(['fetch', `${hub.url}/doomed.git`, old], fresh);
    expect(want.status).not.toBe(0);
    expect(want.stderr).toMatch(/not our ref|couldn't find remote ref/);
    const empty = await postReceivePack(hub, 'doomed', receivePackBody([{ old: ZERO_ID, new: old, ref: 'refs/heads/main' }], 'report-status', packObjects(dir, '')));
    expect(empty.text).toContain('ng refs/heads/main missing necessary objects');
    expect(lsRemote(ok, hub, 'doomed')).toEqual([]);
    ok(['push', '-q', writerUrl(hub, 'doomed'), 'main'], dir);
    expect(lsRemote(ok, hub, 'doomed')).toEqual([`${tip}\tHEAD`, `${tip}\trefs/heads/main`]);
    const { dir: again, r } = await cloneAsync('doomed');
    expect(r.status, r.stderr).toBe(0);
    ok(['fsck', '--full', '--no-dangling', '--no-progress'], again);
    expect(hub.log()).not.toMatch(/Uncaught|internal error/i);
  });

  it('deleted while clones run: each clone ends (whole, or with an error), and no R2 object of the repository stays', async () => {
    const dir = seed('gone-clone', 2, 16 << 20);
    const id = repoId('gone-clone');
    expect(r2Keys(id).length).toBeGreaterThan(0);
    const tip = ok(['rev-parse', 'main'], dir).trim();
    // A fetch's pack read up to its first bytes and held (the hub waits on the client), the delete, the rest.
    const cut = new Promise<string>((resolve, reject) => {
      const body = Buffer.concat([pkt(`want ${tip} side-band-64k ofs-delta\n`), FLUSH, pkt('done\n')]);
      const req = httpRequest(`${hub.url}/gone-clone.git/git-upload-pack`, {
        method: 'POST',
        agent: false,
        headers: { 'content-type': 'application/x-git-upload-pack-request', 'content-length': String(body.length) },
      });
      req.on('error', reject);
      req.on('response', (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (d: Buffer) => {
          if (chunks.push(d) > 1) return;
          res.pause();
          void api(hub, 'DELETE', '/repos/gone-clone').then((del) => {
            expect(del.status).toBe(204);
            res.resume();
          }, reject);
        });
        res.on('end', () => resolve(Buffer.concat(chunks).toString('latin1')));
        res.on('error', reject);
      });
      req.end(body);
    });
    // Told on git's error band why the pack stops (was: "no segment <id>", the storage's words).
    expect(await cut).toMatch(/\x03the repository was deleted/);
    expect(r2Keys(id)).toEqual([]);
    await apiOk(hub, 'POST', '/repos', { name: 'gone-clone', kind: 'git', public: true });
    await apiOk(hub, 'PUT', '/repos/gone-clone/members/wendy', { role: 'write' });
    ok(['push', '-q', writerUrl(hub, 'gone-clone'), 'main'], dir);
    const id2 = repoId('gone-clone');
    // Real clones (anonymous and with a login) when the delete comes: each ends whole, or with git's error.
    const cloning = [cloneAsync('gone-clone'), cloneAsync('gone-clone', writerUrl(hub, 'gone-clone')), cloneAsync('gone-clone')];
    await new Promise((r) => setTimeout(r, 150));
    expect((await api(hub, 'DELETE', '/repos/gone-clone')).status).toBe(204);
    for (const c of await Promise.all(cloning)) {
      if (c.r.status === 0) {
        ok(['fsck', '--full', '--no-dangling', '--no-progress'], c.dir);
        expect(refsOf(c.dir)).toBe(refsOf(dir));
      } else expect(c.r.stderr).toMatch(/remote: the repository was deleted|404|could not read Username/);
    }
    expect(r2Keys(id2)).toEqual([]);
    expect(r2Keys(id)).toEqual([]);
    expect(git(['ls-remote', `${hub.url}/gone-clone.git`]).status).not.toBe(0);
    expect(hub.log()).not.toMatch(/Uncaught|internal error/i);
  });

  it('made private while an anonymous clone runs: that clone ends whole, the next anonymous request is refused at once', async () => {
    const dir = seed('hidden', 2, 16 << 20);
    const cloning = cloneAsync('hidden');
    await new Promise((r) => setTimeout(r, 150));
    await apiOk(hub, 'PATCH', '/repos/hidden', { public: false });
    const c = await cloning;
    if (c.r.status === 0) {
      ok(['fsck', '--full', '--no-dangling', '--no-progress'], c.dir);
      expect(refsOf(c.dir)).toBe(refsOf(dir));
    } else expect(c.r.stderr).toMatch(/Authentication failed|could not read Username|401/);
    for (const version of ['0', '2']) {
      const r = git(['-c', `protocol.version=${version}`, 'ls-remote', `${hub.url}/hidden.git`]);
      expect(r.status).not.toBe(0);
      expect(r.stderr).toMatch(/could not read Username|Authentication failed/);
    }
    expect(lsRemote(ok, { ...hub, url: writerUrl(hub, 'hidden').replace('/hidden.git', '') }, 'hidden').length).toBe(2);
  });
});
