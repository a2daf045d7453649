/**
 * The admin API: repositories, users, memberships. Every call needs the admin
 * token as `Authorization: Bearer` (the accounts issue opens parts of it to
 * users). Errors are JSON `{ "error": "..." }` with a 4xx status.
 */
import { Hono } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { eq, and } from 'drizzle-orm';
import { drizzle } from 'drizzle-orm/d1';
import type { Env } from '../env.js';
import { authenticate } from '../auth.js';
import { hashPassword } from '../password.js';
import { sealPassword } from '../seal.js';
import { unwrap } from '../durable/rpc-result.js';
import { refNameProblem } from '../../shared/protocols/git/ref-name.js';
import { repos, users, memberships, type RepoRow } from '../storage-d1/schema.js';

/** Repository names: letters, digits, `._-`, 1-100 chars, not starting with `.`/`-`, not ending in `.git`. */
export function isValidRepoName(name: string): boolean {
  return /^[A-Za-z0-9_][A-Za-z0-9._-]{0,99}$/.test(name) && !name.toLowerCase().endsWith('.git');
}

/** User names: letters, digits, `._-`, 1-64 chars, not starting with `.`/`-`. */
export function isValidUserName(name: string): boolean {
  return /^[A-Za-z0-9_][A-Za-z0-9._-]{0,63}$/.test(name);
}

const ROLES = ['read', 'write', 'admin'] as const;

export const api = new Hono<{ Bindings: Env }>();

api.use('*', bodyLimit({ maxSize: 64 * 1024, onError: (c) => c.json({ error: 'request body too large' }, 413) }));

api.use('*', async (c, next) => {
  const who = await authenticate(c.env, c.req.header('authorization'));
  if (who.kind !== 'admin') {
    c.header('WWW-Authenticate', 'Bearer realm="hub"');
    return c.json({ error: 'admin token required' }, 401);
  }
  await next();
});

/** Reads a JSON object body, or answers 400. */
async function jsonBody(req: Request): Promise<Record<string, unknown> | null> {
  try {
    const body = await req.json();
    return body && typeof body === 'object' && !Array.isArray(body) ? (body as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}

function repoView(origin: string, r: RepoRow) {
  const urls = r.kind === 'git' ? { git: `${origin}/${r.name}.git` } : { fossil: `${origin}/${r.name}` };
  return { name: r.name, kind: r.kind, public: r.public, urls };
}

api.post('/repos', async (c) => {
  const body = await jsonBody(c.req.raw);
  if (!body) return c.json({ error: 'body must be a JSON object' }, 400);
  const { name, kind = 'git', public: isPublic = true } = body;
  if (typeof name !== 'string' || !isValidRepoName(name)) return c.json({ error: 'invalid repository name' }, 400);
  if (kind !== 'git' && kind !== 'fossil') return c.json({ error: 'kind must be "git" or "fossil"' }, 400);
  if (typeof isPublic !== 'boolean') return c.json({ error: 'public must be a boolean' }, 400);
  // The id names the content (DO and R2 prefix): random, so a re-created name starts empty.
  const row: RepoRow = { name, id: crypto.randomUUID(), kind, public: isPublic, createdAt: Date.now() };
  const inserted = await drizzle(c.env.DB).insert(repos).values(row).onConflictDoNothing().returning().get();
  if (!inserted) return c.json({ error: 'repository exists' }, 409);
  return c.json(repoView(new URL(c.req.url).origin, inserted), 201);
});

api.get('/repos', async (c) => {
  const rows = await drizzle(c.env.DB).select().from(repos).orderBy(repos.name).all();
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
  const row = await drizzle(c.env.DB).select().from(repos).where(eq(repos.name, c.req.param('name'))).get();
  if (!row) return c.json({ error: 'no such repository' }, 404);
  return c.json({ ...repoView(new URL(c.req.url).origin, row), default_branch: await defaultBranch(c.env, row) });
});

/**
 * Changes settings: `default_branch` (points HEAD at refs/heads/<branch>,
 * which need not exist yet) and `public`. Unknown fields are refused.
 */
api.patch('/repos/:name', async (c) => {
  const body = await jsonBody(c.req.raw);
  if (!body) return c.json({ error: 'body must be a JSON object' }, 400);
  const unknown = Object.keys(body).filter((k) => k !== 'default_branch' && k !== 'public');
  if (unknown.length > 0) return c.json({ error: `unknown field: ${unknown[0]}` }, 400);
  const { default_branch: branch, public: isPublic } = body;
  if (isPublic !== undefined && typeof isPublic !== 'boolean') return c.json({ error: 'public must be a boolean' }, 400);
  if (branch !== undefined && (typeof branch !== 'string' || branch.startsWith('refs/') || refNameProblem(`refs/heads/${branch}`) !== null)) {
    return c.json({ error: 'default_branch must be a valid branch name (without refs/heads/)' }, 400);
  }
  const db = drizzle(c.env.DB);
  let row = await db.select().from(repos).where(eq(repos.name, c.req.param('name'))).get();
  if (!row) return c.json({ error: 'no such repository' }, 404);
  if (branch !== undefined && row.kind !== 'git') return c.json({ error: 'default_branch applies to git repositories' }, 400);
  if (isPublic !== undefined) row = (await db.update(repos).set({ public: isPublic }).where(eq(repos.name, row.name)).returning().get()) ?? row;
  if (typeof branch === 'string') await unwrap(repoStub(c.env, row).setSymbolicRef('HEAD', `refs/heads/${branch}`));
  return c.json({ ...repoView(new URL(c.req.url).origin, row), default_branch: await defaultBranch(c.env, row) });
});

api.delete('/repos/:name', async (c) => {
  const name = c.req.param('name');
  const db = drizzle(c.env.DB);
  const row = await db.select().from(repos).where(eq(repos.name, name)).get();
  if (!row) return c.json({ error: 'no such repository' }, 404);
  // The name goes first: from then on nothing reaches the old id, and a new
  // repository of that name gets a new id, so the content below is unreachable
  // even if deleting it fails half way (then it is garbage, not data).
  await db.batch([db.delete(memberships).where(eq(memberships.repo, name)), db.delete(repos).where(eq(repos.name, name))]);
  try {
    await repoStub(c.env, row).destroy(row.id);
  } catch (e) {
    console.error(`deleting the content of ${name} (${row.id}) failed:`, e);
  }
  return c.body(null, 204);
});

api.post('/users', async (c) => {
  const body = await jsonBody(c.req.raw);
  if (!body) return c.json({ error: 'body must be a JSON object' }, 400);
  const { name, password } = body;
  if (typeof name !== 'string' || !isValidUserName(name)) return c.json({ error: 'invalid user name' }, 400);
  if (typeof password !== 'string' || password.length < 1 || password.length > 1024) return c.json({ error: 'invalid password' }, 400);
  const db = drizzle(c.env.DB);
  if (await db.select().from(users).where(eq(users.name, name)).get()) return c.json({ error: 'user exists' }, 409);
  const inserted = await db
    .insert(users)
    .values({ name, passwordHash: await hashPassword(password), passwordSealed: await sealPassword(c.env, name, password), createdAt: Date.now() })
    .onConflictDoNothing()
    .returning()
    .get();
  return inserted ? c.json({ name }, 201) : c.json({ error: 'user exists' }, 409);
});

api.put('/repos/:name/members/:user', async (c) => {
  const body = await jsonBody(c.req.raw);
  const role = body?.role;
  if (typeof role !== 'string' || !(ROLES as readonly string[]).includes(role)) {
    return c.json({ error: 'role must be "read", "write" or "admin"' }, 400);
  }
  const repo = c.req.param('name');
  const user = c.req.param('user');
  const db = drizzle(c.env.DB);
  if (!(await db.select().from(repos).where(eq(repos.name, repo)).get())) return c.json({ error: 'no such repository' }, 404);
  if (!(await db.select().from(users).where(eq(users.name, user)).get())) return c.json({ error: 'no such user' }, 404);
  const r = role as (typeof ROLES)[number];
  await db
    .insert(memberships)
    .values({ repo, user, role: r })
    .onConflictDoUpdate({ target: [memberships.repo, memberships.user], set: { role: r } });
  return c.json({ repo, user, role: r });
});

api.get('/repos/:name/members', async (c) => {
  const rows = await drizzle(c.env.DB)
    .select({ user: memberships.user, role: memberships.role })
    .from(memberships)
    .where(eq(memberships.repo, c.req.param('name')))
    .orderBy(memberships.user)
    .all();
  return c.json({ members: rows });
});

api.delete('/repos/:name/members/:user', async (c) => {
  const res = await drizzle(c.env.DB)
    .delete(memberships)
    .where(and(eq(memberships.repo, c.req.param('name')), eq(memberships.user, c.req.param('user'))))
    .returning()
    .get();
  return res ? c.body(null, 204) : c.json({ error: 'no such membership' }, 404);
});

api.notFound((c) => c.json({ error: 'not found' }, 404));
