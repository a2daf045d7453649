/**
 * API tokens. A token is
 *
 *   hub_<id>_<mac>     id  = 20 hex digits (80 random bits), the row's key
 *                      mac = base64url(HMAC-SHA-256(K, "token:" + id)), 43 chars
 *
 * where K is derived by HKDF from the hub secret (HUB_SECRET, else the admin
 * token; see seal.ts). D1 keeps only SHA-256(token): a token is 256 bits of
 * keyed output, so a fast hash is enough (nothing to brute-force), and the
 * table alone does not give the token. The hub can still recompute a token
 * from its id, which fossil's login needs (README "Tokens").
 */
import { and, eq } from 'drizzle-orm';
import { drizzle } from 'drizzle-orm/d1';
import type { Env } from './env.js';
import { timingSafeEqualText } from './password.js';
import { sealSecret } from './seal.js';
import { tokens, type Role, type TokenRow } from './storage-d1/schema.js';

export const TOKEN_PREFIX = 'hub_';
const TOKEN_RE = /^hub_([0-9a-f]{20})_([A-Za-z0-9_-]{43})$/;
export const SCOPES = ['read', 'write', 'admin'] as const;
/** last_used_at is written at most this often per token (one D1 write per use would be wasteful). */
const LAST_USED_RESOLUTION_MS = 60_000;

const RANK: Record<Role, number> = { read: 1, write: 2, admin: 3 };

/** The id inside a token string, or null when it is not shaped like one of ours. */
export function tokenId(token: string): string | null {
  return TOKEN_RE.exec(token)?.[1] ?? null;
}

function base64url(b: Uint8Array): string {
  return btoa(String.fromCharCode(...b)).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

function hex(b: Uint8Array): string {
  let s = '';
  for (const x of b) s += x.toString(16).padStart(2, '0');
  return s;
}

/** Lowercase hex SHA-256 of a token: what D1 stores. */
export async function tokenHash(token: string): Promise<string> {
  return hex(new Uint8Array(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(token))));
}

/** The MAC key of the last secret asked for, kept by the isolate (as seal.ts sealKey: a fossil login derives a token per token row). */
let lastMacKey: { secret: string; key: Promise<CryptoKey> } | null = null;

function macKey(secret: string): Promise<CryptoKey> {
  if (lastMacKey?.secret !== secret) lastMacKey = { secret, key: deriveMacKey(secret) };
  return lastMacKey.key;
}

async function deriveMacKey(secret: string): Promise<CryptoKey> {
  const ikm = await crypto.subtle.importKey('raw', new TextEncoder().encode(secret), 'HKDF', false, ['deriveKey']);
  // Its own HKDF info, so this key is unrelated to seal.ts's key from the same secret.
  return crypto.subtle.deriveKey(
    { name: 'HKDF', hash: 'SHA-256', salt: new TextEncoder().encode('hub token salt v1'), info: new TextEncoder().encode('hub tokens: mac') },
    ikm,
    { name: 'HMAC', hash: 'SHA-256', length: 256 },
    false,
    ['sign'],
  );
}

/** The token of `id` under the hub secret; null when the hub has no secret. */
export async function deriveToken(env: Pick<Env, 'HUB_SECRET' | 'HUB_ADMIN_TOKEN'>, id: string): Promise<string | null> {
  const secret = sealSecret(env);
  if (secret === null) return null;
  const mac = await crypto.subtle.sign('HMAC', await macKey(secret), new TextEncoder().encode(`token:${id}`));
  return `${TOKEN_PREFIX}${id}_${base64url(new Uint8Array(mac))}`;
}

/** The highest role a set of scopes allows (scopes are a ceiling on the owner's roles). */
export function scopeCeiling(scopes: readonly Role[]): Role {
  return scopes.reduce<Role>((best, s) => (RANK[s] > RANK[best] ? s : best), 'read');
}

/** Scopes as stored (`read,write`), parsed; unknown words are dropped. */
export function parseScopes(stored: string): Role[] {
  return stored.split(',').filter((s): s is Role => (SCOPES as readonly string[]).includes(s));
}

/** A token as the API shows it (never the secret). */
export interface TokenView {
  id: string;
  scopes: Role[];
  created: string;
  expires: string | null;
  last_used: string | null;
}

export function tokenView(r: TokenRow): TokenView {
  const iso = (t: number | null) => (t === null ? null : new Date(t).toISOString());
  return { id: r.id, scopes: parseScopes(r.scopes), created: iso(r.createdAt)!, expires: iso(r.expiresAt), last_used: iso(r.lastUsedAt) };
}

/** Creates a token for `user`; the token string (shown once) and its row, or null when the hub has no secret. */
export async function createToken(
  env: Env,
  user: string,
  scopes: Role[],
  expiresInSeconds: number | undefined,
): Promise<{ token: string; row: TokenRow } | null> {
  const id = hex(crypto.getRandomValues(new Uint8Array(10)));
  const token = await deriveToken(env, id);
  if (token === null) return null;
  const now = Date.now();
  const row: TokenRow = {
    id,
    user,
    scopes: [...new Set(scopes)].sort((a, b) => RANK[a] - RANK[b]).join(','),
    hash: await tokenHash(token),
    createdAt: now,
    expiresAt: expiresInSeconds === undefined ? null : now + expiresInSeconds * 1000,
    lastUsedAt: null,
  };
  await drizzle(env.DB).insert(tokens).values(row);
  return { token, row };
}

/** Whether a token row is usable now. */
export function isLive(row: Pick<TokenRow, 'expiresAt'>, now = Date.now()): boolean {
  return row.expiresAt === null || row.expiresAt > now;
}

/**
 * The owner and scopes of a presented token, or null when it is not a live
 * token of ours (malformed, unknown, revoked, expired, or wrong secret part).
 */
export async function verifyToken(env: Env, presented: string): Promise<{ user: string; scopes: Role[]; id: string } | null> {
  const id = tokenId(presented);
  if (id === null) return null;
  const db = drizzle(env.DB);
  const row = await db.select().from(tokens).where(eq(tokens.id, id)).get();
  const ok = timingSafeEqualText(await tokenHash(presented), row?.hash ?? '0'.repeat(64));
  if (!row || !ok) return null;
  const now = Date.now();
  if (!isLive(row, now)) return null;
  if (row.lastUsedAt === null || now - row.lastUsedAt > LAST_USED_RESOLUTION_MS) {
    await db.update(tokens).set({ lastUsedAt: now }).where(eq(tokens.id, id));
  }
  return { user: row.user, scopes: parseScopes(row.scopes), id };
}

/** Revokes one of `user`'s tokens; false when there is no such token. */
export async function revokeToken(env: Env, user: string, id: string): Promise<boolean> {
  const gone = await drizzle(env.DB)
    .delete(tokens)
    .where(and(eq(tokens.user, user), eq(tokens.id, id)))
    .returning()
    .get();
  return gone !== undefined;
}

/**
 * The token strings of `user`'s live tokens with the admin scope, recomputed
 * from their ids (for fossil's login, whose proof needs the password itself).
 * Only unrestricted tokens: a fossil login carries no scope, so a narrower
 * token must not log in with the user's full rights. A token issued under an
 * earlier hub secret recomputes to something else and so drops out.
 */
export async function fossilTokenPasswords(env: Env, user: string): Promise<string[]> {
  return fossilTokenPasswordsOf(env, (await fossilTokenQuery(env, user).all<FossilTokenRow>()).results);
}

/** A token row as fossilTokenQuery reads it. */
export type FossilTokenRow = Pick<TokenRow, 'id' | 'scopes' | 'hash' | 'expiresAt'>;

/** The read behind fossilTokenPasswords, one statement (fossil-login.ts batches it with the login's other reads). */
export function fossilTokenQuery(env: Env, user: string): D1PreparedStatement {
  return env.DB.prepare('SELECT id, scopes, hash, expires_at AS expiresAt FROM tokens WHERE user = ?').bind(user);
}

/** fossilTokenPasswords once the user's token rows were read. */
export async function fossilTokenPasswordsOf(env: Env, rows: FossilTokenRow[]): Promise<string[]> {
  const out: string[] = [];
  const now = Date.now();
  for (const r of rows) {
    if (!isLive(r, now) || !parseScopes(r.scopes).includes('admin')) continue;
    const t = await deriveToken(env, r.id);
    if (t !== null && timingSafeEqualText(await tokenHash(t), r.hash)) out.push(t);
  }
  return out;
}
