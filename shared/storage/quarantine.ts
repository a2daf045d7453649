/**
 * Quarantine: a push's index rows held aside, over the committed index. The
 * pack ingest and the connectivity check read overlay-over-base through it;
 * when they pass, its stage goes to RepoCommitter.commit with the ref
 * updates. Nothing here is visible to other requests; dropping it leaves only
 * unreferenced segments behind, for garbage collection.
 *
 * The rows themselves wait in the store's stage (RowStager: a table in the
 * Durable Object's SQLite), written a batch at a time: in memory they cost
 * ~60 bytes a row in typed-array columns, and the commit as much again, which
 * a 300k-object push cannot afford in a 128 MB isolate. What stays here is
 * what the ingest asks per object: whether an id is pending and its depth.
 * The ids themselves are in an IdSet the caller may share (receive-pack hands
 * the pack's own set, which holds every pending id already: a second copy of
 * 300k ids cost ~34 bytes a row), so a row costs 5 bytes here: its row number
 * and depth by set index. Ids are SHA-1 (40
 * hex digits), the only object format receive-pack accepts.
 */
import { fromHex, releaseNow, writeHex } from '../core/bytes.js';
import { grownColumn } from '../core/columns.js';
import { InvalidRowError } from './errors.js';
import { IdSet } from './id-set.js';
import type { ObjectId } from './ids.js';
import { checkRow, MAX_CHAIN_DEPTH, planDepths, type IndexRow, type IndexRowInput, type ObjectIndexReader, type RowStage, type RowStager, type StageId } from './object-index.js';

/**
 * Rows appended to the stage at once, and rows held before a stage is opened
 * at all (~300 bytes each meanwhile). Each append is a storage write, and in
 * a Durable Object the next outgoing call (an R2 part) waits until writes
 * are durable. Not more: rows held here outlive V8's young generation, and
 * what is promoted to its old space grows it until a full GC (8192 rows
 * held so were an eighth of what a 300k-object push promoted); what
 * survives its scavenges grows the young generation itself (1000 rows here
 * and 1000 in receive-pack took a million-object push's to 2 x 32 MiB).
 */
const STAGE_BATCH = 250;

/**
 * A push of at most this many objects (its pack header's count) keeps all its
 * rows here and never opens a stage: staging writes each row twice, ~10% of a
 * 4,000-object push's time, and so few rows promote little.
 */
const UNSTAGED_PUSH = 8192;

/** Pending rows of one push over the committed index (create one per push; drop it when done). */
export class QuarantineIndex implements ObjectIndexReader {
  /** Row number + 1 of each pending id, by `ids` index (0: in the set but not pending here). */
  private rowOfSlot = new Int32Array(1024);
  /** Depth of each pending row, by `ids` index. */
  private depths = new Uint8Array(1024);
  /** Rows pending. */
  private rows = 0;
  /** The pending ids (and, when shared, others: rowOfSlot says which are pending). */
  private readonly ids: IdSet;
  /** Whether `ids` is the caller's (then only read: every row's id must be in it already). */
  private readonly shared: boolean;
  private stage: RowStage | null = null;
  /** Planned rows not yet appended to the stage (row numbers from `this.ids.size - unstaged.length`). */
  private unstaged: IndexRow[] = [];
  private dropped = false;
  /**
   * Stored depths the pending deltas on committed bases were planned against
   * (RepoCommit.stageBases): few but for thin packs; dropped past
   * `maxOutsideBases` (~100 bytes each), and the store then checks every staged row.
   */
  private outsideBases: Map<ObjectId, number> | undefined = new Map();

  constructor(
    private readonly base: ObjectIndexReader,
    private readonly stager: RowStager,
    private readonly maxOutsideBases = 65536,
    ids?: IdSet,
  ) {
    this.ids = ids ?? new IdSet();
    this.shared = ids !== undefined;
  }

  /**
   * Validates rows and computes their depths against pending and committed
   * rows, as the commit will, then stages them. Throws (adding nothing) on a
   * bad row, a missing base, a cycle, or a chain over MAX_CHAIN_DEPTH, so the
   * ingest can store a full text instead. Rows already committed or pending
   * are skipped.
   */
  async add(rows: IndexRowInput[]): Promise<IndexRow[]> {
    if (this.dropped) throw new Error('quarantine already dropped');
    // Each row checked once, first: the lookups below then read its ids as hex without a check (and
    // without a Uint8Array per lookup: fromHex for each id and base was a tenth of a push's planning).
    for (const r of rows) {
      if (r.id.length !== 40) throw new InvalidRowError('invalid-row', `row ${r.id}: not a SHA-1 id`, { id: r.id, why: 'not a SHA-1 id' });
      checkRow(r);
    }
    let fast = null;
    if (this.shared) {
      // The batch table is taken while planning (an add() meanwhile makes its own) and given back.
      const table = this.batch !== null && this.batch.capacity >= rows.length ? (this.batch.clear(), this.batch) : new SlotTable(rows.length);
      this.batch = null;
      fast = await this.planShared(rows, table);
      this.batch = table;
    }
    if (fast !== null) return this.keep(fast.rows, fast.depths, fast.baseDepths, fast.slots);
    const scratch = this.scratch;
    const pendingIndex = (id: ObjectId): number => {
      if (id.length !== 40) return -1;
      writeHex(id, scratch, 0);
      return this.slotAt(scratch, 0);
    };
    const inBatch = new Set<ObjectId>();
    const ids: ObjectId[] = [];
    for (const r of rows) {
      if (inBatch.has(r.id)) continue;
      inBatch.add(r.id);
      if (pendingIndex(r.id) < 0) ids.push(r.id);
    }
    const present = ids.length > 0 ? await this.base.has(ids) : [];
    const committed = new Set<ObjectId>();
    for (let i = 0; i < ids.length; i++) if (present[i]) committed.add(ids[i]);
    // Depths of bases outside the batch, and of batch rows that are already
    // committed (planDepths skips those, so their committed depth counts).
    const baseDepths = new Map<ObjectId, number>();
    for (const r of rows) {
      const b = r.base;
      if (b === null || baseDepths.has(b) || (inBatch.has(b) && !committed.has(b)) || pendingIndex(b) >= 0) continue;
      const row = await this.base.get(b);
      if (row !== null) baseDepths.set(b, row.depth);
    }
    const planned = planDepths(
      rows,
      (id) => {
        const k = pendingIndex(id);
        const known = k >= 0 ? this.depths[k] : baseDepths.get(id);
        if (known !== undefined) return known;
        return committed.has(id) ? 0 : null; // only presence matters here: planDepths skips the row
      },
      true,
    );
    return this.keep([...planned.keys()], [...planned.values()], baseDepths);
  }

  /**
   * add()'s plan when the ids are the caller's set (a push: every row's id is
   * in it already) and the batch is in the usual shape: no repeats of a
   * pending id's base missing, bases before their deltas. Each id is looked
   * up once, by its slot in the set (no string Sets and Maps per batch: they
   * were most of a small push's planning). Null when the batch is not in
   * that shape (a row's base later in the batch, an unknown base, a chain
   * too deep): add() then plans it the general way, which says what is wrong.
   */
  private async planShared(rows: IndexRowInput[], batchRow: SlotTable): Promise<{ rows: IndexRowInput[]; depths: number[]; baseDepths: Map<ObjectId, number>; slots: number[] } | null> {
    const scratch = this.scratch;
    const n = rows.length;
    const slots = new Int32Array(n);
    const ask: ObjectId[] = [];
    const asked: number[] = [];
    for (let i = 0; i < n; i++) {
      writeHex(rows[i].id, scratch, 0); // checked by checkRow
      const k = this.ids.indexOfAt(scratch, 0);
      if (k < 0) throw new Error(`quarantine: row ${rows[i].id} is not in the shared id set`);
      slots[i] = k;
      if (batchRow.get(k) >= 0 || (k < this.rowOfSlot.length && this.rowOfSlot[k] !== 0)) {
        slots[i] = -1; // a repeat in the batch, or pending already: skipped
        continue;
      }
      batchRow.set(k, i);
      ask.push(rows[i].id);
      asked.push(i);
    }
    const present = ask.length > 0 ? await this.base.has(ask) : [];
    for (let j = 0; j < asked.length; j++) if (present[j]) slots[asked[j]] = -1; // committed: skipped
    const keep: IndexRowInput[] = [];
    const depths: number[] = [];
    const kept: number[] = [];
    const baseDepths = new Map<ObjectId, number>();
    // Depths of this batch's rows by batch index, once planned (-1 before; a row skipped is never planned).
    const planned = new Int32Array(n).fill(-1);
    for (let i = 0; i < n; i++) {
      const k = slots[i];
      if (k < 0) continue;
      const row = rows[i];
      let depth = 0;
      if (row.base !== null) {
        if (row.base.length !== 40) return null;
        writeHex(row.base, scratch, 0);
        const b = this.ids.indexOfAt(scratch, 0);
        let bd: number | undefined;
        if (b >= 0 && b < this.rowOfSlot.length && this.rowOfSlot[b] !== 0) bd = this.depths[b];
        else if (b >= 0 && batchRow.get(b) >= 0) {
          const j = batchRow.get(b);
          if (planned[j] >= 0) bd = planned[j];
          else if (slots[j] >= 0) return null; // its base comes later in the batch
        }
        if (bd === undefined) {
          // Outside the push (or a pack object already committed): its stored depth.
          bd = baseDepths.get(row.base);
          if (bd === undefined) {
            const stored = await this.base.get(row.base);
            if (stored === null) return null;
            bd = stored.depth;
            baseDepths.set(row.base, bd);
          }
        }
        depth = bd + 1;
        if (depth > MAX_CHAIN_DEPTH) return null;
      }
      planned[i] = depth;
      keep.push(row);
      depths.push(depth);
      kept.push(k);
    }
    return { rows: keep, depths, baseDepths, slots: kept };
  }

  /**
   * planShared's table of a batch's rows by slot (their index in the batch), reused batch after batch:
   * a column by slot cost 4-8 bytes an id of the push, and a Map per batch, grown and dropped every
   * thousand rows, was most of what planning left to V8's old space.
   */
  private batch: SlotTable | null = null;

  /** A batch's new rows with their planned depths, into the pending set (and the stage, in batches). */
  private async keep(rows: IndexRowInput[], planned: number[], baseDepths: Map<ObjectId, number>, slots?: number[]): Promise<IndexRow[]> {
    const scratch = this.scratch;
    const out: IndexRow[] = [];
    for (let i = 0; i < rows.length; i++) {
      const row = rows[i];
      // Spelled out, not spread: a spread copy was the costliest allocation of a push's planning.
      const kept: IndexRow = { id: row.id, kind: row.kind, size: row.size, segment: row.segment, offset: row.offset, length: row.length, format: row.format, base: row.base, depth: planned[i] };
      if (row.recordSize !== undefined) kept.recordSize = row.recordSize;
      out.push(kept);
      // Asked only when there are any: a Map lookup by a hex id left a copy of the string in V8's old space (a push asks 1000 a batch).
      const bd = row.base === null || baseDepths.size === 0 ? undefined : baseDepths.get(row.base);
      if (bd === undefined || this.outsideBases === undefined) continue;
      this.outsideBases.set(row.base!, bd);
      if (this.outsideBases.size > this.maxOutsideBases) this.outsideBases = undefined;
    }
    for (let i = 0; i < out.length; i++) {
      const row = out[i];
      let k = slots ? slots[i] : (writeHex(row.id, scratch, 0), this.ids.indexOfAt(scratch, 0));
      if (k < 0) {
        if (this.shared) throw new Error(`quarantine: row ${row.id} is not in the shared id set`);
        this.ids.addAt(scratch, 0);
        k = this.ids.size - 1;
      }
      if (k >= this.rowOfSlot.length) {
        // Past the expected count (a shared set's indexes run past the pack's when it also holds ids the
        // pack refers to outside itself) by doubling: growing to k + 1 copied the column once per row.
        this.rowOfSlot = grownColumn(this.rowOfSlot, k, this.expected);
        this.depths = grownColumn(this.depths, k, this.expected);
      }
      this.rowOfSlot[k] = ++this.rows;
      this.depths[k] = row.depth;
      this.unstaged.push(row);
    }
    if (this.unstaged.length >= (this.expected <= UNSTAGED_PUSH ? UNSTAGED_PUSH : STAGE_BATCH)) await this.flush();
    return out;
  }

  /** One id's bytes at a time, for lookups of checked hex ids. */
  private readonly scratch = new Uint8Array(20);

  /** Appends the unstaged rows to the stage (opened on first use). */
  private async flush(): Promise<void> {
    if (this.unstaged.length === 0) return;
    this.stage ??= await this.stager.openStage();
    await this.stage.append(this.unstaged);
    this.unstaged = [];
  }

  async has(ids: ObjectId[]): Promise<boolean[]> {
    const rest = ids.filter((id) => this.rowOf(id) < 0);
    const answer = rest.length > 0 ? await this.base.has(rest) : [];
    const inBase = new Set(rest.filter((_, i) => answer[i]));
    return ids.map((id) => inBase.has(id) || this.rowOf(id) >= 0);
  }

  async get(id: ObjectId): Promise<IndexRow | null> {
    const k = this.rowOf(id);
    if (k < 0) return this.base.get(id);
    const u = k - (this.rows - this.unstaged.length);
    return u >= 0 ? { ...this.unstaged[u] } : this.stage!.row(k);
  }

  /** Whether `id` is pending here (not asking the committed index). */
  pending(id: ObjectId): boolean {
    return this.rowOf(id) >= 0;
  }

  /** Whether the binary id at `src[off..off+20)` is pending here. */
  pendingAt(src: Uint8Array, off: number): boolean {
    return this.slotAt(src, off) >= 0;
  }

  /** The pending depth of `id`, or undefined when it is not pending. */
  depthOf(id: ObjectId): number | undefined {
    return id.length === 40 ? this.depthOfAt(fromHex(id), 0) : undefined;
  }

  /** The pending depth of the binary id at `src[off..off+20)`, or undefined when it is not pending. */
  depthOfAt(src: Uint8Array, off: number): number | undefined {
    const k = this.slotAt(src, off);
    return k >= 0 ? this.depths[k] : undefined;
  }

  /** The `ids` index of the binary id at `src[off..off+20)` when it is pending here, else -1. */
  private slotAt(src: Uint8Array, off: number): number {
    const k = this.ids.indexOfAt(src, off);
    return k >= 0 && k < this.rowOfSlot.length && this.rowOfSlot[k] !== 0 ? k : -1;
  }

  /**
   * The pending rows for RepoCommit: those in the stage, and the rest. A
   * small push never writes a stage: its rows go to the commit directly
   * (staging them cost a push of 4076 objects ~40% more workerd CPU).
   */
  pendingRows(): { stage?: StageId; stageBases?: ReadonlyMap<ObjectId, number>; stageOrder?: Uint32Array; planned: IndexRow[] } {
    // In id order, so the index inserts are B-tree appends (in pack order each touched a random page),
    // sorted on the binary ids by idOrder (a comparison of hex strings per step cost more).
    const first = this.rows - this.unstaged.length;
    const slotOfRow = this.slotsOfRows();
    const order = idOrder(this.ids.bytes, this.unstaged.length, slotOfRow.subarray(first, this.rows));
    const planned = Array.from(order, (i) => this.unstaged[i]);
    releaseNow(order);
    if (this.stage === null) return releaseNow(slotOfRow), { stage: undefined, planned };
    // The staged rows were planned against each other and these: the store need not look up every staged delta's base.
    // Their order is sorted here from the ids in memory (the store read 300k ids back to sort them).
    const stageOrder = idOrder(this.ids.bytes, this.rows - this.unstaged.length, slotOfRow);
    releaseNow(slotOfRow);
    return { stage: this.stage.id, stageBases: this.outsideBases, stageOrder, planned };
  }

  /**
   * The `ids` index of each pending row, by row number (= its row number in the stage): made once,
   * at the commit, from rowOfSlot, not kept as the rows come (4 bytes a row through the whole ingest).
   */
  private slotsOfRows(): Uint32Array {
    const out = new Uint32Array(this.rows);
    const rowOfSlot = this.rowOfSlot;
    for (let k = 0; k < rowOfSlot.length; k++) if (rowOfSlot[k] !== 0) out[rowOfSlot[k] - 1] = k;
    return out;
  }

  /** Forgets the pending rows (after the commit, or instead of it); later adds throw. */
  async drop(): Promise<void> {
    this.dropped = true;
    this.unstaged = [];
    const s = this.stage;
    this.stage = null;
    await s?.drop();
  }

  /** How many rows are pending. */
  get size(): number {
    return this.rows;
  }

  /** Tells the quarantine it will hold about `n` rows (a pack's object count): its columns are then reserved at n (grownColumn). */
  expect(n: number): void {
    this.expected = n;
    if (!this.shared) this.ids.expect(n);
  }

  private expected = Number.POSITIVE_INFINITY;

  /** The row number of a pending id, or -1. */
  private rowOf(id: ObjectId): number {
    if (id.length !== 40) return -1;
    const k = this.ids.indexOfAt(fromHex(id), 0);
    return k >= 0 && k < this.rowOfSlot.length ? this.rowOfSlot[k] - 1 : -1;
  }
}

/** Non-negative int keys to non-negative int values (-1: none) for up to `capacity` keys: open addressing in typed arrays, reused. */
class SlotTable {
  private readonly keys: Int32Array;
  private readonly values: Int32Array;
  private readonly mask: number;

  constructor(readonly capacity: number) {
    let size = 16;
    while (size < capacity * 2) size *= 2;
    this.keys = new Int32Array(size).fill(-1);
    this.values = new Int32Array(size);
    this.mask = size - 1;
  }

  clear(): void {
    this.keys.fill(-1);
  }

  private find(k: number): number {
    let i = Math.imul(k, 0x9e3779b1) & this.mask;
    while (this.keys[i] !== -1 && this.keys[i] !== k) i = (i + 1) & this.mask;
    return i;
  }

  get(k: number): number {
    const i = this.find(k);
    return this.keys[i] === k ? this.values[i] : -1;
  }

  set(k: number, v: number): void {
    const i = this.find(k);
    this.keys[i] = k;
    this.values[i] = v;
  }
}

/**
 * The numbers 0..n-1 of the first n binary ids in `ids` (20 bytes each; id i
 * at `at[i] * 20` when `at` is given), in the order of their leading bits
 * (ties, rare, only cost the inserts' locality): a native sort of keys that
 * carry their number in the low bits.
 */
export function idOrder(ids: Uint8Array, n: number, at?: Uint32Array): Uint32Array {
  const low = Math.max(1, Math.ceil(Math.log2(n + 1)));
  const scale = 2 ** low;
  // 48 leading bits, cut so that key * scale + number stays an exact double.
  const cut = 2 ** Math.max(0, 48 - (53 - low));
  const keys = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const o = at ? at[i] * 20 : i * 20;
    const lead = ids[o] * 2 ** 40 + ids[o + 1] * 2 ** 32 + ids[o + 2] * 2 ** 24 + ids[o + 3] * 2 ** 16 + ids[o + 4] * 2 ** 8 + ids[o + 5];
    keys[i] = Math.floor(lead / cut) * scale + i;
  }
  keys.sort();
  const order = new Uint32Array(n);
  for (let i = 0; i < n; i++) order[i] = keys[i] % scale;
  releaseNow(keys); // 8 bytes a row, at the commit: freed now, not at the next full GC
  return order;
}
