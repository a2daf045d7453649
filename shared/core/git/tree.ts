/**
 * Tree objects (gitformat: tree):
 *
 *     tree  = *entry
 *     entry = mode SP name NUL raw-id
 *     mode  = "100644" / "100755" / "120000" / "40000" / "160000"   (octal, no leading zero)
 *
 * Entries are sorted by name compared as bytes, a directory's name as if it
 * ended in "/" (git's base_name_compare), and names are unique. Names are
 * bytes: git does not require UTF-8 paths.
 */
import { concat, toHexAt, utf8Decode, utf8Encode, writeHex } from '../bytes.js';
import { GitObjectError } from './errors.js';
import { RAW_ID_LENGTH, checkObjectId, type GitObjectType, type ObjectFormat, type ObjectId } from './object-id.js';

/** Regular file. */
export const MODE_FILE = '100644';
/** Executable file. */
export const MODE_EXECUTABLE = '100755';
/** Symbolic link (the blob holds the target). */
export const MODE_SYMLINK = '120000';
/** Subdirectory (a tree). */
export const MODE_TREE = '40000';
/** Submodule: a commit in another repository. */
export const MODE_GITLINK = '160000';

/** One tree entry. `mode` is the octal text as stored, so any accepted mode round-trips. */
export interface TreeEntry {
  mode: string;
  name: Uint8Array;
  id: ObjectId;
}

/** A parsed tree. */
export interface Tree {
  type: 'tree';
  entries: TreeEntry[];
}

/** Options for parsing and serialising trees. */
export interface TreeOptions {
  format?: ObjectFormat;
  /**
   * Also accept the modes old git wrote and git fsck only warns about:
   * group-writable files (100664), zero-padded "040000", and any other octal
   * mode, read as git's canon_mode reads it (see modeObjectType).
   */
  legacyModes?: boolean;
  /**
   * Accept entries out of order and duplicate names: git fsck errors, but
   * git's readers and its receive-pack without fsck (http-backend's default)
   * take them, so a pushed history may hold such trees.
   */
  anyOrder?: boolean;
}

const STRICT_MODES = new Set([MODE_FILE, MODE_EXECUTABLE, MODE_SYMLINK, MODE_TREE, MODE_GITLINK]);
const S_IFMT = 0o170000;
/** git reads at most 7 octal digits of mode. */
const MAX_MODE_LENGTH = 7;

/**
 * The error for an entry at `pos` with no space in its first 8 bytes: git
 * reads a mode of any length, but modes here are at most 7 digits, so a space
 * before the name's NUL says which it is.
 */
export function noModeError(bytes: Uint8Array, pos: number): GitObjectError {
  const sp = bytes.indexOf(0x20, pos);
  const nul = bytes.indexOf(0, pos);
  const long = sp > pos && (nul < 0 || sp < nul);
  return new GitObjectError('bad-tree-mode', long ? `tree entry mode has more than ${MAX_MODE_LENGTH} digits` : 'tree entry has no mode', { offset: pos });
}

/** Whether `mode` is accepted (strict: exactly the five modes git writes; legacy: any octal, as git's get_mode reads). */
export function isValidMode(mode: string, legacyModes = false): boolean {
  if (STRICT_MODES.has(mode)) return true;
  return legacyModes && /^[0-7]{1,7}$/.test(mode);
}

/**
 * What kind of object an entry of this mode names, as git's canon_mode reads
 * it: a directory is a tree, a file or link a blob, anything else a gitlink
 * (a commit of another repository).
 */
export function modeObjectType(mode: string): GitObjectType {
  const bits = parseInt(mode, 8) & S_IFMT;
  return bits === 0o040000 ? 'tree' : bits === 0o100000 || bits === 0o120000 ? 'blob' : 'commit';
}

/** True for a directory entry (its name sorts as if followed by "/"). */
export function isTreeMode(mode: string): boolean {
  return (parseInt(mode, 8) & S_IFMT) === 0o040000;
}

/** The entry's name as text (lenient UTF-8). */
export function entryName(entry: TreeEntry): string {
  return utf8Decode(entry.name);
}

/** A new entry with a string name. */
export function treeEntry(mode: string, name: string, id: ObjectId): TreeEntry {
  return { mode, name: utf8Encode(name), id };
}

/** git's tree order: names as bytes, a directory's name compared as if it ended in "/". */
export function compareEntries(a: TreeEntry, b: TreeEntry): number {
  return compareNames(a.name, isTreeMode(a.mode), b.name, isTreeMode(b.mode));
}

function compareNames(a: Uint8Array, aDir: boolean, b: Uint8Array, bDir: boolean): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return a[i] - b[i];
  const ca = a.length > n ? a[n] : aDir ? 0x2f : 0;
  const cb = b.length > n ? b[n] : bDir ? 0x2f : 0;
  return ca - cb;
}

/** Parse a tree's content; a GitObjectError for a bad mode or name, a truncated id, bad order or a duplicate name. */
export function parseTree(bytes: Uint8Array, options: TreeOptions = {}): Tree {
  const idLength = RAW_ID_LENGTH[options.format ?? 'sha1'];
  const legacy = options.legacyModes ?? false;
  const anyOrder = options.anyOrder ?? false;
  const entries: TreeEntry[] = [];
  // Files that a later directory of the same name could still duplicate (see below).
  const files: Uint8Array[] = [];
  let pos = 0;
  let prev: TreeEntry | null = null;
  // Each entry consumes at least mode+SP+name+NUL+id bytes, so the loop is bounded by the length.
  while (pos < bytes.length) {
    const start = pos;
    const sp = bytes.subarray(pos, pos + MAX_MODE_LENGTH + 1).indexOf(0x20);
    if (sp <= 0) throw noModeError(bytes, start);
    const mode = String.fromCharCode(...bytes.subarray(pos, pos + sp));
    if (!isValidMode(mode, legacy)) throw new GitObjectError('bad-tree-mode', `bad tree entry mode ${JSON.stringify(mode)}`, { offset: start, mode });
    pos += sp + 1;
    const nul = bytes.indexOf(0, pos);
    if (nul < 0) throw new GitObjectError('truncated-tree-entry', 'tree entry name has no NUL', { offset: start });
    if (nul === pos) throw new GitObjectError('bad-tree-name', 'tree entry has an empty name', { offset: start });
    const name = bytes.subarray(pos, nul);
    if (name.indexOf(0x2f) >= 0) throw new GitObjectError('bad-tree-name', 'tree entry name contains "/"', { offset: start });
    pos = nul + 1;
    if (pos + idLength > bytes.length) throw new GitObjectError('truncated-tree-entry', 'tree entry id is truncated', { offset: start });
    const entry: TreeEntry = { mode, name, id: toHexAt(bytes, pos, idLength) };
    pos += idLength;
    entries.push(entry);
    if (anyOrder) continue;
    if (prev && compareEntries(prev, entry) >= 0) {
      const dup = compareEntries(prev, entry) === 0;
      throw new GitObjectError(dup ? 'duplicate-tree-entry' : 'tree-not-sorted', dup ? 'duplicate tree entry' : 'tree entries are not sorted', {
        offset: start,
        name: entryName(entry),
      });
    }
    // A file "a" and a directory "a" sort apart ("a" < "a-b" < "a/"), so the
    // order check alone does not catch them. Between the two only names "a"
    // followed by a byte below "/" can sort, so a file stays a candidate while
    // such names follow; the candidates form a stack of nested prefixes (a
    // Set of every name cost a third of a large push's tree parsing).
    const dir = isTreeMode(mode);
    while (files.length > 0) {
      const f = files[files.length - 1];
      if (dir && sameBytes(f, name)) throw new GitObjectError('duplicate-tree-entry', 'duplicate tree entry', { offset: start, name: entryName(entry) });
      if (name.length > f.length && name[f.length] < 0x2f && sameBytes(f, name.subarray(0, f.length))) break;
      files.pop();
    }
    if (!dir) files.push(name);
    prev = entry;
  }
  return { type: 'tree', entries };
}

/** Serialise a tree: entries are validated and written in git's order (so the id is canonical). */
export function serialiseTree(tree: Pick<Tree, 'entries'>, options: TreeOptions = {}): Uint8Array {
  const format = options.format ?? 'sha1';
  const idLength = RAW_ID_LENGTH[format];
  const legacy = options.legacyModes ?? false;
  const sorted = [...tree.entries].sort(compareEntries);
  const parts: Uint8Array[] = [];
  const seen = new Set<string>();
  for (const e of sorted) {
    if (!isValidMode(e.mode, legacy)) throw new GitObjectError('bad-tree-mode', `bad tree entry mode ${JSON.stringify(e.mode)}`, { mode: e.mode });
    if (e.name.length === 0 || e.name.indexOf(0x2f) >= 0 || e.name.indexOf(0) >= 0) {
      throw new GitObjectError('bad-tree-name', `bad tree entry name ${JSON.stringify(entryName(e))}`);
    }
    const key = nameKey(e.name);
    if (seen.has(key)) throw new GitObjectError('duplicate-tree-entry', 'duplicate tree entry', { name: entryName(e) });
    seen.add(key);
    checkObjectId(e.id, format);
    const head = utf8Encode(`${e.mode} `);
    const out = new Uint8Array(head.length + e.name.length + 1 + idLength);
    out.set(head, 0);
    out.set(e.name, head.length);
    writeHex(e.id, out, head.length + e.name.length + 1);
    parts.push(out);
  }
  return concat(parts);
}

/** Find an entry by name in a parsed tree (binary search in git's order). */
export function findEntry(tree: Tree, name: Uint8Array | string): TreeEntry | undefined {
  const n = typeof name === 'string' ? utf8Encode(name) : name;
  // The entry may be a file or a directory, which sort differently: try both positions.
  for (const dir of [false, true]) {
    let lo = 0;
    let hi = tree.entries.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      const e = tree.entries[mid];
      // Zero only for the same name and the same file/directory kind.
      const c = compareNames(e.name, isTreeMode(e.mode), n, dir);
      if (c === 0) return e;
      if (c < 0) lo = mid + 1;
      else hi = mid;
    }
  }
  return undefined;
}

/** Whether two byte strings are equal. */
function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** The name as a one-char-per-byte string, a Set key (chunked: names can be longer than an argument list). */
function nameKey(name: Uint8Array): string {
  let s = '';
  for (let i = 0; i < name.length; i += 4096) s += String.fromCharCode(...name.subarray(i, i + 4096));
  return s;
}
