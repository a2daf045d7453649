// The hub served locally by wrangler dev (as `npm start` serves it) answers
// over real HTTP, with its DO, R2 and D1 bindings working.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHub, type Hub } from './hub-server.js';

let hub: Hub;
beforeAll(async () => {
  hub = await startHub();
});
afterAll(async () => {
  await hub?.stop();
});

describe('hub under wrangler dev', () => {
  it('answers GET / and GET /healthz', async () => {
    expect(await (await fetch(`${hub.url}/`)).json()).toMatchObject({ name: 'hub' });
    const health = await fetch(`${hub.url}/healthz`);
    expect(health.status).toBe(200);
    expect(await health.json()).toEqual({ ok: true, checks: { durable_object: 'ok', r2: 'ok', d1: 'ok' } });
  });

  it('serves the admin API with the token from the environment', async () => {
    const res = await fetch(`${hub.url}/api/repos`, {
      method: 'POST',
      headers: { authorization: `Bearer ${hub.adminToken}` },
      body: JSON.stringify({ name: 'e2e', kind: 'git', public: true }),
    });
    expect(res.status).toBe(201);
    expect(await res.json()).toMatchObject({ urls: { git: `${hub.url}/e2e.git` } });
  });
});
