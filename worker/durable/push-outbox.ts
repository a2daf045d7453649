/**
 * The audit log's outbox in the repository's Durable Object (table push_outbox,
 * repo-store.ts): a push's events are written in its own SQLite commit (git:
 * the ref update's transaction; fossil: the round's first commit, the event
 * open until the round ends and closes it with its check-ins), then sent to
 * D1's push_events (audit.ts) after the reply, and deleted only once D1 has
 * them. What D1 refused, or what an instance that died left behind, the DO's
 * alarm sends (repo.ts), backing off while D1 refuses (retryDelay). D1 skips
 * an event it already has (its outbox seq), so one sent again after a crash
 * is still logged once; sent in seq order, D1's seq (the events API's order)
 * follows the pushes'.
 */
import type { RefUpdate } from '../../shared/storage/refs.js';
import { MAX_EVENT_CHECKINS, recordEvents, type PushEvent } from '../audit.js';

/** Events sent per D1 batch (10 rows a statement: 20 statements). */
const SEND_BATCH = 200;

/** How long after a send D1 refused the alarm first tries again. */
export const OUTBOX_RETRY_MS = 60_000;

/** The longest wait between the alarm's tries. */
export const OUTBOX_RETRY_MAX_MS = 3_600_000;

/** The wait before the alarm's next try once `failed` of its tries in a row were refused: 1, 2, 4 ... 60 minutes. */
export function retryDelay(failed: number): number {
  return Math.min(OUTBOX_RETRY_MS * 2 ** Math.min(failed, 6), OUTBOX_RETRY_MAX_MS);
}

/**
 * The most JSON text one statement of addGitEvents binds: SQLite in a Durable Object refuses a string
 * over 2 MB (SQLITE_TOOBIG), and a mirror push of 40,001 refs makes ~2.8 MB.
 */
export const MAX_EVENTS_JSON = 1 << 20;

/** Adds the ref updates one git push applied; call inside the transaction that applied them. */
export function addGitEvents(sql: SqlStorage, repoId: string, actor: string | null, updates: RefUpdate[], at = Date.now()): void {
  // One statement per MAX_EVENTS_JSON of refs (a push of thousands of tags), in the push's order.
  let rows: string[] = [];
  let bytes = 0;
  const flush = () => {
    if (rows.length === 0) return;
    sql.exec(
      `INSERT INTO push_outbox (repo_id, actor, kind, ref, old_id, new_id, at)
       SELECT ?, ?, 'git', json_extract(value, '$[0]'), json_extract(value, '$[1]'), json_extract(value, '$[2]'), ? FROM json_each(?) ORDER BY key`,
      repoId,
      actor,
      at,
      `[${rows.join(',')}]`,
    );
    rows = [];
    bytes = 0;
  };
  for (const u of updates) {
    const row = JSON.stringify([u.name, u.old, u.new]);
    // UTF-16 length x3 bounds the UTF-8 bytes.
    if (bytes + row.length * 3 + 2 > MAX_EVENTS_JSON) flush();
    rows.push(row);
    bytes += row.length * 3 + 1;
  }
  flush();
}

/**
 * Adds one fossil sync round that stored artifacts: `artifacts` file cards
 * received, `checkins` the new check-ins among them (the first
 * MAX_EVENT_CHECKINS kept). A fossil push takes one or more rounds, so a large
 * push is several events.
 */
export function addFossilEvent(sql: SqlStorage, repoId: string, actor: string | null, artifacts: number, checkins: string[], at = Date.now()): void {
  const list = checkins.slice(0, MAX_EVENT_CHECKINS).join(' ');
  sql.exec(`INSERT INTO push_outbox (repo_id, actor, kind, artifacts, checkins, at) VALUES (?, ?, 'fossil', ?, ?, ?)`, repoId, actor, artifacts, list, at);
}

/**
 * Opens the event of a fossil round in the transaction of its first commit
 * (`artifacts`: what that commit stored); its seq. The round closes it
 * (closeFossilEvent); until then it and every later event wait.
 */
export function openFossilEvent(sql: SqlStorage, repoId: string, actor: string | null, artifacts: number, at = Date.now()): number {
  return sql
    .exec<{ seq: number }>(`INSERT INTO push_outbox (repo_id, actor, kind, artifacts, checkins, at, open) VALUES (?, ?, 'fossil', ?, '', ?, 1) RETURNING seq`, repoId, actor, artifacts, at)
    .one().seq;
}

/** Closes an open fossil event with what the round stored in all (see addFossilEvent). */
export function closeFossilEvent(sql: SqlStorage, seq: number, artifacts: number, checkins: string[]): void {
  sql.exec(`UPDATE push_outbox SET artifacts = ?, checkins = ?, open = 0 WHERE seq = ?`, artifacts, checkins.slice(0, MAX_EVENT_CHECKINS).join(' '), seq);
}

/** Closes events as they are: their round ended without closing them (it failed, or its instance died). */
export function closeOpenEvents(sql: SqlStorage): void {
  sql.exec(`UPDATE push_outbox SET open = 0 WHERE open = 1`);
}

/** Whether events wait in the outbox, ready to send. */
export function hasEvents(sql: SqlStorage): boolean {
  return sql.exec(`SELECT 1 FROM push_outbox WHERE open = 0 LIMIT 1`).toArray().length > 0;
}

/** Every event waiting (open ones closed as they are), to be written back by keepEvents: a deleted repository's storage goes, its log stays. */
export function takeEvents(sql: SqlStorage): OutboxRow[] {
  return sql.exec<OutboxRow>(`SELECT seq, repo_id, actor, kind, ref, old_id, new_id, artifacts, checkins, at FROM push_outbox ORDER BY seq`).toArray();
}

/** Writes back what takeEvents took (same seqs: D1 keys events on them). */
export function keepEvents(sql: SqlStorage, rows: OutboxRow[]): void {
  for (const r of rows) {
    sql.exec(
      `INSERT INTO push_outbox (seq, repo_id, actor, kind, ref, old_id, new_id, artifacts, checkins, at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      r.seq,
      r.repo_id,
      r.actor,
      r.kind,
      r.ref,
      r.old_id,
      r.new_id,
      r.artifacts,
      r.checkins,
      r.at,
    );
  }
}

export type OutboxRow = {
  seq: number;
  repo_id: string;
  actor: string | null;
  kind: 'git' | 'fossil';
  ref: string | null;
  old_id: string | null;
  new_id: string | null;
  artifacts: number | null;
  checkins: string | null;
  at: number;
};

/**
 * Sends every waiting event to D1, oldest first, SEND_BATCH at a time, each
 * batch deleted once D1 accepted it; none from the first open one on (a
 * fossil round under way), so D1's order stays the pushes'. Throws what D1
 * threw: the events not sent stay. Callers run one send at a time (repo.ts),
 * so no two send the same rows.
 */
export async function sendEvents(sql: SqlStorage, db: D1Database): Promise<void> {
  for (;;) {
    const rows = sql
      .exec<OutboxRow>(
        `SELECT seq, repo_id, actor, kind, ref, old_id, new_id, artifacts, checkins, at FROM push_outbox
         WHERE seq < coalesce((SELECT min(seq) FROM push_outbox WHERE open = 1), 9e18) ORDER BY seq LIMIT ?`,
        SEND_BATCH,
      )
      .toArray();
    if (rows.length === 0) return;
    await recordEvents(db, rows.map(toEvent));
    sql.exec(`DELETE FROM push_outbox WHERE seq <= ?`, rows[rows.length - 1].seq);
  }
}

function toEvent(r: OutboxRow): PushEvent {
  return {
    outboxSeq: r.seq,
    repoId: r.repo_id,
    actor: r.actor,
    kind: r.kind,
    ref: r.ref,
    oldId: r.old_id,
    newId: r.new_id,
    artifacts: r.artifacts,
    checkins: r.checkins,
    at: r.at,
  };
}
