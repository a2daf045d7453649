/**
 * Streaming pack writer (gitformat-pack, version 2): `entriesToPackBytes`
 * turns entries into the bytes of a pack, header to SHA-1 trailer, holding one
 * entry at a time.
 *
 * Entries are whole objects or deltas (deflated here), or raw records: zlib
 * streams stored earlier (e.g. as a push delivered them), copied byte for byte
 * with only the entry header and base reference written anew. That is how a
 * clone is served by copying stored records instead of re-deflating.
 *
 * A delta names its base either by the index of an earlier entry of this pack
 * (written as OFS_DELTA, the distance computed here) or by object id (written
 * as REF_DELTA: the base may be anywhere in the pack, or outside it in a thin
 * pack).
 */
import { fromHex } from '../../core/bytes.js';
import type { GitObjectType } from '../../core/git/object-id.js';
import type { Primitives } from '../../core/primitives.js';
import type { ByteStream } from '../../core/stream.js';
import { PACK_HEADER_SIZE, PackError, encodeEntryHeader, encodePackHeader, type PackEntryType } from './pack.js';

/** Where a delta's base is: an earlier entry of this pack (OFS_DELTA) or an object id (REF_DELTA). */
export type DeltaBase = { index: number } | { id: string };

/** One entry to write. */
export type PackWriteEntry =
  /** A whole object, deflated here. */
  | { kind: 'object'; type: GitObjectType; data: Uint8Array }
  /** A git delta against `base`, deflated here. */
  | { kind: 'delta'; base: DeltaBase; delta: Uint8Array }
  /**
   * A stored zlib stream copied as is: `size` is the inflated size (of the
   * object, or of the delta when `base` is given), `compressed` the stream.
   */
  | { kind: 'raw'; type: GitObjectType | 'delta'; size: number; compressed: Uint8Array | readonly Uint8Array[]; base?: DeltaBase };

/** Options of entriesToPackBytes. */
export interface WritePackOptions {
  primitives: Primitives;
  /** zlib level for entries deflated here (default 6, zlib's and git's default). */
  level?: number;
}

function headerFor(entry: PackWriteEntry, offset: number, offsets: number[]): Uint8Array {
  const base = entry.kind === 'object' ? undefined : entry.base;
  const isDelta = entry.kind === 'delta' || (entry.kind === 'raw' && entry.type === 'delta');
  const size = entry.kind === 'object' ? entry.data.length : entry.kind === 'delta' ? entry.delta.length : entry.size;
  if (!isDelta) {
    if (base) throw new PackError('pack-bad-entry', 'a whole object cannot have a delta base');
    return encodeEntryHeader((entry as { type: PackEntryType }).type, size);
  }
  if (!base) throw new PackError('pack-bad-entry', 'a delta entry needs a base');
  if ('index' in base) {
    const baseOffset = offsets[base.index];
    if (!Number.isInteger(base.index) || baseOffset === undefined) {
      throw new PackError('pack-bad-ofs-delta', `OFS_DELTA base index ${base.index} is not an earlier entry`, { index: base.index });
    }
    return encodeEntryHeader('ofs-delta', size, { rel: offset - baseOffset });
  }
  let id: Uint8Array;
  try {
    id = fromHex(base.id);
  } catch {
    id = new Uint8Array(0);
  }
  if (id.length !== 20) throw new PackError('pack-bad-ref-delta', `bad REF_DELTA base id ${base.id.slice(0, 64)}`);
  return encodeEntryHeader('ref-delta', size, { id });
}

/**
 * The bytes of a pack holding exactly `count` entries (a PackError if the
 * source yields fewer or more). Output chunks are views the consumer must not
 * mutate.
 */
export async function* entriesToPackBytes(
  entries: AsyncIterable<PackWriteEntry> | Iterable<PackWriteEntry>,
  count: number,
  opts: WritePackOptions,
): ByteStream {
  const hasher = opts.primitives.hash('sha1');
  const level = opts.level ?? 6;
  const emit = (b: Uint8Array) => {
    hasher.update(b);
    return b;
  };
  yield emit(encodePackHeader(count));
  let offset = PACK_HEADER_SIZE;
  const offsets: number[] = [];
  let n = 0;
  for await (const entry of entries) {
    if (n >= count) throw new PackError('pack-count-mismatch', `more than ${count} entries given`, { count });
    const head = headerFor(entry, offset, offsets);
    offsets.push(offset);
    n++;
    yield emit(head);
    offset += head.length;
    if (entry.kind === 'raw') {
      const parts = entry.compressed instanceof Uint8Array ? [entry.compressed] : entry.compressed;
      for (const p of parts) {
        if (p.length === 0) continue;
        yield emit(p);
        offset += p.length;
      }
    } else {
      const z = opts.primitives.zlib.deflate(entry.kind === 'object' ? entry.data : entry.delta, level);
      yield emit(z);
      offset += z.length;
    }
  }
  if (n !== count) throw new PackError('pack-count-mismatch', `${n} entries given, header says ${count}`, { count, given: n });
  yield hasher.digest();
}
