/**
 * Who is asking, and may they. Credentials come as `Authorization: Bearer
 * <admin token>` (API) or HTTP Basic (git sends Basic only after a 401). The
 * admin token also works as a Basic password, for any user name.
 */
import { eq, and } from 'drizzle-orm';
import { drizzle } from 'drizzle-orm/d1';
import type { Env } from './env.js';
import { verifyPassword, timingSafeEqualText } from './password.js';
import { repos, users, memberships, type Role, type RepoRow } from './storage-d1/schema.js';

export type Principal = { kind: 'admin' } | { kind: 'user'; name: string } | { kind: 'anonymous' };

/** The outcome of resolving credentials: a principal, or credentials that did not check out. */
export type Authentication = Principal | { kind: 'invalid' };

/** Parses `Authorization: Basic base64(user:password)`; null if absent or malformed. */
export function parseBasic(header: string | undefined | null): { user: string; password: string } | null {
  const m = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(header ?? '');
  if (!m) return null;
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false }).decode(Uint8Array.from(atob(m[1]), (c) => c.charCodeAt(0)));
  } catch {
    return null;
  }
  const colon = text.indexOf(':');
  return colon < 0 ? null : { user: text.slice(0, colon), password: text.slice(colon + 1) };
}

function isAdminToken(env: Env, token: string): boolean {
  return !!env.HUB_ADMIN_TOKEN && timingSafeEqualText(token, env.HUB_ADMIN_TOKEN);
}

/** Resolves the request's credentials against the admin token and the users table. */
export async function authenticate(env: Env, authorization: string | null | undefined): Promise<Authentication> {
  if (!authorization) return { kind: 'anonymous' };
  const bearer = /^Bearer\s+(\S+)\s*$/i.exec(authorization);
  if (bearer) return isAdminToken(env, bearer[1]) ? { kind: 'admin' } : { kind: 'invalid' };
  const basic = parseBasic(authorization);
  if (!basic) return { kind: 'invalid' };
  if (isAdminToken(env, basic.password)) return { kind: 'admin' };
  const row = await drizzle(env.DB).select().from(users).where(eq(users.name, basic.user)).get();
  // Verify against a dummy hash for unknown users too, so timing does not reveal which names exist.
  const ok = await verifyPassword(basic.password, row?.passwordHash ?? DUMMY_HASH);
  return row && ok ? { kind: 'user', name: row.name } : { kind: 'invalid' };
}

const DUMMY_HASH = 'pbkdf2-sha256$100000$AAAAAAAAAAAAAAAAAAAAAA==$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=';

const RANK: Record<Role, number> = { read: 1, write: 2, admin: 3 };

/** The role a principal has in a repository (public repositories give everyone read). */
export async function roleIn(env: Env, who: Principal, repo: RepoRow): Promise<Role | null> {
  if (who.kind === 'admin') return 'admin';
  let role: Role | null = repo.public ? 'read' : null;
  if (who.kind === 'user') {
    const m = await drizzle(env.DB)
      .select({ role: memberships.role })
      .from(memberships)
      .where(and(eq(memberships.repo, repo.name), eq(memberships.user, who.name)))
      .get();
    if (m && (!role || RANK[m.role] > RANK[role])) role = m.role;
  }
  return role;
}

/**
 * The access decision, worded as HTTP answers: 401 asks for credentials (git
 * sends them only after one), 404 hides what the caller may not see (a private
 * repository and a missing one look the same), 403 refuses a known caller.
 */
export type Access = { ok: true; repo: RepoRow; role: Role } | { ok: false; status: 401 | 403 | 404 };

/** Decides whether the credentials allow `need` on the named repository. */
export async function authorize(env: Env, authorization: string | null | undefined, name: string, need: Role): Promise<Access> {
  const who = await authenticate(env, authorization);
  if (who.kind === 'invalid') return { ok: false, status: 401 };
  const repo = await drizzle(env.DB).select().from(repos).where(eq(repos.name, name)).get();
  const role = repo ? await roleIn(env, who, repo) : null;
  if (!repo || !role) return { ok: false, status: who.kind === 'anonymous' ? 401 : 404 };
  if (RANK[role] < RANK[need]) return { ok: false, status: who.kind === 'anonymous' ? 401 : 403 };
  return { ok: true, repo, role };
}
