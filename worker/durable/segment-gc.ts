/**
 * Garbage collection of a repository's R2 segments that no index row names
 * any more: those of failed or refused pushes (written before the refs move),
 * and those fossil's repack and compaction copied records out of.
 *
 * Two safety margins, because a segment can be in use with no committed row
 * naming it: a push in flight writes segments before its rows commit, and a
 * clone in flight may still read a segment its rows were just relocated away
 * from. (1) A segment uploaded less than MIN_AGE_MS ago is never touched.
 * (2) Two phases: a pass records each unreferenced segment in dead_segments
 * with the time first seen; a later pass deletes only those seen dead at
 * least GRACE_MS earlier and still unreferenced now (a segment referenced
 * again loses its record).
 *
 * It runs from the DO's alarm (repo.ts), at most once per INTERVAL_MS, and
 * lists R2 page by page: one SQL query per page finds the referenced ones.
 */
import type { SqlHost } from './repo-store.js';

export interface GcTimes {
  /** Segments uploaded more recently than this are kept. */
  minAgeMs: number;
  /** A segment is deleted only once it has been seen unreferenced for this long. */
  graceMs: number;
}

export const GC_TIMES: GcTimes = { minAgeMs: 24 * 3600_000, graceMs: 3600_000 };
/** Least time between two passes over one repository. */
export const GC_INTERVAL_MS = 6 * 3600_000;

/** Tables naming a segment (by its seq in `segments`) with no index on it; the fossil ones only in fossil repositories. */
const GIT_UNINDEXED = ['push_stage'];
const FOSSIL_UNINDEXED = ['fossil_blob', 'fossil_pending', 'fossil_unversioned'];

export interface GcResult {
  listed: number;
  /** Newly recorded as dead by this pass. */
  recorded: number;
  deleted: number;
}

/**
 * The names of `names` that some row refers to, in one query: objects through
 * its segment index (one seek per name), the tables without one in a single
 * scan each for the whole page.
 */
function referenced(host: SqlHost, names: string[], fossil: boolean): Set<string> {
  if (names.length === 0) return new Set();
  const tables = fossil ? [...GIT_UNINDEXED, ...FOSSIL_UNINDEXED] : GIT_UNINDEXED;
  const scans = tables.map((t) => `SELECT segment FROM ${t} WHERE segment IN (SELECT seq FROM named)`).join(' UNION ');
  const rows = host.sql
    .exec<{ name: string }>(
      `WITH named AS MATERIALIZED (SELECT seq, name FROM segments WHERE name IN (SELECT value FROM json_each(?)))
       SELECT name FROM named n WHERE EXISTS (SELECT 1 FROM objects o WHERE o.segment = n.seq) OR n.seq IN (${scans})`,
      JSON.stringify(names),
    )
    .toArray();
  return new Set(rows.map((r) => r.name));
}

function hasFossilTables(host: SqlHost): boolean {
  return host.sql.exec(`SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'fossil_blob'`).toArray().length > 0;
}

/**
 * One pass over the repository's segments under `prefix` (R2SegmentStore's
 * `repos/<id>/segments/`): records the unreferenced, deletes those recorded
 * long enough ago and still unreferenced, forgets records of referenced or
 * vanished segments.
 */
export async function collectSegments(host: SqlHost, bucket: R2Bucket, prefix: string, times: GcTimes = GC_TIMES, now = Date.now(), pageSize = 1000): Promise<GcResult> {
  const fossil = hasFossilTables(host);
  const result: GcResult = { listed: 0, recorded: 0, deleted: 0 };
  const seen = new Set<string>();
  // Names recorded by this pass: their other pieces wait for the next one too.
  const recordedNow = new Set<string>();
  let cursor: string | undefined;
  do {
    const page = await bucket.list({ prefix, cursor, limit: pageSize });
    cursor = page.truncated ? page.cursor : undefined;
    // A segment's pieces (`<segment>/<n>`, worker/storage-r2/segments.ts) live and die with it.
    const nameOf = (key: string) => key.slice(prefix.length).split('/', 1)[0];
    const names = page.objects.map((o) => nameOf(o.key));
    result.listed += names.length;
    const live = referenced(host, names, fossil);
    const doomed: string[] = [];
    host.transactionSync(() => {
      for (const o of page.objects) {
        const name = nameOf(o.key);
        seen.add(name);
        if (live.has(name)) {
          host.sql.exec(`DELETE FROM dead_segments WHERE segment = ?`, name);
          continue;
        }
        if (now - o.uploaded.getTime() < times.minAgeMs) continue;
        const since = host.sql.exec<{ since: number }>(`SELECT since FROM dead_segments WHERE segment = ?`, name).toArray()[0]?.since;
        if (since === undefined) {
          host.sql.exec(`INSERT INTO dead_segments (segment, since) VALUES (?, ?)`, name, now);
          result.recorded++;
          recordedNow.add(name);
        } else if (now - since >= times.graceMs && !recordedNow.has(name)) doomed.push(o.key);
      }
    });
    if (doomed.length > 0) {
      // Checked unreferenced in this same synchronous step, so no request ran in between.
      await bucket.delete(doomed);
      host.transactionSync(() => {
        for (const key of doomed) host.sql.exec(`DELETE FROM dead_segments WHERE segment = ?`, nameOf(key));
      });
      result.deleted += doomed.length;
    }
  } while (cursor !== undefined);
  // Records of segments no longer in R2 (deleted, or the repository emptied) are dropped.
  for (const r of host.sql.exec<{ segment: string }>(`SELECT segment FROM dead_segments`).toArray()) {
    if (!seen.has(r.segment)) host.sql.exec(`DELETE FROM dead_segments WHERE segment = ?`, r.segment);
  }
  return result;
}

/** The repository's id and the time of its last pass (null before the first request recorded the id). */
function gcState(host: SqlHost): { repo: string; last: number } | null {
  return host.sql.exec<{ repo: string; last: number }>(`SELECT repo, last FROM segment_gc`).toArray()[0] ?? null;
}

/** Remembers the repository id for the alarm (which has no request to read it from); returns when the next pass is due. */
export function noteGcRepo(host: SqlHost, repoId: string, interval = GC_INTERVAL_MS, now = Date.now()): number {
  const s = gcState(host);
  if (s === null || s.repo !== repoId) {
    host.transactionSync(() => {
      host.sql.exec(`DELETE FROM segment_gc`);
      // A new repository waits one interval before its first pass.
      host.sql.exec(`INSERT INTO segment_gc (repo, last) VALUES (?, ?)`, repoId, s?.last ?? now);
    });
  }
  return (s?.last ?? now) + interval;
}

/**
 * Runs a pass if one is due; returns when the alarm should come back for the
 * next (null: nothing waits, the next request arms it). Never throws: a
 * failed pass is logged and tried again an interval later.
 */
export async function segmentGcAlarm(host: SqlHost, bucket: R2Bucket, prefixOf: (repoId: string) => string, interval = GC_INTERVAL_MS, times: GcTimes = GC_TIMES): Promise<number | null> {
  const s = gcState(host);
  if (s === null) return null;
  const now = Date.now();
  if (now < s.last + interval) return s.last + interval;
  host.sql.exec(`UPDATE segment_gc SET last = ?`, now);
  try {
    await collectSegments(host, bucket, prefixOf(s.repo), times, now);
  } catch (e) {
    console.error('segment gc failed', e);
  }
  // Recorded segments wait for a second pass; otherwise the next request arms the alarm again.
  const pending = host.sql.exec(`SELECT 1 FROM dead_segments LIMIT 1`).toArray().length > 0;
  return pending ? now + interval : null;
}
