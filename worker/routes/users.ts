/**
 * Accounts: create (the admin, or anyone when HUB_OPEN_SIGNUP=true), list
 * (admin), show and delete (the user or the admin), change the password (the
 * user with the old password, or the admin).
 */
import { Hono } from 'hono';
import { z } from 'zod';
import { eq } from 'drizzle-orm';
import { drizzle } from 'drizzle-orm/d1';
import { hashPassword, verifyPassword } from '../password.js';
import { sealPassword } from '../seal.js';
import { clientAddress, clearUserFailures, loginCheck, recordLoginFailure, signupAttempt } from '../rate-limit.js';
import { memberships, tokens, users } from '../storage-d1/schema.js';
import { fail, PasswordSchema, readBody, requireAdmin, requireSelfOrAdmin, UserNameSchema, type ApiEnv } from './api-common.js';

export const NewUserSchema = z.strictObject({ name: UserNameSchema, password: PasswordSchema });
export const PasswordChangeSchema = z.strictObject({
  old_password: PasswordSchema.optional().describe('required unless the caller is the hub admin'),
  new_password: PasswordSchema,
});

export const usersApi = new Hono<ApiEnv>();

/** Whether anyone may create an account (HUB_OPEN_SIGNUP=true). */
function openSignup(env: ApiEnv['Bindings']): boolean {
  return env.HUB_OPEN_SIGNUP === 'true';
}

usersApi.post('/users', async (c) => {
  if (!openSignup(c.env)) {
    const refused = requireAdmin(c);
    if (refused) return refused;
  }
  const body = await readBody(c, NewUserSchema);
  if (body instanceof Response) return body;
  // Open sign-up is limited per client address (counted before the password is hashed); the admin is not.
  if (c.var.who.kind !== 'admin') {
    const retryAfter = await signupAttempt(c.env, clientAddress(c.req.raw.headers));
    if (retryAfter > 0) {
      c.header('Retry-After', String(retryAfter));
      return fail(c, 429, 'too many sign-ups from this address; try again later');
    }
  }
  const { name, password } = body;
  // fossil signs anyone in as these two without checking a password, so such an account could never use its roles over fossil.
  if (name === 'anonymous' || name === 'nobody') return fail(c, 400, `name: "${name}" is reserved (fossil's user for callers without a login)`);
  const db = drizzle(c.env.DB);
  if (await db.select().from(users).where(eq(users.name, name)).get()) return fail(c, 409, 'user exists');
  const inserted = await db
    .insert(users)
    .values({ name, passwordHash: await hashPassword(password), passwordSealed: await sealPassword(c.env, name, password), createdAt: Date.now() })
    .onConflictDoNothing()
    .returning()
    .get();
  return inserted ? c.json({ name }, 201) : fail(c, 409, 'user exists');
});

usersApi.get('/users', async (c) => {
  const refused = requireAdmin(c);
  if (refused) return refused;
  const rows = await drizzle(c.env.DB).select({ name: users.name, createdAt: users.createdAt }).from(users).orderBy(users.name).all();
  return c.json({ users: rows.map((r) => ({ name: r.name, created: new Date(r.createdAt).toISOString() })) });
});

usersApi.get('/users/:name', async (c) => {
  const name = c.req.param('name');
  const refused = requireSelfOrAdmin(c, name);
  if (refused) return refused;
  const db = drizzle(c.env.DB);
  const row = await db.select().from(users).where(eq(users.name, name)).get();
  if (!row) return fail(c, 404, 'no such user');
  const repos = await db.select({ repo: memberships.repo, role: memberships.role }).from(memberships).where(eq(memberships.user, name)).orderBy(memberships.repo).all();
  return c.json({ name: row.name, created: new Date(row.createdAt).toISOString(), repos });
});

usersApi.delete('/users/:name', async (c) => {
  const name = c.req.param('name');
  const refused = requireSelfOrAdmin(c, name);
  if (refused) return refused;
  const db = drizzle(c.env.DB);
  if (!(await db.select({ name: users.name }).from(users).where(eq(users.name, name)).get())) return fail(c, 404, 'no such user');
  // Memberships and tokens go in the same batch (a transaction in D1); the audit log keeps the name.
  await db.batch([db.delete(tokens).where(eq(tokens.user, name)), db.delete(memberships).where(eq(memberships.user, name)), db.delete(users).where(eq(users.name, name))]);
  return c.body(null, 204);
});

/**
 * The admin sets any password; anyone else proves the old one (a token alone
 * does not change a password). A wrong old password counts as a failed login.
 */
usersApi.put('/users/:name/password', async (c) => {
  const name = c.req.param('name');
  const body = await readBody(c, PasswordChangeSchema);
  if (body instanceof Response) return body;
  const db = drizzle(c.env.DB);
  const row = await db.select().from(users).where(eq(users.name, name)).get();
  if (c.var.who.kind !== 'admin') {
    if (body.old_password === undefined) return fail(c, 400, 'old_password: required');
    const address = clientAddress(c.req.raw.headers);
    const check = await loginCheck(c.env, name, address);
    if (check.retryAfter > 0) {
      c.header('Retry-After', String(check.retryAfter));
      return fail(c, 429, 'too many failed logins; try again later');
    }
    // An unknown name answers exactly as a wrong password does.
    if (!row || !(await verifyPassword(body.old_password, row.passwordHash))) {
      await recordLoginFailure(c.env, name, address);
      return fail(c, 403, 'old_password does not match');
    }
    if (check.userFailures) await clearUserFailures(c.env, name);
  } else if (!row) {
    return fail(c, 404, 'no such user');
  }
  await db
    .update(users)
    .set({ passwordHash: await hashPassword(body.new_password), passwordSealed: await sealPassword(c.env, name, body.new_password) })
    .where(eq(users.name, name));
  return c.body(null, 204);
});
