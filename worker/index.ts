/** The hub Worker: a Hono app over the per-repository Durable Object, R2 and D1. */
import { Hono } from 'hono';
import type { Env } from './env.js';
import { HUB_NAME, HUB_VERSION } from './version.js';
import { api } from './routes/api.js';
import { git } from './routes/git.js';
import { fossil } from './routes/fossil.js';

export { RepoObject } from './durable/repo.js';

export const app = new Hono<{ Bindings: Env }>();

app.get('/', (c) => c.json({ name: HUB_NAME, version: HUB_VERSION }));

/** Checks that each binding answers: the DO (and its SQLite), R2 and D1. */
app.get('/healthz', async (c) => {
  const checks: Record<string, string> = {};
  const probe = async (name: string, fn: () => Promise<unknown>) => {
    try {
      await fn();
      checks[name] = 'ok';
    } catch (e) {
      checks[name] = `failed: ${(e as Error).message}`;
    }
  };
  await probe('durable_object', async () => {
    const stub = c.env.REPO.get(c.env.REPO.idFromName('.healthz'));
    if ((await stub.ping()) !== 1) throw new Error('unexpected ping answer');
  });
  await probe('r2', () => c.env.CONTENT.head('.healthz'));
  await probe('d1', () => c.env.DB.prepare('SELECT 1').first());
  const ok = Object.values(checks).every((v) => v === 'ok');
  return c.json({ ok, checks }, ok ? 200 : 503);
});

// Git first: its routes are exact (/NAME/info/refs, /NAME/git-*-pack), and a
// repository may be named `api`.
app.route('/', git);
// Fossil next: only POSTs with a fossil content type, and never /api/... paths (see routes/fossil.ts).
app.route('/', fossil);
app.route('/api', api);

export default app satisfies ExportedHandler<Env>;
