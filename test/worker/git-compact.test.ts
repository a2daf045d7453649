// Git segment compaction (worker/durable/git-compact.ts) against miniflare's R2 and a Durable
// Object's SQLite: a repository built by many small pushes (through the routes), compacted, then
// every object read back and cloned; a clone holding a plan from before; a compaction stopped
// between steps and resumed; a step whose rows never moved leaves an orphan the collector deletes.
import { SELF, env, runDurableObjectAlarm, runInDurableObject } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { eq } from 'drizzle-orm';
import { drizzle } from 'drizzle-orm/d1';
import { collect, fromBytes } from '../../shared/core/stream.js';
import { createGitDelta } from '../../shared/delta/git.js';
import { orderReachPlan, reachPlanToPackBytes } from '../../shared/protocols/git/pack-builder.js';
import { readPackObjects } from '../../shared/protocols/git/pack-reader.js';
import { readObject } from '../../shared/storage/object-store.js';
import type { SegmentStore } from '../../shared/storage/segments.js';
import { COMPACT_DELAY_MS, compactGit, compactionDue, compactionPossible, countSegments, type CompactHost, type CompactOptions } from '../../worker/durable/git-compact.js';
import { DELTA_APPLIERS } from '../../worker/durable/git-http.js';
import { SqlRepoStore } from '../../worker/durable/repo-store.js';
import { localRepoStore, type RepoObject } from '../../worker/durable/repo.js';
import { collectSegments } from '../../worker/durable/segment-gc.js';
import { nativePrimitives } from '../../worker/primitives.js';
import { R2SegmentStore } from '../../worker/storage-r2/segments.js';
import { repos } from '../../worker/storage-d1/schema.js';
import { blob, CAPS, commit, decodeReply, packBytes, pushBody, tree, whole, ZERO_ID, type Obj, cloneRequest, packOfUploadReply } from '../shared/protocols/git/receive-pack-helpers.js';

const HUB = 'http://hub.test';
const ADMIN = { authorization: 'Bearer test-admin-token', 'content-type': 'application/json' };
const WRITER = { authorization: `Basic ${btoa('x:test-admin-token')}`, 'content-type': 'application/x-git-receive-pack-request' };
const MAIN = 'refs/heads/main';
/** Thresholds small enough for a few dozen pushes of a few hundred bytes. */
const SMALL: CompactOptions = { smallBytes: 4096, after: 8, stepBytes: 2000, swapRows: 7 };
/** With copies that fill up to twice a small segment, as by default. */
const FILLING: CompactOptions = { ...SMALL, stepBytes: 8192 };
const NOW = { minAgeMs: 0, graceMs: 0 };

async function repoId(name: string): Promise<string> {
  return (await drizzle(env.DB).select().from(repos).where(eq(repos.name, name)).get())!.id;
}

async function stub(name: string) {
  return env.REPO.get(env.REPO.idFromName(await repoId(name)));
}

async function pushTo(name: string, cmds: [string, string, string][], pack: Uint8Array): Promise<string[]> {
  const res = await SELF.fetch(`${HUB}/${name}.git/git-receive-pack`, { method: 'POST', headers: WRITER, body: pushBody(cmds, CAPS, pack) });
  expect(res.status).toBe(200);
  return decodeReply(new Uint8Array(await res.arrayBuffer()), true).report;
}

/** A v0 clone of `tip`: the objects of its pack (each hashed from its content by the reader). */
async function clone(name: string, tip: string): Promise<Map<string, Uint8Array>> {
  const res = await SELF.fetch(`${HUB}/${name}.git/git-upload-pack`, { method: 'POST', headers: { 'content-type': 'application/x-git-upload-pack-request' }, body: cloneRequest(tip) });
  expect(res.status).toBe(200);
  return packObjects(packOfUploadReply(new Uint8Array(await res.arrayBuffer())));
}

async function packObjects(pack: Uint8Array): Promise<Map<string, Uint8Array>> {
  const objs = await readPackObjects(fromBytes(pack), { primitives: nativePrimitives });
  return new Map(objs.map((o) => [o.id, o.data]));
}

/**
 * A repository of `pushes` pushes of one commit each (blob, tree, commit); every third blob is
 * sent as a delta against the previous push's blob (a thin pack), so deltas are stored too.
 */
async function smallPushes(name: string, pushes: number, large = -1): Promise<{ objects: Map<string, Uint8Array>; tip: string }> {
  expect((await SELF.fetch(`${HUB}/api/repos`, { method: 'POST', headers: ADMIN, body: JSON.stringify({ name, kind: 'git', public: true }) })).status).toBe(201);
  const objects = new Map<string, Uint8Array>();
  let tip = ZERO_ID;
  let prev: Obj | null = null;
  for (let i = 0; i < pushes; i++) {
    // Push `large` carries 6000 random bytes as hex (a record over SMALL's 4096 bytes): a segment that is not small.
    const noise = i === large ? Array.from(crypto.getRandomValues(new Uint8Array(6000)), (x) => x.toString(16).padStart(2, '0')).join('') : '';
    const b = blob(`${'shared line of text\n'.repeat(8)}push ${i}\n${noise}`);
    const t = tree([['100644', 'file.txt', b.id]]);
    const c = commit(t.id, tip === ZERO_ID ? [] : [tip], `push ${i}`, 1700000000 + i);
    const entries = [whole(c), whole(t), prev !== null && i % 3 === 0 ? { kind: 'delta' as const, base: { id: prev.id }, delta: createGitDelta(prev.data, b.data) } : whole(b)];
    expect(await pushTo(name, [[tip, c.id, MAIN]], await packBytes(entries))).toEqual(['unpack ok', `ok ${MAIN}`]);
    for (const o of [c, t, b]) objects.set(o.id, o.data);
    tip = c.id;
    prev = b;
  }
  return { objects, tip };
}

/** The compaction host of the test's own runs; the alarm the pushes armed is cancelled so it cannot run the same job meanwhile. */
async function testHost(storage: DurableObjectStorage, store: SqlRepoStore): Promise<CompactHost> {
  await storage.deleteAlarm();
  // An alarm already due runs at the next await: let it (with nothing due it only counts segments).
  await new Promise((r) => setTimeout(r, 300));
  return hostOf(storage, store);
}

function hostOf(storage: DurableObjectStorage, store: SqlRepoStore): CompactHost {
  return { sql: storage.sql, transactionSync: (f) => storage.transactionSync(f), forgetReachPlans: () => store.forgetReachPlans() };
}

/**
 * A full clone's pack streamed from the kept plan through R2 as upload-pack streams it (forward
 * reads into a reused buffer): its objects and the R2 gets it made.
 */
async function cloneGets(store: SqlRepoStore, repo: string): Promise<{ gets: number; objects: Map<string, Uint8Array> }> {
  let gets = 0;
  const bucket = new Proxy(env.CONTENT, {
    get: (t, k) => (k === 'get' ? (...a: Parameters<R2Bucket['get']>) => (gets++, t.get(...a)) : (t[k as keyof R2Bucket] as (...a: unknown[]) => unknown).bind(t)),
  });
  const records = new R2SegmentStore(bucket, repo);
  const plan = store.reachPlan(store.reachState().version, true)!;
  const view = { deps: { index: localRepoStore(store), segments: records, primitives: nativePrimitives, appliers: DELTA_APPLIERS } };
  const pack = await collect(reachPlanToPackBytes(view as never, plan, orderReachPlan(plan), true, { chunkSize: 65536, records }), 1 << 26);
  return { gets, objects: await packObjects(pack) };
}

const liveSegments = (storage: DurableObjectStorage) => storage.sql.exec<{ n: number }>(`SELECT count(DISTINCT segment) AS n FROM objects`).one().n;

/** Each object read through the index from R2 equals what was pushed; the delta rows are still deltas. */
async function expectReadable(storage: DurableObjectStorage, store: SqlRepoStore, segments: SegmentStore, objects: Map<string, Uint8Array>): Promise<void> {
  const deps = { index: localRepoStore(store), segments, primitives: nativePrimitives, appliers: DELTA_APPLIERS };
  for (const [id, data] of objects) expect((await readObject(deps, id))?.data).toEqual(data);
  expect(storage.sql.exec<{ n: number }>(`SELECT count(*) AS n FROM objects WHERE format = 'git-delta'`).one().n).toBeGreaterThan(0);
  // Every delta's base lies before it in storage order (a clone sends bases first and reads forward).
  expect(storage.sql.exec(`SELECT d.id FROM objects d JOIN objects b ON b.id = d.base WHERE (b.segment, b.rec_offset) >= (d.segment, d.rec_offset)`).toArray()).toEqual([]);
}

describe('git segment compaction', () => {
  it('copies the records of many small pushes into a few segments; everything reads and clones the same, the old segments are collected', async () => {
    const name = 'compact-many';
    const { objects, tip } = await smallPushes(name, 30);
    const id = await repoId(name);
    const segments = new R2SegmentStore(env.CONTENT, id);
    const prefix = segments.key('');
    const before = await runInDurableObject(await stub(name), async (_i: RepoObject, state) => {
      const store = new SqlRepoStore(state.storage);
      const rows = state.storage.sql.exec<{ id: string; format: string; base: string | null; length: number }>(`SELECT id, format, base, rec_length AS length FROM objects ORDER BY id`).toArray();
      expect(liveSegments(state.storage)).toBe(30);
      countSegments(state.storage);
      expect(compactionDue(state.storage, { ...SMALL, after: 30 })).toBe(false);
      expect(compactionDue(state.storage, SMALL)).toBe(true);
      // A full clone reads each push's segment with a get of its own.
      const cloned = await cloneGets(store, id);
      expect(cloned).toEqual({ gets: 30, objects });
      // A kept plan names the old locations: the move drops it.
      expect(state.storage.sql.exec(`SELECT 1 FROM reach_plans`).toArray().length).toBeGreaterThan(0);
      const r = await compactGit(await testHost(state.storage, store), segments, SMALL);
      expect(r).toMatchObject({ moved: 90, emptied: 30, more: false });
      expect(state.storage.sql.exec(`SELECT 1 FROM reach_plans`).toArray()).toEqual([]);
      // Only locations changed: formats, bases and lengths as stored (records copied byte for byte).
      expect(state.storage.sql.exec(`SELECT id, format, base, rec_length AS length FROM objects ORDER BY id`).toArray()).toEqual(rows);
      expect(liveSegments(state.storage)).toBe(r.written);
      expect(r.written).toBeLessThan(30 / 3);
      expect(state.storage.sql.exec<{ n: number }>(`SELECT count(*) AS n FROM segments`).one().n).toBe(r.written);
      await expectReadable(state.storage, store, segments, objects);
      // Storage order is kept: rows in (segment, offset) order come in the order they were pushed.
      const order = state.storage.sql.exec<{ id: string }>(`SELECT id FROM objects ORDER BY segment, rec_offset`).toArray().map((x) => x.id);
      expect(order).toEqual([...objects.keys()]);
      expect(compactionDue(state.storage, SMALL)).toBe(false);
      // And now one get per new segment.
      expect(await cloneGets(store, id)).toEqual({ gets: r.written, objects });
      return r.written;
    });
    // Old segments are left to the collector: unreferenced, recorded on one pass, deleted on the next.
    expect((await env.CONTENT.list({ prefix })).objects.length).toBe(30 + before);
    await runInDurableObject(await stub(name), async (_i: RepoObject, state) => {
      expect(await collectSegments(state.storage, env.CONTENT, prefix, NOW, Date.now())).toMatchObject({ recorded: 30, deleted: 0 });
      expect(await collectSegments(state.storage, env.CONTENT, prefix, NOW, Date.now() + 1)).toMatchObject({ deleted: 30 });
    });
    expect((await env.CONTENT.list({ prefix })).objects.length).toBe(before);
    expect(await clone(name, tip)).toEqual(objects);
  });

  it('a clone holding a plan from before the move reads the old records; one during compaction gets every object', async () => {
    const name = 'compact-concurrent';
    const { objects, tip } = await smallPushes(name, 20);
    const segments = new R2SegmentStore(env.CONTENT, await repoId(name));
    await runInDurableObject(await stub(name), async (_i: RepoObject, state) => {
      const store = new SqlRepoStore(state.storage);
      const host = await testHost(state.storage, store);
      const version = store.reachState().version;
      const old = store.reachPlan(version, true)!;
      expect(old.segmentNames.length).toBe(20);
      // Compaction and a clone through the routes, interleaved at their awaits.
      const [r, cloned] = await Promise.all([compactGit(host, segments, SMALL), clone(name, tip)]);
      expect(r.moved).toBe(60);
      expect(cloned).toEqual(objects);
      // The plan taken before still streams the whole repository (its segments stay until collected).
      const view = { deps: { index: localRepoStore(store), segments, primitives: nativePrimitives, appliers: DELTA_APPLIERS } };
      const pack = await collect(reachPlanToPackBytes(view as never, old, orderReachPlan(old), true), 1 << 26);
      expect(await packObjects(pack)).toEqual(objects);
      // A plan made now names only the new segments.
      const fresh = store.reachPlan(version, true)!;
      expect(fresh.segmentNames.length).toBe(r.written);
      expect(fresh.segmentNames.some((s) => old.segmentNames.includes(s))).toBe(false);
    });
  });

  it('stopped between steps, it leaves a valid repository and the next run finishes; rows a crash never moved leave an orphan for the collector', async () => {
    const name = 'compact-crash';
    const { objects, tip } = await smallPushes(name, 24);
    const id = await repoId(name);
    const r2 = new R2SegmentStore(env.CONTENT, id);
    const prefix = r2.key('');
    await runInDurableObject(await stub(name), async (_i: RepoObject, state) => {
      const store = new SqlRepoStore(state.storage);
      const host = await testHost(state.storage, store);
      // A deadline already passed: one step, then it stops with work left (as an alarm out of time).
      const first = await compactGit(host, r2, SMALL, 0);
      expect(first.more).toBe(true);
      expect(first.written).toBe(1);
      expect(first.moved).toBeGreaterThan(0);
      expect(first.moved).toBeLessThan(72);
      await expectReadable(state.storage, store, r2, objects);
      // The next step dies after its copy is written and before any row moves (the transaction throws).
      let throwOnce = true;
      const dying: CompactHost = {
        ...host,
        forgetReachPlans: () => {
          if (throwOnce) {
            throwOnce = false;
            throw new Error('instance went away');
          }
          store.forgetReachPlans();
        },
      };
      const movedBefore = state.storage.sql.exec<{ n: number }>(`SELECT count(*) AS n FROM objects WHERE segment IN (SELECT segment FROM git_compact)`).one().n;
      await expect(compactGit(dying, r2, SMALL)).rejects.toThrow('instance went away');
      expect(state.storage.sql.exec<{ n: number }>(`SELECT count(*) AS n FROM objects WHERE segment IN (SELECT segment FROM git_compact)`).one().n).toBe(movedBefore);
      await expectReadable(state.storage, store, r2, objects);
      // A new run (a restarted instance: a fresh store) picks the job up and finishes it.
      const again = await compactGit(hostOf(state.storage, new SqlRepoStore(state.storage)), r2, SMALL);
      expect(again.more).toBe(false);
      expect(first.moved + again.moved).toBe(72);
      expect(state.storage.sql.exec(`SELECT 1 FROM git_compact`).toArray()).toEqual([]);
      await expectReadable(state.storage, store, r2, objects);
      const live = liveSegments(state.storage);
      const listed = (await env.CONTENT.list({ prefix })).objects.length;
      // The 24 pushed, the copies in use, and the orphan the dead step wrote.
      expect(listed).toBe(24 + live + 1);
      await collectSegments(state.storage, env.CONTENT, prefix, NOW, Date.now());
      expect(await collectSegments(state.storage, env.CONTENT, prefix, NOW, Date.now() + 1)).toMatchObject({ deleted: 25 });
    });
    expect((await env.CONTENT.list({ prefix })).objects.length).toBeGreaterThan(0);
    expect(await clone(name, tip)).toEqual(objects);
  });

  it('reads at most maxReads segments a run, and copies fill up across runs', async () => {
    const name = 'compact-runs';
    const { objects, tip } = await smallPushes(name, 30);
    const segments = new R2SegmentStore(env.CONTENT, await repoId(name));
    await runInDurableObject(await stub(name), async (_i: RepoObject, state) => {
      const store = new SqlRepoStore(state.storage);
      const host = await testHost(state.storage, store);
      let runs = 0;
      for (let more = true; more; runs++) {
        const r = await compactGit(host, segments, { ...FILLING, maxReads: 5 });
        expect(r.reads).toBeLessThanOrEqual(5);
        more = r.more;
      }
      expect(runs).toBeGreaterThanOrEqual(7);
      // Each copy but the last holds more than a small segment: a run's last copy was filled by the next.
      const sizes = state.storage.sql.exec<{ n: number }>(`SELECT sum(rec_length) AS n FROM objects GROUP BY segment ORDER BY segment`).toArray().map((x) => x.n);
      expect(sizes.slice(0, -1).every((n) => n >= 4096)).toBe(true);
      expect(sizes.length).toBeLessThanOrEqual(2);
      expect(state.storage.sql.exec<{ n: number }>(`SELECT count(*) AS n FROM segments`).one().n).toBe(sizes.length);
      await expectReadable(state.storage, store, segments, objects);
    });
    expect(await clone(name, tip)).toEqual(objects);
  });

  it('leaves the small segments older than a large one where they are (its deltas may have bases there)', async () => {
    const name = 'compact-large';
    const { objects, tip } = await smallPushes(name, 24, 12);
    const segments = new R2SegmentStore(env.CONTENT, await repoId(name));
    await runInDurableObject(await stub(name), async (_i: RepoObject, state) => {
      const store = new SqlRepoStore(state.storage);
      const seqs = state.storage.sql.exec<{ segment: number }>(`SELECT DISTINCT segment FROM objects ORDER BY segment`).toArray().map((r) => r.segment);
      expect(seqs.length).toBe(24);
      const r = await compactGit(await testHost(state.storage, store), segments, SMALL);
      // Pushes 13..23 only: 11 segments of 3 rows.
      expect(r).toMatchObject({ moved: 33, emptied: 11, more: false });
      const after = state.storage.sql.exec<{ segment: number }>(`SELECT DISTINCT segment FROM objects ORDER BY segment`).toArray().map((x) => x.segment);
      expect(after.slice(0, 13)).toEqual(seqs.slice(0, 13));
      expect(after.length).toBe(13 + r.written);
      await expectReadable(state.storage, store, segments, objects);
      // The 12 small ones before it are never taken, however many there are.
      expect(compactionDue(state.storage, { ...SMALL, after: 1 })).toBe(r.written > 1);
    });
    expect(await clone(name, tip)).toEqual(objects);
  });

  it('counts a segment of many rows as large without reading them all', async () => {
    const name = 'compact-rows';
    await smallPushes(name, 3);
    await runInDurableObject(await stub(name), async (_i: RepoObject, state) => {
      await state.storage.deleteAlarm();
      state.storage.sql.exec(`DROP TABLE IF EXISTS git_segment_live`);
      // Three rows a segment: at a cap of 3 rows each is large, at 4 small.
      countSegments(state.storage, 3);
      expect(compactionDue(state.storage, { ...SMALL, after: 0 })).toBe(false);
      state.storage.sql.exec(`DELETE FROM git_segment_live`);
      countSegments(state.storage, 4);
      expect(compactionDue(state.storage, { ...SMALL, after: 2 })).toBe(true);
    });
  });

  it('is not armed by a push while too few segments exist for it to be due (no alarm write per push)', async () => {
    const name = 'compact-few';
    await smallPushes(name, 3);
    await runInDurableObject(await stub(name), async (_i: RepoObject, state) => {
      // Only the segment collector's alarm (armed on the instance's first request, hours away).
      const at = await state.storage.getAlarm();
      expect(at === null || at > Date.now() + 100 * COMPACT_DELAY_MS).toBe(true);
      expect(compactionPossible(state.storage, 3)).toBe(false);
      expect(compactionPossible(state.storage, 2)).toBe(true);
      // A job under way keeps it possible whatever the count.
      compactionDue(state.storage); // creates the job tables
      state.storage.sql.exec(`INSERT INTO git_compact (segment) SELECT seq FROM segments LIMIT 1`);
      expect(compactionPossible(state.storage, 3)).toBe(true);
      state.storage.sql.exec(`DELETE FROM git_compact`);
    });
  });

  it('is armed by a push and runs in the alarm once enough small segments exist', async () => {
    const name = 'compact-alarm';
    // 33 pushes: more than COMPACT_AFTER (32) small segments.
    const { objects, tip } = await smallPushes(name, 33);
    const s = await stub(name);
    // The alarm comes COMPACT_DELAY_MS after a push (it may have come already), and re-arms itself
    // while work is left (a run reads 32 segments): run it while set (the harness then drops it).
    for (let i = 0; i < 100; i++) {
      if ((await runInDurableObject(s, (_i: RepoObject, state) => liveSegments(state.storage))) === 1) break;
      if (!(await runDurableObjectAlarm(s))) await new Promise((r) => setTimeout(r, 100));
    }
    expect(await runInDurableObject(s, (_i: RepoObject, state) => liveSegments(state.storage))).toBe(1);
    expect(await clone(name, tip)).toEqual(objects);
  });
});
