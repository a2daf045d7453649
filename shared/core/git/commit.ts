/**
 * Commit objects (gitformat: commit; git's commit.c and fsck.c):
 *
 *     "tree" SP id LF
 *     *( "parent" SP id LF )
 *     "author" SP identity LF
 *     "committer" SP identity LF
 *     [ "encoding" SP name LF ]
 *     *( key SP value LF *( SP continuation LF ) )     ; gpgsig, mergetag, ...
 *     LF message
 *
 * Parse then serialise gives back the exact bytes: identities keep their raw
 * text, other headers keep their order and continuation lines, and the
 * message is bytes (its encoding is whatever the encoding header says).
 * The one exception: tree and parent ids are read in either case, as git
 * reads them, and given (and written back) in lowercase.
 *
 * The tree and parent lines are read exactly as git's parse_commit_buffer
 * reads them (it refuses anything else there, and a commit that ends right
 * after one of them); past them git reads anything (see headers.ts: unparsed).
 */
import { utf8Decode, utf8Encode } from '../bytes.js';
import { GitObjectError } from './errors.js';
import { LF, parseHeaderBlock, serialiseHeaderBlock, startsWith, type Header } from './headers.js';
import { readIdentity, type Identity } from './identity.js';
import { RAW_ID_LENGTH, checkObjectId, isObjectId, type ObjectFormat, type ObjectId } from './object-id.js';

/** A parsed commit. */
export interface Commit {
  type: 'commit';
  tree: ObjectId;
  parents: ObjectId[];
  /**
   * Null when the line is missing where git writes it: git fsck errs
   * (missingAuthor/missingCommitter) but git reads such commits (date 0) and
   * its receive-pack without fsck takes them; a misplaced line stays an extra header.
   */
  author: Identity | null;
  committer: Identity | null;
  /** The `encoding` header when it directly follows committer (where git writes it). */
  encoding?: string;
  /** Every other header after committer, in order (gpgsig, gpgsig-sha256, mergetag, ...). */
  extraHeaders: Header[];
  /** Bytes after the blank line; null if the object has no blank line. */
  message: Uint8Array | null;
  /** From a line after the parents that is no header to the end, as it is (headers.ts); `message` is null then. */
  unparsed?: Uint8Array;
}

/** A commit's links: its tree and parents, and where the lines after them begin. */
export interface CommitLinks {
  tree: ObjectId;
  parents: ObjectId[];
  /** Offset of the first line after the parent lines. */
  end: number;
}

/**
 * The tree and parent lines of a commit's content, read and checked as parseCommit reads them,
 * and nothing after them (a history walk needs no identities or message).
 */
export function parseCommitLinks(bytes: Uint8Array, format: ObjectFormat = 'sha1'): CommitLinks {
  const hex = RAW_ID_LENGTH[format] * 2;
  // "tree " id LF, and at least one byte after it (git: "bogus commit object").
  if (!startsWith(bytes, 0, 'tree ')) throw new GitObjectError('missing-header', 'commit has no tree line where one is required', { offset: 0 });
  const tree = idAt(bytes, 5, hex, 'tree', format);
  if (bytes[hex + 5] !== LF) throw new GitObjectError('bad-object-id', 'bad tree id in commit', { offset: 0 });
  if (bytes.length <= hex + 6) throw new GitObjectError('missing-header', 'commit ends after its tree line', { offset: 0 });
  const parents: ObjectId[] = [];
  let pos = hex + 6;
  // git reads "parent " lines while more than a parent line's worth of bytes is left, each followed by at least one byte.
  while (pos + hex + 7 < bytes.length && startsWith(bytes, pos, 'parent ')) {
    parents.push(idAt(bytes, pos + 7, hex, 'parent', format));
    if (bytes[pos + hex + 7] !== LF) throw new GitObjectError('bad-object-id', 'bad parent id in commit', { offset: pos });
    if (bytes.length <= pos + hex + 8) throw new GitObjectError('missing-header', 'commit ends after a parent line', { offset: pos });
    pos += hex + 8;
  }
  return { tree, parents, end: pos };
}

/** Parse a commit's content; a GitObjectError if tree or parents are missing or malformed (as git's parse_commit_buffer). */
export function parseCommit(bytes: Uint8Array, format: ObjectFormat = 'sha1'): Commit {
  const { tree, parents, end: pos } = parseCommitLinks(bytes, format);
  const { headers, message, unparsed } = parseHeaderBlock(bytes.subarray(pos));
  let i = 0;
  const author = headers[i]?.key === 'author' ? readIdentity(headers[i++].value) : null;
  const committer = headers[i]?.key === 'committer' ? readIdentity(headers[i++].value) : null;
  let encoding: string | undefined;
  if (headers[i]?.key === 'encoding') {
    const value = headers[i].value;
    // Only a plain one-line UTF-8 value moves into the field; anything else stays an extra header, byte for byte.
    if (value.indexOf(0x0a) < 0 && isUtf8(value)) {
      encoding = utf8Decode(value);
      i++;
    }
  }
  const extraHeaders = headers.slice(i).map(({ key, value }) => ({ key, value }));
  const commit: Commit = { type: 'commit', tree, parents, author, committer, extraHeaders, message };
  if (encoding !== undefined) commit.encoding = encoding;
  if (unparsed) commit.unparsed = unparsed;
  return commit;
}

/**
 * The commit's date as git's parse_commit_date reads it, which orders git's
 * walks and cuts --shallow-since: the number after the first ">" from the
 * committer line on, and 0 unless author and committer are the first two
 * lines after the parents (a commit without an author line is dated 0 by
 * git, whatever its committer says) or a line follows the date. `commit`
 * is parseCommit(bytes) (or parseCommitLinks(bytes)).
 */
export function commitDate(bytes: Uint8Array, commit: Pick<Commit, 'parents'>, format: ObjectFormat = 'sha1'): number {
  const hex = RAW_ID_LENGTH[format] * 2;
  let pos = hex + 6 + commit.parents.length * (hex + 8);
  if (pos + 6 >= bytes.length || !startsWith(bytes, pos, 'author')) return 0;
  pos = bytes.indexOf(LF, pos) + 1;
  if (pos === 0 || pos + 9 >= bytes.length || !startsWith(bytes, pos, 'committer')) return 0;
  pos = bytes.indexOf(0x3e, pos) + 1; // ">", on this line or a later one
  const eol = pos === 0 ? -1 : bytes.indexOf(LF, pos);
  if (eol < 0 || eol + 1 >= bytes.length) return 0;
  // strtoumax: spaces, a sign, digits; a negative or overflowing date is later than any.
  while (pos < eol && (bytes[pos] === 0x20 || (bytes[pos] >= 0x09 && bytes[pos] <= 0x0d))) pos++;
  const negative = bytes[pos] === 0x2d;
  if (negative || bytes[pos] === 0x2b) pos++;
  let date = 0;
  while (pos < eol && bytes[pos] >= 0x30 && bytes[pos] <= 0x39) date = Math.min(date * 10 + bytes[pos++] - 0x30, Number.MAX_SAFE_INTEGER);
  return negative && date > 0 ? Number.MAX_SAFE_INTEGER : date;
}

/** Serialise a commit (byte-exact for a parsed one). */
export function serialiseCommit(c: Omit<Commit, 'type'>, format: ObjectFormat = 'sha1'): Uint8Array {
  const headers: Header[] = [{ key: 'tree', value: utf8Encode(checkObjectId(c.tree, format)) }];
  for (const p of c.parents) headers.push({ key: 'parent', value: utf8Encode(checkObjectId(p, format)) });
  if (c.author) headers.push({ key: 'author', value: c.author.raw });
  if (c.committer) headers.push({ key: 'committer', value: c.committer.raw });
  if (c.encoding !== undefined) headers.push({ key: 'encoding', value: utf8Encode(c.encoding) });
  headers.push(...c.extraHeaders);
  return serialiseHeaderBlock(headers, c.message, c.unparsed);
}

/** The value of the first extra header with this key (e.g. "gpgsig"), if any. */
export function commitHeader(c: Commit, key: string): Uint8Array | undefined {
  return c.extraHeaders.find((h) => h.key === key)?.value;
}


function idAt(bytes: Uint8Array, pos: number, hex: number, key: string, format: ObjectFormat): ObjectId {
  // git's get_oid_hex takes either case (its fsck too): an id written in uppercase names the same object.
  const id = utf8Decode(bytes.subarray(pos, pos + hex)).toLowerCase();
  if (!isObjectId(id, format)) throw new GitObjectError('bad-object-id', `bad ${key} id in commit`, { offset: pos });
  return id;
}

function isUtf8(b: Uint8Array): boolean {
  try {
    utf8Decode(b, true);
    return true;
  } catch {
    return false;
  }
}
