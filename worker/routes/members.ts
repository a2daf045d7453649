/** A repository's members and their roles: list, set, remove (the repository's admins and the hub admin). */
import { Hono } from 'hono';
import { z } from 'zod';
import { and, eq } from 'drizzle-orm';
import { drizzle } from 'drizzle-orm/d1';
import { memberships, users } from '../storage-d1/schema.js';
import { fail, readBody, repoFor, RoleSchema, type ApiEnv } from './api-common.js';

export const MemberSchema = z.strictObject({ role: RoleSchema });

export const membersApi = new Hono<ApiEnv>();

membersApi.get('/repos/:name/members', async (c) => {
  const r = await repoFor(c, c.req.param('name'), 'admin');
  if (r instanceof Response) return r;
  const rows = await drizzle(c.env.DB)
    .select({ user: memberships.user, role: memberships.role })
    .from(memberships)
    .where(eq(memberships.repo, r.repo.name))
    .orderBy(memberships.user)
    .all();
  return c.json({ members: rows });
});

membersApi.put('/repos/:name/members/:user', async (c) => {
  const r = await repoFor(c, c.req.param('name'), 'admin');
  if (r instanceof Response) return r;
  const body = await readBody(c, MemberSchema);
  if (body instanceof Response) return body;
  const user = c.req.param('user');
  const db = drizzle(c.env.DB);
  if (!(await db.select({ name: users.name }).from(users).where(eq(users.name, user)).get())) return fail(c, 404, 'no such user');
  const repo = r.repo.name;
  await db
    .insert(memberships)
    .values({ repo, user, role: body.role })
    .onConflictDoUpdate({ target: [memberships.repo, memberships.user], set: { role: body.role } });
  return c.json({ repo, user, role: body.role });
});

membersApi.delete('/repos/:name/members/:user', async (c) => {
  const r = await repoFor(c, c.req.param('name'), 'admin');
  if (r instanceof Response) return r;
  const gone = await drizzle(c.env.DB)
    .delete(memberships)
    .where(and(eq(memberships.repo, r.repo.name), eq(memberships.user, c.req.param('user'))))
    .returning()
    .get();
  return gone ? c.body(null, 204) : fail(c, 404, 'no such membership');
});
