// Accounts through the API inside workerd (miniflare D1/DO): users, password
// changes, tokens (scopes, expiry, revocation, derivation), repository roles
// for API operations, visibility, branch protection rules, failed-login
// limits, the OpenAPI description, and bad input to every endpoint.
import { SELF, env } from 'cloudflare:test';
import { describe, expect, it, vi } from 'vitest';
import { eq } from 'drizzle-orm';
import { drizzle } from 'drizzle-orm/d1';
import { app } from '../../worker/index.js';
import { authenticate, authorize } from '../../worker/auth.js';
import { hashPassword, verifyLogin, verifyPassword } from '../../worker/password.js';
import { deriveToken, fossilTokenPasswords, tokenHash, tokenId } from '../../worker/tokens.js';
import { loadProtections, matchesPattern, patternProblem, protectionRefusal, protectionsOf, protectionsQuery, pushActor, PUSH_POLICY_HEADER, receiveHooks } from '../../worker/protections.js';
import { fossilSecrets, sharedSecret } from '../../worker/fossil-login.js';
import { OPERATIONS } from '../../worker/routes/openapi.js';
import { listEvents, MAX_EVENT_CHECKINS, recordEvents, type PushEvent } from '../../worker/audit.js';
import { memberships, repos, tokens, users } from '../../worker/storage-d1/schema.js';

const HUB = 'http://hub.test';
const ADMIN = 'Bearer test-admin-token';
const basic = (u: string, p: string) => `Basic ${btoa(`${u}:${p}`)}`;
const bearer = (t: string) => `Bearer ${t}`;

async function call(method: string, path: string, body?: unknown, auth?: string, extra: Record<string, string> = {}): Promise<Response> {
  const headers: Record<string, string> = { 'content-type': 'application/json', ...extra };
  if (auth) headers.authorization = auth;
  return SELF.fetch(`${HUB}/api${path}`, { method, headers, body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body) });
}
const json = async (r: Response) => (await r.json()) as Record<string, any>;

/** A snapshot of every accounts table, to show a refused request changed nothing. */
async function snapshot() {
  const db = drizzle(env.DB);
  return JSON.stringify([
    await db.select().from(users).orderBy(users.name).all(),
    await db.select().from(repos).orderBy(repos.name).all(),
    await db.select().from(memberships).all(),
    (await db.select().from(tokens).orderBy(tokens.id).all()).map((t) => ({ ...t, lastUsedAt: null })),
    await env.DB.prepare('SELECT * FROM protections ORDER BY repo, pattern').all().then((r) => r.results),
  ]);
}

async function user(name: string, password = `${name}-pw`) {
  expect((await call('POST', '/users', { name, password }, ADMIN)).status).toBe(201);
}
async function repo(name: string, isPublic: boolean) {
  expect((await call('POST', '/repos', { name, kind: 'git', public: isPublic }, ADMIN)).status).toBe(201);
}
async function member(repoName: string, userName: string, role: string) {
  expect((await call('PUT', `/repos/${repoName}/members/${userName}`, { role }, ADMIN)).status).toBe(200);
}
async function token(userName: string, scopes: string[], auth = ADMIN, expires_in?: number): Promise<string> {
  const r = await call('POST', `/users/${userName}/tokens`, expires_in === undefined ? { scopes } : { scopes, expires_in }, auth);
  expect(r.status).toBe(201);
  return (await json(r)).token;
}

describe('users', () => {
  it('are created by the admin only (sign-up closed), shown to themselves, listed to the admin', async () => {
    await user('u-amy');
    expect((await call('POST', '/users', { name: 'u-eve', password: 'x' })).status).toBe(401);
    expect((await call('POST', '/users', { name: 'u-eve', password: 'x' }, basic('u-amy', 'u-amy-pw'))).status).toBe(403);
    const me = await call('GET', '/users/u-amy', undefined, basic('u-amy', 'u-amy-pw'));
    expect(me.status).toBe(200);
    expect(await json(me)).toMatchObject({ name: 'u-amy', repos: [] });
    await user('u-ben');
    // Another user's account looks like no account at all.
    expect((await call('GET', '/users/u-ben', undefined, basic('u-amy', 'u-amy-pw'))).status).toBe(404);
    expect((await call('GET', '/users/u-ben')).status).toBe(401);
    expect((await call('GET', '/users', undefined, basic('u-amy', 'u-amy-pw'))).status).toBe(403);
    const list = await json(await call('GET', '/users', undefined, ADMIN));
    expect(list.users.map((u: { name: string }) => u.name)).toEqual(expect.arrayContaining(['u-amy', 'u-ben']));
    expect(JSON.stringify(list)).not.toContain('pbkdf2');
  });

  it('open sign-up lets anyone create an account when HUB_OPEN_SIGNUP=true', async () => {
    const open = { ...env, HUB_OPEN_SIGNUP: 'true' };
    const r = await app.request(`${HUB}/api/users`, { method: 'POST', body: JSON.stringify({ name: 'u-signup', password: 'pw1' }) }, open);
    expect(r.status).toBe(201);
    expect(await authenticatesAs(basic('u-signup', 'pw1'))).toBe('u-signup');
    const a = await authorize(env, basic('u-signup', 'pw1'), 'nothing', 'read');
    expect(a.ok ? 0 : a.status).toBe(404); // authenticated: the missing repository is a 404, not a 401
  });

  it('open sign-up is limited per client address: 429 with Retry-After, nothing created; other addresses and the admin go on', async () => {
    const open = { ...env, HUB_OPEN_SIGNUP: 'true', HUB_SIGNUPS_PER_ADDRESS: '3', HUB_SIGNUP_WINDOW_SECONDS: '600' };
    const signup = (name: string, ip: string, auth?: string) =>
      app.request(
        `${HUB}/api/users`,
        { method: 'POST', headers: { 'cf-connecting-ip': ip, ...(auth ? { authorization: auth } : {}) }, body: JSON.stringify({ name, password: 'pw1' }) },
        open,
      );
    // Attempts count whether or not the name was free (probing names is limited too).
    expect((await signup('u-rl1', '198.51.100.9')).status).toBe(201);
    expect((await signup('u-rl1', '198.51.100.9')).status).toBe(409);
    expect((await signup('u-rl2', '198.51.100.9')).status).toBe(201);
    const limited = await signup('u-rl3', '198.51.100.9');
    expect(limited.status).toBe(429);
    const wait = Number(limited.headers.get('retry-after'));
    expect(wait).toBeGreaterThan(590);
    expect(wait).toBeLessThanOrEqual(600);
    expect((await signup('u-rl4', '198.51.100.9')).status).toBe(429);
    expect(await drizzle(env.DB).select().from(users).where(eq(users.name, 'u-rl3')).get()).toBeUndefined();
    // A malformed body is a 400 and not counted; another address and the admin are not limited.
    expect((await app.request(`${HUB}/api/users`, { method: 'POST', headers: { 'cf-connecting-ip': '198.51.100.10' }, body: '{' }, open)).status).toBe(400);
    for (const n of [5, 6, 7]) expect((await signup(`u-rl${n}`, '198.51.100.10')).status).toBe(201);
    expect((await signup('u-rl8', '198.51.100.10')).status).toBe(429);
    expect((await signup('u-rl9', '198.51.100.9', ADMIN)).status).toBe(201);
    // When the window has passed, the address may sign up again.
    await env.DB.prepare("UPDATE login_failures SET window_start = window_start - 601000 WHERE key = 'signup:198.51.100.9'").run();
    expect((await signup('u-rl3', '198.51.100.9')).status).toBe(201);
  });

  it('change their password with the old one; the admin without it', async () => {
    await user('u-cid', 'old-pw');
    expect((await call('PUT', '/users/u-cid/password', { old_password: 'wrong', new_password: 'new-pw' })).status).toBe(403);
    expect((await call('PUT', '/users/u-cid/password', { new_password: 'new-pw' })).status).toBe(400);
    expect((await call('PUT', '/users/nobody-here/password', { old_password: 'x', new_password: 'new-pw' })).status).toBe(403);
    expect((await call('PUT', '/users/u-cid/password', { old_password: 'old-pw', new_password: 'new-pw' })).status).toBe(204);
    expect(await authenticatesAs(basic('u-cid', 'new-pw'))).toBe('u-cid');
    expect(await authenticatesAs(basic('u-cid', 'old-pw'))).toBe('invalid');
    expect((await call('PUT', '/users/u-cid/password', { new_password: 'by-admin' }, ADMIN)).status).toBe(204);
    expect(await authenticatesAs(basic('u-cid', 'by-admin'))).toBe('u-cid');
    // The sealed copy for fossil logins follows the change.
    const secrets = await fossilSecrets(env, 'u-cid', 'p'.repeat(40));
    expect(secrets).toContain(await sharedSecret('p'.repeat(40), 'u-cid', 'by-admin'));
  });

  it('are deleted with their memberships and tokens, by themselves or the admin', async () => {
    await user('u-dee');
    await repo('r-dee', false);
    await member('r-dee', 'u-dee', 'write');
    const t = await token('u-dee', ['read']);
    expect((await call('DELETE', '/users/u-dee', undefined, basic('u-amy', 'u-amy-pw'))).status).toBe(404);
    expect((await call('DELETE', '/users/u-dee', undefined, bearer(t))).status).toBe(403); // a read token cannot
    expect((await call('GET', '/users/u-dee', undefined, bearer(t))).status).toBe(403); // nor read the account (README: Tokens)
    expect((await call('GET', '/users/u-dee/tokens', undefined, bearer(t))).status).toBe(403);
    expect((await call('DELETE', '/users/u-dee', undefined, basic('u-dee', 'u-dee-pw'))).status).toBe(204);
    const db = drizzle(env.DB);
    expect(await db.select().from(memberships).where(eq(memberships.user, 'u-dee')).all()).toEqual([]);
    expect(await db.select().from(tokens).where(eq(tokens.user, 'u-dee')).all()).toEqual([]);
    expect(await authenticatesAs(bearer(t))).toBe('invalid');
    expect((await call('DELETE', '/users/u-dee', undefined, ADMIN)).status).toBe(404);
  });
});

/** Who the credentials authenticate: a user name, or 'admin' / 'anonymous' / 'invalid' / 'limited'. */
async function authenticatesAs(auth: string): Promise<string> {
  const a = await authenticate(env, auth);
  return a.kind === 'user' ? a.name : a.kind;
}

describe('password hashing', () => {
  it('uses PBKDF2-SHA-256 at 100000 iterations with a random salt', async () => {
    // Cloudflare's production runtime refuses PBKDF2 above 100000 iterations
    // (workerd has the check; the local build sets no cap), so this is the most a deployed hub can use.
    const stored = await hashPassword('pw');
    expect(stored).toMatch(/^pbkdf2-sha256\$100000\$/);
    expect(await hashPassword('pw')).not.toBe(stored);
    expect(await verifyPassword('pw', stored)).toBe(true);
    expect(await verifyPassword('pw ', stored)).toBe(false);
    expect(await verifyPassword('pw', stored.replace('$100000$', '$1$'))).toBe(false);
  });
});

describe('the cache of verified logins', () => {
  it('skips PBKDF2 for a login verified a moment ago, never for a wrong password, and misses after a password change', async () => {
    await user('u-cache', 'pw-one');
    const derive = vi.spyOn(crypto.subtle, 'deriveBits');
    const pbkdf2 = async (auth: string) => {
      const before = derive.mock.calls.length;
      const who = await authenticatesAs(auth);
      return [who, derive.mock.calls.length - before];
    };
    try {
      expect(await pbkdf2(basic('u-cache', 'pw-one'))).toEqual(['u-cache', 1]);
      expect(await pbkdf2(basic('u-cache', 'pw-one'))).toEqual(['u-cache', 0]);
      // The same password under another name is another key (and that name does not exist).
      expect(await pbkdf2(basic('u-cache2', 'pw-one'))).toEqual(['invalid', 1]);
      expect(await pbkdf2(basic('u-cache', 'wrong'))).toEqual(['invalid', 1]);
      expect(await pbkdf2(basic('u-cache', 'wrong'))).toEqual(['invalid', 1]);
      expect((await call('PUT', '/users/u-cache/password', { new_password: 'pw-two' }, ADMIN)).status).toBe(204);
      expect(await pbkdf2(basic('u-cache', 'pw-one'))).toEqual(['invalid', 1]);
      expect(await pbkdf2(basic('u-cache', 'pw-two'))).toEqual(['u-cache', 1]);
      expect(await pbkdf2(basic('u-cache', 'pw-two'))).toEqual(['u-cache', 0]);
    } finally {
      derive.mockRestore();
    }
  });

  it('forgets a verification after two minutes', async () => {
    const stored = await hashPassword('ttl-pw');
    const derive = vi.spyOn(crypto.subtle, 'deriveBits');
    try {
      const t0 = Date.now();
      expect(await verifyLogin('u-ttl', 'ttl-pw', stored, t0)).toBe(true);
      expect(await verifyLogin('u-ttl', 'ttl-pw', stored, t0 + 119_000)).toBe(true);
      expect(derive).toHaveBeenCalledTimes(1);
      expect(await verifyLogin('u-ttl', 'ttl-pw', stored, t0 + 121_000)).toBe(true);
      expect(derive).toHaveBeenCalledTimes(2);
    } finally {
      derive.mockRestore();
    }
  });
});

describe('tokens', () => {
  it('are shown once, stored as a SHA-256 only, derivable from their id, listed without secrets', async () => {
    await user('t-ann');
    const r = await call('POST', '/users/t-ann/tokens', { scopes: ['write', 'read'], expires_in: 3600 }, basic('t-ann', 't-ann-pw'));
    expect(r.status).toBe(201);
    const made = await json(r);
    expect(made.token).toMatch(/^hub_[0-9a-f]{20}_[A-Za-z0-9_-]{43}$/);
    expect(made.scopes).toEqual(['read', 'write']);
    expect(Date.parse(made.expires) - Date.parse(made.created)).toBe(3600_000);
    const row = (await drizzle(env.DB).select().from(tokens).where(eq(tokens.id, made.id)).get())!;
    expect(row.hash).toBe(await tokenHash(made.token));
    expect(JSON.stringify(row)).not.toContain(made.token.slice(25));
    expect(await deriveToken(env, tokenId(made.token)!)).toBe(made.token);
    expect(await deriveToken({ HUB_SECRET: 'another secret' }, tokenId(made.token)!)).not.toBe(made.token);
    const list = await json(await call('GET', '/users/t-ann/tokens', undefined, basic('t-ann', 't-ann-pw')));
    expect(list.tokens).toEqual([{ id: made.id, scopes: ['read', 'write'], created: made.created, expires: made.expires, last_used: null }]);
    expect(JSON.stringify(list)).not.toContain(made.token);
  });

  it('act with their owner\'s rights capped by their scopes, as Bearer and as a Basic password under any user name', async () => {
    await user('t-bo');
    await repo('r-tok', false);
    await member('r-tok', 't-bo', 'admin');
    const read = await token('t-bo', ['read']);
    const write = await token('t-bo', ['write']);
    const admin = await token('t-bo', ['admin'], basic('t-bo', 't-bo-pw'));
    const role = async (auth: string, need: 'read' | 'write' | 'admin') => {
      const a = await authorize(env, auth, 'r-tok', need);
      return a.ok ? a.role : a.status;
    };
    expect(await role(basic('t-bo', read), 'read')).toBe('read');
    expect(await role(basic('t-bo', read), 'write')).toBe(403);
    expect(await role(basic('anything', write), 'write')).toBe('write');
    expect(await role(basic('x', write), 'admin')).toBe(403);
    expect(await role(bearer(admin), 'admin')).toBe('admin');
    // API: a read token reads, cannot change settings or mint tokens; an admin token can.
    expect((await call('GET', '/repos/r-tok', undefined, bearer(read))).status).toBe(200);
    expect((await call('PATCH', '/repos/r-tok', { public: true }, bearer(read))).status).toBe(403);
    expect((await call('POST', '/users/t-bo/tokens', { scopes: ['admin'] }, bearer(write))).status).toBe(403);
    expect((await call('PATCH', '/repos/r-tok', { default_branch: 'trunk' }, bearer(admin))).status).toBe(200);
    expect((await call('POST', '/users/t-bo/tokens', { scopes: ['read'] }, bearer(admin))).status).toBe(201);
    // Fossil logins get the admin-scoped tokens only (a login carries no scope).
    expect(await fossilTokenPasswords(env, 't-bo')).toContain(admin);
    expect(await fossilTokenPasswords(env, 't-bo')).not.toContain(write);
    const pc = 'c'.repeat(40);
    expect(await fossilSecrets(env, 't-bo', pc)).toContain(await sharedSecret(pc, 't-bo', admin));
    // last_used is recorded.
    const listed = await json(await call('GET', '/users/t-bo/tokens', undefined, ADMIN));
    expect(listed.tokens.find((t: { id: string }) => t.id === tokenId(read)).last_used).not.toBeNull();
  });

  it('stop working when revoked or expired, and a forged one never works', async () => {
    await user('t-cy');
    await repo('r-exp', false);
    await member('r-exp', 't-cy', 'read');
    const t = await token('t-cy', ['read']);
    expect((await authorize(env, bearer(t), 'r-exp', 'read')).ok).toBe(true);
    // Same id, another MAC; a well-formed unknown id; the admin's hash of it.
    const forged = `${t.slice(0, 25)}${'A'.repeat(43)}`;
    expect((await authorize(env, bearer(forged), 'r-exp', 'read')).ok).toBe(false);
    expect((await authorize(env, basic('t-cy', `hub_${'0'.repeat(20)}_${'A'.repeat(43)}`), 'r-exp', 'read')).ok).toBe(false);
    expect((await call('DELETE', `/users/t-cy/tokens/${tokenId(t)}`, undefined, basic('t-amy', 'x'))).status).toBe(401);
    expect((await call('DELETE', `/users/t-cy/tokens/${tokenId(t)}`, undefined, basic('t-cy', 't-cy-pw'))).status).toBe(204);
    expect((await call('DELETE', `/users/t-cy/tokens/${tokenId(t)}`, undefined, basic('t-cy', 't-cy-pw'))).status).toBe(404);
    const a = await authorize(env, bearer(t), 'r-exp', 'read');
    expect(a.ok ? 0 : a.status).toBe(401);
    const short = await token('t-cy', ['read'], ADMIN, 1);
    expect((await authorize(env, bearer(short), 'r-exp', 'read')).ok).toBe(true);
    // Expire it without sleeping: move its expiry into the past.
    await drizzle(env.DB).update(tokens).set({ expiresAt: Date.now() - 1 }).where(eq(tokens.id, tokenId(short)!));
    expect((await authorize(env, bearer(short), 'r-exp', 'read')).ok).toBe(false);
    expect(await fossilTokenPasswords(env, 't-cy')).toEqual([]);
  });
});

describe('repository roles and visibility through the API', () => {
  it('gives each role exactly its operations, and hides private repositories', async () => {
    await repo('v-pub', true);
    await repo('v-priv', false);
    for (const u of ['v-none', 'v-read', 'v-write', 'v-admin', 'v-other']) await user(u);
    for (const r of ['v-pub', 'v-priv']) {
      await member(r, 'v-read', 'read');
      await member(r, 'v-write', 'write');
      await member(r, 'v-admin', 'admin');
    }
    const who: Record<string, string | undefined> = {
      anonymous: undefined,
      none: basic('v-none', 'v-none-pw'),
      read: basic('v-read', 'v-read-pw'),
      write: basic('v-write', 'v-write-pw'),
      admin: basic('v-admin', 'v-admin-pw'),
      hub: ADMIN,
    };
    const ops: Record<string, (r: string) => [string, string, unknown?]> = {
      show: (r) => ['GET', `/repos/${r}`],
      events: (r) => ['GET', `/repos/${r}/events`],
      protections: (r) => ['GET', `/repos/${r}/protections`],
      members: (r) => ['GET', `/repos/${r}/members`],
      setMember: (r) => ['PUT', `/repos/${r}/members/v-other`, { role: 'read' }],
      patch: (r) => ['PATCH', `/repos/${r}`, { default_branch: 'main' }],
      protect: (r) => ['PUT', `/repos/${r}/protections/main`, {}],
    };
    // Expected statuses: [public, private] per role, per operation.
    const readOps = { anonymous: [200, 401], none: [200, 404], read: [200, 200], write: [200, 200], admin: [200, 200], hub: [200, 200] };
    const adminOps = { anonymous: [401, 401], none: [403, 404], read: [403, 403], write: [403, 403], admin: [200, 200], hub: [200, 200] };
    const expected: Record<string, Record<string, number[]>> = {
      show: readOps,
      events: readOps,
      protections: readOps,
      members: adminOps,
      setMember: adminOps,
      patch: adminOps,
      protect: { ...adminOps, admin: [201, 201], hub: [200, 200] },
    };
    const got: Record<string, Record<string, number[]>> = {};
    for (const [op, make] of Object.entries(ops)) {
      got[op] = {};
      for (const [role, auth] of Object.entries(who)) {
        got[op][role] = [];
        for (const r of ['v-pub', 'v-priv']) {
          const [method, path, body] = make(r);
          got[op][role].push((await call(method, path, body, auth)).status);
        }
      }
    }
    expect(got).toEqual(expected);
    // A missing repository answers as a private one.
    expect((await call('GET', '/repos/v-missing')).status).toBe(401);
    expect((await call('GET', '/repos/v-missing', undefined, who.none)).status).toBe(404);
    // Listing shows what the caller may read.
    const names = async (auth?: string) => ((await json(await call('GET', '/repos', undefined, auth))).repos as { name: string }[]).map((r) => r.name);
    expect(await names()).toContain('v-pub');
    expect(await names()).not.toContain('v-priv');
    expect(await names(who.none)).not.toContain('v-priv');
    expect(await names(who.read)).toContain('v-priv');
    // Repository admins manage members; only the hub admin creates or deletes repositories.
    expect((await call('DELETE', '/repos/v-priv/members/v-other', undefined, who.admin)).status).toBe(204);
    expect((await call('DELETE', '/repos/v-priv', undefined, who.admin)).status).toBe(403);
    expect((await call('POST', '/repos', { name: 'v-new' }, who.admin)).status).toBe(403);
  });
});

describe('branch protection rules', () => {
  it('match patterns with * inside one path component', () => {
    expect(matchesPattern('main', 'main')).toBe(true);
    expect(matchesPattern('main', 'main2')).toBe(false);
    expect(matchesPattern('release/*', 'release/1.0')).toBe(true);
    expect(matchesPattern('release/*', 'release/1.0/hotfix')).toBe(false);
    expect(matchesPattern('release/*', 'release')).toBe(false);
    expect(matchesPattern('v*.x', 'v1.x')).toBe(true);
    expect(matchesPattern('v*.x', 'v1yx')).toBe(false); // "." is literal
    for (const bad of ['', 'refs/heads/main', 'a..b', 'a b', '/main', 'main/', 'x.lock', '.x', 'a:b', 'x'.repeat(201)]) {
      expect(patternProblem(bad), bad).not.toBeNull();
    }
    expect(patternProblem('release/*')).toBeNull();
  });

  it('refuse deletion and non-fast-forwards of matching branches, and non-admins where admins_only', async () => {
    const rules = [
      { pattern: 'main', adminsOnly: false },
      { pattern: 'release/*', adminsOnly: true },
    ];
    const u = (ref: string, oldId: string | null, newId: string | null, ff: boolean) => ({ ref, oldId, newId, isFastForward: async () => ff });
    const A = 'a'.repeat(40);
    const B = 'b'.repeat(40);
    expect(await protectionRefusal(rules, 'write', u('refs/heads/main', A, B, true))).toBeUndefined();
    expect(await protectionRefusal(rules, 'write', u('refs/heads/main', A, B, false))).toBe('protected branch: force-push refused');
    expect(await protectionRefusal(rules, 'admin', u('refs/heads/main', A, null, true))).toBe('protected branch: deletion refused');
    expect(await protectionRefusal(rules, 'write', u('refs/heads/main', null, B, true))).toBeUndefined();
    expect(await protectionRefusal(rules, 'write', u('refs/heads/release/1', null, B, true))).toBe('protected branch: only admins may push');
    expect(await protectionRefusal(rules, 'admin', u('refs/heads/release/1', A, B, true))).toBeUndefined();
    expect(await protectionRefusal(rules, 'write', u('refs/heads/topic', A, null, false))).toBeUndefined();
    expect(await protectionRefusal(rules, 'write', u('refs/tags/main', A, null, false))).toBeUndefined();
  });

  it('reach receive-pack through the push policy header, and a push without one is refused (fail closed)', async () => {
    const post = (headers: Record<string, string> = {}) => new Request('https://repo/git-receive-pack', { method: 'POST', headers });
    expect(receiveHooks(new Request('https://repo/info/refs?service=git-receive-pack'))).toBeUndefined();
    const u = { ref: 'refs/heads/main', oldId: 'a'.repeat(40), newId: 'b'.repeat(40), isFastForward: async () => false };
    expect(await receiveHooks(post())!.checkUpdate!(u)).toBe('push policy missing');
    expect(await receiveHooks(post({ [PUSH_POLICY_HEADER]: '{"rules":' }))!.checkUpdate!(u)).toBe('push policy missing');
    const policy = JSON.stringify({ actor: 'pat', role: 'write', rules: [{ pattern: 'main', adminsOnly: false }] });
    const hooks = receiveHooks(post({ [PUSH_POLICY_HEADER]: policy }))!;
    expect(await hooks.checkUpdate!(u)).toBe('protected branch: force-push refused');
    expect(await hooks.checkUpdate!({ ...u, ref: 'refs/heads/topic' })).toBeUndefined();
    // The audit log's actor comes from the same header.
    expect(pushActor(post({ [PUSH_POLICY_HEADER]: policy }))).toBe('pat');
    expect(pushActor(post({ [PUSH_POLICY_HEADER]: JSON.stringify({ actor: null, role: 'admin', rules: [] }) }))).toBeNull();
  });

  it("come with a push's access check in its own D1 batch, as loadProtections reads them", async () => {
    await repo('p-batch', true);
    await call('PUT', '/repos/p-batch/protections/release/*', { admins_only: true }, ADMIN);
    await call('PUT', '/repos/p-batch/protections/main', undefined, ADMIN);
    const want = [{ pattern: 'main', adminsOnly: false }, { pattern: 'release/*', adminsOnly: true }];
    expect(await loadProtections(env, 'p-batch')).toEqual(want);
    const a = await authorize(env, ADMIN, 'p-batch', 'write', null, protectionsQuery(env, 'p-batch'));
    expect(a.ok && protectionsOf(a.also!)).toEqual(want);
    // Without the statement nothing else comes back; a refusal carries no rows.
    expect((await authorize(env, ADMIN, 'p-batch', 'write')) as object).not.toHaveProperty('also');
    expect(await authorize(env, basic('nobody', 'x'), 'p-batch', 'write', null, protectionsQuery(env, 'p-batch'))).toEqual({ ok: false, status: 401 });
  });

  it('are set, listed and removed through the API, patterns with slashes in the path', async () => {
    await repo('p-rules', true);
    expect((await call('PUT', '/repos/p-rules/protections/main', undefined, ADMIN)).status).toBe(201);
    expect((await call('PUT', '/repos/p-rules/protections/release/*', { admins_only: true }, ADMIN)).status).toBe(201);
    expect((await call('PUT', '/repos/p-rules/protections/release%2F*', { admins_only: false }, ADMIN)).status).toBe(200);
    expect(await json(await call('GET', '/repos/p-rules/protections'))).toEqual({
      protections: [
        { pattern: 'main', admins_only: false },
        { pattern: 'release/*', admins_only: false },
      ],
    });
    expect((await call('DELETE', '/repos/p-rules/protections/release/*', undefined, ADMIN)).status).toBe(204);
    expect((await call('DELETE', '/repos/p-rules/protections/release/*', undefined, ADMIN)).status).toBe(404);
    expect((await json(await call('GET', '/repos/p-rules/protections'))).protections).toHaveLength(1);
  });
});

describe('the audit log', () => {
  it('keeps every ref of a large push (inserts stay under D1’s 100 bound parameters) and fossil pushes, newest first, each once', async () => {
    const none = { artifacts: null, checkins: null, ref: null, oldId: null, newId: null };
    const event = (outboxSeq: number, e: Partial<PushEvent>): PushEvent => ({ ...none, outboxSeq, repoId: 'audit-id', actor: 'pat', kind: 'git', at: 1000, ...e });
    const refs = Array.from({ length: 40 }, (_, i) => ({ ref: `refs/heads/b${i}`, oldId: null, newId: 'd'.repeat(40) }));
    await recordEvents(env.DB, refs.map((r, i) => event(i + 1, r)));
    const ci = (n: number) => n.toString(16).padStart(64, '0');
    const fossil = event(41, { actor: 'sam', kind: 'fossil', artifacts: 7, checkins: Array.from({ length: MAX_EVENT_CHECKINS }, (_, i) => ci(i)).join(' '), at: 2000 });
    await recordEvents(env.DB, [fossil, event(42, { actor: null, kind: 'fossil', artifacts: 1, checkins: '', at: 3000 })]);
    // Sent again (an instance died before deleting them from its outbox): logged once.
    await recordEvents(env.DB, [event(40, refs[39]), fossil]);
    const events = await listEvents(env.DB, 'audit-id', 100);
    expect(events).toHaveLength(42);
    expect(events[0]).toEqual({ id: expect.any(Number), type: 'fossil-push', actor: null, artifacts: 1, checkins: [], at: new Date(3000).toISOString() });
    expect(events[1]).toMatchObject({ type: 'fossil-push', actor: 'sam', artifacts: 7 });
    expect((events[1] as { checkins: string[] }).checkins).toEqual(Array.from({ length: MAX_EVENT_CHECKINS }, (_, i) => ci(i)));
    expect(events.slice(2).map((e) => (e.type === 'push' ? e.ref : '')).sort()).toEqual(refs.map((r) => r.ref).sort());
  });
});

describe('failed logins', () => {
  it('are limited per user name: 429 with Retry-After, before the password is checked, for git and the API', async () => {
    await user('l-lee', 'right');
    await repo('l-repo', false);
    await member('l-repo', 'l-lee', 'read');
    const limited = { ...env, HUB_LOGIN_FAILURES_PER_USER: '3', HUB_LOGIN_FAILURES_PER_ADDRESS: '1000' };
    const api = (auth: string, ip: string) => app.request(`${HUB}/api/repos/l-repo`, { headers: { authorization: auth, 'cf-connecting-ip': ip } }, limited);
    for (let i = 0; i < 3; i++) expect((await api(basic('l-lee', `wrong${i}`), `10.0.0.${i}`)).status).toBe(401);
    const refused = await api(basic('l-lee', 'right'), '10.0.0.9');
    expect(refused.status).toBe(429);
    const wait = Number(refused.headers.get('retry-after'));
    expect(wait).toBeGreaterThan(0);
    expect(wait).toBeLessThanOrEqual(900);
    const git = await app.request(`${HUB}/l-repo.git/info/refs?service=git-upload-pack`, { headers: { authorization: basic('l-lee', 'right') } }, limited);
    expect(git.status).toBe(429);
    expect(git.headers.get('retry-after')).not.toBeNull();
    // Tokens and other users are not held up by l-lee's failures.
    const t = await token('l-lee', ['read']);
    expect((await api(bearer(t), '10.0.0.9')).status).toBe(200);
    // Once the window is over, the right password works and clears the count.
    await env.DB.prepare("UPDATE login_failures SET window_start = window_start - 1000000 WHERE key = 'user:l-lee'").run();
    expect((await api(basic('l-lee', 'right'), '10.0.0.9')).status).toBe(200);
    expect(await env.DB.prepare("SELECT count(*) AS n FROM login_failures WHERE key = 'user:l-lee'").first('n')).toBe(0);
  });

  it('are limited per client address across user names and bad tokens; the admin token and API tokens still work', async () => {
    const limited = { ...env, HUB_LOGIN_FAILURES_PER_USER: '1000', HUB_LOGIN_FAILURES_PER_ADDRESS: '4' };
    const api = (auth: string, ip: string) => app.request(`${HUB}/api/repos`, { headers: { authorization: auth, 'cf-connecting-ip': ip } }, limited);
    // Wrong guesses of the admin token or of a token count as any failure.
    for (const auth of [basic('l-a', 'x'), basic('l-b', 'x'), bearer('nonsense'), bearer(`hub_${'1'.repeat(20)}_${'B'.repeat(43)}`)]) {
      expect((await api(auth, '192.0.2.7')).status).toBe(401);
    }
    // Past the limit a guess is refused unchecked; the admin token (a secret nobody guesses) is not locked out with the guessers.
    expect((await api(bearer('another-guess'), '192.0.2.7')).status).toBe(429);
    expect((await api(bearer(`hub_${'2'.repeat(20)}_${'C'.repeat(43)}`), '192.0.2.7')).status).toBe(429);
    expect((await api(ADMIN, '192.0.2.7')).status).toBe(200);
    expect((await api(ADMIN, '192.0.2.8')).status).toBe(200);
    // Anonymous requests are not logins: still served.
    expect((await api('', '192.0.2.7')).status).toBe(200);
    // git's Basic logins too (there the counters are read in one batch with the repository): a user's password
    // is refused, the admin token and the user's API token go on.
    await user('l-cy', 'right');
    await repo('l-git', false);
    await member('l-git', 'l-cy', 'write');
    const git = (auth: string, ip: string) => app.request(`${HUB}/l-git.git/info/refs?service=git-receive-pack`, { headers: { authorization: auth, 'cf-connecting-ip': ip } }, limited);
    expect((await git(basic('l-cy', 'right'), '192.0.2.7')).status).toBe(429);
    expect((await git(basic('l-cy', 'right'), '192.0.2.8')).status).toBe(200);
    const t = await token('l-cy', ['write']);
    for (const auth of [basic('anyone', 'test-admin-token'), basic('l-cy', t), bearer(t)]) expect((await git(auth, '192.0.2.7')).status).toBe(200);
    expect((await git(basic('l-cy', 'wrong'), '192.0.2.8')).status).toBe(401);
    // Nothing past the limit was counted (the window is fixed: counting more would change nothing).
    expect(await env.DB.prepare("SELECT count FROM login_failures WHERE key = 'addr:192.0.2.7'").first('count')).toBe(4);
  });
});

describe('the OpenAPI description', () => {
  it('is served and describes every route of /api, with request schemas that reject unknown fields', async () => {
    const r = await call('GET', '/openapi.json');
    expect(r.status).toBe(200);
    const doc = await json(r);
    expect(doc.openapi).toBe('3.1.0');
    const registered = new Set(
      app.routes
        .filter((rt) => rt.path.startsWith('/api/') && rt.method !== 'ALL')
        .map((rt) => `${rt.method.toLowerCase()} ${rt.path.replace(/:(\w+)(\{[^}]*\})?/g, '{$1}')}`),
    );
    const described = new Set(Object.entries(OPERATIONS).flatMap(([p, ops]) => Object.keys(ops).map((m) => `${m} ${p}`)));
    expect([...registered].sort()).toEqual([...described].sort());
    const body = doc.paths['/api/users/{name}/tokens'].post.requestBody.content['application/json'].schema;
    expect(body.additionalProperties).toBe(false);
    expect(body.properties.scopes.items.enum).toEqual(['read', 'write', 'admin']);
  });
});

describe('bad input', () => {
  it('gets a clean 4xx from every endpoint and changes nothing', async () => {
    await user('b-bea');
    await repo('b-repo', false);
    await member('b-repo', 'b-bea', 'admin');
    const before = await snapshot();
    const big = JSON.stringify({ name: 'x', password: 'y'.repeat(70_000) });
    const cases: [string, string, unknown, number[]][] = [
      ['POST', '/repos', { name: 'b-new', kind: 'git', extra: 1 }, [400]],
      ['POST', '/repos', { name: '../etc', kind: 'git' }, [400]],
      ['POST', '/repos', { name: 'b-new', kind: 'svn' }, [400]],
      ['POST', '/repos', { name: 'b-new', public: 'yes' }, [400]],
      ['POST', '/repos', [], [400]],
      ['POST', '/repos', '{not json', [400]],
      ['POST', '/repos', big, [413]],
      ['PATCH', '/repos/b-repo', { public: 1 }, [400]],
      ['PATCH', '/repos/b-repo', { default_branch: 'refs/heads/x' }, [400]],
      ['PATCH', '/repos/b-repo', { default_branch: 'a..b' }, [400]],
      ['PATCH', '/repos/b-repo', { owner: 'me' }, [400]],
      ['PATCH', '/repos/..%2F..%2Fetc', { public: true }, [404]],
      ['DELETE', '/repos/a%2F..%2F..', undefined, [404]],
      ['POST', '/users', { name: 'b-new', password: '' }, [400]],
      ['POST', '/users', { name: 'b-new', password: 'x'.repeat(1025) }, [400]],
      ['POST', '/users', { name: '../root', password: 'x' }, [400]],
      ['POST', '/users', { name: 'b-new', password: 'x', admin: true }, [400]],
      ['POST', '/users', { name: 'b-new', password: 5 }, [400]],
      ['POST', '/users', big, [413]],
      ['PUT', '/users/b-bea/password', { new_password: 'x', old: 'y' }, [400]],
      ['PUT', '/users/b-bea/password', { new_password: '' }, [400]],
      ['DELETE', '/users/..%2Fb-bea', undefined, [404]],
      ['POST', '/users/b-bea/tokens', { scopes: [] }, [400]],
      ['POST', '/users/b-bea/tokens', { scopes: ['root'] }, [400]],
      ['POST', '/users/b-bea/tokens', { scopes: 'read' }, [400]],
      ['POST', '/users/b-bea/tokens', { scopes: ['read'], expires_in: -5 }, [400]],
      ['POST', '/users/b-bea/tokens', { scopes: ['read'], expires_in: 1.5 }, [400]],
      ['POST', '/users/b-bea/tokens', { scopes: ['read'], expires_in: 1e12 }, [400]],
      ['POST', '/users/b-bea/tokens', { scopes: ['read'], name: 'x' }, [400]],
      ['POST', '/users/nobody/tokens', { scopes: ['read'] }, [404]],
      ['DELETE', '/users/b-bea/tokens/..%2F..%2Fx', undefined, [404]],
      ['PUT', '/repos/b-repo/members/b-bea', { role: 'owner' }, [400]],
      ['PUT', '/repos/b-repo/members/b-bea', { role: 'read', x: 1 }, [400]],
      ['PUT', '/repos/b-repo/members/nobody', { role: 'read' }, [404]],
      ['PUT', '/repos/b-repo/members/..%2Fb-bea', { role: 'read' }, [404]],
      ['DELETE', '/repos/b-repo/members/nobody', undefined, [404]],
      ['PUT', '/repos/b-repo/protections/refs/heads/main', {}, [400]],
      ['PUT', '/repos/b-repo/protections/a..b', {}, [400]],
      ['PUT', '/repos/b-repo/protections/main', { admins_only: 'yes' }, [400]],
      ['PUT', '/repos/b-repo/protections/main', { force: true }, [400]],
      ['DELETE', '/repos/b-repo/protections/nope', undefined, [404]],
      ['GET', '/repos/b-repo/events?limit=0', undefined, [400]],
      ['GET', '/repos/b-repo/events?limit=abc', undefined, [400]],
      ['GET', '/repos/b-repo/events?before=-1', undefined, [400]],
      ['GET', '/nothing/here', undefined, [404]],
    ];
    for (const [method, path, body, statuses] of cases) {
      const r = await call(method, path, body, ADMIN);
      expect(statuses, `${method} ${path} ${typeof body === 'string' ? body.slice(0, 20) : JSON.stringify(body)}`).toContain(r.status);
      const text = await r.text();
      expect(() => JSON.parse(text), `${method} ${path}: ${text.slice(0, 80)}`).not.toThrow();
      expect(typeof JSON.parse(text).error, `${method} ${path}`).toBe('string');
    }
    // The message names the problem.
    expect((await json(await call('POST', '/users', { name: 'b-new', password: 'x', admin: true }, ADMIN))).error).toMatch(/admin/);
    expect((await json(await call('POST', '/users/b-bea/tokens', { scopes: ['root'] }, ADMIN))).error).toMatch(/^scopes\.0: /);
    expect(await snapshot()).toBe(before);
  });
});
