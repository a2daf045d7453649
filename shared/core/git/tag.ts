/**
 * Annotated tag objects (gitformat: tag; git's tag.c and fsck.c):
 *
 *     "object" SP id LF
 *     "type" SP ( "commit" / "tree" / "blob" / "tag" ) LF
 *     "tag" SP name LF
 *     [ "tagger" SP identity LF ]          ; absent in very old tags
 *     *( key SP value LF *( SP continuation LF ) )
 *     LF message                            ; an OpenPGP/SSH signature is part of it
 *
 * Parse then serialise gives back the exact bytes. The object, type and tag
 * lines are read as git's parse_tag_buffer reads them (the name may be empty;
 * git refuses anything else there); past them git reads anything (see
 * headers.ts: unparsed).
 */
import { utf8Decode, utf8Encode } from '../bytes.js';
import { GitObjectError } from './errors.js';
import { LF, parseHeaderBlock, serialiseHeaderBlock, startsWith, type Header } from './headers.js';
import { readIdentity, type Identity } from './identity.js';
import { RAW_ID_LENGTH, checkObjectId, isObjectId, isObjectType, type GitObjectType, type ObjectFormat, type ObjectId } from './object-id.js';

/** A parsed annotated tag. */
export interface Tag {
  type: 'tag';
  object: ObjectId;
  objectType: GitObjectType;
  /** The tag's name (one char per byte when it is not UTF-8, see rawTag). */
  tag: string;
  /** The name's bytes when they are not UTF-8 (git takes any bytes); written back as they came. */
  rawTag?: Uint8Array;
  tagger?: Identity;
  /** Headers after tag/tagger, in order. */
  extraHeaders: Header[];
  /** Bytes after the blank line, signature included; null if the object has no blank line. */
  message: Uint8Array | null;
  /** From a line after the name that is no header to the end, as it is (headers.ts); `message` is null then. */
  unparsed?: Uint8Array;
}

/** Parse a tag's content; a GitObjectError if object, type or tag are missing or malformed. */
export function parseTag(bytes: Uint8Array, format: ObjectFormat = 'sha1'): Tag {
  const hex = RAW_ID_LENGTH[format] * 2;
  if (bytes.length < hex + 24 || !startsWith(bytes, 0, 'object ')) throw new GitObjectError('missing-header', 'tag has no object line where one is required', { offset: 0 });
  // Either case, as git's get_oid_hex reads it (the id is given lowercase: serialising writes that back).
  const object = utf8Decode(bytes.subarray(7, 7 + hex)).toLowerCase();
  if (!isObjectId(object, format) || bytes[7 + hex] !== LF) throw new GitObjectError('bad-object-id', 'bad object id in tag', { offset: 0 });
  let pos = hex + 8;
  const typeEnd = startsWith(bytes, pos, 'type ') ? bytes.indexOf(LF, pos) : -1;
  if (typeEnd < 0) throw new GitObjectError('missing-header', 'tag has no type line where one is required', { offset: pos });
  const objectType = String.fromCharCode(...bytes.subarray(pos + 5, Math.min(typeEnd, pos + 5 + 20)));
  if (!isObjectType(objectType) || typeEnd - pos - 5 !== objectType.length) throw new GitObjectError('bad-object-type', 'bad type in tag', { offset: pos });
  pos = typeEnd + 1;
  const nameEnd = startsWith(bytes, pos, 'tag ') ? bytes.indexOf(LF, pos + 4) : -1;
  if (nameEnd < 0) throw new GitObjectError('missing-header', 'tag has no tag line where one is required', { offset: pos });
  const rawName = bytes.subarray(pos + 4, nameEnd);
  let tag: string;
  let rawTag: Uint8Array | undefined;
  try {
    tag = utf8Decode(rawName, true);
  } catch {
    // Old tools wrote latin-1 names; git reads and serves them.
    rawTag = rawName;
    tag = Array.from(rawTag, (b) => String.fromCharCode(b)).join('');
  }
  const { headers, message, unparsed } = parseHeaderBlock(bytes.subarray(nameEnd + 1));
  let i = 0;
  let tagger: Identity | undefined;
  if (headers[0]?.key === 'tagger') {
    // Lenient like git's reader: an odd tagger is fsck's concern, not a parse error.
    tagger = readIdentity(headers[0].value);
    i++;
  }
  const result: Tag = { type: 'tag', object, objectType, tag, extraHeaders: headers.slice(i).map(({ key, value }) => ({ key, value })), message };
  if (tagger) result.tagger = tagger;
  if (rawTag) result.rawTag = rawTag;
  if (unparsed) result.unparsed = unparsed;
  return result;
}

/** Serialise a tag (byte-exact for a parsed one). */
export function serialiseTag(t: Omit<Tag, 'type'>, format: ObjectFormat = 'sha1'): Uint8Array {
  if (!isObjectType(t.objectType)) throw new GitObjectError('bad-object-type', `bad type ${JSON.stringify(t.objectType)}`);
  if (t.tag.includes('\n')) throw new GitObjectError('bad-tag-name', 'multi-line tag name');
  const headers: Header[] = [
    { key: 'object', value: utf8Encode(checkObjectId(t.object, format)) },
    { key: 'type', value: utf8Encode(t.objectType) },
    { key: 'tag', value: t.rawTag ?? utf8Encode(t.tag) },
  ];
  if (t.tagger) headers.push({ key: 'tagger', value: t.tagger.raw });
  headers.push(...t.extraHeaders);
  return serialiseHeaderBlock(headers, t.message, t.unparsed);
}

