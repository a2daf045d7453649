/**
 * Repacking a Fossil repository into fossil's reverse deltas (shared/'s
 * deltify), driven from the crosslink tables: for each artifact past the
 * repack cursor (fossil_blob.seq), in the order it arrived, the pairs fossil's
 * manifest_crosslink would deltify: each parent manifest of a check-in
 * (plink) and each changed file's previous version (mlink) become deltas of
 * the newer one.
 *
 * It runs in the Durable Object's alarm, armed by each xfer request that left
 * work behind (scheduleRepack), so a push's rounds never carry it; the alarm
 * works in slices of about SLICE_MS, each in the repository's request queue
 * (no request sees a half-swapped chain, and a request waits for at most one
 * slice), and re-arms itself until the cursor has caught up. It gives way to
 * sync traffic: a slice starts only once QUIET_MS have passed since the last
 * request (else the alarm re-arms for then), so a push's rounds are not slowed
 * by it. A request never moves the alarm while its handler runs: workerd
 * cancels a running alarm handler whose alarm is rescheduled ("SQLite alarm
 * handler canceled with requestScheduledAlarm"), mid-slice. A clone that
 * comes while it runs gets the pushed (forward) deltas of what is not done
 * yet: correct, only less compact for the client. A failing step is logged
 * and skipped (its artifacts keep their pushed deltas): deltify swaps records
 * atomically (FossilStore.repoint), so a failure changes nothing stored.
 */
import { COMPACT_BYTES, compactRecords } from '../../shared/protocols/fossil/compact.js';
import { deltify, type DeltifyPair } from '../../shared/protocols/fossil/deltify.js';
import type { FossilRepo } from '../../shared/protocols/fossil/repo.js';
import type { FossilRow } from '../../shared/storage/fossil.js';
import type { SqlHost } from './repo-store.js';

/**
 * Artifacts past the cursor whose pairs one deltify call plans (a deadline
 * stops it between artifacts; what it planned is written, one segment a call,
 * and the next slice plans the step again).
 */
const STEP_ARTIFACTS = 100;
/** Wall time one slice works for (a request queued behind it waits at most about this). */
export const SLICE_MS = 100;
/** Wall time one alarm invocation works for before it re-arms itself. */
const ALARM_MS = 10_000;
/** Quiet time after a sync request before a slice starts: a push's rounds come back to back, so the repack waits for its end. */
export const QUIET_MS = 1000;
/**
 * Quiet time after which the push is surely over and what the host keeps for
 * its next round (the receive memo: up to 12 MiB of texts and deltas) is let
 * go: held on, it sat beside the repack's own caches and every later clone.
 */
export const RELEASE_MS = 5000;

/** Per repository (one Durable Object): whether its alarm runs, and when its last sync request ended. */
const states = new Map<string, { running: boolean; lastRequest: number }>();
const stateOf = (repoId: string) => {
  let s = states.get(repoId);
  if (!s) states.set(repoId, (s = { running: false, lastRequest: 0 }));
  return s;
};

/** What repacking needs of the DO's storage: SQL, and the alarm. */
export interface RepackHost extends SqlHost {
  setAlarm(scheduledTime: number | Date): Promise<void> | void;
}

/** The repack cursor: every artifact with seq <= it has been through deltify. */
function cursor(host: SqlHost): number {
  return host.sql.exec<{ cursor: number }>(`SELECT cursor FROM fossil_repack`).toArray()[0]?.cursor ?? 0;
}

function setCursor(host: SqlHost, seq: number): void {
  host.transactionSync(() => {
    host.sql.exec(`DELETE FROM fossil_repack`);
    host.sql.exec(`INSERT INTO fossil_repack (cursor) VALUES (?)`, seq);
  });
}

/** The compaction cursor: every artifact with seq <= it has been copied in seq order (never past the repack cursor). */
function compactCursor(host: SqlHost): number {
  return host.sql.exec<{ cursor: number }>(`SELECT cursor FROM fossil_compact`).toArray()[0]?.cursor ?? 0;
}

function setCompactCursor(host: SqlHost, seq: number): void {
  host.transactionSync(() => {
    host.sql.exec(`DELETE FROM fossil_compact`);
    host.sql.exec(`INSERT INTO fossil_compact (cursor) VALUES (?)`, seq);
  });
}

/** Whether artifacts past the cursors wait for repacking or compaction. */
export function repackDue(host: SqlHost): boolean {
  return host.sql.exec(`SELECT 1 FROM fossil_blob WHERE seq > ? LIMIT 1`, Math.min(cursor(host), compactCursor(host))).toArray().length > 0;
}

/** The pairs of the artifacts with from < seq <= to, in arrival order (a check-in's primary parent first). */
export function repackPairs(host: SqlHost, from: number, to: number): DeltifyPair[] {
  return host.sql
    .exec<{ group: number; target: string; source: string }>(
      `SELECT seq AS "group", target, source FROM (
         SELECT b.seq, 0 AS k, 1 - p.isprim AS o, p.pid AS target, p.cid AS source
           FROM fossil_blob b JOIN fossil_plink p ON p.cid = b.hash WHERE b.seq > ?1 AND b.seq <= ?2
         UNION ALL
         SELECT b.seq, 1, 0, m.pid, m.fid
           FROM fossil_blob b JOIN fossil_mlink m ON m.mid = b.hash
          WHERE b.seq > ?1 AND b.seq <= ?2 AND m.pid IS NOT NULL AND m.fid IS NOT NULL AND m.pid <> m.fid
       ) ORDER BY seq, k, o`,
      from,
      to,
    )
    .toArray();
}

export interface RepackResult {
  /** Artifacts the cursor moved past. */
  artifacts: number;
  deltified: number;
  /** Rows whose records were copied into clone order (compaction, once everything is deltified). */
  compacted: number;
  /** Work is left (the time ran out first). */
  more: boolean;
}

/**
 * Deltifies what arrived since the cursor for about `budgetMs` and moves the
 * cursor past the steps it finished (a step cut short is planned again by the next slice).
 */
export async function repackFossil(host: SqlHost, repo: FossilRepo, budgetMs = SLICE_MS, now: () => number = Date.now): Promise<RepackResult> {
  const deadline = now() + budgetMs;
  const start = cursor(host);
  let deltified = 0;
  for (;;) {
    const from = cursor(host);
    const last = host.sql
      .exec<{ to: number | null }>(`SELECT max(seq) AS "to" FROM (SELECT seq FROM fossil_blob WHERE seq > ? ORDER BY seq LIMIT ?)`, from, STEP_ARTIFACTS)
      .one().to;
    if (last === null) {
      const c = await compact(host, repo, deadline, now);
      return { artifacts: from - start, deltified, compacted: c.moved, more: c.more };
    }
    // A step cut short goes on with its older artifacts (deltify took the newest first).
    const resume = resumes.get(host);
    const to = resume !== undefined && resume.from === from && resume.to < last ? resume.to : last;
    resumes.delete(host);
    const pairs = repackPairs(host, from, to);
    let next = to;
    try {
      const r = pairs.length > 0 ? await deltify(repo, pairs, { deadline, now }) : { deltified: 0, handled: 0 };
      deltified += r.deltified;
      if (r.handled < pairs.length) {
        next = from;
        resumes.set(host, { from, to: pairs[pairs.length - r.handled - 1].group! });
      }
    } catch (e) {
      // Nothing stored changed (records swap atomically); these artifacts keep their pushed deltas.
      console.error(`fossil repack: step ${from + 1}..${to} skipped`, e);
    }
    setCursor(host, next);
    if (now() >= deadline) return { artifacts: next - start, deltified, compacted: 0, more: repackDue(host) };
  }
}

/**
 * Copies the records of the artifacts past the compaction cursor, COMPACT_BYTES
 * a step, into segments in seq order (shared/protocols/fossil/compact.ts), for
 * about as long as the deadline allows. Runs once deltify has caught up, so
 * what it copies is in its final form.
 */
async function compact(host: SqlHost, repo: FossilRepo, deadline: number, now: () => number): Promise<{ moved: number; more: boolean }> {
  let moved = 0;
  for (;;) {
    // At most COMPACT_BYTES (one record more only when it alone is larger), so a clone reads a segment as one range.
    const rows: FossilRow[] = [];
    let bytes = 0;
    let full = false;
    for (let seq = compactCursor(host) + 1; !full; ) {
      const page = await repo.store.listFrom(seq, COMPACT_PAGE);
      for (const r of page) {
        if ((full = rows.length > 0 && bytes + r.length > COMPACT_BYTES)) break;
        rows.push(r);
        bytes += r.length;
      }
      if (page.length < COMPACT_PAGE) break;
      seq = page[page.length - 1].seq + 1;
    }
    if (rows.length === 0) return { moved, more: false };
    try {
      moved += await compactRecords(repo, rows);
    } catch (e) {
      // Nothing stored changed (rows move only once their copies are written); they stay where they are.
      console.error(`fossil compaction: ${rows[0].seq}..${rows[rows.length - 1].seq} skipped`, e);
    }
    setCompactCursor(host, rows[rows.length - 1].seq);
    if (now() >= deadline) return { moved, more: repackDue(host) };
  }
}

/** Rows listed per store call while compacting. */
const COMPACT_PAGE = 512;

/**
 * Per DO storage: the artifacts (from, to] of a step that a slice cut short
 * still wait, its newer ones are done (kept in memory only: after a restart
 * the whole step is planned again, and the done pairs are skipped).
 */
const resumes = new WeakMap<object, { from: number; to: number }>();

/**
 * Per DO storage: the FossilRepo of an alarm that stopped only because its
 * time ran out, for the next one. deltify keeps its caches per FossilRepo
 * (texts and segment blocks, 16 MiB): one made per alarm left the last one's
 * as garbage every ALARM_MS, and V8 15.8 collects ArrayBuffers late (the
 * large bench repack's isolate peak 189-211 MiB there, 123 on V8 14.7). One
 * stopped by a request is let go: its caches would sit beside that request.
 */
const goingOn = new WeakMap<object, FossilRepo>();

/** Arms the repack alarm when work waits (called after each xfer request); a running alarm picks the work up itself. */
export async function scheduleRepack(host: RepackHost, repoId: string): Promise<void> {
  const s = stateOf(repoId);
  s.lastRequest = Date.now();
  if (s.running || !repackDue(host)) return;
  host.transactionSync(() => {
    host.sql.exec(`DELETE FROM fossil_repack_repo`);
    host.sql.exec(`INSERT INTO fossil_repack_repo (id) VALUES (?)`, repoId);
  });
  await host.setAlarm(Date.now() + QUIET_MS);
}

/**
 * The alarm: repack slices, each through `queue` (the repository's request
 * queue), until done, or until ALARM_MS have passed or a sync request came
 * within QUIET_MS (then it re-arms itself); `release` once RELEASE_MS have
 * passed since the last request (before each slice). Never throws: an alarm that throws
 * is retried by the runtime, and repacking is only an optimisation.
 */
export async function runRepackAlarm(
  host: RepackHost,
  repoOf: (repoId: string) => FossilRepo,
  queue: <T>(fn: () => Promise<T>) => Promise<T>,
  release?: () => void,
): Promise<void> {
  let s: ReturnType<typeof stateOf> | undefined;
  try {
    const repoId = host.sql.exec<{ id: string }>(`SELECT id FROM fossil_repack_repo`).toArray()[0]?.id;
    if (repoId === undefined) return;
    s = stateOf(repoId);
    s.running = true;
    const repo = goingOn.get(host) ?? repoOf(repoId);
    goingOn.delete(host);
    const end = Date.now() + ALARM_MS;
    for (;;) {
      const quietAt = s.lastRequest + QUIET_MS;
      if (Date.now() < quietAt || Date.now() >= end) {
        // Only the time ran out: the next alarm goes on with this repo (and deltify's caches of it).
        if (Date.now() >= quietAt) goingOn.set(host, repo);
        await host.setAlarm(Math.max(quietAt, Date.now()));
        return;
      }
      if (Date.now() - s.lastRequest >= RELEASE_MS) release?.();
      const r = await queue(() => repackFossil(host, repo));
      if (!r.more) return;
      // Let requests that arrived meanwhile (queued behind this slice) go before the next one.
      await new Promise((resolve) => setTimeout(resolve, 0));
    }
  } catch (e) {
    console.error('fossil repack alarm failed', e);
  } finally {
    if (s) s.running = false;
  }
}
