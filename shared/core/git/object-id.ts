/**
 * Object ids. gitformat-hash / git hash-object: an object's id is the hash of
 *
 *     <type> SP <decimal size> NUL <content>
 *
 * SHA-1 (20 bytes, 40 hex) in ordinary repositories, SHA-256 (32 bytes, 64 hex)
 * in `objectFormat = sha256` ones. Ids are handled as lowercase hex strings
 * (usable as Map keys); trees hold them raw.
 */
import { toHex } from '../bytes.js';
import type { Hasher, Primitives } from '../primitives.js';
import { GitObjectError } from './errors.js';

/** The four object types. */
export type GitObjectType = 'blob' | 'tree' | 'commit' | 'tag';

/** The repository's hash function (git's `extensions.objectFormat`). */
export type ObjectFormat = 'sha1' | 'sha256';

/** An object id: lowercase hex of the hash. */
export type ObjectId = string;

/** Raw id length in bytes. */
export const RAW_ID_LENGTH: Readonly<Record<ObjectFormat, number>> = { sha1: 20, sha256: 32 };

/** Longest size field accepted in a header: 2^53 has 16 digits, and no object is near that. */
const MAX_SIZE_DIGITS = 16;

/** True for 'blob', 'tree', 'commit', 'tag'. */
export function isObjectType(s: string): s is GitObjectType {
  return s === 'blob' || s === 'tree' || s === 'commit' || s === 'tag';
}

/** True when `s` is a well-formed id of the format: exact length, lowercase hex only. */
export function isObjectId(s: string, format: ObjectFormat = 'sha1'): boolean {
  if (s.length !== RAW_ID_LENGTH[format] * 2) return false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (!((c >= 48 && c <= 57) || (c >= 97 && c <= 102))) return false;
  }
  return true;
}

/** `s` if it is a well-formed id, else a GitObjectError ('bad-object-id'). */
export function checkObjectId(s: string, format: ObjectFormat = 'sha1'): ObjectId {
  if (!isObjectId(s, format)) throw new GitObjectError('bad-object-id', `not a ${format} object id: ${JSON.stringify(s.slice(0, 80))}`);
  return s;
}

/** The header `<type> <size>\0` that precedes content in the hashed (and loose) form. */
export function objectHeader(type: GitObjectType, size: number): Uint8Array {
  if (!Number.isSafeInteger(size) || size < 0) throw new GitObjectError('bad-object-size', `bad object size ${size}`);
  // ASCII only: a byte per char, without TextEncoder's per-call cost (once per object hashed).
  const s = `${type} ${size}\0`;
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
  return out;
}

/** A parsed `<type> <size>\0` header and how many bytes it took. */
export interface ObjectHeader {
  type: GitObjectType;
  size: number;
  headerLength: number;
}

/** Parse the `<type> <size>\0` header at the start of `bytes` (as in a loose object). */
export function parseObjectHeader(bytes: Uint8Array): ObjectHeader {
  const sp = bytes.subarray(0, 7).indexOf(0x20); // the longest type, "commit", is 6 bytes
  const type = sp > 0 ? String.fromCharCode(...bytes.subarray(0, sp)) : '';
  if (!isObjectType(type)) throw new GitObjectError('bad-object-header', 'object header has no known type');
  let size = 0;
  let i = sp + 1;
  for (; i < bytes.length && bytes[i] !== 0; i++) {
    const d = bytes[i] - 48;
    // Digits only, no leading zero (git writes none), bounded length.
    if (d < 0 || d > 9 || (i === sp + 1 && d === 0 && bytes[i + 1] !== 0) || i - sp > MAX_SIZE_DIGITS) {
      throw new GitObjectError('bad-object-header', 'bad size in object header', { offset: i });
    }
    size = size * 10 + d;
  }
  if (i === sp + 1 || i >= bytes.length) throw new GitObjectError('bad-object-header', 'object header is truncated', { offset: i });
  return { type, size, headerLength: i + 1 };
}

/**
 * An incremental hasher for an object of `type` and `size` with the header
 * already fed: update it with exactly `size` content bytes (e.g. as a stream
 * arrives), then digest. Digest checks the count, so a short or long body is a
 * GitObjectError ('size-mismatch') instead of a wrong id.
 */
export function objectHasher(p: Primitives, type: GitObjectType, size: number, format: ObjectFormat = 'sha1'): Hasher {
  const inner = p.hash(format).update(objectHeader(type, size));
  let seen = 0;
  const hasher: Hasher = {
    update(data) {
      seen += data.length;
      inner.update(data);
      return hasher;
    },
    digest() {
      if (seen !== size) throw new GitObjectError('size-mismatch', `object declared ${size} bytes, got ${seen}`, { size, seen });
      return inner.digest();
    },
  };
  return hasher;
}

/** The id of an object of `type` with this content (`git hash-object -t type`). */
export function gitObjectId(p: Primitives, type: GitObjectType, content: Uint8Array, format: ObjectFormat = 'sha1'): ObjectId {
  return toHex(p.hash(format).update(objectHeader(type, content.length)).update(content).digest());
}
