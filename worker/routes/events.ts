/**
 * A repository's audit log (worker/audit.ts), newest first, for its readers: `?limit=` (1-1000,
 * default 100), `?before=ID` to page. The repository's Durable Object first sends what its outbox
 * holds (durable/push-outbox.ts), so every push that was answered is listed.
 */
import { Hono } from 'hono';
import { listEvents } from '../audit.js';
import { fail, repoFor, type ApiEnv } from './api-common.js';

export const eventsApi = new Hono<ApiEnv>();

/** A decimal query parameter in [min, max], the default when absent, or null when malformed. */
function intParam(v: string | undefined, min: number, max: number, fallback: number | undefined): number | undefined | null {
  if (v === undefined) return fallback;
  if (!/^\d{1,16}$/.test(v)) return null;
  const n = Number(v);
  return n >= min && n <= max ? n : null;
}

eventsApi.get('/repos/:name/events', async (c) => {
  const r = await repoFor(c, c.req.param('name'), 'read');
  if (r instanceof Response) return r;
  const limit = intParam(c.req.query('limit'), 1, 1000, 100);
  if (limit === null || limit === undefined) return fail(c, 400, 'limit must be an integer from 1 to 1000');
  const before = intParam(c.req.query('before'), 1, Number.MAX_SAFE_INTEGER, undefined);
  if (before === null) return fail(c, 400, 'before must be a positive integer (an event id)');
  // A failure here (the DO's or D1's) leaves the events where they are: what D1 has is listed.
  await c.env.REPO.get(c.env.REPO.idFromName(r.repo.id))
    .flushAudit()
    .catch((e) => console.error(`audit outbox not flushed: ${(e as Error).message}`));
  return c.json({ events: await listEvents(c.env.DB, r.repo.id, limit, before) });
});
