/**
 * The object index: per repository, where each object's record lies and how
 * to rebuild it (full text or a delta against a base, with the chain's depth).
 * Rows become visible together with ref updates in one transaction (the
 * quarantine commit): content is written to segments first, then
 * `commit({rows, refs})`; a push that fails leaves its segments unreferenced.
 */
import { ChainCycleError, ChainTooDeepError, InvalidRowError, MissingBaseError } from './errors.js';
import { checkObjectId, type ObjectId } from './ids.js';
import type { ReachCommit } from './reach.js';
import type { RefStatus, RefUpdate } from './refs.js';
import type { SegmentId } from './segments.js';

/** Deepest delta chain accepted (git's pack.depth default); reading an object costs at most this + 1 records. */
export const MAX_CHAIN_DEPTH = 50;

/** Git object kinds and Fossil's single artifact kind. */
export type ObjectKind = 'commit' | 'tree' | 'blob' | 'tag' | 'artifact';

/** How a record's inflated bytes are to be read. */
export type RecordFormat = 'full' | 'git-delta' | 'fossil-delta';

/** Every object kind, for validation. */
export const OBJECT_KINDS: readonly ObjectKind[] = ['commit', 'tree', 'blob', 'tag', 'artifact'];
/** Every record format, for validation. */
export const RECORD_FORMATS: readonly RecordFormat[] = ['full', 'git-delta', 'fossil-delta'];

/** A row as the writer gives it: depth is computed by the index. */
export interface IndexRowInput {
  id: ObjectId;
  kind: ObjectKind;
  /** Size of the object's full content (not of the record). */
  size: number;
  segment: SegmentId;
  /** Byte offset of the record (a zlib stream) in its segment. */
  offset: number;
  /** Byte length of the record. */
  length: number;
  format: RecordFormat;
  /** The delta base: null for 'full', required otherwise. */
  base: ObjectId | null;
  /**
   * Inflated size of the record when known at ingest (for a delta: the
   * delta's size, which a pack entry header states), so a fetch can copy the
   * record without inflating it to learn that. Absent: unknown.
   */
  recordSize?: number;
}

/** A stored row: its input plus the chain depth (0 for full records). */
export interface IndexRow extends IndexRowInput {
  depth: number;
}

/** Read side of the index. */
export interface ObjectIndexReader {
  /** For each id, whether it is indexed (same order as `ids`). */
  has(ids: ObjectId[]): Promise<boolean[]>;
  /** The row of `id`, or null. */
  get(id: ObjectId): Promise<IndexRow | null>;
}

/** Optional extra: the rows of many ids in one call (null where not indexed): one index round trip for a fetch's many wants. */
export interface ObjectRowsReader {
  rows(ids: ObjectId[]): Promise<(IndexRow | null)[]>;
}

/** Optional extra: each id's kind, or null where it is not indexed (has() with the kind, for push type checks). */
export interface ObjectKindReader {
  kinds(ids: ObjectId[]): Promise<(ObjectKind | null)[]>;
}

/**
 * Optional extra: a delta chain's rows in one call (one RPC instead of one
 * per link when the index sits in a Durable Object).
 */
export interface ObjectChainReader {
  /**
   * The row of `id`, then its base's, and so on down to a full record: at most
   * MAX_CHAIN_DEPTH + 2 rows (one extra so callers can see a chain that is too
   * deep). Ends early where a base is not indexed; empty when `id` is not.
   */
  chain(id: ObjectId): Promise<IndexRow[]>;
}

/**
 * Optional extra: up to `n` rows stored after `row` in its segment, in storage order (rows of the
 * remembered closure only, whose index orders them so). A walk reads ahead with it: git writes a
 * pack's commits newest first, so a commit's parents usually follow it.
 */
export interface ObjectRowsAfterReader {
  rowsAfter(row: IndexRow, n: number): Promise<IndexRow[]>;
}

/** Write side of the index without refs (e.g. repacking, fossil artifacts outside a push). */
export interface ObjectIndexWriter {
  /** Same as commit({ rows, refs: [] }); returns how many rows were new. */
  putBatch(rows: IndexRowInput[]): Promise<{ inserted: number }>;
}

/** A quarantine commit: index rows and ref compare-and-swaps together. */
export interface RepoCommit {
  rows: IndexRowInput[];
  /**
   * More rows: those of this stage (RowStager), with the depths a quarantine
   * planned for them (a push's hundreds of thousands of rows are never all in
   * memory). The store checks that every new row's depth is its base's + 1,
   * base present; otherwise the commit throws and changes nothing. The stage
   * itself is left for its owner to drop.
   */
  stage?: StageId;
  /**
   * With `stage`: the stored depth each staged delta whose base is outside
   * the stage was planned against, by base id (a quarantine plans the
   * stage's rows against each other and against these). When every staged
   * row goes in new, only these bases are checked, not every staged row's;
   * otherwise (a concurrent push stored some of them) the store checks all.
   */
  stageBases?: ReadonlyMap<ObjectId, number>;
  /**
   * With `stage`: its row numbers in id order, each once (a quarantine sorts
   * its ids in memory; without this the store reads every staged id back to
   * sort them). Rows go into the index in this order, as B-tree appends.
   */
  stageOrder?: Uint32Array;
  /**
   * More rows with planned depths, read once in order (a quarantine's rows
   * not staged: all of a small push's). Checked like staged rows.
   */
  planned?: Iterable<IndexRow>;
  refs: RefUpdate[];
  /** Mark the rows into the reachability closure (stores with one; see shared/storage/reach.ts). */
  reach?: ReachCommit;
  /** All refs or none (default true); see RepoCommitter.commit. */
  atomic?: boolean;
}

/** Names a stage of one store (RowStager.openStage). */
export type StageId = number;

/**
 * Rows of one push held in the store, invisible to every reader, until a
 * commit takes them (RepoCommit.stage) or they are dropped. Row numbers run
 * 0, 1, 2, ... in append order.
 */
export interface RowStage {
  readonly id: StageId;
  /**
   * Appends rows with their planned depths. Throws InvalidRowError (appending
   * nothing) on a malformed row, ChainTooDeepError on a depth over
   * MAX_CHAIN_DEPTH; whether depths agree with bases is checked at commit.
   */
  append(rows: readonly IndexRow[]): Promise<void>;
  /** The row appended as number `n`. */
  row(n: number): Promise<IndexRow>;
  /** Forgets the stage's rows (again: a no-op). */
  drop(): Promise<void>;
}

/** Optional extra of a RepoCommitter: stages, so a push's rows wait in the store rather than in memory. */
export interface RowStager {
  /** A new, empty stage. A stage left behind (the instance died mid-push) is swept by the store. */
  openStage(): Promise<RowStage>;
}

/** Checks a planned row: its shape, and a depth in 0..MAX_CHAIN_DEPTH (0 exactly for full records). */
export function checkPlannedRow(row: IndexRow): void {
  checkRow(row);
  const d = row.depth;
  if (!Number.isInteger(d) || d < 0 || (row.base === null) !== (d === 0)) {
    throw new InvalidRowError('invalid-row', `row ${row.id}: depth ${d} does not fit its format`, { id: row.id, why: 'bad depth' });
  }
  if (d > MAX_CHAIN_DEPTH) {
    throw new ChainTooDeepError('chain-too-deep', `delta chain of ${row.id} is ${d} deep (max ${MAX_CHAIN_DEPTH})`, { id: row.id, base: row.base, depth: d, max: MAX_CHAIN_DEPTH });
  }
}

/** Result of a commit: the ref statuses, and how many rows were new (0 when rolled back). */
export interface CommitResult {
  ok: boolean;
  refs: RefStatus[];
  inserted: number;
}

/** Makes a push visible: rows and ref updates in one transaction. */
export interface RepoCommitter {
  /**
   * Validates every row (a bad one throws and changes nothing), then applies
   * the ref updates. The rows are kept when every ref applies, or, when not
   * atomic, at least one does, or there are no ref updates; otherwise the
   * whole commit rolls back and the result says which refs failed and why.
   * Rows whose id is already indexed are skipped (objects are immutable).
   */
  commit(c: RepoCommit): Promise<CommitResult>;
}

/** The whole index. */
export type ObjectIndex = ObjectIndexReader & ObjectIndexWriter & ObjectChainReader;

/** Most rows ObjectChainReader.chain returns. */
export const MAX_CHAIN_ROWS = MAX_CHAIN_DEPTH + 2;

/**
 * Checks one row's shape (ids, kind, format/base agreement, integer bounds).
 * `idsChecked`: the caller has checked the id and base already (as it decoded
 * them, bytes.ts writeSha1Hex), so their regex tests are skipped.
 */
export function checkRow(row: IndexRowInput, idsChecked = false): void {
  // No closure or array per call: a push checks every row (the bundle names each closure made, a
  // property definition per call, which cost more than the checks).
  if (!idsChecked) checkObjectId(row.id);
  const why = rowProblem(row);
  if (why !== null) throw new InvalidRowError('invalid-row', `row ${row.id}: ${why}`, { id: row.id, why });
  if (row.base !== null) {
    if (!idsChecked) checkObjectId(row.base);
    if (row.base === row.id) throw new ChainCycleError('chain-cycle', `row ${row.id} is its own base`, { id: row.id });
  }
}

/** What is wrong with a row's fields other than its ids, or null. */
function rowProblem(row: IndexRowInput): string | null {
  if (!OBJECT_KINDS.includes(row.kind)) return `unknown kind ${String(row.kind)}`;
  if (!RECORD_FORMATS.includes(row.format)) return `unknown format ${String(row.format)}`;
  if (!isCount(row.size)) return 'size is not a non-negative integer';
  if (!isCount(row.offset)) return 'offset is not a non-negative integer';
  if (!isCount(row.length)) return 'length is not a non-negative integer';
  if (row.recordSize !== undefined && !isCount(row.recordSize)) return 'recordSize is not a non-negative integer';
  if (typeof row.segment !== 'string' || row.segment.length === 0) return 'no segment';
  if (row.format === 'full') return row.base !== null ? 'a full record has no base' : null;
  return row.base === null ? 'a delta record needs a base' : null;
}

function isCount(n: unknown): boolean {
  return Number.isSafeInteger(n) && (n as number) >= 0;
}

/**
 * Validates a batch and computes each new row's depth. Bases may be indexed
 * already (`existingDepth`) or anywhere in the batch. Throws MissingBaseError,
 * ChainCycleError or ChainTooDeepError; the caller writes nothing then.
 * Rows already indexed, and repeats of an id within the batch, are dropped.
 */
export function planRows(rows: readonly IndexRowInput[], existingDepth: (id: ObjectId) => number | null): IndexRow[] {
  return [...planDepths(rows, existingDepth)].map(([row, depth]) => ({ ...row, depth }));
}

/**
 * planRows without copying the rows: each new row (the input object itself)
 * and its depth, in batch order. A push commits hundreds of thousands of
 * rows; copies of them all would double the commit's memory. `checked`: the
 * caller has run checkRow on every row already.
 */
export function planDepths(rows: readonly IndexRowInput[], existingDepth: (id: ObjectId) => number | null, checked = false): Map<IndexRowInput, number> {
  const fresh = new Map<ObjectId, IndexRowInput>();
  for (const row of rows) {
    if (!checked) checkRow(row);
    if (!fresh.has(row.id) && existingDepth(row.id) === null) fresh.set(row.id, row);
  }
  const depth = new Map<ObjectId, number>();
  const resolve = (start: IndexRowInput): number => {
    // The common cases without a walk: a full text, or a delta whose base's depth is known (a pack
    // gives bases before their deltas). A path and a set per row were most of a push's planning.
    const known = depth.get(start.id);
    if (known !== undefined) return known;
    if (start.base === null) {
      depth.set(start.id, 0);
      return 0;
    }
    const baseKnown = depth.get(start.base) ?? (fresh.has(start.base) ? undefined : existingDepth(start.base));
    if (baseKnown !== undefined && baseKnown !== null && baseKnown < MAX_CHAIN_DEPTH) {
      depth.set(start.id, baseKnown + 1);
      return baseKnown + 1;
    }
    // Walk down to a known depth, then assign depths on the way back. Depths are
    // memoised, so planning the whole batch is linear in its size.
    const path: IndexRowInput[] = [];
    const onPath = new Set<ObjectId>();
    let row: IndexRowInput | undefined = start;
    let baseDepth = -1;
    while (row) {
      const known = depth.get(row.id);
      if (known !== undefined) {
        baseDepth = known;
        break;
      }
      if (onPath.has(row.id)) throw new ChainCycleError('chain-cycle', `delta chain through ${row.id} loops`, { id: row.id });
      onPath.add(row.id);
      path.push(row);
      if (row.base === null) break;
      const inBatch = fresh.get(row.base);
      if (inBatch) {
        row = inBatch;
        continue;
      }
      const existing = existingDepth(row.base);
      if (existing === null) {
        throw new MissingBaseError('delta-base-missing', `delta base ${row.base} of ${row.id} is not indexed`, { id: row.id, base: row.base });
      }
      baseDepth = existing;
      break;
    }
    for (let i = path.length - 1; i >= 0; i--) {
      const r = path[i];
      const d = r.base === null ? 0 : baseDepth + 1;
      if (d > MAX_CHAIN_DEPTH) {
        throw new ChainTooDeepError('chain-too-deep', `delta chain of ${r.id} would be ${d} deep (max ${MAX_CHAIN_DEPTH}); store a full text`, {
          id: r.id,
          base: r.base,
          depth: d,
          max: MAX_CHAIN_DEPTH,
        });
      }
      depth.set(r.id, d);
      baseDepth = d;
    }
    return depth.get(start.id)!;
  };
  const out = new Map<IndexRowInput, number>();
  for (const row of fresh.values()) out.set(row, resolve(row));
  return out;
}
