// receive-pack marks a push into the reachability closure (shared/storage/reach.ts) when it can
// prove V + P = reach(S + T) from what the ingest saw, and marks nothing otherwise.
import { describe, expect, it } from 'vitest';
import { MemoryReach, REACH_IN, REACH_OUTSIDE } from '../../../../shared/storage/reach.js';
import { blob, commit, history, newRepo, packOf, push, tag, tree, ZERO_ID, type Obj, type TestRepo } from './receive-pack-helpers.js';

const MAIN = 'refs/heads/main';

/** A repository whose store keeps a MemoryReach through its commits, as the DO's does. */
function reachRepo(): TestRepo & { reach: MemoryReach } {
  const r = newRepo();
  const reach = new MemoryReach(r.repo);
  r.repo.reach = reach;
  r.store = {
    ...r.store,
    index: { has: (ids) => r.repo.has(ids), get: (id) => r.repo.get(id), chain: (id) => r.repo.chain(id), reachState: () => reach.reachState(), reachStatus: (ids) => reach.reachStatus(ids) },
  };
  return { ...r, reach };
}

async function ok(r: TestRepo, cmds: [string, string, string][], objects: Obj[]): Promise<void> {
  const reply = await push(r, cmds, await packOf(objects));
  expect(reply.report).toEqual(['unpack ok', ...cmds.map((c) => `ok ${c[2]}`)]);
}

async function statuses(reach: MemoryReach, objects: Obj[]): Promise<number[]> {
  return [...(await reach.reachStatus(objects.map((o) => o.id)))];
}

describe('receivePack: closure marking', () => {
  it('a first push marks every object; a fast-forward marks its own and replaces the old tip', async () => {
    const r = reachRepo();
    const first = history(3);
    await ok(r, [[ZERO_ID, first.tip.id, MAIN]], first.objects);
    expect(await r.reach.reachState()).toEqual({ version: 1, tips: [first.tip.id] });
    expect(await statuses(r.reach, first.objects)).toEqual(first.objects.map(() => REACH_IN));
    const next = history(2, [first.tip.id], 'y');
    await ok(r, [[first.tip.id, next.tip.id, MAIN]], next.objects);
    expect(await r.reach.reachState()).toEqual({ version: 2, tips: [next.tip.id] });
    expect(await statuses(r.reach, next.objects)).toEqual(next.objects.map(() => REACH_IN));
    // The closure's plan is the whole repository: what a clone streams without a walk.
    expect((await r.reach.reachPlan(2, true))!.count).toBe(first.objects.length + next.objects.length);
  });

  it('a new branch or tag adds its tip to S (dropping old tips it reaches); an unchanged tree entry outside the pack counts when marked', async () => {
    const r = reachRepo();
    const first = history(2);
    await ok(r, [[ZERO_ID, first.tip.id, MAIN]], first.objects);
    // A commit whose tree keeps the stored blob of the first tip's tree, plus one new blob.
    const kept = first.objects[2];
    const fresh = blob('topic\n');
    const t = tree([
      ['100644', 'a.txt', fresh.id],
      ['100644', 'file.txt', kept.id],
    ]);
    const c = commit(t.id, [first.tip.id], 'topic');
    const v1 = tag(c, 'v1');
    await ok(r, [[ZERO_ID, c.id, 'refs/heads/topic'], [ZERO_ID, v1.id, 'refs/tags/v1']], [c, t, fresh, v1]);
    const state = await r.reach.reachState();
    expect(state.version).toBe(2);
    // main's tip is c's parent, so below the new tips: it leaves S.
    expect(new Set(state.tips)).toEqual(new Set([c.id, v1.id]));
    expect(await statuses(r.reach, [c, t, fresh, v1])).toEqual([REACH_IN, REACH_IN, REACH_IN, REACH_IN]);
    // A branch at a stored, marked commit (no new objects) joins S too.
    const older = first.objects[3];
    await ok(r, [[ZERO_ID, older.id, 'refs/heads/old']], []);
    expect((await r.reach.reachState()).tips).toContain(older.id);
  });

  it('a force-push keeps the old tip in S (V stays exact; a clone then recomputes)', async () => {
    const r = reachRepo();
    const first = history(2);
    await ok(r, [[ZERO_ID, first.tip.id, MAIN]], first.objects);
    const other = history(1, [], 'z');
    await ok(r, [[first.tip.id, other.tip.id, MAIN]], other.objects);
    expect(new Set((await r.reach.reachState()).tips)).toEqual(new Set([first.tip.id, other.tip.id]));
  });

  it('marks nothing when the push refers to an object that is indexed but outside the closure', async () => {
    const r = reachRepo();
    const first = history(2);
    r.repo.reach = null; // the first push goes in unmarked (as before this feature)
    await ok(r, [[ZERO_ID, first.tip.id, MAIN]], first.objects);
    r.repo.reach = r.reach;
    expect(await r.reach.reachState()).toEqual({ version: 0, tips: [] });
    const next = history(1, [first.tip.id], 'y');
    await ok(r, [[first.tip.id, next.tip.id, MAIN]], next.objects);
    expect(await r.reach.reachState()).toEqual({ version: 0, tips: [] });
    expect(await statuses(r.reach, next.objects)).toEqual(next.objects.map(() => REACH_OUTSIDE));
  });

  it('marks nothing when the pack holds an object no tip reaches', async () => {
    const r = reachRepo();
    const first = history(2);
    const stray = blob('nobody refers to me\n');
    await ok(r, [[ZERO_ID, first.tip.id, MAIN]], [...first.objects, stray]);
    expect(await r.reach.reachState()).toEqual({ version: 0, tips: [] });
    expect(await statuses(r.reach, [first.tip, stray])).toEqual([REACH_OUTSIDE, REACH_OUTSIDE]);
  });

  it('marks nothing when the pack resends an object already indexed (it has no row of its own to mark)', async () => {
    const r = reachRepo();
    const first = history(2);
    r.repo.reach = null;
    await ok(r, [[ZERO_ID, first.tip.id, MAIN]], first.objects);
    r.repo.reach = r.reach;
    // The whole history again, under a new branch on top: every old object is resent.
    const next = history(1, [first.tip.id], 'y');
    await ok(r, [[ZERO_ID, next.tip.id, 'refs/heads/b']], [...first.objects, ...next.objects]);
    expect(await r.reach.reachState()).toEqual({ version: 0, tips: [] });
  });

  it('marks nothing for a ref refused for missing objects, and the other ref still marks', async () => {
    const r = reachRepo();
    const first = history(2);
    const broken = commit(tree([['100644', 'f', blob('absent\n').id]]).id, [], 'broken');
    const reply = await push(r, [[ZERO_ID, first.tip.id, MAIN], [ZERO_ID, broken.id, 'refs/heads/broken']], await packOf([...first.objects, broken]));
    expect(reply.report).toEqual(['unpack ok', `ok ${MAIN}`, 'ng refs/heads/broken missing necessary objects']);
    // The pack refers to an object nobody has: nothing is proven, nothing marked.
    expect(await r.reach.reachState()).toEqual({ version: 0, tips: [] });
  });
});
