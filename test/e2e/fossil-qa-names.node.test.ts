// Outside-in QA of fossil hosting, side by side with `fossil server --repolist`
// 2.21 on the same repositories: names and values a user types that the other
// fossil tests do not (unversioned names with URL and shell characters, two
// unversioned versions of one name at the same mtime, a password full of URL
// characters, configuration pushed with an older mtime). Each server must
// leave the same state behind.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { artifactHashes, check, runFossil, serveOnBoth, useSideBySide } from './fossil-client.js';
import { apiOk, repoUrl } from './hub-client.js';
import type { Hub } from './hub-server.js';

let hub: Hub;
let serverUrl: string;
let home: string;
let served: string;

const WRITER = { name: 'nia', password: 'nia-pw' };
const fossil = (args: string[], cwd = home) => check(runFossil(home, args, cwd), `fossil ${args.join(' ')}`);
const sql = (repo: string, q: string) => fossil(['sql', '-R', repo, q]).stdout;
/** The error lines of a fossil run (it often exits 0 after them). */
const errors = (out: string) => [...new Set(out.split(/[\r\n]+/).filter((l) => /error|server says|did not reply/i.test(l)).map((l) => l.trim()))];

useSideBySide('fossil-qa-names-', WRITER.name, (s) => ({ hub, home, served, serverUrl } = s));

/** `name` on both servers from a fresh `fossil new`; `writer` may push to each. Returns the source file. */
async function both(name: string, writer = WRITER): Promise<string> {
  const src = join(home, `${name}-src.fossil`);
  fossil(['new', src]);
  await serveOnBoth({ hub, home, served }, name, src, writer);
  return src;
}

/** The repository's URL on each server, with credentials when given (`password` as it goes in a URL). */
const urls = (repo: string, user?: string, password?: string) => [repoUrl(hub.url, repo, user, password), repoUrl(serverUrl, repo, user, password)];

describe('names and values as users type them', () => {
  it('unversioned names with URL and shell characters, and one name at the same mtime from two clones: a clone -u of either server has the same catalogue', async () => {
    const src = await both('uvnames');
    const names = ['#hash', '%25pct', 'q?x', "quo'te", 'quo"te', '-dash', '.hidden', 'dir/.hid', 'a:b.txt', 'a[1]', '*star', 'é/ü.txt'];
    names.forEach((n, i) => {
      writeFileSync(join(home, 'uv.txt'), `file ${i}\n`);
      fossil(['uv', 'add', join(home, 'uv.txt'), '--as', n, '-R', src]);
    });
    // Two versions of tie.txt at one mtime, the smaller hash stored first: fossil keeps the
    // larger, so the hub must replace what it stored by its own rule when the larger comes.
    const sha3 = (text: string) => {
      writeFileSync(join(home, 'tie.txt'), text);
      return fossil(['sha3sum', join(home, 'tie.txt')]).stdout.split(' ')[0];
    };
    const [smaller, larger] = ['one side\n', 'the other side\n'].sort((x, y) => (sha3(x) < sha3(y) ? -1 : 1));
    const catalogues: string[] = [];
    for (const [i, url] of urls('uvnames', WRITER.name, WRITER.password).entries()) {
      const copy = join(home, `uvnames-${i}.fossil`);
      fossil(['sql', '-R', src, `VACUUM INTO '${copy}'`]);
      expect(errors(fossil(['uv', 'sync', url, '-R', copy]).output)).toEqual([]);
      const other = join(home, `uvnames-other-${i}.fossil`);
      fossil(['clone', url, other]);
      for (const [r, text] of [[other, smaller], [copy, larger]]) {
        writeFileSync(join(home, 'tie.txt'), text);
        fossil(['uv', 'add', join(home, 'tie.txt'), '--as', 'tie.txt', '-R', r]);
        sql(r, `UPDATE unversioned SET mtime = 1700000000 WHERE name = 'tie.txt'`);
        expect(errors(fossil(['uv', 'sync', url, '-R', r]).output)).toEqual([]);
      }
      const fresh = join(home, `uvnames-fresh-${i}.fossil`);
      fossil(['clone', '-u', url.replace(`${WRITER.name}:${WRITER.password}@`, ''), fresh]);
      catalogues.push(sql(fresh, `SELECT name, mtime, hash, sz FROM unversioned ORDER BY name`));
      expect(fossil(['uv', 'cat', 'é/ü.txt', '-R', fresh]).stdout).toBe(`file ${names.length - 1}\n`);
    }
    const [hubList, fsList] = catalogues;
    for (const n of names) expect(hubList).toContain(`'${n.replaceAll("'", "''")}'`);
    expect(sql(join(home, 'uvnames-fresh-0.fossil'), `SELECT hash FROM unversioned WHERE name = 'tie.txt'`)).toBe(`'${sha3(larger)}'\n`);
    expect(hubList).toBe(fsList);
  });

  it('a password with @ : / % space " and UTF-8, escaped in the URL: clone and push log in on both servers', async () => {
    const password = 'p@ss:w/rd %ü"x';
    const escaped = encodeURIComponent(password);
    await apiOk(hub, 'POST', '/users', { name: 'odd', password });
    const src = await both('pwchars', { name: 'odd', password });
    for (const [i, url] of urls('pwchars', 'odd', escaped).entries()) {
      expect(errors(fossil(['push', url, '-R', src]).output)).toEqual([]);
      const repo = join(home, `pwchars-${i}.fossil`);
      const dir = join(home, `pwchars-${i}`);
      expect(errors(runFossil(home, ['clone', url, repo]).output)).toEqual([]);
      mkdirSync(dir);
      fossil(['open', '--nosync', repo], dir);
      fossil(['settings', 'autosync', 'off'], dir);
      writeFileSync(join(dir, 'f.txt'), `pushed to ${i}\n`);
      fossil(['add', 'f.txt'], dir);
      fossil(['commit', '-m', 'by odd', '--user-override', 'odd', '--no-warnings'], dir);
      expect(errors(fossil(['push', url], dir).output)).toEqual([]);
      const back = join(home, `pwchars-back-${i}.fossil`);
      fossil(['clone', url.replace(`odd:${escaped}@`, ''), back]);
      expect(artifactHashes(home, back)).toEqual(artifactHashes(home, repo));
    }
  });

  it('configuration pushed with an older mtime than the stored value changes nothing, as fossil server merges it', async () => {
    const src = await both('cfgmtime');
    const copy = join(served, 'cfgmtime.fossil');
    fossil(['user', 'password', 'tester', 'tester-pw', '-R', copy]);
    const [hubAdmin, fsAdmin] = [urls('cfgmtime', 'tester', hub.adminToken)[0], urls('cfgmtime', 'tester', 'tester-pw')[1]];
    const results: string[] = [];
    for (const [i, url] of [hubAdmin, fsAdmin].entries()) {
      expect(errors(fossil(['push', url, '-R', src]).output)).toEqual([]);
      const set = (name: string, value: string, mtime: number) => {
        const repo = join(home, `cfgmtime-${name}-${i}.fossil`);
        fossil(['clone', url, repo]);
        sql(repo, `REPLACE INTO config(name, value, mtime) VALUES ('project-description', '${value}', ${mtime})`);
        expect(errors(fossil(['configuration', 'push', 'project', url, '-R', repo]).output)).toEqual([]);
      };
      set('new', 'newer text', 1_500_000_000);
      set('old', 'older text', 1_000_000_000);
      const fresh = join(home, `cfgmtime-fresh-${i}.fossil`);
      fossil(['clone', url.replace(/tester:[^@]*@/, ''), fresh]);
      results.push(sql(fresh, `SELECT value, mtime FROM config WHERE name = 'project-description'`));
    }
    expect(results[0]).toBe(`'newer text',1500000000\n`);
    expect(results[0]).toBe(results[1]);
  });
});
