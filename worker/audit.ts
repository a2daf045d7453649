/**
 * The audit log of pushes, in D1 (table push_events): who moved which git ref
 * from which id to which, who pushed how many fossil artifacts (and which new
 * check-ins), and when. The repository's Durable Object writes each event to
 * its outbox in the push's own commit (durable/push-outbox.ts) and sends it
 * here after the reply: a push that happened is never missing from the log,
 * and git's or fossil's answer never waits for D1.
 */
import { and, desc, eq, lt } from 'drizzle-orm';
import { drizzle } from 'drizzle-orm/d1';
import { pushEvents } from './storage-d1/schema.js';

/** One event as the outbox keeps it: a git ref update (kind git) or a fossil sync round that stored artifacts. */
export interface PushEvent {
  /** Its seq in the repository's outbox: with repoId, the event's key in D1. */
  outboxSeq: number;
  repoId: string;
  /** Who pushed: a user name, or null for the hub admin token. */
  actor: string | null;
  kind: 'git' | 'fossil';
  ref: string | null;
  oldId: string | null;
  newId: string | null;
  artifacts: number | null;
  /** The new check-ins, space-separated (at most MAX_EVENT_CHECKINS). */
  checkins: string | null;
  at: number;
}

/** New check-ins kept per fossil event (a bound on the row; the artifact count says how much came). */
export const MAX_EVENT_CHECKINS = 100;

/** D1 binds at most 100 parameters per statement; drizzle binds 10 a row here. */
const ROWS_PER_INSERT = 10;

/**
 * Logs `events` (in outbox order, which D1's seq keeps) in one D1 batch, all
 * or none. An event already logged (its outbox seq sent before, the outbox
 * row not yet deleted when the instance died) is skipped.
 */
export async function recordEvents(db: D1Database, events: PushEvent[]): Promise<void> {
  if (events.length === 0) return;
  const d = drizzle(db);
  const statements = [];
  for (let i = 0; i < events.length; i += ROWS_PER_INSERT) {
    statements.push(
      d
        .insert(pushEvents)
        .values(events.slice(i, i + ROWS_PER_INSERT))
        .onConflictDoNothing({ target: [pushEvents.repoId, pushEvents.outboxSeq] }),
    );
  }
  await d.batch(statements as [(typeof statements)[0], ...typeof statements]);
}

/** An event as the API shows it: a git ref update, or a fossil sync round that stored artifacts. */
export type EventView =
  | { id: number; type: 'push'; actor: string | null; ref: string; old: string | null; new: string | null; at: string }
  | { id: number; type: 'fossil-push'; actor: string | null; artifacts: number; checkins: string[]; at: string };

/** The newest events of a repository first, at most `limit`, older than event `before` when given. */
export async function listEvents(db: D1Database, repoId: string, limit: number, before?: number): Promise<EventView[]> {
  const where = before === undefined ? eq(pushEvents.repoId, repoId) : and(eq(pushEvents.repoId, repoId), lt(pushEvents.seq, before));
  const rows = await drizzle(db).select().from(pushEvents).where(where).orderBy(desc(pushEvents.seq)).limit(limit).all();
  return rows.map((r): EventView => {
    const at = new Date(r.at).toISOString();
    if (r.kind === 'fossil') {
      return { id: r.seq, type: 'fossil-push', actor: r.actor, artifacts: r.artifacts ?? 0, checkins: r.checkins ? r.checkins.split(' ') : [], at };
    }
    return { id: r.seq, type: 'push', actor: r.actor, ref: r.ref ?? '', old: r.oldId, new: r.newId, at };
  });
}
