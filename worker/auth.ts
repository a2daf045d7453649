/**
 * Who is asking, and may they. Credentials come as `Authorization: Bearer
 * <token>` (API: the admin token or a user's API token) or HTTP Basic (git
 * sends Basic only after a 401): the password is the user's password, an API
 * token of theirs (any user name goes with a token: the token names its
 * owner), or the admin token (any user name). Password logins are rate
 * limited per user name and client address (rate-limit.ts).
 */
import { eq, and } from 'drizzle-orm';
import { drizzle } from 'drizzle-orm/d1';
import type { Env } from './env.js';
import { verifyLogin, timingSafeEqual } from './password.js';
import { clearUserFailures, loginCheck, loginCheckOf, loginCheckQuery, recordLoginFailure, type LoginFailureRow } from './rate-limit.js';
import { scopeCeiling, tokenId, verifyToken } from './tokens.js';
import { users, memberships, type Role, type RepoRow } from './storage-d1/schema.js';

/**
 * A caller. A user authenticated by a token carries `limit`, the highest role
 * its scopes allow: every role of theirs is capped at it.
 */
export type Principal = { kind: 'admin' } | { kind: 'user'; name: string; limit?: Role } | { kind: 'anonymous' };

/** The outcome of resolving credentials: a principal, credentials that did not check out, or too many failures lately. */
export type Authentication = Principal | { kind: 'invalid' } | { kind: 'limited'; retryAfter: number };

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

async function sha256(text: string): Promise<Uint8Array> {
  return new Uint8Array(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(text)));
}

/** Whether `token` is the admin token; compared as SHA-256 digests, so neither content nor length leaks through timing. */
export async function isAdminToken(env: Pick<Env, 'HUB_ADMIN_TOKEN'>, token: string): Promise<boolean> {
  if (!env.HUB_ADMIN_TOKEN) return false;
  return timingSafeEqual(await sha256(token), await adminDigest(env.HUB_ADMIN_TOKEN));
}

/** The admin token's digest, computed once per isolate (per token value). */
let adminDigestCache: { token: string; digest: Promise<Uint8Array> } | null = null;
function adminDigest(token: string): Promise<Uint8Array> {
  if (adminDigestCache?.token !== token) adminDigestCache = { token, digest: sha256(token) };
  return adminDigestCache.digest;
}

/** Longest user name or password looked at (the API caps passwords at 1024 characters). */
const MAX_CREDENTIAL = 1024;

/** The principal of a verified token: its owner, capped by its scopes. */
function tokenUser(t: { user: string; scopes: Role[] }): Principal {
  return { kind: 'user', name: t.user, limit: scopeCeiling(t.scopes) };
}

/** A token's principal, or invalid (counted against the client address). */
async function tokenPrincipal(env: Env, token: string, address: string | null): Promise<Authentication> {
  const t = await verifyToken(env, token);
  if (t) return tokenUser(t);
  await recordLoginFailure(env, null, address);
  return { kind: 'invalid' };
}

/** The credentials of an Authorization header: the secret, and the Basic user name (null for Bearer, or past the length cap). */
type Credentials = { secret: string; user: string | null; bearer: boolean };

/** Parses Bearer or Basic credentials; null when malformed or the secret is longer than looked at. */
function parseCredentials(authorization: string): Credentials | null {
  const bearer = /^Bearer\s+(\S+)\s*$/i.exec(authorization);
  const basic = bearer ? null : parseBasic(authorization);
  if (!bearer && !basic) return null;
  const secret = bearer ? bearer[1] : basic!.password;
  if (secret.length > MAX_CREDENTIAL) return null;
  return { secret, user: basic && basic.user.length <= MAX_CREDENTIAL ? basic.user : null, bearer: bearer !== null };
}

/** The user name a login with these credentials counts against (tokens name their owner, so none). */
function limitedUser(cred: Credentials): string | null {
  return tokenId(cred.secret) === null ? cred.user : null;
}

/**
 * Resolves the request's credentials against the admin token, API tokens and
 * the users table. `address` is the client's (rate-limit.ts clientAddress).
 */
export async function authenticate(env: Env, authorization: string | null | undefined, address: string | null = null): Promise<Authentication> {
  if (!authorization) return { kind: 'anonymous' };
  const cred = parseCredentials(authorization);
  if (cred === null) return { kind: 'invalid' };
  return verify(env, cred, address, await loginCheck(env, limitedUser(cred), address));
}

/** A user's row as a password login needs it. */
type PasswordRow = { name: string; passwordHash: string };

/** The read of the user a password login names, one statement (authorize batches it with its other reads). */
function passwordQuery(env: Env, cred: Credentials): D1PreparedStatement | null {
  if (cred.user === null || cred.bearer || tokenId(cred.secret) !== null) return null;
  return env.DB.prepare('SELECT name, password_hash AS passwordHash FROM users WHERE name = ?').bind(cred.user);
}

/**
 * authenticate once the failed-login limits were read: a password is refused
 * when limited, before any hashing. The admin token and API tokens are checked
 * even then (rate-limit.ts: the limits slow password guessing, and a secret of
 * 256 bits cannot be guessed), so someone else's failures from the same
 * address do not lock the hub admin or a token's job out; a wrong one while
 * limited is refused as a password is. `read`: the user's row when it was read
 * with the limits (null: no such user), else it is read here.
 */
async function verify(env: Env, cred: Credentials, address: string | null, check: { retryAfter: number; userFailures: boolean }, read?: PasswordRow | null): Promise<Authentication> {
  const { secret, user } = cred;
  if (await isAdminToken(env, secret)) return { kind: 'admin' };
  if (check.retryAfter > 0) {
    const t = tokenId(secret) === null ? null : await verifyToken(env, secret);
    return t ? tokenUser(t) : { kind: 'limited', retryAfter: check.retryAfter };
  }
  if (tokenId(secret) !== null || cred.bearer) return tokenPrincipal(env, secret, address);
  const row = user === null ? undefined : read !== undefined ? (read ?? undefined) : await drizzle(env.DB).select().from(users).where(eq(users.name, user)).get();
  // Verify against a dummy hash for unknown users too, so timing does not reveal which names exist
  // (a dummy never verifies, so it is never cached: a cache hit is only ever a right password).
  const ok = await verifyLogin(user ?? '', secret, row?.passwordHash ?? DUMMY_HASH);
  if (row && ok) {
    if (check.userFailures) await clearUserFailures(env, row.name);
    return { kind: 'user', name: row.name };
  }
  await recordLoginFailure(env, user, address);
  return { kind: 'invalid' };
}

const DUMMY_HASH = 'pbkdf2-sha256$100000$AAAAAAAAAAAAAAAAAAAAAA==$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=';

export const RANK: Record<Role, number> = { read: 1, write: 2, admin: 3 };

/** The lower of two roles. */
export function minRole(a: Role, b: Role): Role {
  return RANK[a] <= RANK[b] ? a : b;
}

/** Whether `role` is at least `need`. */
export function atLeast(role: Role | null, need: Role): boolean {
  return role !== null && RANK[role] >= RANK[need];
}

/** The role a principal has in a repository (public repositories give everyone read; a token's scopes cap it). */
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
    if (role !== null && who.limit !== undefined) role = minRole(role, who.limit);
  }
  return role;
}

/**
 * The access decision, worded as HTTP answers: 401 asks for credentials (git
 * sends them only after one), 404 hides what the caller may not see (a private
 * repository and a missing one look the same), 403 refuses a known caller,
 * 429 when the client or user name failed to log in too often lately.
 */
export type Access =
  | { ok: true; repo: RepoRow; role: Role; who: Principal; also?: unknown[] }
  | { ok: false; status: 401 | 403 | 404 }
  | { ok: false; status: 429; retryAfter: number };

/** A repository row and a user's membership role in it (null: none), read fresh. */
type RepoLookup = { repo: RepoRow; member: Role | null } | null;

/** The row of repoQuery. */
type RepoLookupRow = { name: string; id: string; kind: RepoRow['kind']; public: number; created_at: number; role: Role | null };

/**
 * The read of the repository named `name`, and `user`'s membership in it, in
 * one D1 statement (this runs on every git request with credentials, and on
 * anonymous ones this isolate has no cached id for). Roles and visibility are
 * never cached in the Worker: a deleted repository or a visibility or
 * membership change must apply to the very next request, whichever isolate
 * serves it (the ids it remembers are checked by the DO, see cachedRepo).
 */
function repoQuery(env: Env, name: string, user: string | null): D1PreparedStatement {
  return env.DB.prepare(
    `SELECT r.name, r.id, r.kind, r.public, r.created_at, m.role FROM repos r LEFT JOIN memberships m ON m.repo = r.name AND m.user = ?2 WHERE r.name = ?1`,
  ).bind(name, user);
}

function repoLookupOf(r: RepoLookupRow | null | undefined): RepoLookup {
  if (!r) return null;
  const repo: RepoRow = { name: r.name, id: r.id, kind: r.kind, public: r.public !== 0, createdAt: r.created_at };
  rememberRepo(repo);
  return { repo, member: r.role };
}

/** What the Worker keeps of a repository between requests: the facts that never change for its id. */
export type CachedRepo = Pick<RepoRow, 'name' | 'id' | 'kind'>;

/** Most names kept per isolate (oldest out first). */
const REPO_IDS_MAX = 4096;

/**
 * Repository name -> immutable id and kind, per isolate, so that requests
 * the repository's Durable Object can check for themselves skip the D1 read:
 * anonymous git reads and every fossil xfer (the DO reads D1 for logins).
 * Nothing here decides access: the DO checks that the id is still the
 * repository's (a deleted one answers `gone`, and the entry is dropped) and,
 * for anonymous callers, that it is public (durable/access.ts).
 */
const repoIds = new Map<string, CachedRepo>();

/** The cached id and kind of the repository named `name`, if this isolate has read its row. */
export function cachedRepo(name: string): CachedRepo | undefined {
  return repoIds.get(name);
}

/** Remembers a repository row just read from D1. */
export function rememberRepo(row: RepoRow): void {
  repoIds.delete(row.name);
  repoIds.set(row.name, { name: row.name, id: row.id, kind: row.kind });
  // Oldest first out (a Map keeps insertion order).
  while (repoIds.size > REPO_IDS_MAX) repoIds.delete(repoIds.keys().next().value!);
}

/** Drops the entry of a repository its DO says is gone (only if it still names that id). */
export function forgetRepo(name: string, id: string): void {
  if (repoIds.get(name)?.id === id) repoIds.delete(name);
}

async function lookupRepo(env: Env, name: string, user: string | null): Promise<RepoLookup> {
  return repoLookupOf(await repoQuery(env, name, user).first<RepoLookupRow>());
}

/** roleIn with the membership already read. */
export function roleFrom(who: Principal, repo: RepoRow, member: Role | null): Role | null {
  if (who.kind === 'admin') return 'admin';
  let role: Role | null = repo.public ? 'read' : null;
  if (who.kind === 'user') {
    if (member && (!role || RANK[member] > RANK[role])) role = member;
    if (role !== null && who.limit !== undefined) role = minRole(role, who.limit);
  }
  return role;
}

/** The answer that needs no lookup: failed logins, and anonymous callers asking for more than read (never theirs). */
function decideEarly(who: Authentication, need: Role): Access | null {
  if (who.kind === 'limited') return { ok: false, status: 429, retryAfter: who.retryAfter };
  if (who.kind === 'invalid') return { ok: false, status: 401 };
  if (who.kind === 'anonymous' && need !== 'read') return { ok: false, status: 401 };
  return null;
}

function decideWith(who: Principal, found: RepoLookup, need: Role): Access {
  const role = found ? roleFrom(who, found.repo, found.member) : null;
  if (!found || !role) return { ok: false, status: who.kind === 'anonymous' ? 401 : 404 };
  if (RANK[role] < RANK[need]) return { ok: false, status: who.kind === 'anonymous' ? 401 : 403 };
  return { ok: true, repo: found.repo, role, who };
}

/** The access decision for an already resolved caller. */
export async function decide(env: Env, who: Authentication, name: string, need: Role): Promise<Access> {
  const early = decideEarly(who, need);
  if (early !== null || who.kind === 'limited' || who.kind === 'invalid') return early!;
  return decideWith(who, await lookupRepo(env, name, who.kind === 'user' ? who.name : null), need);
}

/**
 * Decides whether the credentials allow `need` on the named repository. The
 * repository row is read in the same D1 batch as the failed-login counters
 * the credentials are checked against (one round trip, not two): with a user
 * name in Basic credentials, the membership of that name comes in the same
 * read, and is read again only when the credentials resolve to someone else
 * (a token's owner).
 */
export async function authorize(
  env: Env,
  authorization: string | null | undefined,
  name: string,
  need: Role,
  address: string | null = null,
  also?: D1PreparedStatement,
): Promise<Access> {
  // An anonymous push is asked for credentials whatever the repository (git's first try).
  if (!authorization) return need === 'read' ? decideWith({ kind: 'anonymous' }, await lookupRepo(env, name, null), need) : { ok: false, status: 401 };
  const cred = parseCredentials(authorization);
  if (cred === null) return { ok: false, status: 401 };
  const limited = limitedUser(cred);
  const check = loginCheckQuery(env, limited, address);
  // The named user's password hash comes in the same batch (read even when the limits then refuse: no extra round trip).
  const password = passwordQuery(env, cred);
  const statements = [repoQuery(env, name, cred.user)];
  const checkAt = check === null ? -1 : statements.push(check) - 1;
  const passwordAt = password === null ? -1 : statements.push(password) - 1;
  const alsoAt = also === undefined ? -1 : statements.push(also) - 1;
  const results = await env.DB.batch<unknown>(statements);
  const repoRows = results[0];
  const failures = (checkAt < 0 ? [] : results[checkAt].results) as LoginFailureRow[];
  const found = passwordAt < 0 ? undefined : ((results[passwordAt].results[0] as PasswordRow | undefined) ?? null);
  const who = await verify(env, cred, address, loginCheckOf(env, limited, address, failures), found);
  const early = decideEarly(who, need);
  if (early !== null || who.kind === 'limited' || who.kind === 'invalid') return early!;
  const access = who.kind === 'user' && who.name !== cred.user ? await decide(env, who, name, need) : decideWith(who, repoLookupOf(repoRows.results[0] as RepoLookupRow | undefined), need);
  return access.ok && alsoAt >= 0 ? { ...access, also: results[alsoAt].results } : access;
}
