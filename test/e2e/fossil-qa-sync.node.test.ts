// Outside-in QA of fossil sync behaviours, side by side with `fossil server
// --repolist` 2.21 on the same input: what a fossil user sees from one must be
// what they see from the other. One hub and one fossil server for the file.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { check, runFossil, useSideBySide } from './fossil-client.js';
import { apiOk, repoUrl } from './hub-client.js';
import type { Hub } from './hub-server.js';

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

useSideBySide('fossil-qa-sync-', 'ada', (s) => ({ hub, home, served, serverUrl } = s));

/** The bytes a fossil sync run says it received ("wire bytes sent: N  received: M"). */
const received = (out: string) => Number(/received: (\d+)/.exec(out.slice(out.lastIndexOf('wire bytes')))?.[1]);

describe('pulls after the hub repacked', () => {
  it('a clone made before 45 versions of a file were pushed pulls them as deltas, about as many bytes as from fossil server', async () => {
    // The hub's repack stores fossil's reverse deltas: each version a delta of the next one. A pull
    // asks for all the new versions in one round; the hub sent each delta before its base, so it could
    // not name the base and rebuilt the version whole (576 KB here against fossil server's 15 KB; 39 KB now).
    const src = await both('repacked');
    const dir = join(home, 'repacked-work');
    mkdirSync(dir);
    fossil(['settings', 'autosync', 'off', '-R', src]);
    fossil(['open', src], dir);
    fossil(['settings', 'mtime-changes', 'off'], dir);
    // 3000 lines of digits (~86 KB, ~40 KB deflated); each version changes 5 lines.
    let seed = 1;
    const random = () => ((seed = (seed * 48271) % 2147483647) / 2147483647).toString().slice(2, 12);
    const lines = Array.from({ length: 3000 }, (_, i) => `line ${i} ${random()}`);
    const write = () => writeFileSync(join(dir, 'big.txt'), lines.join('\n') + '\n');
    write();
    fossil(['add', 'big.txt'], dir);
    fossil(['commit', '--no-warnings', '-m', 'v0'], dir);
    const to = urls('repacked', 'ada', 'ada-pw');
    const push = () => Object.values(to).forEach((url) => expect(fossil(['push', url], dir).output).not.toMatch(/error/i));
    push();
    const old = { hub: join(home, 'repacked-old-hub.fossil'), fossil: join(home, 'repacked-old-srv.fossil') };
    for (const side of ['hub', 'fossil'] as const) fossil(['clone', urls('repacked')[side], old[side]]);
    for (let p = 1; p <= 3; p++) {
      for (let v = 1; v <= 15; v++) {
        for (let k = 0; k < 5; k++) lines[Number(random()) % 3000] = `edit ${p} ${v} ${random()}`;
        write();
        fossil(['commit', '--no-warnings', '-m', `push ${p} version ${v}`], dir);
      }
      push();
      // The repack runs once the repository has been quiet for a second (fossil-repack.ts QUIET_MS).
      await new Promise((r) => setTimeout(r, 2500));
    }
    const bytes: Record<string, number> = {};
    for (const side of ['hub', 'fossil'] as const) {
      bytes[side] = received(fossil(['pull', urls('repacked')[side], '-R', old[side]]).output);
      expect(fossil(['test-integrity', '-R', old[side]]).output).toMatch(/\b0 errors/);
    }
    const hashes = (repo: string) => sql(repo, `SELECT uuid FROM blob WHERE size >= 0 AND rid NOT IN (SELECT rid FROM tagxref JOIN tag USING (tagid) WHERE tagname = 'cluster') ORDER BY 1`);
    expect(hashes(old.hub)).toBe(hashes(old.fossil));
    expect(hashes(old.hub).split('\n').filter(Boolean).length).toBe(1 + 2 + 45 * 2);
    // fossil server sends every version as a delta of the one before; the hub sends the stored
    // deltas, and whole only what is stored whole (the newest, and one the repack has not reached).
    expect(bytes.fossil, JSON.stringify(bytes)).toBeLessThan(60_000);
    expect(bytes.hub, JSON.stringify(bytes)).toBeLessThan(bytes.fossil + 120_000);
  });
  it('an empty repository pulls a repacked history of 60 files x 5 versions over several rounds: deltas, about as many bytes as from fossil server', async () => {
    // A pull round answers the client's gimmes (about 200 a round); a repacked version's base (the
    // next version) often comes in another round. The hub rebuilt each such version whole.
    const src = await both('rounds');
    const dir = join(home, 'rounds-work');
    mkdirSync(dir);
    fossil(['settings', 'autosync', 'off', '-R', src]);
    fossil(['open', src], dir);
    fossil(['settings', 'mtime-changes', 'off'], dir);
    let seed = 7;
    const random = () => ((seed = (seed * 48271) % 2147483647) / 2147483647).toString().slice(2, 12);
    const files = Array.from({ length: 60 }, () => Array.from({ length: 300 }, (_, i) => `line ${i} ${random()}`));
    for (let v = 0; v < 5; v++) {
      files.forEach((lines, f) => {
        if (v > 0) for (let k = 0; k < 3; k++) lines[Number(random()) % 300] = `edit ${v} ${random()}`;
        writeFileSync(join(dir, `f${f}.txt`), lines.join('\n') + '\n');
      });
      if (v === 0) fossil(['add', '.'], dir);
      fossil(['commit', '--no-warnings', '-m', `version ${v}`], dir);
    }
    for (const url of Object.values(urls('rounds', 'ada', 'ada-pw'))) expect(fossil(['push', url], dir).output).not.toMatch(/error/i);
    await new Promise((r) => setTimeout(r, 3000));
    const code = sql(src, `SELECT value FROM config WHERE name = 'project-code'`).trim();
    const bytes: Record<string, number> = {};
    const empty: Record<string, string> = {};
    for (const side of ['hub', 'fossil'] as const) {
      // An empty repository of the project: a pull brings everything (igot, then gimme rounds).
      empty[side] = join(home, `rounds-empty-${side}.fossil`);
      fossil(['new', empty[side]]);
      fossil(['sql', '-R', empty[side], `UPDATE config SET value = ${code} WHERE name = 'project-code'`]);
      const out = fossil(['pull', urls('rounds')[side], '-R', empty[side]]).output;
      bytes[side] = received(out);
      expect(Number(/Round-trips: (\d+)/.exec(out.slice(out.lastIndexOf('Round-trips')))?.[1])).toBeGreaterThan(2);
      expect(fossil(['test-integrity', '-R', empty[side]]).output).toMatch(/\b0 errors/);
    }
    const hashes = (repo: string) => sql(repo, `SELECT uuid FROM blob WHERE size >= 0 AND rid NOT IN (SELECT rid FROM tagxref JOIN tag USING (tagid) WHERE tagname = 'cluster') AND rid > 1 ORDER BY 1`);
    expect(hashes(empty.hub)).toBe(hashes(empty.fossil));
    expect(bytes.hub, JSON.stringify(bytes)).toBeLessThan(bytes.fossil * 1.5);
  });
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
