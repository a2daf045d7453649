// planRows: depths of a batch of index rows against each other and the indexed ones.
import { describe, expect, it } from 'vitest';
import { MAX_CHAIN_DEPTH, planRows, type IndexRowInput } from '../../../shared/storage/object-index.js';

const oid = (n: number) => n.toString(16).padStart(40, '0');
const full = (n: number): IndexRowInput => ({ id: oid(n), kind: 'blob', size: 1, segment: 's', offset: 0, length: 1, format: 'full', base: null });
const delta = (n: number, base: number): IndexRowInput => ({ ...full(n), format: 'git-delta', base: oid(base) });
const stored = new Map([[oid(100), 3]]);
const plan = (rows: IndexRowInput[]) => planRows(rows, (id) => stored.get(id) ?? null).map((r): [string, number] => [r.id, r.depth]);

describe('planRows', () => {
  it('gives the same depths whether bases come before or after their deltas', () => {
    const forward = plan([full(1), delta(2, 1), delta(3, 2), delta(4, 100), delta(5, 4)]);
    expect(forward).toEqual([[oid(1), 0], [oid(2), 1], [oid(3), 2], [oid(4), 4], [oid(5), 5]]);
    const backward = plan([delta(5, 4), delta(3, 2), delta(4, 100), delta(2, 1), full(1)]);
    expect(new Map(backward)).toEqual(new Map(forward));
    // Indexed rows and repeats are dropped.
    expect(plan([full(100), full(1), full(1)])).toEqual([[oid(1), 0]]);
  });

  it('refuses a chain past MAX_CHAIN_DEPTH, a missing base and a cycle, whichever way the batch is ordered', () => {
    const chain = [full(1), ...Array.from({ length: MAX_CHAIN_DEPTH }, (_, i) => delta(i + 2, i + 1))];
    expect(plan(chain).at(-1)).toEqual([oid(MAX_CHAIN_DEPTH + 1), MAX_CHAIN_DEPTH]);
    for (const rows of [[...chain, delta(999, MAX_CHAIN_DEPTH + 1)], [delta(999, MAX_CHAIN_DEPTH + 1), ...chain.reverse()]]) {
      expect(() => plan(rows)).toThrow(expect.objectContaining({ code: 'chain-too-deep' }));
    }
    expect(() => plan([full(1), delta(2, 7)])).toThrow(expect.objectContaining({ code: 'delta-base-missing' }));
    expect(() => plan([delta(2, 3), delta(3, 2)])).toThrow(expect.objectContaining({ code: 'chain-cycle' }));
    expect(() => plan([{ ...full(1), size: -1 }])).toThrow(expect.objectContaining({ code: 'invalid-row' }));
    expect(() => plan([{ ...delta(2, 1), base: 'xyz' }])).toThrow(expect.objectContaining({ code: 'invalid-id' }));
    expect(() => plan([{ ...full(2), base: oid(1) }])).toThrow(/a full record has no base/);
  });
});
