// Accounts through the real fossil 2.21 against the hub under wrangler dev:
// every caller (anonymous, unknown user, wrong password, non-member, each
// role, a write member's API tokens of each scope as the password) against
// clone, pull and sync (each after someone else pushed) and push of a new
// check-in, on a public and a private fossil repository. Whether a push landed is read from
// a fresh clone made with the admin token; refusals are fossil's own messages
// on the client's output, with the exit status fossil gives them.
import { copyFileSync, existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { check, checkins, cloneAndOpen, fossilHome, runFossil, type FossilResult } from './fossil-client.js';
import { http } from './hub-client.js';
import { startHub, type Hub } from './hub-server.js';

let hub: Hub;
let home: string;
let cleanup: () => void;
let tokens: { admin: string; write: string; read: string };

/** One API request; `auth` defaults to the hub admin's token. */
async function api(method: string, path: string, body?: unknown, auth = `Bearer ${hub.adminToken}`): Promise<{ status: number; json: any }> {
  const res = await http(`${hub.url}/api${path}`, {
    method,
    headers: { authorization: auth, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = res.body.toString('utf8');
  return { status: res.status, json: text ? JSON.parse(text) : null };
}

/** The repository URL, with credentials when given. */
function url(repo: string, cred?: [string, string]): string {
  const u = new URL(`/${repo}`, hub.url);
  if (cred) {
    u.username = encodeURIComponent(cred[0]);
    u.password = encodeURIComponent(cred[1]);
  }
  return u.href;
}

const fossil = (args: string[], cwd = home): FossilResult => runFossil(home, args, cwd, 60_000);
const comments = (repo: string): string[] => checkins(home, repo).map((c) => c.comment);

/** A new check-in in the check-out `dir` (autosync off, forks allowed); its comment. */
function commit(dir: string, comment: string): string {
  const file = `${comment.replace(/[^a-z0-9]+/gi, '-')}.txt`;
  writeFileSync(join(dir, file), `${comment}\n`);
  check(fossil(['add', file], dir), 'fossil add');
  check(fossil(['commit', '--allow-fork', '--no-warnings', '-m', comment], dir), `fossil commit ${comment}`);
  return comment;
}

/** fossil's refusal on the client's output, or the whole output when it shows none of them. */
const REFUSALS = ['login failed', 'not authorized to clone', 'not authorized to read', 'not authorized to write', 'pull only'];
function refusal(r: FossilResult): string {
  const found = REFUSALS.filter((m) => r.output.includes(m));
  return found.length > 0 ? `${found.join(' + ')} (exit ${r.status})` : `no refusal shown (exit ${r.status}): ${r.output.trim()}`;
}
/** 'ok' when the operation really transferred and fossil exited 0 without an error, else its refusal. */
function outcome(r: FossilResult, transferred: boolean): string {
  if (transferred && r.status === 0 && !/Error|not authorized|login failed/.test(r.output)) return 'ok';
  if (transferred) return `ok, with ${refusal(r)}`;
  return refusal(r);
}

const REPOS = ['pub', 'priv'] as const;
/** The hub admin's login: any name that is no hub user, with the admin token as the password. */
const admin = (): [string, string] => ['hubadmin', hub.adminToken];
/** Admin clones of each repository made before anyone else pushed (the base of callers whose clone is refused). */
const base: Record<string, { repo: string; dir: string }> = {};

beforeAll(async () => {
  hub = await startHub();
  ({ home, done: cleanup } = fossilHome('accounts-fossil-'));
  for (const repo of REPOS) expect((await api('POST', '/repos', { name: repo, kind: 'fossil', public: repo === 'pub' })).status).toBe(201);
  for (const u of ['stranger', 'reader', 'writer', 'boss', 'mallory']) expect((await api('POST', '/users', { name: u, password: `${u}-pw` })).status).toBe(201);
  for (const repo of REPOS) {
    for (const [u, role] of [
      ['reader', 'read'],
      ['writer', 'write'],
      ['boss', 'admin'],
      ['mallory', 'write'],
    ]) {
      expect((await api('PUT', `/repos/${repo}/members/${u}`, { role })).status).toBe(200);
    }
  }
  // The writer's own tokens, minted with the writer's password (admin scope needs the password, not a token).
  const writerAuth = `Basic ${Buffer.from('writer:writer-pw').toString('base64')}`;
  const mint = async (scope: string) => {
    const r = await api('POST', '/users/writer/tokens', { scopes: [scope] }, writerAuth);
    expect(r.status, JSON.stringify(r.json)).toBe(201);
    return r.json.token as string;
  };
  tokens = { admin: await mint('admin'), write: await mint('write'), read: await mint('read') };
  for (const repo of REPOS) {
    base[repo] = cloneAndOpen(home, url(repo, admin()), `base-${repo}`);
    check(fossil(['settings', 'autosync', 'off'], base[repo].dir), 'settings');
  }
}, 180_000);

afterAll(async () => {
  await hub?.stop();
  cleanup?.();
});

describe('roles against fossil operations', () => {
  it('clone, pull, sync and push as each caller on a public and a private repository, with fossil’s own refusals', () => {
    const callers: Record<string, [string, string] | undefined> = {
      anonymous: undefined,
      'unknown user': ['nosuchuser', 'whatever'],
      'wrong password': ['mallory', 'not-it'],
      'no role': ['stranger', 'stranger-pw'],
      read: ['reader', 'reader-pw'],
      write: ['writer', 'writer-pw'],
      admin: ['boss', 'boss-pw'],
      'write user, admin token': ['writer', tokens.admin],
      'write user, write token': ['writer', tokens.write],
      'write user, read token': ['writer', tokens.read],
    };
    const OK = ['ok', 'ok', 'ok', 'ok'];
    // fossil exits 1 when a clone fails, 0 after a refused pull, sync or push: only its output tells.
    const LOGIN_FAILED = ['login failed (exit 1)', 'login failed (exit 0)', 'login failed (exit 0)', 'login failed (exit 0)'];
    const READ_ONLY = ['ok', 'ok', 'ok, with pull only (exit 0)', 'not authorized to write (exit 0)'];
    const NO_ACCESS = ['not authorized to clone (exit 1)', 'not authorized to read (exit 0)', 'not authorized to read (exit 0)', 'not authorized to write (exit 0)'];
    // [clone, pull, sync, push] per repository. README "Fossil hosting" (Rights) and "Fossil logins":
    // public repositories give everyone clone and pull; a login that fails is refused even there; only
    // admin-scoped tokens work as fossil passwords (a write or read token is a failed login).
    const expected: Record<string, Record<string, string[]>> = {
      anonymous: { pub: READ_ONLY, priv: NO_ACCESS },
      'unknown user': { pub: LOGIN_FAILED, priv: LOGIN_FAILED },
      'wrong password': { pub: LOGIN_FAILED, priv: LOGIN_FAILED },
      'no role': { pub: READ_ONLY, priv: NO_ACCESS },
      read: { pub: READ_ONLY, priv: READ_ONLY },
      write: { pub: OK, priv: OK },
      admin: { pub: OK, priv: OK },
      'write user, admin token': { pub: OK, priv: OK },
      'write user, write token': { pub: LOGIN_FAILED, priv: LOGIN_FAILED },
      'write user, read token': { pub: LOGIN_FAILED, priv: LOGIN_FAILED },
    };

    type Case = { who: string; repo: string; cred?: [string, string]; n: number; work: string; results: Record<string, FossilResult>; got: Record<string, boolean> };
    const cases: Case[] = [];
    let n = 0;
    for (const [who, cred] of Object.entries(callers)) for (const repo of REPOS) cases.push({ who, repo, cred, n: ++n, work: join(home, `work-${n}.fossil`), results: {}, got: {} });

    // 1. Clones; a caller whose clone is refused works on a copy of the admin's clone instead.
    for (const c of cases) {
      const r = fossil(['clone', '--save-http-password', url(c.repo, c.cred), c.work]);
      c.results.clone = r;
      c.got.clone = r.status === 0 && existsSync(c.work) && comments(c.work).includes('initial empty check-in');
      if (!c.got.clone) {
        rmSync(c.work, { force: true });
        copyFileSync(base[c.repo].repo, c.work);
      }
    }
    // 2. Someone else (the hub admin) pushes a check-in to each repository; each caller pulls it.
    const news = (round: number) => {
      const out: Record<string, string> = {};
      for (const repo of REPOS) {
        out[repo] = commit(base[repo].dir, `news ${round} in ${repo}`);
        expect(outcome(fossil(['push', '--once', url(repo, admin())], base[repo].dir), true)).toBe('ok');
      }
      return out;
    };
    const first = news(1);
    for (const c of cases) {
      c.results.pull = fossil(['pull', '--once', '-R', c.work, url(c.repo, c.cred)]);
      c.got.pull = comments(c.work).includes(first[c.repo]);
    }
    // 3. Again, fetched with fossil sync from a clone with nothing new of its own: a caller who may
    // read but not write gets the pull and fossil's "pull only" message. (With new content to send,
    // fossil server, and the hub, refuse the whole sync with "not authorized to write" instead.)
    const second = news(2);
    for (const c of cases) {
      c.results.sync = fossil(['sync', '--once', '-R', c.work, url(c.repo, c.cred)]);
      c.got.sync = comments(c.work).includes(second[c.repo]);
    }
    // 4. Each caller pushes a check-in of their own.
    for (const c of cases) {
      const dir = join(home, `work-${c.n}`);
      mkdirSync(dir);
      check(fossil(['open', c.work, '--force'], dir), 'fossil open');
      check(fossil(['settings', 'autosync', 'off'], dir), 'settings');
      commit(dir, `push ${c.n} by ${c.who}`);
      c.results.push = fossil(['push', '--once', url(c.repo, c.cred)], dir);
    }
    // 5. What landed, by a fresh clone per repository.
    const landed: Record<string, string[]> = {};
    for (const repo of REPOS) {
      const file = join(home, `check-${repo}.fossil`);
      check(fossil(['clone', '--save-http-password', url(repo, admin()), file]), 'check clone');
      landed[repo] = comments(file);
      expect(landed[repo]).toEqual(expect.arrayContaining([first[repo], second[repo]]));
    }
    const got: typeof expected = {};
    for (const c of cases) {
      c.got.push = landed[c.repo].includes(`push ${c.n} by ${c.who}`);
      (got[c.who] ??= {})[c.repo] = ['clone', 'pull', 'sync', 'push'].map((op) => outcome(c.results[op], c.got[op]));
    }
    expect(got).toEqual(expected);
  }, 300_000);
});

describe('audit log', () => {
  it('records a fossil push: who, how many artifacts, the new check-ins; the admin token is a null actor; pulls add nothing', async () => {
    const events = async () => (await api('GET', '/repos/pub/events?limit=1000')).json.events as any[];
    const dir = join(home, 'audit-writer');
    const repo = join(home, 'audit-writer.fossil');
    check(fossil(['clone', '--save-http-password', url('pub', ['writer', 'writer-pw']), repo]), 'clone');
    mkdirSync(dir);
    check(fossil(['open', repo, '--force'], dir), 'fossil open');
    check(fossil(['settings', 'autosync', 'off'], dir), 'settings');
    const before = await events();
    commit(dir, 'audited one');
    commit(dir, 'audited two');
    expect(outcome(fossil(['push', url('pub', ['writer', 'writer-pw'])], dir), true)).toBe('ok');
    const mine = checkins(home, repo)
      .filter((c) => c.comment.startsWith('audited'))
      .map((c) => c.hash)
      .sort();
    expect(mine).toHaveLength(2);
    const added = (await events()).filter((e) => !before.some((b) => b.id === e.id));
    expect(added.length).toBeGreaterThan(0);
    for (const e of added) expect(e).toMatchObject({ type: 'fossil-push', actor: 'writer', at: expect.stringMatching(/^\d{4}-\d\d-\d\dT/) });
    // Two check-ins, each with one new file: four artifacts, over however many rounds fossil took.
    expect(added.reduce((n, e) => n + e.artifacts, 0)).toBe(4);
    expect(added.flatMap((e) => e.checkins).sort()).toEqual(mine);
    // A pull stores nothing and logs nothing; a push with the admin token logs a null actor (as git's does).
    check(fossil(['pull', '-R', repo, url('pub', ['writer', 'writer-pw'])]), 'pull');
    expect((await events()).length).toBe(before.length + added.length);
    commit(base.pub.dir, 'audited by the admin');
    expect(outcome(fossil(['push', url('pub', admin())], base.pub.dir), true)).toBe('ok');
    const [latest] = await events();
    expect(latest).toMatchObject({ type: 'fossil-push', actor: null });
    expect(latest.checkins).toHaveLength(1);
  }, 120_000);
});
