/**
 * Fossil logins (docs/fossil-sync.md §3). The client proves knowledge of
 *
 *   SECRET    = sha1_hex(PROJECT_CODE + "/" + USER + "/" + PASSWORD)
 *   SIGNATURE = sha1_hex(NONCE + SECRET)
 *
 * so the hub must derive SECRET for any user and repository. It opens the
 * user's password sealed in D1 (worker/seal.ts) and hashes it with the
 * repository's project code; README "Fossil logins" explains the choice.
 * Roles then map to fossil capability letters (src/login.c).
 */
import { eq } from 'drizzle-orm';
import { drizzle } from 'drizzle-orm/d1';
import type { Env } from './env.js';
import { roleIn, type Principal } from './auth.js';
import { timingSafeEqualText } from './password.js';
import { openPassword } from './seal.js';
import { fossilTokenPasswords } from './tokens.js';
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
  const password = row ? await openPassword(env, userName, row.sealed) : null;
  const out: string[] = [];
  if (password !== null) {
    out.push(await sharedSecret(projectCode, userName, password));
    if (HEX40.test(password)) out.push(password);
  }
  // The user's unrestricted API tokens work as fossil passwords too (tokens.ts fossilTokenPasswords).
  if (row) for (const token of await fossilTokenPasswords(env, userName)) out.push(await sharedSecret(projectCode, userName, token));
  return out;
}

/** Secrets that log in as the hub admin: any user name with the admin token as its password (as for git's Basic auth). */
async function adminSecrets(env: Env, userName: string, projectCode: string): Promise<string[]> {
  const token = env.HUB_ADMIN_TOKEN;
  if (!token) return [];
  const out = [await sharedSecret(projectCode, userName, token)];
  if (HEX40.test(token)) out.push(token);
  return out;
}

/** A login card's fields (USER already unescaped). */
export interface LoginCard {
  user: string;
  nonce: string;
  signature: string;
}

/** Whether `signature` = sha1(nonce + one of `secrets`). */
async function signedWithAny(card: LoginCard, secrets: string[]): Promise<boolean> {
  let ok = false;
  // Every candidate is checked (no early exit), so timing does not tell which one matched.
  for (const s of secrets) if (timingSafeEqualText(await sha1Hex(card.nonce + s), card.signature.toLowerCase())) ok = true;
  return ok;
}

/**
 * Verifies a login card for the repository of `projectCode`: the principal
 * it proves, or null (unknown user, bad signature: fossil's "login failed").
 * `nobody` and `anonymous` log in without a check, as on fossil server.
 */
export async function verifyLogin(env: Env, card: LoginCard, projectCode: string): Promise<Principal | null> {
  if (card.user === 'nobody' || card.user === 'anonymous') return { kind: 'anonymous' };
  if (!HEX40.test(card.signature.toLowerCase())) return null;
  if (await signedWithAny(card, await adminSecrets(env, card.user, projectCode))) return { kind: 'admin' };
  if (await signedWithAny(card, await fossilSecrets(env, card.user, projectCode))) return { kind: 'user', name: card.user };
  return null;
}

/**
 * Fossil capability letters of a hub role: `g` clone, `o` read (pull), `i`
 * write (push), `y` unversioned write, `x` private content. Read members and
 * anonymous users of public repositories clone and pull; write members push
 * and push unversioned files; admins also sync private artifacts.
 */
export function capabilitiesOf(role: Role | null): string {
  switch (role) {
    case 'read':
      return 'go';
    case 'write':
      return 'goiy';
    case 'admin':
      return 'goiyx';
    default:
      return '';
  }
}

/** The capabilities of a principal in a repository. */
export async function fossilCapabilities(env: Env, who: Principal, repo: RepoRow): Promise<string> {
  return capabilitiesOf(await roleIn(env, who, repo));
}
