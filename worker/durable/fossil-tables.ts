/**
 * Fossil's crosslink tables in the repository Durable Object's SQLite: the
 * subset of fossil's schema (src/schema.c) a timeline, a branch list and a
 * check-in's change list need, filled from shared/core/fossil/crosslink.ts.
 *
 * Call contract (for the DO's fossil storage):
 *
 *     migrateFossilTables(ctx.storage.sql)          // at every start; idempotent
 *     // after a batch of artifacts is stored (committed), e.g. from the xfer
 *     // server's onArtifacts(received) hook:
 *     await crosslinkArtifacts(ctx.storage.sql, received, load);
 *     // (or, for a request's batches, one crosslinker(sql, load) called per batch)
 *     // which is, per artifact in order, with one source for the batches:
 *     //   applyCrosslink(sql, await crosslink(hash, artifact, crosslinkSource(sql, load)))
 *
 * Each applyCrosslink is synchronous SQL with no await inside, so it commits
 * as one implicit DO transaction; if a load fails midway, the artifacts
 * before it stay linked and crosslinking the rest again later completes the
 * tables (every step is idempotent).
 *
 * `load(hash)` answers a stored artifact parsed (parseArtifact), or null when
 * the repository lacks it. Crosslink each artifact after the rows of the
 * previous ones are applied (the source reads plink rows to find the
 * check-ins a new parent or baseline completes). Only structural artifacts
 * are crosslinked; plain files need no call. Re-applying an artifact is
 * harmless. Then `timeline`, `branches` and `checkinFiles` read the tables.
 *
 * Keys: artifact hashes (TEXT), not fossil_blob.seq. Rows name parents, files
 * and tag targets the repository may not hold yet (fossil makes phantom rids
 * for those); a hash needs no phantom registry and keeps these tables
 * independent of the storage's numbering. File names and tag names are
 * interned as in fossil (fossil_filename.fnid, fossil_tag.tagid), since they
 * repeat on every row. Column names follow schema.c; mlink's pid = -1
 * ("added by merge") is the separate column `mergeadd` because pid is a hash.
 *
 * What fossil has and these tables leave out: blob/delta (the storage's),
 * backlink, attachment, cherrypick, ticket/ticketchng, forumpost, orphan,
 * time-fudged mtimes; see crosslink.ts for the rows themselves.
 */
import type { Artifact } from '../../shared/core/fossil/artifact.js';
import { applyCrosslinkRows, type CrosslinkTables, type StoredEvent, type TagxrefRow } from '../../shared/core/fossil/crosslink-apply.js';
import {
  type ArtifactSource,
  crosslink,
  type CrosslinkRows,
  type EventType,
  type MlinkSet,
  type Mperm,
  type PlinkRow,
  type TagType,
} from '../../shared/core/fossil/crosslink.js';
import { FOSSIL_CONFIG_DDL } from './fossil-config.js';

/** A value SQLite binds or returns. */
export type SqlValue = string | number | null | ArrayBuffer;

/** The part of a Durable Object's `ctx.storage.sql` used here. */
export interface FossilSql {
  exec(query: string, ...bindings: SqlValue[]): { toArray(): Record<string, SqlValue>[] };
}

const DDL = [
  `CREATE TABLE IF NOT EXISTS fossil_filename (fnid INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE)`,
  `CREATE TABLE IF NOT EXISTS fossil_tag (tagid INTEGER PRIMARY KEY, tagname TEXT NOT NULL UNIQUE)`,
  // One row per event-bearing artifact; mtime is the effective time (a +date tag overrides omtime).
  `CREATE TABLE IF NOT EXISTS fossil_event (
     objid TEXT PRIMARY KEY,
     type TEXT NOT NULL,
     mtime REAL NOT NULL,
     tag TEXT,
     user TEXT,
     comment TEXT,
     euser TEXT,
     ecomment TEXT,
     bgcolor TEXT,
     omtime REAL NOT NULL
   ) WITHOUT ROWID`,
  `CREATE INDEX IF NOT EXISTS fossil_event_mtime ON fossil_event (mtime)`,
  `CREATE INDEX IF NOT EXISTS fossil_event_tag ON fossil_event (tag) WHERE tag IS NOT NULL`,
  `CREATE TABLE IF NOT EXISTS fossil_plink (
     pid TEXT NOT NULL,
     cid TEXT NOT NULL,
     isprim INTEGER NOT NULL,
     mtime REAL NOT NULL,
     baseid TEXT,
     PRIMARY KEY (pid, cid)
   ) WITHOUT ROWID`,
  `CREATE INDEX IF NOT EXISTS fossil_plink_cid ON fossil_plink (cid)`,
  `CREATE INDEX IF NOT EXISTS fossil_plink_baseid ON fossil_plink (baseid) WHERE baseid IS NOT NULL`,
  `CREATE TABLE IF NOT EXISTS fossil_mlink (
     mid TEXT NOT NULL,
     pmid TEXT,
     fid TEXT,
     pid TEXT,
     mergeadd INTEGER NOT NULL,
     fnid INTEGER NOT NULL REFERENCES fossil_filename (fnid),
     pfnid INTEGER REFERENCES fossil_filename (fnid),
     mperm INTEGER NOT NULL,
     isaux INTEGER NOT NULL
   )`,
  `CREATE INDEX IF NOT EXISTS fossil_mlink_mid ON fossil_mlink (mid)`,
  // A file's history (fossil's finfo) walks mlink by name.
  `CREATE INDEX IF NOT EXISTS fossil_mlink_fnid ON fossil_mlink (fnid)`,
  `CREATE TABLE IF NOT EXISTS fossil_tagxref (
     tagid INTEGER NOT NULL REFERENCES fossil_tag (tagid),
     rid TEXT NOT NULL,
     tagtype INTEGER NOT NULL,
     srcid TEXT,
     origid TEXT NOT NULL,
     value TEXT,
     mtime REAL NOT NULL,
     PRIMARY KEY (rid, tagid)
   ) WITHOUT ROWID`,
  `CREATE INDEX IF NOT EXISTS fossil_tagxref_tagid ON fossil_tagxref (tagid, mtime)`,
  `CREATE TABLE IF NOT EXISTS fossil_leaf (rid TEXT PRIMARY KEY) WITHOUT ROWID`,
];

/** Creates the crosslink tables and indexes when missing (idempotent; cheap to run at every start). */
export function migrateFossilTables(sql: FossilSql): void {
  for (const stmt of [...DDL, ...FOSSIL_CONFIG_DDL]) sql.exec(stmt);
}

/** Applies one artifact's crosslink rows, and what they imply (propagated tags, leaves, event overrides). */
export function applyCrosslink(sql: FossilSql, rows: CrosslinkRows): void {
  applyCrosslinkRows(new SqlCrosslinkTables(sql), rows);
}

/** An artifact just stored, parsed (the xfer server's ReceivedArtifact fits). */
export interface StoredArtifact {
  hash: string;
  artifact: Artifact;
}

/** Crosslinks a stored batch in order (one crosslinkSource for the batch). `load` reads any stored artifact. */
export async function crosslinkArtifacts(
  sql: FossilSql,
  artifacts: readonly StoredArtifact[],
  load: (hash: string) => Promise<Artifact | null>,
): Promise<void> {
  await crosslinker(sql, load)(artifacts);
}

/**
 * Crosslinks the stored batches of one sync request, one call per batch, with
 * one crosslinkSource for all of them: a push hands its check-ins on newest
 * first in batches of a few manifests, and the manifest crosslinked last in
 * one batch is the child of the next batch's first; a source per batch loaded
 * and parsed it again (482 of a large push's ~3,000 manifests).
 */
export function crosslinker(sql: FossilSql, load: (hash: string) => Promise<Artifact | null>): (artifacts: readonly StoredArtifact[]) => Promise<void> {
  const source = crosslinkSource(sql, load);
  return async (artifacts) => {
    const tables = new SqlCrosslinkTables(sql); // its name-id cache spans the batch
    for (const a of artifacts) applyCrosslinkRows(tables, await crosslink(a.hash, a.artifact, source));
  };
}

/** Parsed manifests a crosslinkSource keeps: a check-in's parent is usually the artifact crosslinked just before it. */
export const SOURCE_CACHE_SIZE = 16;

/**
 * The ArtifactSource crosslink needs: artifacts through `load`, links from
 * these tables. Make one per batch (one sync request): it keeps the last
 * SOURCE_CACHE_SIZE manifests crosslinked or loaded, so walking a history in
 * order loads each parent from storage at most once.
 */
export function crosslinkSource(sql: FossilSql, load: (hash: string) => Promise<Artifact | null>): ArtifactSource {
  const cache = new Map<string, Artifact>();
  const keep = (hash: string, a: Artifact) => {
    if (a.type !== 'manifest') return;
    cache.delete(hash);
    cache.set(hash, a);
    if (cache.size > SOURCE_CACHE_SIZE) cache.delete(cache.keys().next().value as string);
  };
  return {
    seen: keep,
    manifest: async (hash) => {
      const hit = cache.get(hash);
      if (hit !== undefined) return hit;
      const a = await load(hash);
      if (a !== null) keep(hash, a);
      return a;
    },
    children: async (hash) => sql.exec(`SELECT cid FROM fossil_plink WHERE pid = ?`, hash).toArray().map((r) => r.cid as string),
    deltaManifests: async (hash) =>
      sql
        .exec(`SELECT DISTINCT cid FROM fossil_plink WHERE baseid = ?`, hash)
        .toArray()
        .map((r) => r.cid as string),
  };
}

type Row = Record<string, SqlValue>;
const str = (v: SqlValue): string | null => (v === null ? null : String(v));

function eventOf(r: Row): StoredEvent {
  return {
    objid: r.objid as string,
    type: r.type as EventType,
    mtime: r.mtime as number,
    tag: str(r.tag),
    user: str(r.user),
    comment: str(r.comment),
    euser: str(r.euser),
    ecomment: str(r.ecomment),
    bgcolor: str(r.bgcolor),
    omtime: r.omtime as number,
  };
}

function tagxrefOf(r: Row): TagxrefRow {
  return {
    tag: r.tagname as string,
    rid: r.rid as string,
    type: r.tagtype as TagType,
    src: str(r.srcid),
    orig: r.origid as string,
    value: str(r.value),
    mtime: r.mtime as number,
  };
}

const TAGXREF_COLUMNS = `t.tagname, x.rid, x.tagtype, x.srcid, x.origid, x.value, x.mtime`;

/** CrosslinkTables over the DO's SQLite. Name ids (never deleted) are cached for the life of the object. */
class SqlCrosslinkTables implements CrosslinkTables {
  private readonly tagIds = new Map<string, number>();
  private readonly fnids = new Map<string, number>();

  constructor(private readonly sql: FossilSql) {}

  private intern(cache: Map<string, number>, table: string, id: string, column: string, name: string): number {
    const known = cache.get(name);
    if (known !== undefined) return known;
    this.sql.exec(`INSERT OR IGNORE INTO ${table} (${column}) VALUES (?)`, name);
    const n = this.sql.exec(`SELECT ${id} AS id FROM ${table} WHERE ${column} = ?`, name).toArray()[0].id as number;
    cache.set(name, n);
    return n;
  }
  private tagId(name: string): number {
    return this.intern(this.tagIds, 'fossil_tag', 'tagid', 'tagname', name);
  }
  private fnid(name: string): number {
    return this.intern(this.fnids, 'fossil_filename', 'fnid', 'name', name);
  }

  event(objid: string): StoredEvent | undefined {
    const [r] = this.sql.exec(`SELECT * FROM fossil_event WHERE objid = ?`, objid).toArray();
    return r === undefined ? undefined : eventOf(r);
  }
  putEvent(e: StoredEvent): void {
    this.sql.exec(
      `INSERT OR REPLACE INTO fossil_event (objid, type, mtime, tag, user, comment, euser, ecomment, bgcolor, omtime)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      e.objid,
      e.type,
      e.mtime,
      e.tag,
      e.user,
      e.comment,
      e.euser,
      e.ecomment,
      e.bgcolor,
      e.omtime,
    );
  }
  deleteEvent(objid: string): void {
    this.sql.exec(`DELETE FROM fossil_event WHERE objid = ?`, objid);
  }
  eventsWithTag(tag: string): StoredEvent[] {
    return this.sql.exec(`SELECT * FROM fossil_event WHERE tag = ?`, tag).toArray().map(eventOf);
  }
  putPlink(p: PlinkRow): void {
    this.sql.exec(
      `INSERT OR IGNORE INTO fossil_plink (pid, cid, isprim, mtime, baseid) VALUES (?, ?, ?, ?, ?)`,
      p.pid,
      p.cid,
      p.isprim ? 1 : 0,
      p.mtime,
      p.baseid,
    );
  }
  children(rid: string): { cid: string; isprim: boolean }[] {
    return this.sql
      .exec(`SELECT cid, isprim FROM fossil_plink WHERE pid = ?`, rid)
      .toArray()
      .map((r) => ({ cid: r.cid as string, isprim: r.isprim === 1 }));
  }
  parents(rid: string): { pid: string; isprim: boolean }[] {
    return this.sql
      .exec(`SELECT pid, isprim FROM fossil_plink WHERE cid = ? ORDER BY isprim DESC`, rid)
      .toArray()
      .map((r) => ({ pid: r.pid as string, isprim: r.isprim === 1 }));
  }
  replaceMlinks(set: MlinkSet): void {
    this.sql.exec(`DELETE FROM fossil_mlink WHERE mid = ?`, set.mid);
    for (const m of set.rows) {
      this.sql.exec(
        `INSERT INTO fossil_mlink (mid, pmid, fid, pid, mergeadd, fnid, pfnid, mperm, isaux) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        m.mid,
        m.pmid,
        m.fid,
        m.pid,
        m.mergeAdded ? 1 : 0,
        this.fnid(m.name),
        m.priorName === null ? null : this.fnid(m.priorName),
        m.mperm,
        m.isaux ? 1 : 0,
      );
    }
  }
  tagxref(rid: string, tag: string): TagxrefRow | undefined {
    const [r] = this.sql
      .exec(`SELECT ${TAGXREF_COLUMNS} FROM fossil_tagxref x JOIN fossil_tag t USING (tagid) WHERE x.rid = ? AND t.tagname = ?`, rid, tag)
      .toArray();
    return r === undefined ? undefined : tagxrefOf(r);
  }
  tagxrefsAt(rid: string): TagxrefRow[] {
    return this.sql
      .exec(`SELECT ${TAGXREF_COLUMNS} FROM fossil_tagxref x JOIN fossil_tag t USING (tagid) WHERE x.rid = ?`, rid)
      .toArray()
      .map(tagxrefOf);
  }
  setTagxref(x: TagxrefRow): void {
    this.sql.exec(
      `INSERT OR REPLACE INTO fossil_tagxref (tagid, rid, tagtype, srcid, origid, value, mtime) VALUES (?, ?, ?, ?, ?, ?, ?)`,
      this.tagId(x.tag),
      x.rid,
      x.type,
      x.src,
      x.orig,
      x.value,
      x.mtime,
    );
  }
  deleteTagxref(rid: string, tag: string): void {
    this.sql.exec(`DELETE FROM fossil_tagxref WHERE rid = ? AND tagid = (SELECT tagid FROM fossil_tag WHERE tagname = ?)`, rid, tag);
  }
  setLeaf(rid: string, leaf: boolean): void {
    if (leaf) this.sql.exec(`INSERT OR IGNORE INTO fossil_leaf (rid) VALUES (?)`, rid);
    else this.sql.exec(`DELETE FROM fossil_leaf WHERE rid = ?`, rid);
  }
}

/** One timeline line. */
export interface TimelineEntry {
  hash: string;
  type: EventType;
  /** Julian day (effective: a +date tag applies). */
  mtime: number;
  /** As `YYYY-MM-DD HH:MM:SS` UTC, like fossil's timeline. */
  date: string;
  /** The user, or the one a +user tag substitutes. */
  user: string | null;
  /** The comment, or the one a +comment tag substitutes. */
  comment: string | null;
  bgcolor: string | null;
  /** Check-ins: the branch (`branch` tag value), parents (primary first), sym-* tags, leaf. */
  branch: string | null;
  parents: string[];
  tags: string[];
  leaf: boolean;
}

/** Options of `timeline`. */
export interface TimelineOptions {
  /** Only events strictly older than this julian day (paging). */
  before?: number;
  /** Only these event types. */
  types?: readonly EventType[];
}

/** Largest page `timeline` returns: each line costs a few lookups, and pages are for people. */
export const MAX_TIMELINE = 1000;

const BRANCH_OF = `(SELECT x.value FROM fossil_tagxref x JOIN fossil_tag t USING (tagid) WHERE x.rid = %s AND t.tagname = 'branch' AND x.tagtype > 0)`;
const branchOf = (rid: string) => BRANCH_OF.replace('%s', rid);

/** The newest `limit` events (at most MAX_TIMELINE), newest first. */
export function timeline(sql: FossilSql, limit: number, options: TimelineOptions = {}): TimelineEntry[] {
  const n = Number.isFinite(limit) ? Math.max(0, Math.min(Math.floor(limit), MAX_TIMELINE)) : 0;
  const where: string[] = [];
  const args: SqlValue[] = [];
  if (options.before !== undefined) {
    where.push('e.mtime < ?');
    args.push(options.before);
  }
  if (options.types !== undefined) {
    if (options.types.length === 0) return [];
    where.push(`e.type IN (${options.types.map(() => '?').join(', ')})`);
    args.push(...options.types);
  }
  const rows = sql
    .exec(
      `SELECT e.objid, e.type, e.mtime, datetime(e.mtime) AS date, coalesce(e.euser, e.user) AS user,
              coalesce(e.ecomment, e.comment) AS comment, e.bgcolor,
              CASE WHEN e.type = 'ci' THEN ${branchOf('e.objid')} END AS branch,
              EXISTS (SELECT 1 FROM fossil_leaf l WHERE l.rid = e.objid) AS leaf
         FROM fossil_event e ${where.length > 0 ? `WHERE ${where.join(' AND ')}` : ''}
        ORDER BY e.mtime DESC, e.objid LIMIT ?`,
      ...args,
      n,
    )
    .toArray();
  return rows.map((r) => {
    const hash = r.objid as string;
    const isCheckin = r.type === 'ci';
    return {
      hash,
      type: r.type as EventType,
      mtime: r.mtime as number,
      date: r.date as string,
      user: str(r.user),
      comment: str(r.comment),
      bgcolor: str(r.bgcolor),
      branch: str(r.branch),
      parents: isCheckin
        ? sql
            .exec(`SELECT pid FROM fossil_plink WHERE cid = ? ORDER BY isprim DESC, pid`, hash)
            .toArray()
            .map((p) => p.pid as string)
        : [],
      tags: sql
        .exec(
          `SELECT substr(t.tagname, 5) AS name FROM fossil_tagxref x JOIN fossil_tag t USING (tagid)
            WHERE x.rid = ? AND x.tagtype > 0 AND t.tagname LIKE 'sym-%' ORDER BY t.tagname`,
          hash,
        )
        .toArray()
        .map((t) => t.name as string),
      leaf: r.leaf === 1,
    };
  });
}

/** A branch: its name, newest check-in, size and state. */
export interface BranchEntry {
  name: string;
  /** The newest check-in on the branch. */
  tip: string;
  /** Julian day of the tip. */
  mtime: number;
  checkins: number;
  /** Leaves of the branch without a `closed` tag. */
  openLeaves: string[];
  /** True when every leaf of the branch is closed (fossil's `branch list --closed`). */
  closed: boolean;
}

/** Every branch (check-ins' `branch` tag values), newest first. */
export function branches(sql: FossilSql): BranchEntry[] {
  const rows = sql
    .exec(
      `SELECT x.value AS name, count(*) AS checkins, max(e.mtime) AS mtime
         FROM fossil_tagxref x JOIN fossil_tag t USING (tagid) JOIN fossil_event e ON e.objid = x.rid
        WHERE t.tagname = 'branch' AND x.tagtype > 0 AND e.type = 'ci' AND x.value IS NOT NULL
        GROUP BY x.value ORDER BY mtime DESC, name`,
    )
    .toArray();
  return rows.map((r) => {
    const name = r.name as string;
    const [tip] = sql
      .exec(
        `SELECT e.objid FROM fossil_tagxref x JOIN fossil_tag t USING (tagid) JOIN fossil_event e ON e.objid = x.rid
          WHERE t.tagname = 'branch' AND x.tagtype > 0 AND x.value = ? AND e.type = 'ci'
          ORDER BY e.mtime DESC, e.objid LIMIT 1`,
        name,
      )
      .toArray();
    const leaves = sql
      .exec(
        `SELECT l.rid, EXISTS (SELECT 1 FROM fossil_tagxref c JOIN fossil_tag ct USING (tagid)
                                WHERE c.rid = l.rid AND ct.tagname = 'closed' AND c.tagtype > 0) AS closed
           FROM fossil_leaf l WHERE ${branchOf('l.rid')} = ? ORDER BY l.rid`,
        name,
      )
      .toArray();
    const open = leaves.filter((l) => l.closed !== 1).map((l) => l.rid as string);
    return {
      name,
      tip: tip.objid as string,
      mtime: r.mtime as number,
      checkins: r.checkins as number,
      openLeaves: open,
      closed: leaves.length > 0 && open.length === 0,
    };
  });
}

/** How a check-in changed a file, against its primary parent. */
export type FileChange = 'added' | 'added-by-merge' | 'deleted' | 'modified' | 'renamed' | 'mode';

/** One file a check-in changed. */
export interface CheckinFile {
  name: string;
  change: FileChange;
  /** The content in the check-in; null when deleted. */
  hash: string | null;
  /** The content in the parent; null when added. */
  previous: string | null;
  /** The name in the parent, when renamed. */
  priorName: string | null;
  /** "x" executable, "l" symlink, "" plain. */
  perm: '' | 'x' | 'l';
}

const PERM: Record<Mperm, CheckinFile['perm']> = { 0: '', 1: 'x', 2: 'l' };

/**
 * The files check-in `hash` changed against its primary parent (a root
 * check-in: all its files, added), by name. The whole file list of a
 * check-out comes from the manifest itself (manifestFiles in crosslink.ts).
 */
export function checkinFiles(sql: FossilSql, hash: string): CheckinFile[] {
  return sql
    .exec(
      `SELECT f.name, p.name AS prior, m.fid, m.pid, m.mergeadd, m.mperm
         FROM fossil_mlink m JOIN fossil_filename f ON f.fnid = m.fnid LEFT JOIN fossil_filename p ON p.fnid = m.pfnid
        WHERE m.mid = ? AND m.isaux = 0 ORDER BY f.name`,
      hash,
    )
    .toArray()
    .map((r) => {
      const fid = str(r.fid);
      const pid = str(r.pid);
      const prior = str(r.prior);
      const change: FileChange =
        fid === null
          ? 'deleted'
          : r.mergeadd === 1
            ? 'added-by-merge'
            : pid === null
              ? 'added'
              : prior !== null
                ? 'renamed'
                : fid === pid
                  ? 'mode'
                  : 'modified';
      return { name: r.name as string, change, hash: fid, previous: pid, priorName: prior, perm: PERM[r.mperm as Mperm] };
    });
}
