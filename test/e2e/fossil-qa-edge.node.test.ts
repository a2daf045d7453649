// Outside-in QA of fossil hosting, side by side with `fossil server --repolist`
// 2.21 serving the same repositories: what a fossil user sees from one must be
// what they see from the other (the same artifacts and crosslinked tables in a
// clone, the same refusals). One hub and one fossil server for the file.
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { artifactHashes, check, runFossil, serveOnBoth, useSideBySide } from './fossil-client.js';
import { api as hubApi, apiOk, repoUrl } from './hub-client.js';
import type { Hub } from './hub-server.js';

let hub: Hub;
let serverUrl: string;
let home: string;
/** fossil server's directory of repositories (NAME.fossil answers /NAME). */
let served: string;

const api = (method: string, path: string, body?: unknown) => apiOk(hub, method, path, body);
const fossil = (args: string[], cwd = home) => check(runFossil(home, args, cwd), `fossil ${args.join(' ')}`);
const sql = (repo: string, q: string) => fossil(['sql', '-R', repo, q]).stdout;
/** The error lines of a fossil run (it often exits 0 after them), without progress noise. */
const errors = (out: string) => [...new Set(out.split(/[\r\n]+/).filter((l) => /error|server says/i.test(l)).map((l) => l.trim()))];

/** Both servers' URL for a repository, with credentials when given. */
function urls(repo: string, user?: string, password?: string): { hub: string; fossil: string } {
  return { hub: repoUrl(hub.url, repo, user, password), fossil: repoUrl(serverUrl, repo, user, password) };
}

/**
 * The same repository on both servers: `fossil new` gives the project code,
 * the hub repository is created with it (and starts empty), fossil server
 * serves a copy of the new file. `writer` gets the write role / fossil's `i y`.
 */
async function both(name: string, writer: { name: string; password: string }): Promise<string> {
  const src = join(home, `${name}-src.fossil`);
  rmSync(src, { force: true });
  fossil(['new', src]);
  await serveOnBoth({ hub, home, served }, name, src, writer);
  return src;
}

useSideBySide('fossil-qa-edge-', 'wes', (s) => ({ hub, home, served, serverUrl } = s));

/** The crosslinked tables of a clone, keyed by hashes and names (rids differ between clones). */
function tables(repo: string): string {
  const uuid = (col: string) => `(SELECT uuid FROM blob WHERE rid = ${col})`;
  return sql(
    repo,
    [
      // Clusters are made by each server; everything else must match.
      `SELECT 'blob', uuid, size FROM blob WHERE rid NOT IN (SELECT rid FROM tagxref JOIN tag USING (tagid) WHERE tagname = 'cluster') ORDER BY uuid`,
      `SELECT 'tag', t.tagname, x.tagtype, x.value, ${uuid('x.srcid')}, ${uuid('x.origid')}, ${uuid('x.rid')}, x.mtime FROM tagxref x JOIN tag t USING (tagid) WHERE t.tagname <> 'cluster' ORDER BY 2, 7, 5, 3`,
      `SELECT 'plink', ${uuid('pid')}, ${uuid('cid')}, isprim, mtime, ${uuid('baseid')} FROM plink ORDER BY 2, 3`,
      `SELECT 'mlink', ${uuid('mid')}, ${uuid('fid')}, ${uuid('pid')}, (SELECT name FROM filename WHERE fnid = m.fnid), (SELECT name FROM filename WHERE fnid = m.pfnid), mperm, isaux FROM mlink m ORDER BY 2, 5, 3`,
      `SELECT 'event', type, mtime, ${uuid('objid')}, (SELECT tagname FROM tag WHERE tagid = e.tagid), user, comment, omtime, bgcolor FROM event e ORDER BY 4`,
      `SELECT 'leaf', ${uuid('rid')} FROM leaf ORDER BY 2`,
      `SELECT 'attachment', ${uuid('attachid')}, target, filename, comment, user, isLatest FROM attachment ORDER BY 2`,
      `SELECT 'ticket', tkt_uuid, tkt_mtime, status, title, type FROM ticket ORDER BY 2`,
      `SELECT 'ticketchng', tkt_mtime, icomment, login FROM ticketchng ORDER BY 2`,
    ].join(';\n'),
  );
}

/**
 * What the fossil commands show of a clone. A timeline line's tags are listed in the order the
 * clone crosslinked them, which follows the order the server sent the artifacts in (fossil server
 * and the hub send in different orders), so they are compared sorted.
 */
function shown(repo: string): string {
  return [
    ['timeline', '-n', '0', '-t', 'any', '-W', '0', '-R', repo],
    ['branch', 'list', '--all', '-R', repo],
    ['tag', 'list', '-R', repo],
    ['wiki', 'list', '-R', repo],
    ['ticket', 'show', '0', '-R', repo],
    ['ls', '-v', '-r', 'tip', '-R', repo],
  ]
    .map((args) => fossil(args).stdout)
    .join('\n')
    .replace(/tags: ([^)]*)\)/g, (_, tags: string) => `tags: ${tags.split(', ').sort().join(', ')})`);
}

describe('the hub and fossil server side by side', () => {
  it('control artifacts of fossil amend and tag, Latin-1 and CRLF text: clones of both have the same artifacts and tables', async () => {
    const src = await both('amends', { name: 'wes', password: 'wes-pw' });
    const dir = join(home, 'amends');
    mkdirSync(dir);
    fossil(['open', src], dir);
    fossil(['settings', 'autosync', 'off'], dir);
    const commit = (file: string, text: string, message: string, extra: string[] = []) => {
      writeFileSync(join(dir, file), text);
      fossil(['add', file], dir);
      fossil(['commit', '--no-warnings', '-m', message, ...extra], dir);
    };
    commit('a file with spaces.txt', 'spaces\n', 'spaces in a name');
    commit("quote's \"dq\".txt", 'quotes\n', 'multi\r\nline comment\twith a tab and \\ backslash');
    commit('b.txt', 'b\n', 'to be closed and hidden', ['--branch', 'side']);
    fossil(['amend', 'current', '--close'], dir);
    fossil(['amend', 'current', '--hide'], dir);
    fossil(['update', 'trunk'], dir);
    commit('c.txt', 'c\n', 'amended below');
    fossil(['amend', 'current', '--tag', 'tag with space'], dir);
    for (const opts of [
      ['--date', '2020-01-02 03:04:05'],
      ['--author', 'someone else'],
      ['--branchcolor', '#00ff00'],
      ['--cancel', 'tag with space'],
      ['--branch', 'new branch name'],
      ['--bgcolor', '#ff0000'],
      ['-m', 'edited\ncomment'],
    ]) {
      fossil(['amend', 'current', ...opts], dir);
    }
    fossil(['tag', 'add', '--propagate', 'valued', 'current', 'a value with spaces'], dir);
    // fossil takes bytes that are not UTF-8 in comments and wiki text, and CRLF anywhere.
    writeFileSync(join(home, 'crlf.wiki'), 'wiki\r\nwith CRLF\r\n');
    fossil(['wiki', 'create', 'CRLF page', join(home, 'crlf.wiki')], dir);
    writeFileSync(join(home, 'latin1.wiki'), Buffer.from('caf\xe9\n', 'latin1'));
    fossil(['wiki', 'create', 'Café', join(home, 'latin1.wiki')], dir);
    fossil(['attachment', 'add', 'CRLF page', join(dir, 'c.txt')], dir);
    fossil(['ticket', 'add', 'title', 'café', 'status', 'Open', 'comment', 'a\r\nb'], dir);
    writeFileSync(join(home, 'latin1.comment'), Buffer.from('caf\xe9 comment\r\n', 'latin1'));
    fossil(['commit', '--no-warnings', '--allow-empty', '-M', join(home, 'latin1.comment')], dir);

    const to = urls('amends', 'wes', 'wes-pw');
    for (const url of [to.hub, to.fossil]) expect(errors(fossil(['push', url, '-R', src]).output)).toEqual([]);
    const from = urls('amends');
    const hubClone = join(home, 'amends-hub.fossil');
    const fsClone = join(home, 'amends-fs.fossil');
    fossil(['clone', from.hub, hubClone]);
    fossil(['clone', from.fossil, fsClone]);
    expect(artifactHashes(home, hubClone)).toEqual(artifactHashes(home, src));
    expect(tables(hubClone)).toBe(tables(fsClone));
    expect(shown(hubClone)).toBe(shown(fsClone));
    // What was compared is there.
    expect(shown(hubClone)).toMatch(/new branch name[\s\S]*valued/);
    expect(fossil(['test-integrity', '-R', hubClone]).output).toMatch(/\b0 errors/);
  });

  it('refusals: a repository deleted and made again (wrong project / login failed) and one made private, as fossil server words them', async () => {
    const src = await both('again', { name: 'wes', password: 'wes-pw' });
    const anon = urls('again');
    const wes = urls('again', 'wes', 'wes-pw');
    for (const url of [wes.hub, wes.fossil]) expect(errors(fossil(['push', url, '-R', src]).output)).toEqual([]);
    const clone = (url: string, name: string) => {
      const repo = join(home, name);
      fossil(['clone', url, repo]);
      return repo;
    };
    const hubClone = clone(anon.hub, 'again-hub.fossil');
    const fsClone = clone(anon.fossil, 'again-fs.fossil');
    const pull = (repo: string, url: string) => errors(runFossil(home, ['pull', url, '-R', repo]).output);

    // Private: anonymous pulls and clones, and a logged-in non-member, are refused.
    await api('PATCH', '/repos/again', { public: false });
    const copy = join(served, 'again.fossil');
    for (const who of ['nobody', 'anonymous']) fossil(['user', 'capabilities', who, '', '-R', copy]);
    fossil(['user', 'new', 'nora', 'x', 'nora-pw', '-R', copy]);
    await api('POST', '/users', { name: 'nora', password: 'nora-pw' });
    const nora = urls('again', 'nora', 'nora-pw');
    expect(pull(hubClone, anon.hub)).toEqual(['Error: not authorized to read']);
    expect(pull(hubClone, anon.hub)).toEqual(pull(fsClone, anon.fossil));
    expect(pull(hubClone, nora.hub)).toEqual(pull(fsClone, nora.fossil));
    const cloneErrors = (url: string) => errors(runFossil(home, ['clone', url, join(home, `refused-${Date.now()}.fossil`)]).output);
    expect(cloneErrors(anon.hub)).toContain('Error: not authorized to clone');
    expect(cloneErrors(anon.hub)).toEqual(cloneErrors(anon.fossil));
    expect(pull(hubClone, wes.hub)).toEqual([]);

    // Deleted and made again under the same name: a new project code.
    expect((await hubApi(hub, 'DELETE', '/repos/again')).status).toBe(204);
    await api('POST', '/repos', { name: 'again', kind: 'fossil', public: true });
    await api('PUT', '/repos/again/members/wes', { role: 'write' });
    rmSync(copy);
    fossil(['new', copy]);
    fossil(['user', 'new', 'wes', 'x', 'wes-pw', '-R', copy]);
    fossil(['user', 'capabilities', 'wes', 'i', '-R', copy]);
    expect(pull(hubClone, anon.hub)).toEqual(['Error: wrong project']);
    expect(pull(hubClone, anon.hub)).toEqual(pull(fsClone, anon.fossil));
    // With a login: fossil's secret includes the project code, so the login fails first.
    expect(pull(hubClone, wes.hub)).toEqual(['Error: login failed']);
    expect(pull(hubClone, wes.hub)).toEqual(pull(fsClone, wes.fossil));
  });

  it('an empty unversioned file: uv sync sends it, and a clone -u of either server has it', async () => {
    const src = await both('uvempty', { name: 'wes', password: 'wes-pw' });
    writeFileSync(join(home, 'empty.txt'), '');
    writeFileSync(join(home, 'one.txt'), '1');
    fossil(['uv', 'add', join(home, 'empty.txt'), '--as', 'empty.txt', '-R', src]);
    fossil(['uv', 'add', join(home, 'one.txt'), '--as', 'one.txt', '-R', src]);
    const to = urls('uvempty', 'wes', 'wes-pw');
    for (const url of [to.hub, to.fossil]) expect(errors(fossil(['uv', 'sync', url, '-R', src]).output)).toEqual([]);
    const from = urls('uvempty');
    const list = (url: string, name: string) => {
      const repo = join(home, name);
      fossil(['clone', '-u', url, repo]);
      return fossil(['uv', 'list', '-R', repo]).stdout;
    };
    const hubList = list(from.hub, 'uvempty-hub.fossil');
    expect(hubList).toMatch(/\b0\s+0 empty\.txt/);
    expect(hubList).toBe(list(from.fossil, 'uvempty-fs.fossil'));
  });

  it('URL forms: /NAME/ and /NAME/xfer clone, /NAME.fossil is 404, and an HTTP Basic -B login is ignored, as by fossil server', async () => {
    const src = await both('forms', { name: 'wes', password: 'wes-pw' });
    const to = urls('forms', 'wes', 'wes-pw');
    for (const url of [to.hub, to.fossil]) expect(errors(fossil(['push', url, '-R', src]).output)).toEqual([]);
    const base = urls('forms');
    const cloneErrors = (url: string, extra: string[] = []) => {
      const repo = join(home, `form-${Date.now()}-${Math.random()}.fossil`);
      const out = runFossil(home, ['clone', ...extra, url, repo]).output;
      return { errors: errors(out), artifacts: errors(out).length === 0 ? artifactHashes(home, repo) : [] };
    };
    const want = artifactHashes(home, src);
    for (const suffix of ['/', '/xfer']) {
      const h = cloneErrors(base.hub + suffix);
      expect(h).toEqual({ errors: [], artifacts: want });
      expect(cloneErrors(base.fossil + suffix)).toEqual(h);
    }
    const dotFossil = cloneErrors(`${base.hub}.fossil`);
    expect(dotFossil.errors).toContain('server says: 404 Not Found');
    expect(cloneErrors(`${base.fossil}.fossil`)).toEqual(dotFossil);
    const basic = cloneErrors(base.hub, ['-B', 'wes:not-the-password']);
    expect(basic).toEqual({ errors: [], artifacts: want });
    expect(cloneErrors(base.fossil, ['-B', 'wes:not-the-password'])).toEqual(basic);
  });
});

describe('hub settings that do not apply to fossil repositories', () => {
  it('the user names anonymous and nobody are reserved: fossil logs anyone in as them without a password, so their roles never applied', async () => {
    for (const name of ['anonymous', 'nobody']) {
      const res = await hubApi(hub, 'POST', '/users', { name, password: 'a-password' });
      expect(res.status).toBe(400);
      expect(res.text).toMatch(/reserved/);
    }
    const users = JSON.parse((await api('GET', '/users')).text) as { users: { name: string }[] };
    expect(users.users.map((u) => u.name)).not.toContain('nobody');
  });


  it('branch protection is refused for a fossil repository (a fossil push would not honour it) and none is stored', async () => {
    await api('POST', '/repos', { name: 'guarded', kind: 'fossil', public: true });
    const res = await hubApi(hub, 'PUT', '/repos/guarded/protections/trunk', { admins_only: true });
    expect(res.status).toBe(400);
    expect(res.text).toMatch(/git repositories/);
    const list = await api('GET', '/repos/guarded/protections');
    expect(JSON.parse(list.text)).toEqual({ protections: [] });
  });
});
