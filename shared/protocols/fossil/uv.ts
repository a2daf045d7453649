/**
 * Unversioned files (src/unversioned.c, xfer.c):
 *
 *     C: pragma uv-hash HASH          sha1 of the client's catalogue
 *     S: pragma uv-push-ok | pragma uv-pull-only, then uvigot NAME MTIME HASH SIZE per file
 *     C: uvgimme NAME                 S: uvfile NAME MTIME HASH SIZE FLAGS \n <content>
 *     C: uvfile NAME MTIME HASH SIZE FLAGS \n <content>   (cap y)
 *
 * Catalogue hash = sha1 over non-deleted files sorted by name of
 * `NAME " " YYYY-MM-DD HH:MM:SS " " HASH "\n"`. FLAGS: 1 deleted (HASH "-"),
 * 4 content omitted. Newest mtime wins; equal mtimes: the larger hash wins.
 */
import { utf8Encode } from '../../core/bytes.js';
import { digestHex } from '../../core/hash.js';
import type { Primitives } from '../../core/primitives.js';
import { compareCodePoints } from '../../storage/ids.js';
import { MAX_UV_NAME_LENGTH, type UnversionedEntry } from '../../storage/fossil.js';

/** `YYYY-MM-DD HH:MM:SS` in UTC, as SQLite's datetime(mtime,'unixepoch'). */
export function uvDate(mtime: number): string {
  return new Date(mtime * 1000).toISOString().slice(0, 19).replace('T', ' ');
}

/** The catalogue hash of a set of entries (deleted ones do not count). */
export function uvCatalogHash(p: Primitives, entries: readonly UnversionedEntry[]): string {
  const live = entries.filter((e) => e.hash !== null).sort((a, b) => compareCodePoints(a.name, b.name));
  return digestHex(p, 'sha1', utf8Encode(live.map((e) => `${e.name} ${uvDate(e.mtime)} ${e.hash}\n`).join('')));
}

/**
 * unversioned_status: how an incoming (mtime, hash) compares with what is
 * stored. 0 absent, 1 incoming is newer (replace), 2 same content but incoming
 * mtime newer (update mtime), 3 identical, 4 same content and stored newer,
 * 5 stored is newer. The incoming version lands for 0-2.
 */
export function uvStatus(stored: UnversionedEntry | null, mtime: number, hash: string): number {
  if (stored === null) return 0;
  const local = stored.hash ?? '-';
  const cmp = local < hash ? -1 : local > hash ? 1 : 0;
  if (cmp === 0) return 3 + (stored.mtime > mtime ? 1 : 0) - (stored.mtime < mtime ? 1 : 0);
  if (stored.mtime < mtime || (stored.mtime === mtime && cmp < 0)) return 1;
  return 5;
}

/**
 * True for a name fossil accepts for an unversioned file (blob_is_filename:
 * a relative path without "." or ".." elements, empty elements or
 * backslashes), short enough to store, and with no whitespace (names go on
 * cards unescaped).
 */
export function isUvName(name: string): boolean {
  if (name.length === 0 || name.length > MAX_UV_NAME_LENGTH) return false;
  // eslint-disable-next-line no-control-regex
  if (/[\s\x00-\x1f\x7f\\]/.test(name)) return false;
  if (name.startsWith('/') || name.endsWith('/')) return false;
  return name.split('/').every((part) => part !== '' && part !== '.' && part !== '..');
}

/** A signed decimal that fits a safe integer (mtimes), else null. */
export function parseInt64(token: string | undefined): number | null {
  if (token === undefined || !/^-?[0-9]{1,15}$/.test(token)) return null;
  return Number(token);
}
