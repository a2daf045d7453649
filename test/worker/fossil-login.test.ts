import { SELF, env } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { ROLE_CAPS, verifyLogin } from '../../shared/protocols/fossil/index.js';
import { anonymousCaps, fossilSecrets, fossilUser, sha1Hex, sharedSecret } from '../../worker/fossil-login.js';
import { nativePrimitives } from '../../worker/primitives.js';
import { open, openPassword, seal, sealKey, sealPassword } from '../../worker/seal.js';

const ADMIN = { authorization: 'Bearer test-admin-token', 'content-type': 'application/json' };
const post = (path: string, body: unknown) => SELF.fetch(`http://hub.test${path}`, { method: 'POST', headers: ADMIN, body: JSON.stringify(body) });

// From a capture of fossil 2.21 logging in (docs/fossil-sync.md §3).
const PROJECT = '8de922cf27c9a3bbcc7b751f33d292101fda8baa';
const NONCE = '8fd6e008111d635b31dcc8bd56fe46edafd949fb';
const SIGNATURE = 'b73752a93d2089000162babb95299e55a89c70e7';
const REST = 'pragma client-version 22100 20230226 192424\nreqconfig /all\n# 64943764B6D366D17006B72AE6BBF8D64913100B\n';

describe('seal', () => {
  it('opens what it sealed, only with the same key and context', async () => {
    const key = await sealKey('hub secret');
    const a = await seal(key, 'pässword', 'ctx');
    const b = await seal(key, 'pässword', 'ctx');
    expect(a).not.toBe(b); // random IV
    expect(a).not.toContain('pässword');
    expect(await open(key, a, 'ctx')).toBe('pässword');
    expect(await open(key, a, 'other')).toBeNull();
    expect(await open(await sealKey('another secret'), a, 'ctx')).toBeNull();
    const [v, iv, ct] = a.split('.');
    const flipped = `${v}.${iv}.${ct.slice(0, 4)}${ct[4] === 'A' ? 'B' : 'A'}${ct.slice(5)}`;
    expect(await open(key, flipped, 'ctx')).toBeNull();
    for (const bad of ['', 'v1', 'v2.x.y', 'v1.!!.!!', 'v1.AAAA.AAAA', `v1.${iv}.${'A'.repeat(10_000)}`]) expect(await open(key, bad, 'ctx')).toBeNull();
  });

  it("derives a secret's key once per isolate, and the right one again after another secret's", async () => {
    expect(sealKey('k1')).toBe(sealKey('k1'));
    const a = await seal(await sealKey('k1'), 'x', 'c');
    expect(await open(await sealKey('k2'), a, 'c')).toBeNull();
    expect(await open(await sealKey('k1'), a, 'c')).toBe('x');
  });

  it('uses HUB_SECRET when set, else the admin token, else nothing', async () => {
    const s = await sealPassword({ HUB_ADMIN_TOKEN: 'tok' }, 'u', 'pw');
    expect(await openPassword({ HUB_ADMIN_TOKEN: 'tok' }, 'u', s)).toBe('pw');
    expect(await openPassword({ HUB_ADMIN_TOKEN: 'tok' }, 'v', s)).toBeNull();
    expect(await openPassword({ HUB_ADMIN_TOKEN: 'tok', HUB_SECRET: 'sec' }, 'u', s)).toBeNull();
    const t = await sealPassword({ HUB_ADMIN_TOKEN: 'tok', HUB_SECRET: 'sec' }, 'u', 'pw');
    expect(await openPassword({ HUB_ADMIN_TOKEN: 'rotated', HUB_SECRET: 'sec' }, 'u', t)).toBe('pw');
    expect(await sealPassword({}, 'u', 'pw')).toBeNull();
  });
});

/** Whether the xfer server's login check passes for `user`'s candidate secrets. */
function loginOk(user: { secrets: string[] } | null, nonce: string, signature: string, rest: Uint8Array): boolean {
  return user !== null && verifyLogin(nativePrimitives, rest, nonce, signature, user.secrets);
}

const repoRow = (name: string, isPublic: boolean) => ({ name, id: `id-${name}`, kind: 'fossil' as const, public: isPublic, createdAt: 0 });

describe('fossil logins', () => {
  it('derives the secret fossil 2.21 signed with, from the password sealed at user creation', async () => {
    expect(await sharedSecret(PROJECT, 'alice', 'secret')).toBe('907e360140c1da1c342de12107a6f790820c354e');
    expect(await sha1Hex(NONCE + '907e360140c1da1c342de12107a6f790820c354e')).toBe(SIGNATURE);
    expect((await post('/api/users', { name: 'alice', password: 'secret' })).status).toBe(201);
    expect(await fossilSecrets(env, 'alice', PROJECT)).toEqual(['907e360140c1da1c342de12107a6f790820c354e']);
    // The captured message's bytes after the login card (its nonce is their SHA-1).
    const rest = new TextEncoder().encode(REST);
    expect(await sha1Hex(REST)).toBe(NONCE);
    const alice = await fossilUser(env, repoRow('pub', true), 'alice', PROJECT);
    expect(loginOk(alice, NONCE, SIGNATURE, rest)).toBe(true);
    expect(loginOk(alice, NONCE, SIGNATURE.toUpperCase(), rest)).toBe(true);
    // Another repository (project code), another message, another user name: all fail.
    expect(loginOk(await fossilUser(env, repoRow('pub', true), 'alice', 'f'.repeat(40)), NONCE, SIGNATURE, rest)).toBe(false);
    expect(loginOk(alice, NONCE, SIGNATURE, new TextEncoder().encode(REST + ' '))).toBe(false);
    // An unknown name could only be the admin (with the admin token as password), which this signature is not.
    expect(loginOk(await fossilUser(env, repoRow('pub', true), 'mallory', PROJECT), NONCE, SIGNATURE, rest)).toBe(false);
    // A changed hub secret cannot open the old seal: no secrets, no login, until the password is set again.
    expect(await fossilSecrets({ ...env, HUB_SECRET: 'new' }, 'alice', PROJECT)).toEqual([]);
    expect(await fossilUser({ ...env, HUB_SECRET: 'new' }, repoRow('pub', true), 'alice', PROJECT)).toBeNull();
  });

  it("gives roles' capabilities, granted after the user was created, on public and private repositories", async () => {
    expect((await post('/api/users', { name: 'bob', password: 'pw' })).status).toBe(201);
    expect((await post('/api/repos', { name: 'priv', kind: 'fossil', public: false })).status).toBe(201);
    expect((await post('/api/repos', { name: 'pub', kind: 'fossil', public: true })).status).toBe(201);
    const caps = async (repo: string, isPublic: boolean) => (await fossilUser(env, repoRow(repo, isPublic), 'bob', PROJECT))?.caps;
    expect(await caps('priv', false)).toBe('');
    expect(await caps('pub', true)).toBe(ROLE_CAPS.read);
    const put = (repo: string, role: string) => SELF.fetch(`http://hub.test/api/repos/${repo}/members/bob`, { method: 'PUT', headers: ADMIN, body: JSON.stringify({ role }) });
    expect((await put('priv', 'read')).status).toBe(200);
    expect(await caps('priv', false)).toBe(ROLE_CAPS.read);
    expect((await put('priv', 'write')).status).toBe(200);
    expect(await caps('priv', false)).toBe(ROLE_CAPS.write);
    expect(await caps('pub', true)).toBe(ROLE_CAPS.read);
    expect(anonymousCaps(repoRow('pub', true))).toBe(ROLE_CAPS.nobody);
    expect(anonymousCaps(repoRow('priv', false))).toBe('');
  });

  it('takes a 40-hex password as the secret itself, and lets the admin token log in under any other name', async () => {
    const hexpw = 'ab'.repeat(20);
    expect((await post('/api/users', { name: 'hexie', password: hexpw })).status).toBe(201);
    expect(await fossilSecrets(env, 'hexie', PROJECT)).toEqual([await sharedSecret(PROJECT, 'hexie', hexpw), hexpw]);
    const rest = new TextEncoder().encode(REST);
    const hexie = await fossilUser(env, repoRow('pub', true), 'hexie', PROJECT);
    expect(loginOk(hexie, NONCE, await sha1Hex(NONCE + hexpw), rest)).toBe(true);
    const admin = await fossilUser(env, repoRow('priv', false), 'whoever', PROJECT);
    expect(admin?.caps).toBe(ROLE_CAPS.admin);
    expect(loginOk(admin, NONCE, await sha1Hex(NONCE + (await sharedSecret(PROJECT, 'whoever', 'test-admin-token'))), rest)).toBe(true);
    expect(loginOk(admin, NONCE, await sha1Hex(NONCE + (await sharedSecret(PROJECT, 'whoever', 'wrong'))), rest)).toBe(false);
    // A hub user's name logs in with that user's password only, never with the admin token.
    expect(loginOk(hexie, NONCE, await sha1Hex(NONCE + (await sharedSecret(PROJECT, 'hexie', 'test-admin-token'))), rest)).toBe(false);
    expect(await fossilSecrets(env, 'ghost', PROJECT)).toEqual([]);
  });
});
