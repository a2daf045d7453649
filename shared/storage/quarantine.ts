/**
 * Quarantine: a push's index rows held aside, over the committed index. The
 * pack ingest and the connectivity check read overlay-over-base through it;
 * when they pass, `rows()` goes to RepoCommitter.commit with the ref updates.
 * Nothing here is visible to other requests; dropping it leaves only
 * unreferenced segments behind, for garbage collection.
 */
import type { ObjectId } from './ids.js';
import { planDepths, type IndexRow, type IndexRowInput, type ObjectIndexReader } from './object-index.js';

/**
 * A pending row as one object literal with every field: a push holds one per
 * object, and `{ ...row, depth }` put the added field in a separate property
 * array (measured ~60 bytes more per row).
 */
function storedRow(r: IndexRowInput, depth: number): IndexRow {
  const { id, kind, size, segment, offset, length, format, base } = r;
  if (r.recordSize === undefined) return { id, kind, size, segment, offset, length, format, base, depth };
  return { id, kind, size, segment, offset, length, format, base, recordSize: r.recordSize, depth };
}

/** Pending rows of one push over the committed index (create one per push). */
export class QuarantineIndex implements ObjectIndexReader {
  private readonly pending = new Map<ObjectId, IndexRow>();

  constructor(private readonly base: ObjectIndexReader) {}

  /**
   * Validates rows and computes their depths against pending and committed
   * rows, as the commit will. Throws (adding nothing) on a bad row, a missing
   * base, a cycle, or a chain over MAX_CHAIN_DEPTH, so the ingest can store a
   * full text instead. Rows already committed or pending are skipped.
   */
  async add(rows: IndexRowInput[]): Promise<IndexRow[]> {
    const ids = [...new Set(rows.map((r) => r.id).filter((id) => !this.pending.has(id)))];
    const present = ids.length > 0 ? await this.base.has(ids) : [];
    const committed = new Set(ids.filter((_, i) => present[i]));
    const inBatch = new Set(rows.map((r) => r.id));
    // Depths of bases outside the batch, and of batch rows that are already
    // committed (planRows skips those, so their committed depth counts).
    const baseDepths = new Map<ObjectId, number>();
    for (const r of rows) {
      const b = r.base;
      if (b === null || this.pending.has(b) || baseDepths.has(b) || (inBatch.has(b) && !committed.has(b))) continue;
      const row = await this.base.get(b);
      if (row !== null) baseDepths.set(b, row.depth);
    }
    const planned = planDepths(rows, (id) => {
      const known = this.pending.get(id)?.depth ?? baseDepths.get(id);
      if (known !== undefined) return known;
      return committed.has(id) ? 0 : null; // only presence matters here: planDepths skips the row
    });
    const out: IndexRow[] = [];
    for (const [row, depth] of planned) {
      const stored = storedRow(row, depth);
      this.pending.set(row.id, stored);
      out.push(stored);
    }
    return out;
  }

  async has(ids: ObjectId[]): Promise<boolean[]> {
    const rest = ids.filter((id) => !this.pending.has(id));
    const answer = rest.length > 0 ? await this.base.has(rest) : [];
    const inBase = new Set(rest.filter((_, i) => answer[i]));
    return ids.map((id) => this.pending.has(id) || inBase.has(id));
  }

  async get(id: ObjectId): Promise<IndexRow | null> {
    const row = this.pending.get(id);
    return row ? { ...row } : this.base.get(id);
  }

  /**
   * The pending rows in the order added, for RepoCommitter.commit (the stored
   * rows themselves, depth included: commit recomputes depths and ignores it;
   * copies would double a large push's memory). Do not mutate them.
   */
  rows(): IndexRowInput[] {
    return [...this.pending.values()];
  }

  /** How many rows are pending. */
  get size(): number {
    return this.pending.size;
  }
}
