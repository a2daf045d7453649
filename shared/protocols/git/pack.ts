/**
 * The packfile format (gitformat-pack), shared by pack-reader.ts and
 * pack-writer.ts: the file header, entry headers, errors and type codes.
 *
 *     pack        = "PACK" version(4, network order: 2 or 3) count(4) *entry trailer
 *     entry       = type-and-size [ofs-delta-base / ref-delta-base] zlib-stream
 *     type-and-size = 1xxxyyyy *(1zzzzzzz) 0zzzzzzz or 0xxxyyyy
 *                   ; xxx = type, yyyy = size bits 0-3, then 7 bits per byte
 *     type        = 1 commit / 2 tree / 3 blob / 4 tag / 6 OFS_DELTA / 7 REF_DELTA
 *     ofs-delta-base = offset encoded "n bytes with MSB set in all but the
 *                   last one ... offset = ((offset + 1) << 7) | next"; the base
 *                   is at (entry offset - offset)
 *     ref-delta-base = 20-byte object id of the base
 *     trailer     = SHA-1 of everything before it
 *
 * The size in the entry header is the inflated size of the object, or of the
 * delta data for deltified entries.
 */
import { toHexAt } from '../../core/bytes.js';
import { HubError } from '../../core/errors.js';
import type { GitObjectType } from '../../core/git/object-id.js';

/** A malformed, truncated, inconsistent or over-limit pack. `data.offset` says where. */
export class PackError extends HubError {}

/** "PACK" */
export const PACK_SIGNATURE = Uint8Array.of(0x50, 0x41, 0x43, 0x4b);
/** Size of the pack header: signature, version, object count. */
export const PACK_HEADER_SIZE = 12;
/** Size of the SHA-1 trailer. */
export const PACK_TRAILER_SIZE = 20;
/** Size of a REF_DELTA base id (SHA-1). */
export const RAW_SHA1_SIZE = 20;
/** OBJ_COMMIT */
export const OBJ_COMMIT = 1;
/** OBJ_TREE */
export const OBJ_TREE = 2;
/** OBJ_BLOB */
export const OBJ_BLOB = 3;
/** OBJ_TAG */
export const OBJ_TAG = 4;
/** OBJ_OFS_DELTA */
export const OBJ_OFS_DELTA = 6;
/** OBJ_REF_DELTA */
export const OBJ_REF_DELTA = 7;
/** Longest entry header we accept: 1 + 9 size bytes (63 bits) + 10 offset bytes, or 20 id bytes. */
export const MAX_ENTRY_HEADER = 1 + 9 + RAW_SHA1_SIZE;

/** A pack entry's type code. */
export type PackObjectCode = 1 | 2 | 3 | 4 | 6 | 7;
/** The type as an entry header names it. */
export type PackEntryType = GitObjectType | 'ofs-delta' | 'ref-delta';

const TYPE_NAMES: Record<number, PackEntryType> = { 1: 'commit', 2: 'tree', 3: 'blob', 4: 'tag', 6: 'ofs-delta', 7: 'ref-delta' };
const TYPE_CODES: Record<PackEntryType, PackObjectCode> = { commit: 1, tree: 2, blob: 3, tag: 4, 'ofs-delta': 6, 'ref-delta': 7 };

/** The name of an entry type code (a PackError for 0, 5 or anything else). */
export function packTypeName(code: number, offset = 0): PackEntryType {
  const t = TYPE_NAMES[code];
  if (!t) throw new PackError('pack-bad-type', `invalid pack entry type ${code}`, { offset, type: code });
  return t;
}

/** The type code of an entry type. */
export function packTypeCode(type: PackEntryType): PackObjectCode {
  return TYPE_CODES[type];
}

/** A parsed pack header. */
export interface PackHeader {
  version: 2 | 3;
  count: number;
}

/** Parse the 12-byte pack header; a PackError for a bad signature or version (in git receive-pack's words: its `unpack` line). */
export function decodePackHeader(b: Uint8Array): PackHeader {
  if (b.length < PACK_HEADER_SIZE) throw new PackError('pack-truncated', 'eof before pack header was fully read', { offset: b.length });
  for (let i = 0; i < 4; i++) {
    if (b[i] !== PACK_SIGNATURE[i]) throw new PackError('pack-bad-signature', 'protocol error (pack signature mismatch detected)', { offset: 0 });
  }
  const version = ((b[4] << 24) | (b[5] << 16) | (b[6] << 8) | b[7]) >>> 0;
  if (version !== 2 && version !== 3) throw new PackError('pack-bad-version', 'protocol error (pack version unsupported)', { offset: 4, version });
  const count = ((b[8] << 24) | (b[9] << 16) | (b[10] << 8) | b[11]) >>> 0;
  return { version, count };
}

/** The 12-byte header of a version-2 pack of `count` objects. */
export function encodePackHeader(count: number): Uint8Array {
  if (!Number.isInteger(count) || count < 0 || count > 0xffffffff) throw new PackError('pack-bad-count', `bad object count ${count}`);
  const b = new Uint8Array(PACK_HEADER_SIZE);
  b.set(PACK_SIGNATURE);
  b[7] = 2;
  b[8] = count >>> 24;
  b[9] = (count >>> 16) & 0xff;
  b[10] = (count >>> 8) & 0xff;
  b[11] = count & 0xff;
  return b;
}

/** An entry header: type, declared size, the delta base, and its length in bytes. */
export interface EntryHeader {
  type: PackEntryType;
  size: number;
  /** OFS_DELTA: absolute pack offset of the base. */
  baseOffset?: number;
  /** REF_DELTA: hex id of the base. */
  baseId?: string;
  /** Bytes of header (type-and-size plus base reference). */
  length: number;
}

/** What decodeEntryHeader found: a header, or how many more bytes it needs (at most). */
export type EntryHeaderStep = ({ kind: 'header' } & EntryHeader) | { kind: 'need'; bytes: number };

/**
 * Decode the entry header at buf[at] for an entry at pack offset `offset` (no
 * I/O). PackErrors: bad type, size varint over 63 bits, OFS_DELTA base before
 * the pack start or not before the entry.
 */
export function decodeEntryHeader(buf: Uint8Array, at: number, offset: number): EntryHeaderStep {
  let p = at;
  const end = buf.length;
  if (p >= end) return { kind: 'need', bytes: 1 };
  let c = buf[p++];
  const type = packTypeName((c >> 4) & 7, offset);
  let size = c & 15;
  let scale = 16;
  while (c & 0x80) {
    if (p >= end) return { kind: 'need', bytes: 1 };
    if (p - at >= 10) throw new PackError('pack-bad-header', 'entry size varint too long', { offset });
    c = buf[p++];
    size += (c & 0x7f) * scale;
    scale *= 128;
  }
  if (!Number.isSafeInteger(size)) throw new PackError('pack-bad-header', 'entry size too large', { offset });
  if (type === 'ofs-delta') {
    if (p >= end) return { kind: 'need', bytes: 1 };
    c = buf[p++];
    let rel = c & 0x7f;
    const start = p;
    while (c & 0x80) {
      if (p >= end) return { kind: 'need', bytes: 1 };
      if (p - start >= 9) throw new PackError('pack-bad-header', 'OFS_DELTA offset varint too long', { offset });
      c = buf[p++];
      rel = (rel + 1) * 128 + (c & 0x7f);
    }
    const baseOffset = offset - rel;
    if (rel === 0 || baseOffset < PACK_HEADER_SIZE) {
      throw new PackError('pack-bad-ofs-delta', `OFS_DELTA base ${rel} bytes back is outside the pack`, { offset, rel });
    }
    return { kind: 'header', type, size, baseOffset, length: p - at };
  }
  if (type === 'ref-delta') {
    if (end - p < RAW_SHA1_SIZE) return { kind: 'need', bytes: RAW_SHA1_SIZE - (end - p) };
    const baseId = toHexAt(buf, p, RAW_SHA1_SIZE);
    return { kind: 'header', type, size, baseId, length: p + RAW_SHA1_SIZE - at };
  }
  return { kind: 'header', type, size, length: p - at };
}

/**
 * Writes an entry header into `out` (MAX_ENTRY_HEADER bytes suffice) and
 * returns its length: type and size, then for OFS_DELTA the distance back to
 * the base (`entryOffset - baseOffset`), for REF_DELTA the base id.
 */
export function writeEntryHeader(out: Uint8Array, type: PackEntryType, size: number, base?: { rel?: number; id?: Uint8Array }): number {
  if (!Number.isSafeInteger(size) || size < 0) throw new PackError('pack-bad-size', `bad entry size ${size}`);
  let c = (packTypeCode(type) << 4) | (size & 15);
  let rest = Math.floor(size / 16);
  let n = 0;
  while (rest > 0) {
    out[n++] = c | 0x80;
    c = rest & 0x7f;
    rest = Math.floor(rest / 128);
  }
  out[n++] = c;
  if (type === 'ofs-delta') {
    let rel = base?.rel ?? 0;
    if (!Number.isSafeInteger(rel) || rel <= 0) throw new PackError('pack-bad-ofs-delta', `bad OFS_DELTA distance ${rel}`);
    // gitformat-pack's offset encoding: big-endian 7-bit groups, each but the last one less one.
    let len = 1;
    for (let r = Math.floor(rel / 128); r > 0; r = Math.floor((r - 1) / 128)) len++;
    out[n + len - 1] = rel & 0x7f;
    rel = Math.floor(rel / 128);
    for (let k = n + len - 2; k >= n; k--) {
      rel -= 1;
      out[k] = 0x80 | (rel & 0x7f);
      rel = Math.floor(rel / 128);
    }
    n += len;
  } else if (type === 'ref-delta') {
    const id = base?.id;
    if (!id || id.length !== RAW_SHA1_SIZE) throw new PackError('pack-bad-ref-delta', 'REF_DELTA needs a 20-byte base id');
    out.set(id, n);
    n += RAW_SHA1_SIZE;
  }
  return n;
}

/** An entry header as its own bytes (writeEntryHeader). */
export function encodeEntryHeader(type: PackEntryType, size: number, base?: { rel?: number; id?: Uint8Array }): Uint8Array {
  const out = new Uint8Array(MAX_ENTRY_HEADER);
  return out.slice(0, writeEntryHeader(out, type, size, base));
}
