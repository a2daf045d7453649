// Outside-in QA of fossil hosting (session 13): what a fossil 2.21 user met
// that the other fossil e2e files did not cover, each checked against what
// fossil server 2.21 does with the same commands (observed on this machine).
// One hub for the file.
import { createHash } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { deflateSync, inflateSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { artifactHashes, check, checkins, fossilHome, runFossil, startFossilServer } from './fossil-client.js';
import { apiOk, http, repoUrl } from './hub-client.js';
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

const hex = (algo: string, text: string) => createHash(algo).update(text).digest('hex');

/** One compressed xfer request signed as `user` (as fossil 2.21 frames it); the reply's card text. */
async function xfer(repo: string, code: string, user: string, cards: string): Promise<string> {
  const rest = Buffer.from(`pragma client-version 22100 20230226 192424\n${cards}# ${hex('sha1', String(Math.random()))}\n`);
  const nonce = hex('sha1', rest.toString('latin1'));
  const message = Buffer.concat([Buffer.from(`login ${user} ${nonce} ${hex('sha1', nonce + hex('sha1', `${code}/${user}/${user}-pw`))}\n`), rest]);
  const z = deflateSync(message);
  const body = Buffer.alloc(4 + z.length);
  body.writeUInt32BE(message.length, 0);
  z.copy(body, 4);
  const res = await http(`${hub.url}/${repo}`, { method: 'POST', headers: { 'content-type': 'application/x-fossil' }, body });
  expect(res.status).toBe(200);
  if (String(res.headers['content-type']).startsWith('application/x-fossil-uncompressed')) return res.body.toString('latin1');
  return inflateSync(res.body.subarray(4)).toString('latin1');
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

  // The hub's phantoms carry no private mark: one made by an admin's `igot HASH 1` (a push
  // --private cut off before the content came) was asked of every writer's push. fossil server
  // asks its private phantoms of x users only.
  it('a private artifact an admin announced but never sent is not named to a writer (as by fossil server)', async () => {
    const src = newRepo('announce-src');
    const code = sql(src.repo, `SELECT value FROM config WHERE name = 'project-code'`).replace(/'/g, '');
    await hosted('announce', src.repo);
    await api('POST', '/users', { name: 'wes', password: 'wes-pw' });
    await api('PUT', '/repos/announce/members/wes', { role: 'write' });
    const secret = hex('sha3-256', 'a private file never sent\n');
    const push = `push ${'0'.repeat(40)} ${code}\n`;
    expect(await xfer('announce', code, 'ann', `${push}pragma send-private\nigot ${secret} 1\n`)).toContain(`gimme ${secret}`);
    const writer = await xfer('announce', code, 'wes', push);
    expect(writer).toMatch(/^pragma server-version/m);
    expect(writer).not.toContain(secret);
    // The admin's next round is asked for it again, and the real client's push --private still lands.
    expect(await xfer('announce', code, 'ann', `${push}pragma send-private\nigot ${secret} 1\n`)).toContain(`gimme ${secret}`);
    commit(src.dir, 'p.txt', 'private\n', 'private work', ['--private']);
    expect(fossil(['push', '--private', url('announce', 'ann', 'ann-pw'), '-R', src.repo]).output).not.toMatch(/Error/);
    const clone = join(home, 'announce-clone.fossil');
    fossil(['clone', url('announce', 'ann', 'ann-pw'), clone]);
    fossil(['pull', '--private', url('announce', 'ann', 'ann-pw'), '-R', clone]);
    expect(comments(clone)).toContain('private work');
  });

  // fossil's uuid_is_shunned treats every SHA1 name as shunned under shun-sha1: a push's SHA1
  // artifacts are dropped without a word. The hub kept them.
  it('hash policy shun-sha1 (configuration push project): a check-in a sha1 clone pushes is dropped, as by fossil server', async () => {
    const src = newRepo('policy-src');
    commit(src.dir, 'a.txt', 'sha3\n', 'before');
    fossil(['hash-policy', 'shun-sha1'], src.dir);
    const remote = await hosted('policy', src.repo);
    for (const args of [['push', remote], ['configuration', 'push', 'project', remote]]) {
      expect(fossil([...args, '-R', src.repo]).output).not.toMatch(/Error/);
    }
    const served = join(home, 'served');
    mkdirSync(served);
    fossil(['sql', '-R', src.repo, `VACUUM INTO '${join(served, 'policy.fossil')}'`]);
    fossil(['user', 'new', 'ann', 'x', 'ann-pw', '-R', join(served, 'policy.fossil')]);
    fossil(['user', 'capabilities', 'ann', 'asixy', '-R', join(served, 'policy.fossil')]);
    const server = await startFossilServer(served, home);
    try {
      const urls = { hub: url('policy'), fossil: `${server.url}/policy` };
      for (const [side, base] of Object.entries(urls)) {
        const writer = base.replace('http://', 'http://ann:ann-pw@');
        const clone = join(home, `policy-${side}.fossil`);
        fossil(['clone', '--save-http-password', writer, clone]);
        expect(fossil(['hash-policy', '-R', clone]).stdout.trim()).toBe('shun-sha1');
        const dir = join(home, `policy-${side}`);
        mkdirSync(dir);
        fossil(['open', clone], dir);
        fossil(['settings', 'autosync', 'off'], dir);
        fossil(['hash-policy', 'sha1'], dir);
        commit(dir, 'b.txt', 'sha1\n', 'a sha1 check-in');
        expect(fossil(['push', writer], dir).output).not.toMatch(/Error/);
        const fresh = join(home, `policy-${side}-fresh.fossil`);
        fossil(['clone', base, fresh]);
        expect({ side, comments: comments(fresh) }).toEqual({ side, comments: ['before', 'initial empty check-in'] });
      }
    } finally {
      await server.stop();
    }
  });
});
