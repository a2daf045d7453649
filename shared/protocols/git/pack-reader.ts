/**
 * Streaming pack reader (gitformat-pack): `packBytesToEntries` turns the bytes
 * of a pack into events, in pack order, without holding the pack:
 *
 *   header  once: version and object count
 *   entry   per entry, as soon as its zlib stream has been read: its offset,
 *           header type, declared size, delta base, and its RAW bytes exactly as
 *           received (header + base reference + zlib stream), which the storage
 *           layer keeps as is
 *   object  when an entry is resolved (for deltas possibly later, once their
 *           base is known): its object id, real type, size, chain depth, content
 *   end     after the trailer SHA-1 and every delta checked
 *
 * Delta bases. OFS_DELTA bases are earlier entries. A REF_DELTA base is looked
 * up among objects already resolved in this pack, then asked of `baseProvider`
 * (thin packs: objects the receiver already has), else the delta waits until
 * an entry with that id resolves later in the pack; what still waits at the end
 * is a PackError ('pack-unknown-base'), which also catches delta cycles.
 *
 * Memory. Resolved contents go to a byte-bounded cache keyed by offset
 * (`maxDeltaBaseCache`): a ring of memory they are inflated and patched into
 * (see BaseCache), so an object's content handed out is valid only until the
 * next event is pulled. When a base has fallen out of it, it is rebuilt from
 * the entry's zlib stream: obtained from `readEntry(offset)` when the caller can
 * re-read what it stored (the storage layer stores every entry), else from the
 * streams this reader retained itself, up to `maxRetainedBytes` in total (beyond
 * that, entries are no longer retained, and a base that is then needed and gone
 * is a PackError 'pack-base-unavailable'). Per entry it also keeps ~16 bytes of
 * metadata (offset, type, size, base, depth, id index) in typed-array
 * columns indexed by entry number, like git index-pack: no JS object per entry
 * lives until the end (a 300k-object push kept ~100 MB of them).
 *
 * Each zlib stream's end is found with `zlib.inflatePrefix` on a window of the
 * stream's deflate bound (a view of the buffered chunk when it holds the window);
 * entries whose bound exceeds `window` or whose stream outgrows its bound use the
 * streaming `createInflater`, and are streamed: their zlib stream goes out in
 * `part` events as it is read (the consumer appends them to its record), then
 * the `entry` event, whose `raw` is only the header (`streamed`). A whole blob
 * read so is hashed as it inflates and never held (its object event has no
 * content), and so is a delta's result when it is a blob over the window; a
 * delta on such a blob reads it again as it streams (patchStreaming); any other such entry's
 * content is joined once (trees, commits and tags are parsed whole, a delta's
 * instructions are read whole), bounded by maxObjectSize.
 * A Workers isolate has 128 MB: a 30 MB file held as received, inflated and
 * joined copies of both took an isolate to 136 MiB.
 */
import { concat, fromHex, releaseNow, toHex } from '../../core/bytes.js';
import { grownColumn } from '../../core/columns.js';
import { HubError, StreamError } from '../../core/errors.js';
import { objectHeader, type GitObjectType } from '../../core/git/object-id.js';
import type { Primitives } from '../../core/primitives.js';
import { Sha1 } from '../../core/sha1.js';
import { ByteReader, type ByteStream } from '../../core/stream.js';
import { applyGitDelta, applyGitDeltaStream, applyGitDeltaTo, gitDeltaHeader, type GitDeltaBaseSource } from '../../delta/git.js';
import { IdSet } from '../../storage/id-set.js';
import { DeltaError } from '../../delta/errors.js';
import { StorageError } from '../../storage/errors.js';
import {
  MAX_ENTRY_HEADER,
  PACK_HEADER_SIZE,
  PACK_TRAILER_SIZE,
  PackError,
  decodeEntryHeader,
  decodePackHeader,
  type PackEntryType,
} from './pack.js';

/** One pack entry as received. */
export interface PackEntry {
  /** Pack offset of the entry header. */
  offset: number;
  /** The entry's number in the pack (0-based). */
  index: number;
  type: PackEntryType;
  /** Declared inflated size (of the object, or of the delta data). */
  size: number;
  /** OFS_DELTA: absolute offset of the base entry. */
  baseOffset?: number;
  /** REF_DELTA: base object id. */
  baseId?: string;
  /** Bytes of entry header and base reference at the front of `raw`. */
  headerLength: number;
  /**
   * The entry's bytes as received: header, base reference, zlib stream. A view
   * of the reader's buffers: valid until the next event is pulled (copy to keep).
   * When `streamed`, only header and base reference: the zlib stream came in
   * the `part` events just before.
   */
  raw: Uint8Array;
  /** The entry was over the window: its zlib stream went out in `part` events. */
  streamed?: true;
}

/** A resolved entry. */
export interface PackObject {
  offset: number;
  /** The entry's number in the pack (0-based). */
  index: number;
  id: string;
  /** For a delta: the id of the object it was resolved against (in the pack or a thin-pack base); else null. */
  baseId: string | null;
  type: GitObjectType;
  size: number;
  /** Delta chain length (0 for a whole object); thin-pack bases count as depth 0. */
  depth: number;
  /** The size its entry's header states: `size` for a whole object, the delta's inflated size for a delta. */
  entrySize: number;
  /** The id's index in the reader's id set (ReadPackOptions.ids): its binary id is at `ids.bytes[idIndex * 20..]`. */
  idIndex: number;
  /** Whether an earlier entry of the pack resolved to the same id (git never writes one; a hostile pack may). */
  repeat: boolean;
  /**
   * The object's content: a view of the reader's cache, valid until the next
   * event is pulled (copy to keep). Empty when `streamed`.
   */
  data: Uint8Array;
  /** A blob over the window, hashed as it was inflated or patched and not held: `data` is empty. */
  streamed?: true;
  /**
   * For a delta on an earlier entry of this pack (not a thin-pack base): the
   * delta and the base's content it was applied to (valid until the next
   * event), so a consumer can tell which bytes were copied from the base,
   * whose object event came before this one.
   */
  delta?: { data: Uint8Array; base: Uint8Array };
}

/** What packBytesToEntries yields. */
export type PackEvent =
  | { kind: 'header'; version: 2 | 3; count: number }
  /** Bytes of the zlib stream of an entry over the window, in order, before its `entry` event (a view: valid until the next event). */
  | { kind: 'part'; bytes: Uint8Array }
  | { kind: 'entry'; entry: PackEntry }
  | { kind: 'object'; object: PackObject }
  | { kind: 'end'; count: number; checksum: string };

/** An object the receiver already has, for thin packs. */
export interface BaseObject {
  type: GitObjectType;
  data: Uint8Array;
}

/**
 * A large object the receiver already has, not held: read as it streams
 * (GitDeltaBaseSource; a delta on it whose copies are in order reads it once),
 * or whole for a delta that copies out of order (at most maxHeldSize bytes).
 */
export interface LargeBase {
  type: GitObjectType;
  size: number;
  read: GitDeltaBaseSource['read'];
  whole(): Promise<Uint8Array>;
}

/** Options of packBytesToEntries. */
export interface ReadPackOptions {
  primitives: Primitives;
  /** Objects outside the pack (thin-pack REF_DELTA bases); null if unknown. */
  baseProvider?: (id: string) => Promise<BaseObject | LargeBase | null>;
  /** The zlib stream of an earlier entry (its raw bytes after the header; by its offset and number as yielded), to rebuild an evicted base. */
  readEntry?: (offset: number, index: number) => Promise<Uint8Array>;
  /** The zlib stream of an earlier entry (its raw bytes after the header), to read a large base as it streams; else readEntry's. */
  readEntryStream?: (offset: number, index: number) => ByteStream;
  /** Largest object or delta, declared or produced (bytes). Default 256 MiB. */
  maxObjectSize?: number;
  /**
   * Largest tree, commit or tag (parsed whole, so held whole: in pieces, then
   * joined) whether read or made by a delta. Default DEFAULT_MAX_HELD_SIZE.
   * Blobs are not held, so only maxObjectSize bounds them.
   */
  maxHeldSize?: number;
  /** Bytes of resolved contents cached for delta bases. Default 32 MiB. */
  maxDeltaBaseCache?: number;
  /** Without readEntry: entries' zlib streams kept to rebuild evicted bases. Default 64 MiB. */
  maxRetainedBytes?: number;
  /** Longest delta chain followed. Default 10000 (git writes at most 4095); at most 32767. */
  maxChainDepth?: number;
  /**
   * The set the reader keeps resolved ids in (its own when absent). The caller
   * may read it and add ids of its own (receive-pack: ids referred to ahead of
   * their objects, so every id is held once): the reader tells its resolved
   * ids apart by entry, not by presence in the set.
   */
  ids?: IdSet;
  /**
   * Told of each chunk of `stream` once read past, when the reader pulls the
   * next (its views of a chunk live until the next event at most): e.g. a
   * ChunkPool's release, so the request's buffers are read into again.
   */
  releaseChunk?: (chunk: Uint8Array) => void;
  /**
   * A pack of fewer objects than this may be followed by bytes, left unread
   * (git's receive-pack hands such packs to unpack-objects, which stops at the
   * trailer). Default 0: bytes after the trailer are an error, as index-pack's.
   */
  trailingDataBelow?: number;
  /** Most objects in one pack. Default 10,000,000. */
  maxObjects?: number;
  /** Largest window handed to inflatePrefix (bytes); larger streams are inflated streaming. Default 4 MiB. */
  window?: number;
}

/** Default window: entries whose zlib stream may be longer are streamed, blobs over it are not held. */
export const DEFAULT_WINDOW = 4 * 1024 * 1024;
/** Default bound on object and delta sizes. */
export const DEFAULT_MAX_OBJECT_SIZE = 256 * 1024 * 1024;
/**
 * Default bound on trees, commits and tags: a few KiB of zlib can declare and
 * inflate to 256 MiB of one, twice that while joined, in a 128 MB isolate; real
 * ones stay far below (a tree of 100k entries is ~4 MiB).
 */
export const DEFAULT_MAX_HELD_SIZE = 32 * 1024 * 1024;

const ENTRY_TYPES: readonly PackEntryType[] = ['commit', 'tree', 'blob', 'tag', 'ofs-delta', 'ref-delta'];
/** `bases` value of an entry without a known base (a whole object, or a REF_DELTA still waiting). */
const NO_BASE = -0x80000000;
/** Longest delta chain followed (maxChainDepth is capped to it). */
const MAX_CHAIN_DEPTH_HELD = 0x7fff;
/** A `depths` value: the depth is in PackReader.deepDepths (chains this deep are rare: git's default is 50). */
const DEPTH_ELSEWHERE = 0xff;
/** A `sizes` value: the size is in PackReader.largeSizes (most entries of a pack are smaller). */
const SIZE_ELSEWHERE = 0xffff;
/** Largest object size the reader's Uint32 size column holds (maxObjectSize is capped to it). */
const MAX_SIZE = 0xffffffff;

/**
 * A column of byte offsets (in a pack, in a segment): 4 bytes an offset while
 * they are under 4 GiB, as all but the largest pushes' are; 8 from the first
 * one past it (a push of 1M objects kept 4 MiB more per column otherwise).
 */
export type OffsetColumn = Uint32Array | Float64Array;

/** `col` with `value` at `i`: `col` itself, or its Float64Array copy for the first value past 4 GiB. */
export function setOffset(col: OffsetColumn, i: number, value: number): OffsetColumn {
  if (value > 0xffffffff && col instanceof Uint32Array) col = Float64Array.from(col);
  col[i] = value;
  return col;
}

/** An offset column like `col` (same width), `n` long. */
export function offsetColumn(col: OffsetColumn, n: number): OffsetColumn {
  return col instanceof Uint32Array ? new Uint32Array(n) : new Float64Array(n);
}

/** A byte-bounded LRU cache (Map insertion order), keyed by offset. */
class ContentCache {
  #map = new Map<number, BaseObject>();
  #bytes = 0;
  /**
   * Evicts from here on: every entry before it is gone, so it is at the oldest
   * (a Map iterator follows deletions and later insertions). A fresh iterator
   * per eviction walked over the deleted slots at the front of the Map's
   * table every time: 2% of a 300k-object push's CPU.
   */
  #oldest: Iterator<[number, BaseObject]> = this.#map.entries();
  constructor(readonly capacity: number) {}
  has(key: number): boolean {
    return this.#map.has(key);
  }
  get(key: number): BaseObject | undefined {
    const v = this.#map.get(key);
    if (v) {
      this.#map.delete(key);
      this.#map.set(key, v);
    }
    return v;
  }
  set(key: number, v: BaseObject): void {
    if (v.data.length > this.capacity || this.#map.has(key)) return;
    this.#map.set(key, v);
    this.#bytes += v.data.length;
    while (this.#bytes > this.capacity) {
      let next = this.#oldest.next();
      // A finished iterator stays finished: start again (v itself fits, so the Map is not empty).
      if (next.done) next = (this.#oldest = this.#map.entries()).next();
      const [k, old] = next.value as [number, BaseObject];
      this.#map.delete(k);
      this.#bytes -= old.data.length;
    }
  }
}

/**
 * The ring of the last BaseCache released, for the next pack read in this
 * isolate (one at a time: a pack read meanwhile grows its own). At most
 * MAX_SPARE_RING bytes stay allocated between packs.
 */
let spareRing: Uint8Array | null = null;
const MAX_SPARE_RING = 8 * 1024 * 1024;

/** Object types by code, for the ring's type column. */
const RING_TYPES: readonly GitObjectType[] = ['commit', 'tree', 'blob', 'tag'];

/**
 * The delta-base cache: resolved contents live in one ring of `capacity` bytes
 * that the reader allocates them from (alloc, then set), oldest overwritten
 * first, instead of one ArrayBuffer per object. A push resolves its pack's
 * whole inflated size (2 GB for the 392 MiB bench pack) through this cache;
 * as separate buffers each lived long enough to leave the young generation,
 * so they piled up as dead ArrayBuffers until a full GC (most of a large
 * push's isolate peak). The ring grows by doubling up to `capacity` (a small
 * push stays small) and then wraps.
 *
 * What the ring holds is described by typed-array columns by slot (where the
 * content is, its type, when it was handed out), not by JS objects: an entry
 * lives for thousands of objects, so each of its objects (the entry, its
 * BaseObject, the view) outlived the young generation, and the 300k of them
 * a large push resolves were a third of what it promoted to V8's old space,
 * which grows by what is promoted until a full GC and keeps the pages (workerd's RSS).
 *
 * Contents handed out are views of the ring: valid until the reader allocates
 * again, i.e. until the next event is pulled. A hit older than half the ring
 * is copied to its front (kept like an LRU hit), so a base being applied is
 * always in the newer half, which the next allocation (at most a quarter of
 * the ring, plus a skipped tail shorter than it) cannot reach. Objects over a
 * quarter of the ring, and thin-pack bases from outside, are separate arrays
 * in a byte-bounded LRU of the same capacity beside it.
 */
class BaseCache {
  #ring: Uint8Array;
  #head = 0;
  /** Ring bytes handed out so far, skipped tails included: an entry's age is the clock minus its `at`. */
  #clock = 0;
  /** Entries in the ring: key -> slot (a Map's table, rebuilt as keys came and went, was promoted too). */
  #slots = new SlotIndex();
  /** Per slot: the content's [start, end) in the ring, the clock when it was handed out (unique), its type code. */
  #start = new Uint32Array(256);
  #end = new Uint32Array(256);
  #at = new Float64Array(256);
  #type = new Uint8Array(256);
  /** Slots not in use: free[0..freeCount) and every slot from `unused` on. */
  #free = new Int32Array(256);
  #freeCount = 0;
  #unused = 0;
  /** Slots in the order they were kept, oldest first, each with its `at` then (stale once that slot is freed or taken again). */
  #order = new SlotQueue();
  /** Per slot: its key, to drop it from #slots when evicted. */
  #key = new Float64Array(256);
  /** The slot alloc() last handed out, until set() files it (-1: none). */
  #last = -1;
  readonly #others: ContentCache;

  constructor(readonly capacity: number) {
    this.#others = new ContentCache(capacity);
    // The ring the last pack in this isolate left, when it fits: a small push grew a new one from 1 MiB
    // to 8 (15 MiB allocated and zeroed, and the GC work of it) every time.
    const spare = spareRing;
    this.#ring = spare !== null && spare.length <= capacity ? spare : new Uint8Array(0);
    if (this.#ring === spare) spareRing = null;
  }

  /** Done with the cache (no content handed out is used again): its ring is kept for the next pack. */
  release(): void {
    const ring = this.#ring;
    this.#ring = new Uint8Array(0);
    this.#slots.clear();
    this.#order = new SlotQueue();
    if (ring.length > 0 && ring.length <= MAX_SPARE_RING && (spareRing === null || spareRing.length < ring.length)) spareRing = ring;
  }

  /** Memory for a content of `n` bytes: a slot of the ring (evicting what it overlaps), or a new array when over a quarter of it. */
  alloc(n: number): Uint8Array {
    if (n === 0 || n > this.capacity / 4) return new Uint8Array(n);
    if (this.#head + n > this.#ring.length && this.#ring.length < this.capacity) this.#grow(n);
    if (this.#head + n > this.#ring.length) {
      // Wrap: the tail's entries are the oldest, and go.
      const tail = this.#head;
      this.#evictWhile((start) => start >= tail);
      this.#clock += this.#ring.length - tail;
      this.#head = 0;
    }
    const start = this.#head;
    const end = start + n;
    this.#evictWhile((s) => s >= start && s < end);
    this.#head = end;
    if (this.#last >= 0) this.#freeSlot(this.#last); // handed out but never kept
    const slot = (this.#last = this.#takeSlot());
    this.#start[slot] = start;
    this.#end[slot] = end;
    this.#at[slot] = this.#clock;
    this.#clock += n;
    return this.#ring.subarray(start, end);
  }

  get(key: number): BaseObject | undefined {
    const slot = this.#slots.get(key);
    if (slot < 0) return this.#others.get(key);
    const type = RING_TYPES[this.#type[slot]];
    const data = this.#ring.subarray(this.#start[slot], this.#end[slot]);
    if (this.#clock - this.#at[slot] <= this.#ring.length / 2) return { type, data };
    // In the older half: copied to the front (set() copies overlapping memory through a temporary).
    this.#slots.delete(key);
    this.#freeSlot(slot);
    const copy = this.alloc(data.length);
    copy.set(data);
    const obj = { type, data: copy };
    this.set(key, obj);
    return obj;
  }

  /** Keeps `v` under `key`: in the ring when v.data is the slot alloc() just gave, else beside it. */
  set(key: number, v: BaseObject): void {
    if (this.#slots.get(key) >= 0 || this.#others.has(key)) return;
    const last = this.#last;
    if (v.data.buffer === this.#ring.buffer) {
      if (last < 0 || v.data.byteOffset !== this.#start[last]) return; // not the latest slot: the order would break
      this.#last = -1;
      this.#end[last] = v.data.byteOffset + v.data.length; // the content may be shorter than asked for (inflatePrefix's spare byte)
      this.#type[last] = RING_TYPES.indexOf(v.type);
      this.#slots.set(key, last);
      this.#key[last] = key;
      this.#order.push(last, this.#at[last]);
    } else {
      this.#others.set(key, v);
    }
  }

  #takeSlot(): number {
    if (this.#freeCount > 0) return this.#free[--this.#freeCount];
    const slot = this.#unused++;
    if (slot === this.#start.length) {
      const n = 2 * slot;
      const grow = <T extends Uint32Array | Float64Array | Uint8Array | Int32Array>(a: T, b: T): T => (b.set(a), b);
      this.#start = grow(this.#start, new Uint32Array(n));
      this.#end = grow(this.#end, new Uint32Array(n));
      this.#at = grow(this.#at, new Float64Array(n));
      this.#type = grow(this.#type, new Uint8Array(n));
      this.#free = grow(this.#free, new Int32Array(n));
      this.#key = grow(this.#key, new Float64Array(n));
    }
    return slot;
  }

  #freeSlot(slot: number): void {
    this.#at[slot] = -1; // an iterator's entry naming it is stale (see #evictWhile)
    this.#free[this.#freeCount++] = slot;
  }

  /** A larger ring (during the first lap only: nothing wrapped yet): slots keep their places. */
  #grow(n: number): void {
    const next = new Uint8Array(Math.min(this.capacity, Math.max(this.#ring.length * 2, this.#head + n, 1 << 20)));
    next.set(this.#ring.subarray(0, this.#head));
    // Callers may still hold views of the old ring: it is left as it is.
    this.#ring = next;
  }

  /** Drops entries from the oldest on while `pred` holds for the oldest's start. */
  #evictWhile(pred: (start: number) => boolean): void {
    const order = this.#order;
    while (order.length > 0) {
      const slot = order.firstSlot();
      // Dropped or moved to the end since (a slot freed and taken again has another `at`).
      if (this.#at[slot] === order.firstAt()) {
        if (!pred(this.#start[slot])) return;
        this.#slots.delete(this.#key[slot]);
        this.#freeSlot(slot);
      }
      order.shift();
    }
  }
}

/** Number keys to slot numbers (-1: none): linear probing in typed arrays, deletion by shifting back. */
class SlotIndex {
  #keys = new Float64Array(1024);
  /** Slot + 1 (0: an empty place). */
  #slots = new Int32Array(1024);
  #count = 0;

  #home(key: number): number {
    return Math.imul((key >>> 0) ^ Math.floor(key / 4294967296), 0x9e3779b1) & (this.#keys.length - 1);
  }

  /** The place of `key`, or the empty place where it would go. */
  #place(key: number): number {
    const mask = this.#keys.length - 1;
    let i = this.#home(key);
    while (this.#slots[i] !== 0 && this.#keys[i] !== key) i = (i + 1) & mask;
    return i;
  }

  get(key: number): number {
    return this.#slots[this.#place(key)] - 1;
  }

  /** Adds `key` (not present). */
  set(key: number, slot: number): void {
    if (2 * (this.#count + 1) > this.#keys.length) this.#rehash(2 * this.#keys.length);
    const i = this.#place(key);
    this.#keys[i] = key;
    this.#slots[i] = slot + 1;
    this.#count++;
  }

  delete(key: number): void {
    const mask = this.#keys.length - 1;
    let i = this.#place(key);
    if (this.#slots[i] === 0) return;
    this.#count--;
    // Later keys of the run whose home is not in (i, j] move back into the hole.
    for (let j = (i + 1) & mask; this.#slots[j] !== 0; j = (j + 1) & mask) {
      const h = this.#home(this.#keys[j]);
      if (i < j ? h <= i || h > j : h <= i && h > j) {
        this.#keys[i] = this.#keys[j];
        this.#slots[i] = this.#slots[j];
        i = j;
      }
    }
    this.#slots[i] = 0;
  }

  clear(): void {
    this.#slots.fill(0);
    this.#count = 0;
  }

  #rehash(size: number): void {
    const keys = this.#keys;
    const slots = this.#slots;
    this.#keys = new Float64Array(size);
    this.#slots = new Int32Array(size);
    this.#count = 0;
    for (let i = 0; i < keys.length; i++) if (slots[i] !== 0) this.set(keys[i], slots[i] - 1);
  }
}

/** A first-in first-out queue of (slot, at) pairs in typed arrays, growing by doubling. */
class SlotQueue {
  #slots = new Int32Array(1024);
  #ats = new Float64Array(1024);
  #head = 0;
  length = 0;

  push(slot: number, at: number): void {
    if (this.length === this.#slots.length) {
      const n = 2 * this.length;
      const slots = new Int32Array(n);
      const ats = new Float64Array(n);
      for (let k = 0; k < this.length; k++) {
        const i = (this.#head + k) & (this.length - 1);
        slots[k] = this.#slots[i];
        ats[k] = this.#ats[i];
      }
      this.#slots = slots;
      this.#ats = ats;
      this.#head = 0;
    }
    const i = (this.#head + this.length) & (this.#slots.length - 1);
    this.#slots[i] = slot;
    this.#ats[i] = at;
    this.length++;
  }

  firstSlot(): number {
    return this.#slots[this.#head];
  }

  firstAt(): number {
    return this.#ats[this.#head];
  }

  shift(): void {
    this.#head = (this.#head + 1) & (this.#slots.length - 1);
    this.length--;
  }
}

/** zlib's deflateBound for a default-parameter stream, plus slack: the window for inflatePrefix. */
function deflateBound(n: number): number {
  return n + Math.floor(n / 4096) + Math.floor(n / 16384) + Math.floor(n / 33554432) + 13 + 64;
}

const OBJECT_TYPES = new Set<PackEntryType>(['commit', 'tree', 'blob', 'tag']);
/**
 * Most reads of a large base (not held) one delta may make: each copy out of
 * order reads it again from its start (git's delta of a small edit copies in
 * order: one read). A delta needing more is applied to the base held whole
 * when it is at most maxHeldSize, else refused (pack-bad-delta).
 */
const MAX_BASE_PASSES = 8;
/** A base as a GitDeltaBaseSource, with its type. */
type BaseSource = GitDeltaBaseSource & { type: GitObjectType };
/**
 * Largest object hashed in JS (Sha1) rather than by the primitives' hasher: a native hasher per object was
 * a C++ object per object, most of what survived V8's scavenges through a push of many small objects.
 */
const SMALL_OBJECT = 1024;
/** The `data` of an object not held (streamed). */
const EMPTY = new Uint8Array(0);

/** Wrap a lower-level error (zlib, delta, stream) as a PackError at `offset`. */
function asPackError(e: unknown, offset: number): unknown {
  // Storage's refusals (a deleted repository, a failed put from the sink) are not the entry's fault.
  if (e instanceof PackError || e instanceof StorageError || !(e instanceof HubError)) return e;
  if (e instanceof StreamError && e.code === 'unexpected-end') return new PackError('pack-truncated', 'pack ends inside an entry', { offset });
  if (e instanceof StreamError && e.code === 'too-large') return e; // the request's size cap, not the entry's fault
  const code = e.code === 'zlib-too-large' ? 'pack-size-mismatch' : e instanceof DeltaError ? 'pack-bad-delta' : 'pack-bad-zlib';
  return new PackError(code, `entry at ${offset}: ${e.message}`, { offset, cause: e.code });
}

/** The pack reader's state for one pack. */
class PackReader {
  readonly p: Primitives;
  readonly maxObjectSize: number;
  readonly maxHeldSize: number;
  readonly maxChainDepth: number;
  readonly window: number;
  readonly cache: BaseCache;
  /**
   * Entries read so far; the columns below are indexed by entry number (~16 bytes an entry, kept
   * to the end of the pack: any entry may be a later delta's base, rebuilt from its columns).
   */
  n = 0;
  offsets: OffsetColumn = new Uint32Array(0);
  types = new Uint8Array(0);
  /** Declared sizes under SIZE_ELSEWHERE; larger ones in largeSizes (2 bytes an entry, not 4). */
  sizes = new Uint16Array(0);
  readonly largeSizes = new Map<number, number>();
  /** Entry number of the base (negative: an external base's key from baseProvider; NO_BASE: none or not yet known). */
  bases = new Int32Array(0);
  /** Chain depth + 1 once resolved, 0 before; DEPTH_ELSEWHERE: in deepDepths (see depthAt). */
  depths = new Uint8Array(0);
  readonly deepDepths = new Map<number, number>();
  /** The IdSet index of each entry's object id once resolved (-1 before): ids are held once, in idSet. */
  idIndex = new Int32Array(0);
  /** Entries the pack header declares (columns grow up to this). */
  declared = Number.POSITIVE_INFINITY;
  /** Resolved ids in the pack: the set, and by IdSet index a bit set once an entry resolved to the id (a later one is a repeat). */
  readonly idSet: IdSet;
  resolvedIds = new Uint8Array(0);
  /**
   * By IdSet index, the entry number + 1 of an entry resolved to the id (0: none), for REF_DELTA
   * bases in the pack: made from idIndex when the first one is asked for, then kept up. A pack of
   * OFS_DELTAs (what git pushes to a server offering ofs-delta) never asks: 4 bytes an id saved.
   */
  idEntries: Int32Array | null = null;
  /** External (thin-pack) bases: negative pseudo-offsets. */
  readonly external = new Map<string, number>();
  readonly externalIds = new Map<number, string>();
  /** Deltas waiting for a base offset / a base id to resolve. */
  readonly waitingOffset = new Map<number, number[]>();
  readonly waitingId = new Map<string, number[]>();
  readonly retained = new Map<number, Uint8Array>();
  retainedBytes = 0;
  /** The thin-pack base fetched for the current entry: not asked for again when too large for the cache. */
  fetched: { key: number; obj: BaseObject | LargeBase } | null = null;
  /** Thin-pack bases too large to hold, by external key (baseProvider's LargeBase: read as they stream). */
  readonly largeExternal = new Map<number, LargeBase>();
  /** Sizes of the blobs not held (streamed: over the window), by entry offset: a delta on one reads it as it streams. */
  readonly streamedSizes = new Map<number, number>();
  pendingCount = 0;
  /** Where a window spanning chunks is copied (reused: entries' raw bytes are views of it or of the chunks). */
  scratch = new Uint8Array(0);
  /**
   * Reused memory for inflated deltas, which are applied and dropped (handed out
   * only until the next event): [0] for entries as read, [1] for re-inflated ones
   * (a delta read is applied after its base, which may be rebuilt through [1]).
   */
  deltaScratch = [new Uint8Array(0), new Uint8Array(0)];

  /** Hashes the small objects (idOf). */
  readonly sha1 = new Sha1();

  constructor(readonly opts: ReadPackOptions) {
    this.p = opts.primitives;
    this.idSet = opts.ids ?? new IdSet();
    this.maxObjectSize = Math.min(opts.maxObjectSize ?? DEFAULT_MAX_OBJECT_SIZE, MAX_SIZE);
    this.maxHeldSize = Math.min(opts.maxHeldSize ?? DEFAULT_MAX_HELD_SIZE, this.maxObjectSize);
    this.maxChainDepth = Math.min(opts.maxChainDepth ?? 10000, MAX_CHAIN_DEPTH_HELD);
    this.window = opts.window ?? DEFAULT_WINDOW;
    this.cache = new BaseCache(opts.maxDeltaBaseCache ?? 32 * 1024 * 1024);
  }

  /** The entry number of the entry at `offset`, or -1 (offsets grow with entry numbers: a binary search). */
  entryAt(offset: number): number {
    let lo = 0;
    let hi = this.n;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.offsets[mid] < offset) lo = mid + 1;
      else hi = mid;
    }
    return lo < this.n && this.offsets[lo] === offset ? lo : -1;
  }

  /** Memory to inflate `size` bytes of an entry of `type` into: a delta scratch, a cache slot for an object's content. */
  inflateInto(type: PackEntryType, size: number, which: 0 | 1): Uint8Array | undefined {
    if (OBJECT_TYPES.has(type)) return this.cache.alloc(size + 1); // inflatePrefix wants one byte to spare
    const cap = this.cache.capacity / 4;
    if (size + 1 > cap) return undefined;
    const have = this.deltaScratch[which];
    if (have.length > size) return have;
    return (this.deltaScratch[which] = new Uint8Array(Math.min(cap, Math.max(size + 1, 2 * have.length, 4096))));
  }

  /**
   * Frees the per-entry columns once the pack is read (~16 bytes an entry, 17 MB at a million): as
   * garbage they would wait for a full GC through the push's commit, beside what that allocates.
   */
  releaseColumns(): void {
    releaseNow(this.offsets, this.types, this.sizes, this.bases, this.depths, this.idIndex, this.resolvedIds);
    if (this.idEntries !== null) releaseNow(this.idEntries);
    this.largeSizes.clear();
    this.deepDepths.clear();
    this.n = 0;
  }

  /** Records a new entry's metadata; returns its number. */
  addEntry(entry: PackEntry): number {
    const i = this.n;
    if (i === this.offsets.length) {
      // Reserved at the header's count (entries past it are refused): each takes memory as entries fill it.
      const max = this.declared;
      this.offsets = grownColumn(this.offsets, i, max);
      this.types = grownColumn(this.types, i, max);
      this.sizes = grownColumn(this.sizes, i, max);
      this.bases = grownColumn(this.bases, i, max);
      this.depths = grownColumn(this.depths, i, max);
      this.idIndex = grownColumn(this.idIndex, i, max);
    }
    this.offsets = setOffset(this.offsets, i, entry.offset);
    this.types[i] = ENTRY_TYPES.indexOf(entry.type);
    if (entry.size < SIZE_ELSEWHERE) this.sizes[i] = entry.size;
    else (this.sizes[i] = SIZE_ELSEWHERE), this.largeSizes.set(i, entry.size);
    this.bases[i] = entry.baseOffset === undefined ? NO_BASE : this.entryAt(entry.baseOffset); // readEntry checked it is one
    this.n++;
    return i;
  }

  /** Entry `i`'s declared size. */
  sizeAt(i: number): number {
    const s = this.sizes[i];
    return s === SIZE_ELSEWHERE ? this.largeSizes.get(i)! : s;
  }

  /** Entry `i`'s chain depth, or -1 while it is not resolved. */
  depthAt(i: number): number {
    const d = this.depths[i];
    return d === DEPTH_ELSEWHERE ? this.deepDepths.get(i)! : d - 1;
  }

  setDepth(i: number, depth: number): void {
    if (depth + 1 < DEPTH_ELSEWHERE) this.depths[i] = depth + 1;
    else (this.depths[i] = DEPTH_ELSEWHERE), this.deepDepths.set(i, depth);
  }

  /** The entry number of a resolved in-pack object with this id, or -1. */
  entryOfId(id: string): number {
    const k = this.idSet.indexOfAt(fromHex(id), 0);
    if (!this.resolvedId(k)) return -1;
    this.idEntries ??= this.entriesById();
    return this.idEntries[k] - 1;
  }

  /** Whether an entry resolved to the id at IdSet index `k`. */
  resolvedId(k: number): boolean {
    return k >= 0 && k >> 3 < this.resolvedIds.length && (this.resolvedIds[k >> 3] & (1 << (k & 7))) !== 0;
  }

  /** idEntries made from the resolved entries' idIndex: of copies of one object (a hostile pack's), the first by number. */
  entriesById(): Int32Array {
    const out = new Int32Array(this.idSet.size);
    for (let i = this.n - 1; i >= 0; i--) if (this.depthAt(i) >= 0) out[this.idIndex[i]] = i + 1;
    return out;
  }

  /** The cache key of a `bases` value: the base entry's offset, or the external key as it is. */
  keyOf(base: number): number {
    return base < 0 ? base : this.offsets[base];
  }

  /** The id of a base key (an entry offset, or a negative external key). */
  idOfKey(key: number): string {
    if (key < 0) return this.externalIds.get(key)!;
    return this.idSet.at(this.idIndex[this.entryAt(key)]);
  }

  /**
   * readEntry without waiting, when the entry's header and zlib window are
   * buffered already (most entries of a pack read in 256 KiB chunks): no
   * promise per entry. Null, having consumed nothing, when they are not, or
   * when the entry is one readEntry refuses or reads streaming (it then says
   * what is wrong, or reads it).
   */
  readEntryBuffered(reader: ByteReader, offset: number): { entry: PackEntry; data: Uint8Array } | null {
    const hb = reader.peekBuffered(MAX_ENTRY_HEADER);
    if (hb === null) return null;
    const h = decodeEntryHeader(hb, 0, offset);
    if (h.kind === 'need' || h.size > this.maxObjectSize) return null;
    if (h.baseOffset !== undefined && this.entryAt(h.baseOffset) < 0) return null;
    const bound = deflateBound(h.size);
    if (bound > this.window) return null;
    const want = h.length + bound;
    if (this.scratch.length < want) this.scratch = new Uint8Array(Math.min(Math.max(want, 2 * this.scratch.length), this.window + MAX_ENTRY_HEADER));
    const win = reader.peekBuffered(want, this.scratch);
    if (win === null) return null;
    const r = this.p.zlib.inflatePrefix(win.subarray(h.length), h.size, this.inflateInto(h.type, h.size, 0));
    if (!r || r.output.length !== h.size) return null;
    const raw = win.subarray(0, h.length + r.consumed);
    reader.skipBuffered(raw.length);
    const entry: PackEntry = { offset, index: this.n, type: h.type, size: h.size, headerLength: h.length, raw };
    if (h.baseOffset !== undefined) entry.baseOffset = h.baseOffset;
    if (h.baseId !== undefined) entry.baseId = h.baseId;
    return { entry, data: r.output };
  }

  /** Read one entry at `offset`: its header, raw bytes and inflated data; null (nothing consumed) when it is to be read streaming. */
  async readEntry(reader: ByteReader, offset: number): Promise<{ entry: PackEntry; data: Uint8Array } | null> {
    const hb = await reader.peek(MAX_ENTRY_HEADER);
    const h = decodeEntryHeader(hb, 0, offset);
    if (h.kind === 'need') throw new PackError('pack-truncated', 'pack ends inside an entry header', { offset });
    if (h.size > this.maxObjectSize) {
      throw new PackError('pack-object-too-large', `entry of ${h.size} bytes exceeds the limit of ${this.maxObjectSize}`, { offset, size: h.size, limit: this.maxObjectSize });
    }
    if (h.baseOffset !== undefined && this.entryAt(h.baseOffset) < 0) {
      throw new PackError('pack-bad-ofs-delta', `OFS_DELTA base at ${h.baseOffset} is not an entry`, { offset, baseOffset: h.baseOffset });
    }
    const z = this.p.zlib;
    const bound = deflateBound(h.size);
    let raw: Uint8Array | null = null;
    let data: Uint8Array | null = null;
    if (bound <= this.window) {
      // Header and stream in one window: `raw` is then a view of it (a chunk
      // of the request, or the scratch buffer when it spans chunks), not a copy
      // per entry (the pack's size in garbage ArrayBuffers).
      const want = h.length + bound;
      if (this.scratch.length < want) this.scratch = new Uint8Array(Math.min(Math.max(want, 2 * this.scratch.length), this.window + MAX_ENTRY_HEADER));
      const win = await reader.peek(want, this.scratch);
      const r = z.inflatePrefix(win.subarray(h.length), h.size, this.inflateInto(h.type, h.size, 0));
      if (r) {
        raw = win.subarray(0, h.length + r.consumed);
        data = r.output;
        await reader.skip(raw.length);
      } else if (win.length < want) {
        throw new PackError('pack-truncated', 'pack ends inside a zlib stream', { offset });
      }
    }
    if (!raw) return null;
    if (data!.length !== h.size) {
      throw new PackError('pack-size-mismatch', `entry declares ${h.size} bytes, inflates to ${data!.length}`, { offset, size: h.size, actual: data!.length });
    }
    const entry: PackEntry = { offset, index: this.n, type: h.type, size: h.size, headerLength: h.length, raw };
    if (h.baseOffset !== undefined) entry.baseOffset = h.baseOffset;
    if (h.baseId !== undefined) entry.baseId = h.baseId;
    return { entry, data: data! };
  }

  /**
   * Reads the entry at `offset` (which readEntry checked) streaming: hands its
   * zlib stream's bytes to `part` as they pass, returns the entry (raw: its header) and
   * its content, or for a whole blob its id instead (hashed while inflating).
   * Without readEntry in the options, the raw bytes are kept to rebuild bases
   * if they fit `maxRetained` (the caller's budget).
   */
  async readStreaming(reader: ByteReader, offset: number, maxRetained: number, part: PackSink['part']): Promise<{ entry: PackEntry; data: Uint8Array | null; id: Uint8Array | null }> {
    const hb = await reader.peek(MAX_ENTRY_HEADER);
    const h = decodeEntryHeader(hb, 0, offset);
    if (h.kind === 'need') throw new PackError('pack-truncated', 'pack ends inside an entry header', { offset });
    if (OBJECT_TYPES.has(h.type) && h.type !== 'blob' && h.size > this.maxHeldSize) throw this.tooLarge(h.type, h.size, offset);
    const head = hb.slice(0, h.length);
    await reader.skip(h.length);
    const inf = this.p.zlib.createInflater(h.size);
    const hasher = h.type === 'blob' ? this.p.hash('sha1').update(objectHeader('blob', h.size)) : null;
    const out: Uint8Array[] = [];
    let produced = 0;
    const hash = (piece: Uint8Array) => {
      produced += piece.length;
      hasher!.update(piece);
    };
    let kept: Uint8Array[] | null = this.opts.readEntry ? null : [];
    let keptBytes = 0;
    for (;;) {
      const chunk = await reader.peekChunk();
      if (!chunk) throw new PackError('pack-truncated', 'pack ends inside a zlib stream', { offset });
      const step = hasher ? inf.push(chunk, hash) : inf.push(chunk);
      for (const o of step.output) {
        produced += o.length;
        out.push(o);
      }
      const bytes = step.done ? chunk.subarray(0, step.used) : chunk;
      if (kept !== null) {
        keptBytes += bytes.length;
        if (this.retainedBytes + keptBytes <= maxRetained) kept.push(bytes.slice());
        else kept = null;
      }
      const wait = part?.(bytes);
      if (wait) await wait;
      await reader.skip(bytes.length);
      if (step.done) break;
    }
    if (produced !== h.size) {
      throw new PackError('pack-size-mismatch', `entry declares ${h.size} bytes, inflates to ${produced}`, { offset, size: h.size, actual: produced });
    }
    if (kept !== null) {
      this.retained.set(offset, concat(kept));
      this.retainedBytes += keptBytes;
    }
    const entry: PackEntry = { offset, index: this.n, type: h.type, size: h.size, headerLength: h.length, raw: head, streamed: true };
    if (h.baseOffset !== undefined) entry.baseOffset = h.baseOffset;
    if (h.baseId !== undefined) entry.baseId = h.baseId;
    if (hasher) return { entry, data: null, id: hasher.digest() };
    return { entry, data: out.length === 1 ? out[0] : concat(out), id: null };
  }

  /** The zlib stream of an earlier entry (retained, or re-read through the caller). */
  async zlibOf(offset: number): Promise<Uint8Array> {
    const kept = this.retained.get(offset);
    if (kept) return kept;
    if (this.opts.readEntry) return this.opts.readEntry(offset, this.entryAt(offset));
    throw new PackError('pack-base-unavailable', `delta base at ${offset} left the cache and was not retained (raise maxRetainedBytes or pass readEntry)`, { offset });
  }

  /** Inflated data of an earlier entry (object content or delta), from its raw bytes. */
  async inflateAt(offset: number): Promise<Uint8Array> {
    const i = this.entryAt(offset);
    const size = this.sizeAt(i);
    const r = this.p.zlib.inflatePrefix(await this.zlibOf(offset), size, this.inflateInto(ENTRY_TYPES[this.types[i]], size, 1));
    if (!r || r.output.length !== size) throw new PackError('pack-base-unavailable', `re-read entry at ${offset} does not inflate to its size`, { offset });
    return r.output;
  }

  /** Content of a resolved object (entry offset, or negative external key), rebuilding it if evicted. */
  async content(key: number): Promise<BaseObject> {
    const hit = this.cache.get(key);
    if (hit) return hit;
    // Walk down to something cached, external, or whole; then apply deltas back up.
    const chain: number[] = [];
    let cur = key;
    let base: BaseObject | undefined;
    for (;;) {
      base = this.cache.get(cur);
      if (base) break;
      if (cur < 0) {
        const id = this.externalIds.get(cur)!;
        const got = this.fetched?.key === cur ? this.fetched.obj : await this.opts.baseProvider?.(id);
        if (!got) throw new PackError('pack-base-unavailable', `thin-pack base ${id} is no longer available`, { id });
        base = 'data' in got ? got : { type: got.type, data: await got.whole() };
        this.cache.set(cur, base);
        break;
      }
      const i = this.entryAt(cur);
      const type = ENTRY_TYPES[this.types[i]];
      if (OBJECT_TYPES.has(type)) {
        base = { type: type as GitObjectType, data: await this.inflateAt(cur) };
        this.cache.set(cur, base);
        break;
      }
      chain.push(cur);
      if (chain.length > this.maxChainDepth) throw new PackError('pack-chain-too-deep', `delta chain longer than ${this.maxChainDepth}`, { offset: key });
      cur = this.keyOf(this.bases[i]);
    }
    for (let i = chain.length - 1; i >= 0; i--) {
      const off = chain[i];
      const delta = await this.inflateAt(off);
      const data = applyGitDelta(base.data, delta, this.maxObjectSize, (n) => this.cache.alloc(n));
      base = { type: base.type, data };
      this.cache.set(off, base);
    }
    return base;
  }

  /** The object id of a whole object's content: hashed here up to SMALL_OBJECT (see Sha1), by the primitives' hasher past it. */
  idOf(type: GitObjectType, data: Uint8Array): Uint8Array {
    const h = data.length <= SMALL_OBJECT ? this.sha1.reset() : this.p.hash('sha1');
    return h.update(objectHeader(type, data.length)).update(data).digest();
  }

  /**
   * Record an object's id and type; the caller yields it. `streamed`: the id
   * and size of a blob that is not held (`data` is then empty).
   */
  finish(offset: number, type: GitObjectType, data: Uint8Array, depth: number, baseId: string | null, delta?: PackObject['delta'], streamed?: { id: Uint8Array; size: number }): PackObject {
    const i = this.entryAt(offset);
    // The id as bytes for the set, as hex once for the caller (not hex, then bytes again).
    const bin = streamed?.id ?? this.idOf(type, data);
    const id = toHex(bin);
    this.setDepth(i, depth);
    // The set may hold the id already without an entry of this pack: the caller's (ReadPackOptions.ids).
    const k = this.idSet.indexOrAddAt(bin, 0);
    // Up to the declared count as the other columns; past it (the caller's ids besides), doubling.
    if (k >> 3 >= this.resolvedIds.length) this.resolvedIds = grownColumn(this.resolvedIds, k >> 3, Math.ceil(this.declared / 8));
    const repeat = this.resolvedId(k);
    if (!repeat) {
      this.resolvedIds[k >> 3] |= 1 << (k & 7);
      if (this.idEntries !== null) {
        if (k >= this.idEntries.length) this.idEntries = grownColumn(this.idEntries, k, this.declared);
        this.idEntries[k] = i + 1;
      }
    }
    this.idIndex[i] = k;
    if (streamed !== undefined) {
      // Not cached: a delta on it reads it as it streams (sourceOf), as git re-reads a large base from its pack.
      this.streamedSizes.set(offset, streamed.size);
      const obj: PackObject = { offset, index: i, id, baseId, type, size: streamed.size, depth, entrySize: this.sizeAt(i), idIndex: this.idIndex[i], repeat, data, streamed: true };
      if (delta !== undefined) obj.delta = delta;
      return obj;
    }
    this.cache.set(offset, { type, data });
    const obj: PackObject = { offset, index: i, id, baseId, type, size: data.length, depth, entrySize: this.sizeAt(i), idIndex: this.idIndex[i], repeat, data };
    if (delta !== undefined) obj.delta = delta;
    return obj;
  }

  /** Resolve every delta waiting (directly or transitively) on the object just resolved. */
  *resolveWaiting(root: PackObject): Generator<Promise<PackObject>, void, PackObject> {
    const stack: PackObject[] = [root];
    while (stack.length) {
      const parent = stack.pop()!;
      const kids = [...(this.waitingOffset.get(parent.offset) ?? []), ...(this.waitingId.get(parent.id) ?? [])];
      this.waitingOffset.delete(parent.offset);
      this.waitingId.delete(parent.id);
      for (const kid of kids) {
        this.bases[this.entryAt(kid)] = parent.index;
        this.pendingCount--;
        const obj: PackObject = yield this.resolveDelta(kid, parent.depth + 1);
        stack.push(obj);
      }
    }
  }

  /** resolveDelta without waiting, when the base's content is cached (the common case); null when it is not. */
  resolveCached(offset: number, depth: number, delta: Uint8Array): PackObject | null {
    const baseKey = this.keyOf(this.bases[this.entryAt(offset)]);
    if (depth > this.maxChainDepth) return null;
    try {
      const base = this.cache.get(baseKey);
      if (base === undefined) return null;
      return this.patch(offset, base, delta, depth, baseKey);
    } catch (e) {
      throw asPackError(e, offset);
    }
  }

  /**
   * The object `delta` makes of `base`: patched into the cache, or for a blob
   * over the window, hashed as it is produced and not held (a 30 MB file
   * changed a little: its base is in memory, the result need not be too).
   */
  patch(offset: number, base: BaseObject, delta: Uint8Array, depth: number, baseKey: number): PackObject {
    const size = gitDeltaHeader(delta).resultSize;
    if (base.type !== 'blob') {
      if (size > this.maxHeldSize) throw this.tooLarge(base.type, size, offset);
    } else if (size > this.window && size <= this.maxObjectSize) {
      const h = this.p.hash('sha1').update(objectHeader('blob', size));
      applyGitDeltaTo(base.data, delta, this.maxObjectSize, (piece) => h.update(piece));
      return this.finish(offset, 'blob', EMPTY, depth, this.idOfKey(baseKey), undefined, { id: h.digest(), size });
    }
    const data = applyGitDelta(base.data, delta, this.maxObjectSize, (n) => this.cache.alloc(n));
    return this.finish(offset, base.type, data, depth, this.idOfKey(baseKey), baseKey >= 0 ? { data: delta, base: base.data } : undefined);
  }

  /** The refusal of a tree, commit or tag over maxHeldSize. */
  tooLarge(type: string, size: number, offset: number): PackError {
    return new PackError('pack-object-too-large', `${type} of ${size} bytes exceeds the limit of ${this.maxHeldSize}`, { offset, size, limit: this.maxHeldSize });
  }

  async resolveDelta(offset: number, depth: number, delta?: Uint8Array): Promise<PackObject> {
    const baseKey = this.keyOf(this.bases[this.entryAt(offset)]);
    if (depth > this.maxChainDepth) throw new PackError('pack-chain-too-deep', `delta chain longer than ${this.maxChainDepth}`, { offset });
    try {
      const large = await this.largeSource(baseKey);
      const streamed = large && (await this.patchStreaming(offset, large, delta, depth, baseKey));
      if (streamed) return streamed;
      const base = await this.content(baseKey);
      const d = delta ?? (await this.inflateAt(offset));
      return this.patch(offset, base, d, depth, baseKey);
    } catch (e) {
      throw asPackError(e, offset);
    }
  }

  /**
   * patch() on a base not held (largeSource): the base is read as it streams,
   * the result hashed as it is made when over the window (else made into a
   * new array, cached). Null, having sent nothing, when the delta copies too
   * much out of order for that and the base may be held whole instead.
   */
  async patchStreaming(offset: number, base: BaseSource, delta: Uint8Array | undefined, depth: number, baseKey: number): Promise<PackObject | null> {
    let d = delta ?? (await this.inflateAt(offset));
    // Reading the base may re-inflate entries through the same scratch memory.
    if (d.buffer === this.deltaScratch[1].buffer) d = d.slice();
    const size = gitDeltaHeader(d).resultSize;
    const large = size > this.window;
    const h = large ? this.p.hash('sha1').update(objectHeader('blob', size)) : null;
    let out: Uint8Array | null = null;
    let at = 0;
    try {
      await applyGitDeltaStream(base, d, this.maxObjectSize, (piece) => {
        if (h) return void h.update(piece);
        out ??= new Uint8Array(size);
        out.set(piece, at);
        at += piece.length;
      }, MAX_BASE_PASSES);
    } catch (e) {
      if (e instanceof DeltaError && e.code === 'delta-too-scattered' && base.size <= this.maxHeldSize) return null;
      throw e;
    }
    if (h) return this.finish(offset, 'blob', EMPTY, depth, this.idOfKey(baseKey), undefined, { id: h.digest(), size });
    return this.finish(offset, base.type, out ?? new Uint8Array(0), depth, this.idOfKey(baseKey));
  }

  /** A base that is not held (a large thin-pack base, or a blob of this pack over the window) as it streams; null for any other. */
  async largeSource(key: number): Promise<BaseSource | null> {
    if (key < 0) {
      const got = this.fetched?.key === key ? this.fetched.obj : this.largeExternal.get(key);
      return got && 'read' in got ? got : null;
    }
    const size = this.streamedSizes.get(key);
    return size === undefined ? null : this.sourceOf(key, size);
  }

  /**
   * An entry's content as a GitDeltaBaseSource: a whole blob inflated from its
   * zlib stream as it is read (readEntryStream), a streamed delta result made
   * as its own base streams (that delta must copy in order: one read each), or
   * content() for anything held.
   */
  async sourceOf(key: number, size?: number): Promise<BaseSource> {
    const large = key >= 0 && size !== undefined ? key : null;
    if (large === null) {
      const ext = key < 0 ? await this.largeSource(key) : null;
      if (ext) return ext;
      const obj = await this.content(key);
      return { type: obj.type, size: obj.data.length, read: async (sink) => sink((await this.content(key)).data) };
    }
    const i = this.entryAt(large);
    const type = ENTRY_TYPES[this.types[i]];
    if (type === 'blob') {
      return {
        type: 'blob',
        size: size!,
        read: async (sink, stop) => {
          const inf = this.p.zlib.createInflater(size!);
          let got = 0;
          const count = (piece: Uint8Array) => {
            got += piece.length;
            sink(piece);
          };
          let done = false;
          for await (const chunk of this.zlibStreamOf(large, i)) {
            done = inf.push(chunk, count).done;
            if (done || stop()) break;
          }
          if (!stop() && (!done || got !== size)) throw new PackError('pack-base-unavailable', `re-read entry at ${large} does not inflate to its size`, { offset: large });
        },
      };
    }
    const delta = (await this.inflateAt(large)).slice();
    const baseKey = this.keyOf(this.bases[i]);
    const base = await this.sourceOf(baseKey, this.streamedSizes.get(baseKey));
    return { type: base.type, size: size!, read: async (sink, stop) => void (await applyGitDeltaStream(base, delta, this.maxObjectSize, sink, 1, stop)) };
  }

  /** The zlib stream of an earlier entry: retained, streamed through the caller, or its raw bytes re-read whole. */
  async *zlibStreamOf(offset: number, i: number): AsyncGenerator<Uint8Array> {
    const kept = this.retained.get(offset);
    if (kept) yield kept;
    else if (this.opts.readEntryStream) yield* this.opts.readEntryStream(offset, i);
    else yield await this.zlibOf(offset);
  }

  depthOf(key: number): number {
    return key < 0 ? 0 : this.depthAt(this.entryAt(key));
  }
}

/**
 * What readPack hands each event of the pack to, in pack order (PackEvent's
 * header, part, entry, object), called as the reader comes to it, with views
 * valid until the call returns or the promise it returns settles; the reader
 * goes on once it has.
 */
export interface PackSink {
  header?(version: 2 | 3, count: number): void | Promise<void>;
  part?(bytes: Uint8Array): void | Promise<void>;
  entry?(entry: PackEntry): void | Promise<void>;
  object?(object: PackObject): void | Promise<void>;
}

/**
 * Reads the pack from `stream` into `sink` (see the file comment); resolves
 * to what the `end` event says. Throws a PackError for a bad signature or
 * version, a truncated pack, trailing bytes, a bad trailer checksum, an
 * unknown base, a delta chain too deep, a size mismatch or an entry over
 * `maxObjectSize`. No event objects and no promise per event unless the
 * sink returns one: a push of a million small objects made ~2 KB of garbage
 * an object through an async generator's events and the consumer's loop.
 */
export async function readPack(stream: ByteStream, opts: ReadPackOptions, sink: PackSink): Promise<{ count: number; checksum: string }> {
  const st = new PackReader(opts);
  const hasher = opts.primitives.hash('sha1');
  let hashing = true;
  const reader = new ByteReader(stream, { onConsume: (b) => hashing && hasher.update(b), onRelease: opts.releaseChunk });
  const maxRetained = opts.readEntry ? 0 : (opts.maxRetainedBytes ?? 64 * 1024 * 1024);
  try {
    const { version, count } = decodePackHeader(await reader.readUpTo(PACK_HEADER_SIZE));
    const maxObjects = opts.maxObjects ?? 10_000_000;
    if (count > maxObjects) throw new PackError('pack-too-many-objects', `pack of ${count} objects exceeds ${maxObjects}`, { count });
    st.declared = count;
    st.idSet.expect(count);
    const told = sink.header?.(version, count);
    if (told) await told;

    for (let i = 0; i < count; i++) {
      st.fetched = null;
      const offset = reader.position;
      if (reader.buffered === 0 && (await reader.atEnd())) throw new PackError('pack-truncated', `pack ends after ${i} of ${count} entries`, { offset });
      let read: { entry: PackEntry; data: Uint8Array | null; id?: Uint8Array | null } | null;
      try {
        read = st.readEntryBuffered(reader, offset) ?? (await st.readEntry(reader, offset));
        if (read === null) read = await st.readStreaming(reader, offset, maxRetained, sink.part);
      } catch (e) {
        throw asPackError(e, offset);
      }
      const { entry, data, id: streamedId } = read;
      const e = st.addEntry(entry);
      if (!entry.streamed && st.retainedBytes + entry.raw.length - entry.headerLength <= maxRetained) {
        st.retained.set(offset, entry.raw.slice(entry.headerLength));
        st.retainedBytes += entry.raw.length - entry.headerLength;
      }
      const wrote = sink.entry?.(entry);
      if (wrote) await wrote;

      let resolved: PackObject | null = null;
      if (data === null) {
        resolved = st.finish(offset, 'blob', EMPTY, 0, null, undefined, { id: streamedId!, size: entry.size });
      } else if (OBJECT_TYPES.has(entry.type)) {
        resolved = st.finish(offset, entry.type as GitObjectType, data, 0, null);
      } else {
        if (entry.baseId !== undefined) {
          const inPack = st.entryOfId(entry.baseId);
          if (inPack >= 0) st.bases[e] = inPack;
          else if (st.external.has(entry.baseId)) st.bases[e] = st.external.get(entry.baseId)!;
          else if (opts.baseProvider) {
            const ext = await opts.baseProvider(entry.baseId);
            if (ext) {
              const key = -(st.external.size + 1);
              st.external.set(entry.baseId, key);
              st.externalIds.set(key, entry.baseId);
              if ('data' in ext) st.cache.set(key, ext);
              else st.largeExternal.set(key, ext);
              st.fetched = { key, obj: ext };
              st.bases[e] = key;
            }
          }
        }
        const b = st.bases[e];
        const base = st.keyOf(b);
        if (b !== NO_BASE && (b < 0 || st.depthAt(b) >= 0)) {
          const depth = st.depthOf(base) + 1;
          resolved = st.resolveCached(offset, depth, data) ?? (await st.resolveDelta(offset, depth, data));
        } else if (b !== NO_BASE) {
          st.waitingOffset.set(base, [...(st.waitingOffset.get(base) ?? []), offset]);
          st.pendingCount++;
        } else {
          st.waitingId.set(entry.baseId!, [...(st.waitingId.get(entry.baseId!) ?? []), offset]);
          st.pendingCount++;
        }
      }
      if (resolved) {
        const took = sink.object?.(resolved);
        if (took) await took;
        if (st.pendingCount > 0) {
          const gen = st.resolveWaiting(resolved);
          let step = gen.next();
          while (!step.done) {
            const obj = await step.value;
            const took = sink.object?.(obj);
            if (took) await took;
            step = gen.next(obj);
          }
        }
      }
    }

    hashing = false;
    const actual = hasher.digest();
    const trailer = await reader.readUpTo(PACK_TRAILER_SIZE);
    if (trailer.length < PACK_TRAILER_SIZE) throw new PackError('pack-truncated', 'pack ends inside its trailer', { offset: reader.position });
    if (toHex(trailer) !== toHex(actual)) {
      throw new PackError('pack-bad-checksum', 'pack trailer SHA-1 does not match its content', { expected: toHex(trailer), actual: toHex(actual) });
    }
    if (count >= (opts.trailingDataBelow ?? 0) && !(await reader.atEnd())) throw new PackError('pack-trailing-data', 'pack has junk at the end', { offset: reader.position });
    if (st.pendingCount > 0) {
      const [id] = st.waitingId.keys();
      throw new PackError('pack-unknown-base', `${st.pendingCount} deltas have no base (first missing base: ${id ?? 'an unresolved entry'})`, {
        pending: st.pendingCount,
        baseId: id,
      });
    }
    return { count, checksum: toHex(actual) };
  } finally {
    st.cache.release();
    st.releaseColumns();
    await reader.cancel();
  }
}

/**
 * readPack's events as an async generator: each event is yielded as the
 * reader comes to it, and the reader goes on only once it is pulled past
 * (its views are valid until then). Stopping early stops the reader.
 */
export async function* packBytesToEntries(stream: ByteStream, opts: ReadPackOptions): AsyncGenerator<PackEvent> {
  type Got = { ev: PackEvent } | { error: unknown };
  let hand!: (got: Got) => void;
  let arrived = new Promise<Got>((r) => (hand = r));
  let waiting: { go(): void; stop(e: unknown): void } | null = null;
  let stopped = false;
  const send = (ev: PackEvent) =>
    stopped
      ? Promise.reject(new Error('pack events no longer read'))
      : new Promise<void>((go, stop) => {
          waiting = { go, stop };
          hand({ ev });
        });
  void readPack(stream, opts, {
    header: (version, count) => send({ kind: 'header', version, count }),
    part: (bytes) => send({ kind: 'part', bytes }),
    entry: (entry) => send({ kind: 'entry', entry }),
    object: (object) => send({ kind: 'object', object }),
  }).then(
    (end) => hand({ ev: { kind: 'end', ...end } }),
    (error: unknown) => hand({ error }),
  );
  let over = false;
  try {
    for (;;) {
      const got = await arrived;
      arrived = new Promise<Got>((r) => (hand = r));
      if ('error' in got) {
        over = true;
        throw got.error;
      }
      if (got.ev.kind === 'end') over = true;
      yield got.ev;
      if (over) return;
      const w = waiting as { go(): void } | null;
      waiting = null;
      w?.go();
    }
  } finally {
    if (!over) {
      // Stopped early: the reader fails out of its wait (or its next event) and cleans up.
      stopped = true;
      (waiting as { stop(e: unknown): void } | null)?.stop(new Error('pack events no longer read'));
      waiting = null;
      await arrived;
    }
  }
}

/** Convenience: read a whole pack, returning its resolved objects (contents copied, no deltas) in resolution order (tests, small packs). */
export async function readPackObjects(stream: ByteStream, opts: ReadPackOptions): Promise<PackObject[]> {
  const out: PackObject[] = [];
  for await (const ev of packBytesToEntries(stream, opts)) {
    if (ev.kind !== 'object') continue;
    const { delta: _delta, ...object } = ev.object;
    out.push({ ...object, data: object.data.slice() });
  }
  return out;
}
