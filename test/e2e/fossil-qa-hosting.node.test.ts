// Outside-in QA of fossil hosting: what a fossil 2.21 user does that the other
// fossil e2e files do not, each checked against what fossil server 2.21 does
// (observed with `fossil server` on this machine). One hub for the file.
import { createHash } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { deflateSync, inflateSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { artifactHashes, check, checkins, cloneAndOpen, fossilHome, runFossil } from './fossil-client.js';
import { api as hubApi, apiOk, http, repoUrl } from './hub-client.js';
import { startHub, type Hub } from './hub-server.js';

let hub: Hub;
let home: string;
let cleanup: () => void;

const api = (method: string, path: string, body?: unknown) => apiOk(hub, method, path, body);
const url = (repo: string, user?: string, password?: string) => repoUrl(hub.url, repo, user, password);
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
  ({ home, done: cleanup } = fossilHome('fossil-qa-'));
  await api('POST', '/users', { name: 'ann', password: 'ann-pw' });
  await api('POST', '/repos', { name: 'qa', kind: 'fossil', public: true });
  await api('PUT', '/repos/qa/members/ann', { role: 'admin' });
}, 120_000);

afterAll(async () => {
  await hub?.stop();
  cleanup?.();
});

describe('fossil hosting as a fossil user meets it', () => {
  it('fossil publish: a private branch pushed with --private, then published and pushed, reaches anonymous clones', async () => {
    const a = cloneAndOpen(home, url('qa', 'ann', 'ann-pw'), 'ann');
    fossil(['settings', 'autosync', 'off'], a.dir);
    commit(a.dir, 'draft.txt', 'draft\n', 'draft on a private branch', ['--private']);
    expect(privateCount(a.repo)).toBe('2');
    expect(fossil(['push', '--private'], a.dir).output).not.toMatch(/Error/);
    const anon = join(home, 'anon.fossil');
    fossil(['clone', url('qa'), anon]);
    expect(comments(anon)).not.toContain('draft on a private branch');
    // Nor does the audit log, which anonymous readers see, name the private check-in.
    const draft = fossil(['sql', '-R', a.repo, `SELECT uuid FROM blob JOIN event ON objid = rid WHERE comment LIKE 'draft%'`]).stdout.trim().replace(/'/g, '');
    expect(draft).toMatch(/^[0-9a-f]{64}$/);
    const events = await http(`${hub.url}/api/repos/qa/events`);
    expect(events.status).toBe(200);
    expect(events.text).toMatch(/fossil-push/);
    expect(events.text).not.toContain(draft);
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

  // The client resends published artifacts as it stores them: a manifest goes as a delta
  // against a public one, which the hub checks against that base before publishing it.
  it('fossil publish after more private work on the branch: both check-ins and their files reach anonymous clones', () => {
    const a = cloneAndOpen(home, url('qa', 'ann', 'ann-pw'), 'ann-more');
    fossil(['settings', 'autosync', 'off'], a.dir);
    const v1 = Array.from({ length: 400 }, (_, i) => `line ${i} of a file long enough to deltify\n`).join('');
    commit(a.dir, 'notes.txt', v1, 'notes v1', ['--private', '--branch', 'notes']);
    expect(fossil(['push', '--private'], a.dir).output).not.toMatch(/Error/);
    // A different size: fossil sees a same-size edit within the same second as unchanged.
    commit(a.dir, 'notes.txt', v1.replace('line 7 ', 'LINE SEVEN '), 'notes v2');
    fossil(['publish', 'notes'], a.dir);
    expect(privateCount(a.repo)).toBe('0');
    expect(fossil(['push'], a.dir).output).not.toMatch(/Error/);
    const anon = join(home, 'anon-more.fossil');
    fossil(['clone', url('qa'), anon]);
    expect(comments(anon)).toEqual(expect.arrayContaining(['notes v1', 'notes v2']));
    expect(fossil(['sql', '-R', anon, 'SELECT count(*) FROM blob WHERE size < 0']).stdout.trim()).toBe('0');
    const first = fossil(['sql', '-R', anon, `SELECT b.uuid FROM blob b JOIN event e ON e.objid = b.rid WHERE e.comment = 'notes v1'`]).stdout.trim().replace(/'/g, '');
    expect(fossil(['cat', 'notes.txt', '-r', first, '-R', anon]).stdout).toBe(v1);
  });

  it('a file on a pushed private branch, committed with the same content on trunk by a writer without x, reaches anonymous clones', async () => {
    await api('POST', '/users', { name: 'wes', password: 'wes-pw' });
    await api('PUT', '/repos/qa/members/wes', { role: 'write' });
    const a = cloneAndOpen(home, url('qa', 'ann', 'ann-pw'), 'ann-same');
    fossil(['settings', 'autosync', 'off'], a.dir);
    commit(a.dir, 'LICENSE', 'the same licence text\n', 'licence on a private branch', ['--private']);
    expect(fossil(['push', '--private'], a.dir).output).not.toMatch(/Error/);
    // Same content, same artifact name: the writer's push carries it as public.
    const w = cloneAndOpen(home, url('qa', 'wes', 'wes-pw'), 'wes');
    fossil(['settings', 'autosync', 'off'], w.dir);
    commit(w.dir, 'COPYING', 'the same licence text\n', 'licence on trunk');
    expect(fossil(['push'], w.dir).output).not.toMatch(/Error/);
    const anon = join(home, 'anon-same.fossil');
    fossil(['clone', url('qa'), anon]);
    expect(comments(anon)).toContain('licence on trunk');
    expect(comments(anon)).not.toContain('licence on a private branch');
    // No phantom: the file's content came with the clone, so the check-in can be checked out.
    expect(fossil(['sql', '-R', anon, 'SELECT count(*) FROM blob WHERE size < 0']).stdout.trim()).toBe('0');
    expect(fossil(['cat', 'COPYING', '-r', 'trunk', '-R', anon]).stdout).toBe('the same licence text\n');
  });

  it('an existing repository (its own project code) is pushed into a repository created with that project_code', async () => {
    // A repository the hub has never seen: SHA1 and SHA3 check-ins by several users, a branch
    // and a merge, a tag, wiki, technote, ticket, attachment, an unversioned file, a private branch.
    const real = join(home, 'real.fossil');
    const w = join(home, 'real');
    mkdirSync(w);
    fossil(['new', real]);
    fossil(['user', 'new', 'bob', 'bob@example.com', 'pw', '-R', real]);
    fossil(['open', real], w);
    fossil(['settings', 'autosync', 'off'], w);
    fossil(['hash-policy', 'sha1'], w);
    commit(w, 'old.txt', 'sha1 era\n', 'by bob', ['--user-override', 'bob']);
    fossil(['hash-policy', 'sha3'], w);
    commit(w, 'feat.txt', 'feature\n', 'a feature', ['--branch', 'feat']);
    fossil(['update', 'trunk'], w);
    fossil(['merge', 'feat'], w);
    fossil(['commit', '--no-warnings', '-m', 'merge feat'], w);
    fossil(['tag', 'add', 'v1.0', 'trunk'], w);
    writeFileSync(join(home, 'page.wiki'), 'hello\n');
    fossil(['wiki', 'create', 'Home', join(home, 'page.wiki')], w);
    fossil(['wiki', 'create', '--technote', 'now', 'Note', join(home, 'page.wiki')], w);
    fossil(['ticket', 'add', 'title', 'Imported bug', 'status', 'Open'], w);
    fossil(['attachment', 'add', 'Home', join(home, 'page.wiki')], w);
    fossil(['uv', 'add', join(home, 'page.wiki'), '--as', 'download.txt'], w);
    commit(w, 'secret.txt', 'private\n', 'private work', ['--private']);
    fossil(['update', 'trunk'], w);
    // Its own settings, which `configuration push` brings over the hub's defaults.
    fossil(['hash-policy', 'sha1'], w);
    fossil(['sql', '-R', real, `REPLACE INTO config(name, value, mtime) VALUES('project-name', 'Imported Project', now())`]);
    const code = fossil(['sql', '-R', real, `SELECT value FROM config WHERE name = 'project-code'`]).stdout.trim().replace(/'/g, '');

    // The code must be a fossil one, for a fossil repository.
    expect((await hubApi(hub, 'POST', '/repos', { name: 'imp-git', kind: 'git', project_code: code })).status).toBe(400);
    expect((await hubApi(hub, 'POST', '/repos', { name: 'imp-bad', kind: 'fossil', project_code: 'XYZ' })).status).toBe(400);
    await api('POST', '/repos', { name: 'imp', kind: 'fossil', public: true, project_code: code });
    await api('PUT', '/repos/imp/members/ann', { role: 'admin' });
    // It starts empty: no initial check-in of its own to clash with the imported history.
    const before = join(home, 'imp-empty.fossil');
    fossil(['clone', url('imp'), before]);
    expect(comments(before)).toEqual([]);

    const remote = url('imp', 'ann', 'ann-pw');
    for (const args of [['push', remote], ['push', '--private', remote], ['uv', 'sync', remote], ['configuration', 'push', 'project', remote]]) {
      expect(fossil(args, w).output).not.toMatch(/Error|login failed|wrong project/);
    }
    const back = join(home, 'imp-back.fossil');
    fossil(['clone', '-u', remote, back]);
    fossil(['pull', '--private', remote, '-R', back]);
    expect(artifactHashes(home, back)).toEqual(artifactHashes(home, real));
    expect(privateCount(back)).toBe(privateCount(real));
    expect(fossil(['uv', 'list', '-R', back]).stdout).toMatch(/download\.txt/);
    expect(fossil(['wiki', 'list', '-R', back]).stdout).toMatch(/Home/);
    expect(fossil(['ticket', 'show', '0', '-R', back]).stdout).toMatch(/Imported bug/);
    expect(fossil(['test-integrity', '-R', back]).output).toMatch(/\b0 errors/);
    expect(fossil(['hash-policy', '-R', back]).stdout.trim()).toBe('sha1');
    expect(fossil(['sql', '-R', back, `SELECT value FROM config WHERE name = 'project-name'`]).stdout.trim()).toBe(`'Imported Project'`);
    // An anonymous clone gets the public history only, with the source's project code.
    fossil(['pull', '-R', before]);
    expect(comments(before)).toContain('merge feat');
    expect(comments(before)).not.toContain('private work');
    expect(fossil(['sql', '-R', before, `SELECT value FROM config WHERE name = 'project-code'`]).stdout.trim().replace(/'/g, '')).toBe(code);
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

describe('artifacts a fossil client would never send', () => {
  const hex = (algo: string, s: string) => createHash(algo).update(s).digest('hex');
  /** One signed, compressed xfer request as ann; the reply's card text. */
  async function xfer(cards: string): Promise<string> {
    const probe = join(home, 'anon.fossil');
    const pc = fossil(['sql', '-R', probe, `SELECT value FROM config WHERE name = 'project-code'`]).stdout.trim().replace(/'/g, '');
    const rest = Buffer.from(`pragma client-version 22100 20230226 192424\n${cards.replaceAll('PC', pc)}# ${hex('sha1', String(Math.random()))}\n`, 'latin1');
    const nonce = hex('sha1', rest.toString('latin1'));
    const msg = Buffer.concat([Buffer.from(`login ann ${nonce} ${hex('sha1', nonce + hex('sha1', `${pc}/ann/ann-pw`))}\n`), rest]);
    const z = deflateSync(msg);
    const body = Buffer.alloc(4 + z.length);
    body.writeUInt32BE(msg.length, 0);
    z.copy(body, 4);
    const res = await http(`${hub.url}/qa`, { method: 'POST', headers: { 'content-type': 'application/x-fossil' }, body });
    expect(res.status).toBe(200);
    // Replies under 1000 bytes come uncompressed (1c97b8a), as fossil-sync's cards() reads them.
    if (String(res.headers['content-type']).startsWith('application/x-fossil-uncompressed')) return res.body.toString('latin1');
    return inflateSync(res.body.subarray(4)).toString('latin1');
  }

  it('a delta naming itself as its base, and a pair of deltas on each other: error or nothing stored, then pulls work', async () => {
    const self = hex('sha3-256', 'self\n');
    expect(await xfer(`push ${'a'.repeat(40)} PC\nfile ${self} ${self} 5\n5\n0:;`)).toMatch(/^error malformed\\sfile\\sline$/m);
    const a = hex('sha3-256', 'AAAA\n');
    const b = hex('sha3-256', 'BBBB\n');
    expect(await xfer(`push ${'a'.repeat(40)} PC\nfile ${a} ${b} 5\n5\n0:;file ${b} ${a} 5\n5\n0:;`)).not.toMatch(/^error/m);
    // Neither resolves, so neither is served; then the real A arrives: it is served, and B's bad delta is dropped.
    const pull = await xfer(`pull ${'a'.repeat(40)} PC\ngimme ${self}\ngimme ${a}\ngimme ${b}\n`);
    expect(pull).not.toMatch(/^(file|cfile) /m);
    expect(pull).not.toMatch(/^error/m);
    expect(await xfer(`push ${'a'.repeat(40)} PC\nfile ${a} 5\nAAAA\n`)).not.toMatch(/^error/m);
    expect(await xfer(`pull ${'a'.repeat(40)} PC\ngimme ${a}\ngimme ${b}\n`)).toMatch(new RegExp(`^file ${a} 5\nAAAA\n(?![\\s\\S]*^file ${b})`, 'm'));
    expect(fossil(['pull', '-R', join(home, 'anon.fossil')]).output).not.toMatch(/Error/);
  });
});
