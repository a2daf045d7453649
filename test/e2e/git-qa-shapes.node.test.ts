// Outside-in QA: repository shapes and client workflows real users bring,
// each done against the hub and against git itself on the same input (a local
// bare repository: git's receive-pack and upload-pack, what http-backend
// runs). Found no hub bug; locks in what was checked: a mirror push deleting
// most of 1200 refs, a hub-to-hub mirror, --depth on a merge-heavy history,
// log --follow in a blob:none clone (its lazy fetches), then the missing
// blobs fetched in bulk and fsck --full, and a 1 MB commit message.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { gitEnv } from './git-client.js';
import { gitIn, lsRemote, setupRepos, writerUrl } from './hub-client.js';
import { startHub, type Hub } from './hub-server.js';

let hub: Hub;
let home: string;
let ok: ReturnType<typeof gitIn>['ok'];
let git: ReturnType<typeof gitIn>['git'];
/** A history of 60 merges of two-commit side branches, with a file renamed twice. */
let src: string;

beforeAll(async () => {
  home = mkdtempSync(join(tmpdir(), 'git-qa-shapes-'));
  ({ ok, git } = gitIn(home));
  const started = startHub();
  src = join(home, 'src');
  ok(['init', '-q', '-b', 'main', src]);
  // One fast-import stream: 240 commits in one process.
  const lines: string[] = [];
  let mark = 0;
  const commit = (branch: string, msg: string, files: Record<string, string>, from?: string, merge?: string, deletes: string[] = []) => {
    mark++;
    lines.push(`commit refs/heads/${branch}`, `mark :${mark}`, `committer C <c@x> ${1_600_000_000 + mark * 60} +0000`, `data ${Buffer.byteLength(msg)}`, msg);
    if (from) lines.push(`from ${from}`);
    if (merge) lines.push(`merge ${merge}`);
    for (const d of deletes) lines.push(`D ${d}`);
    for (const [path, content] of Object.entries(files)) lines.push(`M 100644 inline ${path}`, `data ${Buffer.byteLength(content)}`, content);
    return `:${mark}`;
  };
  let main = commit('main', 'root', { 'lib/core.txt': 'core 0\n'.repeat(40), 'f.txt': '0\n' });
  let name = 'lib/core.txt';
  for (let i = 1; i <= 60; i++) {
    const side = commit(`t${i}`, `side ${i}`, { [`g/${i}.txt`]: `${i}\n` }, main);
    const side2 = commit(`t${i}`, `side2 ${i}`, { [`g/${i}.txt`]: `${i} again\n` }, side);
    // The tracked file changes on main, and is renamed at 20 and 40 (log --follow follows it).
    const next = i === 20 ? 'src/core.txt' : i === 40 ? 'src/kernel.txt' : name;
    const body = `core ${i}\n` + 'core line\n'.repeat(40);
    const c = commit('main', `main ${i}`, { [next]: body }, main, undefined, next === name ? [] : [name]);
    name = next;
    main = commit('main', `merge ${i}`, {}, c, side2);
  }
  const r = spawnSync('git', ['fast-import', '--quiet'], { cwd: src, env: gitEnv(home), input: lines.join('\n') + '\n' });
  if (r.status !== 0) throw new Error(`fast-import: ${r.stderr}`);
  ok(['reset', '-q', '--hard', 'main'], src);
  ok(['config', 'uploadpack.allowFilter', 'true'], src);
  hub = await started;
  await setupRepos(hub, ['shapes', 'refs', 'refs-copy', 'message']);
  ok(['push', '-q', writerUrl(hub, 'shapes'), 'main'], src);
}, 120_000);

afterAll(async () => {
  await hub?.stop();
  if (home) rmSync(home, { recursive: true, force: true });
});

const withoutHead = (lines: string[]) => lines.filter((l) => !l.endsWith('\tHEAD'));
const lines = (s: string) => s.trim().split('\n').filter(Boolean).sort();

describe('refs in bulk', () => {
  it('a mirror push creating 1200 refs, then one deleting 1100 of them: the report and refs git receive-pack gives; a hub-to-hub mirror copies them', () => {
    const mirror = join(home, 'refs-src.git');
    ok(['clone', '-q', '--bare', src, mirror]);
    const commits = lines(ok(['rev-list', 'main'], mirror)).slice(0, 60);
    const create = commits.flatMap((c, i) => Array.from({ length: 10 }, (_, j) => [`create refs/heads/feature/${i}-${j} ${c}`, `create refs/tags/v1.${i}.${j} ${c}`]).flat());
    spawnSync('git', ['update-ref', '--stdin'], { cwd: mirror, env: gitEnv(home), input: create.join('\n') + '\n' });
    const local = join(home, 'refs-reference.git');
    ok(['init', '-q', '--bare', local]);
    ok(['push', '-q', '--mirror', local], mirror);
    ok(['push', '-q', '--mirror', writerUrl(hub, 'refs')], mirror);
    expect(withoutHead(lsRemote(ok, hub, 'refs'))).toEqual(lines(ok(['ls-remote', local])));
    const gone = lines(ok(['for-each-ref', '--format=%(refname)', 'refs/heads/feature', 'refs/tags'], mirror)).slice(0, 1100);
    spawnSync('git', ['update-ref', '--stdin'], { cwd: mirror, env: gitEnv(home), input: gone.map((r) => `delete ${r}`).join('\n') + '\n' });
    const porcelain = (url: string) => {
      const r = git(['push', '--porcelain', '--mirror', url], mirror);
      expect(r.status, r.stderr).toBe(0);
      return lines(r.stdout.replace(/^To .*$/m, ''));
    };
    const fromGit = porcelain(local);
    expect(fromGit.filter((l) => l.includes('[deleted]'))).toHaveLength(1100);
    expect(porcelain(writerUrl(hub, 'refs'))).toEqual(fromGit);
    expect(withoutHead(lsRemote(ok, hub, 'refs'))).toEqual(lines(ok(['ls-remote', local])));
    // clone --mirror from the hub, push --mirror into another hub repository: the same refs.
    const copy = join(home, 'refs-copy.git');
    ok(['clone', '-q', '--mirror', `${hub.url}/refs.git`, copy]);
    ok(['push', '-q', '--mirror', writerUrl(hub, 'refs-copy')], copy);
    expect(withoutHead(lsRemote(ok, hub, 'refs-copy'))).toEqual(withoutHead(lsRemote(ok, hub, 'refs')));
    ok(['bundle', 'create', join(home, 'refs.bundle'), '--all'], copy);
    ok(['bundle', 'verify', join(home, 'refs.bundle')], copy);
  }, 60_000);
});

describe('a merge-heavy history', () => {
  it('--depth 1, 3 and 10 clones (v0 and v2), then --deepen: the commits and shallow boundary git upload-pack gives', () => {
    const state = (dir: string) => ({
      commits: lines(ok(['rev-list', '--all'], dir)),
      shallow: lines(readFileSync(join(dir, 'shallow'), 'utf8')),
    });
    for (const depth of ['1', '3', '10']) {
      for (const version of ['0', '2']) {
        const a = join(home, `depth-${depth}-v${version}-hub.git`);
        const b = join(home, `depth-${depth}-v${version}-git.git`);
        ok(['-c', `protocol.version=${version}`, 'clone', '-q', '--bare', '--depth', depth, `${hub.url}/shapes.git`, a]);
        ok(['-c', `protocol.version=${version}`, 'clone', '-q', '--bare', '--depth', depth, `file://${src}`, b]);
        expect(state(a), `depth ${depth} v${version}`).toEqual(state(b));
        if (depth !== '3') continue;
        ok(['-c', `protocol.version=${version}`, 'fetch', '-q', '--deepen', '7', `${hub.url}/shapes.git`, 'main'], a);
        ok(['-c', `protocol.version=${version}`, 'fetch', '-q', '--deepen', '7', `file://${src}`, 'main'], b);
        expect(state(a), `deepen v${version}`).toEqual(state(b));
      }
    }
  }, 60_000);

  it('log --follow in a blob:none clone: the same output and lazy fetches as from git, then the rest fetched in bulk and fsck --full clean', () => {
    const follow = (url: string, dir: string) => {
      ok(['clone', '-q', '--filter=blob:none', url, dir]);
      const trace = join(home, `${dir.split('/').pop()}.trace`);
      const r = spawnSync('git', ['log', '--follow', '-n', '30', '--format=%s', '-p', '--', 'src/kernel.txt'], { cwd: dir, env: { ...gitEnv(home), GIT_TRACE2_EVENT: trace }, encoding: 'utf8' });
      expect(r.status, r.stderr).toBe(0);
      const fetches = readFileSync(trace, 'utf8').split('\n').filter((l) => l.includes('"child_start"') && l.includes('"fetch"')).length;
      return { log: r.stdout, fetches };
    };
    const hubSide = follow(`${hub.url}/shapes.git`, join(home, 'follow-hub'));
    const gitSide = follow(`file://${src}`, join(home, 'follow-git'));
    expect(hubSide.log).toContain('main 31\n'); // past the rename at 40
    expect(hubSide.log).toBe(gitSide.log);
    expect(hubSide.fetches).toBeGreaterThan(0);
    expect(hubSide.fetches).toBe(gitSide.fetches);
    // What git backfill does: every missing blob in one fetch.
    const dir = join(home, 'follow-hub');
    const missing = () => ok(['rev-list', '--objects', '--all', '--missing=print'], dir).split('\n').filter((l) => l.startsWith('?')).map((l) => l.slice(1));
    const before = missing();
    expect(before.length).toBeGreaterThan(50);
    const r = spawnSync('git', ['-c', 'fetch.negotiationAlgorithm=noop', 'fetch', '-q', 'origin', '--no-tags', '--no-write-fetch-head', '--filter=blob:none', '--stdin'], {
      cwd: dir,
      env: gitEnv(home),
      input: before.join('\n') + '\n',
      encoding: 'utf8',
    });
    expect(r.status, r.stderr).toBe(0);
    expect(missing()).toEqual([]);
    ok(['fsck', '--full'], dir);
  }, 60_000);
});

describe('large headers', () => {
  it('a 1 MB commit message pushes and clones back byte for byte', () => {
    const dir = join(home, 'message');
    ok(['init', '-q', '-b', 'main', dir]);
    writeFileSync(join(dir, 'a'), 'a\n');
    ok(['add', 'a'], dir);
    writeFileSync(join(home, 'message.txt'), `subject\n\n${'a long body line\n'.repeat(65536)}`);
    ok(['commit', '-q', '-F', join(home, 'message.txt')], dir);
    ok(['push', '-q', writerUrl(hub, 'message'), 'main'], dir);
    const back = join(home, 'message-clone.git');
    ok(['clone', '-q', '--bare', `${hub.url}/message.git`, back]);
    // Same id, so the same bytes; fsck --full rehashes what it read.
    expect(ok(['rev-parse', 'main'], back)).toBe(ok(['rev-parse', 'main'], dir));
    expect(Number(ok(['cat-file', '-s', 'main'], back))).toBeGreaterThan(1_000_000);
    ok(['fsck', '--full'], back);
  }, 60_000);
});
