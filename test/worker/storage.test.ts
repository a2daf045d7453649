// The storage contract against the Cloudflare implementation: refs and index in
// a real RepoObject (through its RPC stub), segments in miniflare's R2.
import { env, runInDurableObject } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { InvalidIdError } from '../../shared/storage/errors.js';
import { repoStoreFromStub } from '../../worker/durable/client.js';
import { MAX_CHAIN_DEPTH, type IndexRow } from '../../shared/storage/object-index.js';
import { migrate, SCHEMA_VERSION, SqlRepoStore } from '../../worker/durable/repo-store.js';
import type { RepoObject } from '../../worker/durable/repo.js';
import { R2_PIECE_SIZE, R2SegmentStore } from '../../worker/storage-r2/segments.js';
import { appendRecords } from '../../shared/storage/segments.js';
import { describeStorageContract, oid } from '../shared/storage/contract.js';

const freshStub = () => env.REPO.get(env.REPO.newUniqueId());

describeStorageContract('durable object + r2', async () => {
  const repo = repoStoreFromStub(freshStub());
  const segments = new R2SegmentStore(env.CONTENT, `test-${crypto.randomUUID()}`);
  return { refs: repo, index: repo, committer: repo, segments };
});

describe('RepoObject storage', () => {
  it('creates its schema at the current version, and migrating again is a no-op', async () => {
    const stub = freshStub();
    await stub.ping();
    await runInDurableObject(stub, (_instance: RepoObject, state) => {
      const tables = state.storage.sql
        .exec<{ name: string }>(`SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name`)
        .toArray()
        .map((r) => r.name);
      expect(tables).toEqual(expect.arrayContaining(['hub_schema', 'objects', 'refs', 'segments', 'symrefs']));
      expect(state.storage.sql.exec<{ version: number }>(`SELECT version FROM hub_schema`).one().version).toBe(SCHEMA_VERSION);
      expect(migrate(state.storage)).toBe(SCHEMA_VERSION);
    });
  });

  it('interns segment names: many objects, one segments row', async () => {
    const stub = freshStub();
    const rows = Array.from({ length: 150 }, (_, i) => ({
      id: oid(i + 1),
      kind: 'blob' as const,
      size: 1,
      segment: 'one-segment',
      offset: i,
      length: 1,
      format: 'full' as const,
      base: null,
    }));
    const repo = repoStoreFromStub(stub);
    expect(await repo.putBatch(rows)).toEqual({ inserted: 150 });
    // More ids than DO SQL's 100 bound parameters, in one has() call.
    const answer = await repo.has([...rows.map((r) => r.id), oid(999)]);
    expect(answer.filter(Boolean)).toHaveLength(150);
    expect(answer[150]).toBe(false);
    await runInDurableObject(stub, (_instance: RepoObject, state) => {
      expect(state.storage.sql.exec<{ n: number }>(`SELECT count(*) AS n FROM segments`).one().n).toBe(1);
    });
  });

  it('returns typed errors as data over RPC, and the client rethrows them typed', async () => {
    const stub = freshStub();
    expect(await stub.getObject('nope')).toMatchObject({ ok: false, error: { code: 'invalid-id', data: { id: 'nope' } } });
    const err = await repoStoreFromStub(stub)
      .get('nope')
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InvalidIdError);
    expect(err).toMatchObject({ code: 'invalid-id' });
  });
});

/** Index rows for the commit tests: object n, a delta on `base` at `depth` when base is not null. */
const seg = (n: number) => `seg-${n}`;
const planned = (n: number, base: number | null, depth: number, segment = seg(1)): IndexRow => ({
  id: oid(n),
  kind: 'blob',
  size: 1,
  segment,
  offset: n,
  length: 1,
  format: base === null ? 'full' : 'git-delta',
  base: base === null ? null : oid(base),
  depth,
});
const ids = (state: DurableObjectState) => state.storage.sql.exec<{ id: string }>(`SELECT id FROM objects ORDER BY id`).toArray().map((r) => r.id);

describe('SqlRepoStore commit of planned rows', () => {

  it('inserts rows streamed with their depths (bases before or after), skipping indexed ids', async () => {
    await runInDurableObject(freshStub(), (_i: RepoObject, state) => {
      const store = new SqlRepoStore(state.storage);
      store.putBatch([{ ...planned(1, null, 0, seg(0)) }]);
      // Row 3's base (2) comes after it, as a quarantine batch may order them.
      const r = store.commit({ rows: [], planned: [planned(3, 2, 2), planned(2, 1, 1), planned(1, null, 0)], refs: [{ name: 'refs/heads/main', old: null, new: oid(3) }] });
      expect(r).toMatchObject({ ok: true, inserted: 2 });
      expect(store.get(oid(3))).toMatchObject({ depth: 2, base: oid(2), segment: seg(1) });
      expect(store.get(oid(1))).toMatchObject({ segment: seg(0) });
    });
  });

  it('stores every field of planned rows as given: full records in two segments, one with a record size, deltas', async () => {
    await runInDurableObject(freshStub(), (_i: RepoObject, state) => {
      const store = new SqlRepoStore(state.storage);
      const rows: IndexRow[] = [
        { ...planned(1, null, 0), kind: 'commit', size: 300, offset: 12, length: 200 },
        { ...planned(2, null, 0, seg(2)), kind: 'tree', size: 7, offset: 0, length: 9 },
        { ...planned(3, null, 0), recordSize: 300 },
        { ...planned(4, 1, 1), size: 2 ** 40, offset: 2 ** 33, length: 5, recordSize: 11 },
        ...Array.from({ length: 1200 }, (_, i) => planned(100 + i, null, 0, seg(i % 3))),
      ];
      expect(store.commit({ rows: [], planned: rows, refs: [] })).toMatchObject({ ok: true, inserted: rows.length });
      for (const row of rows) expect(store.get(row.id)).toEqual(row);
    });
  });

  it('rows() answers many ids in one call as get() does, in their order, null where not indexed', async () => {
    await runInDurableObject(freshStub(), (_i: RepoObject, state) => {
      const store = new SqlRepoStore(state.storage);
      const rows: IndexRow[] = [
        { ...planned(1, null, 0), kind: 'commit', size: 300, offset: 12, length: 200 },
        { ...planned(3, null, 0, seg(2)), recordSize: 300 },
        { ...planned(4, 1, 1), size: 2 ** 40, offset: 2 ** 33, length: 5, recordSize: 11 },
      ];
      store.commit({ rows: [], planned: rows, refs: [] });
      const ids = [oid(4), oid(2), oid(1), oid(3), oid(4)];
      expect(store.rows(ids)).toEqual([rows[2], null, rows[0], rows[1], rows[2]]);
      expect(store.rows([])).toEqual([]);
    });
  });

  it('a marking commit of planned rows into an empty index builds objects_reach again, and a refused one keeps it', async () => {
    await runInDurableObject(freshStub(), (_i: RepoObject, state) => {
      const store = new SqlRepoStore(state.storage);
      const reachIndex = () => state.storage.sql.exec(`SELECT 1 FROM sqlite_master WHERE type = 'index' AND name = 'objects_reach'`).toArray().length;
      const marked = () => state.storage.sql.exec<{ n: number }>(`SELECT count(*) AS n FROM objects INDEXED BY objects_reach WHERE reach = 1`).one().n;
      const rows = [planned(1, null, 0), planned(2, 1, 1), planned(3, null, 0)];
      // Refused while the rows go in (after the index was dropped), and after (the depth check).
      const bad = { ...planned(4, null, 0), size: -1 };
      expect(() => store.commit({ rows: [], planned: [...rows, bad], refs: [], reach: { expect: 0, tips: [oid(4)] } })).toThrow(expect.objectContaining({ code: 'invalid-row' }));
      expect(reachIndex()).toBe(1);
      expect(() => store.commit({ rows: [], planned: [...rows, planned(4, 3, 2)], refs: [], reach: { expect: 0, tips: [oid(4)] } })).toThrow(expect.objectContaining({ code: 'chain-too-deep' }));
      expect(reachIndex()).toBe(1);
      expect(ids(state)).toEqual([]);
      expect(store.commit({ rows: [], planned: rows, refs: [], reach: { expect: 0, tips: [oid(2), oid(3)] } })).toMatchObject({ ok: true, inserted: 3 });
      expect(reachIndex()).toBe(1);
      expect(marked()).toBe(3);
    });
  });

  it('listRefs of a prefix with refs sorted after it leaves no statement active: a marking commit that drops objects_reach goes through', async () => {
    await runInDurableObject(freshStub(), (_i: RepoObject, state) => {
      const store = new SqlRepoStore(state.storage);
      const refs = ['refs/heads/a', 'refs/heads/c', 'refs/heads/d', 'refs/tags/t'].map((name) => ({ name, old: null, new: oid(1) }));
      expect(store.commit({ rows: [], planned: [planned(1, null, 0)], refs, reach: { expect: 0, tips: [oid(1)] } })).toMatchObject({ ok: true });
      // As receive-pack checks a new name for refs under it (refs/heads/b/...): refs c, d and t come after.
      expect(store.listRefs('refs/heads/b/')).toEqual([]);
      expect(store.listRefs('refs/heads/')).toEqual(['a', 'c', 'd'].map((n) => ({ name: `refs/heads/${n}`, id: oid(1) })));
      const more = [planned(2, null, 0), planned(3, null, 0), planned(4, null, 0)];
      expect(store.commit({ rows: [], planned: more, refs: [{ name: 'refs/heads/b', old: null, new: oid(4) }], reach: { expect: 1, tips: [oid(1), oid(4)] } })).toMatchObject({ ok: true, inserted: 3 });
      expect(store.readRef('refs/heads/b')).toBe(oid(4));
    });
  });

  it('listRefs answers from its kept list only while no ref changed: each write is seen, a refused one or rows alone keep it', async () => {
    await runInDurableObject(freshStub(), (_i: RepoObject, state) => {
      const store = new SqlRepoStore(state.storage);
      const ref = (n: string, id: number) => ({ name: `refs/heads/${n}`, id: oid(id) });
      expect(store.commit({ rows: [], refs: ['a', 'b'].map((n) => ({ name: `refs/heads/${n}`, old: null, new: oid(1) })) })).toMatchObject({ ok: true });
      expect(store.listRefs()).toEqual([ref('a', 1), ref('b', 1)]);
      expect(store.listRefs('refs/heads/b')).toEqual([ref('b', 1)]);
      const version = store.refsChanged();
      // A stale compare-and-swap writes nothing: the kept list stays.
      expect(store.updateRefs([{ name: 'refs/heads/a', old: oid(9), new: oid(2) }]).ok).toBe(false);
      expect(store.refsChanged()).toBe(version);
      expect(store.updateRefs([{ name: 'refs/heads/a', old: oid(1), new: oid(2) }]).ok).toBe(true);
      expect(store.listRefs('refs/')).toEqual([ref('a', 2), ref('b', 1)]);
      expect(store.commit({ rows: [], refs: [{ name: 'refs/heads/b', old: oid(1), new: null }, { name: 'refs/heads/c', old: null, new: oid(3) }] })).toMatchObject({ ok: true });
      expect(store.listRefs()).toEqual([ref('a', 2), ref('c', 3)]);
      store.setSymbolic('HEAD', 'refs/heads/c');
      expect(store.refsChanged()).not.toBe(version);
      // Rows alone change no ref: the kept list stays.
      const seen = store.refsChanged();
      expect(store.putBatch([planned(5, null, 0)])).toEqual({ inserted: 1 });
      expect(store.refsChanged()).toBe(seen);
      expect(store.listRefs()).toEqual([ref('a', 2), ref('c', 3)]);
    });
  });

  it('a committed ref write carries the kept list over, in code point order: the next listRefs reads no ref', async () => {
    await runInDurableObject(freshStub(), (_i: RepoObject, state) => {
      let reads = 0;
      const sql = state.storage.sql;
      const host = {
        sql: { exec: (query: string, ...args: unknown[]) => (query.startsWith('SELECT name, id FROM refs') && reads++, sql.exec(query, ...args)) } as unknown as SqlStorage,
        transactionSync: <T>(fn: () => T) => state.storage.transactionSync(fn),
      };
      const store = new SqlRepoStore(host);
      const ref = (n: string, id: number) => ({ name: `refs/heads/${n}`, id: oid(id) });
      // U+FF5E sorts before U+1F600 by code point (SQLite, git), after it by UTF-16 unit (JS <).
      const [wide, astral] = ['\uff5e', '\u{1f600}'];
      expect(store.commit({ rows: [], refs: ['a', wide, 'z'].map((n) => ({ name: `refs/heads/${n}`, old: null, new: oid(1) })) })).toMatchObject({ ok: true });
      expect(store.listRefs()).toEqual([ref('a', 1), ref('z', 1), ref(wide, 1)]);
      expect(reads).toBe(1);
      const writes = [
        { name: `refs/heads/${astral}`, old: null, new: oid(2) },
        { name: 'refs/heads/a', old: oid(1), new: null },
        { name: 'refs/heads/b', old: null, new: oid(3) },
        { name: 'refs/heads/z', old: oid(1), new: oid(4) },
      ];
      expect(store.commit({ rows: [], refs: writes })).toMatchObject({ ok: true });
      store.setSymbolic('HEAD', 'refs/heads/b');
      const want = [ref('b', 3), ref('z', 4), ref(wide, 1), ref(astral, 2)];
      expect(store.listRefs()).toEqual(want);
      expect(store.listRefs('refs/heads/z')).toEqual([ref('z', 4)]);
      expect(reads).toBe(1);
      // What a fresh read gives.
      expect(new SqlRepoStore(state.storage).listRefs()).toEqual(want);
      // A refused transaction (a bad row after the refs were planned) keeps nothing it did not write.
      expect(() => store.commit({ rows: [], planned: [{ ...planned(1, null, 0), id: 'A'.repeat(40) }], refs: [{ name: 'refs/heads/c', old: null, new: oid(5) }] })).toThrow();
      expect(store.listRefs()).toEqual(want);
    });
  });

  it('refuses planned rows with a bad id or base (upper case, short, not hex), changing nothing', async () => {
    await runInDurableObject(freshStub(), (_i: RepoObject, state) => {
      const store = new SqlRepoStore(state.storage);
      const main = [{ name: 'refs/heads/main', old: null, new: oid(1) }];
      const bad = ['A'.repeat(40), 'a'.repeat(39), `${'a'.repeat(39)}g`, `${'a'.repeat(39)}\u0130`];
      for (const id of bad) {
        expect(() => store.commit({ rows: [], planned: [planned(1, null, 0), { ...planned(2, null, 0), id }], refs: main })).toThrow(expect.objectContaining({ code: 'invalid-id' }));
        expect(() => store.commit({ rows: [], planned: [planned(1, null, 0), { ...planned(2, 1, 1), base: id }], refs: main })).toThrow(expect.objectContaining({ code: 'invalid-id' }));
      }
      expect(() => store.commit({ rows: [], planned: [{ ...planned(2, 2, 1) }], refs: main })).toThrow(expect.objectContaining({ code: 'chain-cycle' }));
      expect(ids(state)).toEqual([]);
      expect(store.readRef('refs/heads/main')).toBeNull();
    });
  });

  it('refuses a planned depth that is wrong, too deep, or on a missing base, changing nothing', async () => {
    await runInDurableObject(freshStub(), (_i: RepoObject, state) => {
      const store = new SqlRepoStore(state.storage);
      const main = [{ name: 'refs/heads/main', old: null, new: oid(1) }];
      expect(() => store.commit({ rows: [], planned: [planned(1, null, 0), planned(2, 1, 5)], refs: main })).toThrow(expect.objectContaining({ code: 'chain-too-deep' }));
      expect(() => store.commit({ rows: [], planned: [planned(1, null, 0), planned(2, 9, 1)], refs: main })).toThrow(expect.objectContaining({ code: 'delta-base-missing' }));
      const chain = [planned(1, null, 0), ...Array.from({ length: MAX_CHAIN_DEPTH + 1 }, (_, i) => planned(i + 2, i + 1, i + 1))];
      expect(() => store.commit({ rows: [], planned: chain, refs: main })).toThrow(expect.objectContaining({ code: 'chain-too-deep' }));
      expect(() => store.commit({ rows: [], planned: [{ ...planned(1, null, 0), size: -1 }], refs: main })).toThrow(expect.objectContaining({ code: 'invalid-row' }));
      expect(ids(state)).toEqual([]);
      expect(store.readRef('refs/heads/main')).toBeNull();
      // An id stored meanwhile at another depth (a concurrent push): its dependents are checked against the stored row.
      store.putBatch([planned(2, null, 0, seg(0))]);
      expect(() => store.commit({ rows: [], planned: [planned(1, null, 0), planned(2, 1, 1), planned(3, 2, 2)], refs: main })).toThrow(expect.objectContaining({ code: 'chain-too-deep' }));
      expect(ids(state)).toEqual([oid(2)]);
    });
  });
});

describe('SqlRepoStore stages', () => {
  const count = (state: DurableObjectState, table: string) => state.storage.sql.exec<{ n: number }>(`SELECT count(*) AS n FROM ${table}`).one().n;
  const segments = (state: DurableObjectState) => state.storage.sql.exec<{ name: string }>(`SELECT name FROM segments ORDER BY name`).toArray().map((r) => r.name);
  const main = [{ name: 'refs/heads/main', old: null, new: oid(1) }];

  it('commits a stage (bases before or after their deltas), skipping indexed ids, invisible until then', async () => {
    await runInDurableObject(freshStub(), (_i: RepoObject, state) => {
      const store = new SqlRepoStore(state.storage);
      store.putBatch([{ ...planned(1, null, 0, seg(0)) }]);
      const stage = store.openStage();
      // Row 3's base (2) comes after it, as a quarantine batch may order them; more rows than one statement takes.
      const many = Array.from({ length: 1500 }, (_, i) => planned(100 + i, null, 0));
      store.appendStage(stage, [planned(3, 2, 2), planned(2, 1, 1), planned(1, null, 0)]);
      store.appendStage(stage, many);
      expect(store.stageRow(stage, 0)).toMatchObject({ id: oid(3), base: oid(2), depth: 2, segment: seg(1) });
      expect(store.stageRow(stage, 1502)).toMatchObject({ id: oid(1599), segment: seg(1) });
      expect(store.has([oid(2), oid(3)])).toEqual([false, false]);
      const r = store.commit({ rows: [], stage, refs: [{ name: 'refs/heads/main', old: null, new: oid(3) }] });
      expect(r).toMatchObject({ ok: true, inserted: 1502 });
      expect(store.get(oid(3))).toMatchObject({ depth: 2, base: oid(2), segment: seg(1) });
      expect(store.get(oid(1))).toMatchObject({ segment: seg(0) });
      store.dropStage(stage);
      expect(count(state, 'push_stage')).toBe(0);
      expect(segments(state)).toEqual([seg(0), seg(1)]);
      expect(() => store.stageRow(stage, 0)).toThrow(/no stage/);
    });
  });

  it('inserts a stage in the order given when it is one of its rows each, else in its own', async () => {
    await runInDurableObject(freshStub(), (_i: RepoObject, state) => {
      const store = new SqlRepoStore(state.storage);
      const rows = [planned(3, null, 0), planned(1, null, 0), { ...planned(2, 1, 1), recordSize: 37 }];
      for (const order of [[1, 2, 0], [0, 0, 1], [0, 1], [0, 1, 3]]) {
        state.storage.sql.exec(`DELETE FROM objects`);
        const stage = store.openStage();
        store.appendStage(stage, rows);
        // A row left out or repeated would leave it unindexed: such an order is not used.
        expect(store.commit({ rows: [], stage, stageOrder: Uint32Array.from(order), refs: [] })).toMatchObject({ ok: true, inserted: 3 });
        expect(ids(state)).toEqual([oid(1), oid(2), oid(3)]);
        // Every column through the stage: nulls stay null, numbers numbers.
        expect(store.get(oid(2))).toEqual({ ...rows[2], segment: seg(1) });
        expect(store.get(oid(3))).toEqual(rows[0]);
        store.dropStage(stage);
      }
    });
  });

  it('commits a stage and planned rows together, planned deltas on staged bases', async () => {
    await runInDurableObject(freshStub(), (_i: RepoObject, state) => {
      const store = new SqlRepoStore(state.storage);
      const stage = store.openStage();
      store.appendStage(stage, [planned(1, null, 0), planned(2, 1, 1)]);
      const r = store.commit({ rows: [], stage, planned: [planned(3, 2, 2), planned(4, 3, 3)], refs: [{ name: 'refs/heads/main', old: null, new: oid(4) }] });
      expect(r).toMatchObject({ ok: true, inserted: 4 });
      expect(ids(state)).toEqual([oid(1), oid(2), oid(3), oid(4)]);
      const wrong = store.openStage();
      store.appendStage(wrong, [planned(5, null, 0)]);
      expect(() => store.commit({ rows: [], stage: wrong, planned: [planned(6, 5, 2)], refs: [] })).toThrow(expect.objectContaining({ code: 'chain-too-deep' }));
      expect(store.has([oid(5), oid(6)])).toEqual([false, false]);
    });
  });

  it('refuses bad rows at append (appending nothing) and wrong depths or missing bases at commit (changing nothing)', async () => {
    await runInDurableObject(freshStub(), (_i: RepoObject, state) => {
      const store = new SqlRepoStore(state.storage);
      const stage = store.openStage();
      expect(() => store.appendStage(stage, [planned(7, null, 0), { ...planned(1, null, 0), size: -1 }])).toThrow(expect.objectContaining({ code: 'invalid-row' }));
      expect(() => store.appendStage(stage, [planned(7, null, 0), planned(1, null, 1)])).toThrow(expect.objectContaining({ code: 'invalid-row' }));
      expect(() => store.appendStage(stage, [planned(2, 1, MAX_CHAIN_DEPTH + 1)])).toThrow(expect.objectContaining({ code: 'chain-too-deep' }));
      expect(count(state, 'push_stage')).toBe(0);
      store.appendStage(stage, [planned(1, null, 0), planned(2, 1, 5)]);
      expect(store.stageRow(stage, 0).id).toBe(oid(1)); // the refused appends took no row numbers
      expect(() => store.commit({ rows: [], stage, refs: main })).toThrow(expect.objectContaining({ code: 'chain-too-deep' }));
      const missing = store.openStage();
      store.appendStage(missing, [planned(1, null, 0), planned(2, 9, 1)]);
      expect(() => store.commit({ rows: [], stage: missing, refs: main })).toThrow(expect.objectContaining({ code: 'delta-base-missing' }));
      expect(ids(state)).toEqual([]);
      expect(store.readRef('refs/heads/main')).toBeNull();
      // An id stored meanwhile at another depth (a concurrent push): its dependents are checked against the stored row.
      store.putBatch([planned(2, null, 0, seg(0))]);
      const raced = store.openStage();
      store.appendStage(raced, [planned(1, null, 0), planned(2, 1, 1), planned(3, 2, 2)]);
      expect(() => store.commit({ rows: [], stage: raced, refs: main })).toThrow(expect.objectContaining({ code: 'chain-too-deep' }));
      expect(ids(state)).toEqual([oid(2)]);
    });
  });

  it('with stageBases, checks the bases outside the stage (all staged rows when some were stored meanwhile)', async () => {
    await runInDurableObject(freshStub(), (_i: RepoObject, state) => {
      const store = new SqlRepoStore(state.storage);
      store.putBatch([planned(1, null, 0, seg(0)), planned(2, 1, 1, seg(0))]);
      const main3 = [{ name: 'refs/heads/main', old: null, new: oid(3) }];
      // Planned against a stored depth that is not the stored one (a repack meanwhile), or a base gone.
      const wrong = store.openStage();
      store.appendStage(wrong, [planned(3, 2, 3), planned(4, 3, 4)]);
      expect(() => store.commit({ rows: [], stage: wrong, stageBases: new Map([[oid(2), 2]]), refs: main3 })).toThrow(expect.objectContaining({ code: 'chain-too-deep' }));
      const gone = store.openStage();
      store.appendStage(gone, [planned(3, 9, 1)]);
      expect(() => store.commit({ rows: [], stage: gone, stageBases: new Map([[oid(9), 0]]), refs: main3 })).toThrow(expect.objectContaining({ code: 'delta-base-missing' }));
      expect(ids(state)).toEqual([oid(1), oid(2)]);
      // A staged row stored meanwhile at another depth: every staged delta is checked, whatever stageBases says.
      store.putBatch([planned(5, null, 0, seg(0))]);
      const raced = store.openStage();
      store.appendStage(raced, [planned(3, 2, 2), planned(5, 3, 3), planned(6, 5, 4)]);
      expect(() => store.commit({ rows: [], stage: raced, stageBases: new Map([[oid(2), 1]]), refs: main3 })).toThrow(expect.objectContaining({ code: 'chain-too-deep' }));
      expect(ids(state)).toEqual([oid(1), oid(2), oid(5)]);
      expect(store.readRef('refs/heads/main')).toBeNull();
      const right = store.openStage();
      store.appendStage(right, [planned(3, 2, 2), planned(4, 3, 3)]);
      expect(store.commit({ rows: [], stage: right, stageBases: new Map([[oid(2), 1]]), refs: main3 })).toMatchObject({ ok: true, inserted: 2 });
      expect(store.get(oid(4))).toMatchObject({ depth: 3, base: oid(3) });
    });
  });

  it('drops a stage with the segment names only it used, and sweeps stages left by an earlier instance', async () => {
    await runInDurableObject(freshStub(), (_i: RepoObject, state) => {
      const store = new SqlRepoStore(state.storage);
      store.putBatch([planned(1, null, 0, seg(0))]);
      const stage = store.openStage();
      store.appendStage(stage, [planned(2, null, 0, seg(0)), planned(3, null, 0, seg(9))]);
      expect(segments(state)).toEqual([seg(0), seg(9)]);
      store.dropStage(stage);
      expect(count(state, 'push_stage')).toBe(0);
      expect(segments(state)).toEqual([seg(0)]);
      store.appendStage(store.openStage(), [planned(4, null, 0, seg(8))]);
      new SqlRepoStore(state.storage).sweepStages();
      expect(count(state, 'push_stage')).toBe(0);
      expect(segments(state)).toEqual([seg(0)]);
      expect(ids(state)).toEqual([oid(1)]);
    });
  });
});

describe('R2SegmentStore', () => {
  it('keeps segments under the repository prefix and refuses unsafe repository ids and piece sizes', async () => {
    const store = new R2SegmentStore(env.CONTENT, 'repo-a');
    const w = await store.create();
    await w.write(new Uint8Array([1, 2, 3]));
    const { segment } = await w.finish();
    expect(segment).toMatch(/\.p5242880$/); // pieces of R2_PIECE_SIZE
    expect(await env.CONTENT.head(`repos/repo-a/segments/${segment}/0`)).not.toBeNull();
    expect(await new R2SegmentStore(env.CONTENT, 'repo-b').list()).toEqual([]);
    expect(() => new R2SegmentStore(env.CONTENT, '../x')).toThrow(/invalid repository id/);
    expect(() => new R2SegmentStore(env.CONTENT, 'r', { pieceSize: 0 })).toThrow(/piece size/);
  });

  it('writes a segment as single-put pieces and reads ranges across them', async () => {
    const repo = `pieces-${crypto.randomUUID()}`;
    const store = new R2SegmentStore(env.CONTENT, repo, { pieceSize: 1000 });
    const bytes = new Uint8Array(3500).map((_, i) => (i * 11) & 0xff);
    const w = await store.create();
    await w.write(bytes.subarray(0, 1500)); // piece 0 goes up, 500 bytes stay
    expect(w.readBack!(999, 2)).toBeNull();
    expect(w.readBack!(1000, 500)).toEqual(bytes.subarray(1000, 1500));
    await w.write(bytes.subarray(1500));
    const { segment, size } = await w.finish();
    expect(size).toBe(3500);
    const prefix = `repos/${repo}/segments/`;
    const objects = (await env.CONTENT.list({ prefix })).objects;
    expect(objects.map((o) => [o.key.slice(prefix.length), o.size])).toEqual([
      [`${segment}/0`, 1000],
      [`${segment}/1`, 1000],
      [`${segment}/2`, 1000],
      [`${segment}/3`, 500],
    ]);
    // Another store, of another piece size, reads it by the piece size in its id.
    const other = new R2SegmentStore(env.CONTENT, repo);
    expect(await other.list()).toEqual([segment]);
    expect(await other.size(segment)).toBe(3500);
    expect(await other.readRange(segment, 0, 3500)).toEqual(bytes);
    expect(await other.readRange(segment, 999, 2501)).toEqual(bytes.subarray(999));
    expect(await other.readRange(segment, 3000, 500)).toEqual(bytes.subarray(3000));
    expect(await other.readRange(segment, 3500, 0)).toEqual(new Uint8Array(0));
    await expect(other.readRange(segment, 3000, 501)).rejects.toMatchObject({ code: 'segment-range' });
    await expect(other.readRange(segment, 3999, 2)).rejects.toMatchObject({ code: 'segment-range' }); // from the last piece's end on
    await expect(other.readRange(segment, 4000, 1)).rejects.toMatchObject({ code: 'segment-range' }); // a piece that is not there
    const chunks: Uint8Array[] = [];
    for await (const c of other.readStream(segment, 10)) chunks.push(c.slice());
    expect(Buffer.concat(chunks)).toEqual(Buffer.from(bytes.subarray(10)));
    const f = await other.openForward(segment, 100, 3400);
    expect(await f.readInto(100, 50, null)).toEqual(bytes.subarray(100, 150));
    expect(await f.readInto(1990, 1020, null)).toEqual(bytes.subarray(1990, 3010)); // skips into piece 1, reads across 2 into 3
    await f.close();
    const g = await other.openForward(segment, 3400, 200); // past the end
    await expect(g.readInto(3400, 200, null)).rejects.toMatchObject({ code: 'segment-range' });
    await g.close();
    await other.delete(segment);
    expect((await env.CONTENT.list({ prefix })).objects).toEqual([]);
    await expect(other.readRange(segment, 0, 1)).rejects.toMatchObject({ code: 'segment-not-found' });
  });

  it('reads a segment of whole pieces only, and an empty segment', async () => {
    const store = new R2SegmentStore(env.CONTENT, `whole-${crypto.randomUUID()}`, { pieceSize: 1000 });
    const bytes = new Uint8Array(2000).map((_, i) => (i * 5) & 0xff);
    const a = await appendRecords(store, [bytes]);
    expect(await store.size(a.segment)).toBe(2000);
    expect(await store.readRange(a.segment, 0, 2000)).toEqual(bytes);
    expect(await store.readRange(a.segment, 1999, 1)).toEqual(bytes.subarray(1999));
    await expect(store.readRange(a.segment, 1999, 2)).rejects.toMatchObject({ code: 'segment-range' });
    const b = await appendRecords(store, []);
    expect(await store.size(b.segment)).toBe(0);
    expect((await store.list()).sort()).toEqual([a.segment, b.segment].sort());
  });

  it('still reads a segment written as one multipart upload (before pieces)', async () => {
    const repo = `multipart-${crypto.randomUUID()}`;
    const store = new R2SegmentStore(env.CONTENT, repo);
    const segment = 'older-multipart';
    const part = 5 * 1024 * 1024; // R2's smallest part
    const bytes = new Uint8Array(part + 1000).map((_, i) => (i * 3) & 0xff);
    const upload = await env.CONTENT.createMultipartUpload(store.key(segment));
    await upload.complete([await upload.uploadPart(1, bytes.subarray(0, part)), await upload.uploadPart(2, bytes.subarray(part))]);
    expect(await store.size(segment)).toBe(part + 1000);
    expect(await store.readRange(segment, part - 10, 1010)).toEqual(bytes.subarray(part - 10));
    const f = await store.openForward(segment, 0, part + 1000);
    expect(await f.readInto(part - 5, 10, null)).toEqual(bytes.subarray(part - 5, part + 5));
    await f.close();
    await expect(store.readRange(segment, part, 1001)).rejects.toMatchObject({ code: 'segment-range' });
    expect(await store.list()).toEqual([segment]);
    await store.delete(segment);
    expect(await store.list()).toEqual([]);
  });

  it('readRangeInto reads ranges into the memory of an earlier result, and refuses ranges past the end', async () => {
    const store = new R2SegmentStore(env.CONTENT, `into-${crypto.randomUUID()}`);
    const w = await store.create();
    const bytes = new Uint8Array(300_000).map((_, i) => (i * 31) & 0xff);
    await w.write(bytes);
    const { segment } = await w.finish();
    const a = await store.readRangeInto(segment, 1000, 200_000, null);
    expect(a).toEqual(bytes.subarray(1000, 201_000));
    const b = await store.readRangeInto(segment, 5, 100, a);
    expect(b).toEqual(bytes.subarray(5, 105));
    expect(b.buffer.byteLength).toBe(200_000); // a's memory, taken over
    expect(a.length).toBe(0); // detached
    const c = await store.readRangeInto(segment, 0, 250_000, b); // too small: a new buffer
    expect(c).toEqual(bytes.subarray(0, 250_000));
    await expect(store.readRangeInto(segment, 299_990, 20, c)).rejects.toMatchObject({ code: 'segment-range' });
    await expect(store.readRangeInto('nope', 0, 20, null)).rejects.toMatchObject({ code: 'segment-not-found' });
  });

  it('reads back an open segment\'s bytes not yet uploaded, and only those', async () => {
    const store = new R2SegmentStore(env.CONTENT, `back-${crypto.randomUUID()}`);
    const w = await store.create();
    const bytes = new Uint8Array(R2_PIECE_SIZE + 1000).map((_, i) => (i * 7) & 0xff);
    await w.write(bytes.subarray(0, 3000));
    expect(w.readBack!(100, 2900)).toEqual(bytes.subarray(100, 3000));
    expect(w.readBack!(100, 2901)).toBeNull(); // not written yet
    await w.write(bytes.subarray(3000)); // the first piece goes up, 1000 bytes stay
    expect(w.readBack!(R2_PIECE_SIZE - 1, 2)).toBeNull(); // its first byte was uploaded
    expect(w.readBack!(R2_PIECE_SIZE, 1000)).toEqual(bytes.subarray(R2_PIECE_SIZE));
    const { segment } = await w.finish();
    expect(await store.readRange(segment, 0, bytes.length)).toEqual(bytes);
  });

  it('reads a range forward through one request, skipping what lies between reads, and refuses reads outside it or past the segment end', async () => {
    const store = new R2SegmentStore(env.CONTENT, `fwd-${crypto.randomUUID()}`);
    const w = await store.create();
    const bytes = new Uint8Array(300_000).map((_, i) => (i * 13) & 0xff);
    await w.write(bytes);
    const { segment } = await w.finish();
    const f = await store.openForward(segment, 100, 299_900);
    const a = await f.readInto(100, 1000, null);
    expect(a).toEqual(bytes.subarray(100, 1100));
    const b = await f.readInto(200_000, 50_000, a); // 198,900 bytes skipped
    expect(b).toEqual(bytes.subarray(200_000, 250_000));
    expect(f.position).toBe(250_000);
    await expect(f.readInto(1000, 10, b)).rejects.toMatchObject({ code: 'segment-state' });
    await expect(f.readInto(299_000, 2000, null)).rejects.toMatchObject({ code: 'segment-state' }); // past the request
    await f.close();
    const g = await store.openForward(segment, 0, 1000);
    expect(await g.readInto(10, 990, null)).toEqual(bytes.subarray(10, 1000));
    await g.close();
    const h = await store.openForward(segment, 299_000, 2000); // past the end: R2 (local) serves what there is
    await expect(h.readInto(299_000, 2000, null)).rejects.toMatchObject({ code: 'segment-range' });
    await h.close();
    await expect(store.openForward('nope', 0, 10)).rejects.toMatchObject({ code: 'segment-not-found' });
  });

  it('leaves no object behind when a segment of pieces is aborted', async () => {
    const repo = `abort-${crypto.randomUUID()}`;
    const store = new R2SegmentStore(env.CONTENT, repo, { pieceSize: 1000 });
    const w = await store.create();
    await w.write(new Uint8Array(2010)); // two pieces put, 10 bytes buffered
    expect((await env.CONTENT.list({ prefix: `repos/${repo}/` })).objects).toHaveLength(2);
    await w.abort();
    expect((await env.CONTENT.list({ prefix: `repos/${repo}/` })).objects).toEqual([]);
  });
});
