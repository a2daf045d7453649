// The DO's reachability closure (shared/storage/reach.ts over SqlRepoStore):
// version compare-and-swap, marks and resets, status codes, and the compact
// plan in storage order with delta bases resolved only inside the closure.
import { env, runInDurableObject } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { toHexAt } from '../../shared/core/bytes.js';
import { PLAN_BASE_OUTSIDE, PLAN_ENTRY_BYTES, PLAN_HEADER_BYTES, PLAN_NO_BASE, REACH_IN, REACH_MISSING, REACH_OUTSIDE, reachPlanParts, type ReachPlan } from '../../shared/storage/reach.js';
import { repoStoreFromStub } from '../../worker/durable/client.js';
import { SqlRepoStore } from '../../worker/durable/repo-store.js';
import type { RepoObject } from '../../worker/durable/repo.js';
import { oid } from '../shared/storage/contract.js';

describe('SqlRepoStore reach closure', () => {
  it('marks with a version check, plans in storage order, resets', async () => {
    const stub = env.REPO.get(env.REPO.newUniqueId());
    const row = (n: number, segment: string, offset: number, base: number | null, kind: 'blob' | 'commit' = 'blob') => ({
      id: oid(n),
      kind,
      size: 10,
      segment,
      offset,
      length: 5,
      format: base === null ? ('full' as const) : ('git-delta' as const),
      base: base === null ? null : oid(base),
      recordSize: base === null ? undefined : 7,
    });
    // Segment b is written first, so it sorts first; 3 is a delta on 2 (a later segment), 4 on 5 (never marked).
    await repoStoreFromStub(stub).putBatch([row(1, 'b', 10, null, 'commit'), row(5, 'b', 0, null)]);
    await repoStoreFromStub(stub).putBatch([row(2, 'a', 0, null), row(3, 'a', 5, 2), row(4, 'a', 20, 5)]);
    await runInDurableObject(stub, (_i: RepoObject, state) => {
      const s = new SqlRepoStore(state.storage);
      expect(s.reachState()).toEqual({ version: 0, tips: [] });
      expect([...s.reachStatus([oid(1), oid(9)])]).toEqual([REACH_OUTSIDE, REACH_MISSING]);
      expect(s.reachMark(0, [oid(1)], [oid(1), oid(2), oid(3), oid(4)], false)).toBe(1);
      expect(s.reachMark(0, [oid(1)], [oid(5)], false)).toBe(null); // stale version: nothing changes
      expect([...s.reachStatus([oid(1), oid(5)])]).toEqual([REACH_IN, REACH_OUTSIDE]);
      // reachRows: the same codes (by position, duplicates too), and rows for everything but blobs.
      const rr = s.reachRows([oid(5), oid(1), oid(9), oid(1)]);
      expect([...rr.status]).toEqual([REACH_OUTSIDE, REACH_IN, REACH_MISSING, REACH_IN]);
      expect(rr.rows[0]).toBe(undefined);
      expect(rr.rows[1]).toEqual(s.get(oid(1)));
      expect(rr.rows[2]).toBe(undefined);
      expect(rr.rows[3]).toEqual(s.get(oid(1)));
      expect(s.reachRows([])).toEqual({ status: new Uint8Array(0), rows: [] });
      expect(s.reachPlan(0, true)).toBe(null);
      const plan = s.reachPlan(1, true)!;
      const ids = Array.from({ length: plan.count }, (_, i) => toHexAt(plan.ids, i * 20, 20));
      expect(ids).toEqual([oid(1), oid(2), oid(3), oid(4)]);
      expect([...plan.base]).toEqual([PLAN_NO_BASE, PLAN_NO_BASE, 1, PLAN_BASE_OUTSIDE]);
      expect([...plan.recordSize]).toEqual([-1, -1, 7, 7]);
      expect(plan.segmentNames[plan.seg[0]]).toBe('b');
      expect(s.reachPlan(1, false)!.count).toBe(1);
      // The last plan is remembered for its version (and blobs choice) only.
      const again = s.reachPlan(1, false)!;
      expect(s.reachPlan(1, false)).toBe(again);
      // Kept in SQLite too: a new instance (a restarted DO) reads the same plan back without rebuilding it.
      const kept = state.storage.sql.exec<{ blobs: number; version: number; count: number }>(`SELECT blobs, version, count FROM reach_plans ORDER BY blobs`).toArray();
      expect(kept).toEqual([
        { blobs: 0, version: 1, count: 1 },
        { blobs: 1, version: 1, count: 4 },
      ]);
      const fields = (p: typeof plan) => [p.count, p.segmentNames, ...[p.seg, p.offset, p.length, p.size, p.recordSize, p.kind, p.format, p.base, p.ids].map((a) => [...a])];
      const fresh = new SqlRepoStore(state.storage).reachPlan(1, true)!;
      expect(fresh).not.toBe(plan);
      expect(fields(fresh)).toEqual(fields(plan));
      // A kept plan that does not decode (here: cut short) is built again, and kept anew.
      state.storage.sql.exec(`UPDATE reach_plans SET data = substr(data, 1, 10) WHERE blobs = 1`);
      expect(fields(new SqlRepoStore(state.storage).reachPlan(1, true)!)).toEqual(fields(plan));
      expect(state.storage.sql.exec<{ n: number }>(`SELECT length(data) AS n FROM reach_plans WHERE blobs = 1`).one().n).toBe(PLAN_HEADER_BYTES + 4 * PLAN_ENTRY_BYTES);
      // The blob:none plan was filtered from the full one; built from the rows it is the same.
      const filtered = s.reachPlan(1, false)!;
      state.storage.sql.exec(`DELETE FROM reach_plans`);
      expect(fields(new SqlRepoStore(state.storage).reachPlan(1, false)!)).toEqual(fields(filtered));
      expect(s.reachMark(1, [oid(5)], [oid(5)], true)).toBe(2);
      expect(s.reachPlan(1, false)).toBe(null);
      // A kept plan of an older version is not used: version 2's plan is V's as it is now.
      expect(new SqlRepoStore(state.storage).reachPlan(2, true)!.count).toBe(1);
      expect(s.reachPlan(2, false)!.count).toBe(0);
      expect(s.reachState()).toEqual({ version: 2, tips: [oid(5)] });
      // A mark of no ids without reset changes only S: V's kept plan moves to the new version with it.
      expect(s.reachPlan(2, true)!.count).toBe(1);
      expect(s.reachMark(2, [oid(5), oid(1)], [], false)).toBe(3);
      expect(state.storage.sql.exec<{ version: number }>(`SELECT DISTINCT version FROM reach_plans`).toArray()).toEqual([{ version: 3 }]);
      expect(s.reachMark(3, [oid(5)], [oid(3)], false)).toBe(4);
      expect(state.storage.sql.exec<{ version: number }>(`SELECT DISTINCT version FROM reach_plans`).toArray()).toEqual([{ version: 3 }]);
      expect(s.reachMark(4, [oid(5)], [], false)).toBe(5);
      expect([...s.reachStatus([oid(1), oid(5)])]).toEqual([REACH_OUTSIDE, REACH_IN]);
      expect(s.reachPlan(5, true)!.count).toBe(2);
    });
  });

  it('rowsAfter: the closure\'s rows stored after a row in its segment, in storage order, at most n', async () => {
    const stub = env.REPO.get(env.REPO.newUniqueId());
    const row = (n: number, segment: string, offset: number) => ({ id: oid(n), kind: 'commit' as const, size: 10, segment, offset, length: 5, format: 'full' as const, base: null });
    // Inserted out of storage order; 6 is never marked (outside the closure).
    await repoStoreFromStub(stub).putBatch([row(3, 'a', 20), row(1, 'a', 0), row(2, 'a', 10), row(6, 'a', 15), row(4, 'b', 0), row(5, 'a', 30)]);
    await runInDurableObject(stub, (_i: RepoObject, state) => {
      const s = new SqlRepoStore(state.storage);
      expect(s.reachMark(0, [oid(1)], [oid(1), oid(2), oid(3), oid(4), oid(5)], false)).toBe(1);
      const after = (n: number, k: number) => s.rowsAfter(s.get(oid(n))!, k);
      expect(after(1, 10)).toEqual([oid(2), oid(3), oid(5)].map((id) => s.get(id)));
      expect(after(1, 2).map((r) => r.id)).toEqual([oid(2), oid(3)]);
      expect(after(6, 10).map((r) => r.id)).toEqual([oid(3), oid(5)]);
      expect(after(5, 10)).toEqual([]);
      expect(after(4, 10)).toEqual([]);
    });
  });

  it('keeps a pack trailer and an oldest commit date only for the plan they were found from: a plan kept anew, forgotten or reset gets a new name', async () => {
    const stub = env.REPO.get(env.REPO.newUniqueId());
    const row = (n: number, offset: number) => ({ id: oid(n), kind: 'blob' as const, size: 10, segment: 'a', offset, length: 5, format: 'full' as const, base: null });
    await repoStoreFromStub(stub).putBatch([row(1, 0), row(2, 5), row(3, 10)]);
    await runInDurableObject(stub, (_i: RepoObject, state) => {
      const s = new SqlRepoStore(state.storage);
      const digest = new Uint8Array(20).fill(7);
      expect(s.reachMark(0, [oid(1)], [oid(1), oid(2)], false)).toBe(1);
      const k1 = s.reachPlan(1, true)!.key!;
      expect(s.reachPackDigest(k1, true)).toBe(null);
      s.keepReachPackDigest(k1, true, digest);
      expect(s.reachPackDigest(k1, true)).toEqual(digest);
      expect(s.reachPackDigest(k1, false)).toBe(null);
      // The same plan again (from memory, or read back from SQLite): the same name.
      expect(s.reachPlan(1, true)!.key).toBe(k1);
      // A restarted DO names its plans anew and keeps no trailers.
      const restarted = new SqlRepoStore(state.storage);
      expect(restarted.reachPackDigest(restarted.reachPlan(1, true)!.key!, true)).toBe(null);
      // Only S changed: the same rows, the same name.
      expect(s.reachMark(1, [oid(2)], [], false)).toBe(2);
      expect(s.reachPlan(2, true)!.key).toBe(k1);
      // V grew: a new plan, a new name; a trailer of the old one is not taken any more.
      expect(s.reachMark(2, [oid(2)], [oid(3)], false)).toBe(3);
      const k2 = s.reachPlan(3, true)!.key!;
      expect(k2).not.toBe(k1);
      expect(s.reachPackDigest(k2, true)).toBe(null);
      // A name is never given to other rows, so what was kept under k1 still holds for k1's bytes;
      // but nothing new is kept under a name no longer current.
      s.keepReachPackDigest(k1, false, digest);
      expect(s.reachPackDigest(k1, false)).toBe(null);
      // The oldest commit date of a plan's closure is kept the same way.
      s.keepReachOldestCommit(k2, 1234);
      expect(s.reachOldestCommit(k2)).toBe(1234);
      s.keepReachOldestCommit(k1, 5);
      expect(s.reachOldestCommit(k1)).toBe(null);
      // Forgotten (rows moved by compaction) at the same version: the rebuilt plan is named anew.
      s.keepReachPackDigest(k2, true, digest);
      s.forgetReachPlans();
      const k3 = s.reachPlan(3, true)!.key!;
      expect(k3).not.toBe(k2);
      expect(s.reachPackDigest(k3, true)).toBe(null);
      expect(s.reachOldestCommit(k3)).toBe(null);
      // A reset drops the names too.
      expect(s.reachMark(3, [oid(3)], [oid(3)], true)).toBe(4);
      s.keepReachPackDigest(k3, true, digest);
      expect(s.reachPackDigest(k3, true)).toBe(null);
      expect(s.reachPlan(4, true)!.key).not.toBe(k3);
    });
  });

  it('a commit with `reach` marks its rows (direct, planned and staged) in its own transaction, only at the expected version', async () => {
    const stub = env.REPO.get(env.REPO.newUniqueId());
    const row = (n: number, offset: number) => ({ id: oid(n), kind: 'blob' as const, size: 10, segment: 'a', offset, length: 5, format: 'full' as const, base: null, depth: 0 });
    const ref = (n: number) => ({ name: `refs/heads/b${n}`, old: null, new: oid(n) });
    await runInDurableObject(stub, (_i: RepoObject, state) => {
      const s = new SqlRepoStore(state.storage);
      // Stale version: the rows and refs go in, unmarked, and the state is untouched.
      s.commit({ rows: [row(1, 0)], refs: [ref(1)], reach: { expect: 5, tips: [oid(1)] } });
      expect(s.reachState()).toEqual({ version: 0, tips: [] });
      expect([...s.reachStatus([oid(1)])]).toEqual([REACH_OUTSIDE]);
      // Direct rows, one of them indexed already (marked too: the caller's proof covers every row it gives).
      s.commit({ rows: [row(1, 0), row(2, 5)], refs: [ref(2)], reach: { expect: 0, tips: [oid(2)] } });
      expect(s.reachState()).toEqual({ version: 1, tips: [oid(2)] });
      expect([...s.reachStatus([oid(1), oid(2)])]).toEqual([REACH_IN, REACH_IN]);
      // Planned rows (a small push's), one indexed meanwhile, unmarked.
      s.commit({ rows: [row(3, 10)], refs: [] });
      s.commit({ rows: [], planned: [row(3, 10), row(4, 15)], refs: [ref(4)], reach: { expect: 1, tips: [oid(4)] } });
      expect(s.reachState()).toEqual({ version: 2, tips: [oid(4)] });
      expect([...s.reachStatus([oid(3), oid(4)])]).toEqual([REACH_IN, REACH_IN]);
      // Staged rows (a large push's), one indexed meanwhile.
      s.commit({ rows: [row(5, 20)], refs: [] });
      const stage = s.openStage();
      s.appendStage(stage, [row(5, 20), row(6, 25)]);
      s.commit({ rows: [], stage, refs: [ref(6)], reach: { expect: 2, tips: [oid(6)] } });
      s.dropStage(stage);
      expect(s.reachState()).toEqual({ version: 3, tips: [oid(6)] });
      expect([...s.reachStatus([oid(5), oid(6)])]).toEqual([REACH_IN, REACH_IN]);
      expect(s.reachPlan(3, true)!.count).toBe(6);
      // A staged commit marking more rows than V holds (a first push) builds objects_reach again: same plan.
      const big = s.openStage();
      s.appendStage(big, [row(8, 40), row(9, 35), row(10, 45), row(11, 50), row(12, 55), row(13, 60), row(14, 65)]);
      s.commit({ rows: [], stage: big, refs: [ref(8)], reach: { expect: 3, tips: [oid(8), oid(6)] } });
      s.dropStage(big);
      const indexes = state.storage.sql.exec<{ name: string }>(`SELECT name FROM sqlite_master WHERE type = 'index' AND name = 'objects_reach'`).toArray();
      expect(indexes.length).toBe(1);
      // Built again as the migrations make it: covering for a count or scan of V (no row looked up per entry).
      for (const q of [`SELECT count(*) FROM objects WHERE reach = 1`, `SELECT 1 FROM objects WHERE reach = 1 LIMIT 1 OFFSET 5`]) {
        const how = state.storage.sql.exec<{ detail: string }>(`EXPLAIN QUERY PLAN ${q}`).toArray();
        expect(how.map((r) => r.detail)).toEqual(['SCAN objects USING COVERING INDEX objects_reach']);
      }
      const plan = s.reachPlan(4, true)!;
      expect(Array.from({ length: plan.count }, (_, i) => toHexAt(plan.ids, i * 20, 20))).toEqual([1, 2, 3, 4, 5, 6, 9, 8, 10, 11, 12, 13, 14].map(oid));
      expect(s.reachState()).toEqual({ version: 4, tips: [oid(8), oid(6)] });
      // A commit of refs alone (no rows) moves V's kept plans to its version; one with rows does not.
      s.reachPlan(4, true);
      s.commit({ rows: [], planned: [], refs: [{ name: 'refs/heads/c1', old: null, new: oid(1) }], reach: { expect: 4, tips: [oid(8), oid(6), oid(1)] } });
      expect(state.storage.sql.exec<{ version: number }>(`SELECT DISTINCT version FROM reach_plans`).toArray()).toEqual([{ version: 5 }]);
      s.commit({ rows: [row(15, 70)], refs: [{ name: 'refs/heads/c15', old: null, new: oid(15) }], reach: { expect: 5, tips: [oid(8), oid(6), oid(1), oid(15)] } });
      expect(state.storage.sql.exec<{ version: number }>(`SELECT DISTINCT version FROM reach_plans`).toArray()).toEqual([{ version: 5 }]);
      expect(s.reachPlan(6, true)!.count).toBe(14);
      // A commit whose refs all fail keeps nothing, marks nothing.
      const stale = s.commit({ rows: [row(7, 30)], refs: [{ name: 'refs/heads/b6', old: oid(1), new: oid(7) }], reach: { expect: 6, tips: [oid(7)] } });
      expect(stale.ok).toBe(false);
      expect(s.reachState()).toEqual({ version: 6, tips: [oid(8), oid(6), oid(1), oid(15)] });
      expect([...s.reachStatus([oid(7)])]).toEqual([REACH_MISSING]);
    });
  });

  /** An index row of a 10-byte blob stored in 5 bytes at `offset` of `segment`, whole or a delta on `base`. */
  const row = (n: number, segment: string, offset: number, base: number | null = null) => ({
    id: oid(n),
    kind: 'blob' as const,
    size: 10,
    segment,
    offset,
    length: 5,
    format: base === null ? ('full' as const) : ('git-delta' as const),
    base: base === null ? null : oid(base),
    depth: base === null ? 0 : 1,
  });
  const ref = (n: number) => ({ name: `refs/heads/b${n}`, old: null, new: oid(n) });

  it('a kept plan is extended by rows marked after its V ended, rebuilt otherwise', async () => {
    const stub = env.REPO.get(env.REPO.newUniqueId());
    await runInDurableObject(stub, (_i: RepoObject, state) => {
      const s = new SqlRepoStore(state.storage);
      const ids = (p: { count: number; ids: Uint8Array }) => Array.from({ length: p.count }, (_, i) => toHexAt(p.ids, i * 20, 20));
      s.commit({ rows: [row(1, 'a', 0), row(2, 'a', 5)], refs: [ref(2)], reach: { expect: 0, tips: [oid(2)] } });
      s.commit({ rows: [row(9, 'a', 10)], refs: [] }); // indexed, not in V
      const first = s.reachPlan(1, true)!;
      // The kept plan is marked (size of its first entry) to see whether the next plan copies it.
      const marked = { ...first, size: Uint32Array.from(first.size, (x, i) => (i === 0 ? 777 : x)) };
      const [part] = [...reachPlanParts(marked, 1 << 20)];
      state.storage.sql.exec(`UPDATE reach_plans SET data = ? WHERE blobs = 1`, part.buffer);
      // A push in a new segment, with a delta on an old row: extended, base resolved into the old part.
      s.commit({ rows: [row(3, 'b', 0), row(4, 'b', 5, 2)], refs: [ref(4)], reach: { expect: 1, tips: [oid(2), oid(4)] } });
      const extended = new SqlRepoStore(state.storage).reachPlan(2, true)!;
      expect(ids(extended)).toEqual([1, 2, 3, 4].map(oid));
      expect(extended.size[0]).toBe(777);
      expect([...extended.base]).toEqual([PLAN_NO_BASE, PLAN_NO_BASE, PLAN_NO_BASE, 1]);
      expect(state.storage.sql.exec<{ marked: number; last_seg: number; last_off: number }>(`SELECT marked, last_seg, last_off FROM reach_plans WHERE blobs = 1`).one()).toMatchObject({
        marked: 4,
        last_off: 5,
      });
      // A row of an old segment marked meanwhile (before V's end): the plan is built again from the rows.
      expect(s.reachMark(2, [oid(2), oid(4), oid(9)], [oid(9)], false)).toBe(3);
      const rebuilt = new SqlRepoStore(state.storage).reachPlan(3, true)!;
      expect(ids(rebuilt)).toEqual([1, 2, 9, 3, 4].map(oid));
      expect(rebuilt.size[0]).toBe(10);
      // A reset drops the kept plans: the next plan is V's alone.
      expect(s.reachMark(3, [oid(4)], [oid(2), oid(4)], true)).toBe(4);
      expect(state.storage.sql.exec(`SELECT 1 FROM reach_plans`).toArray()).toEqual([]);
      expect(ids(s.reachPlan(4, true)!)).toEqual([2, 4].map(oid));
    });
  });

  it('the alarm builds the plan in slices: the same plan, dropped when V changes meanwhile, waited for by a clone', async () => {
    const stub = env.REPO.get(env.REPO.newUniqueId());
    await runInDurableObject(stub, async (_i: RepoObject, state) => {
      const s = new SqlRepoStore(state.storage);
      const fields = (p: ReachPlan) => [p.segmentNames, p.seg, p.offset, p.length, p.size, p.recordSize, p.kind, p.format, p.base, p.ids].map((a) => [...a]);
      // Ids in another order than storage order, deltas on rows before and after them in it.
      const rows = [row(7, 'a', 0), row(3, 'a', 5, 7), row(9, 'b', 0, 3), row(1, 'b', 5), row(5, 'b', 10, 1), row(8, 'c', 0, 5), row(2, 'c', 5)];
      s.commit({ rows, refs: [ref(2)], reach: { expect: 0, tips: [oid(2)] } });
      let pauses = 0;
      const pause = async () => void pauses++;
      // Slices of 2 rows: a pause after each full one (7 rows: 3), then between the steps of the sort.
      expect(await s.prebuildReachPlan(pause, 1, 2)).toBe(true);
      expect(pauses).toBeGreaterThan(3);
      expect(s.reachPlanWanted(1)).toBe(false);
      const sliced = new SqlRepoStore(state.storage).reachPlan(1, true)!;
      state.storage.sql.exec(`DELETE FROM reach_plans`);
      const whole = new SqlRepoStore(state.storage).reachPlan(1, true)!;
      expect(fields(sliced)).toEqual(fields(whole));
      expect([...sliced.base]).toEqual([PLAN_NO_BASE, 0, 1, PLAN_NO_BASE, 3, 4, PLAN_NO_BASE]);
      // A push between two slices: the plan of the old V is not kept; the push arms the alarm again.
      state.storage.sql.exec(`DELETE FROM reach_plans`);
      pauses = 0;
      const pushing = async () => {
        if (++pauses === 2) s.commit({ rows: [row(4, 'd', 0)], refs: [ref(4)], reach: { expect: 1, tips: [oid(2), oid(4)] } });
      };
      expect(await s.prebuildReachPlan(pushing, 1, 2)).toBe(false);
      expect(state.storage.sql.exec(`SELECT 1 FROM reach_plans`).toArray()).toEqual([]);
      expect(s.reachPlanWanted(1)).toBe(true);
      // A clone asking for the plan during the build waits for it, then reads the plan kept.
      let settled = false;
      let waited: Promise<void> | undefined;
      const cloning = async () => {
        waited ??= s.planSettled().then(() => void (settled = true));
        await Promise.resolve();
        expect(settled).toBe(false);
      };
      expect(await s.prebuildReachPlan(cloning, 1, 2)).toBe(true);
      await waited;
      expect(settled).toBe(true);
      expect(state.storage.sql.exec<{ version: number; count: number }>(`SELECT version, count FROM reach_plans WHERE blobs = 1 AND part = 0`).one()).toEqual({ version: 2, count: 8 });
    });
  });
});
