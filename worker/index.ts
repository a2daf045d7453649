/** The hub Worker: a Hono app over the per-repository Durable Object, R2 and D1. */
import { Hono } from 'hono';
import { getPath } from 'hono/utils/url';
import type { Env } from './env.js';
import { HUB_NAME, HUB_VERSION } from './version.js';
import { api } from './routes/api.js';
import { git } from './routes/git.js';
import { fossil, isFossilRequest } from './routes/fossil.js';
import { MIN_REPLY_BYTES, padReply } from '../shared/protocols/fossil/body.js';
import { drainBody } from './drain.js';
// SHA3-256 on WebAssembly for the native Primitives (workerd's node:crypto has none).
import './keccak-module.js';

export { RepoObject } from './durable/repo.js';

/** A git smart-HTTP path, once runs of slashes are collapsed. */
const GIT_PATH = /\/(?:info\/refs|git-upload-pack|git-receive-pack)$/;

/**
 * The path a request is routed on: a git request's runs of slashes collapsed, as git
 * http-backend finds the repository of `https://hub//NAME.git` or `NAME.git//` (a base
 * URL ending in `/` joined to `/NAME.git`), which git sends as `//NAME.git/info/refs`.
 */
function routePath(request: Request): string {
  const path = getPath(request);
  if (!path.includes('//')) return path;
  const collapsed = path.replace(/\/{2,}/g, '/');
  return GIT_PATH.test(collapsed) ? collapsed : path;
}

export const app = new Hono<{ Bindings: Env }>({ getPath: routePath });

/**
 * Bytes of an unread request body read and dropped after the answer (past it,
 * the body is cancelled). Cloudflare refuses bodies over the plan's cap (100 MB
 * on the common plans) before the Worker runs, so this only bounds local runs.
 */
const UNREAD_BODY_DRAIN = 128 * 1024 * 1024;

// A request answered without reading its body (a 404, 401 or 415 refusal of a
// POST) broke the next request on wrangler dev's connection to workerd (a hang
// or a 503): read the rest, bounded, before answering.
app.use('*', async (c, next) => {
  await next();
  const body = c.req.raw.body;
  if (body === null || body.locked || c.req.raw.bodyUsed) return;
  // More than the drain would read (a fossil message or API body refused for the
  // size it declares): cancelled at once, so the refusal is not held until the
  // caller has sent 128 MiB or hung up. workerd closes the connection after it.
  if (Number(c.req.header('content-length')) > UNREAD_BODY_DRAIN) return void (await body.cancel().catch(() => {}));
  await drainBody(body, UNREAD_BODY_DRAIN);
});

// fossil 2.21 reads a reply shorter than 1000 bytes until the connection closes, which workerd
// does 5 s after answering (shared/protocols/fossil/body.ts MIN_REPLY_BYTES). The xfer replies
// are padded where they are made; this pads every other answer a fossil client can get: the
// fossil route's 404, and refusals made before it (the 404 of `fossil clone https://hub/`, the
// API's 401/404 for a fossil POST under /api/), which stalled 5 s a round.
app.use('*', async (c, next) => {
  await next();
  if (!isFossilRequest(c.req.header('content-type'))) return;
  const length = c.res.headers.get('content-length');
  // A 200 without a length is a stream, left alone; refusals are short. A compressed reply is
  // never short (body.ts replyBody), and padding would break its framing.
  if (length === null ? c.res.status === 200 : Number(length) >= MIN_REPLY_BYTES) return;
  if (c.res.headers.get('content-type') === 'application/x-fossil') return;
  const res = c.res;
  const body = padReply(new Uint8Array(await res.arrayBuffer()), false);
  // No statusText: the hub never sets one, and an explicit empty one is sent as an empty reason
  // phrase by newer workerd (fossil then says `server says: 404`, not `404 Not Found`).
  c.res = new Response(body, { status: res.status, headers: res.headers });
  // Hono's setter copies the old answer's headers over the new one's, its Content-Length too.
  c.res.headers.delete('content-length');
});

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
