// The git smart-HTTP routes inside workerd: statuses, content types, auth
// answers, body decoding (gzip, probe, size cap) and what the Durable Object
// serves by itself (advertisements, ls-refs), byte for byte.
import { SELF, env } from 'cloudflare:test';
import { beforeAll, describe, expect, it } from 'vitest';
import { deflateSync, gzipSync } from 'node:zlib';
import { eq } from 'drizzle-orm';
import { drizzle } from 'drizzle-orm/d1';
import { app } from '../../worker/index.js';
import { repos } from '../../worker/storage-d1/schema.js';
import { R2SegmentStore } from '../../worker/storage-r2/segments.js';
import { nativePrimitives } from '../../worker/primitives.js';
import { gitObjectId } from '../../shared/core/git/object-id.js';
import { encodePkts } from '../../shared/protocols/git/pkt-line.js';
import { DEFAULT_RECEIVE_FEATURES, ZERO_ID, receivePackCapabilities, textPkt, FLUSH, DELIM } from '../../shared/protocols/git/capabilities.js';
import { uploadPackV0Capabilities } from '../../shared/protocols/git/capabilities.js';
import { HUB_UPLOAD_FEATURES } from '../../worker/durable/git-http.js';

const HUB = 'http://hub.test';
const ADMIN = { authorization: 'Bearer test-admin-token', 'content-type': 'application/json' };
const basic = (u: string, p: string) => `Basic ${btoa(`${u}:${p}`)}`;
const api = (method: string, path: string, body?: unknown) =>
  SELF.fetch(`${HUB}/api${path}`, { method, headers: ADMIN, body: body === undefined ? undefined : JSON.stringify(body) });
const enc = (s: string) => new TextEncoder().encode(s);
const dec = (b: ArrayBuffer | Uint8Array) => new TextDecoder().decode(b);
const UP_REQ = { 'content-type': 'application/x-git-upload-pack-request' };
const RECV_REQ = { 'content-type': 'application/x-git-receive-pack-request' };

const C1 = '1'.repeat(40);
const C2 = '2'.repeat(40);

async function repoRow(name: string) {
  return (await drizzle(env.DB).select().from(repos).where(eq(repos.name, name)).get())!;
}
async function stubOf(name: string) {
  return env.REPO.get(env.REPO.idFromName((await repoRow(name)).id));
}

/** Stores an annotated tag pointing at commit `target` in the repository; its id. */
async function storeTag(name: string, target: string): Promise<string> {
  const content = enc(`object ${target}\ntype commit\ntag v1\ntagger T <t@example.com> 0 +0000\n\nrelease\n`);
  const id = gitObjectId(nativePrimitives, 'tag', content);
  const segments = new R2SegmentStore(env.CONTENT, (await repoRow(name)).id);
  const w = await segments.create();
  await w.write(deflateSync(content));
  const { offset, length } = w.endRecord();
  const { segment } = await w.finish();
  const stub = await stubOf(name);
  const r = await stub.putObjects([{ id, kind: 'tag', size: content.length, segment, offset, length, format: 'full', base: null }]);
  expect(r.ok).toBe(true);
  return id;
}

function lsRefsBody(...args: string[]): Uint8Array {
  return encodePkts([textPkt('command=ls-refs\n'), textPkt('agent=git/2.39.5'), textPkt('object-format=sha1'), DELIM, ...args.map((a) => textPkt(`${a}\n`)), FLUSH]);
}

beforeAll(async () => {
  expect((await api('POST', '/users', { name: 'gr-reader', password: 'pw' })).status).toBe(201);
  expect((await api('POST', '/users', { name: 'gr-writer', password: 'pw' })).status).toBe(201);
  expect((await api('POST', '/repos', { name: 'gr-empty', kind: 'git', public: true })).status).toBe(201);
  expect((await api('POST', '/repos', { name: 'gr-full', kind: 'git', public: true })).status).toBe(201);
  expect((await api('POST', '/repos', { name: 'gr-priv', kind: 'git', public: false })).status).toBe(201);
  expect((await api('POST', '/repos', { name: 'gr-fossil', kind: 'fossil', public: true })).status).toBe(201);
  expect((await api('PUT', '/repos/gr-priv/members/gr-reader', { role: 'read' })).status).toBe(200);
  expect((await api('PUT', '/repos/gr-priv/members/gr-writer', { role: 'write' })).status).toBe(200);
});

describe('info/refs', () => {
  it('serves the v0 advertisements of an empty repository with the exact headers', async () => {
    const up = await SELF.fetch(`${HUB}/gr-empty.git/info/refs?service=git-upload-pack`);
    expect(up.status).toBe(200);
    expect(up.headers.get('content-type')).toBe('application/x-git-upload-pack-advertisement');
    expect(up.headers.get('cache-control')).toContain('no-cache');
    expect(up.headers.get('expires')).toBe('Fri, 01 Jan 1980 00:00:00 GMT');
    expect(up.headers.get('pragma')).toBe('no-cache');
    expect(dec(await up.arrayBuffer())).toBe('001e# service=git-upload-pack\n00000000');

    const recv = await SELF.fetch(`${HUB}/gr-empty/info/refs?service=git-receive-pack`, { headers: { authorization: basic('x', 'test-admin-token') } });
    expect(recv.headers.get('content-type')).toBe('application/x-git-receive-pack-advertisement');
    const caps = receivePackCapabilities(DEFAULT_RECEIVE_FEATURES).join(' ');
    expect(dec(await recv.arrayBuffer())).toBe(
      dec(encodePkts([textPkt('# service=git-receive-pack\n'), FLUSH, textPkt(`${ZERO_ID} capabilities^{}\0${caps}\n`), FLUSH])),
    );
  });

  it('serves the v2 capability advertisement when asked by Git-Protocol', async () => {
    const res = await SELF.fetch(`${HUB}/gr-empty.git/info/refs?service=git-upload-pack`, { headers: { 'git-protocol': 'version=2' } });
    expect(res.headers.get('content-type')).toBe('application/x-git-upload-pack-advertisement');
    const text = dec(await res.arrayBuffer());
    expect(text.startsWith('000eversion 2\n')).toBe(true);
    expect(text).toContain('ls-refs=unborn\n');
    expect(text.endsWith('0000')).toBe(true);
  });

  it('advertises HEAD with its symref, refs in order and peeled tags', async () => {
    const stub = await stubOf('gr-full');
    const tag = await storeTag('gr-full', C1);
    expect((await stub.updateRefs([
      { name: 'refs/heads/main', old: null, new: C1 },
      { name: 'refs/heads/dev', old: null, new: C2 },
      { name: 'refs/tags/v1', old: null, new: tag },
    ])).ok).toBe(true);
    expect((await api('PATCH', '/repos/gr-full', { default_branch: 'main' })).status).toBe(200);
    const res = await SELF.fetch(`${HUB}/gr-full.git/info/refs?service=git-upload-pack`);
    const caps = uploadPackV0Capabilities(HUB_UPLOAD_FEATURES, 'refs/heads/main').join(' ');
    expect(dec(await res.arrayBuffer())).toBe(
      dec(encodePkts([
        textPkt('# service=git-upload-pack\n'),
        FLUSH,
        textPkt(`${C1} HEAD\0${caps}\n`),
        textPkt(`${C2} refs/heads/dev\n`),
        textPkt(`${C1} refs/heads/main\n`),
        textPkt(`${tag} refs/tags/v1\n`),
        textPkt(`${C1} refs/tags/v1^{}\n`),
        FLUSH,
      ])),
    );
    // receive-pack: no HEAD, no peeled lines.
    const recv = await SELF.fetch(`${HUB}/gr-full.git/info/refs?service=git-receive-pack`, { headers: { authorization: basic('x', 'test-admin-token') } });
    const text = dec(await recv.arrayBuffer());
    expect(text).not.toContain('HEAD');
    expect(text).not.toContain('^{}');
    expect(text).toContain(`${tag} refs/tags/v1\n`);
  });

  it('answers a missing service with 400 and an unknown one with 403, at once', async () => {
    expect((await SELF.fetch(`${HUB}/gr-empty.git/info/refs`)).status).toBe(400);
    for (const s of ['git-upload-archive', 'foo', '']) {
      expect((await SELF.fetch(`${HUB}/gr-empty.git/info/refs?service=${s}`)).status, s).toBe(403);
    }
    expect((await SELF.fetch(`${HUB}/gr-empty.git/HEAD`)).status).toBe(404);
  });

  it('finds the repository under runs of slashes (//NAME.git, NAME.git//info/refs), as http-backend does; other paths are not collapsed', async () => {
    const want = dec(await (await SELF.fetch(`${HUB}/gr-full.git/info/refs?service=git-upload-pack`)).arrayBuffer());
    for (const path of ['//gr-full.git/info/refs', '/gr-full.git//info/refs', '///gr-full//info/refs']) {
      const res = await SELF.fetch(`${HUB}${path}?service=git-upload-pack`);
      expect(res.status, path).toBe(200);
      expect(dec(await res.arrayBuffer()), path).toBe(want);
    }
    expect((await SELF.fetch(`${HUB}//api/repos`, { headers: ADMIN })).status).toBe(404);
  });

  it('answers another method on a smart-HTTP path with 405 and the methods it takes, as http-backend does, whatever the name', async () => {
    for (const repo of ['gr-empty.git', 'gr-missing']) {
      for (const method of ['PUT', 'DELETE', 'OPTIONS', 'POST']) {
        const res = await SELF.fetch(`${HUB}/${repo}/info/refs?service=git-upload-pack`, { method, body: method === 'POST' ? '0000' : undefined });
        expect([res.status, res.headers.get('allow')], `${method} ${repo}`).toEqual([405, 'GET, HEAD']);
      }
      for (const path of ['git-upload-pack', 'git-receive-pack']) {
        for (const method of ['GET', 'PUT', 'DELETE']) {
          const res = await SELF.fetch(`${HUB}/${repo}/${path}`, { method });
          expect([res.status, res.headers.get('allow')], `${method} ${path}`).toEqual([405, 'POST']);
        }
      }
    }
  });
});

describe('access', () => {
  const status = async (path: string, auth?: string, init: RequestInit = {}) =>
    (await SELF.fetch(`${HUB}${path}`, { ...init, headers: { ...(auth ? { authorization: auth } : {}), ...(init.headers as Record<string, string>) } })).status;
  const UP = '/info/refs?service=git-upload-pack';
  const RECV = '/info/refs?service=git-receive-pack';

  it('asks for credentials with 401 Basic, and answers 403/404 per the rules', async () => {
    const res = await SELF.fetch(`${HUB}/gr-priv.git${UP}`);
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toBe('Basic realm="hub"');
    expect(await status(`/gr-priv.git${UP}`, basic('gr-reader', 'wrong'))).toBe(401);
    expect(await status(`/gr-priv.git${UP}`, basic('nobody', 'pw'))).toBe(401);
    expect(await status(`/gr-priv.git${UP}`, basic('gr-reader', 'pw'))).toBe(200);
    expect(await status(`/gr-priv.git${RECV}`, basic('gr-reader', 'pw'))).toBe(403);
    expect(await status(`/gr-priv.git${RECV}`, basic('gr-writer', 'pw'))).toBe(200);
    expect(await status(`/gr-empty.git${RECV}`)).toBe(401);
    expect(await status(`/gr-empty.git${RECV}`, basic('gr-reader', 'pw'))).toBe(403);
    expect(await status(`/gr-missing.git${UP}`)).toBe(401);
    expect(await status(`/gr-missing.git${UP}`, basic('gr-reader', 'pw'))).toBe(404);
    expect(await status(`/gr-fossil.git${UP}`)).toBe(404);
    expect(await status(`/..git${UP}`)).toBe(404);
    // The POSTs need the same roles as their GETs.
    const post = { method: 'POST', body: '0000', headers: RECV_REQ };
    expect(await status('/gr-priv.git/git-receive-pack', basic('gr-reader', 'pw'), post)).toBe(403);
    expect(await status('/gr-priv.git/git-upload-pack', undefined, { ...post, headers: UP_REQ })).toBe(401);
    expect(await status('/gr-priv.git/git-receive-pack', basic('gr-writer', 'pw'), post)).toBe(200);
  });
});

describe('POST bodies', () => {
  it('answers the 0000 probe with an empty 200', async () => {
    for (const [service, type] of [['git-upload-pack', UP_REQ], ['git-receive-pack', RECV_REQ]] as const) {
      const res = await SELF.fetch(`${HUB}/gr-empty.git/${service}`, { method: 'POST', headers: { ...type, authorization: basic('x', 'test-admin-token') }, body: '0000' });
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toBe(`application/x-${service}-result`);
      expect((await res.arrayBuffer()).byteLength).toBe(0);
    }
  });

  it('sends four bytes that are not the probe to receive-pack as a push (an ERR, nothing changed)', async () => {
    // The probe skips the branch rules' D1 read; any other 4-byte body is too short for a ref command.
    const refs = async () => dec(await (await SELF.fetch(`${HUB}/gr-full.git/info/refs?service=git-upload-pack`)).arrayBuffer());
    const before = await refs();
    for (const body of ['zzzz', '0004', '0001']) {
      const res = await SELF.fetch(`${HUB}/gr-full.git/git-receive-pack`, { method: 'POST', headers: { ...RECV_REQ, authorization: basic('x', 'test-admin-token') }, body });
      expect(res.status).toBe(200);
      expect(dec(await res.arrayBuffer())).toMatch(/^[0-9a-f]{4}ERR /);
    }
    expect(await refs()).toBe(before);
  });

  it('refuses a POST with another content type with 415', async () => {
    const res = await SELF.fetch(`${HUB}/gr-empty.git/git-upload-pack`, { method: 'POST', headers: { 'content-type': 'text/plain' }, body: '0000' });
    expect(res.status).toBe(415);
  });

  it('answers v2 ls-refs, plain and gzip-encoded, with symrefs, peeled tags and prefixes', async () => {
    const want = (await storeTagLookup()).lines;
    for (const gzip of [false, true]) {
      const body = lsRefsBody('symrefs', 'peel', 'ref-prefix HEAD', 'ref-prefix refs/heads/', 'ref-prefix refs/tags/');
      const res = await SELF.fetch(`${HUB}/gr-full.git/git-upload-pack`, {
        method: 'POST',
        headers: { ...UP_REQ, 'git-protocol': 'version=2', ...(gzip ? { 'content-encoding': 'gzip' } : {}) },
        body: gzip ? gzipSync(body) : body,
      });
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toBe('application/x-git-upload-pack-result');
      expect(dec(await res.arrayBuffer())).toBe(want);
    }
    async function storeTagLookup() {
      const tag = (await (await stubOf('gr-full')).readRef('refs/tags/v1')) as { ok: true; value: string };
      return {
        lines: dec(encodePkts([
          textPkt(`${C1} HEAD symref-target:refs/heads/main\n`),
          textPkt(`${C2} refs/heads/dev\n`),
          textPkt(`${C1} refs/heads/main\n`),
          textPkt(`${tag.value} refs/tags/v1 peeled:${C1}\n`),
          FLUSH,
        ])),
      };
    }
  });

  it('answers ls-refs of an empty repository with an unborn HEAD once a default branch is set', async () => {
    const post = () =>
      SELF.fetch(`${HUB}/gr-empty.git/git-upload-pack`, { method: 'POST', headers: { ...UP_REQ, 'git-protocol': 'version=2' }, body: lsRefsBody('symrefs', 'unborn') });
    expect(dec(await (await post()).arrayBuffer())).toBe('0000');
    expect((await api('PATCH', '/repos/gr-empty', { default_branch: 'trunk' })).status).toBe(200);
    expect(dec(await (await post()).arrayBuffer())).toBe(dec(encodePkts([textPkt('unborn HEAD symref-target:refs/heads/trunk\n'), FLUSH])));
  });

  it('maps bad requests to an ERR pkt-line inside a 200', async () => {
    const bad = [
      encodePkts([textPkt('command=nope\n'), FLUSH]),
      enc('zzzz'),
      encodePkts([textPkt('command=ls-refs\n'), DELIM, textPkt('bogus\n'), FLUSH]),
      encodePkts([textPkt('command=ls-refs\n')]), // no flush
    ];
    for (const body of bad) {
      const res = await SELF.fetch(`${HUB}/gr-empty.git/git-upload-pack`, { method: 'POST', headers: { ...UP_REQ, 'git-protocol': 'version=2' }, body });
      expect(res.status).toBe(200);
      expect(dec(await res.arrayBuffer())).toMatch(/^[0-9a-f]{4}ERR /);
    }
    // A body that is not gzip although it says so.
    const res = await SELF.fetch(`${HUB}/gr-empty.git/git-upload-pack`, {
      method: 'POST',
      headers: { ...UP_REQ, 'git-protocol': 'version=2', 'content-encoding': 'gzip' },
      body: enc('this is not gzip at all, not even close'),
    });
    expect(res.status).toBe(200);
    expect(dec(await res.arrayBuffer())).toMatch(/^[0-9a-f]{4}ERR request could not be read/);
    // Then the next request is served normally.
    expect((await SELF.fetch(`${HUB}/gr-empty.git/info/refs?service=git-upload-pack`)).status).toBe(200);
  });

  it('refuses a push over HUB_MAX_PUSH_BYTES with a clear error on band 3 (or ERR without side-band)', async () => {
    const small = { ...env, HUB_MAX_PUSH_BYTES: '1000' };
    const auth = { authorization: basic('x', 'test-admin-token') };
    const push = (caps: string) => {
      const head = encodePkts([textPkt(`${ZERO_ID} ${C1} refs/heads/main\0 ${caps}`), FLUSH]);
      const body = new Uint8Array(head.length + 5000);
      body.set(head);
      return app.fetch(new Request(`${HUB}/gr-empty.git/git-receive-pack`, { method: 'POST', headers: { ...RECV_REQ, ...auth }, body }), small);
    };
    const sb = await push('report-status side-band-64k agent=git/2.39.5');
    expect(sb.status).toBe(200);
    expect(dec(await sb.arrayBuffer())).toBe(dec(encodePkts([{ kind: 'data', payload: enc("\x03push is larger than the hub's limit of 1000 bytes\n") }, FLUSH])));
    const plain = await push('report-status agent=git/2.39.5');
    expect(dec(await plain.arrayBuffer())).toMatch(/^[0-9a-f]{4}ERR push is larger than the hub's limit of 1000 bytes\n$/);
  });
});

describe('repository identity and settings', () => {
  it('deletes the content with the repository, and a new one of that name starts empty', async () => {
    expect((await api('POST', '/repos', { name: 'gr-del', kind: 'git' })).status).toBe(201);
    const old = await repoRow('gr-del');
    await storeTag('gr-del', C1);
    const stub = await stubOf('gr-del');
    expect((await stub.updateRefs([{ name: 'refs/heads/main', old: null, new: C1 }])).ok).toBe(true);
    expect((await env.CONTENT.list({ prefix: `repos/${old.id}/` })).objects.length).toBe(1);
    expect((await api('DELETE', '/repos/gr-del')).status).toBe(204);
    expect((await env.CONTENT.list({ prefix: `repos/${old.id}/` })).objects.length).toBe(0);
    expect(await stub.listRefs()).toEqual({ ok: true, value: [] });
    expect((await api('POST', '/repos', { name: 'gr-del', kind: 'git' })).status).toBe(201);
    expect((await repoRow('gr-del')).id).not.toBe(old.id);
    const res = await SELF.fetch(`${HUB}/gr-del.git/info/refs?service=git-upload-pack`);
    expect(dec(await res.arrayBuffer())).toBe('001e# service=git-upload-pack\n00000000');
  });

  it('sets the default branch (HEAD) through PATCH and shows it', async () => {
    expect((await api('POST', '/repos', { name: 'gr-head', kind: 'git' })).status).toBe(201);
    expect(await (await api('GET', '/repos/gr-head')).json()).toMatchObject({ default_branch: null });
    const res = await api('PATCH', '/repos/gr-head', { default_branch: 'develop' });
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ name: 'gr-head', default_branch: 'develop' });
    expect(await (await stubOf('gr-head')).readSymbolicRef('HEAD')).toEqual({ ok: true, value: 'refs/heads/develop' });
    for (const bad of ['', 'a..b', 'refs/heads/x', 'x y', 7, 'x.lock']) {
      expect((await api('PATCH', '/repos/gr-head', { default_branch: bad })).status, String(bad)).toBe(400);
    }
    expect((await api('PATCH', '/repos/gr-head', { colour: 'red' })).status).toBe(400);
    expect((await api('PATCH', '/repos/gr-nope', { default_branch: 'x' })).status).toBe(404);
    expect(await (await api('PATCH', '/repos/gr-head', { public: false })).json()).toMatchObject({ public: false, default_branch: 'develop' });
  });

  it('serves a repository named like an API path', async () => {
    expect((await api('POST', '/repos', { name: 'api', kind: 'git' })).status).toBe(201);
    const res = await SELF.fetch(`${HUB}/api/info/refs?service=git-upload-pack`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/x-git-upload-pack-advertisement');
    expect((await api('GET', '/repos')).status).toBe(200);
  });
});
