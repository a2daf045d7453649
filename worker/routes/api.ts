/**
 * The REST API under /api: repositories here; users, tokens, members, branch
 * protection and events in their own modules, mounted below. Callers are the
 * hub admin (the admin token as `Authorization: Bearer`), users (an API token
 * as Bearer, or Basic with password or token), or anonymous; each route checks
 * what it needs (api-common.ts). Errors are JSON `{ "error": "..." }` with a
 * 4xx status; the description is served at /api/openapi.json.
 */
import { Hono } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { HTTPException } from 'hono/http-exception';
import { eq } from 'drizzle-orm';
import { drizzle } from 'drizzle-orm/d1';
import type { Env } from '../env.js';
import { authenticate } from '../auth.js';
import { clientAddress } from '../rate-limit.js';
import { unwrap } from '../durable/rpc-result.js';
import { HUB_CREATOR } from '../durable/fossil-xfer.js';
import { repos, memberships, protections, type RepoRow } from '../storage-d1/schema.js';
import { fail, MAX_API_BODY, NewRepoSchema, readBody, repoFor, RepoPatchSchema, requireAdmin, type ApiEnv } from './api-common.js';
import { usersApi } from './users.js';
import { tokensApi } from './tokens.js';
import { membersApi } from './members.js';
import { protectionsApi } from './protections.js';
import { eventsApi } from './events.js';
import { openApiDocument } from './openapi.js';

export { isValidRepoName, isValidUserName } from './api-common.js';

export const api = new Hono<ApiEnv>();

api.use('*', bodyLimit({ maxSize: MAX_API_BODY, onError: (c) => c.json({ error: 'request body too large' }, 413) }));

/** Resolves the caller once; bad credentials are refused here, anonymous callers go on (routes decide). */
api.use('*', async (c, next) => {
  const who = await authenticate(c.env, c.req.header('authorization'), clientAddress(c.req.raw.headers));
  if (who.kind === 'limited') {
    c.header('Retry-After', String(who.retryAfter));
    return c.json({ error: 'too many failed logins; try again later' }, 429);
  }
  if (who.kind === 'invalid') return fail(c, 401, 'invalid credentials');
  c.set('who', who);
  await next();
});

api.get('/openapi.json', (c) => c.json(openApiDocument(new URL(c.req.url).origin)));

function repoView(origin: string, r: RepoRow) {
  const urls = r.kind === 'git' ? { git: `${origin}/${r.name}.git` } : { fossil: `${origin}/${r.name}` };
  return { name: r.name, kind: r.kind, public: r.public, urls };
}

api.post('/repos', async (c) => {
  const refused = requireAdmin(c);
  if (refused) return refused;
  const body = await readBody(c, NewRepoSchema);
  if (body instanceof Response) return body;
  if (body.project_code !== undefined && body.kind !== 'fossil') return fail(c, 400, 'project_code is for fossil repositories');
  // The id names the content (DO and R2 prefix): random, so a re-created name starts empty.
  const row: RepoRow = { name: body.name, id: crypto.randomUUID(), kind: body.kind, public: body.public, createdAt: Date.now() };
  const inserted = await drizzle(c.env.DB).insert(repos).values(row).onConflictDoNothing().returning().get();
  if (!inserted) return fail(c, 409, 'repository exists');
  // The repository's storage is made now, as `git init --bare` / `fossil new` make theirs, not by its first request.
  const who = c.var.who;
  try {
    const stub = repoStub(c.env, inserted);
    // fossil: project code, server code, initial check-in by the creator (the admin has no user name: HUB_CREATOR).
    if (inserted.kind === 'fossil') await stub.initFossil(inserted.id, { creator: who.kind === 'user' ? who.name : HUB_CREATOR, projectName: inserted.name, projectCode: body.project_code });
    else await stub.initGit(inserted.id);
  } catch (e) {
    await drizzle(c.env.DB).delete(repos).where(eq(repos.name, inserted.name));
    throw e;
  }
  return c.json(repoView(new URL(c.req.url).origin, inserted), 201);
});

/** The repositories the caller may read: all for the admin, public ones and the user's own for others. */
api.get('/repos', async (c) => {
  const who = c.var.who;
  const db = drizzle(c.env.DB);
  let rows = await db.select().from(repos).orderBy(repos.name).all();
  if (who.kind !== 'admin') {
    const mine =
      who.kind === 'user' ? new Set((await db.select({ repo: memberships.repo }).from(memberships).where(eq(memberships.user, who.name)).all()).map((m) => m.repo)) : new Set();
    rows = rows.filter((r) => r.public || mine.has(r.name));
  }
  const origin = new URL(c.req.url).origin;
  return c.json({ repos: rows.map((r) => repoView(origin, r)) });
});

/** The repository's Durable Object, by its immutable id. */
function repoStub(env: Env, row: RepoRow) {
  return env.REPO.get(env.REPO.idFromName(row.id));
}

/** The branch HEAD points at (`main` for refs/heads/main), or null when HEAD is unset or elsewhere. */
async function defaultBranch(env: Env, row: RepoRow): Promise<string | null> {
  if (row.kind !== 'git') return null;
  const target = await unwrap(repoStub(env, row).readSymbolicRef('HEAD'));
  return target?.startsWith('refs/heads/') ? target.slice('refs/heads/'.length) : null;
}

api.get('/repos/:name', async (c) => {
  const r = await repoFor(c, c.req.param('name'), 'read');
  if (r instanceof Response) return r;
  return c.json({ ...repoView(new URL(c.req.url).origin, r.repo), default_branch: await defaultBranch(c.env, r.repo), role: r.role });
});

/**
 * Changes settings (the repository's admins): `default_branch` (points HEAD
 * at refs/heads/<branch>, which need not exist yet) and `public`.
 */
api.patch('/repos/:name', async (c) => {
  const r = await repoFor(c, c.req.param('name'), 'admin');
  if (r instanceof Response) return r;
  const body = await readBody(c, RepoPatchSchema);
  if (body instanceof Response) return body;
  let row = r.repo;
  if (body.default_branch !== undefined && row.kind !== 'git') return fail(c, 400, 'default_branch applies to git repositories');
  const db = drizzle(c.env.DB);
  if (body.public !== undefined) {
    row = (await db.update(repos).set({ public: body.public }).where(eq(repos.name, row.name)).returning().get()) ?? row;
    // The DO keeps a copy of the visibility for anonymous requests (durable/access.ts): read again from now on.
    try {
      await repoStub(c.env, row).forgetAccess();
    } catch {
      return fail(c, 503, 'visibility saved, but anonymous requests may see the old one for up to a minute');
    }
  }
  if (body.default_branch !== undefined) await unwrap(repoStub(c.env, row).setSymbolicRef('HEAD', `refs/heads/${body.default_branch}`));
  return c.json({ ...repoView(new URL(c.req.url).origin, row), default_branch: await defaultBranch(c.env, row) });
});

/** Deletes a repository and its content (the hub admin only). */
api.delete('/repos/:name', async (c) => {
  const refused = requireAdmin(c);
  if (refused) return refused;
  const name = c.req.param('name');
  const db = drizzle(c.env.DB);
  const row = await db.select().from(repos).where(eq(repos.name, name)).get();
  if (!row) return fail(c, 404, 'no such repository');
  // The name goes first: from then on nothing reaches the old id, and a new
  // repository of that name gets a new id, so the content below is unreachable
  // even if deleting it fails half way (then it is garbage, not data).
  await db.batch([
    db.delete(memberships).where(eq(memberships.repo, name)),
    db.delete(protections).where(eq(protections.repo, name)),
    db.delete(repos).where(eq(repos.name, name)),
  ]);
  try {
    await repoStub(c.env, row).destroy(row.id);
  } catch (e) {
    console.error(`deleting the content of ${name} (${row.id}) failed:`, e);
  }
  return c.body(null, 204);
});

api.route('/', usersApi);
api.route('/', tokensApi);
api.route('/', membersApi);
api.route('/', protectionsApi);
api.route('/', eventsApi);

api.onError((e, c) => {
  if (e instanceof HTTPException && e.status < 500) return c.json({ error: e.message || 'bad request' }, e.status);
  console.error('api error:', e);
  return c.json({ error: 'internal error' }, 500);
});

// A route of its own, not notFound: a sub-app's notFound is not used once mounted with app.route().
api.all('*', (c) => fail(c, 404, 'not found'));
