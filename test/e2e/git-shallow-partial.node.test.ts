// Shallow and partial clones with the real git against the hub under wrangler
// dev, v2 and v0. Each result is compared with the same command run against
// the source repository through git's own upload-pack (file://), so the hub
// must cut history and filter objects exactly as git does.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateHistory } from '../fixtures/git-history.js';
import { gitEnv } from './git-client.js';
import { gitIn, setupRepos, writerUrl } from './hub-client.js';
import { startHub, type Hub } from './hub-server.js';

let hub: Hub;
let home: string;
let src: string;
let ok: ReturnType<typeof gitIn>['ok'];
let n = 0;

beforeAll(async () => {
  home = mkdtempSync(join(tmpdir(), 'git-shallow-e2e-'));
  ({ ok } = gitIn(home));
  src = join(home, 'src.git');
  // Binaries of 4 KiB and text files of a few KiB, so blob:limit=1k splits them.
  const [started] = await Promise.all([startHub(), generateHistory(src, { seed: 23, commits: 150, binarySize: 4096, binaryChurn: 0.2 })]);
  hub = started;
  await setupRepos(hub, ['hist', 'line']);
  // git's own server side for the comparisons: filters on, and (v0) lazy fetches of blob ids allowed.
  ok(['config', 'uploadpack.allowFilter', 'true'], src);
  ok(['config', 'uploadpack.allowAnySHA1InWant', 'true'], src);
  ok(['push', '-q', '--mirror', writerUrl(hub, 'hist')], src);
  // main and its tags alone: every ref lies below main, so an unshallow of main is served from the
  // remembered closure (upload-pack's unshallow shortcut), not walked. A clone marks the closure.
  ok(['push', '-q', writerUrl(hub, 'line'), 'main', '--tags'], src);
  ok(['clone', '-q', '--bare', `${hub.url}/line.git`, join(home, 'line-marked.git')]);
}, 120_000);

afterAll(async () => {
  await hub?.stop();
  if (home) rmSync(home, { recursive: true, force: true });
});

const HUB = () => `${hub.url}/hist.git`;
const FILE = () => `file://${src}`;

/** Clones `from` with `args` under protocol `v` into a fresh directory; the directory. */
function clone(v: string, from: string, args: string[]): string {
  const dir = join(home, `c${n++}`);
  ok(['-c', `protocol.version=${v}`, 'clone', '-q', ...args, from, dir]);
  return dir;
}

/** The shallow boundary (sorted), or [] for a complete repository. */
function shallowOf(dir: string): string[] {
  const f = join(dir, '.git', 'shallow');
  const bare = join(dir, 'shallow');
  const path = existsSync(f) ? f : existsSync(bare) ? bare : null;
  return path === null ? [] : readFileSync(path, 'utf8').trim().split('\n').sort();
}

/** Every object the repository holds as reachable (missing ones of a partial clone printed with `?`). */
function objectsOf(dir: string, extra: string[] = []): string[] {
  return ok(['rev-list', '--objects', '--all', ...extra], dir).trim().split('\n').sort();
}

describe.each(['2', '0'])('protocol v%s', (v) => {
  it('--depth 1 gives the tip only, as git upload-pack does', () => {
    const hubDir = clone(v, HUB(), ['--depth', '1', '--no-single-branch']);
    const gitDir = clone(v, FILE(), ['--depth', '1', '--no-single-branch']);
    expect(shallowOf(hubDir).length).toBeGreaterThan(0);
    expect(shallowOf(hubDir)).toEqual(shallowOf(gitDir));
    expect(ok(['rev-list', '--count', 'HEAD'], hubDir).trim()).toBe('1');
    expect(objectsOf(hubDir)).toEqual(objectsOf(gitDir));
    ok(['fsck', '--full'], hubDir);
    expect(ok(['rev-parse', 'HEAD^{tree}'], hubDir)).toBe(ok(['rev-parse', 'main^{tree}'], src));
  });

  it('fetch --deepen extends the boundary as git does, then --unshallow completes it', () => {
    const hubDir = clone(v, HUB(), ['--depth', '1']);
    const gitDir = clone(v, FILE(), ['--depth', '1']);
    ok(['-c', `protocol.version=${v}`, 'fetch', '-q', '--deepen', '7'], hubDir);
    ok(['-c', `protocol.version=${v}`, 'fetch', '-q', '--deepen', '7'], gitDir);
    expect(shallowOf(hubDir)).toEqual(shallowOf(gitDir));
    expect(objectsOf(hubDir)).toEqual(objectsOf(gitDir));
    expect(Number(ok(['rev-list', '--count', 'HEAD'], hubDir).trim())).toBeGreaterThan(7);
    ok(['-c', `protocol.version=${v}`, 'fetch', '-q', '--unshallow'], hubDir);
    expect(shallowOf(hubDir)).toEqual([]);
    ok(['fsck', '--full'], hubDir);
    expect(ok(['rev-list', 'HEAD'], hubDir)).toBe(ok(['rev-list', 'main'], src));
  });

  it('--unshallow of every ref below main (merges, tags) completes the clone exactly as git does', () => {
    // The file:// side serves the same refs: main and the tags.
    const line = join(home, `line-${v}.git`);
    ok(['clone', '-q', '--bare', '--no-local', FILE(), line]);
    for (const b of ok(['for-each-ref', '--format=%(refname)', 'refs/heads'], line).trim().split('\n')) if (b !== 'refs/heads/main') ok(['update-ref', '-d', b], line);
    for (const depth of ['1', '4']) {
      const hubDir = clone(v, `${hub.url}/line.git`, ['--depth', depth]);
      const gitDir = clone(v, `file://${line}`, ['--depth', depth]);
      ok(['-c', `protocol.version=${v}`, 'fetch', '-q', '--unshallow'], hubDir);
      ok(['-c', `protocol.version=${v}`, 'fetch', '-q', '--unshallow'], gitDir);
      expect(shallowOf(hubDir)).toEqual([]);
      ok(['fsck', '--full', '--strict'], hubDir);
      const objects = (dir: string) => ok(['rev-list', '--objects', 'HEAD'], dir).trim().split('\n').sort();
      expect(objects(hubDir)).toEqual(objects(gitDir));
      // Tags: v0 over HTTP (git http-backend's too) follows none after an unshallow, file:// does.
      if (v === '2') expect(ok(['for-each-ref'], hubDir)).toBe(ok(['for-each-ref'], gitDir));
      if (v === '2') expect(objectsOf(hubDir)).toEqual(objectsOf(gitDir));
    }
  });

  it('--shallow-since cuts at a date as git does', () => {
    // A date in the middle of main's history.
    const dates = ok(['log', '--format=%ct', 'main'], src).trim().split('\n');
    const since = dates[Math.floor(dates.length / 3)];
    const hubDir = clone(v, HUB(), [`--shallow-since=${since}`]);
    const gitDir = clone(v, FILE(), [`--shallow-since=${since}`]);
    expect(shallowOf(hubDir).length).toBeGreaterThan(0);
    expect(shallowOf(hubDir)).toEqual(shallowOf(gitDir));
    expect(objectsOf(hubDir)).toEqual(objectsOf(gitDir));
  });

  it('--shallow-exclude stops at a tag as git does', () => {
    const hubDir = clone(v, HUB(), ['--shallow-exclude=v1.0']);
    const gitDir = clone(v, FILE(), ['--shallow-exclude=v1.0']);
    expect(shallowOf(hubDir).length).toBeGreaterThan(0);
    expect(shallowOf(hubDir)).toEqual(shallowOf(gitDir));
    expect(objectsOf(hubDir)).toEqual(objectsOf(gitDir));
  });

  it('--filter=blob:none: no blobs but the checkout, and older blobs are fetched lazily on checkout', () => {
    const hubDir = clone(v, HUB(), ['--filter=blob:none']);
    const gitDir = clone(v, FILE(), ['--filter=blob:none']);
    const missing = (dir: string) => objectsOf(dir, ['--missing=print']).filter((l) => l.startsWith('?'));
    expect(missing(hubDir).length).toBeGreaterThan(50);
    expect(missing(hubDir)).toEqual(missing(gitDir));
    // A checkout of an old commit fetches its blobs from the hub (the promisor remote).
    const old = ok(['rev-parse', 'main~40'], src).trim();
    ok(['-c', `protocol.version=${v}`, 'checkout', '-q', old], hubDir);
    expect(ok(['ls-files', '-s'], hubDir)).toBe(ok(['ls-tree', '-r', '--format=%(objectmode) %(objectname) 0\t%(path)', old], src));
    expect(ok(['status', '--porcelain'], hubDir)).toBe('');
    // One blob on its own: `cat-file` lazily fetches exactly it.
    const blob = ok(['rev-parse', 'main~80:README.md'], src).trim();
    expect(ok(['-c', `protocol.version=${v}`, 'cat-file', '-p', blob], hubDir)).toBe(ok(['cat-file', '-p', blob], src));
    ok(['fsck', '--connectivity-only'], hubDir);
  });

  it('--filter=blob:limit=1k omits exactly the blobs above 1 KiB', () => {
    const hubDir = clone(v, HUB(), ['--filter=blob:limit=1k', '--no-checkout']);
    const gitDir = clone(v, FILE(), ['--filter=blob:limit=1k', '--no-checkout']);
    const missing = objectsOf(hubDir, ['--missing=print']).filter((l) => l.startsWith('?')).map((l) => l.slice(1));
    expect(missing).toEqual(objectsOf(gitDir, ['--missing=print']).filter((l) => l.startsWith('?')).map((l) => l.slice(1)));
    expect(missing.length).toBeGreaterThan(0);
    for (const line of batchCheck(src, missing)) {
      expect(line.split(' ')[0]).toBe('blob');
      expect(Number(line.split(' ')[1])).toBeGreaterThan(1024);
    }
    // And every blob present is at most 1 KiB.
    // allow-any: a plain rev-list would lazily fetch every missing blob.
    const present = objectsOf(hubDir, ['--missing=allow-any']).map((l) => l.split(' ')[0]);
    const small = batchCheck(src, present).filter((l) => l.startsWith('blob '));
    expect(small.length).toBeGreaterThan(0);
    for (const line of small) expect(Number(line.split(' ')[1])).toBeLessThanOrEqual(1024);
  });

  it('include-tag: fetching a branch brings its annotated tags in the same pack (no second request for them)', () => {
    const dir = join(home, `c${n++}`);
    ok(['init', '-q', dir]);
    ok(['remote', 'add', 'origin', HUB()], dir);
    const trace = join(home, `trace-${v}`);
    const traced = runTraced(dir, trace, ['-c', `protocol.version=${v}`, 'fetch', '--no-write-fetch-head', 'origin', 'main:refs/heads/main']);
    const tags = ok(['for-each-ref', '--format=%(objectname) %(objecttype) %(refname)', 'refs/tags'], src)
      .trim()
      .split('\n')
      .filter((l) => l.includes(' tag '));
    expect(tags.length).toBeGreaterThan(0);
    for (const t of tags) {
      const [id, , name] = t.split(' ');
      expect(ok(['rev-parse', name], dir).trim()).toBe(id);
      // The tag object was not asked for: it came with include-tag.
      expect(traced).not.toContain(`want ${id}`);
    }
  });
});

/** `TYPE SIZE` of each of `ids` in `dir` (`cat-file --batch-check`). */
function batchCheck(dir: string, ids: string[]): string[] {
  const r = spawnSync('git', ['cat-file', '--batch-check=%(objecttype) %(objectsize)'], { cwd: dir, env: gitEnv(home), input: ids.join('\n') + '\n', encoding: 'utf8' });
  expect(r.status, r.stderr).toBe(0);
  return r.stdout.trim().split('\n');
}

/** Runs git with GIT_TRACE_PACKET into `trace`; the trace text. */
function runTraced(cwd: string, trace: string, args: string[]): string {
  const r = spawnSync('git', args, { cwd, env: { ...gitEnv(home), GIT_TRACE_PACKET: trace }, encoding: 'utf8' });
  expect(r.status, r.stderr).toBe(0);
  return readFileSync(trace, 'utf8');
}
