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
 * Parse then serialise gives back the exact bytes.
 */
import { utf8Decode, utf8Encode } from '../bytes.js';
import { GitObjectError } from './errors.js';
import { parseHeaderBlock, serialiseHeaderBlock, type Header, type ParsedHeader } from './headers.js';
import { readIdentity, type Identity } from './identity.js';
import { checkObjectId, isObjectId, isObjectType, type GitObjectType, type ObjectFormat, type ObjectId } from './object-id.js';

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
}

/** Parse a tag's content; a GitObjectError if object, type or tag are missing or malformed. */
export function parseTag(bytes: Uint8Array, format: ObjectFormat = 'sha1'): Tag {
  const { headers, message } = parseHeaderBlock(bytes, 'tag');
  // Either case, as git's get_oid_hex reads it (the id is given lowercase: serialising writes that back).
  const object = utf8Decode(required(headers[0], 'object').value).toLowerCase();
  if (!isObjectId(object, format)) throw new GitObjectError('bad-object-id', 'bad object id in tag', { offset: headers[0].offset });
  const objectType = utf8Decode(required(headers[1], 'type').value);
  if (!isObjectType(objectType)) throw new GitObjectError('bad-object-type', 'bad type in tag', { offset: headers[1].offset });
  const nameHeader = required(headers[2], 'tag');
  let tag: string;
  let rawTag: Uint8Array | undefined;
  try {
    tag = utf8Decode(nameHeader.value, true);
  } catch {
    // Old tools wrote latin-1 names; git reads and serves them.
    rawTag = nameHeader.value;
    tag = Array.from(rawTag, (b) => String.fromCharCode(b)).join('');
  }
  if (tag.length === 0 || tag.includes('\n')) throw new GitObjectError('bad-tag-name', 'empty or multi-line tag name', { offset: nameHeader.offset });
  let i = 3;
  let tagger: Identity | undefined;
  if (headers[3]?.key === 'tagger') {
    // Lenient like git's reader: an odd tagger is fsck's concern, not a parse error.
    tagger = readIdentity(headers[3].value);
    i++;
  }
  const result: Tag = { type: 'tag', object, objectType, tag, extraHeaders: headers.slice(i).map(({ key, value }) => ({ key, value })), message };
  if (tagger) result.tagger = tagger;
  if (rawTag) result.rawTag = rawTag;
  return result;
}

/** Serialise a tag (byte-exact for a parsed one). */
export function serialiseTag(t: Omit<Tag, 'type'>, format: ObjectFormat = 'sha1'): Uint8Array {
  if (!isObjectType(t.objectType)) throw new GitObjectError('bad-object-type', `bad type ${JSON.stringify(t.objectType)}`);
  if (t.tag.length === 0 || t.tag.includes('\n')) throw new GitObjectError('bad-tag-name', 'empty or multi-line tag name');
  const headers: Header[] = [
    { key: 'object', value: utf8Encode(checkObjectId(t.object, format)) },
    { key: 'type', value: utf8Encode(t.objectType) },
    { key: 'tag', value: t.rawTag ?? utf8Encode(t.tag) },
  ];
  if (t.tagger) headers.push({ key: 'tagger', value: t.tagger.raw });
  headers.push(...t.extraHeaders);
  return serialiseHeaderBlock(headers, t.message);
}

function required(h: ParsedHeader | undefined, key: string): ParsedHeader {
  if (h?.key !== key) throw new GitObjectError('missing-header', `tag has no ${key} line where one is required`, { offset: h?.offset });
  return h;
}
