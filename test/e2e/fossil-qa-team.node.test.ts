// Outside-in QA of fossil as a small team uses it, side by side with `fossil
// server --repolist` 2.21: two writers taking turns on a repository made by
// the API (clone, open, autosync commits, fossil update in between), and the
// branch and tag work of a release (branch new, a propagating tag, amend of a
// pushed comment, merge --integrate closing the branch) done the same way on
// both servers with fixed dates, so both must end with the same artifacts.
import { mkdirSync, writeFileSync, appendFileSync, copyFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { artifactHashes, check, runFossil, serveOnBoth, useSideBySide } from './fossil-client.js';
import { apiOk, repoUrl } from './hub-client.js';
import type { Hub } from './hub-server.js';

let hub: Hub;
let serverUrl: string;
let home: string;
let served: string;

useSideBySide('fossil-qa-team-', 'ann', (s) => ({ hub, home, served, serverUrl } = s));

const fossil = (args: string[], cwd = home) => check(runFossil(home, args, cwd), `fossil ${args.join(' ')}`);
const sql = (repo: string, q: string) => fossil(['sql', '-R', repo, q]).stdout.trim();
const integrity = (repo: string) => expect(fossil(['test-integrity', '-R', repo]).output).toMatch(/ 0 errors\s+low-level database integrity-check: ok/);
/** Check-ins, oldest first: hash, user and comment. */
const history = (repo: string) =>
  sql(repo, `SELECT b.uuid || ' ' || e.user || ' ' || e.comment FROM event e JOIN blob b ON b.rid = e.objid WHERE e.type = 'ci' ORDER BY e.mtime, b.uuid`)
    .split('\n')
    .map((l) => l.replace(/^'|'$/g, ''));

/** A clone of `url` opened in `name/` as `user` (the clone's default user), autosync as given. */
function opened(url: string, name: string, user: string, autosync: 'on' | 'off'): { repo: string; dir: string } {
  const repo = join(home, `${name}.fossil`);
  const dir = join(home, name);
  fossil(['clone', '--save-http-password', url, repo]);
  mkdirSync(dir);
  fossil(['open', repo], dir);
  fossil(['settings', 'autosync', autosync], dir);
  fossil(['user', 'default', user], dir);
  return { repo, dir };
}

describe('a team on one repository', () => {
  it('two writers take turns (update, edit a shared file, autosync commit) on a repository made by the API: one line of history everywhere, as fossil server serves it', async () => {
    await apiOk(hub, 'POST', '/users', { name: 'bob', password: 'bob-pw' });
    await apiOk(hub, 'POST', '/repos', { name: 'team', kind: 'fossil', public: true });
    for (const who of ['ann', 'bob']) await apiOk(hub, 'PUT', `/repos/team/members/${who}`, { role: 'write' });
    const users = ['ann', 'bob'].map((who) => ({ who, ...opened(repoUrl(hub.url, 'team', who, `${who}-pw`), `team-${who}`, who, 'on') }));
    for (let i = 1; i <= 6; i++) {
      for (const { who, dir } of users) {
        const out = fossil(['update'], dir).output;
        expect(out, `${who} ${i}`).not.toMatch(/conflict|error/i);
        appendFileSync(join(dir, 'log.txt'), `${who} ${i}\n`);
        writeFileSync(join(dir, `${who}-${i}.txt`), `${who} ${i}\n`);
        fossil(['add', 'log.txt', `${who}-${i}.txt`], dir);
        const commit = fossil(['commit', '--no-warnings', '-m', `${who} turn ${i}`], dir).output;
        expect(commit, `${who} ${i}`).not.toMatch(/fork|error|would/i);
      }
    }
    for (const { dir } of users) fossil(['update'], dir);
    const [ann, bob] = users;
    // 12 check-ins after the initial one, in turn order, each on the one before: no fork, one leaf.
    const expected = history(ann.repo);
    expect(expected).toHaveLength(13);
    expect(expected.slice(1).map((l) => l.split(' ').slice(1).join(' '))).toEqual(Array.from({ length: 12 }, (_, k) => `${k % 2 ? 'bob' : 'ann'} ${k % 2 ? 'bob' : 'ann'} turn ${(k >> 1) + 1}`));
    expect(history(bob.repo)).toEqual(expected);
    expect(sql(ann.repo, `SELECT count(*) FROM leaf`)).toBe('1');
    expect(fossil(['info'], ann.dir).stdout.match(/^checkout: .*$/m)?.[0]).toBe(fossil(['info'], bob.dir).stdout.match(/^checkout: .*$/m)?.[0]);
    // The same repository file served by fossil server: a clone of it and one of the hub are alike.
    copyFileSync(ann.repo, join(served, 'team.fossil'));
    const clones = { hub: join(home, 'team-hub.fossil'), fossil: join(home, 'team-fossil.fossil') };
    fossil(['clone', repoUrl(hub.url, 'team'), clones.hub]);
    fossil(['clone', repoUrl(serverUrl, 'team'), clones.fossil]);
    expect(history(clones.hub)).toEqual(expected);
    expect(history(clones.fossil)).toEqual(expected);
    const timeline = (repo: string) => fossil(['timeline', '-n', '0', '-W', '0', '-t', 'ci', '-R', repo]).stdout;
    expect(timeline(clones.hub)).toBe(timeline(clones.fossil));
    expect(fossil(['cat', 'log.txt', '-R', clones.hub]).stdout).toBe(Array.from({ length: 12 }, (_, k) => `${k % 2 ? 'bob' : 'ann'} ${(k >> 1) + 1}\n`).join(''));
    integrity(clones.hub);
  }, 180_000);

  it('branch new, a propagating tag, amend of a pushed comment, merge --integrate: the same artifacts, branches and tags as by fossil server', async () => {
    const src = join(home, 'release-src.fossil');
    fossil(['new', src]);
    await serveOnBoth({ hub, home, served }, 'release', src, { name: 'ann', password: 'ann-pw' });
    fossil(['push', repoUrl(hub.url, 'release', 'ann', 'ann-pw'), '-R', src]);
    const out: Record<string, Record<string, string>> = {};
    for (const [side, base] of Object.entries({ hub: hub.url, fossil: serverUrl })) {
      const { dir } = opened(repoUrl(base, 'release', 'ann', 'ann-pw'), `release-${side}`, 'ann', 'on');
      // Dates after fossil new's initial check-in, the same on both sides: the same artifacts.
      let minute = 0;
      const at = () => ['--date-override', `2030-01-01 00:${String(minute++).padStart(2, '0')}:00`];
      const commit = (file: string, text: string, message: string) => {
        writeFileSync(join(dir, file), text);
        runFossil(home, ['add', file], dir);
        fossil(['commit', '--no-warnings', '-m', message, ...at()], dir);
      };
      commit('a.txt', 'a\n', 'base');
      fossil(['branch', 'new', 'feat', 'trunk', ...at()], dir);
      fossil(['update', 'feat'], dir);
      commit('f.txt', 'feature\n', 'feature work');
      fossil(['tag', 'add', '--propagate', ...at(), 'reviewed', 'feat'], dir);
      fossil(['tag', 'add', ...at(), 'v1.0', 'trunk'], dir);
      fossil(['amend', 'feat', '-m', 'feature work (amended)', ...at()], dir);
      fossil(['update', 'trunk'], dir);
      fossil(['merge', '--integrate', 'feat'], dir);
      fossil(['commit', '--no-warnings', '-m', 'integrate feat', ...at()], dir);
      fossil(['sync'], dir);
      const clone = join(home, `release-${side}-clone.fossil`);
      fossil(['clone', repoUrl(base, 'release'), clone]);
      integrity(clone);
      const clusters = new Set(sql(clone, `SELECT uuid FROM blob WHERE rid IN (SELECT rid FROM tagxref JOIN tag USING (tagid) WHERE tagname = 'cluster')`).split('\n').map((l) => l.replace(/'/g, '')));
      out[side] = {
        artifacts: artifactHashes(home, clone).filter((h) => !clusters.has(h)).join('\n'),
        all: fossil(['branch', 'list', '-a', '-R', clone]).stdout,
        closed: fossil(['branch', 'list', '-c', '-R', clone]).stdout,
        tags: fossil(['tag', 'list', '-R', clone]).stdout,
        featTags: fossil(['tag', 'list', 'feat', '-R', clone]).stdout,
        timeline: fossil(['timeline', '-n', '0', '-W', '0', '-R', clone]).stdout,
      };
    }
    expect(out.hub).toEqual(out.fossil);
    expect(out.hub.closed).toMatch(/feat/);
    expect(out.hub.tags.split('\n')).toEqual(expect.arrayContaining(['feat', 'reviewed', 'trunk', 'v1.0']));
    expect(out.hub.timeline).toMatch(/feature work \(amended\)/);
  }, 180_000);
});
