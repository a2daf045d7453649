/**
 * Helpers shared by the git e2e files: the admin API, URLs with credentials,
 * git run synchronously or concurrently, and hand-built smart-HTTP requests.
 */
import { spawn, spawnSync } from 'node:child_process';
import { request as httpRequest } from 'node:http';
import { expect } from 'vitest';
import { gitEnv, runGit, type GitResult } from './git-client.js';
import type { Hub } from './hub-server.js';

export interface HttpAnswer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
  /** The body as latin1 text, so any bytes survive a regex. */
  text: string;
}

/**
 * One HTTP request on a fresh connection (fetch's pooled keep-alive sockets
 * get closed by wrangler dev between tests: "other side closed"). Fails
 * after `timeoutMs` so a hanging answer is a test failure, not a stuck run.
 */
export function http(url: string, init: { method?: string; headers?: Record<string, string>; body?: Uint8Array | string; timeoutMs?: number } = {}): Promise<HttpAnswer> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { method: init.method ?? 'GET', headers: init.headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (d: Buffer) => chunks.push(d));
      res.on('end', () => {
        const body = Buffer.concat(chunks);
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body, text: body.toString('latin1') });
      });
      res.on('error', reject);
    });
    req.setTimeout(init.timeoutMs ?? 30_000, () => req.destroy(new Error(`no answer from ${url} within ${init.timeoutMs ?? 30_000} ms`)));
    req.on('error', reject);
    req.end(init.body === undefined ? undefined : Buffer.from(init.body));
  });
}

/** One admin API call. */
export function api(hub: Hub, method: string, path: string, body?: unknown): Promise<HttpAnswer> {
  return http(`${hub.url}/api${path}`, {
    method,
    headers: { authorization: `Bearer ${hub.adminToken}`, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
}

/** One admin API call that must succeed (throws on a status of 300 or more). */
export async function apiOk(hub: Hub, method: string, path: string, body?: unknown): Promise<HttpAnswer> {
  const res = await api(hub, method, path, body);
  if (res.status >= 300) throw new Error(`${method} ${path}: ${res.status} ${res.body.toString('utf8')}`);
  return res;
}

/** A repository's URL under `base`, with credentials when given. */
export function repoUrl(base: string, repo: string, user?: string, password?: string): string {
  return (user ? base.replace('http://', `http://${user}:${password}@`) : base) + `/${repo}`;
}

/** Creates public git repositories and a user with write access to each. */
export async function setupRepos(hub: Hub, names: string[], user = { name: 'wendy', password: 'wendy-pw' }): Promise<void> {
  const u = await api(hub, 'POST', '/users', user);
  expect([201, 409]).toContain(u.status);
  for (const name of names) {
    expect((await api(hub, 'POST', '/repos', { name, kind: 'git', public: true })).status).toBe(201);
    expect([200, 204]).toContain((await api(hub, 'PUT', `/repos/${name}/members/${user.name}`, { role: 'write' })).status);
  }
}

/** The repository's URL with the writer's credentials in it. */
export function writerUrl(hub: Hub, repo: string, user = 'wendy', password = 'wendy-pw'): string {
  const u = new URL(`/${repo}.git`, hub.url);
  u.username = user;
  u.password = password;
  return u.href;
}

/** Basic authorization header of the writer. */
export function writerAuth(user = 'wendy', password = 'wendy-pw'): string {
  return `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
}

/** A git runner bound to one HOME: `git` gives the result, `ok` asserts success and gives stdout. */
export function gitIn(home: string, timeout = 120_000) {
  const git = (args: string[], cwd = home): GitResult => runGit(home, args, cwd, timeout);
  const ok = (args: string[], cwd = home): string => {
    const r = git(args, cwd);
    expect(r.status, `git ${args.join(' ')}\n${r.stderr}`).toBe(0);
    return r.stdout;
  };
  /** Runs git without blocking the event loop (for concurrent pushes). */
  const gitAsync = (args: string[], cwd = home): Promise<GitResult> =>
    new Promise((resolve) => {
      const child = spawn('git', args, { cwd, env: gitEnv(home) });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d) => (stdout += d));
      child.stderr.on('data', (d) => (stderr += d));
      const timer = setTimeout(() => child.kill('SIGKILL'), timeout);
      child.on('close', (status) => {
        clearTimeout(timer);
        resolve({ status, stdout, stderr });
      });
    });
  return { git, ok, gitAsync };
}

/** Encodes one pkt-line (text or bytes). */
export function pkt(data: string | Uint8Array): Buffer {
  const b = typeof data === 'string' ? Buffer.from(data) : Buffer.from(data);
  return Buffer.concat([Buffer.from((b.length + 4).toString(16).padStart(4, '0')), b]);
}

export const FLUSH = Buffer.from('0000');
export const ZERO_ID = '0'.repeat(40);

/** A receive-pack request body: commands (first one with capabilities), flush, then the pack. */
export function receivePackBody(commands: { old: string; new: string; ref: string }[], caps: string, pack: Uint8Array = new Uint8Array(0)): Buffer {
  const lines = commands.map((c, i) => pkt(`${c.old} ${c.new} ${c.ref}${i === 0 ? `\0${caps}` : ''}\n`));
  return Buffer.concat([...lines, FLUSH, Buffer.from(pack)]);
}

/** POSTs a receive-pack request as the writer. */
export function postReceivePack(hub: Hub, repo: string, body: Uint8Array, headers: Record<string, string> = {}): Promise<HttpAnswer> {
  return http(`${hub.url}/${repo}.git/git-receive-pack`, {
    method: 'POST',
    headers: { authorization: writerAuth(), 'content-type': 'application/x-git-receive-pack-request', ...headers },
    body,
  });
}

/** `git ls-remote` of the hub repository as a sorted list of lines (HEAD and peeled tags included). */
export function lsRemote(ok: (args: string[]) => string, hub: Hub, repo: string): string[] {
  return ok(['ls-remote', `${hub.url}/${repo}.git`]).trim().split('\n').filter(Boolean).sort();
}

/** A pack from `git pack-objects --stdout` with `input` on stdin (`--revs` lines by default; "" gives an empty pack). */
export function packObjects(cwd: string, input: string, args: string[] = ['--revs']): Buffer {
  const r = spawnSync('git', ['pack-objects', '--stdout', '-q', ...args], { cwd, input, maxBuffer: 1 << 28 });
  if (r.status !== 0) throw new Error(`git pack-objects: ${r.stderr}`);
  return r.stdout;
}
