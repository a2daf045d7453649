import { SELF } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { HUB_NAME, HUB_VERSION } from '../../worker/version.js';

describe('hub worker', () => {
  it('GET / names the hub and its version', async () => {
    const res = await SELF.fetch('http://hub.test/');
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ name: HUB_NAME, version: HUB_VERSION });
  });

  it('GET /healthz reports the DO, R2 and D1 bindings answering', async () => {
    const res = await SELF.fetch('http://hub.test/healthz');
    const body = (await res.json()) as { ok: boolean; checks: Record<string, string> };
    expect(body.checks).toEqual({ durable_object: 'ok', r2: 'ok', d1: 'ok' });
    expect(body.ok).toBe(true);
    expect(res.status).toBe(200);
  });
});
