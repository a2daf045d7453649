/**
 * Branch protection rules of a repository (worker/protections.ts): list
 * (readers), set and remove (the repository's admins). The pattern is the
 * last path segment(s): `PUT /api/repos/NAME/protections/release/*` (or with
 * the slash escaped as %2F).
 */
import { Hono } from 'hono';
import { z } from 'zod';
import { and, count, eq } from 'drizzle-orm';
import { drizzle } from 'drizzle-orm/d1';
import { loadProtections, MAX_PROTECTIONS, patternProblem } from '../protections.js';
import { protections } from '../storage-d1/schema.js';
import { fail, readBody, repoFor, type ApiEnv } from './api-common.js';

export const ProtectionSchema = z.strictObject({
  admins_only: z.boolean().optional().describe('only pushers with the admin role may update the branch (default false)'),
});

export const protectionsApi = new Hono<ApiEnv>();

const view = (p: { pattern: string; adminsOnly: boolean }) => ({ pattern: p.pattern, admins_only: p.adminsOnly });

protectionsApi.get('/repos/:name/protections', async (c) => {
  const r = await repoFor(c, c.req.param('name'), 'read');
  if (r instanceof Response) return r;
  return c.json({ protections: (await loadProtections(c.env, r.repo.name)).map(view) });
});

protectionsApi.put('/repos/:name/protections/:pattern{.+}', async (c) => {
  const r = await repoFor(c, c.req.param('name'), 'admin');
  if (r instanceof Response) return r;
  // A fossil push never moves or deletes a branch, and the fossil server takes no rule: refused rather than stored unenforced.
  if (r.repo.kind !== 'git') return fail(c, 400, 'branch protection applies to git repositories');
  const pattern = c.req.param('pattern');
  const problem = patternProblem(pattern);
  if (problem !== null) return fail(c, 400, problem);
  // An empty body means the defaults.
  const body = await readBody(c, ProtectionSchema.optional());
  if (body instanceof Response) return body;
  const adminsOnly = body?.admins_only ?? false;
  const db = drizzle(c.env.DB);
  const existing = await db.select().from(protections).where(and(eq(protections.repo, r.repo.name), eq(protections.pattern, pattern))).get();
  if (!existing) {
    const n = (await db.select({ n: count() }).from(protections).where(eq(protections.repo, r.repo.name)).get())?.n ?? 0;
    if (n >= MAX_PROTECTIONS) return fail(c, 409, `a repository has at most ${MAX_PROTECTIONS} protected patterns`);
  }
  await db
    .insert(protections)
    .values({ repo: r.repo.name, pattern, adminsOnly, createdAt: Date.now() })
    .onConflictDoUpdate({ target: [protections.repo, protections.pattern], set: { adminsOnly } });
  return c.json(view({ pattern, adminsOnly }), existing ? 200 : 201);
});

protectionsApi.delete('/repos/:name/protections/:pattern{.+}', async (c) => {
  const r = await repoFor(c, c.req.param('name'), 'admin');
  if (r instanceof Response) return r;
  const gone = await drizzle(c.env.DB)
    .delete(protections)
    .where(and(eq(protections.repo, r.repo.name), eq(protections.pattern, c.req.param('pattern'))))
    .returning()
    .get();
  return gone ? c.body(null, 204) : fail(c, 404, 'no such protection');
});
