/**
 * The login card (src/xfer.c check_login, src/sha1.c sha1_shared_secret):
 *
 *     login USER NONCE SIGNATURE
 *     NONCE     = sha1_hex(every byte of the message after this card's "\n")
 *     SECRET    = sha1_hex(PROJECT_CODE "/" USER "/" PASSWORD)
 *     SIGNATURE = sha1_hex(NONCE SECRET)
 *
 * The hub keeps its accounts elsewhere, so the caller supplies the candidate
 * secrets for a user (the derived shared secret, and the cleartext password
 * when it has it: fossil also accepts sha1(NONCE PASSWORD), which is what a
 * client sends when the password it was given is itself 40 hex digits).
 */
import { digestHex } from '../../core/hash.js';
import type { Primitives } from '../../core/primitives.js';
import { utf8Encode } from '../../core/bytes.js';

/** fossil's shared secret of a user for one project: sha1_hex(projectCode/user/password). */
export function sharedSecret(p: Primitives, projectCode: string, user: string, password: string): string {
  return digestHex(p, 'sha1', utf8Encode(`${projectCode}/${user}/${password}`));
}

/** The nonce of a login card: sha1_hex of the message bytes after the card. */
export function loginNonce(p: Primitives, rest: Uint8Array): string {
  return digestHex(p, 'sha1', rest);
}

/** The signature a client computes from the nonce and a secret. */
export function loginSignature(p: Primitives, nonce: string, secret: string): string {
  return digestHex(p, 'sha1', utf8Encode(nonce + secret));
}

/** Constant-time string comparison for signatures (both are 40 hex digits). */
export function sameSignature(a: string, b: string): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a.charCodeAt(i) ^ b.charCodeAt(i);
  return diff === 0;
}

/**
 * True when `signature` signs `nonce` with one of `secrets`, and `nonce`
 * really is the hash of `rest` (the bytes after the login card).
 */
export function verifyLogin(p: Primitives, rest: Uint8Array, nonce: string, signature: string, secrets: readonly string[]): boolean {
  if (!/^[0-9a-f]{40}$/.test(nonce) || !/^[0-9a-f]{40}$/i.test(signature)) return false;
  if (loginNonce(p, rest) !== nonce) return false;
  const sig = signature.toLowerCase();
  let ok = false;
  for (const s of secrets) if (sameSignature(loginSignature(p, nonce, s), sig)) ok = true;
  return ok;
}
