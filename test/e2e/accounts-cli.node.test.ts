// The admin CLI (bin/hub.mjs) against the hub under wrangler dev: every
// command group, human output and --json, exit codes, and what it did
// checked through the API and the real git.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runGit } from './git-client.js';
import { startHub, type Hub } from './hub-server.js';

let hub: Hub;
let home: string;
const BIN = join(process.cwd(), 'bin/hub.mjs');

/** Runs the CLI with the hub's URL and admin token in the environment (or `env` instead). */
function hubCli(args: string[], env: Record<string, string | undefined> = {}, input?: string) {
  const r = spawnSync(process.execPath, [BIN, ...args], {
    env: { PATH: process.env.PATH, HUB_URL: hub.url, HUB_ADMIN_TOKEN: hub.adminToken, ...env },
    encoding: 'utf8',
    input,
    timeout: 30_000,
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}
const json = (args: string[], env: Record<string, string | undefined> = {}) => {
  const r = hubCli([...args, '--json'], env);
  expect(r.status, r.stderr).toBe(0);
  return JSON.parse(r.stdout);
};

beforeAll(async () => {
  hub = await startHub();
  home = mkdtempSync(join(tmpdir(), 'accounts-cli-'));
});

afterAll(async () => {
  await hub?.stop();
  if (home) rmSync(home, { recursive: true, force: true });
});

describe('hub CLI', () => {
  it('prints usage, and exits 2 on bad usage', () => {
    const help = hubCli(['help']);
    expect(help.status).toBe(0);
    expect(help.stdout).toContain('tokens create USER --scopes');
    for (const bad of [['frobnicate'], ['repos', 'create'], ['tokens', 'create', 'x'], ['repos', 'set', 'x'], ['users', 'create', 'x'], ['--token']]) {
      const r = hubCli(bad);
      expect(r.status, bad.join(' ')).toBe(2);
      expect(r.stderr).toContain('usage: hub');
    }
  });

  it('manages repositories, users, members, tokens and protections, as the API then shows them', () => {
    expect(hubCli(['repos', 'create', 'cli-repo', '--private']).stdout).toMatch(/^created cli-repo {2}git {2}private {2}http:\/\/127\.0\.0\.1:\d+\/cli-repo\.git/);
    expect(json(['repos', 'create', 'cli-fossil', '--fossil'])).toMatchObject({ name: 'cli-fossil', kind: 'fossil', public: true });
    const list = hubCli(['repos', 'list']);
    expect(list.stdout.split('\n')[0]).toMatch(/^NAME\s+KIND\s+VISIBILITY\s+URL$/);
    expect(list.stdout).toMatch(/cli-repo\s+git\s+private/);
    expect(json(['repos', 'set', 'cli-repo', '--default-branch', 'trunk'])).toMatchObject({ default_branch: 'trunk' });

    // A password from stdin, as scripts should pass one.
    const created = spawnSync(process.execPath, [BIN, 'users', 'create', 'carla', '--password-stdin'], {
      env: { PATH: process.env.PATH, HUB_URL: hub.url, HUB_ADMIN_TOKEN: hub.adminToken },
      input: 'carla-pw\n',
      encoding: 'utf8',
    });
    expect(created.stdout.trim()).toBe('created user carla');
    expect(hubCli(['users', 'create', 'dan', '--password', 'dan-pw']).status).toBe(0);
    expect(json(['users', 'list']).users.map((u: { name: string }) => u.name)).toEqual(['carla', 'dan']);
    expect(hubCli(['members', 'set', 'cli-repo', 'carla', 'write']).stdout.trim()).toBe('carla has write on cli-repo');
    expect(hubCli(['members', 'set', 'cli-repo', 'dan', 'read']).status).toBe(0);
    expect(hubCli(['members', 'list', 'cli-repo']).stdout).toMatch(/USER\s+ROLE\ncarla\s+write\ndan\s+read/);
    expect(hubCli(['users', 'show', 'carla']).stdout).toMatch(/cli-repo\s+write/);

    // A token made by the CLI works with git; revoked by the CLI, it stops.
    const t = json(['tokens', 'create', 'carla', '--scopes', 'read,write', '--expires-in', '3600']);
    expect(t.scopes).toEqual(['read', 'write']);
    const human = hubCli(['tokens', 'create', 'carla', '--scopes', 'read']);
    expect(human.stdout).toMatch(/^hub_[0-9a-f]{20}_\S{43}\n\(token [0-9a-f]{20} for carla, scopes read; it is shown only now\)/);
    const remote = (secret: string) => {
      const u = new URL('/cli-repo.git', hub.url);
      u.username = 'carla';
      u.password = secret;
      return runGit(home, ['ls-remote', u.href]);
    };
    expect(remote(t.token).status).toBe(0);
    const tokens = hubCli(['tokens', 'list', 'carla']).stdout;
    expect(tokens).toContain(t.id);
    expect(tokens).not.toContain(t.token);
    expect(hubCli(['tokens', 'revoke', 'carla', t.id]).stdout.trim()).toBe(`revoked token ${t.id}`);
    expect(remote(t.token).status).not.toBe(0);

    // A user's own token runs the CLI with that user's rights.
    const own = json(['tokens', 'create', 'carla', '--scopes', 'admin']).token;
    const asCarla = { HUB_ADMIN_TOKEN: undefined, HUB_TOKEN: own };
    expect(json(['repos', 'list'], asCarla).repos.map((r: { name: string }) => r.name)).toEqual(['cli-fossil', 'cli-repo']);
    const refused = hubCli(['members', 'set', 'cli-repo', 'dan', 'admin'], asCarla);
    expect(refused.status).toBe(1);
    expect(refused.stderr.trim()).toBe('hub: admin role required (HTTP 403)');

    expect(hubCli(['protect', 'set', 'cli-repo', 'release/*', '--admins-only']).stdout.trim()).toBe('protected release/* on cli-repo (admins only)');
    expect(hubCli(['protect', 'list', 'cli-repo']).stdout).toMatch(/release\/\*\s+yes/);
    expect(hubCli(['protect', 'remove', 'cli-repo', 'release/*']).status).toBe(0);
    expect(json(['protect', 'list', 'cli-repo'])).toEqual({ protections: [] });
    expect(hubCli(['events', 'cli-repo']).stdout.trim()).toBe('(none)');

    expect(hubCli(['members', 'remove', 'cli-repo', 'dan']).status).toBe(0);
    expect(hubCli(['users', 'delete', 'dan']).stdout.trim()).toBe('deleted user dan (with memberships and tokens)');
    expect(hubCli(['repos', 'delete', 'cli-fossil']).status).toBe(0);
    expect(json(['repos', 'list']).repos.map((r: { name: string }) => r.name)).toEqual(['cli-repo']);
  });

  it('reports API errors with their message and exit status 1, as JSON with --json', () => {
    const missing = hubCli(['repos', 'show', 'nope']);
    expect(missing.status).toBe(1);
    expect(missing.stderr.trim()).toBe('hub: no such repository (HTTP 404)');
    const bad = hubCli(['members', 'set', 'cli-repo', 'carla', 'owner', '--json']);
    expect(bad.status).toBe(1);
    expect(JSON.parse(bad.stdout)).toEqual({ error: 'role: Invalid option: expected one of "read"|"write"|"admin"', status: 400 });
    const noToken = hubCli(['users', 'list'], { HUB_ADMIN_TOKEN: undefined });
    expect(noToken.stderr.trim()).toBe('hub: admin token required (HTTP 401)');
    expect(hubCli(['repos', 'list'], { HUB_URL: 'http://127.0.0.1:9' }).stderr).toContain('cannot reach http://127.0.0.1:9');
  });
});
