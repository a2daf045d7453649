/**
 * In-memory storage: refs, object index, commit and segments in plain maps.
 * Used by tests and small runtimes; passes the same contract suite as the
 * Durable Object + R2 implementation. Every method does its whole decision
 * and write without awaiting in between, so each call is atomic.
 */
import { ChainTooDeepError, SegmentNotFoundError, SegmentRangeError } from './errors.js';
import { compareCodePoints, checkObjectId, type ByteStream, type ObjectId } from './ids.js';
import {
  checkPlannedRow,
  MAX_CHAIN_DEPTH,
  MAX_CHAIN_ROWS,
  planRows,
  type CommitResult,
  type IndexRow,
  type IndexRowInput,
  type ObjectIndex,
  type ObjectKind,
  type RepoCommit,
  type RepoCommitter,
  type RowStage,
  type RowStager,
  type StageId,
} from './object-index.js';
import type { ReachCommit } from './reach.js';
import {
  checkSetSymbolic,
  planRefUpdates,
  type Ref,
  type RefSnapshot,
  type RefStore,
  type RefUpdate,
  type RefUpdateOptions,
  type RefUpdateResult,
  type SymbolicRef,
} from './refs.js';
import {
  checkRange,
  RecordTracker,
  type AppendResult,
  type RecordLocation,
  type SegmentId,
  type SegmentStore,
  type SegmentWriter,
} from './segments.js';

/** Refs, object index and the atomic commit of one repository, in memory. */
export class MemoryRepoStore implements RefStore, ObjectIndex, RepoCommitter, RowStager {
  private readonly refs = new Map<string, ObjectId>();
  private readonly symrefs = new Map<string, string>();
  private readonly objects = new Map<ObjectId, IndexRow>();
  private readonly stages = new Map<StageId, IndexRow[]>();
  private nextStage = 1;
  /** A reachability closure kept over this store (a MemoryReach), told of RepoCommit.reach inside the commit. */
  reach: { commitMarks(r: ReachCommit, rows: IndexRow[]): void } | null = null;

  private readonly snapshot: RefSnapshot = {
    read: (name) => this.refs.get(name) ?? null,
    isSymbolic: (name) => this.symrefs.has(name),
  };

  async list(prefix = ''): Promise<Ref[]> {
    return [...this.refs]
      .filter(([name]) => name.startsWith(prefix))
      .map(([name, id]) => ({ name, id }))
      .sort((a, b) => compareCodePoints(a.name, b.name));
  }

  async read(name: string): Promise<ObjectId | null> {
    return this.refs.get(name) ?? null;
  }

  async readSymbolic(name: string): Promise<string | null> {
    return this.symrefs.get(name) ?? null;
  }

  async listSymbolic(): Promise<SymbolicRef[]> {
    return [...this.symrefs].map(([name, target]) => ({ name, target })).sort((a, b) => compareCodePoints(a.name, b.name));
  }

  async update(updates: RefUpdate[], opts?: RefUpdateOptions): Promise<RefUpdateResult> {
    const { result, writes } = planRefUpdates(updates, this.snapshot, opts);
    this.applyRefs(writes);
    return result;
  }

  async setSymbolic(name: string, target: string | null): Promise<void> {
    checkSetSymbolic(name, target, this.snapshot);
    if (target === null) this.symrefs.delete(name);
    else this.symrefs.set(name, target);
  }

  async has(ids: ObjectId[]): Promise<boolean[]> {
    return ids.map((id) => this.objects.has(id));
  }

  async kinds(ids: ObjectId[]): Promise<(ObjectKind | null)[]> {
    return ids.map((id) => this.objects.get(id)?.kind ?? null);
  }

  async rows(ids: ObjectId[]): Promise<(IndexRow | null)[]> {
    return ids.map((id) => {
      const row = this.objects.get(id);
      return row ? { ...row } : null;
    });
  }

  async get(id: ObjectId): Promise<IndexRow | null> {
    checkObjectId(id);
    const row = this.objects.get(id);
    return row ? { ...row } : null;
  }

  async chain(id: ObjectId): Promise<IndexRow[]> {
    checkObjectId(id);
    const out: IndexRow[] = [];
    for (let row = this.objects.get(id); row && out.length < MAX_CHAIN_ROWS; row = row.base === null ? undefined : this.objects.get(row.base)) {
      out.push({ ...row });
    }
    return out;
  }

  async putBatch(rows: IndexRowInput[]): Promise<{ inserted: number }> {
    const { inserted } = await this.commit({ rows, refs: [] });
    return { inserted };
  }

  async openStage(): Promise<RowStage> {
    const id = this.nextStage++;
    const rows: IndexRow[] = [];
    this.stages.set(id, rows);
    const live = () => {
      const r = this.stages.get(id);
      if (!r) throw new Error(`stage ${id} was dropped`);
      return r;
    };
    return {
      id,
      append: async (more) => {
        more.forEach(checkPlannedRow);
        live().push(...more.map((r) => ({ ...r })));
      },
      row: async (n) => {
        const row = live()[n];
        if (!row) throw new RangeError(`stage ${id} has no row ${n}`);
        return { ...row };
      },
      drop: async () => void this.stages.delete(id),
    };
  }

  async commit(c: RepoCommit): Promise<CommitResult> {
    const given: IndexRow[] = [];
    if (c.stage !== undefined) {
      const staged = this.stages.get(c.stage);
      if (!staged) throw new Error(`no stage ${c.stage}`);
      for (const r of staged) given.push(r); // not push(...staged): a large push's stage overflows the call stack as arguments
    }
    if (c.planned) given.push(...c.planned);
    // Planned depths are recomputed like any row's: the same answer when they were right.
    const planned = planRows([...c.rows, ...given], (id) => this.objects.get(id)?.depth ?? null);
    if (given.length > 0) {
      const depthOf = new Map(planned.map((r) => [r.id, r.depth]));
      for (const r of given) {
        const d = depthOf.get(r.id);
        if (d !== undefined && d !== r.depth) throw new ChainTooDeepError('chain-too-deep', `${r.id} was planned at depth ${r.depth}, its chain makes it ${d}`, { id: r.id, base: r.base, depth: d, max: MAX_CHAIN_DEPTH });
      }
    }
    const { result, writes } = planRefUpdates(c.refs, this.snapshot, { atomic: c.atomic });
    const keep = result.ok || writes.length > 0;
    if (!keep) return { ...result, inserted: 0 };
    for (const row of planned) this.objects.set(row.id, { ...row });
    this.applyRefs(writes);
    if (c.reach && this.reach) this.reach.commitMarks(c.reach, [...c.rows, ...given].map((r) => this.objects.get(r.id)!));
    return { ...result, inserted: planned.length };
  }

  private applyRefs(writes: RefUpdate[]): void {
    for (const w of writes) {
      if (w.new === null) this.refs.delete(w.name);
      else this.refs.set(w.name, w.new);
    }
  }
}

/** Segments held as lists of chunks (no concatenation, so big appends do not copy). */
export class MemorySegmentStore implements SegmentStore {
  private readonly segments = new Map<SegmentId, Uint8Array[]>();
  private next = 0;

  async create(): Promise<SegmentWriter> {
    const segment = `seg-${(this.next++).toString().padStart(8, '0')}`;
    const chunks: Uint8Array[] = [];
    const tracker = new RecordTracker(segment);
    const done = this.segments;
    return {
      segment,
      async write(chunk: Uint8Array): Promise<void> {
        tracker.wrote(chunk.length);
        chunks.push(chunk.slice());
      },
      endRecord: (): RecordLocation => tracker.endRecord(),
      async finish(): Promise<AppendResult> {
        const result = tracker.finish();
        done.set(segment, chunks);
        return result;
      },
      async abort(): Promise<void> {
        tracker.abort();
        chunks.length = 0;
      },
      readBack(offset: number, length: number): Uint8Array | null {
        if (offset + length > tracker.written) return null;
        const out = new Uint8Array(length);
        let pos = 0;
        for (const c of chunks) {
          const from = Math.max(offset - pos, 0);
          const to = Math.min(offset + length - pos, c.length);
          if (from < to) out.set(c.subarray(from, to), pos + from - offset);
          pos += c.length;
        }
        return out;
      },
    };
  }

  async readRange(segment: SegmentId, offset: number, length: number): Promise<Uint8Array> {
    const out = new Uint8Array(length);
    let at = 0;
    for await (const chunk of this.readStream(segment, offset, length)) {
      out.set(chunk, at);
      at += chunk.length;
    }
    return out;
  }

  readStream(segment: SegmentId, offset = 0, length?: number): ByteStream {
    // A generator, so errors surface on the first pull as with a remote store.
    const chunksOf = (s: SegmentId) => this.chunksOf(s);
    return (async function* () {
      checkRange(offset, length);
      const chunks = chunksOf(segment);
      const total = chunks.reduce((n, c) => n + c.length, 0);
      const end = length === undefined ? total : offset + length;
      if (offset > total || end > total) {
        throw new SegmentRangeError('segment-range', `range ${offset}+${end - offset} outside segment ${segment} of ${total} bytes`, {
          segment,
          offset,
          length: end - offset,
          size: total,
        });
      }
      let pos = 0;
      for (const c of chunks) {
        const from = Math.max(offset - pos, 0);
        const to = Math.min(end - pos, c.length);
        if (from < to) yield c.slice(from, to);
        pos += c.length;
        if (pos >= end) break;
      }
    })();
  }

  async size(segment: SegmentId): Promise<number> {
    return this.chunksOf(segment).reduce((n, c) => n + c.length, 0);
  }

  async list(): Promise<SegmentId[]> {
    return [...this.segments.keys()];
  }

  async delete(segment: SegmentId): Promise<void> {
    this.segments.delete(segment);
  }

  private chunksOf(segment: SegmentId): Uint8Array[] {
    const chunks = this.segments.get(segment);
    if (!chunks) throw new SegmentNotFoundError('segment-not-found', `no segment ${segment}`, { segment });
    return chunks;
  }
}

/** A fresh in-memory repository: its repo store and segment store. */
export function createMemoryStores(): { repo: MemoryRepoStore; segments: MemorySegmentStore } {
  return { repo: new MemoryRepoStore(), segments: new MemorySegmentStore() };
}
