// A ReachPlan kept as parts and read back (reachPlanParts / decodeReachPlan): the same arrays
// whatever the part size, and anything that does not add up to the plan is refused (null).
// A full plan filtered to a blob:none one (reachPlanWithoutBlobs) is the plan built without blobs.
import { describe, expect, it } from 'vitest';
import { decodeReachPlan, radixOrder, PLAN_BASE_OUTSIDE, PLAN_ENTRY_BYTES, PLAN_HEADER_BYTES, PLAN_KINDS, ReachPlanBuilder, reachPlanParts, reachPlanWithoutBlobs, type ReachPlan } from '../../../shared/storage/reach.js';
import { releaseNow } from '../../../shared/core/bytes.js';
import { oid } from './contract.js';

/** Row i's id: ids in another order than the rows' (n is prime to 17), their first bytes spread. */
const idOf = (i: number, n: number) => {
  const k = 1 + ((i * 17) % n);
  return (Math.imul(k, 0x9e3779b1) >>> 0).toString(16).padStart(8, '0') + oid(k).slice(8);
};

/** The sample's rows, added in storage order, or in id order to a builder that expects them so (`unordered`). */
function samplePlan(n: number, blobs = true, unordered = false): ReachPlan {
  const b = new ReachPlanBuilder(n, unordered);
  const rows = Array.from({ length: n }, (_, k) => k);
  if (unordered) rows.sort((x, y) => (idOf(x, n) < idOf(y, n) ? -1 : 1));
  for (const i of rows) {
    if (!blobs && i % 3 !== 0) continue;
    b.add({
      id: idOf(i, n),
      kind: i % 3 === 0 ? 'commit' : 'blob',
      size: 1000 + i,
      segKey: i < n / 2 ? 1 : 2,
      segment: i < n / 2 ? 'seg-a' : 'seg-b',
      offset: i * 7 + 2 ** 33 * (i < n / 2 ? 0 : 1),
      length: 50 + i,
      format: i > 0 && i % 2 === 0 ? 'git-delta' : 'full',
      recordSize: i % 2 === 0 ? 30 + i : null,
      baseAt: null,
      baseId: i > 0 && i % 2 === 0 ? idOf(i % 12 === 0 ? i - 3 : i - 1, n) : null,
    });
  }
  return b.finish();
}

const arrays = (p: ReachPlan) => [p.seg, p.offset, p.length, p.size, p.recordSize, p.kind, p.format, p.base, p.ids].map((a) => [...a]);

describe('reach plan parts', () => {
  it('round-trips whatever the part size, each part its own exactly filled buffer', () => {
    const plan = samplePlan(37);
    for (const size of [1, 61, 62, 1000, 1 << 20]) {
      const parts = [...reachPlanParts(plan, size)];
      expect(parts.reduce((n, p) => n + p.length, 0)).toBe(PLAN_HEADER_BYTES + 37 * PLAN_ENTRY_BYTES);
      for (const p of parts) {
        expect(p.length).toBeLessThanOrEqual(size);
        expect(p.byteOffset).toBe(0);
        expect(p.buffer.byteLength).toBe(p.length);
      }
      const back = decodeReachPlan(plan.count, plan.segmentNames, parts)!;
      expect(back.count).toBe(37);
      expect(back.segmentNames).toEqual(['seg-a', 'seg-b']);
      expect(arrays(back)).toEqual(arrays(plan));
    }
    expect(plan.base[2]).toBe(1); // bases survive as plan indexes
    const empty = samplePlan(0);
    expect(decodeReachPlan(0, [], reachPlanParts(empty, 100))!.count).toBe(0);
    expect(decodeReachPlan(0, [], [])).toBe(null);
  });

  it('refuses short, long or inconsistent parts', () => {
    const plan = samplePlan(10);
    const parts = [...reachPlanParts(plan, 100)];
    expect(decodeReachPlan(10, plan.segmentNames, parts.slice(0, -1))).toBe(null);
    expect(decodeReachPlan(10, plan.segmentNames, [...parts, new Uint8Array(1)])).toBe(null);
    expect(decodeReachPlan(11, plan.segmentNames, parts)).toBe(null);
    expect(decodeReachPlan(9, plan.segmentNames, parts)).toBe(null);
    // A segment index or a base past the plan.
    expect(decodeReachPlan(10, ['seg-a'], parts)).toBe(null);
    const bad = samplePlan(10);
    bad.base[4] = 10;
    expect(decodeReachPlan(10, bad.segmentNames, reachPlanParts(bad, 100))).toBe(null);
    expect(() => [...reachPlanParts({ ...plan, thinBases: new Uint8Array(0) }, 100)]).toThrow();
    // Parts of another layout: another version in the header, no header (zeros, as the first
    // segment index starts the headerless 62-byte entries kept before version 2), or those entries.
    const other = [...reachPlanParts(plan, 1 << 20)];
    other[0][3] = 1;
    expect(decodeReachPlan(10, plan.segmentNames, other)).toBe(null);
    other[0].fill(0, 0, PLAN_HEADER_BYTES);
    expect(decodeReachPlan(10, plan.segmentNames, other)).toBe(null);
    other[0][3] = 2;
    expect(decodeReachPlan(10, plan.segmentNames, other)).toBe(null);
    expect(decodeReachPlan(10, plan.segmentNames, [new Uint8Array(10 * 62)])).toBe(null);
  });

  it('unordered rows (an index scan in id order) are sorted into the plan built in storage order', () => {
    // Rows in id order come in another order than storage's: bases with lower and higher ids than
    // their deltas', before and after them, both segments mixed; without blobs, bases outside on both sides.
    for (const blobs of [true, false]) expect(arrays(samplePlan(40, blobs, true))).toEqual(arrays(samplePlan(40, blobs)));
    expect(samplePlan(40, true, true).base[12]).toBe(9);
    // The ordered builder refuses them; the unordered one refuses two rows at one position.
    const b = new ReachPlanBuilder(4);
    const row = (id: number, offset: number) => ({ id: oid(id), kind: 'blob' as const, size: 1, segKey: 1, segment: 's', offset, length: 1, format: 'full' as const, recordSize: null, baseAt: null });
    b.add(row(1, 10));
    expect(() => b.add(row(2, 5))).toThrow(/storage order/);
    const u = new ReachPlanBuilder(4, true);
    u.add(row(1, 10));
    u.add(row(2, 5));
    expect([...u.finish().offset]).toEqual([5, 10]);
    // Bases by id below and above their deltas' ids, in the plan or not.
    const byId = new ReachPlanBuilder(4, true);
    for (const [id, base] of [[2, 1], [3, 9], [4, 5], [5, 2]]) byId.add({ ...row(id, 100 - id), format: 'git-delta', baseId: oid(base) });
    // In storage order (offsets descending): ids 5, 4, 3, 2.
    expect([...byId.finish().base]).toEqual([3, 0, PLAN_BASE_OUTSIDE, PLAN_BASE_OUTSIDE]);
    const back = new ReachPlanBuilder(4, true);
    back.add(row(2, 10));
    expect(() => back.add(row(1, 5))).toThrow(/id order/);
    const dup = new ReachPlanBuilder(4, true);
    dup.add(row(1, 10));
    dup.add(row(2, 10));
    expect(() => dup.finish()).toThrow(/one position/);
  });

  it('releaseNow frees a buffer at once where the runtime can detach it (workerd), else leaves it', () => {
    const a = new Uint32Array(1000);
    const b = new ArrayBuffer(64);
    releaseNow(a, b);
    const detaches = typeof (ArrayBuffer.prototype as { transfer?: unknown }).transfer === 'function';
    expect([a.buffer.byteLength, b.byteLength]).toEqual(detaches ? [0, 0] : [4000, 64]);
    // workerd (the Worker's runtime) detaches.
    if ((globalThis as { navigator?: { userAgent?: string } }).navigator?.userAgent === 'Cloudflare-Workers') expect(detaches).toBe(true);
  });

  it('radixOrder: indexes by (hi, lo) digits ascending, ties in index order', () => {
    const n = 5000;
    let x = 12345;
    const rnd = () => (x = (x * 1103515245 + 12345) % 2 ** 31);
    const lo = Uint32Array.from({ length: n }, () => (rnd() % 7 === 0 ? 0xffff_fff0 : rnd() % 300_000));
    const hi = Uint32Array.from({ length: n }, () => rnd() % 3);
    const want = Array.from({ length: n }, (_, i) => i).sort((a, b) => hi[a] - hi[b] || lo[a] - lo[b] || a - b);
    expect([...radixOrder(n, [(i) => lo[i], (i) => hi[i]])]).toEqual(want);
    expect([...radixOrder(3, [() => 0])]).toEqual([0, 1, 2]);
    expect([...radixOrder(0, [() => 0])]).toEqual([]);
  });

  it('without blobs: the plan built without them, bases on blobs outside', () => {
    const full = samplePlan(40);
    const none = reachPlanWithoutBlobs(full);
    const built = samplePlan(40, false);
    expect(none.count).toBe(14);
    expect(arrays(none)).toEqual(arrays(built));
    expect([...none.kind].every((k) => PLAN_KINDS[k] === 'commit')).toBe(true);
    // Commit 6 is a delta on blob 5 (outside now), commit 12 on commit 9 (an index in both).
    expect([full.base[6], full.base[12]]).toEqual([5, 9]);
    expect([none.base[2], none.base[4]]).toEqual([PLAN_BASE_OUTSIDE, 3]);
    expect(reachPlanWithoutBlobs(samplePlan(0)).count).toBe(0);
  });
});
