// Requests routed on the Worker's name -> id cache (worker/auth.ts cachedRepo)
// and checked by the repository's Durable Object (worker/durable/access.ts):
// every change of who may read takes effect on the very next request.
import { env, SELF } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { authorize, cachedRepo } from '../../worker/auth.js';
import { REVALIDATE_MS, RepoAccessCache } from '../../worker/durable/access.js';
import { fossilLogins, sha1Hex, sharedSecret } from '../../worker/fossil-login.js';

const ADMIN = { authorization: 'Bearer test-admin-token', 'content-type': 'application/json' };
const api = (method: string, path: string, body?: unknown) =>
  SELF.fetch(`http://hub.test/api${path}`, { method, headers: ADMIN, body: body === undefined ? undefined : JSON.stringify(body) });
const basic = (u: string, p: string) => `Basic ${btoa(`${u}:${p}`)}`;

/** The status of an anonymous (or `auth`) git request: v0 and v2 ref advertisements and a v2 ls-refs POST. */
async function gitStatuses(name: string, auth?: string): Promise<number[]> {
  const h = (extra: Record<string, string>) => ({ ...(auth ? { authorization: auth } : {}), ...extra });
  const out: number[] = [];
  for (const extra of [{}, { 'git-protocol': 'version=2' }] as Record<string, string>[]) {
    const res = await SELF.fetch(`http://hub.test/${name}.git/info/refs?service=git-upload-pack`, { headers: h(extra) });
    await res.arrayBuffer();
    out.push(res.status);
  }
  const lsRefs = await SELF.fetch(`http://hub.test/${name}.git/git-upload-pack`, {
    method: 'POST',
    headers: h({ 'git-protocol': 'version=2', 'content-type': 'application/x-git-upload-pack-request' }),
    body: '0014command=ls-refs\n0000',
  });
  await lsRefs.arrayBuffer();
  out.push(lsRefs.status);
  return out;
}

const ok = [200, 200, 200];
const anonymousRefused = [401, 401, 401];

describe('anonymous git reads routed on the cached id', () => {
  it('a public repository made private is refused on the next request, and served again once public', async () => {
    expect((await api('POST', '/repos', { name: 'ra-vis', kind: 'git', public: true })).status).toBe(201);
    expect(await gitStatuses('ra-vis')).toEqual(ok);
    // The isolate has the id now: the next anonymous requests skip D1 and are checked by the DO.
    expect(cachedRepo('ra-vis')).toBeDefined();
    expect(await gitStatuses('ra-vis')).toEqual(ok);
    expect((await api('PATCH', '/repos/ra-vis', { public: false })).status).toBe(200);
    expect(await gitStatuses('ra-vis')).toEqual(anonymousRefused);
    expect((await api('PATCH', '/repos/ra-vis', { public: true })).status).toBe(200);
    expect(await gitStatuses('ra-vis')).toEqual(ok);
  });

  it('a deleted repository is refused on the next request; one created again under its name is the new one', async () => {
    expect((await api('POST', '/repos', { name: 'ra-del', kind: 'git', public: true })).status).toBe(201);
    expect(await gitStatuses('ra-del')).toEqual(ok);
    const old = cachedRepo('ra-del')!;
    expect((await api('DELETE', '/repos/ra-del')).status).toBe(204);
    // The stale entry leads to the old DO, which answers gone: the entry is dropped, D1 has no row.
    expect(cachedRepo('ra-del')?.id).toBe(old.id);
    expect(await gitStatuses('ra-del')).toEqual(anonymousRefused);
    expect(cachedRepo('ra-del')).toBeUndefined();
    // Created again, private: the stale entry (cached again on purpose) must not serve it.
    expect(await gitStatuses('ra-del')).toEqual(anonymousRefused);
    expect((await api('POST', '/repos', { name: 'ra-del', kind: 'git', public: true })).status).toBe(201);
    expect(await gitStatuses('ra-del')).toEqual(ok);
    const fresh = cachedRepo('ra-del')!;
    expect(fresh.id).not.toBe(old.id);
    expect((await api('DELETE', '/repos/ra-del')).status).toBe(204);
    expect((await api('POST', '/repos', { name: 'ra-del', kind: 'git', public: false })).status).toBe(201);
    expect(cachedRepo('ra-del')?.id).toBe(fresh.id);
    expect(await gitStatuses('ra-del')).toEqual(anonymousRefused);
    // Created again as a fossil repository: not served as git, whatever this isolate remembered.
    expect((await api('DELETE', '/repos/ra-del')).status).toBe(204);
    expect(await gitStatuses('ra-del')).toEqual(anonymousRefused);
    expect((await api('POST', '/repos', { name: 'ra-del', kind: 'fossil', public: true })).status).toBe(201);
    expect(await gitStatuses('ra-del')).toEqual([404, 404, 404]);
  });

  it('a revoked role or token is refused on the next request (credentials are never served from the cache)', async () => {
    expect((await api('POST', '/repos', { name: 'ra-priv', kind: 'git', public: false })).status).toBe(201);
    expect((await api('POST', '/users', { name: 'ra-rita', password: 'ra-rita-pw' })).status).toBe(201);
    expect((await api('PUT', '/repos/ra-priv/members/ra-rita', { role: 'read' })).status).toBe(200);
    const token = ((await (await api('POST', '/users/ra-rita/tokens', { scopes: ['read'] })).json()) as { id: string; token: string });
    const rita = basic('ra-rita', 'ra-rita-pw');
    expect(await gitStatuses('ra-priv', rita)).toEqual(ok);
    expect(await gitStatuses('ra-priv', `Bearer ${token.token}`)).toEqual(ok);
    // The repository's id is cached now; anonymous callers still get nothing.
    expect(cachedRepo('ra-priv')).toBeDefined();
    expect(await gitStatuses('ra-priv')).toEqual(anonymousRefused);
    expect((await api('DELETE', `/users/ra-rita/tokens/${token.id}`)).status).toBe(204);
    expect(await gitStatuses('ra-priv', `Bearer ${token.token}`)).toEqual(anonymousRefused);
    expect((await api('DELETE', '/repos/ra-priv/members/ra-rita')).status).toBe(204);
    expect(await gitStatuses('ra-priv', rita)).toEqual([404, 404, 404]);
  });
});

/** An xfer message, with a login card for `user` signed with `password` when given. */
async function xfer(name: string, cards: string, login?: { user: string; password: string; project: string }): Promise<string> {
  let body = cards;
  if (login) {
    const nonce = await sha1Hex(cards);
    const signature = await sha1Hex(nonce + (await sharedSecret(login.project, login.user, login.password)));
    body = `login ${login.user} ${nonce} ${signature}\n${cards}`;
  }
  const res = await SELF.fetch(`http://hub.test/${name}`, { method: 'POST', headers: { 'content-type': 'application/x-fossil-uncompressed' }, body });
  const text = new TextDecoder().decode(await res.arrayBuffer());
  return res.status === 200 ? text : `status ${res.status}`;
}

const CLONE = 'pragma client-version 22100 20230226 192424\nclone 3 1\n';

describe('fossil xfer routed on the cached id', () => {
  it('visibility, deletion and roles apply on the next round', async () => {
    expect((await api('POST', '/repos', { name: 'ra-fos', kind: 'fossil', public: true })).status).toBe(201);
    expect(await xfer('ra-fos', CLONE)).toMatch(/^cfile /m);
    expect(cachedRepo('ra-fos')).toBeDefined();
    const project = /^push [0-9a-f]{40} ([0-9a-f]{40})$/m.exec(await xfer('ra-fos', CLONE))![1];
    expect((await api('PATCH', '/repos/ra-fos', { public: false })).status).toBe(200);
    const refused = await xfer('ra-fos', CLONE);
    expect(refused).toMatch(/^error not\\sauthorized\\sto\\sclone$/m);
    expect(refused).not.toMatch(/^cfile /m);
    // A member logs in and clones; once the role is revoked, the next round is refused.
    expect((await api('POST', '/users', { name: 'ra-fred', password: 'ra-fred-pw' })).status).toBe(201);
    expect((await api('PUT', '/repos/ra-fos/members/ra-fred', { role: 'read' })).status).toBe(200);
    const fred = { user: 'ra-fred', password: 'ra-fred-pw', project };
    expect(await xfer('ra-fos', CLONE, fred)).toMatch(/^cfile /m);
    expect((await api('DELETE', '/repos/ra-fos/members/ra-fred')).status).toBe(204);
    expect(await xfer('ra-fos', CLONE, fred)).toMatch(/^error not\\sauthorized\\sto\\sclone$/m);
    // A password change: the old one fails at once.
    expect((await api('PUT', '/repos/ra-fos/members/ra-fred', { role: 'read' })).status).toBe(200);
    expect(await xfer('ra-fos', CLONE, fred)).toMatch(/^cfile /m);
    expect((await api('PUT', '/users/ra-fred/password', { new_password: 'ra-fred-new' })).status).toBe(204);
    expect(await xfer('ra-fos', CLONE, fred)).toMatch(/^error login\\sfailed$/m);
    // Deleted: 404 at once; created again: the new repository (a new project code).
    expect((await api('DELETE', '/repos/ra-fos')).status).toBe(204);
    expect(await xfer('ra-fos', CLONE)).toBe('status 404');
    expect((await api('POST', '/repos', { name: 'ra-fos', kind: 'fossil', public: true })).status).toBe(201);
    expect((await api('DELETE', '/repos/ra-fos')).status).toBe(204);
    expect((await api('POST', '/repos', { name: 'ra-fos', kind: 'fossil', public: true })).status).toBe(201);
    const again = await xfer('ra-fos', CLONE);
    expect(again).toMatch(/^cfile /m);
    expect(/^push [0-9a-f]{40} ([0-9a-f]{40})$/m.exec(again)![1]).not.toBe(project);
  });

  it('a git repository deleted and created again as fossil is served to fossil, whatever this isolate remembered', async () => {
    expect((await api('POST', '/repos', { name: 'ra-kind', kind: 'git', public: true })).status).toBe(201);
    expect(await gitStatuses('ra-kind')).toEqual(ok);
    expect(await xfer('ra-kind', CLONE)).toBe('status 404');
    expect(cachedRepo('ra-kind')?.kind).toBe('git');
    expect((await api('DELETE', '/repos/ra-kind')).status).toBe(204);
    expect((await api('POST', '/repos', { name: 'ra-kind', kind: 'fossil', public: true })).status).toBe(201);
    expect(await xfer('ra-kind', CLONE)).toMatch(/^cfile /m);
  });
});

/** A D1 stand-in answering the repos row by id, counting reads, each read released by hand. */
function fakeDb(rows: Map<string, { name: string; public: number }>) {
  const pending: (() => void)[] = [];
  let reads = 0;
  const db = {
    prepare: () => ({
      bind: (id: string) => ({
        first: () => {
          reads++;
          const row = rows.get(id) ?? null;
          const copy = row && { ...row };
          return new Promise((resolve) => pending.push(() => resolve(copy)));
        },
      }),
    }),
  } as unknown as D1Database;
  return { db, reads: () => reads, release: () => pending.splice(0).forEach((f) => f()) };
}

async function settled<T>(p: Promise<T>, fake: { release(): void }): Promise<T> {
  await Promise.resolve();
  fake.release();
  return p;
}

describe('RepoAccessCache', () => {
  it('keeps a copy for REVALIDATE_MS, reads again after forget, and does not keep a read that forget overtook', async () => {
    const rows = new Map([['id1', { name: 'r', public: 1 }]]);
    const fake = fakeDb(rows);
    const cache = new RepoAccessCache(fake.db);
    expect(await settled(cache.current('id1', 0), fake)).toEqual({ gone: false, name: 'r', public: true });
    rows.get('id1')!.public = 0;
    expect(await cache.current('id1', REVALIDATE_MS - 1)).toEqual({ gone: false, name: 'r', public: true });
    expect(fake.reads()).toBe(1);
    // Past the bound it is read again.
    expect(await settled(cache.current('id1', REVALIDATE_MS), fake)).toEqual({ gone: false, name: 'r', public: false });
    rows.get('id1')!.public = 1;
    cache.forget();
    expect(await settled(cache.current('id1', REVALIDATE_MS + 1), fake)).toMatchObject({ public: true });
    // A read in flight when the row changes (and forget is called) answers its request but is not kept.
    cache.forget();
    const inFlight = cache.current('id1', REVALIDATE_MS + 2);
    rows.get('id1')!.public = 0;
    cache.forget();
    expect(await settled(inFlight, fake)).toMatchObject({ public: true });
    expect(await settled(cache.current('id1', REVALIDATE_MS + 3), fake)).toMatchObject({ public: false });
  });

  it('answers gone without keeping it (a lagging read cannot end a repository), and for good once destroyed', async () => {
    const rows = new Map<string, { name: string; public: number }>();
    const fake = fakeDb(rows);
    const cache = new RepoAccessCache(fake.db);
    expect(await settled(cache.current('id2', 0), fake)).toEqual({ gone: true });
    rows.set('id2', { name: 'late', public: 1 });
    expect(await settled(cache.current('id2', 1), fake)).toEqual({ gone: false, name: 'late', public: true });
    cache.destroyed();
    const reads = fake.reads();
    expect(await cache.current('id2', 10 * REVALIDATE_MS)).toEqual({ gone: true });
    expect(fake.reads()).toBe(reads);
    const check = await cache.check('id2', 'anonymous');
    expect(check.refused?.status).toBe(404);
    expect(check.refused?.headers.get('x-hub-refused')).toBe('gone');
  });
});

/** env with its D1 binding counting round trips (a batch is one; each statement run on its own is one). */
function countingEnv(): { env: typeof env; trips: () => number } {
  let trips = 0;
  const targets = new WeakMap<object, D1PreparedStatement>();
  const wrap = (st: D1PreparedStatement): D1PreparedStatement => {
    const proxy = new Proxy(st, {
      get(target, key) {
        if (key === 'bind') return (...args: unknown[]) => wrap(target.bind(...args));
        if (key === 'first' || key === 'all' || key === 'raw' || key === 'run') trips++;
        const v = Reflect.get(target, key) as unknown;
        return typeof v === 'function' ? v.bind(target) : v;
      },
    });
    targets.set(proxy, st);
    return proxy;
  };
  const db = {
    prepare: (q: string) => wrap(env.DB.prepare(q)),
    batch: (list: D1PreparedStatement[]) => {
      trips++;
      return env.DB.batch(list.map((s) => targets.get(s) ?? s));
    },
  } as unknown as D1Database;
  return { env: { ...env, DB: db }, trips: () => trips };
}

describe('D1 round trips', () => {
  it('a git request with a user password reads the repository, membership, limits and password hash in one batch', async () => {
    expect((await api('POST', '/repos', { name: 'ra-trips', kind: 'git', public: false })).status).toBe(201);
    expect((await api('POST', '/users', { name: 'ra-tess', password: 'ra-tess-pw' })).status).toBe(201);
    expect((await api('PUT', '/repos/ra-trips/members/ra-tess', { role: 'write' })).status).toBe(200);
    for (const [password, ok] of [['ra-tess-pw', true], ['wrong', false]] as const) {
      const counted = countingEnv();
      const a = await authorize(counted.env, basic('ra-tess', password), 'ra-trips', 'write', '192.0.2.7');
      expect(a.ok).toBe(ok);
      // A wrong password also records the failure (one write).
      expect(counted.trips()).toBe(ok ? 1 : 2);
    }
  });

  it('a fossil login card (user, membership, tokens, limits) is one batch from the DO', async () => {
    expect((await api('POST', '/users/ra-tess/tokens', { scopes: ['admin'] })).status).toBe(201);
    const counted = countingEnv();
    const row = { name: 'ra-trips', id: 'x', kind: 'fossil' as const, public: false, createdAt: 0 };
    const user = await fossilLogins(counted.env, row, '192.0.2.8').user('ra-tess', 'f'.repeat(40));
    expect(user?.caps).toBeTruthy();
    // The sealed password's secret and the admin-scoped token's.
    expect(user?.secrets.length).toBe(2);
    expect(counted.trips()).toBe(1);
  });
});
