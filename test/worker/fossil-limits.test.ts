// Failed fossil logins count toward the failed-login limits git's Basic auth
// has (worker/rate-limit.ts): per user name and per client address, checked
// inside the DO before any secret is derived (worker/fossil-login.ts fossilLogins).
import { env, runInDurableObject, SELF } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import type { RepoObject } from '../../worker/durable/repo.js';
import { sha1Hex, sharedSecret } from '../../worker/fossil-login.js';
import { DEFAULT_LIMITS } from '../../worker/rate-limit.js';

const ADMIN = { authorization: 'Bearer test-admin-token', 'content-type': 'application/json' };
const api = (method: string, path: string, body?: unknown) =>
  SELF.fetch(`http://hub.test/api${path}`, { method, headers: ADMIN, body: body === undefined ? undefined : JSON.stringify(body) });

async function projectCode(name: string): Promise<string> {
  const row = await env.DB.prepare('SELECT id FROM repos WHERE name = ?').bind(name).first<{ id: string }>();
  const stub = env.REPO.get(env.REPO.idFromName(row!.id));
  return runInDurableObject(stub, (_i: RepoObject, state) =>
    state.storage.sql.exec<{ value: string }>("SELECT value FROM fossil_config WHERE name = 'project-code'").one().value,
  );
}

/** A clone round signed as fossil 2.21 signs it (docs/fossil-sync.md §3), sent from `ip`; the reply's text. */
async function signedClone(repo: string, code: string, user: string, password: string, ip: string): Promise<string> {
  const rest = `pragma client-version 22100 20230226 192424\nclone 3 1\n# ${crypto.randomUUID()}\n`;
  const nonce = await sha1Hex(rest);
  const signature = await sha1Hex(nonce + (await sharedSecret(code, user, password)));
  const res = await SELF.fetch(`http://hub.test/${repo}`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-fossil-uncompressed', 'cf-connecting-ip': ip },
    body: `login ${user} ${nonce} ${signature}\n${rest}`,
  });
  expect(res.status).toBe(200);
  return new TextDecoder().decode(await res.arrayBuffer());
}

const failures = (key: string) => env.DB.prepare('SELECT count FROM login_failures WHERE key = ?').bind(key).first<number>('count');

describe('fossil failed logins', () => {
  it('count per user name; a locked-out name is refused even with the right password, until the window ends', async () => {
    expect((await api('POST', '/users', { name: 'fl-u', password: 'right' })).status).toBe(201);
    expect((await api('POST', '/repos', { name: 'fl-repo', kind: 'fossil', public: false })).status).toBe(201);
    expect((await api('PUT', '/repos/fl-repo/members/fl-u', { role: 'read' })).status).toBe(200);
    const code = await projectCode('fl-repo');
    expect(await signedClone('fl-repo', code, 'fl-u', 'right', '198.51.100.1')).toMatch(/^push [0-9a-f]{40} [0-9a-f]{40}$/m);
    for (const wrong of ['a', 'b']) expect(await signedClone('fl-repo', code, 'fl-u', wrong, '198.51.100.1')).toMatch(/^error login\\sfailed$/m);
    expect(await failures('user:fl-u')).toBe(2);
    expect(await failures('addr:198.51.100.1')).toBe(2);
    // At the limit: refused before the password is looked at, and not counted again.
    await env.DB.prepare('UPDATE login_failures SET count = ? WHERE key = ?').bind(DEFAULT_LIMITS.perUser, 'user:fl-u').run();
    expect(await signedClone('fl-repo', code, 'fl-u', 'right', '198.51.100.2')).toMatch(/^error login\\sfailed$/m);
    expect(await failures('user:fl-u')).toBe(DEFAULT_LIMITS.perUser);
    expect(await failures('addr:198.51.100.2')).toBeNull();
    // The window over, the right password logs in and clears the name's count.
    await env.DB.prepare("UPDATE login_failures SET window_start = window_start - 100000000 WHERE key = 'user:fl-u'").run();
    expect(await signedClone('fl-repo', code, 'fl-u', 'right', '198.51.100.2')).toMatch(/^push /m);
    expect(await failures('user:fl-u')).toBeNull();
  });

  it('count per client address across names', async () => {
    expect((await api('POST', '/users', { name: 'fl-v', password: 'pw' })).status).toBe(201);
    expect((await api('POST', '/repos', { name: 'fl-pub', kind: 'fossil', public: true })).status).toBe(201);
    const code = await projectCode('fl-pub');
    await env.DB.prepare('INSERT INTO login_failures (key, count, window_start) VALUES (?, ?, ?)')
      .bind('addr:203.0.113.9', DEFAULT_LIMITS.perAddress, Date.now())
      .run();
    expect(await signedClone('fl-pub', code, 'fl-v', 'pw', '203.0.113.9')).toMatch(/^error login\\sfailed$/m);
    expect(await signedClone('fl-pub', code, 'fl-v', 'pw', '203.0.113.10')).toMatch(/^push /m);
    // The admin token, which nobody guesses, still logs in from the locked-out address; a wrong guess of it does not.
    expect(await signedClone('fl-pub', code, 'hub-admin', 'test-admin-token', '203.0.113.9')).toMatch(/^push /m);
    expect(await signedClone('fl-pub', code, 'hub-admin', 'test-admin-tokem', '203.0.113.9')).toMatch(/^error login\\sfailed$/m);
    // So does a user's API token (admin scope: a fossil password), where the user's password does not.
    const { token } = (await (await api('POST', '/users/fl-v/tokens', { scopes: ['admin'] })).json()) as { token: string };
    expect(await signedClone('fl-pub', code, 'fl-v', token, '203.0.113.9')).toMatch(/^push /m);
    expect(await failures('addr:203.0.113.9')).toBe(DEFAULT_LIMITS.perAddress);
    // Unknown names (admin-token logins) count too.
    expect(await signedClone('fl-pub', code, 'nobody-here', 'guess', '203.0.113.11')).toMatch(/^error login\\sfailed$/m);
    expect(await failures('addr:203.0.113.11')).toBe(1);
  });
});
