/**
 * A user's API tokens: create (the token is in this answer only), list
 * (never the secret), revoke. The user themself or the hub admin.
 */
import { Hono } from 'hono';
import { z } from 'zod';
import { eq } from 'drizzle-orm';
import { drizzle } from 'drizzle-orm/d1';
import { createToken, revokeToken, tokenView } from '../tokens.js';
import { tokens, users } from '../storage-d1/schema.js';
import { fail, readBody, requireSelfOrAdmin, RoleSchema, type ApiEnv } from './api-common.js';

/** Ten years: any longer is as good as no expiry, and keeps the arithmetic far from overflow. */
const MAX_EXPIRES_IN = 10 * 365 * 24 * 3600;

export const NewTokenSchema = z.strictObject({
  scopes: z.array(RoleSchema).min(1, 'give at least one scope').max(3),
  expires_in: z.number().int().min(1).max(MAX_EXPIRES_IN).optional().describe('seconds until the token expires; without it, it never does'),
});

export const tokensApi = new Hono<ApiEnv>();

/** The user row when the caller may manage `name`'s tokens, else the answer. */
async function owner(c: Parameters<typeof requireSelfOrAdmin>[0], name: string): Promise<Response | null> {
  const refused = requireSelfOrAdmin(c, name);
  if (refused) return refused;
  const row = await drizzle(c.env.DB).select({ name: users.name }).from(users).where(eq(users.name, name)).get();
  return row ? null : fail(c, 404, 'no such user');
}

tokensApi.post('/users/:name/tokens', async (c) => {
  const name = c.req.param('name');
  const refused = await owner(c, name);
  if (refused) return refused;
  const body = await readBody(c, NewTokenSchema);
  if (body instanceof Response) return body;
  const made = await createToken(c.env, name, body.scopes, body.expires_in);
  if (!made) return fail(c, 503, 'tokens need HUB_SECRET (or HUB_ADMIN_TOKEN) to be set');
  return c.json({ ...tokenView(made.row), token: made.token }, 201);
});

tokensApi.get('/users/:name/tokens', async (c) => {
  const name = c.req.param('name');
  const refused = await owner(c, name);
  if (refused) return refused;
  const rows = await drizzle(c.env.DB).select().from(tokens).where(eq(tokens.user, name)).orderBy(tokens.createdAt, tokens.id).all();
  return c.json({ tokens: rows.map(tokenView) });
});

tokensApi.delete('/users/:name/tokens/:id', async (c) => {
  const name = c.req.param('name');
  const refused = await owner(c, name);
  if (refused) return refused;
  return (await revokeToken(c.env, name, c.req.param('id'))) ? c.body(null, 204) : fail(c, 404, 'no such token');
});
