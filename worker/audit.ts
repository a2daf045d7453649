/**
 * The audit log of pushes, in D1 (table push_events): who moved which git ref
 * from which id to which, who pushed how many fossil artifacts (and which new
 * check-ins), and when. The repository's Durable Object writes it right after
 * a push commits (it has the DB binding too), so the Worker need not read the
 * push's answer back; a failure to log is reported and does not undo the
 * push, which is already visible.
 */
import { and, desc, eq, lt } from 'drizzle-orm';
import { drizzle } from 'drizzle-orm/d1';
import { pushEvents } from './storage-d1/schema.js';

/** One applied ref update (null ids: created / deleted). */
export interface AppliedUpdate {
  ref: string;
  oldId: string | null;
  newId: string | null;
}

/** D1 binds at most 100 parameters per statement; drizzle binds 7 a row here (kind's default is one). */
const ROWS_PER_INSERT = 14;

/** Records the updates one push applied. */
export async function recordPush(db: D1Database, repoId: string, actor: string | null, updates: AppliedUpdate[], at = Date.now()): Promise<void> {
  if (updates.length === 0) return;
  const d = drizzle(db);
  const rows = updates.map((u) => ({ repoId, actor, ref: u.ref, oldId: u.oldId, newId: u.newId, at }));
  const statements = [];
  for (let i = 0; i < rows.length; i += ROWS_PER_INSERT) statements.push(d.insert(pushEvents).values(rows.slice(i, i + ROWS_PER_INSERT)));
  await d.batch(statements as [(typeof statements)[0], ...typeof statements]);
}

/** New check-ins kept per fossil event (a bound on the row; the artifact count says how much came). */
export const MAX_EVENT_CHECKINS = 100;

/**
 * Records one fossil sync round that stored artifacts: `artifacts` file cards
 * received, `checkins` the new check-ins among them. A fossil push takes one
 * or more rounds, so a large push is several events.
 */
export async function recordFossilPush(db: D1Database, repoId: string, actor: string | null, artifacts: number, checkins: string[], at = Date.now()): Promise<void> {
  const list = checkins.slice(0, MAX_EVENT_CHECKINS).join(' ');
  await drizzle(db).insert(pushEvents).values({ repoId, actor, kind: 'fossil', artifacts, checkins: list, at });
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
