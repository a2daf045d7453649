// A push's pending rows over the committed index, then committed with its refs.
import { describe, expect, it } from 'vitest';
import { MAX_CHAIN_DEPTH, type IndexRowInput } from '../../../shared/storage/object-index.js';
import { createMemoryStores } from '../../../shared/storage/memory.js';
import { idOrder, QuarantineIndex } from '../../../shared/storage/quarantine.js';
import { fromHex } from '../../../shared/core/bytes.js';
import { IdSet } from '../../../shared/storage/id-set.js';

const oid = (n: number) => n.toString(16).padStart(40, '0');
const full = (n: number): IndexRowInput => ({ id: oid(n), kind: 'blob', size: 1, segment: 's', offset: 0, length: 1, format: 'full', base: null });
const delta = (n: number, base: number): IndexRowInput => ({ ...full(n), format: 'git-delta', base: oid(base) });
type Repo = ReturnType<typeof createMemoryStores>['repo'];
/** A pack's id set as receive-pack shares it: every id these tests add (1..1000) is in it. */
const sharedIds = () => {
  const ids = new IdSet();
  for (let n = 1; n <= 1000; n++) ids.add(oid(n));
  return ids;
};

describe('QuarantineIndex', () => {
  // A push's quarantine shares the pack's id set, which holds every row's id already (planned without string
  // Sets and Maps: planShared); its plans and refusals must be the same as over its own set.
  describe.each([
    ['its own id set', (repo: Repo) => new QuarantineIndex(repo, repo)],
    ['a shared id set', (repo: Repo) => new QuarantineIndex(repo, repo, undefined, sharedIds())],
  ])('over %s', (_, make) => {
    it('reads pending over committed rows, invisible to the store until committed', async () => {
      const { repo } = createMemoryStores();
      await repo.putBatch([full(1), delta(2, 1)]);
      const q = make(repo);
      const added = await q.add([delta(3, 2), full(1), delta(4, 3)]);
      expect(added.map((r) => [r.id, r.depth])).toEqual([
        [oid(3), 2],
        [oid(4), 3],
      ]);
      expect(await q.has([oid(1), oid(3), oid(9)])).toEqual([true, true, false]);
      expect((await q.get(oid(2)))?.depth).toBe(1);
      expect((await q.get(oid(4)))?.base).toBe(oid(3));
      expect(await repo.has([oid(3), oid(4)])).toEqual([false, false]);
      expect(q.depthOf(oid(4))).toBe(3);
      expect(q.pendingRows()).toMatchObject({ stage: undefined, planned: [{ id: oid(3), depth: 2 }, { id: oid(4), depth: 3 }] });

      const result = await repo.commit({ rows: [], ...q.pendingRows(), refs: [{ name: 'refs/heads/main', old: null, new: oid(4) }] });
      expect(result).toMatchObject({ ok: true, inserted: 2 });
      expect((await repo.get(oid(4)))?.depth).toBe(3);
      await q.drop();
      await expect(q.add([full(9)])).rejects.toThrow(/dropped/);
    });

    it('stages nothing until a row is new, and a refused commit keeps nothing of the stage', async () => {
      const { repo } = createMemoryStores();
      await repo.putBatch([full(1)]);
      const q = make(repo);
      expect(await q.add([full(1)])).toEqual([]);
      expect(q.pendingRows()).toEqual({ stage: undefined, planned: [] });
      await q.add([delta(2, 1)]);
      await repo.update([{ name: 'refs/heads/main', old: null, new: oid(1) }]);
      const result = await repo.commit({ rows: [], ...q.pendingRows(), refs: [{ name: 'refs/heads/main', old: null, new: oid(2) }] });
      expect(result).toMatchObject({ ok: false, inserted: 0 });
      expect(await repo.has([oid(2)])).toEqual([false]);
    });

    it('counts a re-sent committed base at its committed depth', async () => {
      const { repo } = createMemoryStores();
      await repo.putBatch([full(1), delta(2, 1)]);
      const q = make(repo);
      expect((await q.add([delta(2, 1), delta(3, 2)])).map((r) => r.depth)).toEqual([2]);
    });

    it('refuses a too-deep chain at add time and keeps what was added before', async () => {
      const { repo } = createMemoryStores();
      const q = make(repo);
      await q.add([full(1), ...Array.from({ length: MAX_CHAIN_DEPTH }, (_, i) => delta(i + 2, i + 1))]);
      await expect(q.add([full(500), delta(501, MAX_CHAIN_DEPTH + 1)])).rejects.toMatchObject({ code: 'chain-too-deep' });
      expect(q.size).toBe(MAX_CHAIN_DEPTH + 1);
      expect(await q.has([oid(500)])).toEqual([false]);
      await expect(q.add([delta(600, 999)])).rejects.toMatchObject({ code: 'delta-base-missing' });
    });

    it('plans a delta whose base comes later in the same batch', async () => {
      const { repo } = createMemoryStores();
      await repo.putBatch([full(1)]);
      const q = make(repo);
      expect((await q.add([delta(3, 2), delta(2, 1), full(4), delta(5, 4)])).map((r) => [r.id, r.depth])).toEqual([
        [oid(3), 2],
        [oid(2), 1],
        [oid(4), 0],
        [oid(5), 1],
      ]);
      // Repeats within a batch and of pending rows are skipped; a delta on a pending row is one deeper.
      expect((await q.add([delta(6, 3), delta(6, 3), full(4), delta(7, 6)])).map((r) => [r.id, r.depth])).toEqual([
        [oid(6), 3],
        [oid(7), 4],
      ]);
      expect(q.size).toBe(6);
      expect((await repo.commit({ rows: [], ...q.pendingRows(), refs: [] })).inserted).toBe(6);
    });
  });

  it('gives the commit the stored depth of each base outside the stage that staged deltas were planned on', async () => {
    const { repo } = createMemoryStores();
    await repo.putBatch([full(1), delta(2, 1)]);
    const q = new QuarantineIndex(repo, repo);
    const id = (i: number) => i.toString(16).padStart(8, '0').padEnd(40, '0');
    // A delta on a stored base (depth 1), one on a pending base, a stored row again (skipped), then enough rows for a stage.
    await q.add([delta(3, 2), delta(4, 3), delta(2, 1)]);
    for (let i = 1; i <= 8000; i += 1000) await q.add(Array.from({ length: 1000 }, (_, k) => ({ ...full(0), id: id(i + k) })));
    const { stage, stageBases, stageOrder, planned } = q.pendingRows();
    expect(stage).toBeDefined();
    // The staged rows (all 8002: each add left 1000 or more waiting, which go to the stage) in id order: oid(3), oid(4) sort first, then id(1), id(2), ...
    expect(planned).toHaveLength(0);
    expect(stageOrder).toHaveLength(8002);
    expect([...stageOrder!.subarray(0, 4)]).toEqual([0, 1, 2, 3]);
    expect([...stageBases!]).toEqual([[oid(2), 1]]);
    expect((await repo.commit({ rows: [], ...q.pendingRows(), refs: [] })).inserted).toBe(8002);
    expect((await repo.get(oid(4)))?.depth).toBe(3);
    // Past maxOutsideBases none are given: the store checks every staged row.
    const capped = new QuarantineIndex(repo, repo, 1);
    await capped.add([delta(20, 1), delta(21, 2)]);
    for (let i = 1; i <= 8200; i += 1000) await capped.add(Array.from({ length: Math.min(1000, 8200 - i + 1) }, (_, k) => ({ ...full(0), id: id(100000 + i + k) })));
    expect(capped.pendingRows().stage).toBeDefined();
    expect(capped.pendingRows().stageBases).toBeUndefined();
  });

  it('reads rows back whether already in the stage or still waiting to go there', async () => {
    const { repo } = createMemoryStores();
    const q = new QuarantineIndex(repo, repo);
    const n = 9100; // 9000 rows go to the stage (an append whenever 250 or more are waiting), 100 wait
    // Ids varying in their first bytes, as real ones do (IdSet hashes those).
    const id = (i: number) => i.toString(16).padStart(8, '0').padEnd(40, '0');
    const row = (i: number): IndexRowInput => ({ ...full(i), id: id(i), ...((i - 1) % 40 === 0 ? {} : { format: 'git-delta', base: id(i - 1) }) });
    for (let i = 1; i <= n; i += 1000) await q.add(Array.from({ length: Math.min(1000, n - i + 1) }, (_, k) => row(i + k)));
    expect(q.size).toBe(n);
    expect(q.pendingRows().stage).toBeDefined();
    expect(q.pendingRows().planned).toHaveLength(100);
    for (const i of [1, 2, 8192, 8193, n]) {
      expect(await q.get(id(i))).toMatchObject({ id: id(i), depth: (i - 1) % 40 });
    }
    const result = await repo.commit({ rows: [], ...q.pendingRows(), refs: [] });
    expect(result.inserted).toBe(n);
    expect((await repo.get(id(n)))?.depth).toBe((n - 1) % 40);
  });

  it('over a shared id set: only its added rows are pending, in their own row order', async () => {
    const { repo } = createMemoryStores();
    const shared = new IdSet();
    // Ids varying in their first bytes; every third is in the set but never added (not pending).
    const id = (i: number) => ((i * 2654435761) >>> 0).toString(16).padStart(8, '0').padEnd(40, '0');
    const n = 13000; // 8667 rows added: 8192 or more go to a stage
    for (let i = 1; i <= n; i++) shared.add(id(i));
    const q = new QuarantineIndex(repo, repo, undefined, shared);
    const mine = Array.from({ length: n }, (_, k) => k + 1).filter((i) => i % 3 !== 0).reverse();
    for (let k = 0; k < mine.length; k += 1000) await q.add(mine.slice(k, k + 1000).map((i) => ({ ...full(i), id: id(i) })));
    expect(q.size).toBe(mine.length);
    expect(shared.size).toBe(n);
    expect(q.pending(id(3))).toBe(false);
    expect(q.pendingAt(fromHex(id(3)), 0)).toBe(false);
    expect(q.depthOf(id(3))).toBeUndefined();
    expect(await q.get(id(3))).toBeNull();
    expect(await q.has([id(1), id(3)])).toEqual([true, false]);
    expect(q.pending(id(1))).toBe(true);
    expect(await q.get(id(mine[0]))).toMatchObject({ id: id(mine[0]), depth: 0 });
    expect(await q.get(id(mine[mine.length - 1]))).toMatchObject({ id: id(mine[mine.length - 1]) });
    const { stage, stageOrder, planned } = q.pendingRows();
    expect(stage).toBeDefined();
    // Row numbers are the order of adds, not the set's order: stageOrder sorts the staged rows by id.
    const staged = stageOrder!.length;
    expect(staged + planned.length).toBe(mine.length);
    expect([...stageOrder!].map((r) => id(mine[r]))).toEqual(mine.slice(0, staged).map(id).sort());
    expect((await repo.commit({ rows: [], ...q.pendingRows(), refs: [] })).inserted).toBe(mine.length);
    expect(await repo.has([id(1), id(3)])).toEqual([true, false]);
    // A row whose id is not in the shared set is a caller's bug, not a new id for the set.
    await expect(new QuarantineIndex(repo, repo, undefined, new IdSet()).add([full(1)])).rejects.toThrow(/not in the shared id set/);
  });

  it('orders ids by their leading bytes, each number once', () => {
    const ids = ['ff', '00', '7f', '80', '01', '7e', '00'].map((b, i) => `${b}${i.toString(16).padStart(2, '0')}`.padEnd(40, '0'));
    const order = idOrder(fromHex(ids.join('')), ids.length);
    expect([...order].map((i) => ids[i])).toEqual([...ids].sort());
    // Only the first n ids count.
    expect([...idOrder(fromHex(ids.join('')), 3)]).toEqual([1, 2, 0]);
    // Many random ids: a permutation, sorted on the leading 48 bits.
    const n = 5000;
    const bytes = new Uint8Array(n * 20);
    let x = 12345;
    for (let i = 0; i < bytes.length; i++) bytes[i] = (x = (x * 1103515245 + 12345) >>> 0) >>> 24;
    const big = idOrder(bytes, n);
    expect(new Set(big).size).toBe(n);
    const lead = (k: number) => Array.from(bytes.subarray(k * 20, k * 20 + 6), (b) => b.toString(16).padStart(2, '0')).join('');
    for (let i = 1; i < n; i++) expect(lead(big[i - 1]) <= lead(big[i])).toBe(true);
  });
});
