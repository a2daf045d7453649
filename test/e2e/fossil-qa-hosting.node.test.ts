// Outside-in QA of fossil hosting: what a fossil 2.21 user does that the other
// fossil e2e files do not, each checked against what fossil server 2.21 does
// (observed with `fossil server` on this machine). One hub for the file.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { artifactHashes, check, checkins, cloneAndOpen, fossilHome, http10Front, runFossil } from './fossil-client.js';
import { api as hubApi } from './hub-client.js';
import { startHub, type Hub } from './hub-server.js';

let hub: Hub;
let front: { url: string; stop(): Promise<void> };
let home: string;
let cleanup: () => void;

const api = async (method: string, path: string, body?: unknown) => {
  const res = await hubApi(hub, method, path, body);
  if (res.status >= 300) throw new Error(`${method} ${path}: ${res.status} ${res.body.toString('utf8')}`);
  return res;
};
/** The repository URL, with credentials when given. */
const url = (repo: string, user?: string, password?: string) => (user ? front.url.replace('http://', `http://${user}:${password}@`) : front.url) + `/${repo}`;
const fossil = (args: string[], cwd = home) => check(runFossil(home, args, cwd), `fossil ${args.join(' ')}`);
const comments = (repo: string) => checkins(home, repo).map((c) => c.comment);
const privateCount = (repo: string) => fossil(['sql', '-R', repo, 'SELECT count(*) FROM private']).stdout.trim();

function commit(dir: string, file: string, text: string, message: string, extra: string[] = []): void {
  mkdirSync(join(dir, file, '..'), { recursive: true });
  writeFileSync(join(dir, file), text);
  runFossil(home, ['add', file], dir);
  fossil(['commit', '--no-warnings', '-m', message, ...extra], dir);
}

beforeAll(async () => {
  hub = await startHub();
  front = await http10Front(hub.url);
  ({ home, done: cleanup } = fossilHome('fossil-qa-'));
  await api('POST', '/users', { name: 'ann', password: 'ann-pw' });
  await api('POST', '/repos', { name: 'qa', kind: 'fossil', public: true });
  await api('PUT', '/repos/qa/members/ann', { role: 'admin' });
}, 120_000);

afterAll(async () => {
  await front?.stop();
  await hub?.stop();
  cleanup?.();
});

describe('fossil hosting as a fossil user meets it', () => {
  it('fossil publish: a private branch pushed with --private, then published and pushed, reaches anonymous clones', () => {
    const a = cloneAndOpen(home, url('qa', 'ann', 'ann-pw'), 'ann');
    fossil(['settings', 'autosync', 'off'], a.dir);
    commit(a.dir, 'draft.txt', 'draft\n', 'draft on a private branch', ['--private']);
    expect(privateCount(a.repo)).toBe('2');
    expect(fossil(['push', '--private'], a.dir).output).not.toMatch(/Error/);
    const anon = join(home, 'anon.fossil');
    fossil(['clone', url('qa'), anon]);
    expect(comments(anon)).not.toContain('draft on a private branch');
    // `fossil publish` makes them public locally and queues them; the push sends public file cards
    // for artifacts the hub holds as private, which fossil server then makes public (xfer_accept_file).
    fossil(['publish', 'private'], a.dir);
    expect(privateCount(a.repo)).toBe('0');
    expect(fossil(['push'], a.dir).output).not.toMatch(/Error/);
    expect(fossil(['pull', '-R', anon]).output).not.toMatch(/Error/);
    expect(comments(anon)).toContain('draft on a private branch');
    expect(artifactHashes(home, anon)).toEqual(artifactHashes(home, a.repo));
    expect(fossil(['test-integrity', '-R', anon]).output).toMatch(/\b0 errors/);
    // A fresh anonymous clone has them too (they are in the hub's public, unclustered set now).
    const fresh = join(home, 'fresh.fossil');
    fossil(['clone', url('qa'), fresh]);
    expect(comments(fresh)).toContain('draft on a private branch');
    expect(privateCount(fresh)).toBe('0');
  });

  it('--no-http-compression: plain card text under application/x-fossil is read as fossil server reads it', () => {
    const a = cloneAndOpen(home, url('qa', 'ann', 'ann-pw'), 'plain');
    fossil(['settings', 'autosync', 'off'], a.dir);
    commit(a.dir, 'plain.txt', 'sent without compression\n', 'pushed uncompressed');
    const push = fossil(['push', '--no-http-compression'], a.dir);
    expect(push.output).not.toMatch(/Error|too large/);
    const other = join(home, 'anon.fossil');
    const pull = fossil(['pull', '--no-http-compression', '-R', other]);
    expect(pull.output).not.toMatch(/Error|too large/);
    expect(comments(other)).toContain('pushed uncompressed');
  });
});
