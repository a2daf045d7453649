// A push's pending rows over the committed index, then committed with its refs.
import { describe, expect, it } from 'vitest';
import { MAX_CHAIN_DEPTH, type IndexRowInput } from '../../../shared/storage/object-index.js';
import { createMemoryStores } from '../../../shared/storage/memory.js';
import { QuarantineIndex } from '../../../shared/storage/quarantine.js';

const oid = (n: number) => n.toString(16).padStart(40, '0');
const full = (n: number): IndexRowInput => ({ id: oid(n), kind: 'blob', size: 1, segment: 's', offset: 0, length: 1, format: 'full', base: null });
const delta = (n: number, base: number): IndexRowInput => ({ ...full(n), format: 'git-delta', base: oid(base) });

describe('QuarantineIndex', () => {
  it('reads pending over committed rows, invisible to the store until committed', async () => {
    const { repo } = createMemoryStores();
    await repo.putBatch([full(1), delta(2, 1)]);
    const q = new QuarantineIndex(repo);
    const added = await q.add([delta(3, 2), full(1), delta(4, 3)]);
    expect(added.map((r) => [r.id, r.depth])).toEqual([
      [oid(3), 2],
      [oid(4), 3],
    ]);
    expect(await q.has([oid(1), oid(3), oid(9)])).toEqual([true, true, false]);
    expect((await q.get(oid(2)))?.depth).toBe(1);
    expect((await q.get(oid(4)))?.base).toBe(oid(3));
    expect(await repo.has([oid(3), oid(4)])).toEqual([false, false]);
    // The pending rows themselves, with the depth the commit will recompute.
    expect(q.rows()).toEqual([
      { ...delta(3, 2), depth: 2 },
      { ...delta(4, 3), depth: 3 },
    ]);

    const result = await repo.commit({ rows: q.rows(), refs: [{ name: 'refs/heads/main', old: null, new: oid(4) }] });
    expect(result).toMatchObject({ ok: true, inserted: 2 });
    expect((await repo.get(oid(4)))?.depth).toBe(3);
  });

  it('counts a re-sent committed base at its committed depth', async () => {
    const { repo } = createMemoryStores();
    await repo.putBatch([full(1), delta(2, 1)]);
    const q = new QuarantineIndex(repo);
    expect((await q.add([delta(2, 1), delta(3, 2)])).map((r) => r.depth)).toEqual([2]);
  });

  it('refuses a too-deep chain at add time and keeps what was added before', async () => {
    const { repo } = createMemoryStores();
    const q = new QuarantineIndex(repo);
    await q.add([full(1), ...Array.from({ length: MAX_CHAIN_DEPTH }, (_, i) => delta(i + 2, i + 1))]);
    await expect(q.add([full(500), delta(501, MAX_CHAIN_DEPTH + 1)])).rejects.toMatchObject({ code: 'chain-too-deep' });
    expect(q.size).toBe(MAX_CHAIN_DEPTH + 1);
    expect(await q.has([oid(500)])).toEqual([false]);
    await expect(q.add([delta(600, 999)])).rejects.toMatchObject({ code: 'delta-base-missing' });
  });
});
