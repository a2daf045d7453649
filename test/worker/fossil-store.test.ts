// The FossilStore contract against the Durable Object implementation: tables
// in a real RepoObject's SQLite (each call run inside the DO), segments in
// miniflare's R2.
import { env, runInDurableObject } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import type { FossilStore } from '../../shared/storage/fossil.js';
import { FOSSIL_MIGRATIONS, FOSSIL_SCHEMA_VERSION, migrateFossil, SqlFossilStore } from '../../worker/durable/fossil-store.js';
import type { RepoObject } from '../../worker/durable/repo.js';
import { SCHEMA_VERSION } from '../../worker/durable/repo-store.js';
import { R2SegmentStore } from '../../worker/storage-r2/segments.js';
import { describeFossilStoreContract, fhash } from '../shared/storage/fossil-contract.js';

type Stub = DurableObjectStub<RepoObject>;

/** A FossilStore whose every call runs synchronously inside the DO, as the sync server's calls do. */
function inDurableObject(stub: Stub): FossilStore {
  const run = <T>(fn: (s: SqlFossilStore) => T): Promise<T> => runInDurableObject(stub, (_i: RepoObject, state) => fn(new SqlFossilStore(state.storage)));
  return {
    states: (h) => run((s) => s.states(h)),
    rows: (h) => run((s) => s.rows(h)),
    chain: (h) => run((s) => s.chain(h)),
    listFrom: (f, l) => run((s) => s.listFrom(f, l)),
    count: () => run((s) => s.count()),
    listUnclustered: (l, after) => run((s) => s.listUnclustered(l, after)),
    listPrivate: (l, after) => run((s) => s.listPrivate(l, after)),
    listPhantoms: (l, from, withPrivate) => run((s) => s.listPhantoms(l, from, withPrivate)),
    pendingByBase: (b) => run((s) => s.pendingByBase(b)),
    getConfig: (n) => run((s) => s.getConfig(n)),
    listUnversioned: () => run((s) => s.listUnversioned()),
    getUnversioned: (n) => run((s) => s.getUnversioned(n)),
    setShunned: (h, on) => run((s) => s.setShunned(h, on)),
    heights: (h, d) => run((s) => s.heights(h, d)),
    below: (h, d) => run((s) => s.below(h, d)),
    repoint: (w) => run((s) => s.repoint(w)),
    relocate: (m) => run((s) => s.relocate(m)),
    commit: (b) => run((s) => s.commit(b)),
    configRows: {
      list: (t, l) => run((s) => s.configRows.list(t, l)),
      put: (r) => run((s) => s.configRows.put(r)),
      listShunned: (l) => run((s) => s.configRows.listShunned(l)),
    },
  };
}

/** A new DO with the fossil tables (a git repository's DO never gets them; fossil calls create them first). */
async function freshStub(): Promise<Stub> {
  const stub = env.REPO.get(env.REPO.newUniqueId());
  await runInDurableObject(stub, (_i: RepoObject, state) => migrateFossil(state.storage));
  return stub;
}

describeFossilStoreContract('durable object + r2', async () => ({
  store: inDurableObject(await freshStub()),
  segments: new R2SegmentStore(env.CONTENT, `test-${crypto.randomUUID()}`),
}));

describe('RepoObject fossil tables', () => {
  it('are not created for a git repository, are by a fossil call, and migrating again is a no-op', async () => {
    const git = env.REPO.get(env.REPO.newUniqueId());
    expect(await git.ping()).toBe(1);
    await runInDurableObject(git, (_i: RepoObject, state) => {
      const tables = state.storage.sql.exec<{ name: string }>(`SELECT name FROM sqlite_master WHERE name LIKE 'fossil%'`).toArray();
      expect(tables).toEqual([]);
      expect(state.storage.sql.exec<{ version: number }>('SELECT version FROM hub_schema').one().version).toBe(SCHEMA_VERSION);
    });
    const stub = env.REPO.get(env.REPO.newUniqueId());
    await stub.initFossil(`test-${crypto.randomUUID()}`, { creator: 'admin' });
    await runInDurableObject(stub, (_i: RepoObject, state) => {
      const tables = state.storage.sql
        .exec<{ name: string }>(`SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE 'fossil%' ORDER BY name`)
        .toArray()
        .map((r) => r.name);
      expect(tables).toEqual(
        expect.arrayContaining(['fossil_blob', 'fossil_config', 'fossil_pending', 'fossil_phantom', 'fossil_schema', 'fossil_shun', 'fossil_unclustered', 'fossil_unversioned']),
      );
      expect(migrateFossil(state.storage)).toBe(FOSSIL_SCHEMA_VERSION);
    });
  });

  it('marks the phantoms of an older schema private, but those a public pending delta waits on', async () => {
    const stub = env.REPO.get(env.REPO.newUniqueId());
    await runInDurableObject(stub, (_i: RepoObject, state) => {
      const sql = state.storage.sql;
      // The schema before the private mark, with one phantom of each kind.
      sql.exec(`CREATE TABLE fossil_schema (version INTEGER NOT NULL)`);
      for (const stmt of FOSSIL_MIGRATIONS.slice(0, -1).flat()) sql.exec(stmt);
      sql.exec(`INSERT INTO fossil_schema (version) VALUES (?)`, FOSSIL_MIGRATIONS.length - 1);
      sql.exec(`INSERT INTO segments (name) VALUES ('seg')`);
      for (const n of [1, 2, 3]) sql.exec(`INSERT INTO fossil_phantom (hash) VALUES (?)`, fhash(n));
      const pending = `INSERT INTO fossil_pending (hash, base, size, segment, rec_offset, rec_length, rec_size, private) VALUES (?, ?, 5, 1, 0, 3, 3, ?)`;
      sql.exec(pending, fhash(11), fhash(1), 1);
      sql.exec(pending, fhash(12), fhash(2), 1);
      sql.exec(pending, fhash(13), fhash(2), 0);
      expect(migrateFossil(state.storage)).toBe(FOSSIL_MIGRATIONS.length - 1);
      const store = new SqlFossilStore(state.storage);
      expect(store.listPhantoms(10)).toEqual([fhash(2)]);
      expect(store.listPhantoms(10, '', true)).toEqual([fhash(1), fhash(2), fhash(3)]);
    });
  });

  it('answers batches of more than 100 hashes in one call, and a failed commit leaves nothing', async () => {
    const store = inDurableObject(await freshStub());
    const rows = Array.from({ length: 150 }, (_, i) => ({
      hash: fhash(i + 1),
      size: 1,
      segment: 'seg',
      offset: i,
      length: 1,
      recordSize: 1,
      format: 'full' as const,
      base: null,
      private: false,
    }));
    const r = await store.commit({ rows, unclusteredAdd: rows.map((x) => x.hash) });
    expect(r.inserted.map((x) => x.seq)).toEqual(rows.map((_, i) => i + 1));
    expect((await store.states([...rows.map((x) => x.hash), fhash(999)])).filter((s) => s === 'public')).toHaveLength(150);
    expect((await store.rows(rows.map((x) => x.hash))).every((x) => x !== null)).toBe(true);
    // A good part and a bad row: the phantom, config and unclustered changes of the batch are all dropped.
    await expect(
      store.commit({
        rows: [{ ...rows[0], hash: fhash(500) }, { ...rows[0], hash: fhash(501), format: 'fossil-delta', base: fhash(777) }],
        phantoms: [fhash(600)],
        config: [{ name: 'x', value: 'y', mtime: 1 }],
        unclusteredRemove: [fhash(1)],
      }),
    ).rejects.toMatchObject({ code: 'delta-base-missing' });
    expect(await store.states([fhash(500), fhash(600)])).toEqual(['unknown', 'unknown']);
    expect(await store.getConfig(['x'])).toEqual([null]);
    expect(await store.listUnclustered(1)).toEqual([fhash(1)]);
    // A new commit continues the seq after the failed one (AUTOINCREMENT never reuses).
    expect((await store.commit({ rows: [{ ...rows[0], hash: fhash(502) }] })).inserted[0].seq).toBeGreaterThan(150);
  });
});
