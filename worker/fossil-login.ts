/**
 * Fossil logins (docs/fossil-sync.md §3). The client proves knowledge of
 *
 *   SECRET    = sha1_hex(PROJECT_CODE + "/" + USER + "/" + PASSWORD)
 *   SIGNATURE = sha1_hex(NONCE + SECRET)
 *
 * so the hub must derive SECRET for any user and repository. It opens the
 * user's password sealed in D1 (worker/seal.ts) and hashes it with the
 * repository's project code; README "Fossil logins" explains the choice.
 * Roles then map to fossil capability letters (shared/protocols/fossil/caps.ts);
 * the xfer server checks the login card's nonce and signature.
 */
import { eq } from 'drizzle-orm';
import { drizzle } from 'drizzle-orm/d1';
import type { Env } from './env.js';
import { roleFrom } from './auth.js';
import { ROLE_CAPS, type XferContext, type XferUser } from '../shared/protocols/fossil/index.js';
import { clearUserFailures, loginCheckOf, loginCheckQuery, recordLoginFailure, type LoginFailureRow } from './rate-limit.js';
import { openPassword } from './seal.js';
import { fossilTokenPasswords, fossilTokenPasswordsOf, fossilTokenQuery, type FossilTokenRow } from './tokens.js';
import { users, type RepoRow, type Role } from './storage-d1/schema.js';

const HEX40 = /^[0-9a-f]{40}$/;

/** Lowercase hex SHA-1 of a UTF-8 string. */
export async function sha1Hex(text: string): Promise<string> {
  const d = new Uint8Array(await crypto.subtle.digest('SHA-1', new TextEncoder().encode(text)));
  let s = '';
  for (const b of d) s += b.toString(16).padStart(2, '0');
  return s;
}

/** Fossil's shared secret of a password (src/sha1.c sha1_shared_secret). */
export function sharedSecret(projectCode: string, userName: string, password: string): Promise<string> {
  return sha1Hex(`${projectCode}/${userName}/${password}`);
}

/**
 * The shared secrets a login card of `userName` may be signed with in the
 * repository of `projectCode`: from the sealed password now (a password of
 * exactly 40 hex digits is taken by the client as the secret itself, so it
 * counts as is too). A list, so other credentials (tokens) can join it.
 */
export async function fossilSecrets(env: Env, userName: string, projectCode: string): Promise<string[]> {
  const row = await drizzle(env.DB).select({ sealed: users.passwordSealed }).from(users).where(eq(users.name, userName)).get();
  return row ? secretsOf(env, userName, projectCode, row.sealed) : [];
}

/** fossilSecrets of a user whose sealed password (null: none) was read, and their token rows when read with it. */
async function secretsOf(env: Env, userName: string, projectCode: string, sealed: string | null, tokenRows?: FossilTokenRow[]): Promise<string[]> {
  const password = await openPassword(env, userName, sealed);
  const out: string[] = [];
  if (password !== null) {
    out.push(await sharedSecret(projectCode, userName, password));
    if (HEX40.test(password)) out.push(password);
  }
  // The user's unrestricted API tokens work as fossil passwords too (tokens.ts fossilTokenPasswords).
  const tokens = tokenRows === undefined ? await fossilTokenPasswords(env, userName) : await fossilTokenPasswordsOf(env, tokenRows);
  for (const token of tokens) out.push(await sharedSecret(projectCode, userName, token));
  return out;
}

/** Secrets that log in as the hub admin: a name that is no hub user, with the admin token as its password (as for git's Basic auth). */
async function adminSecrets(env: Env, userName: string, projectCode: string): Promise<string[]> {
  const token = env.HUB_ADMIN_TOKEN;
  if (!token) return [];
  const out = [await sharedSecret(projectCode, userName, token)];
  if (HEX40.test(token)) out.push(token);
  return out;
}

/**
 * The user behind a fossil login name in `repo`, as the xfer server needs it
 * (capabilities and candidate secrets), or null when nobody can log in under
 * that name (the login then fails). A hub user gets the capabilities of its
 * role (public repositories give everyone read); any other name may log in
 * only as the hub admin, with the admin token as its password.
 */
export async function fossilUser(env: Env, repo: RepoRow, login: string, projectCode: string): Promise<XferUser | null> {
  return fossilUserOf(env, repo, login, projectCode, await userQuery(env, repo, login).first<UserRow>());
}

/** A hub user's sealed password and membership role in the repository, as userQuery reads them. */
type UserRow = { sealed: string | null; role: Role | null };

/** The read behind fossilUser: the user (no row: no such user) and their membership, in one statement. */
function userQuery(env: Env, repo: RepoRow, login: string): D1PreparedStatement {
  return env.DB.prepare(`SELECT u.password_sealed AS sealed, m.role FROM users u LEFT JOIN memberships m ON m.repo = ?2 AND m.user = u.name WHERE u.name = ?1`).bind(
    login,
    repo.name,
  );
}

/**
 * fossilUser once its row (and, when batched with it, the user's token rows) was read. `tokensOnly`
 * (a login name or address past the failed-login limits): the admin token and API tokens, which
 * cannot be guessed, but not the password (auth.ts verify does the same for git).
 */
async function fossilUserOf(
  env: Env,
  repo: RepoRow,
  login: string,
  projectCode: string,
  row: UserRow | null | undefined,
  tokenRows?: FossilTokenRow[],
  tokensOnly = false,
): Promise<XferUser | null> {
  if (!row) {
    const secrets = await adminSecrets(env, login, projectCode);
    // The hub admin is null in the audit log, as for git.
    return secrets.length > 0 ? { caps: fossilCaps('admin'), secrets, actor: null } : null;
  }
  const secrets = await secretsOf(env, login, projectCode, tokensOnly ? null : row.sealed, tokenRows);
  if (secrets.length === 0) return null;
  return { caps: fossilCaps(roleFrom({ kind: 'user', name: login }, repo, row.role)), secrets };
}

/**
 * The login side of an xfer request from `address` (rate-limit.ts
 * clientAddress, passed on by worker/routes/fossil.ts): fossilUser behind the
 * failed-login limits git's Basic auth has (worker/auth.ts). For a user name or
 * address locked out only the admin token and API tokens are tried, so a card
 * signed with a password fails (`error login\sfailed`) before the password is
 * opened, and that refusal is not counted again; a failed card counts against
 * both keys; a passed one clears the name's failures, as a git login does.
 */
export function fossilLogins(env: Env, repo: RepoRow, address: string | null): Pick<XferContext, 'user' | 'onLogin'> {
  // Per login name within this request: the outcome of its limit check.
  const checked = new Map<string, { limited: boolean; userFailures: boolean }>();
  return {
    user: async (login, projectCode) => {
      // The counters, the user and membership, and the user's tokens are read in one batch (one
      // D1 round trip from the DO, per login round: nothing of it is kept); the counters still gate any secret.
      const query = loginCheckQuery(env, login, address)!;
      const [counters, user, tokenRows] = await env.DB.batch<unknown>([query, userQuery(env, repo, login), fossilTokenQuery(env, login)]);
      const check = loginCheckOf(env, login, address, counters.results as LoginFailureRow[]);
      const limited = check.retryAfter > 0;
      checked.set(login, { limited, userFailures: check.userFailures });
      return fossilUserOf(env, repo, login, projectCode, user.results[0] as UserRow | undefined, tokenRows.results as FossilTokenRow[], limited);
    },
    onLogin: async (login, ok) => {
      const check = checked.get(login);
      if (check?.limited) return;
      if (!ok) await recordLoginFailure(env, login, address);
      else if (check?.userFailures) await clearUserFailures(env, login);
    },
  };
}

/** Capability letters of a hub role (shared/protocols/fossil/caps.ts decides them); none without a role. */
export function fossilCaps(role: Role | null): string {
  return role === null ? '' : ROLE_CAPS[role];
}

/** Capability letters of a request without a login: fossil's `nobody` on public repositories, nothing on private ones. */
export function anonymousCaps(repo: RepoRow): string {
  return repo.public ? ROLE_CAPS.nobody : '';
}
