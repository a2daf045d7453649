/**
 * Failed-login limits, per user name and per client address: a fixed window
 * that starts at the first failure; once a key has `limit` failures in it,
 * logins for that key are refused (HTTP 429 with Retry-After) until the
 * window ends, before any password is hashed.
 *
 * Counters live in D1 (table login_failures) rather than a Durable Object:
 * authentication reads D1 anyway, a failure costs one more write, and D1 is
 * one database for the whole hub, so every isolate sees the same counts. A
 * race between isolates can let a few extra guesses through; the limit is a
 * brake on guessing, not an exact quota. It brakes password guessing: the
 * admin token and API tokens, which cannot be guessed, are accepted even past
 * the limits (worker/auth.ts verify, fossil-login.ts), so failures from a
 * shared address do not lock the hub admin out.
 *
 * Open sign-up (HUB_OPEN_SIGNUP) uses the same counters: account creations
 * per client address (key `signup:ADDR`) in their own window.
 */
import type { Env } from './env.js';

export interface LoginLimits {
  /** Failures allowed per user name per window. */
  perUser: number;
  /** Failures allowed per client address per window. */
  perAddress: number;
  windowMs: number;
}

export const DEFAULT_LIMITS: LoginLimits = { perUser: 10, perAddress: 50, windowMs: 15 * 60_000 };

function positive(v: string | undefined, fallback: number): number {
  const n = Number(v);
  return Number.isSafeInteger(n) && n > 0 ? n : fallback;
}

/** Limits from HUB_LOGIN_FAILURES_PER_USER, HUB_LOGIN_FAILURES_PER_ADDRESS, HUB_LOGIN_WINDOW_SECONDS (defaults above). */
export function loginLimits(env: Env): LoginLimits {
  return {
    perUser: positive(env.HUB_LOGIN_FAILURES_PER_USER, DEFAULT_LIMITS.perUser),
    perAddress: positive(env.HUB_LOGIN_FAILURES_PER_ADDRESS, DEFAULT_LIMITS.perAddress),
    windowMs: positive(env.HUB_LOGIN_WINDOW_SECONDS, DEFAULT_LIMITS.windowMs / 1000) * 1000,
  };
}

/** The keys a login attempt counts against. */
export function loginKeys(user: string | null, address: string | null): { key: string; limit: 'perUser' | 'perAddress' }[] {
  const keys: { key: string; limit: 'perUser' | 'perAddress' }[] = [];
  if (user !== null) keys.push({ key: `user:${user}`, limit: 'perUser' });
  if (address !== null) keys.push({ key: `addr:${address}`, limit: 'perAddress' });
  return keys;
}

/** The client address of a request: CF-Connecting-IP (set by Cloudflare's edge), or null. */
export function clientAddress(headers: Headers): string | null {
  const a = headers.get('cf-connecting-ip')?.trim();
  return a && a.length <= 64 ? a : null;
}

/**
 * Whether a login for these keys may be tried now: `retryAfter` seconds to
 * wait (0 when allowed), and whether the user name has failures on record
 * (so a success clears them with a write only when there is something to clear).
 */
export async function loginCheck(
  env: Env,
  user: string | null,
  address: string | null,
  now = Date.now(),
): Promise<{ retryAfter: number; userFailures: boolean }> {
  const query = loginCheckQuery(env, user, address);
  return loginCheckOf(env, user, address, query === null ? [] : (await query.all<LoginFailureRow>()).results, now);
}

/** A row of login_failures. */
export type LoginFailureRow = { key: string; count: number; window_start: number };

/** The read loginCheck makes (null: no keys, nothing to read), for a caller that batches it with its own reads. */
export function loginCheckQuery(env: Env, user: string | null, address: string | null): D1PreparedStatement | null {
  const keys = loginKeys(user, address);
  if (keys.length === 0) return null;
  return env.DB.prepare(`SELECT key, count, window_start FROM login_failures WHERE key IN (${keys.map(() => '?').join(',')})`).bind(...keys.map((k) => k.key));
}

/** loginCheck's answer from the rows its query read. */
export function loginCheckOf(env: Env, user: string | null, address: string | null, rows: LoginFailureRow[], now = Date.now()): { retryAfter: number; userFailures: boolean } {
  const keys = loginKeys(user, address);
  const limits = loginLimits(env);
  let retryAfter = 0;
  let userFailures = false;
  for (const r of rows) {
    const k = keys.find((x) => x.key === r.key)!;
    if (k.limit === 'perUser') userFailures = true;
    const end = r.window_start + limits.windowMs;
    if (end > now && r.count >= limits[k.limit]) retryAfter = Math.max(retryAfter, Math.ceil((end - now) / 1000));
  }
  return { retryAfter, userFailures };
}

/** Adds one to `key`'s counter (returning the new count and window), starting a new window when its window of `windowMs` has ended. */
function bump(env: Env, key: string, now: number, windowMs: number): D1PreparedStatement {
  return env.DB.prepare(
    `INSERT INTO login_failures (key, count, window_start) VALUES (?1, 1, ?2)
     ON CONFLICT(key) DO UPDATE SET
       count = CASE WHEN window_start <= ?3 THEN 1 ELSE count + 1 END,
       window_start = CASE WHEN window_start <= ?3 THEN ?2 ELSE window_start END
     RETURNING count, window_start`,
  ).bind(key, now, now - windowMs);
}

/** Drops now and then the counters of `prefix` whose window ended (each kind has its own window). */
function sweep(env: Env, prefix: string, expired: number): D1PreparedStatement[] {
  return Math.random() < 0.02 ? [env.DB.prepare(`DELETE FROM login_failures WHERE key LIKE ?1 AND window_start <= ?2`).bind(`${prefix}%`, expired)] : [];
}

/** Counts one failed login against the user name and the address. */
export async function recordLoginFailure(env: Env, user: string | null, address: string | null, now = Date.now()): Promise<void> {
  const { windowMs } = loginLimits(env);
  const expired = now - windowMs;
  const statements = loginKeys(user, address).map(({ key }) => bump(env, key, now, windowMs));
  // Expired counters are dropped now and then, so the table holds recent failures only.
  for (const prefix of ['user:', 'addr:']) statements.push(...sweep(env, prefix, expired));
  if (statements.length > 0) await env.DB.batch(statements);
}

/** Forgets a user's failures after a successful login (the address count stays). */
export async function clearUserFailures(env: Env, user: string): Promise<void> {
  await env.DB.prepare('DELETE FROM login_failures WHERE key = ?1').bind(`user:${user}`).run();
}

/** Open sign-up's limit: HUB_SIGNUPS_PER_ADDRESS accounts (default 5) per HUB_SIGNUP_WINDOW_SECONDS (default an hour). */
export function signupLimits(env: Env): { perAddress: number; windowMs: number } {
  return { perAddress: positive(env.HUB_SIGNUPS_PER_ADDRESS, 5), windowMs: positive(env.HUB_SIGNUP_WINDOW_SECONDS, 3600) * 1000 };
}

/**
 * Counts one sign-up from `address` and says how many seconds it must wait
 * (0: go ahead). Requests without an address share one counter. The attempt
 * is counted first, so parallel requests cannot all pass one check.
 */
export async function signupAttempt(env: Env, address: string | null, now = Date.now()): Promise<number> {
  const { perAddress, windowMs } = signupLimits(env);
  const [counted] = await env.DB.batch<{ count: number; window_start: number }>([bump(env, `signup:${address ?? '-'}`, now, windowMs), ...sweep(env, 'signup:', now - windowMs)]);
  const row = counted.results[0];
  if (row === undefined || row.count <= perAddress) return 0;
  return Math.max(1, Math.ceil((row.window_start + windowMs - now) / 1000));
}
