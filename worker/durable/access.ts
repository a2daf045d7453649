/**
 * The repository's existence and visibility, as its Durable Object answers
 * them for requests the Worker routed without reading D1 (auth.ts
 * `cachedRepo`: the Worker remembers only name -> immutable id and kind).
 *
 * The DO is the one instance of its repository, so a copy of the D1 row kept
 * here can be made exact by telling this instance: the API's visibility
 * change and delete call `forget` / `destroy` after writing D1, and the next
 * request reads D1 again. A copy is also read again after REVALIDATE_MS, which
 * bounds how long a missed call (the API's call to the DO failed, or someone
 * edited D1 by hand) leaves anonymous reads on the old visibility. Roles,
 * passwords and tokens are never kept: they are read from D1 per request.
 */

/** How long a copy of the D1 row serves before it is read again. */
export const REVALIDATE_MS = 60_000;

/** What the DO knows of its repository: gone (no D1 row has its id), or its name and visibility. */
export type RepoAccess = { gone: true } | { gone: false; name: string; public: boolean };

/** The header the Worker sets when it routed on its cache: what the DO must check (see RepoAccessCache.refusal). */
export const CACHED_ACCESS_HEADER = 'x-hub-cached-access';

/** The header of the DO's refusal: `gone` (the Worker drops its cache entry) or `private` (anonymous callers get 401). */
export const REFUSED_HEADER = 'x-hub-refused';

/** The DO's refusal of a request routed on a stale or insufficient cache entry. */
export function refusedResponse(why: 'gone' | 'private'): Response {
  return new Response(`repository ${why === 'gone' ? 'not found' : 'is private'}\n`, { status: 404, headers: { [REFUSED_HEADER]: why } });
}

/** The D1 row of the repository with this id, as the DO reads it. */
function readRow(db: D1Database, repoId: string): Promise<{ name: string; public: number } | null> {
  return db.prepare('SELECT name, public FROM repos WHERE id = ?').bind(repoId).first<{ name: string; public: number }>();
}

/** One DO instance's copy of its repository's D1 row (in memory only: a new instance reads D1 once). */
export class RepoAccessCache {
  private copy: { access: RepoAccess; at: number } | null = null;
  /** Bumped by forget: a D1 read that started before it is not kept (it may predate the change). */
  private generation = 0;

  constructor(private readonly db: D1Database) {}

  /** The repository's access facts, read from D1 when there is no copy younger than REVALIDATE_MS. */
  async current(repoId: string, now = Date.now()): Promise<RepoAccess> {
    if (this.copy !== null && now - this.copy.at < REVALIDATE_MS) return this.copy.access;
    const generation = this.generation;
    const row = await readRow(this.db, repoId);
    const access: RepoAccess = row ? { gone: false, name: row.name, public: row.public !== 0 } : { gone: true };
    // Gone is not kept: only the API's delete makes it final (destroy), so a D1 read that lags a creation cannot.
    if (generation === this.generation && !access.gone) this.copy = { access, at: now };
    return access;
  }

  /** Drops the copy (the API changed the row): the next request reads D1. */
  forget(): void {
    this.generation++;
    this.copy = null;
  }

  /** The repository was deleted: gone from now on for this instance (ids are never reused). */
  destroyed(): void {
    this.generation++;
    this.copy = { access: { gone: true }, at: Number.POSITIVE_INFINITY };
  }

  /**
   * Whether a request the Worker routed on its cache may go on: `anonymous`
   * asks for public read. The refusal, or null (with the facts) to go on.
   */
  async check(repoId: string, checking: string): Promise<{ refused: Response } | { refused: null; access: RepoAccess & { gone: false } }> {
    const access = await this.current(repoId);
    if (access.gone) return { refused: refusedResponse('gone') };
    if (checking === 'anonymous' && !access.public) return { refused: refusedResponse('private') };
    return { refused: null, access };
  }
}
