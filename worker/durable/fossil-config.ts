/**
 * Fossil's configuration tables (shun, reportfmt, concealed) in the
 * repository Durable Object's SQLite: what an admin's `fossil configuration
 * push` stores and a clone's `reqconfig` gets back (shared/protocols/fossil/
 * config.ts). Plain config values live in fossil_config (fossil-store.ts).
 * The table is created by migrateFossilTables (fossil-tables.ts), idempotently.
 */
import { checkConfigRow, type ArtifactHash, type FossilConfigRow, type FossilConfigRows, type FossilConfigTable } from '../../shared/storage/fossil.js';
import type { SqlHost } from './repo-store.js';

export const FOSSIL_CONFIG_DDL = [
  `CREATE TABLE IF NOT EXISTS fossil_config_row (
     tbl TEXT NOT NULL,
     key TEXT NOT NULL,
     mtime INTEGER NOT NULL,
     fields TEXT NOT NULL,
     PRIMARY KEY (tbl, key)
   ) WITHOUT ROWID`,
];

const lim = (limit: number) => (limit > 0 ? Math.floor(limit) : 0);

/** The configuration tables over DO SQLite, synchronously. */
export class SqlFossilConfigRows {
  constructor(private readonly host: SqlHost) {}

  list(table: FossilConfigTable, limit: number): FossilConfigRow[] {
    return this.host.sql
      .exec<{ key: string; mtime: number; fields: string }>(
        `SELECT key, mtime, fields FROM fossil_config_row WHERE tbl = ? ORDER BY key LIMIT ?`,
        table,
        lim(limit),
      )
      .toArray()
      .map((r) => ({ table, key: r.key, mtime: r.mtime, fields: r.fields }));
  }

  put(rows: FossilConfigRow[]): void {
    for (const r of rows) checkConfigRow(r);
    this.host.transactionSync(() => {
      for (const r of rows) {
        this.host.sql.exec(
          `INSERT INTO fossil_config_row (tbl, key, mtime, fields) VALUES (?, ?, ?, ?)
           ON CONFLICT (tbl, key) DO UPDATE SET mtime = excluded.mtime, fields = excluded.fields WHERE excluded.mtime > mtime`,
          r.table,
          r.key,
          r.mtime,
          r.fields,
        );
      }
    });
  }

  listShunned(limit: number): ArtifactHash[] {
    return this.host.sql.exec<{ hash: string }>(`SELECT hash FROM fossil_shun ORDER BY hash LIMIT ?`, lim(limit)).toArray().map((r) => r.hash);
  }
}

/** The synchronous tables through the async FossilConfigRows interface. */
export function localConfigRows(s: SqlFossilConfigRows): FossilConfigRows {
  return {
    list: async (table, limit) => s.list(table, limit),
    put: async (rows) => s.put(rows),
    listShunned: async (limit) => s.listShunned(limit),
  };
}
