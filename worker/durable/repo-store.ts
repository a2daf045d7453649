/**
 * A repository's refs and object index in Durable Object SQLite. Synchronous
 * (the DO's SQL API is), so every decision and its writes run inside one
 * `transactionSync` with no await in between: a compare-and-swap can never
 * interleave with another request, and a failure rolls everything back.
 * The RepoObject's RPC methods are thin wrappers over this class.
 */
import { releaseNow, writeHex, writeSha1Hex } from '../../shared/core/bytes.js';
import { checkObjectId, type ObjectId } from '../../shared/storage/ids.js';
import { compareNames } from '../../shared/protocols/git/capabilities.js';
import { ChainTooDeepError, MissingBaseError } from '../../shared/storage/errors.js';
import { IdSet, PackedIds } from '../../shared/storage/id-set.js';
import {
  checkPlannedRow,
  checkRow,
  MAX_CHAIN_DEPTH,
  MAX_CHAIN_ROWS,
  planDepths,
  type CommitResult,
  type IndexRow,
  type IndexRowInput,
  type ObjectKind,
  type RecordFormat,
  type RepoCommit,
  type StageId,
} from '../../shared/storage/object-index.js';
import {
  checkSetSymbolic,
  planRefUpdates,
  type Ref,
  type RefSnapshot,
  type RefUpdate,
  type RefUpdateOptions,
  type RefUpdateResult,
  type SymbolicRef,
} from '../../shared/storage/refs.js';
import { decodeReachPlan, markIdsSlice, reachPlanParts, reachPlanWithoutBlobs, REACH_IN, REACH_OUTSIDE, ReachPlanBuilder, type MarkIds, type ReachPlan, type ReachRows, type ReachState } from '../../shared/storage/reach.js';

/** The part of DurableObjectStorage this store needs (so tests can hand in any SQLite-backed storage). */
export interface SqlHost {
  sql: SqlStorage;
  transactionSync<T>(closure: () => T): T;
}

/**
 * Schema migrations, applied in order; the index + 1 of the last applied one
 * is the stored version. Append only: never edit a shipped migration.
 * Segment names are interned (objects.segment is an integer) because each
 * segment holds many objects and its name is a 46-character string.
 */
export const MIGRATIONS: readonly (readonly string[])[] = [
  [
    `CREATE TABLE refs (name TEXT PRIMARY KEY, id TEXT NOT NULL) WITHOUT ROWID`,
    `CREATE TABLE symrefs (name TEXT PRIMARY KEY, target TEXT NOT NULL) WITHOUT ROWID`,
    `CREATE TABLE segments (seq INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE)`,
    `CREATE TABLE objects (
       id TEXT PRIMARY KEY,
       kind TEXT NOT NULL,
       size INTEGER NOT NULL,
       segment INTEGER NOT NULL REFERENCES segments(seq),
       rec_offset INTEGER NOT NULL,
       rec_length INTEGER NOT NULL,
       format TEXT NOT NULL,
       base TEXT,
       depth INTEGER NOT NULL
     ) WITHOUT ROWID`,
    `CREATE INDEX objects_by_segment ON objects(segment)`,
  ],
  // The record's inflated size (a delta's own size), known at ingest: fetches copy records without inflating them.
  [`ALTER TABLE objects ADD COLUMN rec_size INTEGER`],
  // The remembered reachability closure (shared/storage/reach.ts): objects.reach = 1 marks V, reach_state holds S.
  // Existing repositories start with an empty closure; the first full clone fills it.
  [
    `ALTER TABLE objects ADD COLUMN reach INTEGER`,
    `CREATE INDEX objects_reach ON objects(segment, rec_offset) WHERE reach = 1`,
    `CREATE TABLE reach_state (version INTEGER NOT NULL, tips TEXT NOT NULL)`,
    `INSERT INTO reach_state (version, tips) VALUES (0, '[]')`,
  ],
  // Rows of pushes in progress (RowStager), by stage and row number: appended in pack order, so the
  // B-tree only grows at its end (keyed by id, each insert touched a random page).
  [
    `CREATE TABLE push_stage (
       push INTEGER NOT NULL,
       seq INTEGER NOT NULL,
       id TEXT NOT NULL,
       kind TEXT NOT NULL,
       size INTEGER NOT NULL,
       segment INTEGER NOT NULL,
       rec_offset INTEGER NOT NULL,
       rec_length INTEGER NOT NULL,
       format TEXT NOT NULL,
       base TEXT,
       depth INTEGER NOT NULL,
       rec_size INTEGER,
       PRIMARY KEY (push, seq)
     ) WITHOUT ROWID`,
  ],
  // Segment garbage collection (segment-gc.ts): segments seen unreferenced since when, and the repository id and last pass for the alarm.
  [
    `CREATE TABLE dead_segments (segment TEXT PRIMARY KEY, since INTEGER NOT NULL) WITHOUT ROWID`,
    `CREATE TABLE segment_gc (repo TEXT NOT NULL, last INTEGER NOT NULL)`,
  ],
  // Reach plans kept between requests and DO restarts (reachPlan): the plan of V at `version`, with or
  // without blobs, as reachPlanParts' parts in order. Rebuilding one from objects cost ~1 s per 300k rows.
  [
    `CREATE TABLE reach_plans (
       blobs INTEGER NOT NULL,
       part INTEGER NOT NULL,
       version INTEGER NOT NULL,
       count INTEGER NOT NULL,
       segments TEXT NOT NULL,
       data BLOB NOT NULL,
       PRIMARY KEY (blobs, part)
     )`,
  ],
  // Where V ended when a kept plan was made (its row count and last position): a later V that only
  // added rows after it extends the plan (reachPlan) instead of reading every row again.
  [
    `ALTER TABLE reach_plans ADD COLUMN marked INTEGER`,
    `ALTER TABLE reach_plans ADD COLUMN last_seg INTEGER`,
    `ALTER TABLE reach_plans ADD COLUMN last_off INTEGER`,
  ],
  // The audit log's outbox (push-outbox.ts): events written with the push's own commit, deleted once
  // D1's push_events has them. AUTOINCREMENT: a seq is never used again (D1 keys events on it).
  [
    `CREATE TABLE push_outbox (
       seq INTEGER PRIMARY KEY AUTOINCREMENT,
       repo_id TEXT NOT NULL,
       actor TEXT,
       kind TEXT NOT NULL,
       ref TEXT,
       old_id TEXT,
       new_id TEXT,
       artifacts INTEGER,
       checkins TEXT,
       at INTEGER NOT NULL
     )`,
  ],
  // A fossil round's event is written in its first commit's transaction, open (not sent) until the
  // round ends and fills in its check-ins; one left open by an instance that died is closed as it is.
  [`ALTER TABLE push_outbox ADD COLUMN open INTEGER NOT NULL DEFAULT 0`],
];

/**
 * `refs` (in code point order, as SQLite's BINARY sorts them) with `writes` applied in order (a
 * name's last write wins; a null id deletes it): one merge, not a search and splice per write (a
 * mirror push writes thousands).
 */
export function withRefWrites(refs: readonly Ref[], writes: readonly RefUpdate[]): Ref[] {
  const last = new Map<string, ObjectId | null>();
  for (const w of writes) last.set(w.name, w.new);
  const names = [...last.keys()].sort(compareNames);
  const out: Ref[] = [];
  let i = 0;
  for (const name of names) {
    while (i < refs.length && compareNames(refs[i].name, name) < 0) out.push(refs[i++]);
    if (i < refs.length && refs[i].name === name) i++;
    const id = last.get(name)!;
    if (id !== null) out.push({ name, id });
  }
  while (i < refs.length) out.push(refs[i++]);
  return out;
}

/** objects_reach as migration 3 creates it (insertStage drops and builds it again). */
const OBJECTS_REACH_INDEX = `CREATE INDEX objects_reach ON objects(segment, rec_offset) WHERE reach = 1`;

/** The schema version this code expects. */
export const SCHEMA_VERSION = MIGRATIONS.length;

/** Brings the schema up to SCHEMA_VERSION, one transaction per migration; returns the version found. */
export function migrate(host: SqlHost): number {
  host.sql.exec(`CREATE TABLE IF NOT EXISTS hub_schema (version INTEGER NOT NULL)`);
  const row = host.sql.exec<{ version: number }>(`SELECT version FROM hub_schema`).toArray()[0];
  const found = row?.version ?? 0;
  if (found > SCHEMA_VERSION) throw new Error(`repository schema ${found} is newer than this code (${SCHEMA_VERSION})`);
  for (let v = found; v < SCHEMA_VERSION; v++) {
    host.transactionSync(() => {
      for (const stmt of MIGRATIONS[v]) host.sql.exec(stmt);
      host.sql.exec(`DELETE FROM hub_schema`);
      host.sql.exec(`INSERT INTO hub_schema (version) VALUES (?)`, v + 1);
    });
  }
  return found;
}

type ObjectRowSql = {
  id: string;
  kind: string;
  size: number;
  segment: string;
  rec_offset: number;
  rec_length: number;
  format: string;
  base: string | null;
  depth: number;
  rec_size: number | null;
};

const SELECT_ROW = `SELECT o.id, o.kind, o.size, s.name AS segment, o.rec_offset, o.rec_length, o.format, o.base, o.depth, o.rec_size
  FROM objects o JOIN segments s ON s.seq = o.segment`;

function toRow(r: ObjectRowSql): IndexRow {
  const row: IndexRow = {
    id: r.id,
    kind: r.kind as ObjectKind,
    size: r.size,
    segment: r.segment,
    offset: r.rec_offset,
    length: r.rec_length,
    format: r.format as RecordFormat,
    base: r.base,
    depth: r.depth,
  };
  if (r.rec_size !== null) row.recordSize = r.rec_size;
  return row;
}

/** Whether `order` holds each of 0..n-1 once (a stage order from the caller: a row left out would go unindexed). */
function isPermutation(order: Uint32Array, n: number): boolean {
  if (order.length !== n) return false;
  const seen = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    const k = order[i];
    if (k >= n || seen[k] === 1) return false;
    seen[k] = 1;
  }
  return true;
}

function grownBytes(a: Uint8Array): Uint8Array {
  const next = new Uint8Array(a.length * 2);
  next.set(a);
  return next;
}

/** Object rows inserted per statement by commit (as one JSON array of row arrays). */
const INSERT_BATCH = 1000;
/**
 * Inserts rows given as one JSON array of row arrays; `reach` is the rows' mark (RepoCommit.reach):
 * set as they go in, since marking 300k rows afterwards was a 2.7 s UPDATE.
 */
const insertRows = (reach: boolean) => `INSERT INTO objects (id, kind, size, segment, rec_offset, rec_length, format, base, depth, rec_size, reach)
  SELECT value ->> 0, value ->> 1, value ->> 2, value ->> 3, value ->> 4, value ->> 5, value ->> 6, value ->> 7, value ->> 8, value ->> 9, ${reach ? 1 : 'NULL'}
  FROM json_each(?)`;

/**
 * insertRows for full records without a record size (most of a push's: a pack's
 * whole objects), given as [id, kind, size, offset, length] of one segment (the
 * second parameter): half the JSON fields each row's insert extracts.
 */
const insertFullRows = (reach: boolean) => `INSERT INTO objects (id, kind, size, segment, rec_offset, rec_length, format, base, depth, rec_size, reach)
  SELECT value ->> 0, value ->> 1, value ->> 2, ?2, value ->> 3, value ->> 4, 'full', NULL, 0, NULL, ${reach ? 1 : 'NULL'}
  FROM json_each(?1) WHERE true ON CONFLICT (id) DO NOTHING`;

/** Appends a stage's rows (stage, first row number, JSON array of row arrays). */
const STAGE_ROWS = `INSERT INTO push_stage (push, seq, id, kind, size, segment, rec_offset, rec_length, format, base, depth, rec_size)
  SELECT ?, ? + key, value ->> 0, value ->> 1, value ->> 2, value ->> 3, value ->> 4, value ->> 5, value ->> 6, value ->> 7, value ->> 8, value ->> 9
  FROM json_each(?)`;
/**
 * Copies staged rows into the index, by row numbers given as a JSON array (in that order), then the stage.
 * CROSS JOIN keeps json_each the outer loop (SQLite does not reorder it): as the inner one, it was
 * scanned whole for every staged row, and committing 4076 rows took 3 s.
 */
const insertStaged = (reach: boolean) => `INSERT INTO objects (id, kind, size, segment, rec_offset, rec_length, format, base, depth, rec_size, reach)
  SELECT s.id, s.kind, s.size, s.segment, s.rec_offset, s.rec_length, s.format, s.base, s.depth, s.rec_size, ${reach ? 1 : 'NULL'}
  FROM json_each(?) j CROSS JOIN push_stage s ON s.push = ? AND s.seq = j.value ORDER BY j.key
  ON CONFLICT (id) DO NOTHING`;
/** Marks ids (a JSON array) that were indexed before a marking commit offered them again. */
const MARK_IDS = `UPDATE objects SET reach = 1 WHERE reach IS NULL AND id IN (SELECT value FROM json_each(?))`;

/** V's size and last row position (segment, offset; -1 when V is empty) when a kept plan was made. */
interface ClosureEnd {
  marked: number;
  lastSeg: number;
  lastOff: number;
}

/** Most refs listRefs keeps in memory between calls (~130 bytes a ref: ~6.5 MiB). */
const MAX_KEPT_REFS = 50_000;

/** Bytes per row of a kept reach plan (DO SQLite refuses values over 2 MB). */
const PLAN_PART_BYTES = 1024 * 1024;

/** Largest reach plan held in memory between requests (50 bytes per object: 2.5 MB at most); a larger one is only referenced weakly. */
const PLAN_CACHE_MAX_OBJECTS = 50_000;

/** Rows the alarm's plan build reads between two turns of the repository's waiting requests (prebuildReachPlan). */
export const PREBUILD_SLICE_ROWS = 50_000;

/** Rows of V from which a push leaves its plan to the alarm (reachPlanWanted): a clone builds a smaller one in tens of ms. */
export const PREBUILD_MIN_ROWS = 20_000;

/**
 * The least string above every string starting with `prefix` (its last code point plus one; UTF-8,
 * which SQLite BINARY compares, keeps code point order), or null when there is none to name ('' or
 * ending in U+10FFFF).
 */
function prefixEnd(prefix: string): string | null {
  const chars = [...prefix];
  const last = chars.pop()?.codePointAt(0);
  if (last === undefined || last >= 0x10ffff) return null;
  return chars.join('') + String.fromCodePoint(last + 1 === 0xd800 ? 0xe000 : last + 1);
}

/** Refs, symbolic refs, object index and the atomic commit over SQLite (schema from `migrate`). */
export class SqlRepoStore {
  private readonly snapshot: RefSnapshot;
  /**
   * The last reach plan built or read, kept while small (a clone of an unchanged repository reuses
   * it); a large one only while nothing else holds on to it and the GC has not taken it (the clone
   * after the alarm's build then reads no second copy of it beside the first).
   */
  private planCache: { version: number; tips: string; blobs: boolean; plan: ReachPlan | WeakRef<ReachPlan> } | null = null;
  /** The alarm's plan build while it runs (prebuildReachPlan): a clone waits for it rather than build a second plan beside it. */
  private building: Promise<boolean> | null = null;
  /** Bumped when kept plans are forgotten (rows moved): a plan being built from the rows as they were is dropped. */
  private planEpoch = 0;
  /**
   * Names of the kept plans (ReachPlan.key), without and with blobs: a new one whenever the plan
   * is kept anew or dropped, so a name never covers two different plans. In memory only.
   */
  private readonly planKeys = new Map<boolean, string>();
  private planSerial = 0;
  /** Trailers of packs written from the named plans (reachPackDigest), by key and ofs-delta. */
  private readonly packDigests = new Map<string, Uint8Array>();
  /** Oldest commit dates of the named plans' closures (reachOldestCommit), by key. */
  private readonly oldestCommits = new Map<string, number>();
  /** Open stages of this instance: rows so far, and their segments' interned numbers. */
  private readonly stages = new Map<StageId, { count: number; segSeq: Map<string, number> }>();
  private nextStage = 1;
  /** Bumped by every write of refs or symbolic refs (refsChanged). */
  private refsVersion = 0;
  /** Every ref as listRefs last read them all, while refsVersion is still `version`. */
  private keptRefs: { version: number; refs: Ref[] } | null = null;
  /** The ref writes of the transaction under way (applyRefs), for the kept list once it commits. */
  private refWrites: RefUpdate[] = [];

  constructor(private readonly host: SqlHost) {
    this.snapshot = {
      read: (name) => this.readRef(name),
      isSymbolic: (name) => this.readSymbolic(name) !== null,
    };
  }

  /** Direct refs starting with `prefix`, in code point (SQLite BINARY) order. */
  listRefs(prefix = ''): Ref[] {
    const kept = this.keptRefs?.version === this.refsVersion ? this.keptRefs.refs : null;
    if (kept !== null) return prefix === '' ? kept.slice() : kept.filter((r) => r.name.startsWith(prefix));
    // A range scan [prefix, end): exact for any characters, where LIKE would treat % and _ as wildcards.
    // Read to its end: a cursor left part-read keeps its statement active, and SQLite then refuses a
    // DROP INDEX (dropReachIndexFor) in this DO with SQLITE_LOCKED, failing every later first-push-sized
    // push (a push creating refs/heads/x read one part-way while refs sorted after it).
    // Rows as arrays (raw): a row object a ref cost ~a third of a 40,000-ref advertisement's CPU.
    const end = prefixEnd(prefix);
    const rows = (
      end === null
        ? this.host.sql.exec(`SELECT name, id FROM refs WHERE name >= ? ORDER BY name`, prefix)
        : this.host.sql.exec(`SELECT name, id FROM refs WHERE name >= ? AND name < ? ORDER BY name`, prefix, end)
    ).raw() as IterableIterator<[string, string]>;
    const out: Ref[] = [];
    for (const [name, id] of rows) if (name.startsWith(prefix)) out.push({ name, id });
    // Every ref is read again only after a ref changed (every advertisement and fetch lists them).
    if ((prefix === '' || prefix === 'refs/') && out.length <= MAX_KEPT_REFS) this.keptRefs = { version: this.refsVersion, refs: out.slice() };
    return out;
  }

  /** A number that changes whenever a ref or a symbolic ref does (in this instance: lists kept in memory go with it). */
  refsChanged(): number {
    return this.refsVersion;
  }

  /**
   * A transaction that may write refs (applyRefs, setSymbolic bump refsVersion before writing): bumped
   * again once it ends, so a list read inside it (what it wrote, or what it rolls back) is not kept.
   * Ref writes must not run inside a caller's own transaction (none do): a list read after them
   * there would be kept though that transaction may still roll back.
   */
  private refsTransaction<T>(fn: () => T): T {
    const before = this.refsVersion;
    const kept = this.keptRefs?.version === before ? this.keptRefs.refs : null;
    this.refWrites = [];
    let committed = false;
    try {
      const out = this.host.transactionSync(fn);
      committed = true;
      return out;
    } finally {
      if (this.refsVersion !== before) {
        this.refsVersion++;
        // Committed: the list kept before it plus its writes is every ref now, so the advertisement
        // after a push does not read every ref again.
        const refs = committed && kept !== null ? withRefWrites(kept, this.refWrites) : null;
        if (refs !== null && refs.length <= MAX_KEPT_REFS) this.keptRefs = { version: this.refsVersion, refs };
      }
      this.refWrites = [];
    }
  }

  /** The id of a direct ref, or null. */
  readRef(name: string): ObjectId | null {
    return this.host.sql.exec<{ id: string }>(`SELECT id FROM refs WHERE name = ?`, name).toArray()[0]?.id ?? null;
  }

  /** The target of a symbolic ref, or null. */
  readSymbolic(name: string): string | null {
    return this.host.sql.exec<{ target: string }>(`SELECT target FROM symrefs WHERE name = ?`, name).toArray()[0]?.target ?? null;
  }

  /** Every symbolic ref, by name. */
  listSymbolic(): SymbolicRef[] {
    return this.host.sql.exec<{ name: string; target: string }>(`SELECT name, target FROM symrefs ORDER BY name`).toArray();
  }

  /** Compare-and-swap a set of refs (see RefWriter.update). */
  updateRefs(updates: RefUpdate[], opts?: RefUpdateOptions): RefUpdateResult {
    return this.refsTransaction(() => {
      const { result, writes } = planRefUpdates(updates, this.snapshot, opts);
      this.applyRefs(writes);
      return result;
    });
  }

  /** Sets or removes a symbolic ref (see RefWriter.setSymbolic). */
  setSymbolic(name: string, target: string | null): void {
    this.refsTransaction(() => {
      checkSetSymbolic(name, target, this.snapshot);
      this.refsVersion++;
      if (target === null) this.host.sql.exec(`DELETE FROM symrefs WHERE name = ?`, name);
      else this.host.sql.exec(`INSERT INTO symrefs (name, target) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET target = excluded.target`, name, target);
    });
  }

  /** For each id, whether it is indexed. */
  has(ids: ObjectId[]): boolean[] {
    if (ids.length === 0) return [];
    // One query through json_each: DO SQL caps bound parameters at 100 per statement. It answers the
    // positions of the ids found: a Set of the found ids asked once per id (a push asks 1000 at a time)
    // left ~36 bytes an id asked behind in V8's old space.
    const out = new Array<boolean>(ids.length).fill(false);
    for (const [at] of this.host.sql.exec(`SELECT j.key FROM json_each(?) j WHERE EXISTS (SELECT 1 FROM objects o WHERE o.id = j.value)`, JSON.stringify(ids)).raw() as IterableIterator<[number]>) out[at] = true;
    return out;
  }

  /** For each id, its kind, or null where it is not indexed (see has). */
  kinds(ids: ObjectId[]): (ObjectKind | null)[] {
    if (ids.length === 0) return [];
    const found = new Map(
      this.host.sql
        .exec<{ id: string; kind: ObjectKind }>(`SELECT id, kind FROM objects WHERE id IN (SELECT value FROM json_each(?))`, JSON.stringify(ids))
        .toArray()
        .map((r) => [r.id, r.kind]),
    );
    return ids.map((id) => found.get(id) ?? null);
  }

  /** The row of `id`, or null. */
  get(id: ObjectId): IndexRow | null {
    checkObjectId(id);
    const r = this.host.sql.exec<ObjectRowSql>(`${SELECT_ROW} WHERE o.id = ?`, id).toArray()[0];
    return r ? toRow(r) : null;
  }

  /** The rows of `ids` in one query, null where not indexed (see ObjectRowsReader). */
  rows(ids: ObjectId[]): (IndexRow | null)[] {
    const out = new Array<IndexRow | null>(ids.length).fill(null);
    if (ids.length === 0) return out;
    // As reachRows: json_each drives (CROSS JOIN keeps it the outer loop), the segment name by a
    // subquery, fields by index (no object per row from the cursor).
    for (const [i, kind, size, segment, offset, length, format, base, depth, recSize] of this.host.sql
      .exec(
        `SELECT j.key, o.kind, o.size, (SELECT s.name FROM segments s WHERE s.seq = o.segment),
                o.rec_offset, o.rec_length, o.format, o.base, o.depth, o.rec_size
           FROM json_each(?) j CROSS JOIN objects o ON o.id = j.value`,
        JSON.stringify(ids),
      )
      .raw() as IterableIterator<[number, string, number, string, number, number, string, string | null, number, number | null]>) {
      const row: IndexRow = { id: ids[i], kind: kind as ObjectKind, size, segment, offset, length, format: format as RecordFormat, base, depth };
      if (recSize !== null) row.recordSize = recSize;
      out[i] = row;
    }
    return out;
  }

  /** Up to `n` rows of the closure stored after `row` in its segment (see ObjectRowsAfterReader), through the objects_reach index. */
  rowsAfter(row: IndexRow, n: number): IndexRow[] {
    const out: IndexRow[] = [];
    for (const [id, kind, size, offset, length, format, base, depth, recSize] of this.host.sql
      .exec(
        `SELECT id, kind, size, rec_offset, rec_length, format, base, depth, rec_size FROM objects
          WHERE reach = 1 AND segment = (SELECT seq FROM segments WHERE name = ?) AND rec_offset > ?
          ORDER BY rec_offset LIMIT ?`,
        row.segment,
        row.offset,
        n,
      )
      .raw() as IterableIterator<[string, string, number, number, number, string, string | null, number, number | null]>) {
      const r: IndexRow = { id, kind: kind as ObjectKind, size, segment: row.segment, offset, length, format: format as RecordFormat, base, depth };
      if (recSize !== null) r.recordSize = recSize;
      out.push(r);
    }
    return out;
  }

  /** `id`'s row and its bases' rows down to a full record (see ObjectChainReader). */
  chain(id: ObjectId): IndexRow[] {
    checkObjectId(id);
    // The step counter bounds the recursion, so even a corrupt cycle ends.
    const rows = this.host.sql
      .exec<ObjectRowSql & { step: number }>(
        `WITH RECURSIVE c(id, step) AS (
           SELECT ?, 0
           UNION ALL
           SELECT o.base, c.step + 1 FROM objects o JOIN c ON o.id = c.id WHERE o.base IS NOT NULL AND c.step + 1 < ?
         )
         ${SELECT_ROW} JOIN c ON c.id = o.id ORDER BY c.step`,
        id,
        MAX_CHAIN_ROWS,
      )
      .toArray();
    // The recursion stops at a missing link; the join then drops it, so the rows are the chain's unbroken head.
    return rows.map(toRow);
  }

  /** Indexes rows without touching refs. */
  putBatch(rows: IndexRowInput[]): { inserted: number } {
    return { inserted: this.commit({ rows, refs: [] }).inserted };
  }

  /**
   * Rows and ref compare-and-swaps in one transaction (see RepoCommitter.commit). `applied` is told
   * the result inside it, after the refs moved: the push's audit events go in with them (repo.ts).
   */
  commit(c: RepoCommit, applied?: (result: CommitResult) => void): CommitResult {
    return this.refsTransaction(() => {
      // Decide everything before the first write; a throw here (bad row) leaves no trace.
      const planned = planDepths(c.rows, (id) => this.depthOf(id));
      const { result, writes } = planRefUpdates(c.refs, this.snapshot, { atomic: c.atomic });
      if (!result.ok && writes.length === 0) return { ...result, inserted: 0 };
      // Marked only against the version the caller proved V + rows = reach(tips) at (see ReachCommit).
      const mark = c.reach !== undefined && this.reachState().version === c.reach.expect;
      const segSeq = new Map<string, number>();
      // Rows go in INSERT_BATCH at a time as one JSON parameter: one statement
      // per row cost a JS->SQLite crossing per row (a 100k-object push spent
      // seconds there), and DO SQL caps bound parameters at 100 per statement.
      let batch: unknown[][] = [];
      const flush = () => {
        if (batch.length === 0) return;
        this.host.sql.exec(insertRows(mark), JSON.stringify(batch));
        batch = [];
      };
      for (const [row, depth] of planned) {
        let seq = segSeq.get(row.segment);
        if (seq === undefined) {
          this.host.sql.exec(`INSERT INTO segments (name) VALUES (?) ON CONFLICT (name) DO NOTHING`, row.segment);
          seq = this.host.sql.exec<{ seq: number }>(`SELECT seq FROM segments WHERE name = ?`, row.segment).one().seq;
          segSeq.set(row.segment, seq);
        }
        batch.push([row.id, row.kind, row.size, seq, row.offset, row.length, row.format, row.base, depth, row.recordSize ?? null]);
        if (batch.length >= INSERT_BATCH) flush();
      }
      flush();
      let inserted = planned.size;
      if (mark && planned.size < c.rows.length) {
        for (let i = 0; i < c.rows.length; i += INSERT_BATCH) this.host.sql.exec(MARK_IDS, JSON.stringify(c.rows.slice(i, i + INSERT_BATCH).map((r) => r.id)));
      }
      // Staged rows first: planned ones may have their bases there (never the reverse: a delta follows its base).
      const staged = c.stage === undefined ? 0 : this.insertStage(c.stage, mark, c.stageOrder);
      inserted += staged;
      if (c.planned) inserted += this.insertPlanned(c.planned, segSeq, mark);
      if (c.stage !== undefined) this.checkStage(c.stage, staged === this.liveStage(c.stage).count ? c.stageBases : undefined);
      this.applyRefs(writes);
      if (mark) {
        this.host.sql.exec(`UPDATE reach_state SET version = version + 1, tips = ?`, JSON.stringify(c.reach!.tips));
        // No rows at all (a push of refs to objects in V): V is unchanged, and so are its kept plans.
        const noRows = c.rows.length === 0 && c.stage === undefined && (c.planned === undefined || (Array.isArray(c.planned) && c.planned.length === 0));
        if (noRows) this.host.sql.exec(`UPDATE reach_plans SET version = version + 1 WHERE version = ?`, c.reach!.expect);
      }
      const done = { ...result, inserted };
      applied?.(done);
      return done;
    });
  }

  /**
   * Inserts a quarantine's planned rows as they come (INSERT_BATCH per
   * statement, ids already indexed skipped), then checks every new row's
   * depth against its base's; a wrong one throws, rolling back the caller's
   * transaction. Returns how many rows were new.
   */
  private insertPlanned(rows: Iterable<IndexRow>, segSeq: Map<string, number>, mark: boolean): number {
    const fresh = new Set<number>();
    // For the depth check: each row's depth by binary id, each delta's base and depth
    // (~55 bytes a row while committing; a SQL join per row cost 4 s on 300k rows).
    const ids = new IdSet();
    const scratch = new Uint8Array(20);
    const baseScratch = new Uint8Array(20);
    let depths: Uint8Array = new Uint8Array(1024);
    const bases = new PackedIds();
    let deltaDepths: Uint8Array = new Uint8Array(1024);
    let count = 0;
    let inserted = 0;
    let batch: unknown[][] = [];
    // Full records without a record size in segment fullSeq, by insertFullRows (the rest by insertRows).
    let fullBatch: unknown[][] = [];
    let fullSeq = -1;
    const flush = () => {
      if (fullBatch.length > 0) {
        this.host.sql.exec(insertFullRows(mark), JSON.stringify(fullBatch), fullSeq);
        inserted += this.host.sql.exec<{ n: number }>(`SELECT changes() AS n`).one().n;
        fullBatch = [];
      }
      if (batch.length === 0) return;
      // `WHERE true`: SQLite needs it to parse an upsert after INSERT ... SELECT.
      this.host.sql.exec(`${insertRows(mark)} WHERE true ON CONFLICT (id) DO NOTHING`, JSON.stringify(batch));
      inserted += this.host.sql.exec<{ n: number }>(`SELECT changes() AS n`).one().n;
      batch = [];
    };
    const rebuild = Array.isArray(rows) && this.dropReachIndexFor(rows.length, mark);
    for (const row of rows) {
      // The ids are checked as they are decoded for the depth check (a regex test per id cost more).
      const sha1 = writeSha1Hex(row.id, scratch, 0) && (row.base === null || writeSha1Hex(row.base, baseScratch, 0));
      checkRow(row, sha1);
      let seq = segSeq.get(row.segment);
      if (seq === undefined) {
        this.host.sql.exec(`INSERT INTO segments (name) VALUES (?) ON CONFLICT (name) DO NOTHING`, row.segment);
        seq = this.host.sql.exec<{ seq: number }>(`SELECT seq FROM segments WHERE name = ?`, row.segment).one().seq;
        segSeq.set(row.segment, seq);
        fresh.add(seq);
      }
      const depth = row.base === null ? 0 : row.depth;
      if (depth > MAX_CHAIN_DEPTH) this.badDepth(row.base!, depth, depth - 1);
      if (row.format === 'full' && row.recordSize === undefined && (fullBatch.length === 0 || fullSeq === seq)) {
        fullSeq = seq;
        fullBatch.push([row.id, row.kind, row.size, row.offset, row.length]);
      } else {
        batch.push([row.id, row.kind, row.size, seq, row.offset, row.length, row.format, row.base, depth, row.recordSize ?? null]);
      }
      if (batch.length + fullBatch.length >= INSERT_BATCH) flush();
      count++;
      if (!sha1) writeHex(row.id, scratch, 0); // checked by checkRow: no fromHex (and its Uint8Array) per row
      if (!ids.addAt(scratch, 0)) continue;
      if (ids.size > depths.length) depths = grownBytes(depths);
      depths[ids.size - 1] = depth;
      if (row.base === null) continue;
      if (sha1) bases.pushAt(baseScratch, 0);
      else bases.push(row.base);
      if (bases.length > deltaDepths.length) deltaDepths = grownBytes(deltaDepths);
      deltaDepths[bases.length - 1] = depth;
    }
    flush();
    if (rebuild) this.host.sql.exec(OBJECTS_REACH_INDEX);
    if (inserted < count) {
      // Some ids were stored meanwhile (a concurrent push), perhaps at other depths: check against what is stored.
      for (const seq of fresh) this.checkDepths(seq);
      if (mark) {
        for (let i = 0; i < ids.size; i += INSERT_BATCH) {
          const part: string[] = [];
          for (let k = i; k < Math.min(i + INSERT_BATCH, ids.size); k++) part.push(ids.at(k));
          this.host.sql.exec(MARK_IDS, JSON.stringify(part));
        }
      }
      return inserted;
    }
    const slab = bases.bytes;
    const outside: number[] = [];
    for (let i = 0; i < bases.length; i++) {
      const k = ids.indexOfAt(slab, i * 20);
      if (k < 0) outside.push(i);
      else if (deltaDepths[i] !== depths[k] + 1) this.badDepth(bases.at(i), deltaDepths[i], depths[k]);
    }
    for (let i = 0; i < outside.length; i += INSERT_BATCH) {
      const part = outside.slice(i, i + INSERT_BATCH);
      const stored = new Map<string, number>();
      for (const r of this.host.sql.exec<{ id: string; depth: number }>(
        `SELECT id, depth FROM objects WHERE id IN (SELECT value FROM json_each(?))`,
        JSON.stringify(part.map((d) => bases.at(d))),
      )) {
        stored.set(r.id, r.depth);
      }
      for (const d of part) {
        const bd = stored.get(bases.at(d));
        if (bd === undefined) throw new MissingBaseError('delta-base-missing', `delta base ${bases.at(d)} is not indexed`, { base: bases.at(d) });
        if (deltaDepths[d] !== bd + 1) this.badDepth(bases.at(d), deltaDepths[d], bd);
      }
    }
    return inserted;
  }

  /** Throws for a delta on `base` planned at `depth` where the base is at `baseDepth` (or the chain is too deep). */
  private badDepth(base: ObjectId, depth: number, baseDepth: number): never {
    throw new ChainTooDeepError('chain-too-deep', `a delta on ${base} was planned at depth ${depth}, its base is at ${baseDepth}`, { base, depth: baseDepth + 1, max: MAX_CHAIN_DEPTH });
  }

  /** Checks every delta row of segment `seq` against its stored base (one query). */
  private checkDepths(seq: number): void {
    const bad = this.host.sql
      .exec<{ id: string; base: string; depth: number; bdepth: number | null }>(
        `SELECT o.id, o.base, o.depth, b.depth AS bdepth FROM objects o LEFT JOIN objects b ON b.id = o.base
          WHERE o.segment = ? AND o.base IS NOT NULL AND (b.depth IS NULL OR o.depth != b.depth + 1 OR o.depth > ?) LIMIT 1`,
        seq,
        MAX_CHAIN_DEPTH,
      )
      .toArray()[0];
    if (bad === undefined) return;
    if (bad.bdepth === null) throw new MissingBaseError('delta-base-missing', `delta base ${bad.base} of ${bad.id} is not indexed`, { id: bad.id, base: bad.base });
    this.badDepth(bad.base, bad.depth, bad.bdepth);
  }

  /** RowStager.openStage: a new stage's id (its rows are appended by appendStage). */
  openStage(): StageId {
    const id = this.nextStage++;
    this.stages.set(id, { count: 0, segSeq: new Map() });
    return id;
  }

  /** RowStage.append: all the rows or none (one transaction), numbered on from the stage's last. */
  appendStage(stage: StageId, rows: readonly IndexRow[]): void {
    const st = this.liveStage(stage);
    rows.forEach(checkPlannedRow);
    this.host.transactionSync(() => {
      for (let i = 0; i < rows.length; i += INSERT_BATCH) {
        const batch = rows.slice(i, i + INSERT_BATCH).map((r) => {
          let seq = st.segSeq.get(r.segment);
          if (seq === undefined) st.segSeq.set(r.segment, (seq = this.internSegment(r.segment)));
          return [r.id, r.kind, r.size, seq, r.offset, r.length, r.format, r.base, r.depth, r.recordSize ?? null];
        });
        this.host.sql.exec(STAGE_ROWS, stage, st.count + i, JSON.stringify(batch));
      }
    });
    st.count += rows.length;
  }

  /** RowStage.row */
  stageRow(stage: StageId, n: number): IndexRow {
    this.liveStage(stage);
    const r = this.host.sql
      .exec<ObjectRowSql>(
        `SELECT s.id, s.kind, s.size, g.name AS segment, s.rec_offset, s.rec_length, s.format, s.base, s.depth, s.rec_size
           FROM push_stage s JOIN segments g ON g.seq = s.segment WHERE s.push = ? AND s.seq = ?`,
        stage,
        n,
      )
      .toArray()[0];
    if (!r) throw new RangeError(`stage ${stage} has no row ${n}`);
    return toRow(r);
  }

  /** RowStage.drop: the stage's rows, and the names of its segments that no indexed object uses (a failed push's). */
  dropStage(stage: StageId): void {
    if (!this.stages.delete(stage)) return;
    this.host.transactionSync(() => this.deleteStages(`push = ?`, stage));
  }

  /** Drops every stage: at the start of an instance, any stage is a push that died with the last one. */
  sweepStages(): void {
    this.stages.clear();
    // Read first: most starts find nothing, and need not write.
    if (this.host.sql.exec(`SELECT 1 FROM push_stage LIMIT 1`).toArray().length === 0) return;
    this.host.transactionSync(() => this.deleteStages(`1`));
  }

  private deleteStages(where: string, ...args: number[]): void {
    this.host.sql.exec(
      `DELETE FROM segments WHERE seq IN (SELECT DISTINCT segment FROM push_stage WHERE ${where})
         AND NOT EXISTS (SELECT 1 FROM objects o WHERE o.segment = segments.seq)`,
      ...args,
    );
    this.host.sql.exec(`DELETE FROM push_stage WHERE ${where}`, ...args);
  }

  private liveStage(stage: StageId): { count: number; segSeq: Map<string, number> } {
    const st = this.stages.get(stage);
    if (!st) throw new Error(`no stage ${stage} (dropped, or from another instance)`);
    return st;
  }

  private internSegment(name: string): number {
    this.host.sql.exec(`INSERT INTO segments (name) VALUES (?) ON CONFLICT (name) DO NOTHING`, name);
    return this.host.sql.exec<{ seq: number }>(`SELECT seq FROM segments WHERE name = ?`, name).one().seq;
  }

  /**
   * Inserts a stage's rows into the index (ids already indexed skipped), in
   * id order: then each insert lands next to the last in the B-tree (in pack
   * order each touched a random page; a 300k-object push spent 27 s of
   * SQLite time so). Returns how many rows were new.
   */
  private insertStage(stage: StageId, mark: boolean, given?: Uint32Array): number {
    const n = this.liveStage(stage).count;
    const order = given !== undefined && isPermutation(given, n) ? given : this.stageIdOrder(stage, n);
    const rebuild = this.dropReachIndexFor(n, mark);
    let inserted = 0;
    for (let i = 0; i < n; i += INSERT_BATCH) {
      // The JSON array written by join: Array.from of the numbers, then JSON.stringify, made an array per statement to throw away.
      this.host.sql.exec(insertStaged(mark), `[${order.subarray(i, i + INSERT_BATCH).join(',')}]`, stage);
      inserted += this.host.sql.exec<{ n: number }>(`SELECT changes() AS n`).one().n;
    }
    if (rebuild) this.host.sql.exec(OBJECTS_REACH_INDEX);
    // Rows indexed before (a concurrent push's) are marked too: the caller's proof covers every row it gave.
    if (mark && inserted < n) this.host.sql.exec(`UPDATE objects SET reach = 1 WHERE reach IS NULL AND id IN (SELECT id FROM push_stage WHERE push = ?)`, stage);
    return inserted;
  }

  /**
   * Drops objects_reach before marking `n` rows when V holds fewer (a first push), and says so: the
   * caller builds it again afterwards (OBJECTS_REACH_INDEX) in one sorted pass, rather than putting
   * each row at a random place of its (segment, offset) order.
   */
  private dropReachIndexFor(n: number, mark: boolean): boolean {
    const rebuild = mark && n > 0 && n > this.host.sql.exec<{ n: number }>(`SELECT count(*) AS n FROM (SELECT 1 FROM objects WHERE reach = 1 LIMIT ?)`, n).one().n;
    if (rebuild) this.host.sql.exec(`DROP INDEX objects_reach`);
    return rebuild;
  }

  /** The stage's row numbers sorted on their ids' first 48 bits (ties are rare and only cost locality), 12 bytes a row. */
  private stageIdOrder(stage: StageId, n: number): Uint32Array {
    const keys = new Float64Array(n);
    for (const [seq, prefix] of this.host.sql.exec(`SELECT seq, substr(id, 1, 12) FROM push_stage WHERE push = ?`, stage).raw() as IterableIterator<[number, string]>) {
      keys[seq] = parseInt(prefix, 16);
    }
    const order = new Uint32Array(n);
    for (let i = 0; i < n; i++) order[i] = i;
    return order.sort((a, b) => keys[a] - keys[b]);
  }

  /**
   * Checks every staged delta's depth against its base as now indexed (after
   * insertStage); a wrong one throws. With `outside` (RepoCommit.stageBases,
   * given when every staged row went in new) only those bases are looked up:
   * the rest are staged rows, planned against each other (a join per staged
   * delta was 1.3 s of a 300k-object push).
   */
  private checkStage(stage: StageId, outside?: ReadonlyMap<ObjectId, number>): void {
    if (outside !== undefined) {
      const ids = [...outside.keys()];
      for (let i = 0; i < ids.length; i += INSERT_BATCH) {
        const part = ids.slice(i, i + INSERT_BATCH);
        const stored = new Map<string, number>();
        for (const r of this.host.sql.exec<{ id: string; depth: number }>(`SELECT id, depth FROM objects WHERE id IN (SELECT value FROM json_each(?))`, JSON.stringify(part))) {
          stored.set(r.id, r.depth);
        }
        for (const id of part) {
          const bd = stored.get(id);
          if (bd === undefined) throw new MissingBaseError('delta-base-missing', `delta base ${id} is not indexed`, { base: id });
          if (bd !== outside.get(id)) this.badDepth(id, outside.get(id)! + 1, bd);
        }
      }
      return;
    }
    // One pass: a staged row already indexed (a concurrent push stored it) is checked too, so
    // such a race can refuse a push that would have been right; the client pushes again.
    const bad = this.host.sql
      .exec<{ id: string; base: string; depth: number; bdepth: number | null }>(
        `SELECT s.id, s.base, s.depth, b.depth AS bdepth FROM push_stage s LEFT JOIN objects b ON b.id = s.base
          WHERE s.push = ? AND s.base IS NOT NULL AND (b.depth IS NULL OR s.depth != b.depth + 1) LIMIT 1`,
        stage,
      )
      .toArray()[0];
    if (bad === undefined) return;
    if (bad.bdepth === null) throw new MissingBaseError('delta-base-missing', `delta base ${bad.base} of ${bad.id} is not indexed`, { id: bad.id, base: bad.base });
    this.badDepth(bad.base, bad.depth, bad.bdepth);
  }

  /** ReachIndex.reachState */
  reachState(): ReachState {
    const r = this.host.sql.exec<{ version: number; tips: string }>(`SELECT version, tips FROM reach_state`).one();
    return { version: r.version, tips: JSON.parse(r.tips) as ObjectId[] };
  }

  /** ReachIndex.reachStatus */
  reachStatus(ids: ObjectId[]): Uint8Array {
    const out = new Uint8Array(ids.length);
    if (ids.length === 0) return out;
    // json_each's key is the id's position: no map from id back to it.
    for (const [i, reach] of this.host.sql
      .exec(`SELECT j.key, o.reach FROM json_each(?) j JOIN objects o ON o.id = j.value`, JSON.stringify(ids))
      .raw() as IterableIterator<[number, number | null]>) {
      out[i] = reach === 1 ? REACH_IN : REACH_OUTSIDE;
    }
    return out;
  }

  /** ReachIndex.reachRows: reachStatus with the rows of commits, trees and tags, in the same query. */
  reachRows(ids: ObjectId[]): ReachRows {
    const status = new Uint8Array(ids.length);
    const rows: (IndexRow | undefined)[] = new Array<IndexRow | undefined>(ids.length);
    if (ids.length === 0) return { status, rows };
    // Blobs need only their status: their other columns come back NULL (and no segment name is joined).
    for (const [i, reach, kind, size, segment, offset, length, format, base, depth, recSize] of this.host.sql
      .exec(
        `SELECT j.key, o.reach, o.kind, o.size,
                CASE WHEN o.kind = 'blob' THEN NULL ELSE (SELECT s.name FROM segments s WHERE s.seq = o.segment) END,
                o.rec_offset, o.rec_length, o.format, o.base, o.depth, o.rec_size
           FROM json_each(?) j JOIN objects o ON o.id = j.value`,
        JSON.stringify(ids),
      )
      .raw() as IterableIterator<[number, number | null, string, number, string | null, number, number, string, string | null, number, number | null]>) {
      status[i] = reach === 1 ? REACH_IN : REACH_OUTSIDE;
      if (kind === 'blob' || segment === null) continue;
      const row: IndexRow = { id: ids[i], kind: kind as ObjectKind, size, segment, offset, length, format: format as RecordFormat, base, depth };
      if (recSize !== null) row.recordSize = recSize;
      rows[i] = row;
    }
    return { status, rows };
  }

  /** ReachIndex.reachMark: one transaction, so V and S change together or not at all. */
  reachMark(expect: number, tips: ObjectId[], ids: MarkIds, reset: boolean): number | null {
    return this.host.transactionSync(() => {
      const { version } = this.host.sql.exec<{ version: number }>(`SELECT version FROM reach_state`).one();
      if (version !== expect) return null;
      // A kept plan is extended only while V has grown since it (planSteps): a reset drops them.
      if (reset) this.host.sql.exec(`UPDATE objects SET reach = NULL WHERE reach = 1`);
      if (reset) this.host.sql.exec(`DELETE FROM reach_plans`);
      if (reset) this.planKeys.clear();
      // Batched: one statement per id would cost a statement each on 300k-object clones.
      for (let i = 0; i < ids.length; i += 5000) {
        this.host.sql.exec(`UPDATE objects SET reach = 1 WHERE id IN (SELECT value FROM json_each(?))`, JSON.stringify(markIdsSlice(ids, i, i + 5000)));
      }
      this.host.sql.exec(`UPDATE reach_state SET version = ?, tips = ?`, version + 1, JSON.stringify(tips));
      // Only S changed (a deleted ref whose tip is below the others): V's kept plans stay V's.
      if (!reset && ids.length === 0) this.host.sql.exec(`UPDATE reach_plans SET version = ? WHERE version = ?`, version + 1, version);
      return version + 1;
    });
  }

  /**
   * ReachIndex.reachPlan: one synchronous pass over the partial index (no
   * await, so no push or mark can interleave), rows straight into typed arrays.
   */
  reachPlan(version: number, blobs: boolean): ReachPlan | null {
    const state = this.host.sql.exec<{ version: number; tips: string }>(`SELECT version, tips FROM reach_state`).one();
    if (state.version !== version) return null;
    // A plan depends only on V, which changes only with the version (the tips guard against a
    // state recreated from scratch, e.g. after deleteAll). Consumers only read it.
    const hit = this.cachedPlan(version, state.tips, blobs);
    if (hit !== null) return this.named(hit, blobs);
    let plan = this.storedReachPlan(version, blobs);
    if (plan === null) {
      const end = this.closureEnd();
      // A blob:none clone after a full one (at this version) filters the full clone's plan.
      const full = blobs ? null : (this.cachedPlan(version, state.tips, true) ?? this.storedReachPlan(version, true));
      if (full !== null) plan = reachPlanWithoutBlobs(full);
      else {
        const steps = this.planSteps(blobs, end, Infinity);
        let step = steps.next();
        while (!step.done) step = steps.next();
        plan = step.value;
      }
      this.storeReachPlan(version, blobs, plan, end);
    }
    this.cachePlan(version, state.tips, blobs, plan);
    return this.named(plan, blobs);
  }

  /** Resolves once no alarm build of the plan is under way (a clone asks before reachPlan). */
  async planSettled(): Promise<void> {
    while (this.building !== null) await this.building.catch(() => false);
  }

  /**
   * Whether a clone of every ref would build a plan with blobs now: V's tips are the refs' ids, no
   * plan of this version is kept, and V holds `minRows` rows or more. A push asks before arming the
   * alarm, so it is cheap: one version check when the plan is kept.
   */
  reachPlanWanted(minRows = PREBUILD_MIN_ROWS): boolean {
    const state = this.reachState();
    if (state.tips.length === 0) return false;
    if (this.host.sql.exec(`SELECT 1 FROM reach_plans WHERE blobs = 1 AND part = 0 AND version = ?`, state.version).toArray().length > 0) return false;
    const tips = new Set(state.tips);
    const refs = new Set(this.listRefs('refs/').map((r) => r.id));
    if (refs.size !== tips.size || [...refs].some((id) => !tips.has(id))) return false;
    return this.host.sql.exec(`SELECT 1 FROM objects WHERE reach = 1 LIMIT 1 OFFSET ?`, Math.max(0, minRows - 1)).toArray().length > 0;
  }

  /**
   * Builds and keeps the plan with blobs of the current V when reachPlanWanted (the alarm's, after
   * a push), so the next clone reads it instead of building it. The rows are read in slices of
   * `slice`, with `pause` between them, in which the repository's requests run (a build from
   * scratch is ~1 s of CPU per 300k rows); a change of V or a move of rows meanwhile makes the
   * plan stale: it is dropped (the push that changed V arms the alarm again). Whether one was kept.
   */
  async prebuildReachPlan(pause: () => Promise<void>, minRows = PREBUILD_MIN_ROWS, slice = PREBUILD_SLICE_ROWS): Promise<boolean> {
    if (this.building !== null || !this.reachPlanWanted(minRows)) return false;
    // Started a microtask later, so `building` is set before anything of it (a pause) runs.
    const run = Promise.resolve().then(() => this.buildInSlices(pause, slice));
    this.building = run;
    try {
      return await run;
    } finally {
      this.building = null;
    }
  }

  private async buildInSlices(pause: () => Promise<void>, slice: number): Promise<boolean> {
    const { version, tips } = this.host.sql.exec<{ version: number; tips: string }>(`SELECT version, tips FROM reach_state`).one();
    const epoch = this.planEpoch;
    const stale = () => this.planEpoch !== epoch || this.host.sql.exec<{ version: number }>(`SELECT version FROM reach_state`).one().version !== version;
    const end = this.closureEnd();
    const steps = this.planSteps(true, end, slice);
    let step = steps.next();
    while (!step.done) {
      await pause();
      if (stale()) return false;
      step = steps.next();
    }
    this.storeReachPlan(version, true, step.value, end);
    this.cachePlan(version, tips, true, step.value);
    return true;
  }

  /**
   * Drops the kept reach plans and the cached one: rows moved to other records (git-compact.ts),
   * so the locations the plans hold are stale. Called in the mover's transaction.
   */
  forgetReachPlans(): void {
    this.planCache = null;
    this.planEpoch++;
    this.planKeys.clear();
    this.host.sql.exec(`DELETE FROM reach_plans`);
  }

  /** ReachIndex.reachPackDigest */
  reachPackDigest(key: string, ofsDelta: boolean): Uint8Array | null {
    return this.packDigests.get(`${key} ${ofsDelta}`) ?? null;
  }

  /** ReachIndex.keepReachPackDigest (a name is never given to other rows; only current ones are kept, a few at most). */
  keepReachPackDigest(key: string, ofsDelta: boolean, digest: Uint8Array): void {
    if (![...this.planKeys.values()].includes(key)) return;
    if (this.packDigests.size >= 8) this.packDigests.clear();
    this.packDigests.set(`${key} ${ofsDelta}`, digest);
  }

  /** ReachIndex.reachOldestCommit */
  reachOldestCommit(key: string): number | null {
    return this.oldestCommits.get(key) ?? null;
  }

  /** ReachIndex.keepReachOldestCommit (as keepReachPackDigest: only for a current name, a few at most). */
  keepReachOldestCommit(key: string, time: number): void {
    if (![...this.planKeys.values()].includes(key)) return;
    if (this.oldestCommits.size >= 8) this.oldestCommits.clear();
    this.oldestCommits.set(key, time);
  }

  /** The plan last built or read, if it is V's at `version` and still held. */
  private cachedPlan(version: number, tips: string, blobs: boolean): ReachPlan | null {
    const hit = this.planCache;
    if (hit === null || hit.version !== version || hit.tips !== tips || hit.blobs !== blobs) return null;
    return (hit.plan instanceof WeakRef ? hit.plan.deref() : hit.plan) ?? null;
  }

  private cachePlan(version: number, tips: string, blobs: boolean, plan: ReachPlan): void {
    this.planCache = { version, tips, blobs, plan: plan.count <= PLAN_CACHE_MAX_OBJECTS ? plan : new WeakRef(plan) };
  }

  /** `plan` (the kept plan with or without blobs) with its current name. */
  private named(plan: ReachPlan, blobs: boolean): ReachPlan {
    let key = this.planKeys.get(blobs);
    if (key === undefined) this.planKeys.set(blobs, (key = String(++this.planSerial)));
    plan.key = key;
    return plan;
  }

  /** The kept plan of V at `version` (versions only grow, so one names one V), or null. */
  private storedReachPlan(version: number, blobs: boolean): ReachPlan | null {
    const rows = this.host.sql
      .exec(`SELECT count, segments, data FROM reach_plans WHERE blobs = ? AND version = ? ORDER BY part`, blobs ? 1 : 0, version)
      .raw() as IterableIterator<[number, string, ArrayBuffer]>;
    const first = rows.next();
    if (first.done) return null;
    const [count, segments, data] = first.value;
    // Parts are copied into the plan as the cursor reaches them, each freed once copied: read back,
    // a million-object plan is 50 of them, garbage as large as the plan if left to the collector.
    function* parts(): Generator<Uint8Array> {
      yield new Uint8Array(data);
      releaseNow(data);
      for (const r of rows) {
        yield new Uint8Array(r[2]);
        releaseNow(r[2]);
      }
    }
    return decodeReachPlan(count, JSON.parse(segments) as string[], parts());
  }

  /** Keeps `plan` as the plan at `version` in place of the last one kept, with where V ended then. */
  private storeReachPlan(version: number, blobs: boolean, plan: ReachPlan, end: ClosureEnd): void {
    this.planKeys.delete(blobs);
    this.host.transactionSync(() => {
      this.host.sql.exec(`DELETE FROM reach_plans WHERE blobs = ?`, blobs ? 1 : 0);
      const segments = JSON.stringify(plan.segmentNames);
      let part = 0;
      for (const bytes of reachPlanParts(plan, PLAN_PART_BYTES)) {
        this.host.sql.exec(
          `INSERT INTO reach_plans (blobs, part, version, count, segments, data, marked, last_seg, last_off) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
          blobs ? 1 : 0,
          part++,
          version,
          plan.count,
          segments,
          bytes.buffer,
          end.marked,
          end.lastSeg,
          end.lastOff,
        );
        // SQLite has its copy: freed now, not left as garbage as large as the plan.
        releaseNow(bytes);
      }
    });
  }

  /** How many rows V has and where its last row lies in storage order (from objects_reach alone). */
  private closureEnd(): ClosureEnd {
    const marked = this.host.sql.exec<{ n: number }>(`SELECT count(*) AS n FROM objects WHERE reach = 1`).one().n;
    const last = this.host.sql
      .exec<{ segment: number; rec_offset: number }>(`SELECT segment, rec_offset FROM objects WHERE reach = 1 ORDER BY segment DESC, rec_offset DESC LIMIT 1`)
      .toArray()[0];
    return { marked, lastSeg: last?.segment ?? -1, lastOff: last?.rec_offset ?? -1 };
  }

  /**
   * The plan of V as it is now, its rows read `slice` at a time, yielding between reads (nothing may
   * change V or move rows while it runs; the caller checks). The kept plan of an older V is extended
   * by the rows marked since when all of them lie after that V's last row (a push's, in its new
   * segments): V only grows between resets (a reset drops the kept plans), so V is then the old V
   * plus exactly those rows. Else every row of V is read, in the table's own (id) order, and sorted
   * by the builder: `+reach` keeps SQLite off objects_reach, whose order costs a random lookup of the
   * row per entry.
   */
  private *planSteps(blobs: boolean, end: ClosureEnd, slice: number): Generator<void, ReachPlan> {
    const names = this.segmentNames();
    const extending = this.extensionStart(blobs, end, names);
    if (extending !== null) {
      let pos: unknown[] | null = extending.pos;
      while ((pos = this.addPlanRows(extending.b, names, blobs, `reach = 1 AND (segment, rec_offset) > (?, ?)`, pos, 'segment, rec_offset', slice)) !== null) yield;
      return yield* extending.b.finishing();
    }
    const b = new ReachPlanBuilder(end.marked, true);
    let pos: unknown[] | null = [''];
    while ((pos = this.addPlanRows(b, names, blobs, `+reach = 1 AND id > ?`, pos, 'id', slice)) !== null) yield;
    yield;
    return yield* b.finishing();
  }

  /** A builder holding the kept plan of an older V, and V's end then, when V since only grew after it (planSteps); else null. */
  private extensionStart(blobs: boolean, end: ClosureEnd, names: Map<number, string>): { b: ReachPlanBuilder; pos: number[] } | null {
    const prev = this.host.sql
      .exec<{ version: number; marked: number | null; last_seg: number | null; last_off: number | null }>(
        `SELECT version, marked, last_seg, last_off FROM reach_plans WHERE blobs = ? AND part = 0`,
        blobs ? 1 : 0,
      )
      .toArray()[0];
    if (prev === undefined || prev.marked === null || prev.last_seg === null || prev.last_off === null) return null;
    // A row value, which SQLite takes as a range of objects_reach (an OR of the two cases was a scan).
    const pos = [prev.last_seg, prev.last_off];
    const added = this.host.sql.exec<{ n: number }>(`SELECT count(*) AS n FROM objects WHERE reach = 1 AND (segment, rec_offset) > (?, ?)`, ...pos).one().n;
    if (prev.marked + added !== end.marked) return null;
    const old = this.storedReachPlan(prev.version, blobs);
    if (old === null) return null;
    const seqOf = new Map([...names].map(([seq, name]) => [name, seq]));
    const keys = old.segmentNames.map((name) => seqOf.get(name));
    if (keys.some((k) => k === undefined)) return null;
    return { b: ReachPlanBuilder.extending(old, keys as number[], added), pos };
  }

  private segmentNames(): Map<number, string> {
    const names = new Map<number, string>();
    for (const r of this.host.sql.exec<{ seq: number; name: string }>(`SELECT seq, name FROM segments`)) names.set(r.seq, r.name);
    return names;
  }

  /**
   * Adds the rows of V matching `where` (and `blobs`) past `after` (the values of `order`'s columns
   * the last slice ended on), at most `limit` of them in `order`; where the next slice starts, or
   * null when no rows are left.
   */
  private addPlanRows(b: ReachPlanBuilder, names: Map<number, string>, blobs: boolean, where: string, after: unknown[], order: 'id' | 'segment, rec_offset', limit: number): unknown[] | null {
    // Rows as arrays (raw): objects with named fields cost more than the query on 300k rows.
    // Bases are resolved against the plan's ids by the builder: a join here cost a random primary-key
    // lookup per row (half of a 300k-object plan's time).
    type PlanRaw = [string, string, number, number, number, number, string, number | null, string | null];
    const rows = this.host.sql
      .exec(
        `SELECT id, kind, size, segment, rec_offset, rec_length, format, rec_size, base FROM objects
          WHERE ${where} AND kind != 'artifact' ${blobs ? '' : `AND kind != 'blob'`}
          ORDER BY ${order} LIMIT ?`,
        ...after,
        Number.isFinite(limit) ? limit : -1,
      )
      .raw() as IterableIterator<PlanRaw>;
    let last: PlanRaw | undefined;
    let n = 0;
    for (const row of rows) {
      const [id, kind, size, seq, offset, length, format, recordSize, base] = row;
      b.add({
        id,
        kind: kind as ObjectKind,
        size,
        segKey: seq,
        segment: names.get(seq)!,
        offset,
        length,
        format: format as RecordFormat,
        recordSize,
        baseAt: null,
        baseId: base,
      });
      last = row;
      n++;
    }
    if (last === undefined || n < limit) return null;
    return order === 'id' ? [last[0]] : [last[3], last[4]];
  }

  private depthOf(id: ObjectId): number | null {
    return this.host.sql.exec<{ depth: number }>(`SELECT depth FROM objects WHERE id = ?`, id).toArray()[0]?.depth ?? null;
  }

  private applyRefs(writes: RefUpdate[]): void {
    if (writes.length > 0) this.refsVersion++; // see refsTransaction
    for (const w of writes) this.refWrites.push(w);
    for (const w of writes) {
      if (w.new === null) this.host.sql.exec(`DELETE FROM refs WHERE name = ?`, w.name);
      else this.host.sql.exec(`INSERT INTO refs (name, id) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET id = excluded.id`, w.name, w.new);
    }
  }
}
