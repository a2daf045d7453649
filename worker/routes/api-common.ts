/**
 * What every /api route shares: the caller (resolved once per request by the
 * middleware in api.ts), JSON error answers, access checks worded like the
 * git routes' (401 / 404 / 403), and request bodies validated by a zod schema.
 */
import type { Context } from 'hono';
import { z } from 'zod';
import type { Env } from '../env.js';
import { atLeast, decide, type Principal } from '../auth.js';
import type { RepoRow, Role } from '../storage-d1/schema.js';
import { refNameProblem } from '../../shared/protocols/git/ref-name.js';

export type ApiEnv = { Bindings: Env; Variables: { who: Principal } };
export type ApiContext = Context<ApiEnv>;

/** Largest API request body. */
export const MAX_API_BODY = 64 * 1024;

/** A JSON error answer `{ "error": message }`; 401s ask for credentials. */
export function fail(c: ApiContext, status: 400 | 401 | 403 | 404 | 409 | 413 | 429 | 503, message: string): Response {
  if (status === 401) c.header('WWW-Authenticate', 'Bearer realm="hub"');
  return c.json({ error: message }, status);
}

/**
 * The repository named `name` when the caller has at least `need` in it; else
 * the answer: 401 for anonymous callers (missing and private look alike), 404
 * for a known caller who may not read it, 403 for one who may read but needs more.
 */
export async function repoFor(c: ApiContext, name: string, need: Role): Promise<{ repo: RepoRow; role: Role } | Response> {
  const a = await decide(c.env, c.var.who, name, need);
  if (a.ok) return { repo: a.repo, role: a.role };
  if (a.status === 401) return fail(c, 401, 'authentication required');
  if (a.status === 403) return fail(c, 403, `${need} role required`);
  return fail(c, 404, 'no such repository');
}

/** The hub admin, or a 401/403 answer. */
export function requireAdmin(c: ApiContext): Response | null {
  const who = c.var.who;
  if (who.kind === 'admin') return null;
  return who.kind === 'anonymous' ? fail(c, 401, 'admin token required') : fail(c, 403, 'admin token required');
}

/**
 * Whether the caller may manage the account `name` (its tokens, deleting it):
 * the hub admin, or the user themself with a password or an admin-scoped token.
 * The answer when not: 401 anonymous, 404 another user (names are not
 * confirmed to strangers), 403 a token of theirs without the admin scope.
 */
export function requireSelfOrAdmin(c: ApiContext, name: string): Response | null {
  const who = c.var.who;
  if (who.kind === 'admin') return null;
  if (who.kind === 'anonymous') return fail(c, 401, 'authentication required');
  if (who.name !== name) return fail(c, 404, 'no such user');
  if (!atLeast(who.limit ?? 'admin', 'admin')) return fail(c, 403, 'this needs a token with the admin scope');
  return null;
}

/** The first problem zod found, as one line (`field: message`). */
export function describeIssue(error: z.ZodError): string {
  const issue = error.issues[0];
  if (!issue) return 'invalid request body';
  const path = issue.path.map(String).join('.');
  return path ? `${path}: ${issue.message}` : issue.message;
}

/**
 * The request body parsed as JSON and checked against `schema` (strict
 * objects: unknown fields are refused), or a 400 answer. The Content-Type is
 * not required to say JSON: `curl -d` sends form encoding. The size is capped
 * by the body limit middleware before this reads it.
 */
export async function readBody<T extends z.ZodType>(c: ApiContext, schema: T): Promise<z.infer<T> | Response> {
  let data: unknown;
  try {
    const text = await c.req.text();
    data = text.trim() === '' ? undefined : JSON.parse(text);
  } catch {
    return fail(c, 400, 'body must be JSON');
  }
  const r = schema.safeParse(data);
  return r.success ? r.data : fail(c, 400, describeIssue(r.error));
}

/** Repository names: letters, digits, `._-`, 1-100 chars, not starting with `.`/`-`, not ending in `.git`. */
export function isValidRepoName(name: string): boolean {
  return /^[A-Za-z0-9_][A-Za-z0-9._-]{0,99}$/.test(name) && !name.toLowerCase().endsWith('.git');
}

/** User names: letters, digits, `._-`, 1-64 chars, not starting with `.`/`-`. */
export function isValidUserName(name: string): boolean {
  return /^[A-Za-z0-9_][A-Za-z0-9._-]{0,63}$/.test(name);
}

export const RoleSchema = z.enum(['read', 'write', 'admin']);
export const UserNameSchema = z.string().refine(isValidUserName, 'a user name is 1-64 letters, digits, ".", "_" or "-", not starting with "." or "-"');
export const RepoNameSchema = z
  .string()
  .refine(isValidRepoName, 'a repository name is 1-100 letters, digits, ".", "_" or "-", not starting with "." or "-" and not ending in ".git"');
export const PasswordSchema = z.string().min(1, 'the password must not be empty').max(1024, 'the password is longer than 1024 characters');

export const NewRepoSchema = z.strictObject({
  name: RepoNameSchema,
  kind: z.enum(['git', 'fossil']).default('git'),
  public: z.boolean().default(true),
  /**
   * Fossil only: an existing repository's project code (`fossil info`), so
   * that it can be pushed here; the repository then starts empty, without
   * the initial check-in (its own comes with the push).
   */
  project_code: z
    .string()
    .regex(/^[0-9a-f]{40}$/, 'must be 40 lowercase hex digits')
    .optional(),
});

export const RepoPatchSchema = z.strictObject({
  default_branch: z
    .string()
    .refine((b) => !b.startsWith('refs/') && refNameProblem(`refs/heads/${b}`) === null, 'must be a valid branch name (without refs/heads/)')
    .optional(),
  public: z.boolean().optional(),
});
