// A ReachPlan kept as parts and read back (reachPlanParts / decodeReachPlan): the same arrays
// whatever the part size, and anything that does not add up to the plan is refused (null).
// A full plan filtered to a blob:none one (reachPlanWithoutBlobs) is the plan built without blobs.
import { describe, expect, it } from 'vitest';
import { decodeReachPlan, PLAN_BASE_OUTSIDE, PLAN_ENTRY_BYTES, PLAN_KINDS, ReachPlanBuilder, reachPlanParts, reachPlanWithoutBlobs, type ReachPlan } from '../../../shared/storage/reach.js';
import { oid } from './contract.js';

function samplePlan(n: number, blobs = true): ReachPlan {
  const b = new ReachPlanBuilder(n);
  for (let i = 0; i < n; i++) {
    if (!blobs && i % 3 !== 0) continue;
    b.add({
      id: oid(i + 1),
      kind: i % 3 === 0 ? 'commit' : 'blob',
      size: 1000 + i,
      segKey: i < n / 2 ? 1 : 2,
      segment: i < n / 2 ? 'seg-a' : 'seg-b',
      offset: i * 7 + 2 ** 33 * (i < n / 2 ? 0 : 1),
      length: 50 + i,
      format: i > 0 && i % 2 === 0 ? 'git-delta' : 'full',
      recordSize: i % 2 === 0 ? 30 + i : null,
      baseAt: null,
      baseId: i > 0 && i % 2 === 0 ? oid(i % 12 === 0 ? i - 2 : i) : null,
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
      expect(parts.reduce((n, p) => n + p.length, 0)).toBe(37 * PLAN_ENTRY_BYTES);
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
    expect([...reachPlanParts(empty, 100)]).toEqual([]);
    expect(decodeReachPlan(0, [], [])!.count).toBe(0);
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
