import { SELF, env } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { capabilitiesOf, fossilSecrets, sha1Hex, sharedSecret, verifyLogin } from '../../worker/fossil-login.js';
import { open, openPassword, seal, sealKey, sealPassword } from '../../worker/seal.js';

const ADMIN = { authorization: 'Bearer test-admin-token', 'content-type': 'application/json' };
const post = (path: string, body: unknown) => SELF.fetch(`http://hub.test${path}`, { method: 'POST', headers: ADMIN, body: JSON.stringify(body) });

// From a capture of fossil 2.21 logging in (docs/fossil-sync.md §3).
const PROJECT = '8de922cf27c9a3bbcc7b751f33d292101fda8baa';
const NONCE = '8fd6e008111d635b31dcc8bd56fe46edafd949fb';
const SIGNATURE = 'b73752a93d2089000162babb95299e55a89c70e7';

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

describe('fossil logins', () => {
  it('derives the secret fossil 2.21 signed with, from the password sealed at user creation', async () => {
    expect(await sharedSecret(PROJECT, 'alice', 'secret')).toBe('907e360140c1da1c342de12107a6f790820c354e');
    expect(await sha1Hex(NONCE + '907e360140c1da1c342de12107a6f790820c354e')).toBe(SIGNATURE);
    expect((await post('/api/users', { name: 'alice', password: 'secret' })).status).toBe(201);
    expect(await fossilSecrets(env, 'alice', PROJECT)).toEqual(['907e360140c1da1c342de12107a6f790820c354e']);
    expect(await verifyLogin(env, { user: 'alice', nonce: NONCE, signature: SIGNATURE }, PROJECT)).toEqual({ kind: 'user', name: 'alice' });
    expect(await verifyLogin(env, { user: 'alice', nonce: NONCE, signature: SIGNATURE.toUpperCase() }, PROJECT)).toEqual({ kind: 'user', name: 'alice' });
    // Another repository (project code), another nonce, another user name: all fail.
    expect(await verifyLogin(env, { user: 'alice', nonce: NONCE, signature: SIGNATURE }, 'f'.repeat(40))).toBeNull();
    expect(await verifyLogin(env, { user: 'alice', nonce: 'a'.repeat(40), signature: SIGNATURE }, PROJECT)).toBeNull();
    expect(await verifyLogin(env, { user: 'mallory', nonce: NONCE, signature: SIGNATURE }, PROJECT)).toBeNull();
    expect(await verifyLogin(env, { user: 'alice', nonce: NONCE, signature: 'zz' }, PROJECT)).toBeNull();
    // A changed hub secret cannot open the old seal: no secrets until the password is set again.
    expect(await fossilSecrets({ ...env, HUB_SECRET: 'new' }, 'alice', PROJECT)).toEqual([]);
  });

  it('takes a 40-hex password as the secret itself, lets the admin token log in, and passes nobody/anonymous', async () => {
    const hexpw = 'ab'.repeat(20);
    expect((await post('/api/users', { name: 'hexie', password: hexpw })).status).toBe(201);
    expect(await fossilSecrets(env, 'hexie', PROJECT)).toEqual([await sharedSecret(PROJECT, 'hexie', hexpw), hexpw]);
    expect(await verifyLogin(env, { user: 'hexie', nonce: NONCE, signature: await sha1Hex(NONCE + hexpw) }, PROJECT)).toEqual({ kind: 'user', name: 'hexie' });
    const adminSig = await sha1Hex(NONCE + (await sharedSecret(PROJECT, 'whoever', 'test-admin-token')));
    expect(await verifyLogin(env, { user: 'whoever', nonce: NONCE, signature: adminSig }, PROJECT)).toEqual({ kind: 'admin' });
    expect(await verifyLogin(env, { user: 'nobody', nonce: 'x', signature: 'y' }, PROJECT)).toEqual({ kind: 'anonymous' });
    expect(await verifyLogin(env, { user: 'anonymous', nonce: 'x', signature: 'y' }, PROJECT)).toEqual({ kind: 'anonymous' });
    expect(await fossilSecrets(env, 'ghost', PROJECT)).toEqual([]);
  });

  it('maps roles to capabilities', () => {
    expect(capabilitiesOf(null)).toBe('');
    expect(capabilitiesOf('read')).toBe('go');
    expect(capabilitiesOf('write')).toBe('goiy');
    expect(capabilitiesOf('admin')).toBe('goiyx');
  });
});
