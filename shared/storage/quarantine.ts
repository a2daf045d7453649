/**
 * Quarantine: a push's index rows held aside, over the committed index. The
 * pack ingest and the connectivity check read overlay-over-base through it;
 * when they pass, `planned()` goes to RepoCommitter.commit with the ref
 * updates. Nothing here is visible to other requests; dropping it leaves only
 * unreferenced segments behind, for garbage collection.
 *
 * Rows are kept in typed-array columns by row number (ids in an IdSet, bases
 * as row numbers), about 60 bytes a row: a JS object per row with its id and
 * base strings cost ~250 bytes, and a 300k-object push held 75 MB of them.
 * Ids are SHA-1 (40 hex digits), the only object format receive-pack accepts.
 */
import { fromHex } from '../core/bytes.js';
import { InvalidRowError } from './errors.js';
import { IdSet } from './id-set.js';
import type { ObjectId } from './ids.js';
import { OBJECT_KINDS, planDepths, RECORD_FORMATS, type IndexRow, type IndexRowInput, type ObjectIndexReader } from './object-index.js';

/** `bases` value of a full record. */
const NO_BASE = -1;

/** Pending rows of one push over the committed index (create one per push). */
export class QuarantineIndex implements ObjectIndexReader {
  private readonly ids = new IdSet();
  private kinds = new Uint8Array(1024);
  private formats = new Uint8Array(1024);
  private depths = new Uint8Array(1024);
  private segs = new Uint32Array(1024);
  private sizes = new Float64Array(1024);
  private offsets = new Float64Array(1024);
  private lengths = new Float64Array(1024);
  /** The record's inflated size, NaN when unknown. */
  private recordSizes = new Float64Array(1024);
  /** The base's row number; NO_BASE; or -(2 + k) for outside base k (a committed object). */
  private bases = new Int32Array(1024);
  private readonly outside: ObjectId[] = [];
  private readonly outsideKey = new Map<ObjectId, number>();
  private readonly segNames: string[] = [];
  private readonly segKey = new Map<string, number>();

  constructor(private readonly base: ObjectIndexReader) {}

  /**
   * Validates rows and computes their depths against pending and committed
   * rows, as the commit will. Throws (adding nothing) on a bad row, a missing
   * base, a cycle, or a chain over MAX_CHAIN_DEPTH, so the ingest can store a
   * full text instead. Rows already committed or pending are skipped.
   */
  async add(rows: IndexRowInput[]): Promise<IndexRow[]> {
    for (const r of rows) if (r.id.length !== 40) throw new InvalidRowError('invalid-row', `row ${r.id}: not a SHA-1 id`, { id: r.id, why: 'not a SHA-1 id' });
    const ids = [...new Set(rows.map((r) => r.id).filter((id) => this.rowOf(id) < 0))];
    const present = ids.length > 0 ? await this.base.has(ids) : [];
    const committed = new Set(ids.filter((_, i) => present[i]));
    const inBatch = new Set(rows.map((r) => r.id));
    // Depths of bases outside the batch, and of batch rows that are already
    // committed (planDepths skips those, so their committed depth counts).
    const baseDepths = new Map<ObjectId, number>();
    for (const r of rows) {
      const b = r.base;
      if (b === null || this.rowOf(b) >= 0 || baseDepths.has(b) || (inBatch.has(b) && !committed.has(b))) continue;
      const row = await this.base.get(b);
      if (row !== null) baseDepths.set(b, row.depth);
    }
    const planned = planDepths(rows, (id) => {
      const k = this.rowOf(id);
      const known = k >= 0 ? this.depths[k] : baseDepths.get(id);
      if (known !== undefined) return known;
      return committed.has(id) ? 0 : null; // only presence matters here: planDepths skips the row
    });
    const out: IndexRow[] = [];
    for (const [row, depth] of planned) {
      this.push(row, depth);
      out.push({ ...row, depth });
    }
    return out;
  }

  async has(ids: ObjectId[]): Promise<boolean[]> {
    const rest = ids.filter((id) => this.rowOf(id) < 0);
    const answer = rest.length > 0 ? await this.base.has(rest) : [];
    const inBase = new Set(rest.filter((_, i) => answer[i]));
    return ids.map((id) => inBase.has(id) || this.rowOf(id) >= 0);
  }

  async get(id: ObjectId): Promise<IndexRow | null> {
    const k = this.rowOf(id);
    return k >= 0 ? this.row(k) : this.base.get(id);
  }

  /** Whether `id` is pending here (not asking the committed index). */
  pending(id: ObjectId): boolean {
    return this.rowOf(id) >= 0;
  }

  /** Whether the binary id at `src[off..off+20)` is pending here. */
  pendingAt(src: Uint8Array, off: number): boolean {
    return this.ids.hasAt(src, off);
  }

  /** The pending depth of `id`, or undefined when it is not pending. */
  depthOf(id: ObjectId): number | undefined {
    const k = this.rowOf(id);
    return k >= 0 ? this.depths[k] : undefined;
  }

  /**
   * The pending rows in id order, built one at a time, for RepoCommitter.commit's
   * `planned`. Id order makes the index inserts B-tree appends: in pack
   * order each one touched a random page, and inserting a 300k-object push
   * took 27 s of SQLite time in workerd.
   */
  *planned(): Generator<IndexRow> {
    for (const k of this.idOrder()) yield this.row(k);
  }

  /** Row numbers sorted by id (first 6 bytes as a number, ties by the rest). */
  private idOrder(): Uint32Array {
    const n = this.ids.size;
    const slab = this.ids.bytes;
    const keys = new Float64Array(n);
    for (let k = 0; k < n; k++) {
      const o = k * 20;
      keys[k] = slab[o] * 2 ** 40 + slab[o + 1] * 2 ** 32 + slab[o + 2] * 2 ** 24 + slab[o + 3] * 2 ** 16 + slab[o + 4] * 2 ** 8 + slab[o + 5];
    }
    const order = new Uint32Array(n);
    for (let k = 0; k < n; k++) order[k] = k;
    return order.sort((a, b) => {
      if (keys[a] !== keys[b]) return keys[a] - keys[b];
      for (let i = 6; i < 20; i++) if (slab[a * 20 + i] !== slab[b * 20 + i]) return slab[a * 20 + i] - slab[b * 20 + i];
      return 0;
    });
  }

  /** The pending rows as an array (small pushes, tests). */
  rows(): IndexRow[] {
    return [...this.planned()];
  }

  /** How many rows are pending. */
  get size(): number {
    return this.ids.size;
  }

  private rowOf(id: ObjectId): number {
    return id.length === 40 ? this.ids.indexOfAt(fromHex(id), 0) : -1;
  }

  private row(k: number): IndexRow {
    const b = this.bases[k];
    const row: IndexRow = {
      id: this.ids.at(k),
      kind: OBJECT_KINDS[this.kinds[k]],
      size: this.sizes[k],
      segment: this.segNames[this.segs[k]],
      offset: this.offsets[k],
      length: this.lengths[k],
      format: RECORD_FORMATS[this.formats[k]],
      base: b === NO_BASE ? null : b >= 0 ? this.ids.at(b) : this.outside[-b - 2],
      depth: this.depths[k],
    };
    if (!Number.isNaN(this.recordSizes[k])) row.recordSize = this.recordSizes[k];
    return row;
  }

  private push(r: IndexRowInput, depth: number): void {
    const k = this.ids.size;
    if (k === this.kinds.length) this.grow();
    let base = NO_BASE;
    if (r.base !== null) {
      base = this.rowOf(r.base);
      if (base < 0) {
        let o = this.outsideKey.get(r.base);
        if (o === undefined) {
          o = this.outside.push(r.base) - 1;
          this.outsideKey.set(r.base, o);
        }
        base = -2 - o;
      }
    }
    let seg = this.segKey.get(r.segment);
    if (seg === undefined) {
      seg = this.segNames.push(r.segment) - 1;
      this.segKey.set(r.segment, seg);
    }
    this.ids.add(r.id);
    this.kinds[k] = OBJECT_KINDS.indexOf(r.kind);
    this.formats[k] = RECORD_FORMATS.indexOf(r.format);
    this.depths[k] = depth;
    this.segs[k] = seg;
    this.sizes[k] = r.size;
    this.offsets[k] = r.offset;
    this.lengths[k] = r.length;
    this.recordSizes[k] = r.recordSize ?? Number.NaN;
    this.bases[k] = base;
  }

  /** Tells the quarantine it will hold about `n` rows (a pack's object count): columns then grow to n, not past it by up to 2x. */
  expect(n: number): void {
    this.expected = n;
    this.ids.expect(n);
  }

  private expected = Number.POSITIVE_INFINITY;

  private grow(): void {
    const len = this.kinds.length;
    const n = Math.max(len + 1, Math.min(len * 2, this.expected));
    const g = <T extends Uint8Array | Uint32Array | Int32Array | Float64Array>(a: T, b: T): T => (b.set(a), b);
    this.kinds = g(this.kinds, new Uint8Array(n));
    this.formats = g(this.formats, new Uint8Array(n));
    this.depths = g(this.depths, new Uint8Array(n));
    this.segs = g(this.segs, new Uint32Array(n));
    this.sizes = g(this.sizes, new Float64Array(n));
    this.offsets = g(this.offsets, new Float64Array(n));
    this.lengths = g(this.lengths, new Float64Array(n));
    this.recordSizes = g(this.recordSizes, new Float64Array(n));
    this.bases = g(this.bases, new Int32Array(n));
  }
}
