// A history replayed into the hub in chunks, as a team pushes it over weeks,
// then the hub stopped and started again on the same state directory (what
// `npm start` keeps in .wrangler/state: D1, the Durable Objects' SQLite, R2)
// before the next clone, fetch and push. Git: the first-parent history of a
// generated repository pushed a third at a time and then commit by commit,
// a clone fetching after each step; fossil: the same history through `git
// fast-export | fossil import --git --incremental`, pushed after each chunk.
// After the restart every ref, object and artifact must still be there, the
// users must still sign in, and the Worker must have logged no
// exception. A push cut off by the hub's death (kill -9, its request half sent) leaves no trace.
import { spawnSync } from 'node:child_process';
import { request as httpRequest } from 'node:http';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateHistory } from '../fixtures/git-history.js';
import { check, fossilEnv, runFossil } from './fossil-client.js';
import { apiOk, gitIn, lsRemote, packObjects, receivePackBody, setupRepos, writerAuth, writerUrl } from './hub-client.js';
import { startHub, type Hub } from './hub-server.js';

let hub: Hub;
let home: string;
let state: string;
let src: string;
let ok: ReturnType<typeof gitIn>['ok'];
/** main's first-parent commits of the source, oldest first. */
let revs: string[];
/** Everything the hub printed, over both runs. */
let logs = '';

const fossil = (args: string[], cwd = home) => check(runFossil(home, args, cwd), `fossil ${args.join(' ')}`);
/** A repository's artifacts but the clusters (a server makes those as clients pull, as fossil server does). */
const content = (repo: string) =>
  fossil(['sql', '-R', repo, `SELECT uuid FROM blob WHERE size >= 0 AND rid NOT IN (SELECT rid FROM tagxref JOIN tag USING (tagid) WHERE tagname = 'cluster') ORDER BY uuid`]).stdout.trim().split('\n');
const fossilUrl = (user?: string) => (user ? hub.url.replace('http://', 'http://fred:fred-pw@') : hub.url) + '/f';

async function start(): Promise<void> {
  hub = await startHub({ state });
}
async function stop(): Promise<void> {
  logs += hub?.log() ?? '';
  await hub?.stop();
}

/** Imports src's main up to `rev` into the fossil repository `repo` (marks kept in home), after what was imported before. */
function importUpTo(repo: string, from: string | undefined, rev: string): void {
  const marks = join(home, 'git.marks');
  const exp = spawnSync('git', ['fast-export', '-M', ...(from ? [`--import-marks=${marks}`] : []), `--export-marks=${marks}`, from ? `${from}..${rev}` : rev], { cwd: src, maxBuffer: 1 << 28 });
  expect(exp.status, exp.stderr?.toString()).toBe(0);
  const args = ['import', '--git', ...(from ? ['--incremental', '--import-marks', join(home, 'fossil.marks')] : []), '--export-marks', join(home, 'fossil.marks'), repo];
  const imp = spawnSync('fossil', args, { cwd: home, input: exp.stdout, env: fossilEnv(home), maxBuffer: 1 << 28 });
  expect(imp.status, imp.stderr?.toString()).toBe(0);
}

beforeAll(async () => {
  home = mkdtempSync(join(tmpdir(), 'qa-restart-'));
  state = join(home, 'state');
  ({ ok } = gitIn(home));
  src = join(home, 'src.git');
  await Promise.all([start(), generateHistory(src, { seed: 23, commits: 90, topics: 6, keepBranches: 3, tags: 4 })]);
  revs = ok(['rev-list', '--reverse', '--first-parent', 'main'], src).trim().split('\n');
  await setupRepos(hub, ['g'], { name: 'fred', password: 'fred-pw' });
}, 180_000);

afterAll(async () => {
  await stop();
  if (home) rmSync(home, { recursive: true, force: true });
});

describe('a history pushed in steps, then the hub restarted', () => {
  const clone = () => join(home, 'clone');
  const fsrc = () => join(home, 'src.fossil');
  const fclone = () => join(home, 'fclone.fossil');

  it('git: pushed a third at a time, then commit by commit, a clone fetching after each push', () => {
    const url = writerUrl(hub, 'g', 'fred', 'fred-pw');
    const steps = [Math.floor(revs.length / 3), Math.floor((2 * revs.length) / 3), ...revs.slice(-4).map((_, i) => revs.length - 4 + i)];
    ok(['push', '-q', url, `${revs[steps[0]]}:refs/heads/main`], src);
    ok(['clone', '-q', `${hub.url}/g.git`, clone()]);
    for (const step of steps.slice(1)) {
      ok(['push', '-q', url, `${revs[step]}:refs/heads/main`], src);
      ok(['pull', '-q', '--ff-only'], clone());
      expect(ok(['rev-parse', 'HEAD'], clone()).trim()).toBe(revs[step]);
    }
    // Then the topic branches and tags.
    ok(['push', '-q', '--mirror', url], src);
    expect(lsRemote(ok, hub, 'g')).toEqual(ok(['ls-remote', src]).trim().split('\n').sort());
    ok(['fetch', '-q', '--tags'], clone());
    ok(['fsck', '--strict', '--no-progress'], clone());
  });

  it('fossil: the same history imported chunk by chunk (fossil import --git --incremental), pushed after each', async () => {
    importUpTo(fsrc(), undefined, revs[Math.floor(revs.length / 2)]);
    const code = fossil(['sql', '-R', fsrc(), `SELECT value FROM config WHERE name = 'project-code'`]).stdout.trim().replace(/'/g, '');
    await apiOk(hub, 'POST', '/repos', { name: 'f', kind: 'fossil', public: true, project_code: code });
    await apiOk(hub, 'PUT', '/repos/f/members/fred', { role: 'write' });
    expect(fossil(['push', '-R', fsrc(), fossilUrl('fred')]).output).not.toMatch(/Error/);
    fossil(['clone', '--save-http-password', fossilUrl('fred'), fclone()]);
    let from = revs[Math.floor(revs.length / 2)];
    for (const step of [Math.floor((3 * revs.length) / 4), revs.length - 2, revs.length - 1]) {
      importUpTo(fsrc(), from, revs[step]);
      from = revs[step];
      expect(fossil(['push', '-R', fsrc(), fossilUrl('fred')]).output).not.toMatch(/Error/);
      expect(fossil(['pull', '-R', fclone()]).output).not.toMatch(/Error/);
      expect(content(fclone())).toEqual(content(fsrc()));
    }
    expect(fossil(['test-integrity', '-R', fclone()]).output).toMatch(/\b0 errors/);
  });

  it('after a restart on the same state: refs, objects, artifacts and logins are all there, and pushes go on', async () => {
    const refsBefore = lsRemote(ok, hub, 'g');
    // A push cut off by a kill: its request is half sent (a commit on main and its pack) when the hub dies.
    const tip = revs[revs.length - 1];
    const cut = ok(['commit-tree', '-p', tip, '-m', 'cut off by the restart', `${tip}^{tree}`], clone()).trim();
    const body = receivePackBody([{ old: tip, new: cut, ref: 'refs/heads/main' }], 'report-status', packObjects(clone(), `${cut}\n^${tip}\n`));
    const halfSent = httpRequest(`${hub.url}/g.git/git-receive-pack`, {
      method: 'POST',
      agent: false,
      headers: { authorization: writerAuth('fred', 'fred-pw'), 'content-type': 'application/x-git-receive-pack-request', 'content-length': String(body.length) },
    });
    // The hub answers 200 as soon as it starts reading a push; the connection then dies with it.
    halfSent.on('error', () => {});
    halfSent.on('response', (res) => res.on('error', () => {}).resume());
    halfSent.write(body.subarray(0, body.length >> 1));
    await new Promise((r) => setTimeout(r, 500));
    // Killed (SIGKILL), not stopped: nothing of the hub gets to finish or tidy up (bench/crash.ts kills at random points).
    logs += hub.log();
    await hub.crash();
    halfSent.destroy();
    await start();
    const url = writerUrl(hub, 'g', 'fred', 'fred-pw');
    // Git: the same refs (nothing of the cut-off push); the old clone fetches nothing new, then pushes a commit on top.
    expect(lsRemote(ok, hub, 'g')).toEqual(refsBefore);
    ok(['remote', 'set-url', 'origin', url], clone());
    ok(['fetch', '-q', 'origin'], clone());
    expect(ok(['rev-parse', 'origin/main'], clone()).trim()).toBe(revs[revs.length - 1]);
    writeFileSync(join(clone(), 'after-restart.txt'), 'pushed after the hub restarted\n');
    ok(['add', '-A'], clone());
    ok(['commit', '-q', '-m', 'after restart'], clone());
    ok(['push', '-q', 'origin', 'main'], clone());
    const mirror = join(home, 'mirror.git');
    ok(['clone', '-q', '--mirror', `${hub.url}/g.git`, mirror]);
    ok(['fsck', '--strict', '--no-progress'], mirror);
    expect(ok(['rev-parse', 'main'], mirror).trim()).toBe(ok(['rev-parse', 'HEAD'], clone()).trim());
    expect(ok(['rev-list', '--count', '--all'], mirror).trim()).toBe(String(Number(ok(['rev-list', '--count', '--all'], src).trim()) + 1));
    const partial = join(home, 'partial');
    ok(['clone', '-q', '--filter=blob:none', `${hub.url}/g.git`, partial]);
    expect(ok(['log', '-1', '--format=%s'], partial).trim()).toBe('after restart');
    // Fossil: the writer still signs in (fossil's login card is checked against the password sealed in D1).
    const work = join(home, 'fwork');
    spawnSync('mkdir', ['-p', work]);
    fossil(['open', fclone(), '--force'], work);
    // The hub came back on another port: the commit is pushed to the new URL, with the same login.
    fossil(['settings', 'autosync', 'off'], work);
    writeFileSync(join(work, 'after-restart.txt'), 'committed after the hub restarted\n');
    fossil(['add', 'after-restart.txt'], work);
    fossil(['commit', '--no-warnings', '-m', 'after restart'], work);
    expect(fossil(['push', fossilUrl('fred')], work).output).not.toMatch(/Error|fail/i);
    const fresh = join(home, 'fresh.fossil');
    fossil(['clone', fossilUrl(), fresh]);
    expect(content(fresh)).toEqual(content(fclone()));
    expect(fossil(['test-integrity', '-R', fresh]).output).toMatch(/\b0 errors/);
    expect(fossil(['sql', '-R', fresh, `SELECT count(*) FROM event WHERE type = 'ci' AND comment = 'after restart'`]).stdout.trim()).toBe('1');
    expect(logs + hub.log()).not.toMatch(/Error|Uncaught|exception/i);
  });
});
