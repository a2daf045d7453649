// The real git against the hub under wrangler dev with a generated history
// (test/fixtures/git-history.ts): mirror push, clones compared ref by ref and
// fsck'd (v2 and v0), incremental fetch, force-push and deletions, push
// options, atomic pushes, racing pushes, server progress, a 12 MB file.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateHistory, randomBytes } from '../fixtures/git-history.js';
import { gitIn, lsRemote, packObjects, postReceivePack, receivePackBody, setupRepos, writerUrl } from './hub-client.js';
import { startHub, type Hub } from './hub-server.js';

let hub: Hub;
let home: string;
let src: string;
let git: ReturnType<typeof gitIn>['git'];
let ok: ReturnType<typeof gitIn>['ok'];
let gitAsync: ReturnType<typeof gitIn>['gitAsync'];

beforeAll(async () => {
  home = mkdtempSync(join(tmpdir(), 'git-mirror-e2e-'));
  ({ git, ok, gitAsync } = gitIn(home));
  const [started] = await Promise.all([startHub(), generateHistory(join(home, 'src.git'), { seed: 11, commits: 300 })]);
  hub = started;
  src = join(home, 'src.git');
  await setupRepos(hub, ['mirror', 'rules', 'race', 'big', 'many']);
}, 120_000);

afterAll(async () => {
  await hub?.stop();
  if (home) rmSync(home, { recursive: true, force: true });
});

/** `for-each-ref` of a local repository: every ref with its id and type. */
const refsOf = (dir: string) => ok(['for-each-ref', '--format=%(objectname) %(objecttype) %(refname)'], dir);
/** `ls-remote` of a local repository, sorted (the same shape as lsRemote of the hub). */
const lsLocal = (dir: string) => ok(['ls-remote', dir]).trim().split('\n').filter(Boolean).sort();
/** A commit on top of `branch` in the work tree `dir`, changing `file`. */
function commitIn(dir: string, file: string, content: string, msg: string): string {
  writeFileSync(join(dir, file), content);
  ok(['add', '-A'], dir);
  ok(['commit', '-q', '-m', msg], dir);
  return ok(['rev-parse', 'HEAD'], dir).trim();
}

describe('mirror push of a generated history', () => {
  it('pushes every ref with --mirror, showing server progress, and ls-remote matches the source exactly', () => {
    const r = git(['push', '--mirror', '--progress', writerUrl(hub, 'mirror')], src);
    expect(r.status, r.stderr).toBe(0);
    // Server-side progress on band 2, shown by git as "remote: ...".
    expect(r.stderr).toMatch(/^remote: Resolving deltas: 100% \(\d+\/\d+\), done\./m);
    expect(lsRemote(ok, hub, 'mirror')).toEqual(lsLocal(src));
  });

  it('pushes refs whose audit events pass SQLite\'s 2 MB string limit: all stored, ls-remote and clone --mirror match', () => {
    // 2,400 refs of ~980-byte names: ~2.5 MB of events in one push, as a 40,001-ref mirror push makes.
    // Was: every ref "ng failed to update ref" (SQLITE_TOOBIG writing the push's events).
    const many = join(home, 'many.git');
    ok(['clone', '-q', '--bare', src, many]);
    const dir = ['a', 'b', 'c', 'd'].map((x) => x.repeat(240)).join('/');
    const head = ok(['rev-parse', 'HEAD'], many).trim();
    const input = Array.from({ length: 2400 }, (_, i) => `create refs/heads/${dir}/${i} ${head}\n`).join('');
    const u = spawnSync('git', ['update-ref', '--stdin'], { cwd: many, input, encoding: 'utf8' });
    expect(u.status, u.stderr).toBe(0);
    ok(['pack-refs', '--all'], many);
    const r = git(['push', '-q', '--mirror', writerUrl(hub, 'many')], many);
    expect(r.status, r.stderr).toBe(0);
    // Outputs of ~2.4 MB: past the 1 MB spawnSync buffer of git()/ok().
    const out = (args: string[]) => spawnSync('git', args, { cwd: home, encoding: 'utf8', maxBuffer: 1 << 26 }).stdout;
    const listed = out(['ls-remote', `${hub.url}/many.git`]);
    expect(listed.split('\n').length).toBeGreaterThan(2400);
    expect(listed).toEqual(out(['ls-remote', many]));
    const back = join(home, 'many-back.git');
    ok(['clone', '-q', '--mirror', `${hub.url}/many.git`, back]);
    const refs = ['for-each-ref', '--format=%(objectname) %(refname)'];
    expect(out(['-C', back, ...refs])).toEqual(out(['-C', many, ...refs]));
  });

  for (const version of ['2', '0']) {
    it(`clones it back with protocol v${version}: identical refs, fsck --full --strict clean, progress shown`, () => {
      const dst = join(home, `mirror-v${version}.git`);
      const r = git(['-c', `protocol.version=${version}`, 'clone', '--mirror', '--progress', `${hub.url}/mirror.git`, dst]);
      expect(r.status, r.stderr).toBe(0);
      expect(r.stderr).toMatch(/^remote: (Enumerating|Counting) objects/m);
      expect(r.stderr).toMatch(/^remote: Total \d+/m);
      expect(refsOf(dst)).toBe(refsOf(src));
      expect(ok(['symbolic-ref', 'HEAD'], dst).trim()).toBe('refs/heads/main');
      ok(['fsck', '--full', '--strict', '--no-dangling'], dst);
      expect(ok(['rev-list', '--objects', '--all'], dst).split('\n').sort()).toEqual(ok(['rev-list', '--objects', '--all'], src).split('\n').sort());
    });
  }

  it('fetches new pushes incrementally (v2 and v0) into the existing clones', () => {
    const work = join(home, 'work');
    ok(['clone', '-q', src, work]);
    ok(['checkout', '-q', '-b', 'feature', 'main'], work);
    commitIn(work, 'feature.txt', 'feature\n', 'feature work');
    ok(['checkout', '-q', 'main'], work);
    commitIn(work, 'README.md', 'changed readme\n', 'main moves on');
    ok(['tag', '-a', 'v-next', '-m', 'next'], work);
    const r = git(['push', '--progress', writerUrl(hub, 'mirror'), 'main', 'feature', 'v-next'], work);
    expect(r.status, r.stderr).toBe(0);
    // Pushed to the source too, so the clones can be compared with it.
    ok(['push', '-q', src, 'main', 'feature', 'v-next'], work);
    for (const version of ['2', '0']) {
      const dst = join(home, `mirror-v${version}.git`);
      const f = git(['-c', `protocol.version=${version}`, 'fetch', '--progress', 'origin'], dst);
      expect(f.status, f.stderr).toBe(0);
      // Only the new objects travel: 3 commits' worth, not the history.
      const total = /remote: Total (\d+)/.exec(f.stderr);
      expect(total, f.stderr).not.toBeNull();
      expect(Number(total![1])).toBeLessThan(20);
      expect(refsOf(dst)).toBe(refsOf(src));
      ok(['fsck', '--full', '--strict', '--no-dangling'], dst);
    }
  });
});

describe('ref update rules', () => {
  let work: string;
  beforeAll(() => {
    work = join(home, 'rules-work');
    ok(['clone', '-q', '--no-local', src, work]);
    ok(['push', '-q', writerUrl(hub, 'rules'), 'refs/remotes/origin/*:refs/heads/*', 'refs/tags/*:refs/tags/*'], work);
    ok(['remote', 'add', 'hub', writerUrl(hub, 'rules')], work);
  });

  it('accepts a force-push (as a bare repository under git http-backend does) and refuses the same push without force', () => {
    const before = ok(['rev-parse', 'main'], work).trim();
    ok(['reset', '-q', '--hard', 'main~3'], work);
    const rewritten = commitIn(work, 'rewrite.txt', 'rewritten\n', 'rewritten history');
    const plain = git(['push', 'hub', 'main'], work);
    expect(plain.status).not.toBe(0);
    expect(lsRemote(ok, hub, 'rules')).toContain(`${before}\trefs/heads/main`);
    const forced = git(['push', '--force', 'hub', 'main'], work);
    expect(forced.status, forced.stderr).toBe(0);
    expect(forced.stderr).toContain('(forced update)');
    expect(lsRemote(ok, hub, 'rules')).toContain(`${rewritten}\trefs/heads/main`);
    expect(lsRemote(ok, hub, 'rules')).toContain(`${rewritten}\tHEAD`);
  });

  it('deletes branches and tags in a delete-only push, and refuses deleting the current branch', () => {
    const remote = lsRemote(ok, hub, 'rules');
    const topics = remote.filter((l) => l.includes('\trefs/heads/topic/')).map((l) => l.split('\t')[1]);
    expect(topics.length).toBeGreaterThanOrEqual(2);
    const r = git(['push', 'hub', `:${topics[0]}`, ':refs/tags/light-1'], work);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toContain('[deleted]');
    const after = lsRemote(ok, hub, 'rules');
    expect(after).toEqual(remote.filter((l) => !l.endsWith(`\t${topics[0]}`) && !l.endsWith('\trefs/tags/light-1')));
    const cur = git(['push', 'hub', ':main'], work);
    expect(cur.status).not.toBe(0);
    expect(cur.stderr).toMatch(/\[remote rejected\] main \(deletion of the current branch prohibited\)/);
    expect(lsRemote(ok, hub, 'rules')).toEqual(after);
  });

  it('takes push options (-o) when the server advertises push-options', () => {
    const id = commitIn(work, 'opts.txt', 'options\n', 'with push options');
    const r = git(['push', '-o', 'ci.skip', '-o', 'x=y', 'hub', 'main'], work);
    expect(r.status, r.stderr).toBe(0);
    expect(lsRemote(ok, hub, 'rules')).toContain(`${id}\trefs/heads/main`);
  });

  it('--atomic: one refused ref (deleting the current branch) refuses every ref, and nothing changes', () => {
    const before = lsRemote(ok, hub, 'rules');
    const id = commitIn(work, 'atomic.txt', 'atomic\n', 'atomic push');
    const r = git(['push', '--atomic', 'hub', 'main:refs/heads/atomic-new', ':refs/heads/main'], work);
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(/atomic-new \(atomic push failure\)|atomic-new.*\(atomic/);
    expect(lsRemote(ok, hub, 'rules')).toEqual(before);
    // Without --atomic the good ref goes in and only the bad one is refused.
    const r2 = git(['push', 'hub', 'main:refs/heads/atomic-new', ':refs/heads/main'], work);
    expect(r2.status).not.toBe(0);
    expect(lsRemote(ok, hub, 'rules')).toContain(`${id}\trefs/heads/atomic-new`);
  });

  it('atomic: a stale old id on one of two refs (hand-built request) changes nothing; report says why', async () => {
    const before = lsRemote(ok, hub, 'rules');
    const main = before.find((l) => l.endsWith('\trefs/heads/main'))!.split('\t')[0];
    const other = before.find((l) => l.endsWith('\trefs/heads/atomic-new'))!.split('\t')[0];
    const target = ok(['rev-parse', 'main~2'], work).trim();
    const wrongOld = ok(['rev-parse', 'main~3'], work).trim();
    expect(target).not.toBe(main);
    expect(wrongOld).not.toBe(other);
    const body = receivePackBody(
      [
        { old: main, new: target, ref: 'refs/heads/main' },
        { old: wrongOld, new: target, ref: 'refs/heads/atomic-new' },
      ],
      'report-status atomic agent=test',
      packObjects(work, ''), // git sends an empty pack when the server has every object
    );
    const res = await postReceivePack(hub, 'rules', body);
    expect(res.status).toBe(200);
    expect(res.text).toContain('unpack ok\n');
    expect(res.text).toMatch(/ng refs\/heads\/main [^\n]*atomic/);
    expect(res.text).toMatch(/ng refs\/heads\/atomic-new /);
    expect(lsRemote(ok, hub, 'rules')).toEqual(before);
  });
});

describe('racing pushes on one branch', () => {
  it('two git pushes from the same base at once: exactly one wins, the other is refused, refs are consistent', async () => {
    const base = join(home, 'race-base');
    ok(['clone', '-q', '--no-local', src, base]);
    ok(['push', '-q', writerUrl(hub, 'race'), 'origin/main:refs/heads/main'], base);
    const a = join(home, 'race-a');
    const b = join(home, 'race-b');
    ok(['clone', '-q', `${hub.url}/race.git`, a]);
    ok(['clone', '-q', `${hub.url}/race.git`, b]);
    // Each side carries enough new content that the pushes overlap in the hub.
    writeFileSync(join(a, 'a.bin'), randomBytes(1, 1 << 20));
    const idA = commitIn(a, 'a.txt', 'a\n', 'from a');
    writeFileSync(join(b, 'b.bin'), randomBytes(2, 1 << 20));
    const idB = commitIn(b, 'b.txt', 'b\n', 'from b');
    const [ra, rb] = await Promise.all([gitAsync(['push', writerUrl(hub, 'race'), 'main'], a), gitAsync(['push', writerUrl(hub, 'race'), 'main'], b)]);
    const wins = [ra, rb].filter((r) => r.status === 0);
    expect(wins.length, `${ra.stderr}\n---\n${rb.stderr}`).toBe(1);
    const loser = ra.status === 0 ? rb : ra;
    expect(loser.stderr).toMatch(/\[remote rejected\] main -> main \(failed to update ref\)|\[rejected\] +main -> main \(fetch first\)/);
    const winner = ra.status === 0 ? idA : idB;
    expect(lsRemote(ok, hub, 'race')).toContain(`${winner}\trefs/heads/main`);
    const check = join(home, 'race-check');
    ok(['clone', '-q', `${hub.url}/race.git`, check]);
    ok(['fsck', '--full', '--no-dangling'], check);
  });

  it('two hand-built pushes with the same old id sent at once: one ok, the other ng, whatever the order', async () => {
    const main = lsRemote(ok, hub, 'race').find((l) => l.endsWith('\trefs/heads/main'))!.split('\t')[0];
    const work = join(home, 'race-check');
    ok(['pull', '-q'], work);
    const x = commitIn(work, 'x.txt', 'x\n', 'x');
    ok(['reset', '-q', '--hard', 'HEAD~1'], work);
    const y = commitIn(work, 'y.txt', 'y\n', 'y');
    const body = (tip: string) => receivePackBody([{ old: main, new: tip, ref: 'refs/heads/main' }], 'report-status agent=test', packObjects(work, `${tip}\n^${main}\n`));
    const [rx, ry] = await Promise.all([postReceivePack(hub, 'race', body(x)), postReceivePack(hub, 'race', body(y))]);
    expect(rx.status).toBe(200);
    expect(ry.status).toBe(200);
    const okCount = [rx, ry].filter((r) => r.text.includes('ok refs/heads/main')).length;
    expect(okCount, `${rx.text}\n${ry.text}`).toBe(1);
    const loser = rx.text.includes('ok refs/heads/main') ? ry : rx;
    expect(loser.text).toMatch(/ng refs\/heads\/main (failed to update ref|[^\n]+)/);
    const now = lsRemote(ok, hub, 'race').find((l) => l.endsWith('\trefs/heads/main'))!.split('\t')[0];
    expect(now).toBe(rx.text.includes('ok refs/heads/main') ? x : y);
  });
});

describe('a 12 MB binary file', () => {
  // Over the pack reader's 4 MiB window: streamed into its record, hashed as it inflates. Then changed a
  // little: git sends a thin delta on it, applied as the stored file streams; then changed twice in one
  // push (a delta on that delta's result in the pack). A depth-1 clone gets the last version whole, made
  // and deflated as its stored base streams.
  it('is pushed, changed a little and pushed again (deltas on it), and cloned back byte for byte, full and at depth 1', () => {
    const work = join(home, 'big-work');
    ok(['init', '-q', '-b', 'main', work]);
    const data = randomBytes(30303, 12 * 1024 * 1024);
    writeFileSync(join(work, 'big.bin'), data);
    ok(['add', '-A'], work);
    ok(['commit', '-q', '-m', 'big file'], work);
    const r = git(['push', writerUrl(hub, 'big'), 'main'], work);
    expect(r.status, r.stderr).toBe(0);
    data.set(randomBytes(7, 100), 12345);
    writeFileSync(join(work, 'big.bin'), data);
    ok(['commit', '-q', '-a', '-m', 'a few bytes changed'], work);
    const again = git(['push', writerUrl(hub, 'big'), 'main'], work);
    expect(again.status, again.stderr).toBe(0);
    for (const [seed, at] of [[8, 5_000_000], [9, 11_000_000]]) {
      data.set(randomBytes(seed, 50), at);
      writeFileSync(join(work, 'big.bin'), data);
      ok(['commit', '-q', '-a', '-m', `changed at ${at}`], work);
    }
    const twice = git(['push', writerUrl(hub, 'big'), 'main'], work);
    expect(twice.status, twice.stderr).toBe(0);
    const sum = createHash('sha256').update(data).digest('hex');
    for (const depth of [[], ['--depth', '1']]) {
      const dst = join(home, `big-clone${depth.length}`);
      ok(['clone', '-q', ...depth, `${hub.url}/big.git`, dst]);
      expect(createHash('sha256').update(readFileSync(join(dst, 'big.bin'))).digest('hex')).toBe(sum);
      ok(['fsck', '--full'], dst);
      expect(ok(['rev-list', '--count', 'HEAD'], dst).trim()).toBe(depth.length ? '1' : '4');
    }
  });
});
