/**
 * A read-through block cache over a SegmentReader, for one exchange (a
 * fetch): records are small and read in roughly storage order (a walk reads
 * commits, then trees, which a push wrote next to each other), so fetching
 * whole aligned blocks turns thousands of per-record range reads (one R2
 * subrequest each) into a few large ones. Bounded: least recently used
 * blocks are dropped past `maxBytes`. Segments are immutable once finished,
 * so nothing is ever invalidated.
 */
import { releaseNow } from '../core/bytes.js';
import { checkRange, type SegmentId, type SegmentReader } from './segments.js';
import type { ByteStream } from './ids.js';

/** Options of BlockCachedSegments. */
export interface BlockCacheOptions {
  /** Bytes per block read (default 1 MiB). Reads longer than this go straight through. */
  blockSize?: number;
  /** Most bytes of blocks kept (default 16 MiB). */
  maxBytes?: number;
  /**
   * Free a dropped block's memory at once (releaseNow), and a read's array made
   * for it alone (a long read passed through, a record across two blocks) at
   * the next read, for a caller done with each read's bytes before its next
   * read: a block lives long enough to reach V8's old generation, whose
   * garbage waits for a full GC; a repack's large records add up to its size.
   */
  freeDropped?: boolean;
}

/** Counters, for tests and benchmarks. */
export interface BlockCacheStats {
  /** Reads asked of the cache. */
  reads: number;
  /** Reads of the underlying store (block loads, pass-throughs, size lookups). */
  loads: number;
}

/** A SegmentReader answering small reads from cached blocks. Returned bytes are shared: never mutate them. */
export class BlockCachedSegments implements SegmentReader {
  readonly stats: BlockCacheStats = { reads: 0, loads: 0 };
  private readonly blockSize: number;
  private readonly maxBytes: number;
  private readonly freeDropped: boolean;
  private readonly blocks = new Map<string, Uint8Array>();
  private readonly sizes = new Map<SegmentId, number>();
  private bytes = 0;
  /** With freeDropped: the last read's array made for it alone, freed at the next read. */
  private loose: Uint8Array | null = null;

  constructor(
    private readonly inner: SegmentReader,
    opts: BlockCacheOptions = {},
  ) {
    this.blockSize = opts.blockSize ?? 1024 * 1024;
    this.maxBytes = opts.maxBytes ?? 16 * 1024 * 1024;
    this.freeDropped = opts.freeDropped ?? false;
  }

  async readRange(segment: SegmentId, offset: number, length: number): Promise<Uint8Array> {
    checkRange(offset, length);
    this.stats.reads++;
    if (this.loose !== null) releaseNow(this.loose);
    this.loose = null;
    const size = this.inner.size ? await this.sizeOf(segment) : -1;
    // Without a size (or past it, or too long to be worth caching), the store answers (and reports errors) itself.
    if (size < 0 || length === 0 || length > this.blockSize || offset + length > size) {
      this.stats.loads++;
      return this.own(await this.inner.readRange(segment, offset, length));
    }
    const first = Math.floor(offset / this.blockSize);
    const last = Math.floor((offset + length - 1) / this.blockSize);
    const a = await this.block(segment, first, size);
    const start = offset - first * this.blockSize;
    if (first === last) return a.subarray(start, start + length);
    // A record across a block boundary (at most two blocks, since length <= blockSize); the first
    // part copied before the second block's load may drop the first.
    const out = new Uint8Array(length);
    out.set(a.subarray(start));
    const b = await this.block(segment, last, size);
    out.set(b.subarray(0, length - (a.length - start)), a.length - start);
    return this.own(out);
  }

  /** `data`, made for one read: with freeDropped, freed at the next (only an array over a whole buffer of its own). */
  private own(data: Uint8Array): Uint8Array {
    if (this.freeDropped && data.byteOffset === 0 && data.byteLength === data.buffer.byteLength) this.loose = data;
    return data;
  }

  readStream(segment: SegmentId, offset?: number, length?: number): ByteStream {
    return this.inner.readStream(segment, offset, length);
  }

  async size(segment: SegmentId): Promise<number> {
    return this.sizeOf(segment);
  }

  private async sizeOf(segment: SegmentId): Promise<number> {
    let size = this.sizes.get(segment);
    if (size === undefined) {
      this.stats.loads++;
      size = await this.inner.size!(segment);
      this.sizes.set(segment, size);
    }
    return size;
  }

  private async block(segment: SegmentId, index: number, size: number): Promise<Uint8Array> {
    const key = `${index}:${segment}`;
    let data = this.blocks.get(key);
    if (data !== undefined) {
      // Map order is insertion order: re-inserting marks the block most recently used.
      this.blocks.delete(key);
      this.blocks.set(key, data);
      return data;
    }
    const start = index * this.blockSize;
    this.stats.loads++;
    data = await this.inner.readRange(segment, start, Math.min(this.blockSize, size - start));
    this.blocks.set(key, data);
    this.bytes += data.length;
    for (const [k, v] of this.blocks) {
      if (this.bytes <= this.maxBytes || k === key) break;
      this.blocks.delete(k);
      this.bytes -= v.length;
      if (this.freeDropped && v.byteOffset === 0 && v.byteLength === v.buffer.byteLength) releaseNow(v);
    }
    return data;
  }
}
