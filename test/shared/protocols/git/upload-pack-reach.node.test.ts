/**
 * The clone shortcut (shared/storage/reach.ts) against the real git: a clone
 * that wants every ref is served from the remembered closure; after a
 * fast-forward only the new objects are walked; after a force-push the
 * closure is recomputed, so the pack has neither missing nor unreachable
 * objects; requests with haves or other filters never take the shortcut.
 */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fromBytes } from '../../../../shared/core/stream.js';
import { packBytesToEntries } from '../../../../shared/protocols/git/pack-reader.js';
import type { UploadPackStore } from '../../../../shared/protocols/git/upload-pack.js';
import { PLAN_BASE_OUTSIDE } from '../../../../shared/storage/reach.js';
import { RepoView } from '../../../../shared/protocols/git/object-walk.js';
import { orderReachPlan, reachPlanToPackBytes } from '../../../../shared/protocols/git/pack-builder.js';
import { applyFossilDelta } from '../../../../shared/delta/fossil.js';
import { applyGitDelta } from '../../../../shared/delta/git.js';
import { nativePrimitives } from '../../../../worker/primitives.js';
import { fillRepo, objectsOf, refsOf, tempRepo, verifyPack, type TempRepo } from './git-repo.js';
import { collectBytes, fetchPackV2, loadPack, setRefs, withReach, type LoadedRepo } from './upload-pack-fixture.js';


let src: TempRepo;
let loaded: LoadedRepo;
let store: UploadPackStore;
/** Calls seen by the reach index: marks (with reset flag) and plans. */
let marks: { ids: number; reset: boolean }[];
let plans: number;



/** Index everything src has now into the store and point the store's refs where src's are. */
async function sync(): Promise<void> {
  const pack = new Uint8Array(src.git(['pack-objects', '--revs', '--all', '--stdout', '--delta-base-offset', '-q'], ''));
  await loadPack(pack, loaded);
  await setRefs(loaded.repo, refsOf(src));
}

const run = (args: string[]) => fetchPackV2(store, args);

/** The pack's object ids (sorted), after git index-pack --strict accepted it. */
async function strictObjects(pack: Uint8Array): Promise<string[]> {
  const dst = tempRepo();
  try {
    dst.git(['index-pack', '--strict', '--stdin'], pack);
    const dir = join(dst.dir, 'objects', 'pack');
    return verifyPack(dst, join(dir, readdirSync(dir).find((f) => f.endsWith('.pack'))!))
      .map((l) => l.id)
      .sort();
  } finally {
    dst.remove();
  }
}

async function typesOf(pack: Uint8Array): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for await (const ev of packBytesToEntries(fromBytes(pack), { primitives: nativePrimitives })) if (ev.kind === 'object') out.set(ev.object.id, ev.object.type);
  return out;
}

/** `n` new commits on top of `ref` (each adds a file and changes one), by plumbing; moves `ref`. */
function commitOn(ref: string, n: number, tag: string): void {
  let parent = src.git(['rev-parse', ref]).toString().trim();
  for (let k = 0; k < n; k++) {
    const blob = src.git(['hash-object', '-w', '--stdin'], `${tag} ${k}\n`.repeat(50 + k)).toString().trim();
    const lines = src.git(['ls-tree', parent]).toString().trim().split('\n').filter((l) => !l.endsWith(`\tnew-${tag}.txt`));
    lines.push(`100644 blob ${blob}\tnew-${tag}.txt`, `100644 blob ${blob}\tcopy-${tag}-${k}.txt`);
    const tree = src.git(['mktree'], lines.join('\n') + '\n').toString().trim();
    parent = src.git(['commit-tree', tree, '-p', parent, '-m', `${tag} ${k}`]).toString().trim();
  }
  src.git(['update-ref', ref, parent]);
}

const allWants = () => [...new Set(Object.values(refsOf(src)))].map((id) => `want ${id}`);

beforeAll(async () => {
  src = tempRepo();
  fillRepo(src, { commits: 30, files: 6, seed: 11 });
  src.git(['branch', 'side', 'main~5']);
  src.git(['tag', 'light', 'main~3']);
  src.git(['tag', '-a', 'old', '-m', 'old tag', 'main~10']);
  loaded = await loadPack(new Uint8Array(src.git(['pack-objects', '--revs', '--all', '--stdout', '--delta-base-offset', '-q'], '')));
  await setRefs(loaded.repo, refsOf(src));
  marks = [];
  plans = 0;
  store = withReach(loaded, { mark: (ids, reset) => marks.push({ ids, reset }), plan: () => plans++ });
}, 120_000);

afterAll(() => src?.remove());

describe('upload-pack clone shortcut', () => {
  it('a clone of every ref is the closure, twice; the second walks nothing', async () => {
    const first = await run([...allWants(), 'ofs-delta', 'done']);
    expect(await strictObjects(first.pack)).toEqual(objectsOf(src.dir));
    expect(marks).toEqual([{ ids: objectsOf(src.dir).length, reset: false }]);
    const second = await run([...allWants(), 'ofs-delta', 'done']);
    expect(second.pack).toEqual(first.pack);
    // Nothing new and the same tips: the closure is not even re-marked (its version stays).
    expect(marks).toHaveLength(1);
    expect(plans).toBe(2);
    expect(second.progress).toMatch(/Total \d+ \(delta [1-9]\d*\)/);
  });

  it('without ofs-delta the shortcut writes REF_DELTA, still complete', async () => {
    const r = await run([...allWants(), 'done']);
    expect(await strictObjects(r.pack)).toEqual(objectsOf(src.dir));
  });

  it('blob:none from the closure: every commit, tree and tag, no blob', async () => {
    const before = plans;
    const r = await run([...allWants(), 'ofs-delta', 'filter blob:none', 'done']);
    expect(plans).toBe(before + 1);
    const types = await typesOf(r.pack);
    expect([...types.keys()].sort()).toEqual(objectsOf(src.dir, ['--all', '--filter=blob:none']));
    expect([...types.values()]).not.toContain('blob');
  });

  it('haves, a narrower want or another filter never take the shortcut', async () => {
    const before = plans;
    const old = src.git(['rev-parse', 'main~2']).toString().trim();
    const withHave = await run([...allWants(), `have ${old}`, 'ofs-delta', 'done']);
    expect((await typesOf(withHave.pack)).size).toBeLessThan(objectsOf(src.dir).length);
    await run([`want ${refsOf(src)['refs/heads/side']}`, 'ofs-delta', 'done']);
    await run([...allWants(), 'filter tree:0', 'done']);
    expect(plans).toBe(before);
  });

  it('after a fast-forward only the new objects are walked', async () => {
    commitOn('refs/heads/main', 5, 'ff');
    await sync();
    const fresh = objectsOf(src.dir, ['--all', '--not', ...Object.values(refsOf(src)).filter((id) => id !== refsOf(src)['refs/heads/main'])]).length;
    const r = await run([...allWants(), 'ofs-delta', 'done']);
    expect(marks[marks.length - 1].reset).toBe(false);
    expect(marks[marks.length - 1].ids).toBeLessThanOrEqual(fresh);
    expect(await strictObjects(r.pack)).toEqual(objectsOf(src.dir));
  });

  it('after deleting a branch below another ref: no walk of objects, the closure stands', async () => {
    src.git(['branch', '-D', 'side']);
    await sync();
    const planned = plans;
    const r = await run([...allWants(), 'ofs-delta', 'done']);
    // S loses the branch's tip (a new version) but V is unchanged: nothing is marked or reset.
    expect(marks[marks.length - 1]).toEqual({ ids: 0, reset: false });
    expect(plans).toBe(planned + 1);
    expect(await strictObjects(r.pack)).toEqual(objectsOf(src.dir));
  });

  it('after a force-push and a deleted tag: no missing and no unreachable objects', async () => {
    const before = objectsOf(src.dir);
    src.git(['update-ref', 'refs/heads/main', 'main~8']);
    src.git(['tag', '-d', 'light']);
    src.git(['tag', '-d', 'v1']);
    commitOn('refs/heads/main', 4, 'forced');
    await sync();
    const now = objectsOf(src.dir);
    expect(before.filter((id) => !now.includes(id)).length).toBeGreaterThan(0); // there is garbage
    const r = await run([...allWants(), 'ofs-delta', 'done']);
    expect(marks[marks.length - 1].reset).toBe(true);
    expect(await strictObjects(r.pack)).toEqual(now);
    // And the recomputed closure serves the next clone without a walk.
    const marked = marks.length;
    const again = await run([...allWants(), 'ofs-delta', 'done']);
    expect(marks).toHaveLength(marked);
    expect(await strictObjects(again.pack)).toEqual(now);
  });

  it('a delta whose base is outside the closure is rebuilt whole', async () => {
    const { version } = await store.index.reachState!();
    const plan = (await store.index.reachPlan!(version, true))!;
    let cut = 0;
    for (let i = 0; i < plan.count && cut < 5; i++) {
      if (plan.base[i] >= 0) {
        plan.base[i] = PLAN_BASE_OUTSIDE;
        cut++;
      }
    }
    expect(cut).toBe(5);
    const order = orderReachPlan(plan);
    expect(order.reused).toBe(plan.count - 5);
    const view = new RepoView({ index: store.index, segments: store.segments, primitives: nativePrimitives, appliers: { git: applyGitDelta, fossil: applyFossilDelta } });
    const pack = await collectBytes(reachPlanToPackBytes(view, plan, order, true));
    expect(await strictObjects(pack)).toEqual(objectsOf(src.dir));
  });
});
