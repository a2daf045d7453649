/**
 * A Fossil repository's index and tables in its Durable Object's SQLite (the
 * FossilStore of shared/storage/fossil.ts); content stays in the R2 segment
 * store, shared with git. Synchronous like SqlRepoStore: a commit validates
 * and writes inside one `transactionSync`, so it applies whole or not at all.
 *
 * The tables have their own schema version (`fossil_schema`), so they migrate
 * independently of the git tables; segment names are interned in the git
 * schema's `segments` table (one name per R2 object whatever the protocol).
 */
import { ChainCycleError, ChainTooDeepError, InvalidRowError } from '../../shared/storage/errors.js';
import {
  checkFossilRow,
  checkPendingDelta,
  checkRecordSwap,
  checkUnversionedEntry,
  type ArtifactHash,
  type ArtifactState,
  type ConfigEntry,
  type FossilCommit,
  type FossilBelow,
  type FossilCommitResult,
  type FossilRecordFormat,
  type FossilRecordMove,
  type FossilRecordSwap,
  type FossilRow,
  type FossilStore,
  type PendingDelta,
  type UnversionedEntry,
} from '../../shared/storage/fossil.js';
import { checkObjectId } from '../../shared/storage/ids.js';
import { MAX_CHAIN_DEPTH, MAX_CHAIN_ROWS, planRows, type IndexRowInput } from '../../shared/storage/object-index.js';
import { localConfigRows, SqlFossilConfigRows } from './fossil-config.js';
import { migrateFossilTables } from './fossil-tables.js';
import type { SqlHost } from './repo-store.js';

/**
 * Fossil schema migrations, applied in order (append only). `fossil_blob.seq`
 * is the clone cursor: AUTOINCREMENT so a seq is never handed out twice.
 */
export const FOSSIL_MIGRATIONS: readonly (readonly string[])[] = [
  [
    `CREATE TABLE fossil_blob (
       seq INTEGER PRIMARY KEY AUTOINCREMENT,
       hash TEXT NOT NULL UNIQUE,
       size INTEGER NOT NULL,
       segment INTEGER NOT NULL REFERENCES segments(seq),
       rec_offset INTEGER NOT NULL,
       rec_length INTEGER NOT NULL,
       rec_size INTEGER NOT NULL,
       base TEXT,
       depth INTEGER NOT NULL,
       private INTEGER NOT NULL
     )`,
    `CREATE TABLE fossil_phantom (hash TEXT PRIMARY KEY) WITHOUT ROWID`,
    `CREATE TABLE fossil_pending (
       hash TEXT PRIMARY KEY,
       base TEXT NOT NULL,
       size INTEGER NOT NULL,
       segment INTEGER NOT NULL REFERENCES segments(seq),
       rec_offset INTEGER NOT NULL,
       rec_length INTEGER NOT NULL,
       rec_size INTEGER NOT NULL,
       private INTEGER NOT NULL
     ) WITHOUT ROWID`,
    `CREATE INDEX fossil_pending_by_base ON fossil_pending(base)`,
    `CREATE TABLE fossil_unclustered (hash TEXT PRIMARY KEY) WITHOUT ROWID`,
    `CREATE TABLE fossil_shun (hash TEXT PRIMARY KEY) WITHOUT ROWID`,
    `CREATE TABLE fossil_config (name TEXT PRIMARY KEY, value TEXT NOT NULL, mtime INTEGER NOT NULL) WITHOUT ROWID`,
    `CREATE TABLE fossil_unversioned (
       name TEXT PRIMARY KEY,
       mtime INTEGER NOT NULL,
       hash TEXT,
       size INTEGER NOT NULL,
       segment INTEGER REFERENCES segments(seq),
       rec_offset INTEGER,
       rec_length INTEGER
     ) WITHOUT ROWID`,
  ],
  // Private rows are announced to x users on every pull (xfer.c send_private).
  [`CREATE INDEX fossil_blob_private ON fossil_blob(hash) WHERE private = 1`],
  // Repacking (fossil-repack.ts) walks rows by base and keeps a cursor over fossil_blob.seq.
  [`CREATE INDEX fossil_blob_base ON fossil_blob(base) WHERE base IS NOT NULL`, `CREATE TABLE fossil_repack (cursor INTEGER NOT NULL)`],
  // The repository id (R2 prefix) for the repack alarm, which has no request to read it from.
  [`CREATE TABLE fossil_repack_repo (id TEXT NOT NULL)`],
  // Compaction after the repack (fossil-repack.ts): every artifact with seq <= cursor has been copied in seq order.
  [`CREATE TABLE fossil_compact (cursor INTEGER NOT NULL)`],
  // Phantoms named by private cards are asked of x users only (fossil's private phantoms). Which
  // earlier ones came from a private igot is not known: all are marked, but those a public pending
  // delta waits on (a public artifact's base is public); a writer's public igot unmarks one.
  [
    `ALTER TABLE fossil_phantom ADD COLUMN private INTEGER NOT NULL DEFAULT 0`,
    `UPDATE fossil_phantom SET private = 1 WHERE NOT EXISTS (SELECT 1 FROM fossil_pending p WHERE p.base = fossil_phantom.hash AND p.private = 0)`,
  ],
];

/** The fossil schema version this code expects. */
export const FOSSIL_SCHEMA_VERSION = FOSSIL_MIGRATIONS.length;

/** Brings the fossil tables up to FOSSIL_SCHEMA_VERSION (after the git schema's `migrate`), and the crosslink tables; returns the version found. */
export function migrateFossil(host: SqlHost): number {
  host.sql.exec(`CREATE TABLE IF NOT EXISTS fossil_schema (version INTEGER NOT NULL)`);
  const found = host.sql.exec<{ version: number }>(`SELECT version FROM fossil_schema`).toArray()[0]?.version ?? 0;
  if (found > FOSSIL_SCHEMA_VERSION) throw new Error(`fossil schema ${found} is newer than this code (${FOSSIL_SCHEMA_VERSION})`);
  for (let v = found; v < FOSSIL_SCHEMA_VERSION; v++) {
    host.transactionSync(() => {
      for (const stmt of FOSSIL_MIGRATIONS[v]) host.sql.exec(stmt);
      host.sql.exec(`DELETE FROM fossil_schema`);
      host.sql.exec(`INSERT INTO fossil_schema (version) VALUES (?)`, v + 1);
    });
  }
  // The crosslink tables (timeline, branches) keep their own idempotent DDL.
  migrateFossilTables(host.sql);
  return found;
}

type BlobSql = {
  seq: number;
  hash: string;
  size: number;
  segment: string;
  rec_offset: number;
  rec_length: number;
  rec_size: number;
  base: string | null;
  depth: number;
  private: number;
};

const SELECT_BLOB = `SELECT b.seq, b.hash, b.size, s.name AS segment, b.rec_offset, b.rec_length, b.rec_size, b.base, b.depth, b.private
  FROM fossil_blob b JOIN segments s ON s.seq = b.segment`;

function toRow(r: BlobSql): FossilRow {
  return {
    seq: r.seq,
    hash: r.hash,
    size: r.size,
    segment: r.segment,
    offset: r.rec_offset,
    length: r.rec_length,
    recordSize: r.rec_size,
    format: (r.base === null ? 'full' : 'fossil-delta') as FossilRecordFormat,
    base: r.base,
    depth: r.depth,
    private: r.private !== 0,
  };
}

type PendingSql = Omit<BlobSql, 'seq' | 'depth' | 'base'> & { base: string };

function toPending(r: PendingSql): PendingDelta {
  return {
    hash: r.hash,
    base: r.base,
    size: r.size,
    segment: r.segment,
    offset: r.rec_offset,
    length: r.rec_length,
    recordSize: r.rec_size,
    private: r.private !== 0,
  };
}

type UvSql = { name: string; mtime: number; hash: string | null; size: number; segment: string | null; rec_offset: number | null; rec_length: number | null };

const SELECT_UV = `SELECT u.name, u.mtime, u.hash, u.size, s.name AS segment, u.rec_offset, u.rec_length
  FROM fossil_unversioned u LEFT JOIN segments s ON s.seq = u.segment`;

function toUv(r: UvSql): UnversionedEntry {
  return {
    name: r.name,
    mtime: r.mtime,
    hash: r.hash,
    size: r.size,
    record: r.segment === null ? null : { segment: r.segment, offset: r.rec_offset!, length: r.rec_length! },
  };
}

/** One JSON array parameter: DO SQL caps bound parameters at 100 per statement. */
const json = (values: readonly unknown[]) => JSON.stringify(values);

/** The states SqlFossilStore.states spells as one digit each. */
const STATE_DIGITS: Record<'0' | '1' | '2' | '3' | '4' | '5' | '6', ArtifactState> = {
  0: 'shunned',
  1: 'private',
  2: 'public',
  3: 'pending',
  4: 'phantom',
  5: 'unknown',
  6: 'private-phantom',
};

/** The FossilStore over DO SQLite, synchronously (schema from `migrate` + `migrateFossil`). */
export class SqlFossilStore {
  constructor(private readonly host: SqlHost) {}

  /** FossilStore.configRows (worker/durable/fossil-config.ts) */
  get configRows(): SqlFossilConfigRows {
    return new SqlFossilConfigRows(this.host);
  }

  /** FossilStore.states */
  states(hashes: ArtifactHash[]): ArtifactState[] {
    for (const h of hashes) checkObjectId(h);
    if (hashes.length === 0) return [];
    // One statement answering one row: a state digit per hash, in order (a push round asks
    // about every igot, tens of thousands: a row or a Set entry per hash cost more than the lookups).
    const [{ s }] = this.host.sql
      .exec<{ s: string }>(
        `SELECT group_concat(CASE
             WHEN EXISTS (SELECT 1 FROM fossil_shun WHERE hash = j.value) THEN 0
             WHEN b.private != 0 THEN 1
             WHEN b.private IS NOT NULL THEN 2
             WHEN EXISTS (SELECT 1 FROM fossil_pending WHERE hash = j.value) THEN 3
             ELSE coalesce((SELECT 4 + 2 * private FROM fossil_phantom WHERE hash = j.value), 5) END, '' ORDER BY j.key) AS s
           FROM json_each(?) j LEFT JOIN fossil_blob b ON b.hash = j.value`,
        json(hashes),
      )
      .toArray();
    return Array.from(s, (d) => STATE_DIGITS[d as '0']);
  }

  /** FossilStore.rows */
  rows(hashes: ArtifactHash[]): (FossilRow | null)[] {
    if (hashes.length === 0) return [];
    const found = new Map(
      this.host.sql
        .exec<BlobSql>(`${SELECT_BLOB} WHERE b.hash IN (SELECT value FROM json_each(?))`, json(hashes))
        .toArray()
        .map((r) => [r.hash, toRow(r)]),
    );
    return hashes.map((h) => found.get(h) ?? null);
  }

  /** FossilStore.chain */
  chain(hash: ArtifactHash): FossilRow[] {
    checkObjectId(hash);
    // The step counter bounds the recursion, so even a corrupt cycle ends.
    return this.host.sql
      .exec<BlobSql & { step: number }>(
        `WITH RECURSIVE c(hash, step) AS (
           SELECT ?, 0
           UNION ALL
           SELECT b.base, c.step + 1 FROM fossil_blob b JOIN c ON b.hash = c.hash WHERE b.base IS NOT NULL AND c.step + 1 < ?
         )
         ${SELECT_BLOB} JOIN c ON c.hash = b.hash ORDER BY c.step`,
        hash,
        MAX_CHAIN_ROWS,
      )
      .toArray()
      .map(toRow);
  }

  /** FossilStore.listFrom */
  listFrom(fromSeq: number, limit: number): FossilRow[] {
    if (!(limit > 0)) return [];
    // A clone round lists thousands of rows: as arrays, segment names looked up once each,
    // and the shun check only when something is shunned.
    const shunned = this.host.sql.exec(`SELECT 1 FROM fossil_shun LIMIT 1`).toArray().length > 0;
    const cursor = this.host.sql.exec(
      `SELECT seq, hash, size, segment, rec_offset, rec_length, rec_size, base, depth, private FROM fossil_blob b
        WHERE seq >= ? ${shunned ? 'AND NOT EXISTS (SELECT 1 FROM fossil_shun h WHERE h.hash = b.hash)' : ''} ORDER BY seq LIMIT ?`,
      Math.max(0, Math.floor(fromSeq)),
      Math.floor(limit),
    );
    const names = new Map<number, string>();
    const rows: FossilRow[] = [];
    // Indexed, not destructured: array destructuring walks an iterator per row.
    for (const r of cursor.raw() as IterableIterator<[number, string, number, number, number, number, number, string | null, number, number]>) {
      const segment = r[3];
      let name = names.get(segment);
      if (name === undefined) names.set(segment, (name = this.host.sql.exec<{ name: string }>(`SELECT name FROM segments WHERE seq = ?`, segment).one().name));
      const base = r[7];
      rows.push({ seq: r[0], hash: r[1], size: r[2], segment: name, offset: r[4], length: r[5], recordSize: r[6], format: base === null ? 'full' : 'fossil-delta', base, depth: r[8], private: r[9] !== 0 });
    }
    return rows;
  }

  /** FossilStore.count */
  count(): number {
    return this.host.sql.exec<{ n: number }>(`SELECT count(*) AS n FROM fossil_blob`).one().n;
  }

  /** FossilStore.listUnclustered */
  listUnclustered(limit: number, after = ''): ArtifactHash[] {
    return this.hashes(`SELECT hash FROM fossil_unclustered WHERE hash > ? ORDER BY hash LIMIT ?`, limit, after);
  }

  /** FossilStore.listPrivate (the partial index keeps this O(private rows)) */
  listPrivate(limit: number, after = ''): ArtifactHash[] {
    return this.hashes(`SELECT hash FROM fossil_blob WHERE private = 1 AND hash > ? ORDER BY hash LIMIT ?`, limit, after);
  }

  /** FossilStore.listPhantoms */
  listPhantoms(limit: number, from = '', withPrivate = false): ArtifactHash[] {
    const which = withPrivate ? '' : 'AND private = 0';
    const head = this.hashes(`SELECT hash FROM fossil_phantom WHERE hash >= ? ${which} ORDER BY hash LIMIT ?`, limit, from);
    if (head.length >= limit || from === '') return head;
    return head.concat(this.hashes(`SELECT hash FROM fossil_phantom WHERE hash < ? ${which} ORDER BY hash LIMIT ?`, limit - head.length, from));
  }

  /** FossilStore.pendingByBase */
  pendingByBase(bases: ArtifactHash[]): PendingDelta[] {
    if (bases.length === 0) return [];
    return this.host.sql
      .exec<PendingSql>(
        `SELECT p.hash, p.base, p.size, s.name AS segment, p.rec_offset, p.rec_length, p.rec_size, p.private
           FROM fossil_pending p JOIN segments s ON s.seq = p.segment
          WHERE p.base IN (SELECT value FROM json_each(?))`,
        json(bases),
      )
      .toArray()
      .map(toPending);
  }

  /** FossilStore.getConfig */
  getConfig(names: string[]): (ConfigEntry | null)[] {
    if (names.length === 0) return [];
    const found = new Map(
      this.host.sql
        .exec<{ name: string; value: string; mtime: number }>(`SELECT name, value, mtime FROM fossil_config WHERE name IN (SELECT value FROM json_each(?))`, json(names))
        .toArray()
        .map((r) => [r.name, { name: r.name, value: r.value, mtime: r.mtime }]),
    );
    return names.map((n) => found.get(n) ?? null);
  }

  /** FossilStore.listUnversioned (SQLite's BINARY order on UTF-8 is code-point order). */
  listUnversioned(): UnversionedEntry[] {
    return this.host.sql.exec<UvSql>(`${SELECT_UV} ORDER BY u.name`).toArray().map(toUv);
  }

  /** FossilStore.getUnversioned */
  getUnversioned(name: string): UnversionedEntry | null {
    const r = this.host.sql.exec<UvSql>(`${SELECT_UV} WHERE u.name = ?`, name).toArray()[0];
    return r ? toUv(r) : null;
  }

  /** FossilStore.setShunned */
  setShunned(hashes: ArtifactHash[], on: boolean): void {
    for (const h of hashes) checkObjectId(h);
    this.host.transactionSync(() => {
      for (const h of hashes) {
        if (on) this.host.sql.exec(`INSERT INTO fossil_shun (hash) VALUES (?) ON CONFLICT DO NOTHING`, h);
        else this.host.sql.exec(`DELETE FROM fossil_shun WHERE hash = ?`, h);
      }
    });
  }

  /** FossilStore.heights: levels below each hash along `base`, all in one statement (bounded, so a corrupt cycle ends). */
  heights(hashes: ArtifactHash[], detached: readonly ArtifactHash[] = []): number[] {
    if (hashes.length === 0) return [];
    const found = new Map(
      this.host.sql
        .exec<{ root: string; n: number }>(
          `WITH RECURSIVE sub(root, hash, n) AS (
             SELECT value, value, 0 FROM json_each(?1)
             UNION ALL
             SELECT sub.root, b.hash, sub.n + 1 FROM fossil_blob b JOIN sub ON b.base = sub.hash
              WHERE sub.n < ?2 AND b.hash NOT IN (SELECT value FROM json_each(?3))
           ) SELECT root, max(n) AS n FROM sub GROUP BY root`,
          json(hashes),
          MAX_CHAIN_ROWS,
          json(detached),
        )
        .toArray()
        .map((r) => [r.root, r.n]),
    );
    return hashes.map((h) => found.get(h) ?? 0);
  }

  /** FossilStore.below: the rows under `hash` in one statement (bounded as heights). */
  below(hash: ArtifactHash, detached: readonly ArtifactHash[] = []): FossilBelow[] {
    return this.host.sql
      .exec<{ hash: string; base: string; level: number }>(
        `WITH RECURSIVE sub(hash, base, level) AS (
           SELECT ?1, NULL, 0
           UNION ALL
           SELECT b.hash, b.base, sub.level + 1 FROM fossil_blob b JOIN sub ON b.base = sub.hash
            WHERE sub.level < ?2 AND b.hash NOT IN (SELECT value FROM json_each(?3))
         ) SELECT hash, base, level FROM sub WHERE level > 0`,
        hash,
        MAX_CHAIN_ROWS,
        json(detached),
      )
      .toArray();
  }

  /** FossilStore.relocate: only the location changes, for rows still where the copy was made from. */
  relocate(moves: FossilRecordMove[]): number {
    let moved = 0;
    const seqs = new Map<string, number>();
    this.host.transactionSync(() => {
      const sql = this.host.sql;
      for (const m of moves) {
        const row = sql
          .exec<{ length: number }>(
            `SELECT b.rec_length AS length FROM fossil_blob b JOIN segments s ON s.seq = b.segment WHERE b.hash = ? AND s.name = ? AND b.rec_offset = ?`,
            m.hash,
            m.from.segment,
            m.from.offset,
          )
          .toArray()[0];
        if (!row) continue;
        if (row.length !== m.length) throw new InvalidRowError('invalid-row', `move ${m.hash}: length ${m.length} is not the record's ${row.length}`, { id: m.hash, why: 'length' });
        sql.exec(`UPDATE fossil_blob SET segment = ?, rec_offset = ? WHERE hash = ?`, this.segmentSeq(m.segment, seqs), m.offset, m.hash);
        moved++;
      }
    });
    return moved;
  }

  /** FossilStore.repoint: each swap moves its row and shifts the depths of the rows through it, in one transaction. */
  repoint(swaps: FossilRecordSwap[]): void {
    const seqs = new Map<string, number>();
    this.host.transactionSync(() => {
      const sql = this.host.sql;
      for (const sw of swaps) {
        checkRecordSwap(sw);
        const bad = (why: string) => new InvalidRowError('invalid-row', `swap ${sw.hash}: ${why}`, { id: sw.hash, why });
        const row = sql.exec<{ size: number; depth: number }>(`SELECT size, depth FROM fossil_blob WHERE hash = ?`, sw.hash).toArray()[0];
        if (!row) throw bad('not stored');
        if (sw.format === 'full' && sw.recordSize !== row.size) throw bad('a full record inflates to the artifact size');
        let depth = 0;
        if (sw.base !== null) {
          const chain = this.chain(sw.base);
          if (chain.length === 0) throw bad('base not stored');
          if (chain.some((r) => r.hash === sw.hash)) throw new ChainCycleError('chain-cycle', `swap ${sw.hash}: its base's chain passes through it`, { id: sw.hash });
          depth = chain[0].depth + 1;
        }
        sql.exec(
          `UPDATE fossil_blob SET segment = ?, rec_offset = ?, rec_length = ?, rec_size = ?, base = ?, depth = ? WHERE hash = ?`,
          this.segmentSeq(sw.segment, seqs),
          sw.offset,
          sw.length,
          sw.recordSize,
          sw.base,
          depth,
          sw.hash,
        );
        // The rows whose chains pass through this one move by the same amount.
        const deepest = sql
          .exec<{ d: number | null }>(
            `WITH RECURSIVE sub(hash, n) AS (
               SELECT ?1, 0
               UNION ALL
               SELECT b.hash, sub.n + 1 FROM fossil_blob b JOIN sub ON b.base = sub.hash WHERE sub.n < ?2
             ) UPDATE fossil_blob SET depth = ?3 + (SELECT n FROM sub WHERE sub.hash = fossil_blob.hash)
               WHERE hash IN (SELECT hash FROM sub WHERE n > 0) RETURNING depth AS d`,
            sw.hash,
            MAX_CHAIN_ROWS,
            depth,
          )
          .toArray()
          .reduce((m, r) => Math.max(m, r.d ?? 0), depth);
        if (deepest > MAX_CHAIN_DEPTH) {
          throw new ChainTooDeepError('chain-too-deep', `swap ${sw.hash}: a chain through it would be ${deepest} deep (max ${MAX_CHAIN_DEPTH})`, { id: sw.hash, depth: deepest, max: MAX_CHAIN_DEPTH });
        }
      }
    });
  }

  /** A segment's seq, made on first use; `seqs` keeps those of one transaction (its swaps or moves mostly name one segment: two statements each were ~4% of a repack). */
  private segmentSeq(name: string, seqs: Map<string, number>): number {
    let seq = seqs.get(name);
    if (seq === undefined) {
      this.host.sql.exec(`INSERT INTO segments (name) VALUES (?) ON CONFLICT (name) DO NOTHING`, name);
      seqs.set(name, (seq = this.host.sql.exec<{ seq: number }>(`SELECT seq FROM segments WHERE name = ?`, name).one().seq));
    }
    return seq;
  }

  /** FossilStore.commit: validated whole, then written in one transaction. */
  commit(batch: FossilCommit): FossilCommitResult {
    return this.host.transactionSync(() => {
      const sql = this.host.sql;
      // Validate everything first; a throw before the first write leaves no trace (and the transaction rolls back anyway).
      const rows = batch.rows ?? [];
      for (const r of rows) checkFossilRow(r);
      if (rows.length > 0) {
        const shunned = sql
          .exec<{ hash: string }>(`SELECT hash FROM fossil_shun WHERE hash IN (SELECT value FROM json_each(?))`, json(rows.map((r) => r.hash)))
          .toArray()[0];
        if (shunned) throw new InvalidRowError('invalid-row', `row ${shunned.hash} is shunned`, { id: shunned.hash, why: 'shunned' });
      }
      const asIndex: IndexRowInput[] = rows.map((r) => ({ ...r, id: r.hash, kind: 'artifact' }));
      const planned = planRows(asIndex, (id) => sql.exec<{ depth: number }>(`SELECT depth FROM fossil_blob WHERE hash = ?`, id).toArray()[0]?.depth ?? null);
      const depthOf = new Map(planned.map((p) => [p.id, p.depth]));
      for (const h of [...(batch.phantoms ?? []), ...(batch.privatePhantoms ?? [])]) checkObjectId(h);
      for (const p of batch.pendingAdd ?? []) checkPendingDelta(p);
      for (const h of [...(batch.pendingRemove ?? []), ...(batch.unclusteredAdd ?? []), ...(batch.unclusteredRemove ?? []), ...(batch.publish ?? [])]) checkObjectId(h);
      for (const e of batch.unversioned ?? []) checkUnversionedEntry(e);
      for (const c of batch.config ?? []) {
        if (typeof c.name !== 'string' || c.name.length === 0 || typeof c.value !== 'string' || !Number.isSafeInteger(c.mtime)) {
          throw new InvalidRowError('invalid-row', 'bad config entry', { why: 'config' });
        }
      }

      const segSeq = new Map<string, number>();
      const segment = (name: string): number => {
        let seq = segSeq.get(name);
        if (seq === undefined) {
          sql.exec(`INSERT INTO segments (name) VALUES (?) ON CONFLICT (name) DO NOTHING`, name);
          seq = sql.exec<{ seq: number }>(`SELECT seq FROM segments WHERE name = ?`, name).one().seq;
          segSeq.set(name, seq);
        }
        return seq;
      };

      const inserted: FossilRow[] = [];
      for (const r of rows) {
        // planRows kept only new hashes, once each; the rest are already stored.
        const depth = depthOf.get(r.hash);
        if (depth === undefined) continue;
        depthOf.delete(r.hash);
        const seq = sql
          .exec<{ seq: number }>(
            `INSERT INTO fossil_blob (hash, size, segment, rec_offset, rec_length, rec_size, base, depth, private) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING seq`,
            r.hash,
            r.size,
            segment(r.segment),
            r.offset,
            r.length,
            r.recordSize,
            r.base,
            depth,
            r.private ? 1 : 0,
          )
          .one().seq;
        sql.exec(`DELETE FROM fossil_phantom WHERE hash = ?`, r.hash);
        sql.exec(`DELETE FROM fossil_pending WHERE hash = ?`, r.hash);
        inserted.push({ ...r, seq, depth });
      }
      // Private first: a hash in both lists ends public, and an existing phantom only ever becomes public.
      const phantoms = [...(batch.privatePhantoms ?? []).map((h) => [h, 1] as const), ...(batch.phantoms ?? []).map((h) => [h, 0] as const)];
      for (const [h, priv] of phantoms) {
        sql.exec(
          `INSERT INTO fossil_phantom (hash, private) SELECT ?1, ?2
            WHERE NOT EXISTS (SELECT 1 FROM fossil_blob WHERE hash = ?1)
              AND NOT EXISTS (SELECT 1 FROM fossil_pending WHERE hash = ?1)
              AND NOT EXISTS (SELECT 1 FROM fossil_shun WHERE hash = ?1)
           ON CONFLICT (hash) DO UPDATE SET private = private AND excluded.private`,
          h,
          priv,
        );
      }
      for (const h of batch.pendingRemove ?? []) sql.exec(`DELETE FROM fossil_pending WHERE hash = ?`, h);
      for (const p of batch.pendingAdd ?? []) {
        if (sql.exec(`SELECT 1 FROM fossil_blob WHERE hash = ?`, p.hash).toArray().length > 0) continue;
        sql.exec(
          `INSERT INTO fossil_pending (hash, base, size, segment, rec_offset, rec_length, rec_size, private) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
           ON CONFLICT (hash) DO UPDATE SET base = excluded.base, size = excluded.size, segment = excluded.segment, rec_offset = excluded.rec_offset,
             rec_length = excluded.rec_length, rec_size = excluded.rec_size, private = excluded.private`,
          p.hash,
          p.base,
          p.size,
          segment(p.segment),
          p.offset,
          p.length,
          p.recordSize,
          p.private ? 1 : 0,
        );
        sql.exec(`DELETE FROM fossil_phantom WHERE hash = ?`, p.hash);
      }
      for (const h of batch.unclusteredRemove ?? []) sql.exec(`DELETE FROM fossil_unclustered WHERE hash = ?`, h);
      for (const h of batch.unclusteredAdd ?? []) {
        sql.exec(`INSERT INTO fossil_unclustered (hash) SELECT hash FROM fossil_blob WHERE hash = ? ON CONFLICT DO NOTHING`, h);
      }
      for (const h of batch.publish ?? []) {
        if (sql.exec(`UPDATE fossil_blob SET private = 0 WHERE hash = ? AND private = 1 RETURNING hash`, h).toArray().length === 0) continue;
        sql.exec(`INSERT INTO fossil_unclustered (hash) VALUES (?) ON CONFLICT DO NOTHING`, h);
      }
      for (const e of batch.unversioned ?? []) {
        sql.exec(
          `INSERT INTO fossil_unversioned (name, mtime, hash, size, segment, rec_offset, rec_length) VALUES (?, ?, ?, ?, ?, ?, ?)
           ON CONFLICT (name) DO UPDATE SET mtime = excluded.mtime, hash = excluded.hash, size = excluded.size, segment = excluded.segment,
             rec_offset = excluded.rec_offset, rec_length = excluded.rec_length`,
          e.name,
          e.mtime,
          e.hash,
          e.size,
          e.record ? segment(e.record.segment) : null,
          e.record?.offset ?? null,
          e.record?.length ?? null,
        );
      }
      for (const c of batch.config ?? []) {
        sql.exec(
          `INSERT INTO fossil_config (name, value, mtime) VALUES (?, ?, ?) ON CONFLICT (name) DO UPDATE SET value = excluded.value, mtime = excluded.mtime`,
          c.name,
          c.value,
          c.mtime,
        );
      }
      return { inserted };
    });
  }

  private hashes(sql: string, limit: number, from?: string): ArtifactHash[] {
    if (!(limit > 0)) return [];
    const args = from === undefined ? [Math.floor(limit)] : [from, Math.floor(limit)];
    return this.host.sql.exec<{ hash: string }>(sql, ...args).toArray().map((r) => r.hash);
  }
}

/** The synchronous store seen through the async FossilStore interface, for code running in the DO. */
export function localFossilStore(s: SqlFossilStore): FossilStore {
  return {
    states: async (hashes) => s.states(hashes),
    rows: async (hashes) => s.rows(hashes),
    chain: async (hash) => s.chain(hash),
    listFrom: async (fromSeq, limit) => s.listFrom(fromSeq, limit),
    count: async () => s.count(),
    listUnclustered: async (limit, after) => s.listUnclustered(limit, after),
    listPrivate: async (limit, after) => s.listPrivate(limit, after),
    listPhantoms: async (limit, from, withPrivate) => s.listPhantoms(limit, from, withPrivate),
    pendingByBase: async (bases) => s.pendingByBase(bases),
    getConfig: async (names) => s.getConfig(names),
    listUnversioned: async () => s.listUnversioned(),
    getUnversioned: async (name) => s.getUnversioned(name),
    setShunned: async (hashes, on) => s.setShunned(hashes, on),
    heights: async (hashes, detached) => s.heights(hashes, detached),
    below: async (hash, detached) => s.below(hash, detached),
    repoint: async (swaps) => s.repoint(swaps),
    relocate: async (moves) => s.relocate(moves),
    commit: async (batch) => s.commit(batch),
    configRows: localConfigRows(s.configRows),
  };
}
