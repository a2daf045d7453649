/**
 * Password hashing: PBKDF2-HMAC-SHA-256 through crypto.subtle, with a random
 * 16-byte salt. 100,000 iterations is the most Cloudflare's production
 * runtime allows (workerd refuses more there: "iteration counts above 100000
 * are not supported"; the local build has no cap, so tests cannot show it).
 * Failed logins are rate limited (rate-limit.ts) to make up for the count.
 * Stored form: `pbkdf2-sha256$<iterations>$<salt b64>$<hash b64>`.
 */
const ITERATIONS = 100_000;

const b64 = (b: Uint8Array) => btoa(String.fromCharCode(...b));
const unb64 = (s: string) => Uint8Array.from(atob(s), (c) => c.charCodeAt(0));

async function derive(password: string, salt: Uint8Array, iterations: number): Promise<Uint8Array> {
  const key = await crypto.subtle.importKey('raw', new TextEncoder().encode(password), 'PBKDF2', false, ['deriveBits']);
  const bits = await crypto.subtle.deriveBits({ name: 'PBKDF2', hash: 'SHA-256', salt, iterations }, key, 256);
  return new Uint8Array(bits);
}

/** Hashes a password for storage. */
export async function hashPassword(password: string): Promise<string> {
  const salt = crypto.getRandomValues(new Uint8Array(16));
  return `pbkdf2-sha256$${ITERATIONS}$${b64(salt)}$${b64(await derive(password, salt, ITERATIONS))}`;
}

/** Checks a password against a stored hash, in constant time over the hash bytes. */
export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  const [scheme, iter, salt, hash] = stored.split('$');
  const iterations = Number(iter);
  if (scheme !== 'pbkdf2-sha256' || !Number.isInteger(iterations) || iterations < 1 || iterations > ITERATIONS) return false;
  return timingSafeEqual(await derive(password, unb64(salt), iterations), unb64(hash));
}

/** Constant-time equality of two byte strings (length is not secret). */
export function timingSafeEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i] ^ b[i];
  return diff === 0;
}

/** Constant-time equality of two strings, compared as UTF-8. */
export function timingSafeEqualText(a: string, b: string): boolean {
  const enc = new TextEncoder();
  return timingSafeEqual(enc.encode(a), enc.encode(b));
}

/**
 * Successful verifications remembered in this isolate for a short while, so
 * an authenticated git client does not pay PBKDF2 (tens of ms of CPU) on each
 * of a fetch's or push's requests. Entries are keyed by an HMAC of
 * (user, password, stored hash) under a random key made in this isolate and
 * never stored, so the cache holds no password, a changed password (a new
 * stored hash) or a deleted user misses, and a miss costs the full PBKDF2.
 * Only successes are cached: a wrong password always runs PBKDF2 and counts
 * as a failed login, and the caller's rate limit is checked before this.
 */
const CACHE_TTL_MS = 2 * 60_000;
const CACHE_MAX = 1000;
const verified = new Map<string, number>();
let cacheKey: Promise<CryptoKey> | null = null;

async function cacheId(user: string, password: string, stored: string): Promise<string> {
  cacheKey ??= crypto.subtle.generateKey({ name: 'HMAC', hash: 'SHA-256' }, false, ['sign']) as Promise<CryptoKey>;
  const mac = await crypto.subtle.sign('HMAC', await cacheKey, new TextEncoder().encode(JSON.stringify([user, password, stored])));
  return b64(new Uint8Array(mac));
}

/** verifyPassword for `user`'s login, remembering a success for CACHE_TTL_MS (see above). */
export async function verifyLogin(user: string, password: string, stored: string, now = Date.now()): Promise<boolean> {
  const id = await cacheId(user, password, stored);
  const until = verified.get(id);
  if (until !== undefined && until > now) return true;
  verified.delete(id);
  if (!(await verifyPassword(password, stored))) return false;
  verified.set(id, now + CACHE_TTL_MS);
  // Oldest first out (a Map keeps insertion order).
  while (verified.size > CACHE_MAX) verified.delete(verified.keys().next().value!);
  return true;
}
