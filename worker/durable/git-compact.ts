/**
 * Compaction of a git repository's small segments. Each push writes at least
 * one segment, so a repository built by many small pushes ends with one small
 * segment per push, and a full clone reads each with its own R2 get (a
 * subrequest: 1000 per request on the paid plan, 50 on the free one). Like
 * `git gc --auto` once gc.autoPackLimit packs exist, when more than
 * COMPACT_AFTER segments hold under SMALL_SEGMENT_BYTES of live records each,
 * their records are copied, byte for byte and in storage order (the order a
 * full clone sends and reads them in), into segments of about twice that
 * (shared/storage/compact.ts, fossil's compaction's copy; a clone reads one
 * with one forward request), and the index rows are pointed at the copies.
 *
 * Concurrency: git requests are not queued in the DO, so a clone, fetch or
 * push runs between compaction's steps and batches (every R2 await lets them
 * in). What they can see: a row moves in one SQLite transaction (SWAP_ROWS
 * rows each, a few ms), from its old record to a finished copy of it, so any
 * location read is valid before and after. Kept reach plans (repo-store.ts)
 * name locations, so each batch drops them (and the store's cached one) in
 * the same transaction; a clone already streaming holds its plan, and reads
 * the old segments, which stay in R2: compaction deletes only `segments`
 * rows, and the segment collector (segment-gc.ts) deletes an R2 segment only
 * once it has seen it unreferenced for GC_TIMES.graceMs (an hour), as it does
 * for fossil's compaction.
 *
 * Crash safety: the job (the source segments, table git_compact) is in
 * SQLite, and a step selects what is still in them, so a restart redoes the
 * step it was in. A copy whose rows were not yet moved is an orphan segment
 * the collector deletes; one moved in part is a valid segment of which some
 * records are live.
 *
 * It runs in the DO's alarm (repo.ts), armed after each push's ref update.
 */
import { COMPACT_BYTES, copyRecords } from '../../shared/storage/compact.js';
import type { RangeRequest } from '../../shared/storage/range-prefetch.js';
import type { SegmentCreator, SegmentReader } from '../../shared/storage/segments.js';
import type { SqlHost } from './repo-store.js';

/** A segment with fewer live record bytes than this is small (its records are copied together with others'). */
export const SMALL_SEGMENT_BYTES = COMPACT_BYTES;
/** Compaction starts when more small segments than this exist (a clone makes about one R2 get per segment; the free plan allows 50 subrequests). */
export const COMPACT_AFTER = 32;
/** COMPACT_AFTER as configured (HUB_GIT_COMPACT_AFTER), or the default when unset or not a non-negative integer. */
export function compactAfter(value: string | undefined): number {
  const n = Number(value);
  return value !== undefined && value !== '' && Number.isSafeInteger(n) && n >= 0 ? n : COMPACT_AFTER;
}
/** Rows one step copies at most (with COMPACT_BYTES: what one step holds of rows and records). */
const STEP_ROWS = 20_000;
/**
 * Source segments one alarm invocation reads (one R2 get each: their records lie together) before
 * it re-arms itself: with the step's puts and the collector's list, under the free plan's 50
 * subrequests per invocation.
 */
const MAX_READS = 32;
/** Rows moved per transaction: each is a few ms of synchronous SQL a request may wait behind. */
const SWAP_ROWS = 2000;
/** Wall time one alarm invocation works for before it re-arms itself. */
const ALARM_MS = 10_000;

export interface CompactOptions {
  smallBytes?: number;
  after?: number;
  /**
   * Bytes of records per new segment (default 2 x SMALL_SEGMENT_BYTES: every record copied is
   * smaller than a small segment, so each new segment but a job's last ends up not small).
   */
  stepBytes?: number;
  /** Rows per index transaction (default SWAP_ROWS). */
  swapRows?: number;
  /** Source segments read per run (default MAX_READS). */
  maxReads?: number;
}

/** What the index side needs beyond SQL: forgetting kept reach plans, whose locations a move made stale (SqlRepoStore.forgetReachPlans). */
export interface CompactHost extends SqlHost {
  forgetReachPlans(): void;
}

function ensureTables(host: SqlHost): void {
  // Live record bytes of each segment with rows, counted once (a segment's rows come in one commit) and
  // the source segments of the compaction under way. Created here, not by a migration: git only, and rebuilt when lost.
  host.sql.exec(`CREATE TABLE IF NOT EXISTS git_segment_live (segment INTEGER PRIMARY KEY, live INTEGER NOT NULL)`);
  host.sql.exec(`CREATE TABLE IF NOT EXISTS git_compact (segment INTEGER PRIMARY KEY)`);
  // The segments the compaction under way wrote (never taken as sources or as a reason to stop).
  host.sql.exec(`CREATE TABLE IF NOT EXISTS git_compact_out (segment INTEGER PRIMARY KEY)`);
}

/**
 * The small segments a new job may take: those after the last segment that is
 * not small. Copies go after every segment, so a small segment older than a
 * large one stays where it is: the large one's deltas may have their bases
 * there, and a clone, which sends bases before their deltas in storage order,
 * would read back and forth between the two (a get each time).
 */
const TAIL = `FROM git_segment_live WHERE live < ?1 AND segment > (SELECT coalesce(max(segment), -1) FROM git_segment_live WHERE live >= ?1)`;

/**
 * Keeps a job in storage order as pushes come: a segment that is not small
 * (and not the job's own) newer than what the job has yet to move ends the job
 * (its deltas may have bases there); otherwise small segments newer than the
 * job's join it, so they are copied after what came before them.
 */
function followPushes(host: SqlHost, small: number): void {
  host.transactionSync(() => {
    const first = host.sql.exec<{ s: number | null }>(`SELECT min(segment) AS s FROM git_compact`).one().s;
    if (first === null) return;
    const large = host.sql
      .exec(`SELECT 1 FROM git_segment_live WHERE live >= ? AND segment > ? AND segment NOT IN (SELECT segment FROM git_compact_out) LIMIT 1`, small, first)
      .toArray();
    if (large.length > 0) {
      host.sql.exec(`DELETE FROM git_compact`);
      return;
    }
    host.sql.exec(
      `INSERT INTO git_compact (segment) SELECT segment FROM git_segment_live
        WHERE live < ? AND segment > (SELECT max(segment) FROM git_compact) AND segment NOT IN (SELECT segment FROM git_compact_out)`,
      small,
    );
  });
}

/** Rows of one segment counted at most: a segment with more is large whatever its bytes (and a large push's is not read whole, in the alarm, which requests wait behind). */
const COUNT_ROWS = 20_000;
/** The live bytes recorded for a segment of more than COUNT_ROWS rows. */
const MANY_ROWS = Number.MAX_SAFE_INTEGER;

/**
 * Counts the live bytes of segments not counted yet (those of pushes since
 * the last count: one index range per segment, at most COUNT_ROWS rows each).
 */
export function countSegments(host: SqlHost, countRows = COUNT_ROWS): void {
  ensureTables(host);
  host.sql.exec(
    `INSERT INTO git_segment_live (segment, live)
       SELECT seq, live FROM (
         SELECT s.seq, (SELECT CASE WHEN count(*) >= ?1 THEN ?2 ELSE sum(rec_length) END
                          FROM (SELECT o.rec_length FROM objects o WHERE o.segment = s.seq LIMIT ?1)) AS live
           FROM segments s WHERE s.seq NOT IN (SELECT segment FROM git_segment_live)
       ) WHERE live IS NOT NULL`,
    countRows,
    MANY_ROWS,
  );
}

/** Whether a compaction is under way, or should start (more than `after` small segments). */
export function compactionDue(host: SqlHost, opts: CompactOptions = {}): boolean {
  ensureTables(host);
  if (host.sql.exec(`SELECT 1 FROM git_compact LIMIT 1`).toArray().length > 0) return true;
  const after = opts.after ?? COMPACT_AFTER;
  const small = host.sql.exec<{ n: number }>(`SELECT count(*) AS n FROM (SELECT 1 ${TAIL} LIMIT ?2)`, opts.smallBytes ?? SMALL_SEGMENT_BYTES, after + 1).one().n;
  return small > after;
}

/**
 * Whether a compaction could be due at all: more than `after` segments, or a job under way. Cheap
 * (no counting of live bytes, no tables created): a push checks it before arming the alarm, which
 * is a storage write (and a wait before the push's report) that most repositories never need.
 */
export function compactionPossible(host: SqlHost, after: number): boolean {
  if (host.sql.exec<{ n: number }>(`SELECT count(*) AS n FROM (SELECT 1 FROM segments LIMIT ?)`, after + 1).one().n > after) return true;
  if (host.sql.exec(`SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'git_compact'`).toArray().length === 0) return false;
  return host.sql.exec(`SELECT 1 FROM git_compact LIMIT 1`).toArray().length > 0;
}

export interface CompactResult {
  /** Rows pointed at copies. */
  moved: number;
  /** New segments written. */
  written: number;
  /** Range reads of source segments (R2 gets). */
  reads: number;
  /** Source segments emptied (their `segments` rows dropped; the collector deletes them from R2). */
  emptied: number;
  /** Work is left (the deadline came first). */
  more: boolean;
}

type StepRow = RangeRequest & { id: string; seq: number };

/**
 * The job's last copy when it is still small (a run stopped early, or the sources ran short): the
 * next step copies its records again, first, so copies fill up across runs instead of each run
 * leaving a small one.
 */
function smallLastCopy(host: SqlHost, small: number): number | null {
  const last = host.sql.exec<{ s: number | null }>(`SELECT max(segment) AS s FROM git_compact_out o WHERE EXISTS (SELECT 1 FROM objects WHERE segment = o.segment)`).one().s;
  if (last === null) return null;
  const live = host.sql.exec<{ n: number | null }>(`SELECT sum(rec_length) AS n FROM objects WHERE segment = ?`, last).one().n ?? 0;
  return live < small ? last : null;
}

/**
 * The next step's rows: those of `lead` (the job's last copy, when small), then the job's segments
 * in order, each in offset order, up to stepBytes; none when the job's segments have none left.
 */
function stepRows(host: SqlHost, stepBytes: number, maxSegments: number, lead: number | null): StepRow[] {
  const rows: StepRow[] = [];
  let bytes = 0;
  const sources = host.sql.exec<{ segment: number }>(`SELECT segment FROM git_compact ORDER BY segment LIMIT ?`, maxSegments).toArray();
  if (lead !== null) sources.unshift({ segment: lead });
  // The last copy is not copied again alone (nothing of the job's left, or it fills the step).
  const done = () => (rows.some((r) => r.seq !== lead) ? rows : lead !== null ? stepRows(host, stepBytes, maxSegments, null) : []);
  for (const { segment: seq } of sources) {
    const name = host.sql.exec<{ name: string }>(`SELECT name FROM segments WHERE seq = ?`, seq).toArray()[0]?.name;
    if (name === undefined) continue;
    const page = host.sql
      .exec(`SELECT id, rec_offset, rec_length FROM objects WHERE segment = ? ORDER BY rec_offset LIMIT ?`, seq, STEP_ROWS - rows.length)
      .raw() as IterableIterator<[string, number, number]>;
    for (const [id, offset, length] of page) {
      if (rows.length > 0 && bytes + length > stepBytes) return done();
      rows.push({ id, seq, segment: name, offset, length });
      bytes += length;
    }
    if (rows.length >= STEP_ROWS) break;
  }
  return done();
}

/** Drops the job's segments (and copies copied again) no row names any more: their `segments` rows, counts and job rows. */
function dropEmptied(host: SqlHost): number {
  // push_stage has no index on segment: one scan for the whole job, not one per segment.
  const empty = `SELECT c.segment FROM (SELECT segment FROM git_compact UNION SELECT segment FROM git_compact_out) c
     WHERE NOT EXISTS (SELECT 1 FROM objects o WHERE o.segment = c.segment) AND c.segment NOT IN (SELECT segment FROM push_stage)`;
  return host.transactionSync(() => {
    const seqs = host.sql.exec<{ segment: number }>(empty).toArray().map((r) => r.segment);
    if (seqs.length === 0) return 0;
    const list = JSON.stringify(seqs);
    host.sql.exec(`DELETE FROM segments WHERE seq IN (SELECT value FROM json_each(?))`, list);
    host.sql.exec(`DELETE FROM git_segment_live WHERE segment IN (SELECT value FROM json_each(?))`, list);
    host.sql.exec(`DELETE FROM git_compact WHERE segment IN (SELECT value FROM json_each(?))`, list);
    host.sql.exec(`DELETE FROM git_compact_out WHERE segment IN (SELECT value FROM json_each(?))`, list);
    return seqs.length;
  });
}

/**
 * Compacts for about `budgetMs`: starts a job when one is due, then copies
 * step by step and moves the rows. A step that fails (an R2 error) throws;
 * nothing stored changed but perhaps some of its rows moved, and the job stays
 * for the next run.
 */
export async function compactGit(
  host: CompactHost,
  segments: SegmentCreator & SegmentReader,
  opts: CompactOptions = {},
  budgetMs = ALARM_MS,
  now: () => number = Date.now,
): Promise<CompactResult> {
  const deadline = now() + budgetMs;
  const result: CompactResult = { moved: 0, written: 0, reads: 0, emptied: 0, more: false };
  // One run per repository at a time (the alarm's; a second would copy the same records again).
  if (running.has(host.sql)) return result;
  running.add(host.sql);
  try {
    return await compactRuns(host, segments, opts, deadline, now, result);
  } finally {
    running.delete(host.sql);
  }
}

/** The SQL storage of repositories a run is compacting. */
const running = new WeakSet<object>();

async function compactRuns(
  host: CompactHost,
  segments: SegmentCreator & SegmentReader,
  opts: CompactOptions,
  deadline: number,
  now: () => number,
  result: CompactResult,
): Promise<CompactResult> {
  countSegments(host);
  if (!compactionDue(host, opts)) return result;
  const small = opts.smallBytes ?? SMALL_SEGMENT_BYTES;
  host.transactionSync(() => {
    if (host.sql.exec(`SELECT 1 FROM git_compact LIMIT 1`).toArray().length > 0) return;
    host.sql.exec(`DELETE FROM git_compact_out`);
    host.sql.exec(`INSERT INTO git_compact (segment) SELECT segment ${TAIL}`, small);
  });
  const swapRows = opts.swapRows ?? SWAP_ROWS;
  const maxReads = opts.maxReads ?? MAX_READS;
  for (let first = true; ; first = false) {
    if (!first) {
      countSegments(host);
      followPushes(host, small);
    }
    const lead = smallLastCopy(host, small);
    const rows = stepRows(host, opts.stepBytes ?? 2 * small, Math.max(1, maxReads - result.reads - (lead === null ? 0 : 1)), lead);
    if (rows.length === 0) {
      result.emptied += dropEmptied(host);
      // A source still named by a push's stage (none in practice) waits for the next job.
      host.transactionSync(() => host.sql.exec(`DELETE FROM git_compact`));
      return result;
    }
    const copy = await copyRecords(segments, rows);
    result.written++;
    result.reads += copy.reads;
    let moved = 0;
    for (let i = 0; i < rows.length; i += swapRows) {
      moved += host.transactionSync(() => {
        host.sql.exec(`INSERT INTO segments (name) VALUES (?) ON CONFLICT (name) DO NOTHING`, copy.segment);
        const seq = host.sql.exec<{ seq: number }>(`SELECT seq FROM segments WHERE name = ?`, copy.segment).one().seq;
        host.sql.exec(`INSERT INTO git_compact_out (segment) VALUES (?) ON CONFLICT DO NOTHING`, seq);
        const batch = rows.slice(i, i + swapRows).map((r, k) => [r.id, copy.locations[i + k].offset, r.seq, r.offset, r.length]);
        // Only rows still at the record copied (each row keeps its length: the copy is the same bytes).
        host.sql.exec(
          `UPDATE objects SET segment = ?, rec_offset = j.value ->> 1 FROM json_each(?) j
            WHERE objects.id = j.value ->> 0 AND objects.segment = j.value ->> 2 AND objects.rec_offset = j.value ->> 3 AND objects.rec_length = j.value ->> 4`,
          seq,
          JSON.stringify(batch),
        );
        const n = host.sql.exec<{ n: number }>(`SELECT changes() AS n`).one().n;
        host.forgetReachPlans();
        return n;
      });
      // Requests that came meanwhile go before the next batch.
      await new Promise((resolve) => setTimeout(resolve, 0));
    }
    result.moved += moved;
    result.emptied += dropEmptied(host);
    // Nothing moved: the rows changed under the step (they cannot in git today); stop rather than copy them forever.
    if (moved === 0) {
      host.transactionSync(() => host.sql.exec(`DELETE FROM git_compact`));
      return result;
    }
    if (now() >= deadline || result.reads >= maxReads) {
      result.more = true;
      return result;
    }
  }
}

/** Delay from a push's ref update to the alarm's check (pushes often come in bursts). */
export const COMPACT_DELAY_MS = 1000;

/**
 * The alarm's part: compacts for one invocation's budget when due. Returns
 * whether work is left (the caller re-arms the alarm). Never throws: an alarm
 * that throws is retried by the runtime, and compaction is only an
 * optimisation (a failed step left the job for the next run).
 */
export async function gitCompactAlarm(host: CompactHost, segmentsOf: (repoId: string) => SegmentCreator & SegmentReader, opts?: CompactOptions): Promise<boolean> {
  try {
    // The repository id the segment collector keeps (noteGcRepo): the alarm has no request to read it from.
    const repoId = host.sql.exec<{ repo: string }>(`SELECT repo FROM segment_gc`).toArray()[0]?.repo;
    if (repoId === undefined) return false;
    return (await compactGit(host, segmentsOf(repoId), opts)).more;
  } catch (e) {
    console.error('git compaction failed', e);
    return false;
  }
}
