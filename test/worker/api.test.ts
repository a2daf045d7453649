import { SELF, env, runInDurableObject } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { authorize } from '../../worker/auth.js';
import type { RepoObject } from '../../worker/durable/repo.js';

const ADMIN = { authorization: 'Bearer test-admin-token', 'content-type': 'application/json' };
const basic = (u: string, p: string) => `Basic ${btoa(`${u}:${p}`)}`;
const call = (method: string, path: string, body?: unknown, headers: Record<string, string> = ADMIN) =>
  SELF.fetch(`http://hub.test${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });

describe('admin API', () => {
  it('refuses admin calls without the admin token, and wrong credentials everywhere', async () => {
    expect((await call('POST', '/api/repos', { name: 'nope' }, {})).status).toBe(401);
    expect((await call('GET', '/api/repos', undefined, { authorization: 'Bearer wrong' })).status).toBe(401);
    expect((await call('GET', '/api/users', undefined, {})).status).toBe(401);
  });

  it('creates, shows, lists and deletes repositories', async () => {
    const res = await call('POST', '/api/repos', { name: 'demo', kind: 'git', public: true });
    expect(res.status).toBe(201);
    expect(await res.json()).toEqual({ name: 'demo', kind: 'git', public: true, urls: { git: 'http://hub.test/demo.git' } });
    expect((await call('POST', '/api/repos', { name: 'demo', kind: 'git', public: true })).status).toBe(409);
    expect(await (await call('GET', '/api/repos/demo')).json()).toMatchObject({ name: 'demo' });
    const f = await call('POST', '/api/repos', { name: 'fos', kind: 'fossil', public: false });
    expect(await f.json()).toEqual({ name: 'fos', kind: 'fossil', public: false, urls: { fossil: 'http://hub.test/fos' } });
    const list = (await (await call('GET', '/api/repos')).json()) as { repos: { name: string }[] };
    expect(list.repos.map((r) => r.name)).toEqual(['demo', 'fos']);
    expect((await call('DELETE', '/api/repos/demo')).status).toBe(204);
    expect((await call('GET', '/api/repos/demo')).status).toBe(404);
    expect((await call('DELETE', '/api/repos/demo')).status).toBe(404);
  });

  it("makes a git repository's storage when it is created, as git init --bare does, not at its first request", async () => {
    const t = Date.now();
    expect((await call('POST', '/api/repos', { name: 'made', kind: 'git', public: true })).status).toBe(201);
    const row = await env.DB.prepare('SELECT id FROM repos WHERE name = ?').bind('made').first<{ id: string }>();
    // Looked at before any git request: the segment collector knows the repository and its alarm is armed.
    await runInDurableObject(env.REPO.get(env.REPO.idFromName(row!.id)), async (_i: RepoObject, state) => {
      expect(state.storage.sql.exec<{ repo: string }>('SELECT repo FROM segment_gc').one().repo).toBe(row!.id);
      expect(await state.storage.getAlarm()).toBeGreaterThan(t);
    });
    const refs = await SELF.fetch('http://hub.test/made.git/info/refs?service=git-upload-pack');
    expect(refs.status).toBe(200);
    expect(await refs.text()).toContain('# service=git-upload-pack');
  });

  it('rejects bad repository names and bodies with 400', async () => {
    for (const name of ['', '.x', '-x', 'a.git', 'a/b', 'a b', 'x'.repeat(101), '../etc', 'é', 'a\u00e9', 7]) {
      expect((await call('POST', '/api/repos', { name, kind: 'git' })).status, String(name)).toBe(400);
    }
    // The issue's limits from the accepting side: 100 characters, and every allowed character.
    for (const name of ['y'.repeat(100), 'a_b-c.d', '_A9.git.x']) {
      const res = await call('POST', '/api/repos', { name, kind: 'git', public: true });
      expect(res.status, name).toBe(201);
      expect(await res.json()).toEqual({ name, kind: 'git', public: true, urls: { git: `http://hub.test/${name}.git` } });
    }
    expect((await call('POST', '/api/repos', { name: 'ok', kind: 'svn' })).status).toBe(400);
    expect((await call('POST', '/api/repos', { name: 'ok', public: 'yes' })).status).toBe(400);
    expect((await SELF.fetch('http://hub.test/api/repos', { method: 'POST', headers: ADMIN, body: '{not json' })).status).toBe(400);
    expect((await SELF.fetch('http://hub.test/api/repos', { method: 'POST', headers: ADMIN, body: 'x'.repeat(70_000) })).status).toBe(413);
    expect((await call('GET', '/api/repos/ok')).status).toBe(404);
  });

  it('creates users (409 when taken) and members, and decides access by role', async () => {
    expect((await call('POST', '/api/users', { name: 'alice', password: 'secret' })).status).toBe(201);
    expect((await call('POST', '/api/users', { name: 'alice', password: 'other' })).status).toBe(409);
    expect((await call('POST', '/api/users', { name: 'bob', password: 'pw' })).status).toBe(201);
    await call('POST', '/api/repos', { name: 'priv', kind: 'git', public: false });
    await call('POST', '/api/repos', { name: 'pub', kind: 'git', public: true });
    expect((await call('PUT', '/api/repos/priv/members/alice', { role: 'write' })).status).toBe(200);
    expect((await call('PUT', '/api/repos/priv/members/alice', { role: 'owner' })).status).toBe(400);
    expect((await call('PUT', '/api/repos/priv/members/nobody', { role: 'read' })).status).toBe(404);
    expect(await (await call('GET', '/api/repos/priv/members')).json()).toEqual({ members: [{ user: 'alice', role: 'write' }] });

    const decide = async (auth: string | null, repo: string, need: 'read' | 'write') => {
      const a = await authorize(env, auth, repo, need);
      return a.ok ? a.role : a.status;
    };
    expect(await decide(null, 'pub', 'read')).toBe('read');
    expect(await decide(null, 'pub', 'write')).toBe(401);
    expect(await decide(null, 'priv', 'read')).toBe(401);
    expect(await decide(null, 'missing', 'read')).toBe(401);
    expect(await decide(basic('alice', 'wrong'), 'priv', 'read')).toBe(401);
    expect(await decide(basic('mallory', 'x'), 'pub', 'read')).toBe(401);
    expect(await decide(basic('alice', 'secret'), 'priv', 'write')).toBe('write');
    expect(await decide(basic('bob', 'pw'), 'priv', 'read')).toBe(404);
    expect(await decide(basic('bob', 'pw'), 'missing', 'read')).toBe(404);
    expect(await decide(basic('bob', 'pw'), 'pub', 'write')).toBe(403);
    expect(await decide(basic('anyone', 'test-admin-token'), 'priv', 'write')).toBe('admin');
    expect(await decide('Bearer test-admin-token', 'priv', 'write')).toBe('admin');
  });
});
