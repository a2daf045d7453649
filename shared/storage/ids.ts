/** Names shared by the storage interfaces, with their validators. */
import { InvalidIdError, InvalidRefNameError } from './errors.js';

/** An object id: lowercase hex, 40 digits (SHA-1) or 64 (SHA-256, SHA3-256). */
export type ObjectId = string;

/** A pull-based byte stream (style point 11), as defined in shared/core/stream.ts. */
export type { ByteStream } from '../core/stream.js';

// 40 or 64 hex digits, in one pass (an alternation read a 64-digit id twice: fossil's states() checks tens of thousands a round).
const ID_RE = /^[0-9a-f]{40}(?:[0-9a-f]{24})?$/;

/** Throws InvalidIdError unless `id` is a well-formed object id. */
export function checkObjectId(id: unknown): asserts id is ObjectId {
  if (typeof id !== 'string' || !ID_RE.test(id)) throw new InvalidIdError(id);
}

/** Longest ref name storage holds; git itself has no limit but a bound keeps rows small. */
export const MAX_REF_NAME_LENGTH = 1024;

// Storage only refuses what it cannot hold safely; git's check-ref-format rules
// (no "..", no "@{", ...) belong to the protocol layer, which knows the client.
// eslint-disable-next-line no-control-regex
const CONTROL_RE = /[\x00-\x1f\x7f]/;

/** Throws InvalidRefNameError for an empty, over-long or control-character ref name. */
export function checkRefName(name: unknown): asserts name is string {
  if (typeof name !== 'string' || name.length === 0 || name.length > MAX_REF_NAME_LENGTH || CONTROL_RE.test(name)) {
    throw new InvalidRefNameError(name);
  }
}

/**
 * Orders strings by code point, which is UTF-8 byte order and SQLite's BINARY
 * collation; JS's default sort uses UTF-16 units and disagrees above U+D7FF.
 */
export function compareCodePoints(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.codePointAt(i)!;
    const y = b.codePointAt(i)!;
    if (x !== y) return x < y ? -1 : 1;
    if (x > 0xffff) i++;
  }
  return a.length - b.length;
}
