/**
 * A remembered reachability closure, so a full clone need not walk history
 * (the role git's reachability bitmaps play): the index keeps a set of tips S
 * and marks V, every object reachable from S. "Everything reachable from
 * commit X" never changes (objects are immutable), so V stays exact whatever
 * refs do later; only a new S has to be proven, and upload-pack proves it
 * cheaply when the new wants reach every old tip (a fast-forward): it walks
 * only the objects not yet in V (see object-walk's `reachClosure`). A push
 * usually proves it itself, from what its connectivity check saw (see
 * receive-pack's reachCommit), and marks its objects as they are indexed
 * (RepoCommit.reach), so the clone after it walks nothing.
 *
 * Invariant an implementation keeps: V = reach(S) exactly, changed only by
 * `reachMark` or a commit's ReachCommit with a matching version
 * (compare-and-swap), which also bumps the version. Rows inserted later are
 * not in V until marked. Anything that rewrites or drops rows (repack, GC)
 * must reset the state to empty. A store may keep plans of older versions
 * to extend with the rows marked since (the DO does, while V only grew):
 * whatever resets V drops them.
 */
import { fromHex, releaseNow, toHexAt, writeHex } from '../core/bytes.js';
import type { ObjectId } from './ids.js';
import { IdSet, type PackedIds } from './id-set.js';
import { MAX_CHAIN_DEPTH, type IndexRow, type ObjectKind, type RecordFormat } from './object-index.js';

/** The tips S whose closure V the index holds, and the version of that pair. */
export interface ReachState {
  version: number;
  tips: ObjectId[];
}

/**
 * RepoCommit.reach: the commit's rows join V and S becomes `tips`, in the
 * commit's own transaction, when the state is still at version `expect`
 * (else the rows go in unmarked: always safe). The caller guarantees that V
 * (at `expect`) plus every row it commits is reach(tips): receive-pack proves
 * it from what it checked anyway (see receive-pack's reachCommit). Every row
 * given is marked, including rows whose id was indexed meanwhile.
 */
export interface ReachCommit {
  expect: number;
  tips: ObjectId[];
}

/** Most tips S may hold for a push to mark (a clone checks each, and a push rewrites them all). */
export const MAX_REACH_TIPS = 1000;

/** Ids given to reachMark: hex strings, or packed binary ids (a first clone marks every object: no string per id). */
export type MarkIds = readonly ObjectId[] | PackedIds;

/** Hex ids `from` up to `to` of a MarkIds, for implementations that mark in batches. */
export function markIdsSlice(ids: MarkIds, from: number, to: number): ObjectId[] {
  const end = Math.min(to, ids.length);
  if (Array.isArray(ids)) return ids.slice(from, end);
  const out: ObjectId[] = [];
  for (let i = from; i < end; i++) out.push((ids as PackedIds).at(i));
  return out;
}

/** Per id in `reachStatus`: not indexed, indexed but outside V, in V. */
export const REACH_MISSING = 0;
export const REACH_OUTSIDE = 1;
export const REACH_IN = 2;

/** What reachRows answers. */
export interface ReachRows {
  status: Uint8Array;
  rows: (IndexRow | undefined)[];
}

/** Optional index extension (the DO's SQLite index implements it; see the top of this file). */
export interface ReachIndex {
  reachState(): Promise<ReachState>;
  /** REACH_MISSING / REACH_OUTSIDE / REACH_IN per id, same order. */
  reachStatus(ids: ObjectId[]): Promise<Uint8Array>;
  /**
   * reachStatus plus the index rows of the ids that are commits, trees or
   * tags (undefined for blobs and missing ids): the closure walk reads each
   * of those next, so it needs no lookup of its own per object.
   */
  reachRows?(ids: ObjectId[]): Promise<ReachRows>;
  /**
   * If the version is still `expect`: S := tips, and V := V + ids (or V :=
   * ids when `reset`). Returns the new version, or null when the version moved
   * (nothing changed then). The caller guarantees V + ids (ids) = reach(tips).
   */
  reachMark(expect: number, tips: ObjectId[], ids: MarkIds, reset: boolean): Promise<number | null>;
  /**
   * V's rows (all kinds but artifacts; without blobs when `blobs` is false)
   * in storage order, as one consistent snapshot; null when the version is
   * no longer `version`.
   */
  reachPlan(version: number, blobs: boolean): Promise<ReachPlan | null>;
  /** The SHA-1 trailer kept for the pack of the plan named `key` (ReachPlan.key), with or without ofs-delta; null if none. */
  reachPackDigest?(key: string, ofsDelta: boolean): Promise<Uint8Array | null>;
  /** Keeps a pack's trailer while `key` still names the store's current plan (ignored otherwise). */
  keepReachPackDigest?(key: string, ofsDelta: boolean, digest: Uint8Array): Promise<void>;
  /** The oldest commit date (git's) of the closure of the plan named `key`, if one was kept; else null. */
  reachOldestCommit?(key: string): Promise<number | null>;
  /** Keeps the oldest commit date of the closure of the plan named `key` (ignored unless it names a current plan). */
  keepReachOldestCommit?(key: string, time: number): Promise<void>;
}

/** Kind codes of a ReachPlan. */
export const PLAN_KINDS: readonly ObjectKind[] = ['commit', 'tree', 'blob', 'tag', 'artifact'];
/** Format codes of a ReachPlan. */
export const PLAN_FORMATS: readonly RecordFormat[] = ['full', 'git-delta', 'fossil-delta'];
/** `base[i]` when entry i is a full record. */
export const PLAN_NO_BASE = -1;
/** `base[i]` when entry i is a delta whose base is not in the plan (it must be rebuilt). */
export const PLAN_BASE_OUTSIDE = -2;
/** `base[i]` when entry i is a git delta against an object the client has (a thin pack's REF_DELTA; id in `thinBases`). */
export const PLAN_BASE_THIN = -3;

/** `recordSize[i]` when entry i's record size is unknown (or over 2 GiB: the writer inflates it). */
export const PLAN_NO_RECORD_SIZE = -1;

/**
 * Rows of a closure as parallel typed arrays (50 bytes per object, so 1M
 * objects fit in ~50 MB where IndexRow objects would take several times
 * that), in storage order. Only a segment offset may pass 4 GiB (a segment
 * is as large as a push allows); a git object's size, hence a record's
 * length, is below it (the pack reader's cap).
 */
export interface ReachPlan {
  count: number;
  /** Segment names; `seg[i]` indexes it. */
  segmentNames: string[];
  seg: Uint32Array;
  offset: Float64Array;
  length: Uint32Array;
  size: Uint32Array;
  /** A delta record's own inflated size, PLAN_NO_RECORD_SIZE when unknown. */
  recordSize: Int32Array;
  kind: Uint8Array;
  format: Uint8Array;
  /** Index of the delta base in this plan, PLAN_NO_BASE or PLAN_BASE_OUTSIDE. */
  base: Int32Array;
  /** 20-byte ids, entry i at i * 20. */
  ids: Uint8Array;
  /** 20-byte base ids at i * 20 for entries whose base is PLAN_BASE_THIN (fetch plans only). */
  thinBases?: Uint8Array;
  /**
   * Set by a store on the plans it keeps (reachPlan): names exactly these rows in this order, so
   * a pack written from them twice is the same bytes and its trailer can be kept (reachPackDigest).
   */
  key?: string;
}

/**
 * The plan without its blobs (a blob:none clone's, from a full clone's: a
 * pass over the arrays, where building it again means reading every row of
 * the closure). A delta whose base was a blob keeps PLAN_BASE_OUTSIDE, as
 * ReachPlanBuilder gives it.
 */
export function reachPlanWithoutBlobs(plan: ReachPlan): ReachPlan {
  const blob = PLAN_KINDS.indexOf('blob');
  const at = new Int32Array(plan.count);
  let n = 0;
  for (let i = 0; i < plan.count; i++) at[i] = plan.kind[i] === blob ? -1 : n++;
  const out = emptyPlan(n);
  out.count = n;
  // Only the segments that still hold entries, numbered in order of first use (as the builder does).
  const segAt = new Int32Array(plan.segmentNames.length).fill(-1);
  for (let i = 0; i < plan.count; i++) {
    const k = at[i];
    if (k < 0) continue;
    const s = plan.seg[i];
    if (segAt[s] < 0) {
      segAt[s] = out.segmentNames.length;
      out.segmentNames.push(plan.segmentNames[s]);
    }
    out.seg[k] = segAt[s];
    out.offset[k] = plan.offset[i];
    out.length[k] = plan.length[i];
    out.size[k] = plan.size[i];
    out.recordSize[k] = plan.recordSize[i];
    out.kind[k] = plan.kind[i];
    out.format[k] = plan.format[i];
    const b = plan.base[i];
    out.base[k] = b < 0 ? b : at[b] >= 0 ? at[b] : PLAN_BASE_OUTSIDE;
    out.ids.set(plan.ids.subarray(i * 20, i * 20 + 20), k * 20);
  }
  return out;
}

const planRowsOf = new WeakMap<ReachPlan, PlanRows>();

/**
 * Index rows answered from a plan's arrays: a walk over V (a shallow fetch's)
 * then asks the index for no row, delta chain or read-ahead of its own.
 */
export class PlanRows {
  /** The plan's ids; `entry` maps an id's insertion index to its plan entry (duplicates are skipped). */
  private readonly ids = new IdSet();
  private readonly entry: Int32Array;

  /** The PlanRows of a plan, built once while the plan lives (a store keeps its plan between requests). */
  static of(plan: ReachPlan): PlanRows {
    let rows = planRowsOf.get(plan);
    if (rows === undefined) planRowsOf.set(plan, (rows = new PlanRows(plan)));
    return rows;
  }

  constructor(readonly plan: ReachPlan) {
    this.ids.expect(plan.count);
    this.entry = new Int32Array(plan.count);
    for (let i = 0; i < plan.count; i++) if (this.ids.addAt(plan.ids, i * 20)) this.entry[this.ids.size - 1] = i;
  }

  /** The plan entry of the id at `src[off..off+20)`, or -1. */
  entryAt(src: Uint8Array, off: number): number {
    const k = this.ids.indexOfAt(src, off);
    return k < 0 ? -1 : this.entry[k];
  }

  /**
   * The row of `id`, or undefined when the plan does not hold it or its delta chain leaves the
   * plan (PLAN_BASE_OUTSIDE: the plan does not name that base) or is too deep (readObject, asking
   * the index, then says why).
   */
  row(id: ObjectId): IndexRow | undefined {
    const p = this.plan;
    const i = this.entryAt(fromHex(id), 0);
    if (i < 0) return undefined;
    let depth = 0;
    for (let b = i; p.base[b] !== PLAN_NO_BASE; b = p.base[b]) {
      if (p.base[b] < 0 || ++depth > MAX_CHAIN_DEPTH) return undefined;
    }
    const b = p.base[i];
    const row: IndexRow = {
      id,
      kind: PLAN_KINDS[p.kind[i]],
      size: p.size[i],
      segment: p.segmentNames[p.seg[i]],
      offset: p.offset[i],
      length: p.length[i],
      format: PLAN_FORMATS[p.format[i]],
      base: b >= 0 ? toHexAt(p.ids, b * 20, 20) : null,
      depth,
    };
    if (p.recordSize[i] !== PLAN_NO_RECORD_SIZE) row.recordSize = p.recordSize[i];
    return row;
  }
}

/** A ReachPlan's per-entry arrays in the order reachPlanParts writes them (thinBases is not stored). */
function planFields(p: ReachPlan): Uint8Array[] {
  return [p.seg, p.offset, p.length, p.size, p.recordSize, p.kind, p.format, p.base, p.ids].map((a) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength));
}

/** Bytes per entry of reachPlanParts' output (4 + 8 + 3 * 4 + 1 + 1 + 4 + 20). */
export const PLAN_ENTRY_BYTES = 50;

/**
 * The first bytes of reachPlanParts' output: "RPL" and the layout's version, so parts of another
 * layout (the 62-byte entries kept before version 2 had no header) are refused, not misread.
 */
const PLAN_HEADER = Uint8Array.of(0x52, 0x50, 0x4c, 2);
export const PLAN_HEADER_BYTES = PLAN_HEADER.length;

/**
 * A plan's arrays as parts of at most `partBytes` bytes, for a store to keep
 * (a 300k-object plan read back costs a few copies where rebuilding it from
 * index rows cost a second of CPU). Each part is its own ArrayBuffer, exactly
 * filled. Typed arrays are copied in the platform's byte order, which is the
 * order decodeReachPlan reads them in.
 */
export function* reachPlanParts(plan: ReachPlan, partBytes: number): Generator<Uint8Array> {
  if (plan.thinBases !== undefined) throw new Error('a fetch plan (thin bases) is not kept');
  let left = PLAN_HEADER.length + plan.count * PLAN_ENTRY_BYTES;
  let buf = new Uint8Array(Math.min(partBytes, left));
  let used = 0;
  for (const field of [PLAN_HEADER, ...planFields(plan)]) {
    for (let at = 0; at < field.length; ) {
      const n = Math.min(field.length - at, buf.length - used);
      buf.set(field.subarray(at, at + n), used);
      used += n;
      at += n;
      if (used === buf.length) {
        yield buf;
        left -= used;
        buf = new Uint8Array(Math.min(partBytes, left));
        used = 0;
      }
    }
  }
}

/**
 * The plan of `count` entries whose parts (reachPlanParts' output, in order)
 * `parts` yields; null when their bytes do not add up to exactly that plan
 * (a store then builds it again).
 */
export function decodeReachPlan(count: number, segmentNames: string[], parts: Iterable<Uint8Array>): ReachPlan | null {
  const plan = emptyPlan(count);
  plan.count = count;
  plan.segmentNames = segmentNames;
  const header = new Uint8Array(PLAN_HEADER.length);
  const fields = [header, ...planFields(plan)];
  let f = 0;
  let at = 0;
  for (const part of parts) {
    for (let from = 0; from < part.length; ) {
      while (f < fields.length && at === fields[f].length) {
        f++;
        at = 0;
      }
      if (f === fields.length) return null;
      const n = Math.min(part.length - from, fields[f].length - at);
      fields[f].set(part.subarray(from, from + n), at);
      from += n;
      at += n;
    }
  }
  while (f < fields.length && at === fields[f].length) {
    f++;
    at = 0;
  }
  if (f !== fields.length || header.some((b, k) => b !== PLAN_HEADER[k])) return null;
  for (let i = 0; i < count; i++) if (plan.seg[i] >= segmentNames.length || plan.base[i] >= count) return null;
  return plan;
}

/** One row given to ReachPlanBuilder; `segKey` orders segments (rows come sorted by segKey, then offset). */
export interface PlanRowInput {
  id: ObjectId;
  kind: ObjectKind;
  size: number;
  segKey: number;
  segment: string;
  offset: number;
  length: number;
  format: RecordFormat;
  recordSize: number | null;
  /** Where the delta base lies when it is in V too (same ordering keys), else null. */
  baseAt: { segKey: number; offset: number } | null;
  /** Or the base's id, whatever it is: resolved against the plan's own ids (a base not in the plan is outside). */
  baseId?: ObjectId | null;
}

/**
 * Builds a ReachPlan from rows in (segKey, offset) order, or in id order
 * (`unordered`); bases are resolved by binary search (`baseAt`) or by id
 * (`baseId`). Beside the plan's own arrays it keeps only what the rows use:
 * base positions once a row gives `baseAt`; once one gives `baseId`, the
 * base ids it cannot resolve yet (24 bytes each: in id order, only those
 * of bases still to come, about half the deltas).
 */
export class ReachPlanBuilder {
  private n = 0;
  private cap: number;
  private p: ReachPlan;
  /** segKey per segment index (one key per segment name). */
  private segKeyOf: number[] = [];
  private lastKey = -Infinity;
  /** Base positions given as `baseAt` (-1 key: none), allocated at the first one. */
  private baseKey: Float64Array | null = null;
  private baseOff: Float64Array | null = null;
  /** Base ids given as `baseId` and not resolved yet: the row at pendRows[k], its base id at k * 20. */
  private pendRows = new Uint32Array(0);
  private pendIds = new Uint8Array(0);
  private pend = 0;
  private readonly baseBin = new Uint8Array(20);
  /**
   * Unordered (rows in id order): the first row whose id's first two bytes are at least p, for
   * each p up to `filled` (a binary search then spans the few rows of one prefix, not all).
   */
  private firstOf: Int32Array | null = null;
  private filled = -1;
  private readonly segIndex = new Map<string, number>();

  /**
   * `unordered`: rows come in id order, not storage order (a scan of the
   * index in id order, which reads its pages in turn; in (segment, offset)
   * order each row was a random lookup: 2.2 s of a 300k-object plan, against
   * 0.35 s), and finish sorts them into storage order. Bases must then come
   * as `baseId`: one below the row's own id is found among the rows so far
   * (or is not in the plan), one above it waits for the end.
   */
  constructor(
    expected = 1024,
    private readonly unordered = false,
  ) {
    this.cap = Math.max(16, expected);
    this.p = emptyPlan(this.cap);
    if (unordered) this.firstOf = new Int32Array(ID_PREFIXES + 1);
  }

  /**
   * A builder whose first rows are `plan`'s (the plan of a smaller V, whose
   * segment i has key `segKeys[i]`), for `extra` more rows that all come
   * after them in storage order: a push's rows extend the last plan rather
   * than every row being read again. The plan's own bases stay as they are.
   */
  static extending(plan: ReachPlan, segKeys: readonly number[], extra: number): ReachPlanBuilder {
    if (plan.thinBases !== undefined) throw new Error('a fetch plan (thin bases) is not extended');
    const b = new ReachPlanBuilder(plan.count + extra);
    const n = plan.count;
    const p = b.p;
    p.seg.set(plan.seg.subarray(0, n));
    p.offset.set(plan.offset.subarray(0, n));
    p.length.set(plan.length.subarray(0, n));
    p.size.set(plan.size.subarray(0, n));
    p.recordSize.set(plan.recordSize.subarray(0, n));
    p.kind.set(plan.kind.subarray(0, n));
    p.format.set(plan.format.subarray(0, n));
    p.base.set(plan.base.subarray(0, n));
    p.ids.set(plan.ids.subarray(0, n * 20));
    plan.segmentNames.forEach((name, i) => {
      p.segmentNames.push(name);
      b.segIndex.set(name, i);
      b.segKeyOf.push(segKeys[i]);
    });
    b.n = n;
    if (n > 0) b.lastKey = segKeys[plan.seg[n - 1]];
    return b;
  }

  add(r: PlanRowInput): void {
    if (this.n === this.cap) this.grow();
    const i = this.n++;
    const p = this.p;
    let s = this.segIndex.get(r.segment);
    if (s === undefined) {
      s = p.segmentNames.length;
      p.segmentNames.push(r.segment);
      this.segIndex.set(r.segment, s);
      this.segKeyOf.push(r.segKey);
    } else if (this.segKeyOf[s] !== r.segKey) {
      throw new Error('reach plan segment with two keys');
    }
    if (this.unordered) {
      if (r.baseAt !== null) throw new Error('an unordered reach plan resolves bases by id');
    } else if (i > 0 && (r.segKey < this.lastKey || (r.segKey === this.lastKey && r.offset <= p.offset[i - 1]))) {
      throw new Error('reach plan rows out of storage order');
    }
    this.lastKey = r.segKey;
    if (r.length > MAX_UINT32 || r.size > MAX_UINT32) throw new Error(`reach plan: ${r.id} is over 4 GiB`);
    p.seg[i] = s;
    p.offset[i] = r.offset;
    p.length[i] = r.length;
    p.size[i] = r.size;
    p.recordSize[i] = r.recordSize !== null && r.recordSize <= MAX_INT32 ? r.recordSize : PLAN_NO_RECORD_SIZE;
    p.kind[i] = PLAN_KINDS.indexOf(r.kind);
    p.format[i] = PLAN_FORMATS.indexOf(r.format);
    p.base[i] = r.format === 'full' ? PLAN_NO_BASE : PLAN_BASE_OUTSIDE;
    if (r.baseAt !== null) {
      if (this.baseKey === null) {
        this.baseKey = new Float64Array(this.cap).fill(-1);
        this.baseOff = new Float64Array(this.cap);
      }
      this.baseKey[i] = r.baseAt.segKey;
      this.baseOff![i] = r.baseAt.offset;
    }
    writeHex(r.id, p.ids, i * 20);
    if (this.firstOf !== null) {
      if (i > 0 && compareIds(p.ids, (i - 1) * 20, p.ids, i * 20) >= 0) throw new Error('reach plan rows out of id order');
      const prefix = (p.ids[i * 20] << 8) | p.ids[i * 20 + 1];
      while (this.filled < prefix) this.firstOf[++this.filled] = i;
    }
    if (r.baseId != null && r.format !== 'full') this.baseById(i, r.baseId);
  }

  /** Row i's base given by id: resolved now when the rows so far settle it, else kept for finish. */
  private baseById(i: number, baseId: ObjectId): void {
    const bin = this.baseBin;
    writeHex(baseId, bin, 0);
    if (this.firstOf !== null) {
      // Rows come in id order: a base id below row i's is among rows 0..i-1 or not in the plan.
      if (compareIds(bin, 0, this.p.ids, i * 20) < 0) {
        const prefix = (bin[0] << 8) | bin[1];
        const end = prefix < this.filled ? this.firstOf[prefix + 1] : i;
        const at = findId(this.p.ids, this.firstOf[prefix], end, bin, 0);
        if (at >= 0) this.p.base[i] = at;
        return;
      }
    }
    if (this.pend === this.pendRows.length) {
      const cap = Math.max(1024, Math.ceil(this.pend * 1.5));
      const rows = new Uint32Array(cap);
      rows.set(this.pendRows);
      const ids = new Uint8Array(cap * 20);
      ids.set(this.pendIds);
      releaseNow(this.pendRows, this.pendIds);
      this.pendRows = rows;
      this.pendIds = ids;
    }
    this.pendRows[this.pend] = i;
    this.pendIds.set(bin, this.pend * 20);
    this.pend++;
  }

  finish(): ReachPlan {
    const steps = this.finishing();
    let step = steps.next();
    while (!step.done) step = steps.next();
    return step.value;
  }

  /** finish in steps (bases resolved, rows sorted, each column put in order), yielding between them: a caller may let other work run there. */
  *finishing(): Generator<void, ReachPlan> {
    // Base ids are resolved before an unordered builder sorts its rows: the sort then moves no
    // base ids, and they are let go before it.
    this.resolvePending();
    if (this.unordered) {
      yield;
      yield* this.sortRows();
    }
    const n = this.n;
    const p = this.p;
    if (this.baseKey !== null) {
      for (let i = 0; i < n; i++) {
        if (p.base[i] === PLAN_NO_BASE || this.baseKey[i] < 0) continue;
        p.base[i] = this.find(this.baseKey[i], this.baseOff![i]);
      }
      this.baseKey = null;
      this.baseOff = null;
    }
    // Sized exactly (the DO counts rows first): hand the arrays over instead of copying
    // them, which briefly doubled a 300k-object plan (~18 MB more).
    if (n === this.cap) return { ...p, count: n };
    return {
      count: n,
      segmentNames: p.segmentNames,
      seg: p.seg.slice(0, n),
      offset: p.offset.slice(0, n),
      length: p.length.slice(0, n),
      size: p.size.slice(0, n),
      recordSize: p.recordSize.slice(0, n),
      kind: p.kind.slice(0, n),
      format: p.format.slice(0, n),
      base: p.base.slice(0, n),
      ids: p.ids.slice(0, n * 20),
    };
  }

  /** The bases still given as ids (`baseId`) as plan indexes (of the rows as they are now). */
  private resolvePending(): void {
    if (this.pend === 0) return;
    const n = this.n;
    const p = this.p;
    const want = this.pendIds;
    const first = this.firstOf;
    if (first !== null) {
      // The plan's ids are sorted: a binary search each among the ids of its prefix, no table.
      while (this.filled < ID_PREFIXES) first[++this.filled] = n;
      for (let k = 0; k < this.pend; k++) {
        const prefix = (want[k * 20] << 8) | want[k * 20 + 1];
        const at = findId(p.ids, first[prefix], first[prefix + 1], want, k * 20);
        if (at >= 0) p.base[this.pendRows[k]] = at;
      }
    } else {
      // Ids resolved in a hash table over the plan's own ids (cheaper than a join per row in SQL);
      // sized once and holding only indexes, so no copy of the ids and no regrowth.
      const table = idTable(p.ids, n);
      const mask = table.length - 1;
      const ids = p.ids;
      for (let k = 0; k < this.pend; k++) {
        const off = k * 20;
        let h = ((want[off] << 24) | (want[off + 1] << 16) | (want[off + 2] << 8) | want[off + 3]) & mask;
        for (;;) {
          const e = table[h];
          if (e === 0) break;
          if (compareIds(ids, (e - 1) * 20, want, off) === 0) {
            p.base[this.pendRows[k]] = e - 1;
            break;
          }
          h = (h + 1) & mask;
        }
      }
    }
    releaseNow(this.pendRows, this.pendIds);
    this.pendRows = new Uint32Array(0);
    this.pendIds = new Uint8Array(0);
    this.pend = 0;
  }

  /**
   * Puts the rows in storage order (segment key, then offset), each column
   * permuted in place (a copy beside it was up to 20 bytes a row more at the
   * plan's peak), bases (already plan indexes) renumbered.
   */
  private *sortRows(): Generator<void> {
    const n = this.n;
    const p = this.p;
    const [perm, spare] = this.storageOrder();
    for (let k = 1; k < n; k++) {
      const a = perm[k - 1];
      const b = perm[k];
      if (p.seg[a] === p.seg[b] && p.offset[a] === p.offset[b]) throw new Error('reach plan rows at one position');
    }
    renumberBases(p.base, perm, spare);
    releaseNow(spare);
    const done = new Uint8Array(n);
    for (const col of [p.seg, p.offset, p.length, p.size, p.recordSize, p.kind, p.format, p.base]) {
      yield;
      permuteInPlace(col, perm, done.fill(0));
    }
    yield;
    permuteIdsInPlace(p.ids, perm, done.fill(0));
    releaseNow(perm, done);
  }

  /**
   * The rows' indexes in storage order: a radix sort of (segment rank, offset)
   * as 32-bit digits, least significant first (a comparator sort of 300k rows
   * cost ~0.5 s of the plan); the offset's high digit only when one passes 4 GiB.
   * The digits are read from the plan's columns (no column of keys beside them);
   * with the order comes the sort's other buffer, free for the caller.
   */
  private storageOrder(): [Int32Array, Int32Array] {
    const n = this.n;
    const { seg, offset } = this.p;
    const keys = this.segKeyOf;
    const rank = new Uint32Array(keys.length);
    keys.map((k, s) => [k, s]).sort((a, b) => a[0] - b[0]).forEach(([, s], r) => (rank[s] = r));
    let high = false;
    for (let i = 0; i < n; i++) if (offset[i] > MAX_UINT32) high = true;
    const lo = (i: number) => offset[i] % 0x1_0000_0000;
    const segRank = (i: number) => rank[seg[i]];
    return radixSort(n, high ? [lo, (i) => Math.floor(offset[i] / 0x1_0000_0000), segRank] : [lo, segRank]);
  }

  /** Index of the row at (key, offset), or PLAN_BASE_OUTSIDE (e.g. a base excluded as a blob). */
  private find(key: number, offset: number): number {
    let lo = 0;
    let hi = this.n - 1;
    const keys = this.segKeyOf;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      const k = keys[this.p.seg[mid]];
      const o = this.p.offset[mid];
      if (k === key && o === offset) return mid;
      if (k < key || (k === key && o < offset)) lo = mid + 1;
      else hi = mid - 1;
    }
    return PLAN_BASE_OUTSIDE;
  }

  private grow(): void {
    const cap = this.cap * 2;
    const p = emptyPlan(cap);
    const o = this.p;
    p.segmentNames = o.segmentNames;
    p.seg.set(o.seg);
    p.offset.set(o.offset);
    p.length.set(o.length);
    p.size.set(o.size);
    p.recordSize.set(o.recordSize);
    p.kind.set(o.kind);
    p.format.set(o.format);
    p.base.set(o.base);
    p.ids.set(o.ids);
    if (this.baseKey !== null) {
      const key = new Float64Array(cap).fill(-1);
      key.set(this.baseKey);
      const off = new Float64Array(cap);
      off.set(this.baseOff!);
      this.baseKey = key;
      this.baseOff = off;
    }
    this.p = p;
    this.cap = cap;
  }
}

const MAX_UINT32 = 0xffff_ffff;

/** Bases that are row indexes, as the indexes the rows get once permuted (row perm[k] goes to k); `at`: scratch, perm.length long. */
function renumberBases(base: Int32Array, perm: Int32Array, at: Int32Array): void {
  for (let k = 0; k < perm.length; k++) at[perm[k]] = k;
  for (let i = 0; i < perm.length; i++) if (base[i] >= 0) base[i] = at[base[i]];
}
const MAX_INT32 = 0x7fff_ffff;

/** `a[k] := a[perm[k]]` for k < perm.length, in place: each cycle of perm walked once (`done`: zeros, perm.length of them). */
function permuteInPlace(a: Uint32Array | Float64Array | Uint8Array | Int32Array, perm: Int32Array, done: Uint8Array): void {
  for (let s = 0; s < perm.length; s++) {
    if (done[s] !== 0) continue;
    const first = a[s];
    let k = s;
    for (let j = perm[k]; j !== s; j = perm[k]) {
      a[k] = a[j];
      done[k] = 1;
      k = j;
    }
    a[k] = first;
    done[k] = 1;
  }
}

/** permuteInPlace of 20-byte ids, moved as five 32-bit words each (the arrays here start at offset 0). */
function permuteIdsInPlace(ids: Uint8Array, perm: Int32Array, done: Uint8Array): void {
  const w = new Uint32Array(ids.buffer, ids.byteOffset, perm.length * 5);
  const first = new Uint32Array(5);
  for (let s = 0; s < perm.length; s++) {
    if (done[s] !== 0) continue;
    for (let x = 0; x < 5; x++) first[x] = w[s * 5 + x];
    let k = s;
    for (let j = perm[k]; j !== s; j = perm[k]) {
      for (let x = 0; x < 5; x++) w[k * 5 + x] = w[j * 5 + x];
      done[k] = 1;
      k = j;
    }
    for (let x = 0; x < 5; x++) w[k * 5 + x] = first[x];
    done[k] = 1;
  }
}

/** A 32-bit digit of row i's sort key. */
export type Digit = (i: number) => number;

/**
 * Indexes 0..n-1 in ascending order of the key whose 32-bit digits are
 * `digits` (least significant first): a stable LSD radix sort, 16 bits a
 * pass, skipping passes where every row has the same digit.
 */
export function radixOrder(n: number, digits: readonly Digit[]): Int32Array {
  return radixSort(n, digits)[0];
}

/** radixOrder, and its other buffer (n entries, garbage). */
function radixSort(n: number, digits: readonly Digit[]): [Int32Array, Int32Array] {
  let order = new Int32Array(n);
  for (let i = 0; i < n; i++) order[i] = i;
  let next = new Int32Array(n);
  const count = new Uint32Array(65537);
  for (const d of digits) {
    for (const shift of [0, 16]) {
      count.fill(0);
      for (let i = 0; i < n; i++) count[((d(i) >>> shift) & 0xffff) + 1]++;
      if (n === 0 || count[((d(0) >>> shift) & 0xffff) + 1] === n) continue;
      for (let b = 1; b < 65537; b++) count[b] += count[b - 1];
      for (let k = 0; k < n; k++) {
        const i = order[k];
        next[count[(d(i) >>> shift) & 0xffff]++] = i;
      }
      [order, next] = [next, order];
    }
  }
  return [order, next];
}

/** Open addressing over the n ids packed in `ids`: slot = index + 1 (0: empty), at most three quarters full. */
function idTable(ids: Uint8Array, n: number): Int32Array {
  let size = 1024;
  while (size * 3 < n * 4) size *= 2;
  const table = new Int32Array(size);
  const mask = size - 1;
  for (let i = 0; i < n; i++) {
    const off = i * 20;
    let h = ((ids[off] << 24) | (ids[off + 1] << 16) | (ids[off + 2] << 8) | ids[off + 3]) & mask;
    for (;;) {
      const e = table[h];
      if (e === 0) {
        table[h] = i + 1;
        break;
      }
      // Duplicate ids keep the first row (the index has one row per id).
      if (compareIds(ids, (e - 1) * 20, ids, off) === 0) break;
      h = (h + 1) & mask;
    }
  }
  return table;
}

/** The 20-byte ids at a[ao] and b[bo] compared: negative, 0 or positive. */
function compareIds(a: Uint8Array, ao: number, b: Uint8Array, bo: number): number {
  for (let k = 0; k < 20; k++) if (a[ao + k] !== b[bo + k]) return a[ao + k] - b[bo + k];
  return 0;
}

/** Distinct values of an id's first two bytes (ReachPlanBuilder.firstOf). */
const ID_PREFIXES = 0x10000;

/** Index of the id at want[wo] among ids from..end-1 of `ids` (ascending), or -1. */
function findId(ids: Uint8Array, from: number, end: number, want: Uint8Array, wo: number): number {
  let lo = from;
  let hi = end - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1;
    const c = compareIds(ids, mid * 20, want, wo);
    if (c === 0) return mid;
    if (c < 0) lo = mid + 1;
    else hi = mid - 1;
  }
  return -1;
}

function emptyPlan(cap: number): ReachPlan {
  return {
    count: 0,
    segmentNames: [],
    seg: new Uint32Array(cap),
    offset: new Float64Array(cap),
    length: new Uint32Array(cap),
    size: new Uint32Array(cap),
    recordSize: new Int32Array(cap),
    kind: new Uint8Array(cap),
    format: new Uint8Array(cap),
    base: new Int32Array(cap),
    ids: new Uint8Array(cap * 20),
  };
}

/**
 * ReachIndex for an index that cannot enumerate its rows (the in-memory
 * store, tests): V is kept here as copies of the rows. Storage order is
 * segment name, then offset.
 */
export class MemoryReach implements ReachIndex {
  private version = 0;
  private tips: ObjectId[] = [];
  private readonly closure = new Map<ObjectId, IndexRow>();

  constructor(private readonly index: { get(id: ObjectId): Promise<IndexRow | null>; has(ids: ObjectId[]): Promise<boolean[]> }) {}

  async reachState(): Promise<ReachState> {
    return { version: this.version, tips: [...this.tips] };
  }

  async reachStatus(ids: ObjectId[]): Promise<Uint8Array> {
    const has = await this.index.has(ids);
    return Uint8Array.from(ids, (id, i) => (this.closure.has(id) ? REACH_IN : has[i] ? REACH_OUTSIDE : REACH_MISSING));
  }

  async reachRows(ids: ObjectId[]): Promise<ReachRows> {
    const status = await this.reachStatus(ids);
    const rows: (IndexRow | undefined)[] = [];
    for (let i = 0; i < ids.length; i++) {
      const row = status[i] === REACH_MISSING ? null : await this.index.get(ids[i]);
      rows.push(row !== null && row.kind !== 'blob' ? row : undefined);
    }
    return { status, rows };
  }

  async reachMark(expect: number, tips: ObjectId[], ids: MarkIds, reset: boolean): Promise<number | null> {
    if (expect !== this.version) return null;
    const rows: IndexRow[] = [];
    for (const id of ids) {
      const row = await this.index.get(id);
      if (row === null) throw new Error(`reachMark: ${id} is not indexed`);
      rows.push(row);
    }
    // Re-checked after the awaits: another mark may have won meanwhile.
    if (expect !== this.version) return null;
    if (reset) this.closure.clear();
    for (const row of rows) this.closure.set(row.id, row);
    this.tips = [...tips];
    return ++this.version;
  }

  /** RepoCommit.reach, for a store that calls it inside its commit (MemoryRepoStore.reach) with the stored rows. */
  commitMarks(r: ReachCommit, rows: readonly IndexRow[]): void {
    if (r.expect !== this.version) return;
    for (const row of rows) this.closure.set(row.id, row);
    this.tips = [...r.tips];
    this.version++;
  }

  async reachPlan(version: number, blobs: boolean): Promise<ReachPlan | null> {
    if (version !== this.version) return null;
    const rows = [...this.closure.values()].filter((r) => r.kind !== 'artifact' && (blobs || r.kind !== 'blob'));
    const names = [...new Set(rows.map((r) => r.segment))].sort();
    const key = new Map(names.map((n, i) => [n, i]));
    rows.sort((a, b) => key.get(a.segment)! - key.get(b.segment)! || a.offset - b.offset);
    const b = new ReachPlanBuilder(rows.length);
    for (const r of rows) {
      const base = r.base === null ? undefined : this.closure.get(r.base);
      b.add({
        id: r.id,
        kind: r.kind,
        size: r.size,
        segKey: key.get(r.segment)!,
        segment: r.segment,
        offset: r.offset,
        length: r.length,
        format: r.format,
        recordSize: r.recordSize ?? null,
        baseAt: base === undefined || !key.has(base.segment) ? null : { segKey: key.get(base.segment)!, offset: base.offset },
      });
    }
    return b.finish();
  }
}
