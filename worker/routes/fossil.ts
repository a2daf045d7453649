/**
 * Fossil sync over HTTP (docs/fossil-sync.md §1). fossil 2.21 POSTs to the
 * repository URL exactly as typed (`/NAME`, not `/NAME/xfer`), and `fossil
 * server` routes any POST whose Content-Type starts with
 * `application/x-fossil` to its xfer handler whatever the path; so does this
 * route, for `/NAME` and every path under it. Other requests fall through
 * (git's routes and /api are mounted first and keep their paths).
 *
 * The route finds the repository (404 when unknown or not a fossil one; its
 * id remembered per isolate, checked by the DO) and
 * forwards the body to its Durable Object, which decodes it, checks the login
 * card and runs the sync (durable/fossil-xfer.ts). The answer is always 200
 * with a fossil content type and a Content-Length (fossil 2.21 needs one);
 * refusals and errors are `error` cards inside it.
 */
import { Hono, type Context, type Next } from 'hono';
import type { Env } from '../env.js';
import type { RepoRow } from '../storage-d1/schema.js';
import { isValidRepoName } from './api-common.js';
import { maxPushBytes } from './git.js';
import { clientAddress } from '../rate-limit.js';
import { cachedRepo, forgetRepo, rememberRepo, type CachedRepo } from '../auth.js';
import { CACHED_ACCESS_HEADER, REFUSED_HEADER } from '../durable/access.js';
import { padReply } from '../../shared/protocols/fossil/body.js';

/** The content type of an uncompressed xfer reply. */
const CT_UNCOMPRESSED = 'application/x-fossil-uncompressed';

/** Whether a request's Content-Type makes it an xfer message (the prefix rule of fossil's src/main.c). */
export function isFossilRequest(contentType: string | undefined | null): boolean {
  return (contentType ?? '').trim().toLowerCase().startsWith('application/x-fossil');
}

/** A reply holding one `error` card (text fossil-escaped), uncompressed: the client accepts either encoding. */
export function fossilErrorReply(message: string): Response {
  const escaped = message.replace(/\\/g, '\\\\').replace(/ /g, '\\s').replace(/\n/g, '\\n');
  // Padded: a reply under 1000 bytes is read by fossil until the connection closes (body.ts MIN_REPLY_BYTES).
  const body = padReply(new TextEncoder().encode(`error ${escaped}\n`));
  return new Response(body, { status: 200, headers: { 'content-type': CT_UNCOMPRESSED, 'content-length': String(body.length) } });
}

/** 404 (padded for fossil by the app's middleware, worker/index.ts, as every answer to a fossil request). */
function notFound(): Response {
  return new Response('repository not found\n', { status: 404, headers: { 'content-type': 'text/plain; charset=utf-8' } });
}

/** Paths under /api that stay with the API even for a fossil content type: all but the repository-like ones. */
function isApiPath(name: string, rest: string): boolean {
  return name === 'api' && rest !== '' && rest !== '/' && rest !== '/xfer';
}

/**
 * The repository's immutable facts (name, id, kind): remembered by this
 * isolate (auth.ts cachedRepo), else read from D1 with one prepared statement
 * (drizzle's building of the same query each time showed in a no-op sync's
 * CPU profile). `fresh` skips the cache. Visibility is not taken from here:
 * the DO reads it (durable/access.ts), and checks that the id is still this
 * repository's.
 */
async function findRepo(db: D1Database, name: string, fresh: boolean): Promise<CachedRepo | null> {
  const known = fresh ? undefined : cachedRepo(name);
  // Only fossil entries are taken on trust: the name may have been deleted and created again as
  // fossil since this isolate saw it as git (another kind's 404 would stick until the entry ages out).
  if (known?.kind === 'fossil') return known;
  const row = await db
    .prepare('SELECT name, id, kind, public, created_at AS createdAt FROM repos WHERE name = ?')
    .bind(name)
    .first<Omit<RepoRow, 'public'> & { public: number }>();
  if (!row) return null;
  rememberRepo({ ...row, public: row.public !== 0 });
  return { name: row.name, id: row.id, kind: row.kind };
}

/** The client's Content-Length, passed on to the DO, which reads the body into one buffer of that size (durable/fossil-xfer.ts). */
export const BODY_LENGTH_HEADER = 'x-hub-body-length';

/** Request bodies up to this size (declared by Content-Length) are read before going to the DO, so the request can be sent again (see handle). */
const REPLAYABLE_BODY_BYTES = 64 * 1024;

async function handle(c: Context<{ Bindings: Env }>, next: Next): Promise<Response | void> {
  if (!isFossilRequest(c.req.header('content-type'))) return next();
  const path = new URL(c.req.url).pathname;
  const slash = path.indexOf('/', 1);
  let name: string;
  try {
    name = decodeURIComponent(slash < 0 ? path.slice(1) : path.slice(1, slash));
  } catch {
    // Not UTF-8 once decoded (%ff): no repository has that name (it threw, a 500, before).
    return notFound();
  }
  const rest = slash < 0 ? '' : path.slice(slash);
  if (isApiPath(name, rest)) return next();
  if (!isValidRepoName(name)) return notFound();
  let repo = await findRepo(c.env.DB, name, false);
  if (!repo || repo.kind !== 'fossil') return notFound();
  const limit = maxPushBytes(c.env);
  const declared = Number(c.req.header('content-length') ?? NaN);
  // Counted again as the body streams into the DO (a missing or false Content-Length).
  if (declared > limit) return fossilErrorReply(`message too large: ${declared} bytes (limit ${limit})`);
  const address = clientAddress(c.req.raw.headers);
  // A sync round's message is small (a no-op, a pull, a clone round): read here, so it can be sent again.
  const body = declared >= 0 && declared <= REPLAYABLE_BODY_BYTES ? new Uint8Array(await c.req.arrayBuffer()) : c.req.raw.body;
  const send = (repo: CachedRepo) =>
    c.env.REPO.get(c.env.REPO.idFromName(repo.id)).fetch('https://repo/fossil/xfer', {
      method: 'POST',
      headers: {
        'content-type': c.req.header('content-type') ?? '',
        'x-hub-repo-id': repo.id,
        'x-hub-repo': JSON.stringify(repo),
        'x-hub-max-body': String(limit),
        // So the DO reads the body into one buffer of its size (a stream arrives there without a length).
        ...(Number.isSafeInteger(declared) && declared >= 0 ? { [BODY_LENGTH_HEADER]: String(declared) } : {}),
        // The DO checks the id is still this repository's, and reads its visibility (durable/access.ts).
        [CACHED_ACCESS_HEADER]: 'exists',
        // For the failed-login limits checked in the DO (fossil-login.ts fossilLogins).
        ...(address === null ? {} : { 'x-hub-client-address': address }),
      },
      body,
    });
  let res = await send(repo);
  if (res.headers.get(REFUSED_HEADER) === 'gone') {
    // Deleted (perhaps created again under a new id) since this isolate cached the id.
    await res.body?.cancel();
    forgetRepo(repo.name, repo.id);
    if (body instanceof ReadableStream) return notFound();
    repo = await findRepo(c.env.DB, name, true);
    if (!repo || repo.kind !== 'fossil') return notFound();
    res = await send(repo);
  }
  if (res.status !== 200) {
    console.error(`fossil sync of ${name} failed: ${res.status} ${(await res.text()).slice(0, 200)}`);
    return fossilErrorReply('internal error');
  }
  // Passed on as it streams, not buffered, with the Content-Length the DO set (fossil 2.21 needs one).
  const length = res.headers.get('content-length');
  return new Response(res.body, {
    status: 200,
    headers: {
      'content-type': res.headers.get('content-type') ?? CT_UNCOMPRESSED,
      ...(length === null ? {} : { 'content-length': length }),
      'cache-control': 'no-cache',
    },
  });
}

/** The routes, mounted at the root of the app after git's and /api. */
export const fossil = new Hono<{ Bindings: Env }>();

fossil.post('/:repo', handle);
fossil.post('/:repo/*', handle);
