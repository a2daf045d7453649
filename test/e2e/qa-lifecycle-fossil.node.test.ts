// Fossil operations overlapping each other and the repository's lifecycle, with the real fossil:
// two clients syncing one repository at once, clones and a push while the alarm repacks, a push
// killed mid-round and pushed again, and a repository deleted while a push runs (its R2 content
// gone afterwards), then created again under the same name (empty, no old members), and one deleted
// between two rounds of a clone. Every repository file a client ends with passes fossil
// test-integrity, and the Worker logs no exception.
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import { request as httpRequest } from 'node:http';
import type { AddressInfo } from 'node:net';
import { inflateSync } from 'node:zlib';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { connect, createServer as createNetServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { artifactHashes, check, fossilEnv, runFossil, runFossilAsync } from './fossil-client.js';
import { api, apiOk } from './hub-client.js';
import { startHub, type Hub } from './hub-server.js';

let hub: Hub;
let home: string;
let state: string;

const fossil = (args: string[], cwd = home) => check(runFossil(home, args, cwd), `fossil ${args.join(' ')}`);
const url = (repo: string, user = 'fred') => `${hub.url.replace('http://', `http://${user}:${user}-pw@`)}/${repo}`;
const integrity = (repo: string) => expect(fossil(['test-integrity', '-R', repo]).output).toMatch(/\b0 errors/);
/** Artifacts but the clusters (each server makes its own, as clients pull). */
const content = (repo: string) =>
  fossil(['sql', '-R', repo, `SELECT uuid FROM blob WHERE size >= 0 AND rid NOT IN (SELECT rid FROM tagxref JOIN tag USING (tagid) WHERE tagname = 'cluster') ORDER BY uuid`])
    .stdout.trim()
    .split('\n');

/** One column of a query on a SQLite file of the hub's local state (read beside the running hub). */
function stateQuery(file: string, sql: string): string[] {
  const r = spawnSync('sqlite3', ['-readonly', file, sql], { encoding: 'utf8' });
  expect(r.status, r.stderr).toBe(0);
  return r.stdout.split('\n').filter(Boolean);
}
const sqliteIn = (dir: string) => readdirSync(dir).filter((f) => f.endsWith('.sqlite') && f !== 'metadata.sqlite').map((f) => join(dir, f));
/** The repository's immutable id (its DO and R2 prefix), from D1. */
const repoId = (name: string) => stateQuery(sqliteIn(join(state, 'v3/d1/miniflare-D1DatabaseObject'))[0], `SELECT id FROM repos WHERE name = '${name}'`)[0];
/** R2 keys under a repository's prefix. */
const r2Keys = (id: string) => stateQuery(sqliteIn(join(state, 'v3/r2/miniflare-R2BucketObject'))[0], `SELECT key FROM _mf_objects WHERE key LIKE 'repos/${id}/%'`);
/** The repository DO's SQLite file (its segment collector names the repository id). */
function doFile(id: string): string {
  const root = join(state, 'v3/do');
  for (const dir of readdirSync(root)) {
    for (const file of sqliteIn(join(root, dir))) {
      if (stateQuery(file, `SELECT count(*) FROM sqlite_master WHERE name = 'segment_gc'`)[0] === '1' && stateQuery(file, `SELECT repo FROM segment_gc`)[0] === id) return file;
    }
  }
  throw new Error(`no DO file for ${id}`);
}

/** A new fossil repository on the hub, fred its writer; a clone of it opened in `name` (autosync off: syncs are the test's). */
async function create(repo: string): Promise<void> {
  await apiOk(hub, 'POST', '/repos', { name: repo, kind: 'fossil', public: true });
  await apiOk(hub, 'PUT', `/repos/${repo}/members/fred`, { role: 'write' });
}
function checkout(repo: string, name: string): { file: string; dir: string } {
  const file = join(home, `${name}.fossil`);
  fossil(['clone', '--save-http-password', url(repo), file]);
  const dir = join(home, name);
  mkdirSync(dir);
  fossil(['open', file], dir);
  fossil(['settings', 'autosync', 'off'], dir);
  fossil(['settings', 'mtime-changes', 'off'], dir);
  return { file, dir };
}
function commit(dir: string, name: string, text: string | Buffer, comment: string): void {
  writeFileSync(join(dir, name), text);
  fossil(['add', name], dir);
  fossil(['commit', '--no-warnings', '--allow-fork', '-m', comment], dir);
}
/** One push round of fossil (what `fossil push` sends first), recorded by a server that answers nothing useful. */
async function recordPush(dir: string, repo: string): Promise<{ headers: Record<string, string>; body: Buffer }> {
  let got: { headers: Record<string, string>; body: Buffer } | undefined;
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (d: Buffer) => chunks.push(d));
    req.on('end', () => {
      got ??= { headers: { 'content-type': req.headers['content-type']!, 'content-length': req.headers['content-length']! }, body: Buffer.concat(chunks) };
      res.writeHead(404).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  await runFossilAsync(home, ['push', `http://fred:fred-pw@127.0.0.1:${port}/${repo}`], dir);
  server.close();
  if (!got) throw new Error('fossil sent no push round');
  return got;
}

let clones = 0;
/** A fresh clone of `repo`, made concurrently; its file and fossil's result. */
async function cloneAsync(repo: string) {
  const file = join(home, `clone-${repo}-${clones++}.fossil`);
  return { file, r: await runFossilAsync(home, ['clone', url(repo), file]) };
}

beforeAll(async () => {
  home = mkdtempSync(join(tmpdir(), 'qa-lifecycle-fossil-'));
  state = join(home, 'state');
  hub = await startHub({ state });
  await apiOk(hub, 'POST', '/users', { name: 'fred', password: 'fred-pw' });
}, 180_000);

afterAll(async () => {
  await hub?.stop();
  if (home) rmSync(home, { recursive: true, force: true });
});

describe('fossil: operations overlapping each other', () => {
  it('two clients syncing one repository at once, each with its own check-ins: both end with both', async () => {
    await create('duo');
    const a = checkout('duo', 'duo-a');
    const b = checkout('duo', 'duo-b');
    for (let round = 0; round < 3; round++) {
      commit(a.dir, `a${round}.txt`, `from a, round ${round}\n`.repeat(200), `a ${round}`);
      commit(b.dir, `b${round}.txt`, `from b, round ${round}\n`.repeat(200), `b ${round}`);
      const [sa, sb] = await Promise.all([runFossilAsync(home, ['sync'], a.dir), runFossilAsync(home, ['sync'], b.dir)]);
      expect(sa.status, sa.output).toBe(0);
      expect(sb.status, sb.output).toBe(0);
      expect(sa.output + sb.output).not.toMatch(/Error|server says/i);
    }
    // Each sync saw the other's check-ins of the rounds before, or got them now.
    fossil(['sync'], a.dir);
    fossil(['sync'], b.dir);
    expect(content(a.file)).toEqual(content(b.file));
    const comments = fossil(['sql', '-R', a.file, `SELECT comment FROM event WHERE type = 'ci' ORDER BY comment`]).stdout;
    for (let round = 0; round < 3; round++) expect(comments).toMatch(new RegExp(`'a ${round}'[\\s\\S]*'b ${round}'`));
    integrity(a.file);
    integrity(b.file);
    const { file, r } = await cloneAsync('duo');
    expect(r.status, r.output).toBe(0);
    expect(content(file)).toEqual(content(a.file));
    expect(hub.log()).not.toMatch(/Uncaught|internal error/i);
  });

  it('clones and a push while the alarm repacks: every clone whole, the push lands, the repack catches up', async () => {
    await create('repack');
    const w = checkout('repack', 'repack-w');
    const lines = Array.from({ length: 400 }, (_, k) => `line ${k} of a text the repack deltifies, version`);
    for (let i = 0; i < 16; i++) commit(w.dir, `f${i % 2}.txt`, lines.map((l, k) => `${l} ${k % 40 === i ? i : 0}`).join('\n'), `version ${i}`);
    fossil(['push'], w.dir);
    const id = repoId('repack');
    const db = doFile(id);
    const behind = () => Number(stateQuery(db, `SELECT (SELECT max(seq) FROM fossil_blob) - coalesce((SELECT cursor FROM fossil_repack), 0)`)[0]);
    expect(behind()).toBeGreaterThan(0);
    const before = content(w.file);
    // The repack starts QUIET_MS (1 s) after the push's last round.
    const results: Awaited<ReturnType<typeof cloneAsync>>[] = [];
    let pushed = false;
    const t0 = Date.now();
    while (Date.now() - t0 < 4000) {
      const jobs = [cloneAsync('repack'), cloneAsync('repack')];
      if (!pushed && Date.now() - t0 > 1500) {
        pushed = true;
        commit(w.dir, 'during.txt', 'pushed while the repack runs\n', 'during the repack');
        const p = await runFossilAsync(home, ['push'], w.dir);
        expect(p.output).not.toMatch(/Error|server says/i);
      }
      results.push(...(await Promise.all(jobs)));
    }
    const after = content(w.file);
    for (const c of results) {
      expect(c.r.status, c.r.output).toBe(0);
      expect([before, after]).toContainEqual(content(c.file));
      integrity(c.file);
    }
    for (let t = 0; t < 100 && behind() > 0; t++) await new Promise((r) => setTimeout(r, 200));
    expect(behind()).toBe(0);
    const { file, r } = await cloneAsync('repack');
    expect(r.status, r.output).toBe(0);
    expect(content(file)).toEqual(after);
    integrity(file);
    expect(hub.log()).not.toMatch(/Uncaught|internal error|repack.*fail/i);
  });

  it('a push killed mid-round leaves the hub as it was (or whole), and the same push again lands', async () => {
    await create('killed');
    const w = checkout('killed', 'killed-w');
    const before = content(join(home, 'killed-w.fossil'));
    commit(w.dir, 'large.bin', randomBytes(12 << 20), 'large');
    for (const delay of [300, 900]) {
      const child = spawn('fossil', ['push'], { cwd: w.dir, env: fossilEnv(home), stdio: 'ignore' });
      // Listened for at once: a push that ends before the kill has closed by then.
      const closed = new Promise((r) => child.once('close', r));
      await new Promise((r) => setTimeout(r, delay));
      child.kill('SIGKILL');
      await closed;
      const { file, r } = await cloneAsync('killed');
      expect(r.status, r.output).toBe(0);
      integrity(file);
      if (content(file).length > before.length) break; // it got through before the kill
    }
    const again = fossil(['push'], w.dir);
    expect(again.output).not.toMatch(/Error|server says/i);
    const { file, r } = await cloneAsync('killed');
    expect(r.status, r.output).toBe(0);
    expect(content(file)).toEqual(content(w.file));
    integrity(file);
    expect(hub.log()).not.toMatch(/Uncaught|internal error/i);
  });
});

describe('fossil: a repository deleted and created again', () => {
  it('deleted while a push runs: no R2 object of it stays; the name created again is empty and fred no member', async () => {
    await create('fdoomed');
    const w = checkout('fdoomed', 'fdoomed-w');
    commit(w.dir, 'first.txt', 'the first check-in\n', 'first');
    fossil(['push'], w.dir);
    fossil(['uv', 'add', join(w.dir, 'first.txt'), '--as', 'notes.txt'], w.dir);
    fossil(['uv', 'sync'], w.dir);
    const id = repoId('fdoomed');
    commit(w.dir, 'large.bin', randomBytes(12 << 20), 'large');
    // fossil's push round, recorded, then sent to the hub: half of it, the delete, the rest.
    const round = await recordPush(w.dir, 'fdoomed');
    const answer = new Promise<string>((resolve, reject) => {
      const req = httpRequest(`${hub.url}/fdoomed`, { method: 'POST', agent: false, headers: round.headers });
      req.on('error', reject);
      req.on('response', (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (d: Buffer) => chunks.push(d));
        res.on('end', () => {
          const body = Buffer.concat(chunks);
          // application/x-fossil: a 4-byte length, then zlib; the uncompressed kind as it is.
          resolve(`${res.statusCode} ${(res.headers['content-type'] === 'application/x-fossil' ? inflateSync(body.subarray(4)) : body).toString('latin1')}`);
        });
      });
      req.write(round.body.subarray(0, round.body.length >> 1));
      setTimeout(async () => {
        expect((await api(hub, 'DELETE', '/repos/fdoomed')).status).toBe(204);
        req.end(round.body.subarray(round.body.length >> 1));
      }, 1000);
    });
    // fossil's error card (a 500 before: the DO's refused put went out as an exception).
    expect(await answer).toMatch(/^200 error the\\srepository\\swas\\sdeleted\n/);
    expect(r2Keys(id)).toEqual([]);
    // Created again: a new project with nothing of the old one.
    await apiOk(hub, 'POST', '/repos', { name: 'fdoomed', kind: 'fossil', public: true });
    const { file, r } = await cloneAsync('fdoomed');
    expect(r.status, r.output).toBe(0);
    const comments = fossil(['sql', '-R', file, `SELECT comment FROM event WHERE type = 'ci'`]).stdout;
    expect(comments).not.toMatch(/first|large/);
    expect(fossil(['uv', 'list', '-R', file]).stdout.trim()).toBe('');
    expect(content(file).some((h) => content(w.file).includes(h))).toBe(false);
    integrity(file);
    // fred was a member of the old repository only.
    const refused = runFossil(home, ['push', url('fdoomed'), '-R', file]);
    expect(refused.output).toMatch(/not authorized|login failed|Error/);
    expect(hub.log()).not.toMatch(/Uncaught|internal error/i);
  });

  it('deleted between two rounds of a clone: fossil says the server answered 404 and aborts the clone, leaving no file', async () => {
    await create('fgone');
    const w = checkout('fgone', 'fgone-w');
    // ~9 MiB of incompressible files: a clone of two rounds at least (a round's reply budget is 5 MB).
    for (const n of ['a', 'b', 'c']) writeFileSync(join(w.dir, `${n}.bin`), randomBytes(3 << 20));
    fossil(['add', 'a.bin', 'b.bin', 'c.bin'], w.dir);
    fossil(['commit', '--no-warnings', '-m', 'three'], w.dir);
    fossil(['push'], w.dir);
    // A proxy that holds the clone's second request until the repository is deleted.
    const hubPort = Number(new URL(hub.url).port);
    let posts = 0;
    let held: (() => void) | null = null;
    const proxy = createNetServer((client) => {
      const up = connect(hubPort, '127.0.0.1');
      client.on('data', (d: Buffer) => {
        if (d.subarray(0, 5).toString('latin1') === 'POST ') posts++;
        if (posts === 2 && held === null) {
          client.pause();
          held = () => (up.write(d), client.resume());
          return;
        }
        up.write(d);
      });
      up.on('data', (d: Buffer) => client.write(d));
      up.on('end', () => client.end());
      up.on('error', () => client.destroy());
      client.on('error', () => up.destroy());
    });
    await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
    try {
      const file = join(home, 'fgone-clone.fossil');
      const cloning = runFossilAsync(home, ['clone', `http://127.0.0.1:${(proxy.address() as AddressInfo).port}/fgone`, file]);
      while (held === null) await new Promise((r) => setTimeout(r, 50));
      expect((await api(hub, 'DELETE', '/repos/fgone')).status).toBe(204);
      (held as () => void)();
      const r = await cloning;
      expect(r.status).not.toBe(0);
      // The first round's artifacts arrived; the next round's answer is the hub's 404 (as fossil server's for a repository it lacks).
      expect(r.output).toMatch(/received: [1-9]/);
      expect(r.output).toMatch(/server says: 404 Not Found\nserver returned an error - clone aborted/);
      expect(existsSync(file)).toBe(false);
    } finally {
      proxy.close();
    }
    expect(hub.log()).not.toMatch(/Uncaught|internal error/i);
  });
});
