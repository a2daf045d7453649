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
import { MAX_ENTRY_HEADER, PACK_HEADER_SIZE, PackError, encodePackHeader, writeEntryHeader, type PackEntryType } from './pack.js';
import { BAND_DATA, encodeSidebandJoined, writeSidebandHeader } from './sideband.js';

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
   * object, or of the delta when `base` is given), `compressed` the stream:
   * whole, in pieces, or in pieces read as they are asked for (a record too
   * large to hold: each piece is written out before the next is asked for).
   */
  | { kind: 'raw'; type: GitObjectType | 'delta'; size: number; compressed: Uint8Array | readonly Uint8Array[] | AsyncIterable<Uint8Array>; base?: DeltaBase };

/** Options of entriesToPackBytes. */
export interface WritePackOptions {
  primitives: Primitives;
  /** zlib level for entries deflated here (default 6, zlib's and git's default). */
  level?: number;
  /**
   * Join the output into chunks of this many pack bytes (the last one
   * shorter). Every piece is copied into a chunk before the next entry is
   * asked for, so an entry's bytes may live in a buffer its source reuses.
   * Without it each entry header and record is its own chunk: a clone's
   * thousands of few-byte pieces then cost a hash update and a stream step each.
   */
  chunkSize?: number;
  /**
   * With chunkSize: each chunk (and the trailer) comes out as side-band
   * pkt-lines on band 1 of up to this many data bytes (whole packets when
   * chunkSize is a multiple of it).
   * The framing is written as pieces are joined, so every pack byte is copied
   * once on its way out instead of joined, then copied again to be framed.
   */
  sideband?: number;
  /**
   * The pack's SHA-1 trailer when these exact bytes were written before (then nothing is hashed:
   * ~0.2 s of CPU per 400 MB in workerd), or null; `keep` gets the trailer computed when `known` is null.
   */
  trailer?: PackTrailer;
  /** With chunkSize: where output chunks' memory comes from (taken back once the consumer is done with a chunk). */
  buffers?: OutputBuffers;
}

/**
 * Output chunk memory used again once its consumer is done with it (`release`, called only when
 * the chunk's bytes are provably copied out, e.g. a write to a stream that buffers nothing has
 * completed), instead of a new buffer per chunk: a 400 MB clone otherwise leaves 400 MB of
 * 256 KiB buffers to the collector, ~60-80 MiB of them uncollected at a time in the isolate's peak.
 * Only buffers taken here are taken back, each once per take; at most 32 are kept (a batch of
 * records, or a 4 MiB piece, is joined into up to 16 chunks before the first goes out).
 */
export class OutputBuffers {
  readonly #mine = new WeakSet<ArrayBufferLike>();
  readonly #free: ArrayBuffer[] = [];
  /** Buffers handed out again (for tests and benchmarks). */
  reused = 0;

  /** A buffer of `size` bytes (contents undefined). */
  take(size: number): Uint8Array {
    let b: ArrayBuffer | undefined;
    while ((b = this.#free.pop()) !== undefined && b.byteLength !== size);
    if (b !== undefined) this.reused++;
    const out = b !== undefined ? new Uint8Array(b) : new Uint8Array(size);
    this.#mine.add(out.buffer);
    return out;
  }

  /** Gives back the memory under `chunk` (a view of a buffer take() handed out); anything else is ignored. */
  readonly release = (chunk: Uint8Array): void => {
    const b = chunk.buffer;
    if (!this.#mine.has(b) || this.#free.length >= 32) return;
    this.#mine.delete(b);
    this.#free.push(b as ArrayBuffer);
  };
}

/** A pack trailer remembered between identical packs (WritePackOptions.trailer). */
export interface PackTrailer {
  known: Uint8Array | null;
  keep(digest: Uint8Array): void;
}

/**
 * Joins pieces into chunks of `size` data bytes; `put` returns the chunks now
 * complete. With `packet` > 0 a chunk is side-band pkt-lines of `packet` data
 * bytes: 5 bytes are left before each packet's data and filled in when the
 * chunk is sealed.
 */
class Coalescer {
  private buf: Uint8Array;
  /** Data bytes in buf. */
  private used = 0;
  /** Bytes of buf written (data and framing). */
  private at = 0;
  constructor(
    private readonly size: number,
    private readonly packet: number,
    private readonly buffers?: OutputBuffers,
  ) {
    this.buf = this.fresh();
  }
  put(piece: Uint8Array, out: Uint8Array[]): void {
    const { size, packet } = this;
    let i = 0;
    while (i < piece.length) {
      if (packet > 0 && this.used % packet === 0) this.at += 5;
      const room = packet > 0 ? Math.min(packet - (this.used % packet), size - this.used) : size - this.used;
      const k = Math.min(room, piece.length - i);
      this.buf.set(k === piece.length ? piece : piece.subarray(i, i + k), this.at);
      this.at += k;
      this.used += k;
      i += k;
      if (this.used === size) out.push(this.seal());
    }
  }
  /** What is left (nothing is put after it). */
  rest(): Uint8Array | null {
    return this.used > 0 ? this.seal() : null;
  }
  /** The data of a chunk this returned, as hash input (the packets' payloads without their framing). */
  *data(chunk: Uint8Array): Generator<Uint8Array> {
    if (this.packet === 0) {
      yield chunk;
      return;
    }
    for (let at = 0; at < chunk.length; at += this.packet + 5) yield chunk.subarray(at + 5, Math.min(chunk.length, at + 5 + this.packet));
  }
  private fresh(): Uint8Array {
    const n = this.size + (this.packet > 0 ? 5 * Math.ceil(this.size / this.packet) : 0);
    return this.buffers ? this.buffers.take(n) : new Uint8Array(n);
  }
  private seal(): Uint8Array {
    const out = this.buf.subarray(0, this.at);
    if (this.packet > 0) {
      for (let d = 0, at = 0; d < this.used; d += this.packet, at += this.packet + 5) {
        writeSidebandHeader(out, at, BAND_DATA, Math.min(this.packet, this.used - d));
      }
    }
    this.buf = this.fresh();
    this.used = 0;
    this.at = 0;
    return out;
  }
}

/**
 * Writes `entry`'s header into `out` (at least MAX_ENTRY_HEADER bytes) and returns
 * its length: written in place, since a clone writes one per object (300k
 * arrays built and copied each cost more than the copy of the record).
 */
function headerFor(entry: PackWriteEntry, offset: number, offsets: number[], out: Uint8Array): number {
  const base = entry.kind === 'object' ? undefined : entry.base;
  const isDelta = entry.kind === 'delta' || (entry.kind === 'raw' && entry.type === 'delta');
  const size = entry.kind === 'object' ? entry.data.length : entry.kind === 'delta' ? entry.delta.length : entry.size;
  if (!isDelta) {
    if (base) throw new PackError('pack-bad-entry', 'a whole object cannot have a delta base');
    return writeEntryHeader(out, (entry as { type: PackEntryType }).type, size);
  }
  if (!base) throw new PackError('pack-bad-entry', 'a delta entry needs a base');
  if ('index' in base) {
    const baseOffset = offsets[base.index];
    if (!Number.isInteger(base.index) || baseOffset === undefined) {
      throw new PackError('pack-bad-ofs-delta', `OFS_DELTA base index ${base.index} is not an earlier entry`, { index: base.index });
    }
    return writeEntryHeader(out, 'ofs-delta', size, { rel: offset - baseOffset });
  }
  let id: Uint8Array;
  try {
    id = fromHex(base.id);
  } catch {
    id = new Uint8Array(0);
  }
  if (id.length !== 20) throw new PackError('pack-bad-ref-delta', `bad REF_DELTA base id ${base.id.slice(0, 64)}`);
  return writeEntryHeader(out, 'ref-delta', size, { id });
}

/**
 * The bytes of a pack holding exactly `count` entries (a PackError if the
 * source yields fewer or more), side-band framed when `opts.sideband`. The
 * source may yield entries in batches: a clone's 300k records one by one cost
 * an async-iterator step each. Output chunks are views the consumer must not mutate.
 */
export async function* entriesToPackBytes(
  entries: AsyncIterable<PackWriteEntry | readonly PackWriteEntry[]> | Iterable<PackWriteEntry>,
  count: number,
  opts: WritePackOptions,
): ByteStream {
  const known = opts.trailer?.known ?? null;
  const hasher = known === null ? opts.primitives.hash('sha1') : null;
  const level = opts.level ?? 6;
  const joined = opts.chunkSize === undefined ? null : new Coalescer(opts.chunkSize, opts.sideband ?? 0, opts.buffers);
  // Pieces ready to go out; hashed as they leave, so joined output costs one update per chunk.
  const ready: Uint8Array[] = [];
  const put = (b: Uint8Array) => {
    if (b.length === 0) return;
    if (joined === null) ready.push(b);
    else joined.put(b, ready);
  };
  function* drain(): Generator<Uint8Array> {
    for (const b of ready) {
      if (hasher === null) {
        // the trailer is known
      } else if (joined === null) hasher.update(b);
      else for (const d of joined.data(b)) hasher.update(d);
      yield b;
    }
    ready.length = 0;
  }
  put(encodePackHeader(count));
  let offset = PACK_HEADER_SIZE;
  const offsets: number[] = [];
  let n = 0;
  // put copies what it is given before returning, so one scratch serves every header.
  const scratch = new Uint8Array(MAX_ENTRY_HEADER);
  const write = (entry: PackWriteEntry) => {
    if (n >= count) throw new PackError('pack-count-mismatch', `more than ${count} entries given`, { count });
    const headLength = headerFor(entry, offset, offsets, scratch);
    offsets.push(offset);
    n++;
    // Unjoined pieces go out as they are: a header then needs its own copy.
    put(joined === null ? scratch.slice(0, headLength) : scratch.subarray(0, headLength));
    offset += headLength;
    if (entry.kind === 'raw') {
      if (entry.compressed instanceof Uint8Array) {
        put(entry.compressed);
        offset += entry.compressed.length;
      } else if (Array.isArray(entry.compressed)) {
        for (const p of entry.compressed as readonly Uint8Array[]) {
          put(p);
          offset += p.length;
        }
      }
    } else {
      const z = opts.primitives.zlib.deflate(entry.kind === 'object' ? entry.data : entry.delta, level);
      put(z);
      offset += z.length;
    }
  };
  /** The pieces of a record read as they are asked for: each goes out before the next is read. */
  async function* stream(pieces: AsyncIterable<Uint8Array>): AsyncGenerator<Uint8Array> {
    for await (const p of pieces) {
      put(p);
      offset += p.length;
      if (ready.length > 0) yield* drain();
    }
  }
  const streamed = (entry: PackWriteEntry): AsyncIterable<Uint8Array> | null =>
    entry.kind === 'raw' && !(entry.compressed instanceof Uint8Array) && !Array.isArray(entry.compressed) ? (entry.compressed as AsyncIterable<Uint8Array>) : null;
  for await (const item of entries) {
    for (const entry of Array.isArray(item) ? (item as readonly PackWriteEntry[]) : [item as PackWriteEntry]) {
      write(entry);
      const pieces = streamed(entry);
      if (pieces !== null) yield* stream(pieces);
    }
    if (ready.length > 0) yield* drain();
  }
  if (n !== count) throw new PackError('pack-count-mismatch', `${n} entries given, header says ${count}`, { count, given: n });
  const rest = joined?.rest();
  if (rest) ready.push(rest);
  yield* drain();
  const digest = known ?? hasher!.digest();
  if (known === null) opts.trailer?.keep(digest);
  yield opts.sideband && joined ? encodeSidebandJoined(BAND_DATA, digest, opts.sideband) : digest;
}
