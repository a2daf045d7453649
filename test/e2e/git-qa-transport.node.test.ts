// Outside-in QA of git transport variations the other git e2e files do not
// run: chunked request bodies (small http.postBuffer) with many haves,
// protocol v1, leases and --follow-tags, pushes from shallow clones, deep
// delta chains and stored zlib, a token as a Bearer header, a tree:0 clone's
// lazy checkout, submodules by relative URL, fetches by commit id, URL forms.
// Each checked against what git itself gives where it can be (file://).
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { gitEnv } from './git-client.js';
import { api, gitIn, lsRemote, setupRepos, writerUrl } from './hub-client.js';
import { startHub, type Hub } from './hub-server.js';

let hub: Hub;
let home: string;
let src: string;
let git: ReturnType<typeof gitIn>['git'];
let ok: ReturnType<typeof gitIn>['ok'];
let n = 0;
const dir = () => join(home, `d${n++}`);

/** `commits` commits on `ref` (from `from`, else a root), each rewriting `file` with a counter: fast-import, not one git process a commit. */
function history(repo: string, ref: string, commits: number, file: string, from?: string, body = (i: number) => `${file} version ${i}\n`): void {
  let input = '';
  for (let i = 0; i < commits; i++) {
    const text = body(i);
    input += `commit ${ref}\ncommitter C <c@example.com> ${1_600_000_000 + i * 60} +0000\ndata 4\nc${String(i % 1000).padStart(3, '0')}\n`;
    if (i === 0 && from) input += `from ${from}\n`;
    input += `M 100644 inline ${file}\ndata ${Buffer.byteLength(text)}\n${text}\n`;
  }
  const r = spawnSync('git', ['fast-import', '--quiet'], { cwd: repo, env: gitEnv(home), input });
  if (r.status !== 0) throw new Error(`fast-import: ${r.stderr}`);
}

beforeAll(async () => {
  home = mkdtempSync(join(tmpdir(), 'git-qa-transport-'));
  ({ git, ok } = gitIn(home));
  hub = await startHub();
  await setupRepos(hub, ['qa', 'lib', 'sup', 'shallow-first', 'deep', 'stored']);
  expect((await api(hub, 'POST', '/repos', { name: 'priv', kind: 'git', public: false })).status).toBe(201);
  // A source with text, an empty file, CRLF, a symlink, an executable and unicode paths with spaces.
  src = join(home, 'src');
  ok(['init', '-q', '-b', 'main', src]);
  history(src, 'refs/heads/main', 40, 'log.txt');
  ok(['checkout', '-q', 'main'], src);
  writeFileSync(join(src, 'empty'), '');
  writeFileSync(join(src, 'crlf.txt'), 'a\r\nb\r\n');
  spawnSync('mkdir', ['-p', join(src, 'dir with space/ü')]);
  writeFileSync(join(src, 'dir with space/ü/naïve file.txt'), 'x\n');
  spawnSync('ln', ['-s', '../log.txt', join(src, 'dir with space/link')]);
  writeFileSync(join(src, 'run.sh'), '#!/bin/sh\n', { mode: 0o755 });
  ok(['add', '-A'], src);
  ok(['commit', '-q', '-m', 'odd paths'], src);
  history(src, 'refs/heads/main', 20, 'more.txt', 'refs/heads/main^0');
  ok(['tag', '-a', '-m', 'v1', 'v1', 'main~10'], src);
  ok(['config', 'uploadpack.allowFilter', 'true'], src);
  ok(['config', 'uploadpack.allowAnySHA1InWant', 'true'], src);
}, 120_000);

afterAll(async () => {
  await hub?.stop();
  if (home) rmSync(home, { recursive: true, force: true });
});

const objectsOf = (d: string, ...extra: string[]) => ok(['rev-list', '--objects', '--all', ...extra], d).split('\n').sort();

describe('chunked request bodies (http.postBuffer smaller than the request)', () => {
  it('a push, a v0 fetch with hundreds of haves, and a v2 fetch arrive whole', () => {
    const p = git(['-c', 'http.postBuffer=1024', 'push', writerUrl(hub, 'qa'), 'main', 'v1'], src);
    expect(p.status, p.stderr).toBe(0);
    expect(lsRemote(ok, hub, 'qa')).toEqual(ok(['ls-remote', src]).trim().split('\n').filter((l) => !l.includes('\trefs/remotes/')).sort());
    // A clone that shares only an old commit and holds 300 commits of its own on 30 branches:
    // the negotiation's request bodies run to many kB.
    const d = dir();
    ok(['init', '-q', d]);
    ok(['fetch', '-q', src, `${ok(['rev-parse', 'main~30'], src).trim()}:refs/heads/base`], d);
    history(d, 'refs/heads/mine', 300, 'mine.txt', 'refs/heads/base^0');
    for (let b = 1; b <= 30; b++) ok(['branch', `b${b}`, `mine~${b * 9}`], d);
    for (const [v, buffer] of [['0', '1024'], ['2', '65536']]) {
      // (git 2.39's v2 client aborts on a postBuffer below 64 KiB: "BUG: remote-curl.c: The entire rpc->buf should be larger than LARGE_PACKET_MAX".)
      const f = git(['-c', `protocol.version=${v}`, '-c', `http.postBuffer=${buffer}`, 'fetch', '--progress', `${hub.url}/qa.git`, `main:refs/remotes/v${v}/main`], d);
      expect(f.status, f.stderr).toBe(0);
      expect(ok(['rev-parse', `v${v}/main`], d)).toBe(ok(['rev-parse', 'main'], src));
      ok(['fsck', '--connectivity-only'], d);
    }
    // The first fetch found the common commit: only the 30 new commits' objects came.
    expect(ok(['rev-list', '--count', 'base..v0/main'], d).trim()).toBe('30');
  });
});

describe('protocol v1, leases and tags', () => {
  it('ls-remote, clone and push with protocol.version=1', () => {
    const d = dir();
    ok(['-c', 'protocol.version=1', 'clone', '-q', writerUrl(hub, 'qa'), d]);
    expect(ok(['-c', 'protocol.version=1', 'ls-remote', `${hub.url}/qa.git`]).trim().split('\n').sort()).toEqual(lsRemote(ok, hub, 'qa'));
    ok(['commit', '-q', '--allow-empty', '-m', 'over v1'], d);
    ok(['-c', 'protocol.version=1', 'push', '-q', 'origin', 'HEAD:refs/heads/v1-branch'], d);
    expect(ok(['ls-remote', `${hub.url}/qa.git`, 'refs/heads/v1-branch']).split('\t')[0]).toBe(ok(['rev-parse', 'HEAD'], d).trim());
    // v1 is v0 opened by a `version 1` line, as git upload-pack and receive-pack send it.
    for (const args of [['ls-remote', `${hub.url}/qa.git`], ['push', '--dry-run', writerUrl(hub, 'qa'), 'HEAD:refs/heads/v1-dry']]) {
      const r = spawnSync('git', ['-c', 'protocol.version=1', ...args], { cwd: d, env: { ...gitEnv(home), GIT_TRACE_PACKET: '1' }, encoding: 'utf8' });
      expect(r.status, r.stderr).toBe(0);
      const got = r.stderr.split('\n').filter((l) => l.includes('packet:')).map((l) => l.replace(/^.*packet: +git< /, '')).slice(0, 3);
      expect(got, args[0]).toEqual([`# service=git-${args[0] === 'push' ? 'receive' : 'upload'}-pack`, '0000', 'version 1']);
    }
  });

  it('--force-with-lease refuses a stale lease (nothing changes) and forces with the right one; --follow-tags', () => {
    const d = dir();
    ok(['clone', '-q', writerUrl(hub, 'qa'), d]);
    ok(['push', '-q', 'origin', 'HEAD:refs/heads/lease'], d);
    ok(['commit', '-q', '--allow-empty', '-m', 'someone else'], d);
    ok(['push', '-q', 'origin', 'HEAD:refs/heads/lease'], d);
    const theirs = ok(['rev-parse', 'HEAD'], d).trim();
    // Our view of the branch is one commit old: the lease is stale.
    ok(['update-ref', 'refs/remotes/origin/lease', 'HEAD~1'], d);
    ok(['reset', '-q', '--hard', 'HEAD~1'], d);
    ok(['commit', '-q', '--allow-empty', '-m', 'rewritten'], d);
    const stale = git(['push', '--force-with-lease=lease', 'origin', 'HEAD:refs/heads/lease'], d);
    expect(stale.status).not.toBe(0);
    expect(stale.stderr).toContain('(stale info)');
    expect(ok(['ls-remote', `${hub.url}/qa.git`, 'refs/heads/lease']).split('\t')[0]).toBe(theirs);
    const forced = git(['push', `--force-with-lease=lease:${theirs}`, 'origin', 'HEAD:refs/heads/lease'], d);
    expect(forced.status, forced.stderr).toBe(0);
    expect(forced.stderr).toContain('(forced update)');
    // --follow-tags: an annotated tag on the pushed history goes along, a lightweight one does not.
    ok(['tag', '-a', '-m', 'annotated', 'follow-me', 'HEAD~1'], d);
    ok(['tag', 'not-me', 'HEAD~1'], d);
    ok(['commit', '-q', '--allow-empty', '-m', 'tip'], d);
    ok(['push', '-q', '--follow-tags', 'origin', 'HEAD:refs/heads/lease'], d);
    const tags = ok(['ls-remote', '--tags', `${hub.url}/qa.git`]);
    expect(tags).toContain(`${ok(['rev-parse', 'follow-me'], d).trim()}\trefs/tags/follow-me\n`);
    expect(tags).not.toContain('not-me');
  });
});

describe('shallow clones pushing', () => {
  it('a commit made in a --depth 1 clone pushes (as CI jobs do), and clones back complete', () => {
    const d = dir();
    ok(['clone', '-q', '--depth', '1', writerUrl(hub, 'qa'), d]);
    writeFileSync(join(d, 'ci.txt'), 'from ci\n');
    ok(['add', 'ci.txt'], d);
    ok(['commit', '-q', '-m', 'from a shallow clone'], d);
    const r = git(['push', 'origin', 'HEAD:refs/heads/from-shallow'], d);
    expect(r.status, r.stderr).toBe(0);
    const full = dir();
    ok(['clone', '-q', '--branch', 'from-shallow', `${hub.url}/qa.git`, full]);
    ok(['fsck', '--full', '--strict'], full);
    expect(ok(['rev-list', '--count', 'HEAD'], full).trim()).toBe(String(Number(ok(['rev-list', '--count', 'main'], src).trim()) + 1));
  });

  it('a shallow history pushed to an empty repository is refused, as git does, and nothing changes', () => {
    const d = dir();
    ok(['clone', '-q', '--depth', '2', `file://${src}`, d]);
    // git's own receive-pack refuses it too ("shallow update not allowed"): its parents are not there.
    const local = join(home, 'shallow-first-reference.git');
    ok(['init', '-q', '--bare', local]);
    expect(git(['push', local, 'HEAD:refs/heads/main'], d).stderr).toContain('shallow update not allowed');
    const r = git(['push', writerUrl(hub, 'shallow-first'), 'HEAD:refs/heads/main'], d);
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain('! [remote rejected] HEAD -> main (shallow update not allowed)');
    expect(lsRemote(ok, hub, 'shallow-first')).toEqual([]);
  });
});

describe('packs as pushed', () => {
  it('delta chains 300 deep (pack.depth=4095) and stored zlib (pack.compression=0) push and clone back byte for byte', () => {
    const d = dir();
    ok(['init', '-q', '-b', 'main', d]);
    // One 60 kB text edited a line at a time: pack-objects chains every version on the last.
    const lines = Array.from({ length: 2000 }, (_, i) => `line ${i} ${'x'.repeat(10 + ((i * 7919) % 50))}`);
    history(d, 'refs/heads/main', 300, 'big.txt', undefined, (i) => {
      lines[(i * 37) % lines.length] += ` edit ${i}`;
      return lines.join('\n') + '\n';
    });
    // Repacked with deep chains first: a push reuses the deltas it finds (fast-import's stop at 50).
    ok(['-c', 'pack.depth=4095', '-c', 'pack.window=300', 'repack', '-adfq'], d);
    const packDir = join(d, '.git/objects/pack');
    const verify = ok(['verify-pack', '-v', join(packDir, readdirSync(packDir).find((f) => f.endsWith('.idx'))!)], d);
    expect(Math.max(...[...verify.matchAll(/chain length = (\d+)/g)].map((m) => Number(m[1])))).toBeGreaterThan(200);
    const deep = git(['-c', 'pack.depth=4095', 'push', writerUrl(hub, 'deep'), 'main'], d);
    expect(deep.status, deep.stderr).toBe(0);
    // Again with every zlib stream of stored blocks (level 0), as the push reuses them.
    const packSize = () => readdirSync(packDir).filter((f) => f.endsWith('.pack')).map((f) => statSync(join(packDir, f)).size)[0];
    const compressed = packSize();
    ok(['-c', 'pack.depth=4095', '-c', 'pack.window=300', '-c', 'pack.compression=0', 'repack', '-adFq'], d);
    expect(packSize()).toBeGreaterThan(compressed * 1.5);
    const stored = git(['-c', 'pack.compression=0', 'push', writerUrl(hub, 'stored'), 'main'], d);
    expect(stored.status, stored.stderr).toBe(0);
    for (const repo of ['deep', 'stored']) {
      const c = dir();
      ok(['clone', '-q', '--mirror', `${hub.url}/${repo}.git`, c]);
      ok(['fsck', '--full', '--strict'], c);
      expect(objectsOf(c)).toEqual(objectsOf(d));
    }
  });
});

describe('credentials', () => {
  it('an API token works as a Bearer header (http.extraHeader) and as the password, on a private repository', async () => {
    expect((await api(hub, 'PUT', '/repos/priv/members/wendy', { role: 'write' })).status).toBe(200);
    const made = await api(hub, 'POST', '/users/wendy/tokens', { scopes: ['write'] });
    expect(made.status).toBe(201);
    const token = (JSON.parse(made.text) as { token: string }).token;
    const bearer = ['-c', `http.extraHeader=Authorization: Bearer ${token}`];
    ok([...bearer, 'push', '-q', `${hub.url}/priv.git`, 'main'], src);
    const d = dir();
    ok([...bearer, 'clone', '-q', `${hub.url}/priv.git`, d]);
    expect(ok(['rev-parse', 'HEAD'], d)).toBe(ok(['rev-parse', 'main'], src));
    const u = new URL('/priv.git', hub.url);
    u.username = 'any';
    u.password = token;
    expect(ok(['ls-remote', u.href, 'refs/heads/main']).split('\t')[0]).toBe(ok(['rev-parse', 'main'], src).trim());
    // Without it: asked for credentials, as for any private repository.
    expect(git(['ls-remote', `${hub.url}/priv.git`]).stderr).toContain('could not read Username');
  });
});

describe('partial clones and submodules', () => {
  it('a tree:0 clone checks out an older commit by fetching its trees and blobs lazily', () => {
    const d = dir();
    ok(['clone', '-q', '--filter=tree:0', `${hub.url}/qa.git`, d]);
    const old = ok(['rev-parse', 'main~15'], src).trim();
    ok(['checkout', '-q', old], d);
    expect(ok(['ls-files', '-s'], d)).toBe(ok(['ls-tree', '-r', '--format=%(objectmode) %(objectname) 0\t%(path)', old], src));
    expect(ok(['status', '--porcelain'], d)).toBe('');
    expect(ok(['diff', '--stat', 'HEAD~3', 'HEAD'], d)).toBe(ok(['diff', '--stat', `${old}~3`, old], src));
  });

  it('a superproject whose submodule URL is relative (../lib.git) clones recursively, also shallow and blob:none', () => {
    const lib = join(home, 'lib-src');
    ok(['init', '-q', '-b', 'main', lib]);
    history(lib, 'refs/heads/main', 5, 'l.txt');
    ok(['push', '-q', writerUrl(hub, 'lib'), 'main'], lib);
    const sup = join(home, 'sup-src');
    ok(['init', '-q', '-b', 'main', sup]);
    ok(['-c', 'protocol.file.allow=always', 'submodule', 'add', '-q', lib, 'lib'], sup);
    ok(['config', '-f', '.gitmodules', 'submodule.lib.url', '../lib.git'], sup);
    ok(['add', '.gitmodules'], sup);
    ok(['commit', '-q', '-m', 'sup'], sup);
    ok(['push', '-q', writerUrl(hub, 'sup'), 'main'], sup);
    for (const args of [[], ['--depth', '1', '--shallow-submodules', '--filter=blob:none']]) {
      const d = dir();
      ok(['clone', '-q', '--recurse-submodules', ...args, `${hub.url}/sup.git`, d]);
      expect(ok(['rev-parse', 'HEAD'], join(d, 'lib'))).toBe(ok(['rev-parse', 'main'], lib));
      expect(ok(['status', '--porcelain'], d)).toBe('');
      expect(ok(['submodule', 'status'], d)).toMatch(/^ [0-9a-f]{40} lib /);
    }
  });
});

describe('fetches by id and URL forms', () => {
  it('fetches a commit that is no ref tip by its id (v0 and v2); an unknown id is refused with "not our ref"', () => {
    const old = ok(['rev-parse', 'main~25'], src).trim();
    for (const v of ['0', '2']) {
      const d = dir();
      ok(['init', '-q', d]);
      ok(['-c', `protocol.version=${v}`, 'fetch', '-q', `${hub.url}/qa.git`, old], d);
      expect(ok(['rev-parse', 'FETCH_HEAD'], d).trim()).toBe(old);
      ok(['fsck', '--connectivity-only', 'FETCH_HEAD'], d);
      const bad = git(['-c', `protocol.version=${v}`, 'fetch', `${hub.url}/qa.git`, '1234567890123456789012345678901234567890'], d);
      expect(bad.status).toBe(128);
      expect(bad.stderr).toContain('not our ref 1234567890123456789012345678901234567890');
    }
  });

  it('serves /NAME.git/, /NAME/, /NAME and with runs of slashes (as http-backend) alike; a filter it does not implement is a clear error', () => {
    const expected = lsRemote(ok, hub, 'qa');
    for (const path of ['/qa.git/', '/qa/', '/qa', '//qa.git', '/qa.git//']) expect(ok(['ls-remote', `${hub.url}${path}`]).trim().split('\n').sort(), path).toEqual(expected);
    const d = dir();
    ok(['clone', '-q', `${hub.url}//qa.git`, d]);
    expect(ok(['rev-parse', 'HEAD'], d).trim()).toBe(ok(['rev-parse', 'main'], src).trim());
    const r = git(['clone', '--filter=sparse:oid=main:.sparse', `${hub.url}/qa.git`, dir()]);
    expect(r.status).toBe(128);
    expect(r.stderr).toContain("filter 'sparse:oid=main:.sparse' is not supported by this server");
  });
});
