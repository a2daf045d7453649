/**
 * Sealing: small secrets (a user's password, for fossil logins) encrypted
 * with AES-256-GCM under a key derived by HKDF-SHA-256 from the hub secret
 * (`HUB_SECRET`, or HUB_ADMIN_TOKEN when that is unset). Each seal has a
 * random 96-bit IV and is bound to a context string (additional data, e.g.
 * the user name), so a sealed value copied to another row does not open.
 *
 * Stored form: `v1.<base64 iv>.<base64 ciphertext+tag>`.
 */
import type { Env } from './env.js';

const VERSION = 'v1';
/** HKDF salt and info: fixed, so the key depends on the hub secret alone; the info names the use. */
const HKDF_SALT = new TextEncoder().encode('hub seal salt v1');
const HKDF_INFO = new TextEncoder().encode('hub seal: user passwords');
/** Largest secret we seal or open (passwords are capped at 1024 characters by the API). */
const MAX_PLAINTEXT_BYTES = 4096;

const b64 = (b: Uint8Array) => btoa(String.fromCharCode(...b));
function unb64(s: string): Uint8Array | null {
  try {
    return Uint8Array.from(atob(s), (c) => c.charCodeAt(0));
  } catch {
    return null;
  }
}

/** The hub secret sealing uses: HUB_SECRET, else HUB_ADMIN_TOKEN, else none (sealing is then off). */
export function sealSecret(env: Pick<Env, 'HUB_SECRET' | 'HUB_ADMIN_TOKEN'>): string | null {
  return env.HUB_SECRET || env.HUB_ADMIN_TOKEN || null;
}

/**
 * The key of the last secret asked for, kept by the isolate: every fossil
 * login round opens a sealed password, and deriving (importKey + HKDF) costs
 * ~0.2 ms of CPU and a thread hop each time (Node, 2000 derivations).
 */
let lastKey: { secret: string; key: Promise<CryptoKey> } | null = null;

/** The AES-GCM key derived from a hub secret (derived once per isolate and secret). */
export function sealKey(secret: string): Promise<CryptoKey> {
  if (lastKey?.secret !== secret) lastKey = { secret, key: deriveSealKey(secret) };
  return lastKey.key;
}

async function deriveSealKey(secret: string): Promise<CryptoKey> {
  const ikm = await crypto.subtle.importKey('raw', new TextEncoder().encode(secret), 'HKDF', false, ['deriveKey']);
  return crypto.subtle.deriveKey({ name: 'HKDF', hash: 'SHA-256', salt: HKDF_SALT, info: HKDF_INFO }, ikm, { name: 'AES-GCM', length: 256 }, false, [
    'encrypt',
    'decrypt',
  ]);
}

/** Seals `plaintext` bound to `context`; the stored form. */
export async function seal(key: CryptoKey, plaintext: string, context: string): Promise<string> {
  const data = new TextEncoder().encode(plaintext);
  if (data.length > MAX_PLAINTEXT_BYTES) throw new RangeError(`sealed values are limited to ${MAX_PLAINTEXT_BYTES} bytes`);
  const iv = crypto.getRandomValues(new Uint8Array(12));
  const ct = await crypto.subtle.encrypt({ name: 'AES-GCM', iv, additionalData: new TextEncoder().encode(context) }, key, data);
  return `${VERSION}.${b64(iv)}.${b64(new Uint8Array(ct))}`;
}

/**
 * Opens a sealed value under `key` and `context`; null when it is malformed,
 * was sealed under another key (the hub secret changed) or for another context.
 */
export async function open(key: CryptoKey, sealed: string, context: string): Promise<string | null> {
  const parts = sealed.split('.');
  if (parts.length !== 3 || parts[0] !== VERSION) return null;
  // Bounded before decoding: the ciphertext is the plaintext plus a 16-byte tag.
  if (parts[2].length > ((MAX_PLAINTEXT_BYTES + 16) * 4) / 3 + 4) return null;
  const iv = unb64(parts[1]);
  const ct = unb64(parts[2]);
  if (!iv || iv.length !== 12 || !ct || ct.length < 16) return null;
  try {
    const pt = await crypto.subtle.decrypt({ name: 'AES-GCM', iv, additionalData: new TextEncoder().encode(context) }, key, ct);
    return new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(pt);
  } catch {
    return null;
  }
}

/** The context a user's password is sealed under: its user name. */
export function passwordContext(userName: string): string {
  return `user-password:${userName}`;
}

/** Seals a user's password with the hub's key; null when the hub has no secret to seal with. */
export async function sealPassword(env: Pick<Env, 'HUB_SECRET' | 'HUB_ADMIN_TOKEN'>, userName: string, password: string): Promise<string | null> {
  const secret = sealSecret(env);
  return secret === null ? null : seal(await sealKey(secret), password, passwordContext(userName));
}

/** Opens a user's sealed password; null when absent, damaged, or sealed under another hub secret. */
export async function openPassword(env: Pick<Env, 'HUB_SECRET' | 'HUB_ADMIN_TOKEN'>, userName: string, sealed: string | null): Promise<string | null> {
  const secret = sealSecret(env);
  if (secret === null || sealed === null) return null;
  return open(await sealKey(secret), sealed, passwordContext(userName));
}
