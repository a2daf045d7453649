// Accounts through the real git against the hub under wrangler dev: every
// role (and token scope) against clone, fetch and push on a public and a
// private repository, protected branches as git reports them, the push audit
// log, and failed-login limits reaching git as HTTP 429.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runGit, type GitResult } from './git-client.js';
import { startHub, type Hub } from './hub-server.js';

let hub: Hub;
let home: string;

function git(args: string[], cwd = home): GitResult {
  return runGit(home, args, cwd, 60_000);
}

/** One API request on a fresh connection (wrangler dev closes idle keep-alive sockets). */
function api(method: string, path: string, body?: unknown, auth = `Bearer ${hub.adminToken}`): Promise<{ status: number; json: any }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(`${hub.url}/api${path}`, { method, headers: { authorization: auth, 'content-type': 'application/json' }, agent: false }, (res) => {
      let text = '';
      res.on('data', (d) => (text += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, json: text ? JSON.parse(text) : null }));
    });
    req.on('error', reject);
    req.end(body === undefined ? undefined : JSON.stringify(body));
  });
}

/** The hub URL of a repository with credentials in it (git sends them after the 401). */
function url(repo: string, user?: string, password?: string): string {
  const u = new URL(`/${repo}.git`, hub.url);
  if (user !== undefined) {
    u.username = encodeURIComponent(user);
    u.password = encodeURIComponent(password ?? '');
  }
  return u.href;
}

/** What git's failure says, as the HTTP answer behind it. */
function outcome(r: GitResult): 'ok' | 401 | 403 | 404 | 429 | string {
  if (r.status === 0) return 'ok';
  if (/could not read Username|Authentication failed/.test(r.stderr)) return 401;
  if (/returned error: 403/.test(r.stderr)) return 403;
  if (/returned error: 429/.test(r.stderr)) return 429;
  if (/not found/.test(r.stderr)) return 404;
  return r.stderr;
}

let seq = 0;
/** A new commit on top of `dir`'s HEAD; its id. */
function commit(dir: string, text: string): string {
  writeFileSync(join(dir, `file-${++seq}.txt`), `${text}\n`);
  expect(git(['add', '.'], dir).status).toBe(0);
  expect(git(['commit', '-q', '-m', text], dir).status).toBe(0);
  return git(['rev-parse', 'HEAD'], dir).stdout.trim();
}

let tokens: { read: string; write: string };

beforeAll(async () => {
  hub = await startHub({ vars: { HUB_LOGIN_FAILURES_PER_USER: '3' } });
  home = mkdtempSync(join(tmpdir(), 'accounts-git-'));
  for (const [name, isPublic] of [
    ['pub', true],
    ['priv', false],
  ] as const) {
    expect((await api('POST', '/repos', { name, kind: 'git', public: isPublic })).status).toBe(201);
  }
  for (const u of ['none', 'reader', 'writer', 'boss', 'guessme', 'mallory']) expect((await api('POST', '/users', { name: u, password: `${u}-pw` })).status).toBe(201);
  for (const repo of ['pub', 'priv']) {
    expect((await api('PUT', `/repos/${repo}/members/reader`, { role: 'read' })).status).toBe(200);
    expect((await api('PUT', `/repos/${repo}/members/writer`, { role: 'write' })).status).toBe(200);
    expect((await api('PUT', `/repos/${repo}/members/boss`, { role: 'admin' })).status).toBe(200);
  }
  // The writer's own tokens, minted with the writer's password.
  const mint = async (scopes: string[]) => (await api('POST', '/users/writer/tokens', { scopes }, `Basic ${Buffer.from('writer:writer-pw').toString('base64')}`)).json.token as string;
  tokens = { read: await mint(['read']), write: await mint(['write']) };
  // Both repositories start with one commit on main, pushed with the admin token.
  const seed = join(home, 'seed');
  mkdirSync(seed);
  expect(git(['init', '-q', '-b', 'main'], seed).status).toBe(0);
  commit(seed, 'first');
  for (const repo of ['pub', 'priv']) expect(git(['push', '-q', url(repo, 'admin', hub.adminToken), 'main'], seed).status).toBe(0);
});

afterAll(async () => {
  await hub?.stop();
  if (home) rmSync(home, { recursive: true, force: true });
});

describe('roles against git operations', () => {
  it('clone, fetch and push as each role and token scope on public and private repositories', () => {
    const principals: Record<string, [string, string] | undefined> = {
      anonymous: undefined,
      'no role': ['none', 'none-pw'],
      read: ['reader', 'reader-pw'],
      write: ['writer', 'writer-pw'],
      admin: ['boss', 'boss-pw'],
      'write user, read token': ['anyname', tokens.read],
      'write user, write token': ['writer', tokens.write],
      'wrong password': ['mallory', 'not-it'],
    };
    // [clone, fetch, push] on [public, private].
    const expected: Record<string, Record<string, (string | number)[]>> = {
      anonymous: { pub: ['ok', 'ok', 401], priv: [401, 401, 401] },
      'no role': { pub: ['ok', 'ok', 403], priv: [404, 404, 404] },
      read: { pub: ['ok', 'ok', 403], priv: ['ok', 'ok', 403] },
      write: { pub: ['ok', 'ok', 'ok'], priv: ['ok', 'ok', 'ok'] },
      admin: { pub: ['ok', 'ok', 'ok'], priv: ['ok', 'ok', 'ok'] },
      'write user, read token': { pub: ['ok', 'ok', 403], priv: ['ok', 'ok', 403] },
      'write user, write token': { pub: ['ok', 'ok', 'ok'], priv: ['ok', 'ok', 'ok'] },
      // Public repositories are read without asking for credentials, so the wrong ones are never
      // sent; the fourth failure of the name passes this hub's limit of 3 (HUB_LOGIN_FAILURES_PER_USER).
      'wrong password': { pub: ['ok', 'ok', 401], priv: [401, 401, 429] },
    };
    // A clone made with the admin token: the place to fetch into and push from.
    const base: Record<string, string> = {};
    for (const repo of ['pub', 'priv']) {
      base[repo] = join(home, `base-${repo}`);
      expect(git(['clone', '-q', url(repo, 'admin', hub.adminToken), base[repo]]).status).toBe(0);
    }
    const got: typeof expected = {};
    let n = 0;
    for (const [who, cred] of Object.entries(principals)) {
      got[who] = {};
      for (const repo of ['pub', 'priv']) {
        const u = cred ? url(repo, cred[0], cred[1]) : url(repo);
        const clone = git(['clone', '-q', u, join(home, `c${++n}`)]);
        const fetch = git(['fetch', '-q', u, 'main'], base[repo]);
        commit(base[repo], `by ${who}`);
        const push = git(['push', '-q', u, `HEAD:refs/heads/topic-${n}`], base[repo]);
        got[who][repo] = [outcome(clone), outcome(fetch), outcome(push)];
        // A refused push moved nothing.
        const listed = git(['ls-remote', url(repo, 'admin', hub.adminToken), `refs/heads/topic-${n}`]).stdout;
        expect(listed !== '', `${who} ${repo}`).toBe(push.status === 0);
      }
    }
    expect(got).toEqual(expected);
  });

  it('stops accepting a token once revoked', async () => {
    const made = await api('POST', '/users/reader/tokens', { scopes: ['read'] });
    expect(git(['ls-remote', url('priv', 'x', made.json.token)]).status).toBe(0);
    expect((await api('DELETE', `/users/reader/tokens/${made.json.id}`)).status).toBe(204);
    expect(outcome(git(['ls-remote', url('priv', 'x', made.json.token)]))).toBe(401);
  });
});

describe('protected branches', () => {
  it('refuse force-push and deletion, and non-admin pushes where admins_only, as git shows it', async () => {
    const boss = `Basic ${Buffer.from('boss:boss-pw').toString('base64')}`;
    // The repository's admin sets the rules (not only the hub admin).
    expect((await api('PUT', '/repos/pub/protections/main', {}, boss)).status).toBe(201);
    expect((await api('PUT', '/repos/pub/protections/release/*', { admins_only: true }, boss)).status).toBe(201);
    const dir = join(home, 'prot');
    expect(git(['clone', '-q', url('pub', 'writer', 'writer-pw'), dir]).status).toBe(0);
    const w = url('pub', 'writer', 'writer-pw');
    const main0 = git(['rev-parse', 'HEAD'], dir).stdout.trim();
    // A fast-forward goes through.
    const ff = commit(dir, 'fast-forward');
    expect(git(['push', w, 'main'], dir).status).toBe(0);
    // A rewrite does not.
    expect(git(['reset', '-q', '--hard', main0], dir).status).toBe(0);
    commit(dir, 'rewritten');
    const force = git(['push', '--force', '--porcelain', w, 'main'], dir);
    expect(force.status).not.toBe(0);
    expect(force.stdout).toMatch(/!\trefs\/heads\/main:refs\/heads\/main\t\[remote rejected\] \(protected branch: force-push refused\)/);
    expect(git(['ls-remote', w, 'refs/heads/main']).stdout.split('\t')[0]).toBe(ff);
    // Even the admin may not rewrite or delete a protected branch.
    expect(git(['push', '--force', url('pub', 'boss', 'boss-pw'), 'main'], dir).stderr).toContain('protected branch: force-push refused');
    // release/* is for admins only; other branches are unprotected.
    const rel = git(['push', w, 'HEAD:refs/heads/release/1'], dir);
    expect(rel.stderr).toContain('[remote rejected] HEAD -> release/1 (protected branch: only admins may push)');
    expect(git(['push', url('pub', 'boss', 'boss-pw'), 'HEAD:refs/heads/release/1'], dir).status).toBe(0);
    // Nobody deletes a protected branch (main is refused anyway, as the current branch).
    const del = git(['push', url('pub', 'boss', 'boss-pw'), ':release/1'], dir);
    expect(del.stderr).toContain('[remote rejected] release/1 (protected branch: deletion refused)');
    expect(git(['push', '--force', w, 'HEAD:refs/heads/scratch'], dir).status).toBe(0);
    expect(git(['push', w, ':scratch'], dir).status).toBe(0);
    // Rules removed: the rewrite goes through.
    expect((await api('DELETE', '/repos/pub/protections/main', undefined, boss)).status).toBe(204);
    expect(git(['push', '--force', w, 'main'], dir).status).toBe(0);
  });
});

describe('the audit log', () => {
  it('records who moved which ref from which id to which, readable by the repository readers', async () => {
    const dir = join(home, 'audit');
    expect(git(['clone', '-q', url('priv', 'writer', 'writer-pw'), dir]).status).toBe(0);
    const before = git(['rev-parse', 'HEAD'], dir).stdout.trim();
    const after = commit(dir, 'audited');
    expect(git(['push', '-q', url('priv', 'writer', tokens.write), 'main', 'HEAD:refs/heads/audit-branch'], dir).status).toBe(0);
    expect(git(['push', '-q', url('priv', 'boss', 'boss-pw'), ':audit-branch'], dir).status).toBe(0);
    const reader = `Basic ${Buffer.from('reader:reader-pw').toString('base64')}`;
    const r = await api('GET', '/repos/priv/events?limit=3', undefined, reader);
    expect(r.status).toBe(200);
    const events = r.json.events.map((e: any) => ({ actor: e.actor, ref: e.ref, old: e.old, new: e.new }));
    expect(events).toEqual([
      { actor: 'boss', ref: 'refs/heads/audit-branch', old: after, new: null },
      expect.objectContaining({ actor: 'writer' }),
      expect.objectContaining({ actor: 'writer' }),
    ]);
    expect(events.slice(1).sort((a: any, b: any) => a.ref.localeCompare(b.ref))).toEqual([
      { actor: 'writer', ref: 'refs/heads/audit-branch', old: null, new: after },
      { actor: 'writer', ref: 'refs/heads/main', old: before, new: after },
    ]);
    for (const e of r.json.events) expect(Math.abs(Date.parse(e.at) - Date.now())).toBeLessThan(10 * 60_000);
    // Refused pushes (earlier, in the matrix) left no events; the admin token's pushes have a null actor.
    const all = (await api('GET', '/repos/priv/events?limit=1000')).json.events as any[];
    expect(all.every((e) => ['writer', 'boss', null].includes(e.actor))).toBe(true);
    expect(all.some((e) => e.actor === null && e.ref === 'refs/heads/main' && e.old === null)).toBe(true);
    // Not for strangers: as for a missing repository.
    expect((await api('GET', '/repos/priv/events', undefined, `Basic ${Buffer.from('none:none-pw').toString('base64')}`)).status).toBe(404);
  });
});

describe('failed logins', () => {
  it('reach git as HTTP 429 once a user name failed too often, even with the right password', () => {
    for (let i = 0; i < 3; i++) expect(outcome(git(['ls-remote', url('priv', 'guessme', `guess-${i}`)]))).toBe(401);
    expect(outcome(git(['ls-remote', url('priv', 'guessme', 'guessme-pw')]))).toBe(429);
    // Other users are unaffected.
    expect(git(['ls-remote', url('priv', 'reader', 'reader-pw')]).status).toBe(0);
  });
});
