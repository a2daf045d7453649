// The real git binary pushes a history to the hub under wrangler dev, clones it
// back (v2 and v0), fetches an update, and gets refusals the way git shows them.
import { mkdtempSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runGit } from './git-client.js';
import { startHub, type Hub } from './hub-server.js';

let hub: Hub;
let home: string;

function git(args: string[], cwd = home) {
  return runGit(home, args, cwd);
}

function ok(args: string[], cwd = home): string {
  const r = git(args, cwd);
  expect(r.status, `git ${args.join(' ')}\n${r.stderr}`).toBe(0);
  return r.stdout;
}

const writer = () => {
  const u = new URL('/hist.git', hub.url);
  u.username = 'wendy';
  u.password = 'wendy-pw';
  return u.href;
};

beforeAll(async () => {
  hub = await startHub();
  home = mkdtempSync(join(tmpdir(), 'git-push-e2e-'));
  const api = (method: string, path: string, body: unknown) =>
    fetch(`${hub.url}/api${path}`, { method, headers: { authorization: `Bearer ${hub.adminToken}` }, body: JSON.stringify(body) });
  expect((await api('POST', '/repos', { name: 'hist', kind: 'git', public: true })).status).toBe(201);
  expect((await api('POST', '/users', { name: 'wendy', password: 'wendy-pw' })).status).toBe(201);
  expect((await api('PUT', '/repos/hist/members/wendy', { role: 'write' })).status).toBe(200);

  // A small history: several commits touching text and binary files, a branch, a merge, tags.
  const src = join(home, 'src');
  ok(['init', '-q', '-b', 'main', src]);
  for (let i = 0; i < 12; i++) {
    mkdirSync(join(src, 'dir', String(i % 3)), { recursive: true });
    writeFileSync(join(src, 'dir', String(i % 3), 'file.txt'), `line\n`.repeat(200 + i * 7) + `change ${i}\n`);
    writeFileSync(join(src, `bin${i % 2}.dat`), Buffer.from(Array.from({ length: 5000 }, (_, k) => (k * (i + 1)) & 0xff)));
    ok(['add', '-A'], src);
    ok(['commit', '-q', '-m', `commit ${i}`], src);
    if (i === 5) ok(['tag', '-a', 'v0.5', '-m', 'half way'], src);
  }
  ok(['checkout', '-q', '-b', 'topic', 'HEAD~3'], src);
  writeFileSync(join(src, 'topic.txt'), 'topic\n');
  ok(['add', '-A'], src);
  ok(['commit', '-q', '-m', 'topic work'], src);
  ok(['checkout', '-q', 'main'], src);
  ok(['merge', '-q', '--no-edit', 'topic'], src);
}, 120_000);

afterAll(async () => {
  await hub?.stop();
  if (home) rmSync(home, { recursive: true, force: true });
});

describe('git push, clone and fetch through the hub', () => {
  it('pushes every branch and tag, and ls-remote shows them', () => {
    const src = join(home, 'src');
    const r = git(['push', writer(), 'refs/heads/*:refs/heads/*', 'refs/tags/*:refs/tags/*'], src);
    expect(r.status, r.stderr).toBe(0);
    const remote = ok(['ls-remote', `${hub.url}/hist.git`]);
    const local = ok(['show-ref', '--head', '-d'], src);
    for (const line of local.trim().split('\n')) {
      const [id, name] = line.split(' ');
      if (name === 'HEAD' || name.startsWith('refs/heads/') || name.startsWith('refs/tags/')) expect(remote).toContain(`${id}\t${name}`);
    }
  });

  it('clones it back identical and fsck-clean, in v2 and v0, and again (the same pack, its trailer kept from the first)', () => {
    const src = join(home, 'src');
    for (const [i, version] of ['2', '0', '2'].entries()) {
      const dst = join(home, `clone-${i}-v${version}`);
      ok(['-c', `protocol.version=${version}`, 'clone', '-q', '--mirror', `${hub.url}/hist.git`, dst]);
      ok(['fsck', '--full', '--strict'], dst);
      expect(ok(['rev-list', '--objects', '--all'], dst).split('\n').sort()).toEqual(ok(['rev-list', '--objects', '--all'], src).split('\n').sort());
      expect(ok(['symbolic-ref', 'HEAD'], dst).trim()).toBe('refs/heads/main');
    }
  });

  it('fetches a new commit into an existing clone', () => {
    const src = join(home, 'src');
    const work = join(home, 'work');
    ok(['clone', '-q', `${hub.url}/hist.git`, work]);
    writeFileSync(join(src, 'new.txt'), 'new\n');
    ok(['add', '-A'], src);
    ok(['commit', '-q', '-m', 'new'], src);
    expect(git(['push', writer(), 'main'], src).status).toBe(0);
    ok(['pull', '-q', '--ff-only'], work);
    expect(ok(['rev-parse', 'HEAD'], work)).toBe(ok(['rev-parse', 'HEAD'], src));
    ok(['fsck', '--full'], work);
  });

  it('refuses an anonymous push and a stale non-fast-forward push from git', () => {
    const src = join(home, 'src');
    const anon = git(['push', `${hub.url}/hist.git`, 'main:refs/heads/anon'], src);
    expect(anon.status).not.toBe(0);
    expect(ok(['ls-remote', `${hub.url}/hist.git`])).not.toContain('refs/heads/anon');
    // Rewind locally and push without force: git refuses (the remote has commits we lack).
    const other = join(home, 'other');
    ok(['clone', '-q', `${hub.url}/hist.git`, other]);
    ok(['reset', '-q', '--hard', 'HEAD~1'], other);
    writeFileSync(join(other, 'diverge.txt'), 'x\n');
    ok(['add', '-A'], other);
    ok(['commit', '-q', '-m', 'diverge'], other);
    const r = git(['push', writer(), 'main'], other);
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(/rejected|non-fast-forward|fetch first/);
    expect(ok(['ls-remote', `${hub.url}/hist.git`, 'refs/heads/main']).split('\t')[0]).toBe(ok(['rev-parse', 'HEAD'], src).trim());
  });
});
