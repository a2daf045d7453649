// Outside-in QA of fossil sync behaviours, side by side with `fossil server
// --repolist` 2.21 on the same input: what a fossil user sees from one must be
// what they see from the other. One hub and one fossil server for the file.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { check, runFossil, startSideBySide, type SideBySide } from './fossil-client.js';
import { apiOk, repoUrl } from './hub-client.js';
import type { Hub } from './hub-server.js';

let sides: SideBySide | undefined;
let hub: Hub;
let serverUrl: string;
let home: string;
let served: string;

const api = (method: string, path: string, body?: unknown) => apiOk(hub, method, path, body);
const fossil = (args: string[], cwd = home) => check(runFossil(home, args, cwd), `fossil ${args.join(' ')}`);
const sql = (repo: string, q: string) => fossil(['sql', '-R', repo, q]).stdout;

/** Both servers' URL for a repository, with credentials when given. */
function urls(repo: string, user?: string, password?: string): { hub: string; fossil: string } {
  return { hub: repoUrl(hub.url, repo, user, password), fossil: repoUrl(serverUrl, repo, user, password) };
}

/**
 * A new repository on both servers: `fossil new` gives the project code, the
 * hub repository is created with it (empty), fossil server serves a copy of
 * the new file (the hub's gets it by a push). `ada` is admin on both (fossil's `a s i x`). Returns the source file.
 */
async function both(name: string): Promise<string> {
  const src = join(home, `${name}-src.fossil`);
  fossil(['new', src]);
  const code = sql(src, `SELECT value FROM config WHERE name = 'project-code'`).trim().replace(/'/g, '');
  await api('POST', '/repos', { name, kind: 'fossil', public: true, project_code: code });
  await api('PUT', `/repos/${name}/members/ada`, { role: 'admin' });
  const copy = join(served, `${name}.fossil`);
  fossil(['sql', '-R', src, `VACUUM INTO '${copy}'`]);
  fossil(['user', 'new', 'ada', 'x', 'ada-pw', '-R', copy]);
  fossil(['user', 'capabilities', 'ada', 'asix', '-R', copy]);
  // The hub's repository starts empty: fossil new's initial check-in comes by a push.
  fossil(['push', urls(name, 'ada', 'ada-pw').hub, '-R', src]);
  return src;
}

/** A clone of `url` as `name` opened in a directory of that name, autosync on (fossil's default). */
function checkout(url: string, name: string): string {
  const repo = join(home, `${name}.fossil`);
  fossil(['clone', '--save-http-password', url, repo]);
  const dir = join(home, name);
  mkdirSync(dir);
  fossil(['open', repo], dir);
  // Several commits a second: mtime-changes would miss a same-size edit.
  fossil(['settings', 'mtime-changes', 'off'], dir);
  return dir;
}

beforeAll(async () => {
  sides = await startSideBySide('fossil-qa-sync-');
  ({ hub, home, served, serverUrl } = sides);
  await api('POST', '/users', { name: 'ada', password: 'ada-pw' });
}, 120_000);

afterAll(async () => {
  await sides?.stop();
});

describe('check-in locks', () => {
  it('forbid-delta-manifests pushed by an admin: the next commit of a clone made before is a baseline manifest, as from fossil server', async () => {
    // fossil 2.21 makes a delta manifest by itself once a repository has one ("seen-delta-manifest")
    // and the change is small. fossil server answers the commit's `pragma ci-lock` with `pragma
    // avoid-delta-manifests` when its forbid-delta-manifests setting is on, and the client then
    // writes a baseline: a setting a clone made before it was set does not have.
    const src = await both('nodelta');
    const to = urls('nodelta', 'ada', 'ada-pw');
    const manifests: Record<string, string[]> = {};
    for (const [side, url] of Object.entries(to)) {
      const dir = checkout(url, `nodelta-${side}`);
      for (let i = 0; i < 60; i++) writeFileSync(join(dir, `f${i}.txt`), `${i}\n`);
      fossil(['add', '.'], dir);
      fossil(['commit', '--no-warnings', '-m', 'sixty files'], dir);
      const change = (file: string, message: string, extra: string[] = []) => {
        writeFileSync(join(dir, file), `${message}\n`);
        fossil(['commit', '--no-warnings', '-m', message, ...extra], dir);
        return fossil(['artifact', 'tip'], dir).stdout.split('\n')[0].slice(0, 1);
      };
      const first = change('f1.txt', 'forced delta', ['--delta']);
      const auto = change('f2.txt', 'delta by itself');
      // The admin sets the project setting and pushes it (the project area carries it).
      fossil(['settings', 'forbid-delta-manifests', 'on', '-R', src]);
      fossil(['configuration', 'push', 'project', url, '-R', src]);
      fossil(['settings', 'forbid-delta-manifests', 'off', '-R', src]);
      const after = change('f3.txt', 'after the setting');
      // Each manifest's first card: B (a delta manifest names its baseline) or C (a baseline).
      manifests[side] = [first, auto, after];
    }
    expect(manifests.fossil).toEqual(['B', 'B', 'C']);
    expect(manifests.hub).toEqual(manifests.fossil);
  });
});
