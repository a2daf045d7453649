// Outside-in QA of git hosting against git itself: the same push to a local
// bare repository (git's own receive-pack, as git http-backend runs it with its
// defaults) or the same fetch from file:// (git's own upload-pack, filters
// allowed) must give what the hub gives, or differ only where README says so.
// Here: ref names that are not UTF-8, and partial clones whose next command
// fetches many objects lazily at once.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { gitEnv } from './git-client.js';
import { gitIn, setupRepos, writerUrl } from './hub-client.js';
import { startHub, type Hub } from './hub-server.js';

let hub: Hub;
let home: string;
let git: ReturnType<typeof gitIn>['git'];
let ok: ReturnType<typeof gitIn>['ok'];

beforeAll(async () => {
  home = mkdtempSync(join(tmpdir(), 'git-qa-names-'));
  ({ git, ok } = gitIn(home));
  hub = await startHub();
  await setupRepos(hub, ['latin1', 'atomic', 'lazy']);
}, 120_000);

afterAll(async () => {
  await hub?.stop();
  if (home) rmSync(home, { recursive: true, force: true });
});

/** `git args` with bytes in and out (ref names that are not UTF-8 stay bytes). */
function gitBytes(args: string[], cwd: string, input?: Buffer): { status: number | null; stdout: Buffer; stderr: string } {
  const r = spawnSync('git', args, { cwd, env: gitEnv(home), input });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr.toString('latin1') };
}

/** A repository with a commit on main and the same commit on `names` (raw bytes), and a bare copy of git's to push to. */
function repoWithRefs(name: string, names: Buffer[]): { src: string; local: string } {
  const src = join(home, name);
  ok(['init', '-q', '-b', 'main', src]);
  writeFileSync(join(src, 'a.txt'), 'a\n');
  ok(['add', 'a.txt'], src);
  ok(['commit', '-q', '-m', 'a'], src);
  const tip = ok(['rev-parse', 'main'], src).trim();
  const stdin = Buffer.concat(names.map((n) => Buffer.concat([Buffer.from('create '), n, Buffer.from(` ${tip}\n`)])));
  expect(gitBytes(['update-ref', '--stdin'], src, stdin).status).toBe(0);
  const local = join(home, `${name}-reference.git`);
  ok(['init', '-q', '--bare', local]);
  return { src, local };
}

/** ls-remote's lines as latin1 text (one char per byte), HEAD left out, sorted. */
const lsBytes = (url: string, cwd: string) =>
  gitBytes(['ls-remote', url], cwd)
    .stdout.toString('latin1')
    .split('\n')
    .filter((l) => l && !l.endsWith('\tHEAD'))
    .sort();

describe('ref names that are not UTF-8', () => {
  const latin1 = Buffer.from('refs/heads/caf\xe9', 'latin1');

  it('git takes them; the hub refuses that ref alone (ng: refname is not UTF-8) and the push’s other refs go through', () => {
    const { src, local } = repoWithRefs('latin1', [latin1]);
    const toGit = gitBytes(['push', local, 'refs/heads/*:refs/heads/*'], src);
    expect(toGit.status).toBe(0);
    expect(lsBytes(local, src)).toHaveLength(2);
    const toHub = gitBytes(['push', '--porcelain', writerUrl(hub, 'latin1'), 'refs/heads/*:refs/heads/*'], src);
    expect(toHub.status).toBe(1);
    const report = toHub.stdout.toString('latin1');
    // git matched the report line to its ref byte for byte (else: "remote did not send all necessary objects" / no status).
    expect(report).toContain(`!\t${latin1.toString('latin1')}:${latin1.toString('latin1')}\t[remote rejected] (refname is not UTF-8)`);
    expect(report).toMatch(/\*\trefs\/heads\/main:refs\/heads\/main\t\[new branch\]/);
    const main = lsBytes(local, src).filter((l) => l.endsWith('\trefs/heads/main'));
    expect(lsBytes(writerUrl(hub, 'latin1'), src)).toEqual(main);
    expect(hub.log()).not.toMatch(/Uncaught|Error:/);
  });

  it('a fetch of such a name (none is on the hub): git’s own words for a ref that is not there, v2 and v0', () => {
    const { src, local } = { src: join(home, 'latin1'), local: join(home, 'latin1-reference.git') };
    // argv from node is UTF-8: the shell's printf makes the byte 0xef.
    const fetch = (url: string, version: string) =>
      spawnSync('sh', ['-c', `git -c protocol.version=${version} fetch "$0" "$(printf 'refs/heads/na\\357ve')"`, url], { cwd: src, env: gitEnv(home) }).stderr.toString('latin1');
    for (const version of ['2', '0']) {
      const theirs = fetch(local, version);
      expect(theirs).toContain("fatal: couldn't find remote ref refs/heads/na\xefve");
      expect(fetch(writerUrl(hub, 'latin1'), version)).toContain("fatal: couldn't find remote ref refs/heads/na\xefve");
    }
  });

  it('--atomic: the refused name fails every ref, as any refused ref of an atomic push does; nothing changes', () => {
    const { src } = repoWithRefs('atomic', [latin1, Buffer.from('refs/heads/plain')]);
    const r = gitBytes(['push', '--atomic', '--porcelain', writerUrl(hub, 'atomic'), 'refs/heads/*:refs/heads/*'], src);
    expect(r.status).toBe(1);
    const report = r.stdout.toString('latin1');
    expect(report).toContain('(refname is not UTF-8)');
    expect(report).toMatch(/refs\/heads\/main\t\[remote rejected\] \(atomic push failure\)/);
    expect(lsBytes(writerUrl(hub, 'atomic'), src)).toEqual([]);
  });
});

describe('deletes of refs that are not there', () => {
  it('git receive-pack’s warning for each, and both deletes reported ok', () => {
    const src = join(home, 'latin1');
    const lines = (text: string) => text.split('\n').filter((l) => /warning|\[deleted\]/.test(l)).map((l) => l.replace(/\s+$/, '')).join('\n');
    const theirs = gitBytes(['push', join(home, 'latin1-reference.git'), ':refs/heads/absent', ':refs/tags/absent'], src);
    const ours = gitBytes(['push', writerUrl(hub, 'latin1'), ':refs/heads/absent', ':refs/tags/absent'], src);
    expect(theirs.status).toBe(0);
    expect(ours.status).toBe(0);
    expect(lines(theirs.stderr)).toMatch(/(remote: warning: deleting a non-existent ref\n){2}/);
    expect(lines(ours.stderr)).toBe(lines(theirs.stderr));
  });
});

describe('signed pushes (git receive-pack without certificate settings advertises no push-cert)', () => {
  it('--signed is refused by git itself in the same words, nothing changes; --signed=if-asked pushes with git’s warning', () => {
    const src = join(home, 'latin1');
    writeFileSync(join(src, 'b.txt'), 'b\n');
    ok(['add', 'b.txt'], src);
    ok(['commit', '-q', '-m', 'b'], src);
    const before = lsBytes(writerUrl(hub, 'latin1'), src);
    for (const url of [join(home, 'latin1-reference.git'), writerUrl(hub, 'latin1')]) {
      const r = git(['push', '--signed', url, 'main'], src);
      expect(r.status).not.toBe(0);
      expect(r.stderr).toContain('fatal: the receiving end does not support --signed push');
    }
    expect(lsBytes(writerUrl(hub, 'latin1'), src)).toEqual(before);
    for (const url of [join(home, 'latin1-reference.git'), writerUrl(hub, 'latin1')]) {
      const r = git(['push', '--signed=if-asked', url, 'main'], src);
      expect(r.status, r.stderr).toBe(0);
      expect(r.stderr).toContain('warning: not sending a push certificate since the receiving end does not support --signed push');
    }
    expect(lsBytes(writerUrl(hub, 'latin1'), src).filter((l) => l.endsWith('refs/heads/main'))).toEqual([`${ok(['rev-parse', 'main'], src).trim()}\trefs/heads/main`]);
  });
});

describe('ls-remote and partial clones fetching lazily, as from git upload-pack', () => {
  let src: string;
  let reference: string;

  beforeAll(() => {
    src = join(home, 'lazy-src');
    ok(['init', '-q', '-b', 'main', src]);
    // 120 files of 0.1-6 KB on main; on `other` all changed, two deleted, one renamed, then five more commits.
    const text = (i: number, v: string) => `${v} ${i}\n`.repeat(3 + ((i * 37) % 500));
    for (let i = 0; i < 120; i++) writeFileSync(join(src, `f${i}.txt`), text(i, 'one'));
    ok(['add', '-A'], src);
    ok(['commit', '-q', '-m', 'one'], src);
    ok(['checkout', '-q', '-b', 'other'], src);
    for (let i = 0; i < 120; i++) writeFileSync(join(src, `f${i}.txt`), text(i, 'two'));
    ok(['rm', '-q', '-f', 'f1.txt', 'f2.txt'], src);
    ok(['mv', 'f3.txt', 'g3.txt'], src);
    ok(['commit', '-q', '-am', 'two'], src);
    for (let c = 0; c < 5; c++) {
      for (let i = 10; i < 20 + c * 10; i++) writeFileSync(join(src, `f${i}.txt`), text(i, `three ${c}`));
      ok(['commit', '-q', '-am', `three ${c}`], src);
    }
    ok(['checkout', '-q', 'main'], src);
    ok(['tag', '-a', '-m', 'v1', 'v1', 'other~2'], src);
    ok(['tag', 'other-light', 'other'], src);
    ok(['push', '-q', writerUrl(hub, 'lazy'), 'main', 'other', 'v1', 'other-light'], src);
    reference = join(home, 'lazy-reference.git');
    ok(['clone', '-q', '--bare', src, reference]);
    ok(['config', 'uploadpack.allowFilter', 'true'], reference);
    ok(['config', 'uploadpack.allowAnySHA1InWant', 'true'], reference);
  });

  /** A clone with `filter` from the hub and from git's upload-pack, then `then` run in each: what each shows. */
  function both(filter: string, then: (dir: string) => string): { hub: string; git: string } {
    const out = { hub: '', git: '' };
    for (const [side, url] of [
      ['hub', `${hub.url}/lazy.git`],
      ['git', `file://${reference}`],
    ] as const) {
      const dir = join(home, `lazy-${filter.replace(/\W/g, '')}-${side}`);
      ok(['clone', '-q', `--filter=${filter}`, url, dir]);
      out[side] = then(dir);
      ok(['fsck', '--connectivity-only'], dir);
    }
    return out;
  }
  const missing = (dir: string) => ok(['rev-list', '--objects', '--missing=print', '--all'], dir).split('\n').filter((l) => l.startsWith('?')).sort().join('\n');

  it('ls-remote with patterns, --heads, --tags, --refs and --symref, v0 and v2: the lines git upload-pack gives', () => {
    for (const version of ['0', '2']) {
      for (const args of [['other'], ['v1'], ['refs/heads/*'], ['--heads'], ['--tags', 'v*'], ['--refs'], ['--symref', 'HEAD'], ['*other*'], ['nothing']]) {
        const ls = (url: string) => git(['-c', `protocol.version=${version}`, 'ls-remote', ...args.slice(0, -1), url, ...args.slice(-1)]).stdout;
        expect(ls(`${hub.url}/lazy.git`), `v${version} ${args.join(' ')}`).toBe(ls(`file://${reference}`));
      }
    }
    expect(git(['ls-remote', '--tags', `${hub.url}/lazy.git`, 'v*']).stdout).toMatch(/refs\/tags\/v1\^\{\}/);
  });

  it('blob:limit=1k, then a checkout of another branch (one lazy fetch of many blobs): the same files and missing objects', () => {
    const r = both('blob:limit=1k', (dir) => {
      const before = missing(dir);
      ok(['checkout', '-q', 'other'], dir);
      expect(ok(['status', '--porcelain'], dir)).toBe('');
      return `${before.split('\n').length}\n${missing(dir)}\n${ok(['ls-files', '-s'], dir)}`;
    });
    expect(r.hub.split('\n')[0]).not.toBe('1');
    expect(r.hub).toBe(r.git);
  });

  it('tree:0, then git log -p of a few commits and of an older one over v0: the same output and missing objects', () => {
    const r = both('tree:0', (dir) => `${ok(['log', '-p', '-4', 'origin/other'], dir)}${git(['-c', 'protocol.version=0', 'log', '-p', '-1', 'origin/other~5'], dir).stdout}${missing(dir)}`);
    expect(r.hub).toContain('three 3');
    expect(r.hub).toBe(r.git);
  });
});
