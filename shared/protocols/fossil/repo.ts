/**
 * What the sync server works on: one repository's FossilStore and segments,
 * with the injected primitives; plus the helpers every handler shares
 * (reading an artifact through its delta chain, appending records).
 */
import { releaseNow } from '../../core/bytes.js';
import type { Primitives } from '../../core/primitives.js';
import { applyFossilDelta } from '../../delta/fossil.js';
import { applyGitDelta } from '../../delta/git.js';
import { fossilObjectIndex, type FossilStore } from '../../storage/fossil.js';
import { LruBaseCache, readObject, type ObjectStoreDeps } from '../../storage/object-store.js';
import type { SegmentStore, SegmentWriter } from '../../storage/segments.js';

/** One Fossil repository as the sync server sees it. */
export interface FossilRepo {
  store: FossilStore;
  segments: SegmentStore;
  primitives: Primitives;
  /** What the host keeps between this repository's requests (absent: nothing is kept). */
  memo?: ReceiveMemo;
}

/**
 * Bounded caches a host keeps per repository across requests: a push takes
 * many rounds, and a round's deltas wait for bases that a later round brings
 * (fossil sends an artifact as a delta against one the server lacks, then the
 * base when asked); without these they are read back from storage link by link.
 */
export interface ReceiveMemo {
  /** Full texts of artifacts received lately, by hash (hash-checked): delta bases of later rounds. */
  texts: LruBaseCache;
  /** Inflated payloads of pending deltas, by record (`recordKey`). */
  deltas: LruBaseCache;
}

/** A memo holding up to `textBytes` of texts and `deltaBytes` of pending deltas. */
export function receiveMemo(textBytes = 8 * 1024 * 1024, deltaBytes = 4 * 1024 * 1024): ReceiveMemo {
  // Both hold only arrays of their own (apply outputs, owned copies): what they drop is freed by releaseMemo.
  return { texts: new LruBaseCache(textBytes, { freeEvicted: true }), deltas: new LruBaseCache(deltaBytes, { freeEvicted: true }) };
}

/**
 * Frees what the memo dropped (LruBaseCache.releaseEvicted), at points where the receive path
 * holds none of its texts: a push's texts pass through the memo (1.1 GiB for the large bench
 * corpus), and what it dropped waited as garbage for V8's next full GC (~64 MiB later).
 */
export function releaseMemo(memo: ReceiveMemo | undefined): void {
  memo?.texts.releaseEvicted();
  memo?.deltas.releaseEvicted();
}

/** The key of a stored record in a ReceiveMemo. */
export function recordKey(r: WrittenRecord): string {
  return `${r.segment} ${r.offset}`;
}

/** Where a record was written. */
export interface WrittenRecord {
  segment: string;
  offset: number;
  length: number;
}

/** Reads artifacts' full texts with one bounded base cache per request. */
export class ArtifactReader {
  private readonly deps: ObjectStoreDeps;
  private readonly cache: LruBaseCache;

  /** `freeEvicted`: see releaseEvicted. */
  constructor(repo: FossilRepo, cacheBytes: number, opts: { freeEvicted?: boolean } = {}) {
    this.cache = new LruBaseCache(cacheBytes, opts);
    this.deps = {
      index: fossilObjectIndex(repo.store),
      segments: repo.segments,
      primitives: repo.primitives,
      appliers: { git: applyGitDelta, fossil: applyFossilDelta },
      cache: this.cache,
    };
  }

  /** Frees the texts its cache dropped since the last call (LruBaseCache.releaseEvicted): call it only while holding none it returned. */
  releaseEvicted(): void {
    this.cache.releaseEvicted();
  }

  /** The full text of a stored artifact, or null when it is not stored. */
  async read(hash: string): Promise<Uint8Array | null> {
    const obj = await readObject(this.deps, hash);
    return obj === null ? null : obj.data;
  }
}

/**
 * Appends records (zlib streams) to one new segment, opened on first use.
 * `finish` makes them readable; `abort` drops them (a failed request).
 */
export class RecordSink {
  private writer: SegmentWriter | null = null;

  constructor(private readonly repo: FossilRepo) {}

  /** Appends one record; its location is final once `finish` succeeds. */
  async append(record: Uint8Array): Promise<WrittenRecord> {
    this.writer ??= await this.repo.segments.create();
    if (record.length > 0) await this.writer.write(record);
    const loc = this.writer.endRecord();
    return { segment: this.writer.segment, ...loc };
  }

  /** Deflates `data` and appends it. */
  async appendDeflated(data: Uint8Array): Promise<WrittenRecord> {
    const record = this.repo.primitives.zlib.deflate(data);
    try {
      return await this.append(record);
    } finally {
      // The writer copied it: freed now, not at V8's next full GC. Only a buffer of its own (a pooled
      // Buffer shares one: node:zlib output under 4 KiB may be a slice of Buffer's pool).
      if (record.byteOffset === 0 && record.byteLength === record.buffer.byteLength) releaseNow(record);
    }
  }

  /** Makes written records readable (no-op when nothing was written). */
  async finish(): Promise<void> {
    const w = this.writer;
    this.writer = null;
    if (w) await w.finish();
  }

  /** Drops written records. */
  async abort(): Promise<void> {
    const w = this.writer;
    this.writer = null;
    if (w) await w.abort().catch(() => undefined);
  }
}
