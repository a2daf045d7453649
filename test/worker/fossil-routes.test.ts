// The fossil route and the DO's xfer handling inside workerd (miniflare's D1,
// R2 and Durable Objects): routing by content type, answers and their
// headers, the body cap, repository creation and deletion.
import { env, runInDurableObject, SELF } from 'cloudflare:test';
import { inflateSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { app } from '../../worker/index.js';
import type { RepoObject } from '../../worker/durable/repo.js';
import { repoContentPrefix } from '../../worker/durable/repo.js';
import { sha1Hex, sharedSecret } from '../../worker/fossil-login.js';
import { toHex } from '../../shared/core/bytes.js';
import { sha3_256 } from '@noble/hashes/sha3.js';

const ADMIN = { authorization: 'Bearer test-admin-token', 'content-type': 'application/json' };
const api = (method: string, path: string, body?: unknown) =>
  SELF.fetch(`http://hub.test/api${path}`, { method, headers: ADMIN, body: body === undefined ? undefined : JSON.stringify(body) });
const xferPost = (path: string, body: string | Uint8Array, type = 'application/x-fossil-uncompressed') =>
  SELF.fetch(`http://hub.test${path}`, { method: 'POST', headers: { 'content-type': type }, body });

/** A reply's cards, checking the framing every fossil reply must have. */
async function cards(res: Response): Promise<string> {
  expect(res.status).toBe(200);
  const type = res.headers.get('content-type') ?? '';
  expect(type).toMatch(/^application\/x-fossil/);
  const bytes = new Uint8Array(await res.arrayBuffer());
  expect(Number(res.headers.get('content-length'))).toBe(bytes.length);
  if (type.startsWith('application/x-fossil-uncompressed')) return new TextDecoder().decode(bytes);
  const declared = new DataView(bytes.buffer, bytes.byteOffset).getUint32(0);
  const text = inflateSync(bytes.subarray(4));
  expect(text.length).toBe(declared);
  return text.toString('latin1');
}

const CLONE = 'pragma client-version 22100 20230226 192424\nclone 3 1\n# 0123\n';

async function repoId(name: string): Promise<string> {
  const row = await env.DB.prepare('SELECT id FROM repos WHERE name = ?').bind(name).first<{ id: string }>();
  return row!.id;
}

describe('fossil route', () => {
  it('serves a new repository like fossil new: one clone round gives the initial check-in, the cursor and the codes', async () => {
    expect((await api('POST', '/repos', { name: 'fos', kind: 'fossil', public: true })).status).toBe(201);
    for (const path of ['/fos', '/fos/', '/fos/xfer']) {
      const reply = await cards(await xferPost(path, CLONE));
      expect(reply).toMatch(/^pragma server-version 22100 /);
      expect(reply).toMatch(/^cfile [0-9a-f]{64} \d+ \d+$/m);
      expect(reply).toMatch(/^clone_seqno 0$/m);
      // clone_seqno must precede push, which carries the server and project codes.
      expect(reply.indexOf('clone_seqno')).toBeLessThan(reply.indexOf('\npush '));
      expect(reply).toMatch(/^push [0-9a-f]{40} [0-9a-f]{40}$/m);
    }
    // The DO holds the fossil new state.
    const stub = env.REPO.get(env.REPO.idFromName(await repoId('fos')));
    await runInDurableObject(stub, (_i: RepoObject, state) => {
      const config = Object.fromEntries(state.storage.sql.exec<{ name: string; value: string }>('SELECT name, value FROM fossil_config').toArray().map((r) => [r.name, r.value]));
      expect(config['project-code']).toMatch(/^[0-9a-f]{40}$/);
      expect(config['server-code']).toMatch(/^[0-9a-f]{40}$/);
      expect(config['hash-policy']).toBe('2');
      expect(config['project-name']).toBe('fos');
      expect(state.storage.sql.exec<{ n: number }>('SELECT count(*) AS n FROM fossil_blob').one().n).toBe(1);
      // Crosslinked: the initial check-in is on the timeline, by the admin.
      expect(state.storage.sql.exec<{ user: string; comment: string }>("SELECT user, comment FROM fossil_event WHERE type = 'ci'").toArray()).toEqual([
        { user: 'admin', comment: 'initial empty check-in' },
      ]);
    });
  });

  it('answers bad bodies with an error card and compressed requests compressed', async () => {
    expect(await cards(await xferPost('/fos', 'not a fossil message at all', 'application/x-fossil'))).toMatch(/^error \S+/m);
    expect(await cards(await xferPost('/fos', new Uint8Array([0, 0, 0, 50, 0x78, 0x9c, 1, 2, 3]), 'application/x-fossil'))).toMatch(/^error \S+/m);
    expect(await cards(await xferPost('/fos', 'bogus card\n'))).toMatch(/^error bad\\scommand/m);
    expect(await cards(await xferPost('/fos', `pragma client-version 22100 20230226 192424\npull ${'a'.repeat(40)} ${'b'.repeat(40)}\n`))).toMatch(/^error wrong\\sproject/m);
    // After all that, the repository answers normally.
    expect(await cards(await xferPost('/fos', CLONE))).toMatch(/^clone_seqno 0$/m);
  });

  it('is 404 for unknown and git repositories, and leaves other content types and /api paths alone', async () => {
    expect((await xferPost('/nosuch', CLONE)).status).toBe(404);
    expect((await xferPost('/bad..name', CLONE)).status).toBe(404);
    expect((await api('POST', '/repos', { name: 'gitty', kind: 'git', public: true })).status).toBe(201);
    expect((await xferPost('/gitty', CLONE)).status).toBe(404);
    expect((await SELF.fetch('http://hub.test/fos', { method: 'POST', headers: { 'content-type': 'text/plain' }, body: CLONE })).status).toBe(404);
    // /api/... stays the API's even with a fossil content type; a repository named `api` is still fossil's at /api.
    const apiAnswer = await xferPost('/api/repos', CLONE);
    expect(apiAnswer.headers.get('content-type')).toMatch(/json/);
    expect((await api('POST', '/repos', { name: 'api', kind: 'fossil', public: true })).status).toBe(201);
    expect(await cards(await xferPost('/api', CLONE))).toMatch(/^clone_seqno 0$/m);
  });

  it('pads every refusal of a fossil request to 1000 bytes, made by the fossil route or before it', async () => {
    // fossil 2.21 reads a shorter reply until the connection closes: 5 s on workerd (body.ts MIN_REPLY_BYTES).
    const refusals: [string, number, RegExp][] = [
      ['/nosuch', 404, /^repository not found\n */],
      ['/', 404, /^404 Not Found */],
      ['/api/repos', 401, /^\{.*\}\s*$/],
      ['/api/x/y', 404, /./],
    ];
    for (const [path, status, text] of refusals) {
      const res = await xferPost(path, CLONE);
      const body = await res.text();
      expect([path, res.status]).toEqual([path, status]);
      expect([path, new TextEncoder().encode(body).length]).toEqual([path, 1000]);
      expect(body).toMatch(text);
      if (path.startsWith('/api/repos')) expect(JSON.parse(body)).toHaveProperty('error');
    }
    // Not for other content types.
    expect((await (await SELF.fetch('http://hub.test/', { method: 'POST', headers: { 'content-type': 'text/plain' }, body: 'x' })).text()).length).toBeLessThan(100);
  });

  it('refuses a body over HUB_MAX_PUSH_BYTES with an error card', async () => {
    const small = { ...env, HUB_MAX_PUSH_BYTES: '64' };
    const big = `${CLONE}${'# padding\n'.repeat(20)}`;
    // Declared too large: refused by the route; undeclared: counted as it streams into the DO.
    const declared = await app.request('/fos', { method: 'POST', headers: { 'content-type': 'application/x-fossil-uncompressed', 'content-length': String(big.length) }, body: big }, small);
    expect(await cards(declared)).toMatch(/^error message\\stoo\\slarge/m);
    const streamed = await app.request('/fos', { method: 'POST', headers: { 'content-type': 'application/x-fossil-uncompressed' }, body: big }, small);
    expect(await cards(streamed)).toMatch(/^error message\\sis\\slarger\\sthan\\sthe\\shub's\\slimit/m);
    const ok = await app.request('/fos', { method: 'POST', headers: { 'content-type': 'application/x-fossil-uncompressed' }, body: 'pragma x\n' }, small);
    expect(await cards(ok)).not.toMatch(/^error/m);
  });

  it('reads a streamed body by its Content-Length, and refuses one that ends short of it or goes past it', async () => {
    // Over 64 KiB, so the route passes it on as a stream, with its declared length beside it.
    const body = new TextEncoder().encode(`${CLONE}${'# padding to pass 64 KiB\n'.repeat(3000)}`);
    const send = (length: number) =>
      app.request('/fos', {
        method: 'POST',
        headers: { 'content-type': 'application/x-fossil-uncompressed', 'content-length': String(length) },
        body: new ReadableStream({ start: (c) => (c.enqueue(body), c.close()) }),
      }, env);
    expect(await cards(await send(body.length))).toMatch(/^push [0-9a-f]{40} [0-9a-f]{40}$/m);
    expect(await cards(await send(body.length + 10))).toMatch(new RegExp(`^error message\\\\sended\\\\safter\\\\s${body.length}\\\\sof\\\\sits\\\\s${body.length + 10}\\\\sbytes$`, 'm'));
    expect(await cards(await send(body.length - 10))).toMatch(/^error message\\sis\\slonger\\sthan\\sits\\sContent-Length/m);
  });

  it('streams a clone round of stored records with its Content-Length (fossil 2.21 needs one)', async () => {
    expect((await api('POST', '/repos', { name: 'streamed', kind: 'fossil', public: true })).status).toBe(201);
    const codes = /^push ([0-9a-f]{40}) ([0-9a-f]{40})$/m.exec(await cards(await xferPost('/streamed', CLONE)))!;
    // 300 artifacts of 1-2 KB pushed as the hub admin (any name, the admin token as password).
    const files: string[] = [];
    let cardsOut = `push ${codes[1]} ${codes[2]}\n`;
    for (let i = 0; i < 300; i++) {
      const text = `artifact ${i}\n${'line of text\n'.repeat(100 + (i % 50))}`;
      const hash = toHex(sha3_256(new TextEncoder().encode(text)));
      files.push(hash);
      cardsOut += `file ${hash} ${text.length}\n${text}`;
    }
    const nonce = await sha1Hex(cardsOut);
    const signature = await sha1Hex(nonce + (await sharedSecret(codes[2], 'pusher', 'test-admin-token')));
    expect(await cards(await xferPost('/streamed', `login pusher ${nonce} ${signature}\n${cardsOut}`))).not.toMatch(/^error/m);
    const res = await xferPost('/streamed', CLONE);
    expect(res.headers.get('content-type')).toBe('application/x-fossil-uncompressed');
    const reply = await cards(res);
    const sent = [...reply.matchAll(/^cfile ([0-9a-f]{64}) /gm)].map((m) => m[1]);
    expect(sent).toHaveLength(301);
    expect(new Set(sent)).toEqual(new Set([...files, sent.find((h) => !files.includes(h))]));
    expect(reply).toMatch(/\nclone_seqno 0\npush [0-9a-f]{40} [0-9a-f]{40}\n# timestamp /);
  });

  it('private repositories tell the project code before refusing an anonymous clone', async () => {
    expect((await api('POST', '/repos', { name: 'hidden', kind: 'fossil', public: false })).status).toBe(201);
    const reply = await cards(await xferPost('/hidden', CLONE));
    expect(reply).toMatch(/^push [0-9a-f]{40} [0-9a-f]{40}\nerror not\\sauthorized\\sto\\sclone$/m);
    expect(reply).not.toMatch(/^cfile/m);
  });

  it('deletes the fossil content with the repository', async () => {
    expect((await api('POST', '/repos', { name: 'gone', kind: 'fossil', public: true })).status).toBe(201);
    const id = await repoId('gone');
    expect((await env.CONTENT.list({ prefix: repoContentPrefix(id) })).objects.length).toBeGreaterThan(0);
    expect((await api('DELETE', '/repos/gone')).status).toBe(204);
    expect((await env.CONTENT.list({ prefix: repoContentPrefix(id) })).objects).toEqual([]);
    await runInDurableObject(env.REPO.get(env.REPO.idFromName(id)), (_i: RepoObject, state) => {
      expect(state.storage.sql.exec<{ n: number }>('SELECT count(*) AS n FROM fossil_blob').one().n).toBe(0);
      expect(state.storage.sql.exec<{ n: number }>('SELECT count(*) AS n FROM fossil_config').one().n).toBe(0);
    });
    expect((await xferPost('/gone', CLONE)).status).toBe(404);
  });
});
