/**
 * The object store view: an object's full content from its index row and
 * record, applying its delta chain. Works over any index and segment reader;
 * zlib, the delta appliers and the base cache are arguments (no module state).
 */
import { releaseNow } from '../core/bytes.js';
import { ZlibError } from '../core/errors.js';
import type { Primitives, Zlib } from '../core/primitives.js';
import { ChainCycleError, ChainTooDeepError, CorruptRecordError, ObjectNotFoundError } from './errors.js';
import type { ObjectId } from './ids.js';
import { MAX_CHAIN_DEPTH, type IndexRow, type ObjectChainReader, type ObjectIndexReader, type ObjectKind } from './object-index.js';
import type { SegmentReader } from './segments.js';

/** An object's full content. */
export interface StoredObject {
  id: ObjectId;
  kind: ObjectKind;
  size: number;
  /** Shared with the base cache: read it, never mutate it. */
  data: Uint8Array;
}

/** Read access to whole objects. */
export interface ObjectStore {
  /** For each id, whether it is stored (same order as `ids`). */
  has(ids: ObjectId[]): Promise<boolean[]>;
  /** The object's content, or null when it is not stored. */
  get(id: ObjectId): Promise<StoredObject | null>;
}

/**
 * Delta appliers by format: (base, delta, maxSize) -> target, throwing on a bad
 * delta or a target over maxSize (the row's size). shared/delta's
 * applyGitDelta and applyFossilDelta fit as they are.
 */
export interface DeltaAppliers {
  git(base: Uint8Array, delta: Uint8Array, maxSize: number): Uint8Array;
  fossil(base: Uint8Array, delta: Uint8Array, maxSize: number): Uint8Array;
}

/** A bounded cache of resolved contents by id (objects are immutable, so it never needs invalidating). */
export interface BaseCache {
  get(id: ObjectId): Uint8Array | undefined;
  set(id: ObjectId, data: Uint8Array): void;
}

/** What the view reads through. */
export interface ObjectStoreDeps {
  /** When it also offers `chain`, a chain's rows come in one call. */
  index: ObjectIndexReader & Partial<ObjectChainReader>;
  segments: SegmentReader;
  primitives: Primitives;
  appliers: DeltaAppliers;
  /** Shared per exchange (e.g. one clone); omit for no caching. */
  cache?: BaseCache;
}

// A delta cannot usefully be much longer than its target: git spends one
// opcode byte per 127 literal bytes and at most 8 bytes per copy of >= 1 byte;
// Fossil's text commands are similar. The bound stops zlib bombs in delta records.
const maxDeltaSize = (targetSize: number) => targetSize * 16 + 1024;

/** Reads `row`'s record and inflates it, bounded by what the row says it holds. */
/** Full records longer than this are read and inflated in pieces (inflatePieces). */
const PIECEWISE_RECORD = 4 * 1024 * 1024;

async function inflateRecord(deps: ObjectStoreDeps, row: IndexRow): Promise<Uint8Array> {
  if (row.format === 'full' && row.length > PIECEWISE_RECORD) return inflatePieces(deps, row);
  const raw = await deps.segments.readRange(row.segment, row.offset, row.length);
  const known = knownRecordSize(row);
  return known !== undefined ? inflateSized(deps.primitives.zlib, raw, known) : deps.primitives.zlib.inflate(raw, maxDeltaSize(row.size));
}

/** What `row`'s record inflates to, when the index says (checked when stored): a full record's size, a delta's recordSize. */
function knownRecordSize(row: IndexRow): number | undefined {
  if (row.format === 'full') return row.size;
  return row.recordSize !== undefined && row.recordSize <= maxDeltaSize(row.size) ? row.recordSize : undefined;
}

/**
 * Inflates one whole zlib stream of a known inflated `size` into one array made
 * for it, one byte to spare (filling it means too large): no buffer doubled on
 * the way or cut to size after, garbage that waited for V8's next full GC. The
 * result is a view of a buffer of its own (releaseNow may free it).
 */
export function inflateSized(zlib: Zlib, record: Uint8Array, size: number): Uint8Array {
  const r = zlib.inflatePrefix(record, size, new Uint8Array(size + 1));
  if (!r) throw new ZlibError('zlib-truncated', 'zlib stream ends early');
  if (r.consumed !== record.length) throw new ZlibError('zlib-trailing-data', `${record.length - r.consumed} bytes after the zlib stream`, { consumed: r.consumed });
  return r.output;
}

/**
 * A large full record streamed from its segment and inflated into one array of
 * the row's size (the index's, checked when the object was stored), not read
 * whole first: a 100 MB file held as its zlib stream and its content took
 * twice its size, e.g. as the base of a push's thin delta.
 */
async function inflatePieces(deps: ObjectStoreDeps, row: IndexRow): Promise<Uint8Array> {
  const out = new Uint8Array(row.size);
  let at = 0;
  const inf = deps.primitives.zlib.createInflater(row.size);
  const sink = (piece: Uint8Array) => {
    out.set(piece, at);
    at += piece.length;
  };
  let ended = false;
  for await (const chunk of deps.segments.readStream(row.segment, row.offset, row.length)) {
    if (ended) throw new CorruptRecordError('corrupt-record', `record of ${row.id} has bytes after its zlib stream`, { id: row.id });
    const step = inf.push(chunk, sink);
    ended = step.done;
    if (ended && step.used !== chunk.length) throw new CorruptRecordError('corrupt-record', `record of ${row.id} has bytes after its zlib stream`, { id: row.id });
  }
  // A stream ending exactly where the input does shows as ended on one more push (zlib cannot tell before).
  if (!ended && !inf.push(Uint8Array.of(0), sink).done) throw new CorruptRecordError('corrupt-record', `record of ${row.id} ends inside its zlib stream`, { id: row.id });
  return at === out.length ? out : out.subarray(0, at); // short: readObject refuses it as not the index's size
}

/**
 * The full content of `id`: walks its delta chain down to a full record or a
 * cached base (at most MAX_CHAIN_DEPTH + 1 rows, cycle-checked), then applies
 * the deltas upwards, caching each result. Null when `id` is not indexed.
 */
export async function readObject(deps: ObjectStoreDeps, id: ObjectId): Promise<StoredObject | null> {
  // The chain is prefetched when the index can. With a base cache, only once the top row's
  // base turns out not to be cached: walks read objects in about delta order, so the base
  // usually is, and a whole chain (up to MAX_CHAIN_ROWS rows) per tree read is wasted then.
  // Without a cache the chain is always needed: one call.
  const prefetched = new Map<ObjectId, IndexRow>();
  if (deps.index.chain && !deps.cache) for (const r of await deps.index.chain(id)) prefetched.set(r.id, r);
  const getRow = async (rowId: ObjectId) => prefetched.get(rowId) ?? (await deps.index.get(rowId));
  const top = await getRow(id);
  if (top === null) return null;
  if (deps.index.chain && deps.cache && top.format !== 'full' && top.base !== null && deps.cache.get(id) === undefined && deps.cache.get(top.base) === undefined) {
    for (const r of await deps.index.chain(top.base)) prefetched.set(r.id, r);
  }
  const chain: IndexRow[] = [];
  const seen = new Set<ObjectId>();
  let row = top;
  let base: Uint8Array | undefined;
  for (;;) {
    const cached = deps.cache?.get(row.id);
    if (cached !== undefined) {
      base = cached;
      break;
    }
    if (seen.has(row.id)) throw new ChainCycleError('chain-cycle', `delta chain of ${id} loops at ${row.id}`, { id, at: row.id });
    if (chain.length > MAX_CHAIN_DEPTH) throw new ChainTooDeepError('chain-too-deep', `delta chain of ${id} is deeper than ${MAX_CHAIN_DEPTH}`, { id });
    seen.add(row.id);
    chain.push(row);
    if (row.format === 'full' || row.base === null) break;
    const next = await getRow(row.base);
    if (next === null) throw new ObjectNotFoundError('object-not-found', `delta base ${row.base} of ${row.id} is not indexed`, { id: row.base, of: row.id });
    row = next;
  }
  for (let i = chain.length - 1; i >= 0; i--) {
    const r = chain[i];
    const bytes = await inflateRecord(deps, r);
    let data: Uint8Array;
    if (r.format === 'full') {
      data = bytes;
    } else {
      if (base === undefined) throw new CorruptRecordError('corrupt-record', `delta ${r.id} has no base content`, { id: r.id });
      data = r.format === 'git-delta' ? deps.appliers.git(base, bytes, r.size) : deps.appliers.fossil(base, bytes, r.size);
      // An inflated delta made for this read (inflateSized) is freed now, not at V8's next full GC.
      if (knownRecordSize(r) !== undefined && data.buffer !== bytes.buffer) releaseNow(bytes);
    }
    if (data.length !== r.size) {
      throw new CorruptRecordError('corrupt-record', `object ${r.id} resolved to ${data.length} bytes, index says ${r.size}`, {
        id: r.id,
        size: data.length,
        expected: r.size,
      });
    }
    // Intermediate bases are what later reads of sibling deltas need most; the
    // top object is cached too since packs often delta against recent objects.
    deps.cache?.set(r.id, data);
    base = data;
  }
  return { id: top.id, kind: top.kind, size: top.size, data: base! };
}

/** An ObjectStore over an index and segments. */
export function createObjectStore(deps: ObjectStoreDeps): ObjectStore {
  return {
    has: (ids) => deps.index.has(ids),
    get: (id) => readObject(deps, id),
  };
}

/** Reads `id` or throws ObjectNotFoundError. */
export async function mustReadObject(deps: ObjectStoreDeps, id: ObjectId): Promise<StoredObject> {
  const obj = await readObject(deps, id);
  if (obj === null) throw new ObjectNotFoundError('object-not-found', `object ${id} is not indexed`, { id });
  return obj;
}

/**
 * A least-recently-used BaseCache holding at most `maxBytes` of content;
 * an entry larger than the whole budget is not kept. Create one per exchange.
 */
export class LruBaseCache implements BaseCache {
  private readonly entries = new Map<ObjectId, Uint8Array>();
  private bytes = 0;
  /**
   * Evictions continue one live iterator: everything it has passed was deleted (evicted, or moved
   * to the end by a use), so its next entry is the least recently used. A fresh `for...of` per
   * eviction re-skipped every deleted slot the Map had not compacted yet: 25 us per set on a
   * 16k-entry cache, several seconds of a first clone's history walk.
   */
  private oldest: IterableIterator<[ObjectId, Uint8Array]> = this.entries.entries();
  /** Entries dropped since the last releaseEvicted (only with freeEvicted). */
  private evicted: [ObjectId, Uint8Array][] | null;

  /**
   * With `freeEvicted`, what it drops is kept aside for releaseEvicted, for a
   * cache fed only fresh arrays of its own (readObject's results).
   */
  constructor(readonly maxBytes: number, opts: { freeEvicted?: boolean } = {}) {
    this.evicted = opts.freeEvicted ? [] : null;
  }

  /** Bytes currently held. */
  get size(): number {
    return this.bytes;
  }

  get(id: ObjectId): Uint8Array | undefined {
    const data = this.entries.get(id);
    if (data !== undefined) {
      // Map keeps insertion order: re-inserting marks the entry most recent.
      this.entries.delete(id);
      this.entries.set(id, data);
    }
    return data;
  }

  set(id: ObjectId, data: Uint8Array): void {
    const old = this.entries.get(id);
    if (old !== undefined) {
      this.entries.delete(id);
      this.bytes -= old.length;
      if (old !== data) this.evicted?.push([id, old]);
    }
    if (data.length > this.maxBytes) return;
    this.entries.set(id, data);
    this.bytes += data.length;
    while (this.bytes > this.maxBytes) {
      let next = this.oldest.next();
      if (next.done) next = (this.oldest = this.entries.entries()).next();
      const [k, v] = next.value as [ObjectId, Uint8Array];
      this.entries.delete(k);
      this.bytes -= v.length;
      this.evicted?.push([k, v]);
    }
  }

  /**
   * Frees the buffers of what it dropped since the last call (releaseNow), for a
   * caller that holds none of its results at that point: one still held would
   * read as empty. A repack reads about its whole repository through its cache,
   * and V8 15.8 let the dropped texts pile up as garbage well past 128 MiB.
   * Only arrays over a buffer of their own (a full text's inflate leaves one
   * byte spare) are freed; one read again since is a new array.
   */
  releaseEvicted(): void {
    if (!this.evicted) return;
    for (const [k, v] of this.evicted) {
      if (this.entries.get(k) !== v && v.byteLength > 0 && v.byteOffset === 0 && v.buffer.byteLength - v.byteLength <= 1) releaseNow(v);
    }
    this.evicted.length = 0;
  }
}
