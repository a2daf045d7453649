// Through the git routes: a push marks its objects into the DO's reachability closure, so the first
// clone after it finds nothing to walk or mark (the closure's version does not move) and streams
// the whole repository from the index.
import { SELF, env, runDurableObjectAlarm, runInDurableObject } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { eq } from 'drizzle-orm';
import { drizzle } from 'drizzle-orm/d1';
import { repos } from '../../worker/storage-d1/schema.js';
import { SqlRepoStore } from '../../worker/durable/repo-store.js';
import type { RepoObject } from '../../worker/durable/repo.js';
import { decodeReply, history, packOf, pushBody, ZERO_ID, CAPS, cloneRequest, packOfUploadReply } from '../shared/protocols/git/receive-pack-helpers.js';

const HUB = 'http://hub.test';
const ADMIN = { authorization: 'Bearer test-admin-token', 'content-type': 'application/json' };
const WRITER = { authorization: `Basic ${btoa('x:test-admin-token')}`, 'content-type': 'application/x-git-receive-pack-request' };
const MAIN = 'refs/heads/main';

async function stub(name: string) {
  const row = (await drizzle(env.DB).select().from(repos).where(eq(repos.name, name)).get())!;
  return env.REPO.get(env.REPO.idFromName(row.id));
}

async function reachState(name: string) {
  return runInDurableObject(await stub(name), (_i: RepoObject, state) => new SqlRepoStore(state.storage).reachState());
}

async function pushTo(name: string, cmds: [string, string, string][], pack: Uint8Array): Promise<string[]> {
  const res = await SELF.fetch(`${HUB}/${name}.git/git-receive-pack`, { method: 'POST', headers: WRITER, body: pushBody(cmds, CAPS, pack) });
  expect(res.status).toBe(200);
  return decodeReply(new Uint8Array(await res.arrayBuffer()), true).report;
}

/** A v0 clone of `tip`; the number of objects in the pack it gets. */
async function clone(name: string, tip: string): Promise<number> {
  const res = await SELF.fetch(`${HUB}/${name}.git/git-upload-pack`, { method: 'POST', headers: { 'content-type': 'application/x-git-upload-pack-request' }, body: cloneRequest(tip) });
  expect(res.status).toBe(200);
  const pack = packOfUploadReply(new Uint8Array(await res.arrayBuffer()));
  expect(new TextDecoder().decode(pack.subarray(0, 4))).toBe('PACK');
  return new DataView(pack.buffer, pack.byteOffset).getUint32(8);
}

describe('push-time closure marking through the routes', () => {
  it('a first push and a fast-forward mark their objects; clones after them mark nothing', async () => {
    expect((await SELF.fetch(`${HUB}/api/repos`, { method: 'POST', headers: ADMIN, body: JSON.stringify({ name: 'reach-push', kind: 'git', public: true }) })).status).toBe(201);
    const first = history(4);
    expect(await pushTo('reach-push', [[ZERO_ID, first.tip.id, MAIN]], await packOf(first.objects))).toEqual(['unpack ok', `ok ${MAIN}`]);
    expect(await reachState('reach-push')).toEqual({ version: 1, tips: [first.tip.id] });
    expect(await clone('reach-push', first.tip.id)).toBe(first.objects.length);
    expect((await reachState('reach-push')).version).toBe(1); // no walk found anything to mark
    const next = history(2, [first.tip.id], 'y');
    expect(await pushTo('reach-push', [[first.tip.id, next.tip.id, MAIN]], await packOf(next.objects))).toEqual(['unpack ok', `ok ${MAIN}`]);
    expect(await reachState('reach-push')).toEqual({ version: 2, tips: [next.tip.id] });
    expect(await clone('reach-push', next.tip.id)).toBe(first.objects.length + next.objects.length);
    expect((await reachState('reach-push')).version).toBe(2);
  });
});

/** The kept plan with blobs (reach_plans part 0): its version, entries and the closure size it was made at. */
async function keptPlan(name: string) {
  return runInDurableObject(await stub(name), (_i: RepoObject, state) =>
    state.storage.sql.exec<{ version: number; count: number; marked: number }>(`SELECT version, count, marked FROM reach_plans WHERE blobs = 1 AND part = 0`).toArray(),
  );
}

describe('the reach plan built after a push', () => {
  it('the alarm keeps the plan of the pushed closure and the next clone reads it, after a first push and a fast-forward', async () => {
    // Every closure is worth a plan here (the default leaves those under 20,000 rows to their clone).
    env.HUB_REACH_PREBUILD_ROWS = '1';
    try {
      expect((await SELF.fetch(`${HUB}/api/repos`, { method: 'POST', headers: ADMIN, body: JSON.stringify({ name: 'reach-plan', kind: 'git', public: true }) })).status).toBe(201);
      const first = history(4);
      expect(await pushTo('reach-plan', [[ZERO_ID, first.tip.id, MAIN]], await packOf(first.objects))).toEqual(['unpack ok', `ok ${MAIN}`]);
      expect(await keptPlan('reach-plan')).toEqual([]);
      // The push armed the alarm.
      expect(await runDurableObjectAlarm(await stub('reach-plan'))).toBe(true);
      expect(await keptPlan('reach-plan')).toEqual([{ version: 1, count: first.objects.length, marked: first.objects.length }]);
      // A clone that built its plan would keep it anew with the true row count: this mark shows it read the kept one.
      await runInDurableObject(await stub('reach-plan'), (_i: RepoObject, state) => state.storage.sql.exec(`UPDATE reach_plans SET marked = -1`));
      expect(await clone('reach-plan', first.tip.id)).toBe(first.objects.length);
      expect(await keptPlan('reach-plan')).toEqual([{ version: 1, count: first.objects.length, marked: -1 }]);
      // A fast-forward: the alarm keeps the plan of the new version (the old one is dropped: its marked no longer adds up).
      const next = history(2, [first.tip.id], 'y');
      expect(await pushTo('reach-plan', [[first.tip.id, next.tip.id, MAIN]], await packOf(next.objects))).toEqual(['unpack ok', `ok ${MAIN}`]);
      const all = first.objects.length + next.objects.length;
      expect(await runDurableObjectAlarm(await stub('reach-plan'))).toBe(true);
      expect(await keptPlan('reach-plan')).toEqual([{ version: 2, count: all, marked: all }]);
      expect(await clone('reach-plan', next.tip.id)).toBe(all);
      expect(await keptPlan('reach-plan')).toEqual([{ version: 2, count: all, marked: all }]);
      // Nothing pushed since: the alarm has nothing to build (the segment collector keeps it armed).
      expect(await runInDurableObject(await stub('reach-plan'), (_i: RepoObject, state) => new SqlRepoStore(state.storage).reachPlanWanted(1))).toBe(false);
    } finally {
      delete env.HUB_REACH_PREBUILD_ROWS;
    }
  });
});
