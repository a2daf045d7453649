// Outside-in QA of fossil hosting (session 13): what a fossil 2.21 user met
// that the other fossil e2e files did not cover, each checked against what
// fossil server 2.21 does with the same commands (observed on this machine).
// One hub for the file.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { artifactHashes, check, checkins, fossilHome, runFossil } from './fossil-client.js';
import { apiOk, repoUrl } from './hub-client.js';
import { startHub, type Hub } from './hub-server.js';

let hub: Hub;
let home: string;
let cleanup: () => void;

const api = (method: string, path: string, body?: unknown) => apiOk(hub, method, path, body);
const url = (repo: string, user?: string, password?: string) => repoUrl(hub.url, repo, user, password);
const fossil = (args: string[], cwd = home) => check(runFossil(home, args, cwd), `fossil ${args.join(' ')}`);
const sql = (repo: string, q: string) => fossil(['sql', '-R', repo, q]).stdout.trim();
const comments = (repo: string) => checkins(home, repo).map((c) => c.comment);

/** A new repository file with `autosync` off, opened in a check-out dir of the same name. */
function newRepo(name: string): { repo: string; dir: string } {
  const repo = join(home, `${name}.fossil`);
  const dir = join(home, name);
  mkdirSync(dir);
  fossil(['new', repo]);
  fossil(['open', repo], dir);
  fossil(['settings', 'autosync', 'off'], dir);
  return { repo, dir };
}

function commit(dir: string, file: string, text: string, message: string, extra: string[] = []): void {
  writeFileSync(join(dir, file), text);
  runFossil(home, ['add', file], dir);
  fossil(['commit', '--no-warnings', '-m', message, ...extra], dir);
}

/** A hub repository with `repo`'s project code, `ann` its admin; ann's URL. */
async function hosted(name: string, repo: string): Promise<string> {
  const code = sql(repo, `SELECT value FROM config WHERE name = 'project-code'`).replace(/'/g, '');
  await api('POST', '/repos', { name, kind: 'fossil', public: true, project_code: code });
  await api('PUT', `/repos/${name}/members/ann`, { role: 'admin' });
  return url(name, 'ann', 'ann-pw');
}

beforeAll(async () => {
  hub = await startHub();
  ({ home, done: cleanup } = fossilHome('fossil-qa-outside-'));
  await api('POST', '/users', { name: 'ann', password: 'ann-pw' });
}, 120_000);

afterAll(async () => {
  await hub?.stop();
  cleanup?.();
});

describe('fossil hosting checked from outside', () => {
  // fossil 2.21's client gimmes the private artifacts it was told of (`igot HASH 1`) and, in
  // the same message, igots them back as private (its private table holds the phantoms).
  // fossil server answers each gimme as it reads it; the hub once took the later igot for
  // "the client has it" and sent nothing, round after round, leaving the clone phantoms.
  it('sync --private of an admin clone made without --private brings the private check-ins, as pull --private does', async () => {
    const src = newRepo('priv-src');
    commit(src.dir, 'pub.txt', 'public\n', 'public');
    commit(src.dir, 'p.txt', 'private\n', 'private one', ['--private']);
    const remote = await hosted('privsync', src.repo);
    expect(fossil(['push', '--private', remote, '-R', src.repo]).output).not.toMatch(/Error/);
    for (const mode of ['sync', 'pull']) {
      const clone = join(home, `priv-${mode}.fossil`);
      fossil(['clone', remote, clone]);
      expect(comments(clone)).not.toContain('private one');
      expect(fossil([mode, '--private', remote, '-R', clone]).output).not.toMatch(/Error/);
      expect(comments(clone)).toContain('private one');
      expect(sql(clone, 'SELECT count(*) FROM phantom')).toBe('0');
      expect(artifactHashes(home, clone)).toEqual(artifactHashes(home, src.repo));
    }
  });
});
