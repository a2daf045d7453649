/**
 * Hand-built git objects and packs for the bad-input tests: valid framing
 * around whatever damage a test wants (a corrupt zlib stream under a correct
 * trailer, a delta against the wrong base, a malformed tree), which
 * `git pack-objects` would never produce.
 */
import { createHash } from 'node:crypto';
import { deflateSync } from 'node:zlib';

export const OBJ = { commit: 1, tree: 2, blob: 3, tag: 4, ofsDelta: 6, refDelta: 7 } as const;

/** The id git gives an object of `type` with `data`. */
export function objectId(type: 'commit' | 'tree' | 'blob' | 'tag', data: Uint8Array): string {
  return createHash('sha1').update(`${type} ${data.length}\0`).update(data).digest('hex');
}

/** A pack entry's type-and-size header (gitformat-pack). */
function entryHeader(type: number, size: number): Buffer {
  const bytes: number[] = [];
  let b = (type << 4) | (size & 15);
  size = Math.floor(size / 16);
  while (size > 0) {
    bytes.push(b | 0x80);
    b = size & 0x7f;
    size = Math.floor(size / 128);
  }
  bytes.push(b);
  return Buffer.from(bytes);
}

export interface CraftEntry {
  type: number;
  /** The inflated size written in the header (the object or delta size). */
  size: number;
  /** The zlib stream as it goes in the pack. */
  zlib: Uint8Array;
  /** REF_DELTA base id. */
  baseId?: string;
}

/** A whole entry for `data`, deflated normally. */
export function entry(type: number, data: Uint8Array): CraftEntry {
  return { type, size: data.length, zlib: deflateSync(data) };
}

/** A pack of `entries` with a correct header, count and SHA-1 trailer. */
export function craftPack(entries: CraftEntry[]): Buffer {
  const head = Buffer.alloc(12);
  head.write('PACK', 0, 'latin1');
  head.writeUInt32BE(2, 4);
  head.writeUInt32BE(entries.length, 8);
  const parts: Buffer[] = [head];
  for (const e of entries) {
    parts.push(entryHeader(e.type, e.size));
    if (e.baseId !== undefined) parts.push(Buffer.from(e.baseId, 'hex'));
    parts.push(Buffer.from(e.zlib));
  }
  const body = Buffer.concat(parts);
  return Buffer.concat([body, createHash('sha1').update(body).digest()]);
}

/** A git delta varint (little-endian base 128). */
function varint(n: number): number[] {
  const out: number[] = [];
  do {
    let b = n & 0x7f;
    n = Math.floor(n / 128);
    if (n > 0) b |= 0x80;
    out.push(b);
  } while (n > 0);
  return out;
}

/** A git delta that copies all of a base of `baseSize` bytes and appends `tail`. */
export function appendDelta(baseSize: number, tail: Uint8Array): Buffer {
  const ops: number[] = [...varint(baseSize), ...varint(baseSize + tail.length)];
  // copy: offset 0, size baseSize (< 2^24), then insert tail in <=127-byte pieces
  ops.push(0x80 | 0x10 | 0x20 | 0x40, baseSize & 0xff, (baseSize >> 8) & 0xff, (baseSize >> 16) & 0xff);
  for (let i = 0; i < tail.length; i += 127) {
    const piece = tail.subarray(i, i + 127);
    ops.push(piece.length, ...piece);
  }
  return Buffer.from(ops);
}

/** A tree's raw bytes from entries given as (mode, name, id) with no checking at all. */
export function rawTree(entries: { mode: string; name: string; id: string | Buffer }[]): Buffer {
  return Buffer.concat(entries.map((e) => Buffer.concat([Buffer.from(`${e.mode} ${e.name}\0`), typeof e.id === 'string' ? Buffer.from(e.id, 'hex') : e.id])));
}

/** A commit's raw bytes for `tree` with `parents`. */
export function rawCommit(tree: string, parents: string[], message: string): Buffer {
  const who = 'A U Thor <author@example.com> 1700000000 +0000';
  return Buffer.from(`tree ${tree}\n${parents.map((p) => `parent ${p}\n`).join('')}author ${who}\ncommitter ${who}\n\n${message}\n`);
}
