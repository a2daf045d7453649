// The real git binary against the hub under wrangler dev: ls-remote and clone
// of empty repositories (v0 and v2), the default branch through an unborn HEAD,
// and the access answers as git shows them (credentials asked, refused, not found).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runGit } from './git-client.js';
import { startHub, type Hub } from './hub-server.js';

let hub: Hub;
let home: string;

/** Runs git; its exit status and output. */
function git(args: string[], cwd = home) {
  return runGit(home, args, cwd, 30_000);
}

async function api(method: string, path: string, body?: unknown): Promise<Response> {
  return fetch(`${hub.url}/api${path}`, {
    method,
    headers: { authorization: `Bearer ${hub.adminToken}`, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
}

/** The hub URL with credentials in it (git still sends the first request without them). */
function urlWith(user: string, password: string, path: string): string {
  const u = new URL(path, hub.url);
  u.username = user;
  u.password = password;
  return u.href;
}

beforeAll(async () => {
  hub = await startHub();
  home = mkdtempSync(join(tmpdir(), 'git-http-e2e-'));
  expect((await api('POST', '/repos', { name: 'empty', kind: 'git', public: true })).status).toBe(201);
  expect((await api('POST', '/repos', { name: 'trunk', kind: 'git', public: true })).status).toBe(201);
  expect((await api('PATCH', '/repos/trunk', { default_branch: 'trunk' })).status).toBe(200);
  expect((await api('POST', '/repos', { name: 'secret', kind: 'git', public: false })).status).toBe(201);
  expect((await api('POST', '/users', { name: 'carol', password: 'carol-pw' })).status).toBe(201);
  expect((await api('POST', '/users', { name: 'dave', password: 'dave-pw' })).status).toBe(201);
  expect((await api('PUT', '/repos/secret/members/carol', { role: 'read' })).status).toBe(200);
});

afterAll(async () => {
  await hub?.stop();
  if (home) rmSync(home, { recursive: true, force: true });
});

describe('git against an empty repository', () => {
  it('ls-remote lists nothing, in v2 and v0, with and without .git', () => {
    for (const version of ['2', '0']) {
      for (const path of ['/empty.git', '/empty']) {
        const r = git(['-c', `protocol.version=${version}`, 'ls-remote', `${hub.url}${path}`]);
        expect(r.stderr, `v${version} ${path}`).toBe('');
        expect(r.status).toBe(0);
        expect(r.stdout).toBe('');
      }
    }
  });

  it('clones it ("You appear to have cloned an empty repository"), in v2 and v0', () => {
    for (const version of ['2', '0']) {
      const dir = `clone-v${version}`;
      const r = git(['-c', `protocol.version=${version}`, 'clone', `${hub.url}/empty.git`, dir]);
      expect(r.status, r.stderr).toBe(0);
      expect(r.stderr).toContain('You appear to have cloned an empty repository');
      expect(git(['remote', 'get-url', 'origin'], join(home, dir)).stdout.trim()).toBe(`${hub.url}/empty.git`);
    }
  });

  it('checks out the default branch set through the API (unborn HEAD, v2)', () => {
    const r = git(['-c', 'init.defaultBranch=other', 'clone', `${hub.url}/trunk.git`, 'clone-trunk']);
    expect(r.status, r.stderr).toBe(0);
    expect(git(['symbolic-ref', 'HEAD'], join(home, 'clone-trunk')).stdout.trim()).toBe('refs/heads/trunk');
    expect(git(['ls-remote', '--symref', `${hub.url}/trunk.git`]).stdout).toBe('');
  });
});

describe('git and the access rules', () => {
  it('asks for credentials on a private repository (401) and cannot prompt', () => {
    const r = git(['ls-remote', `${hub.url}/secret.git`]);
    expect(r.status).toBe(128);
    expect(r.stderr).toContain('could not read Username');
  });

  it('reports a wrong password as an authentication failure', () => {
    const r = git(['ls-remote', urlWith('carol', 'wrong', '/secret.git')]);
    expect(r.status).toBe(128);
    expect(r.stderr).toContain('Authentication failed');
  });

  it('serves a member, and the admin token as a password', () => {
    for (const [user, pw] of [['carol', 'carol-pw'], ['anyone', hub.adminToken]]) {
      const r = git(['ls-remote', urlWith(user, pw, '/secret.git')]);
      expect(r.status, `${user}: ${r.stderr}`).toBe(0);
    }
  });

  it('hides a private repository from a non-member and an unknown one from anyone as not found', () => {
    for (const path of ['/secret.git', '/missing.git']) {
      const r = git(['ls-remote', urlWith('dave', 'dave-pw', path)]);
      expect(r.status, path).toBe(128);
      expect(r.stderr).toContain('not found');
    }
    // Anonymous: the same 401 as a private repository, so existence does not leak.
    expect(git(['ls-remote', `${hub.url}/missing.git`]).stderr).toContain('could not read Username');
  });

  it('refuses a push by a reader before any pack is sent (403)', () => {
    const dir = join(home, 'clone-v2');
    expect(git(['commit', '--allow-empty', '-q', '-m', 'first'], dir).status).toBe(0);
    const r = git(['push', urlWith('carol', 'carol-pw', '/secret.git'), 'HEAD:refs/heads/main'], dir);
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain('403');
  });
});
