/**
 * The unshallow shortcut (shared/protocols/git/unshallow.ts) against the
 * walk as reference: on a history with a merge, a file reverted to an older
 * content (a blob of old commits the shallow tip has too), annotated tags
 * and one of them on a tag, an unshallow request served from the remembered
 * closure sends exactly the objects the walk sends; the real git client
 * deepens a --depth clone with it to a complete repository (fsck --full);
 * a shallow request that cuts nothing is served as a clone; a tip of V not
 * below the wants makes it walk.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fromBytes } from '../../../../shared/core/stream.js';
import { packBytesToEntries } from '../../../../shared/protocols/git/pack-reader.js';
import { uploadPack, type UploadPackStore } from '../../../../shared/protocols/git/upload-pack.js';
import type { ReachIndex } from '../../../../shared/storage/reach.js';
import { RepoView } from '../../../../shared/protocols/git/object-walk.js';
import { unshallowPlan } from '../../../../shared/protocols/git/unshallow.js';
import { applyFossilDelta } from '../../../../shared/delta/fossil.js';
import { applyGitDelta } from '../../../../shared/delta/git.js';
import { nativePrimitives } from '../../../../worker/primitives.js';
import { objectsOf, refsOf, tempRepo, type TempRepo } from './git-repo.js';
import { collectBytes, fetchPackV2, gitAsync, loadPack, serveHttp, setRefs, v2Fetch, withReach, type LoadedRepo } from './upload-pack-fixture.js';


let src: TempRepo;
let loaded: LoadedRepo;
/** With the reach index (the shortcut may apply), and without it (always the walk). */
let reachStore: UploadPackStore;
let walkStore: UploadPackStore;
let plans = 0;
/** Rows and delta chains the reach store's index was asked for. */
let gets = 0;
/** The index's reachPlan with each plan named as the DO names its kept plan. */
function namedPlan(index: UploadPackStore['index']): NonNullable<UploadPackStore['index']['reachPlan']> {
  return async (version, blobs) => {
    const plan = await index.reachPlan!(version, blobs);
    if (plan !== null) plan.key = `${version} ${blobs}`;
    return plan;
  };
}

const rev = (r: string) => src.git(['rev-parse', r]).toString().trim();

/** A history of main with a merged topic, a reverted file, and tags below main (fast-import). */
function history(repo: TempRepo): void {
  const lines: string[] = [];
  let mark = 0;
  const text = (n: number, v: string) => Array.from({ length: 60 }, (_, i) => `line ${i} of file ${n} ${i % 7 === 0 ? v : ''}`).join('\n') + '\n';
  const commit = (ref: string, files: Record<string, string>, from?: number, merge?: number) => {
    const m = ++mark;
    const msg = `commit ${m}\n`;
    lines.push(`commit ${ref}\nmark :${m}\ncommitter T <t@example.com> ${1_700_000_000 + m * 60} +0000\ndata ${msg.length}\n${msg}`);
    if (from !== undefined) lines.push(`from :${from}\n`);
    if (merge !== undefined) lines.push(`merge :${merge}\n`);
    for (const [path, body] of Object.entries(files)) lines.push(`M 100644 inline ${path}\ndata ${Buffer.byteLength(body)}\n${body}\n`);
    lines.push('\n');
    return m;
  };
  let tip = commit('refs/heads/main', { 'a.txt': text(0, 'A1'), 'b.txt': text(1, 'B1'), 'd/c.txt': text(2, 'C1') });
  for (let k = 2; k <= 8; k++) tip = commit('refs/heads/main', { 'a.txt': text(0, `A${k}`), [`d/f${k % 3}.txt`]: text(k, `F${k}`) });
  const fork = tip;
  let topic = commit('refs/heads/topic', { 'b.txt': text(1, 'B-topic'), 't.txt': text(9, 'T1') }, fork);
  topic = commit('refs/heads/topic', { 't.txt': text(9, 'T2') }, topic);
  tip = commit('refs/heads/main', { 'd/c.txt': text(2, 'C2') }, fork);
  tip = commit('refs/heads/main', { 'b.txt': text(1, 'B-topic'), 't.txt': text(9, 'T2') }, tip, topic);
  lines.push(`tag old\nfrom :${fork}\ntagger T <t@example.com> 1700000999 +0000\ndata 4\nold\n\n`);
  lines.push(`reset refs/tags/light\nfrom :${tip - 1}\n\n`);
  for (let k = 9; k <= 14; k++) tip = commit('refs/heads/main', { 'a.txt': text(0, `A${k}`), 'd/c.txt': text(2, `C${k}`) }, tip);
  // a.txt back to its first content: the shallow tip's blob is also an old commit's.
  tip = commit('refs/heads/main', { 'a.txt': text(0, 'A1') }, tip);
  repo.git(['fast-import', '--quiet'], lines.join(''));
  repo.git(['update-ref', '-d', 'refs/heads/topic']);
  // An annotated tag of main's tip, and a tag of that tag.
  repo.git(['tag', '-a', '-m', 'at tip', 'v2', 'main']);
  repo.git(['tag', '-a', '-m', 'tag of a tag', 'v2-signed', 'v2']);
}

async function run(store: UploadPackStore, args: string[], maxWalk?: number): Promise<Uint8Array> {
  return (await fetchPackV2(store, args, maxWalk)).pack;
}

/** Ids in a (non-thin) pack, sorted. */
async function idsOf(pack: Uint8Array): Promise<string[]> {
  const out: string[] = [];
  for await (const ev of packBytesToEntries(fromBytes(pack), { primitives: nativePrimitives })) if (ev.kind === 'object') out.push(ev.object.id);
  return out.sort();
}

/**
 * Both stores' packs for `args` (ids sorted); `planned`: how many plans the shortcut read for it
 * (reachPlan calls but the one for the walk's rows, which every shallow request with its wants in V
 * makes: see usePlanRows); `gets`: rows and chains asked of the reach store's index.
 */
async function both(args: string[]) {
  const before = plans;
  const getsBefore = gets;
  const viaReach = await idsOf(await run(reachStore, args));
  const planned = plans - before - 1;
  const asked = gets - getsBefore;
  const viaWalk = await idsOf(await run(walkStore, args));
  return { viaReach, viaWalk, planned, gets: asked };
}

beforeAll(async () => {
  src = tempRepo();
  history(src);
  loaded = await loadPack(new Uint8Array(src.git(['pack-objects', '--revs', '--all', '--stdout', '--delta-base-offset', '-q'], '')));
  await setRefs(loaded.repo, refsOf(src));
  walkStore = loaded.store;
  reachStore = withReach(loaded, { plan: () => plans++, get: () => gets++ });
  // A clone of every ref marks V.
  const wants = [...new Set(Object.values(refsOf(src)))].map((id) => `want ${id}`);
  expect(await idsOf(await run(reachStore, [...wants, 'ofs-delta', 'done']))).toEqual(objectsOf(src.dir));
}, 60_000);

afterAll(() => src?.remove());

describe('unshallow from the remembered closure', () => {
  const unshallow = (shallow: string[], haves: string[], extra: string[] = []) => [
    `want ${rev('main')}`,
    ...shallow.map((id) => `shallow ${id}`),
    'deepen 2147483647',
    ...haves.map((id) => `have ${id}`),
    'ofs-delta',
    ...extra,
    'done',
  ];

  it('after --depth 1: the walk\'s objects, without the reverted blob the client has', async () => {
    const tip = rev('main');
    const r = await both(unshallow([tip], [tip], ['include-tag']));
    expect(r.planned).toBe(1);
    expect(r.viaReach).toEqual(r.viaWalk);
    // Everything but the tip commit and what its tree reaches (which holds the first a.txt again).
    const had = objectsOf(src.dir, [`${tip}^{tree}`]);
    const firstA = rev(`${rev('main')}~16:a.txt`);
    expect(had).toContain(firstA);
    expect(r.viaReach).not.toContain(firstA);
    const tags = ['v2', 'v2-signed', 'old'].map(rev);
    // include-tag: `old` points into the pack; v2 and its tag point at the tip the client has.
    expect(r.viaReach).toContain(rev('old'));
    expect(r.viaReach).not.toContain(tags[0]);
    expect(r.viaReach).toEqual(objectsOf(src.dir, ['main', 'old']).filter((id) => id !== tip && !had.includes(id)));
  });

  it('after a --depth clone cut at both parents of the merge, with haves of all the client has', async () => {
    // main~7 is the merge: the client has main down to it and its two parents, which are shallow.
    const shallow = [rev('main~7^1'), rev('main~7^2')];
    const below = shallow.flatMap((id) => src.git(['rev-parse', `${id}^@`]).toString().trim().split('\n'));
    const commits = src.git(['rev-list', 'main', '--not', ...below]).toString().trim().split('\n');
    // What the client has: those commits and everything their trees reach.
    const client = objectsOf(src.dir, ['--no-walk', ...commits]);
    expect(commits).toHaveLength(10);
    const r = await both(unshallow(shallow, commits, ['include-tag']));
    expect(r.planned).toBe(1);
    expect(r.viaReach).toEqual(r.viaWalk);
    expect(r.viaReach.filter((id) => client.includes(id))).toEqual([]);
    expect(r.viaReach).toEqual(objectsOf(src.dir, ['main', 'old']).filter((id) => !client.includes(id)));
  });

  it('a wanted annotated tag goes with its chain; without include-tag `old` stays out', async () => {
    const tip = rev('main');
    const args = [`want ${rev('v2-signed')}`, `shallow ${tip}`, 'deepen 2147483647', `have ${tip}`, 'ofs-delta', 'done'];
    const r = await both(args);
    expect(r.planned).toBe(1);
    expect(r.viaReach).toEqual(r.viaWalk);
    expect(r.viaReach).toContain(rev('v2-signed'));
    expect(r.viaReach).toContain(rev('v2'));
    expect(r.viaReach).not.toContain(rev('old'));
  });

  it('git fetch --unshallow (thin-pack, include-tag) after clone --depth 1 completes the clone: fsck --full, every object', async () => {
    const server = await serveHttp(() => reachStore);
    const home = mkdtempSync(join(tmpdir(), 'unshallow-'));
    try {
      const dir = join(home, 'c');
      await gitAsync(['clone', '-q', '--no-checkout', '--depth', '1', server.url, dir], home);
      const before = plans;
      await gitAsync(['fetch', '-q', '--unshallow'], dir);
      expect(plans - before).toBeGreaterThanOrEqual(1);
      await gitAsync(['fsck', '--full', '--strict'], dir);
      const revs = (await gitAsync(['rev-list', '--objects', '--all'], dir)).stdout.trim().split('\n').map((l) => l.slice(0, 40)).sort();
      expect(revs).toEqual(objectsOf(src.dir, ['main', 'old', 'v2-signed']));
    } finally {
      await server.close();
      rmSync(home, { recursive: true, force: true });
    }
  });

  it('a closure larger than the bound is not copied: the walk serves it', async () => {
    const view = new RepoView({ index: reachStore.index, segments: reachStore.segments, primitives: nativePrimitives, appliers: { git: applyGitDelta, fossil: applyFossilDelta } });
    const tip = rev('main');
    const q = { wants: [tip], extra: [rev('main~1')], common: [tip], clientShallow: [tip], includeTags: [], thinPack: false, limit: 1000 };
    const reach = reachStore.index as unknown as ReachIndex;
    const count = objectsOf(src.dir).length;
    expect((await unshallowPlan(view, reach, q, count))?.count).toBeGreaterThan(0);
    expect(await unshallowPlan(view, reach, q, count - 1)).toBeNull();
  });

  it('a shallow request that cuts nothing (deepen-since before the first commit, deepen past the root) is a clone from the plan', async () => {
    for (const deepen of ['deepen-since 1', 'deepen 1000']) {
      const r = await both([`want ${rev('main')}`, deepen, 'ofs-delta', 'include-tag', 'done']);
      expect(r.planned).toBe(1);
      expect(r.viaReach).toEqual(r.viaWalk);
      expect(r.viaReach).toEqual(objectsOf(src.dir, ['main', 'old', 'v2-signed']));
    }
    // One commit cut: the walk.
    expect((await both([`want ${rev('main')}`, 'deepen 16', 'ofs-delta', 'done'])).planned).toBe(0);
  });

  it('a shallow request that cuts nothing sends the kept plan itself: its pack trailer is kept and used again', async () => {
    const digests = new Map<string, Uint8Array>();
    let known = 0;
    const index = reachStore.index;
    const store: UploadPackStore = {
      ...reachStore,
      index: {
        ...index,
        reachPlan: namedPlan(index),
        reachPackDigest: async (key, ofs) => {
          const d = digests.get(`${key} ${ofs}`) ?? null;
          if (d !== null) known++;
          return d;
        },
        keepReachPackDigest: async (key, ofs, d) => void digests.set(`${key} ${ofs}`, d),
      },
    };
    const args = [`want ${rev('main')}`, 'deepen-since 1', 'ofs-delta', 'include-tag', 'done'];
    const first = await run(store, args);
    expect(known).toBe(0);
    expect(digests.size).toBe(1);
    const second = await run(store, args);
    expect(known).toBe(1);
    // The same bytes, trailer included (packBytesToEntries checks it).
    expect(Buffer.from(second).equals(Buffer.from(first))).toBe(true);
    expect(await idsOf(second)).toEqual(objectsOf(src.dir, ['main', 'old', 'v2-signed']));
  });

  it('a --shallow-since that cut nothing over all of V tells the next ones of that plan, which walk no history', async () => {
    const index = reachStore.index;
    // As the DO names its kept plan and keeps the oldest date under that name.
    const oldest = new Map<string, number>();
    const store: UploadPackStore = {
      ...reachStore,
      index: {
        ...index,
        reachPlan: namedPlan(index),
        reachOldestCommit: async (key) => oldest.get(key) ?? null,
        keepReachOldestCommit: async (key, time) => void oldest.set(key, time),
      },
    };
    const all = [`want ${rev('main')}`, `want ${rev('old')}`, `want ${rev('light')}`];
    const since = (t: number, extra: string[] = []) => [...all, ...extra, `deepen-since ${t}`, 'ofs-delta', 'include-tag', 'done'];
    // Before any walk over V, the cut is not known to be older than its commits: bounded at 5, it fails.
    await expect(run(store, since(1), 5)).rejects.toThrow(/walk/);
    // Wanting main~3 walks only its history, which V's tip main is not in: nothing is kept.
    await run(store, [`want ${rev('main~3')}`, 'deepen-since 1', 'ofs-delta', 'done']);
    expect(oldest.size).toBe(0);
    await expect(run(store, since(1), 5)).rejects.toThrow(/walk/);
    // main's history holds every tip of V (its tags are below it): the walk goes over all of V.
    const first = await run(store, [`want ${rev('main')}`, 'deepen-since 1', 'ofs-delta', 'include-tag', 'done']);
    expect([...oldest.values()]).toEqual([1_700_000_060]);
    // Now known: the same pack, and no walk (a bound of 5 commits is not reached).
    const next = await run(store, since(1_700_000_000), 5);
    expect(Buffer.from(next).equals(Buffer.from(first))).toBe(true);
    expect(await idsOf(next)).toEqual(objectsOf(src.dir, ['main', 'old', 'v2-signed']));
    // A client shallow commit the wants reach is unshallowed: the same answer as the walk's.
    const shallow = [`shallow ${rev('main~3')}`];
    const known = Buffer.from(await collectBytes(uploadPack(store, fromBytes(v2Fetch(since(1, shallow))), { protocol: 2 }))).toString('latin1');
    expect(known).toContain(`unshallow ${rev('main~3')}`);
    expect(known).toEqual(Buffer.from(await collectBytes(uploadPack(walkStore, fromBytes(v2Fetch(since(1, shallow))), { protocol: 2 }))).toString('latin1'));
    // A cut that is newer than a commit still walks.
    await expect(run(store, since(1_700_000_000 + 5 * 60), 5)).rejects.toThrow(/walk/);
  });

  it('a tip of V not below the wants (a branch elsewhere): the walk serves it', async () => {
    src.git(['branch', 'elsewhere', 'main~12']);
    const apart = src.git(['commit-tree', '-p', rev('elsewhere'), '-m', 'apart', `${rev('main~3')}^{tree}`]).toString().trim();
    src.git(['update-ref', 'refs/heads/elsewhere', apart]);
    loaded = await loadPack(new Uint8Array(src.git(['pack-objects', '--revs', '--all', '--stdout', '--delta-base-offset', '-q'], '')), loaded);
    await setRefs(loaded.repo, refsOf(src));
    const wants = [...new Set(Object.values(refsOf(src)))].map((id) => `want ${id}`);
    await run(reachStore, [...wants, 'ofs-delta', 'done']);
    const tip = rev('main');
    const r = await both(unshallow([tip], [tip]));
    expect(r.planned).toBe(0);
    // The walk read every row from V's plan (it asked the index for one per object before).
    expect(r.gets).toBe(0);
    expect(r.viaReach).toEqual(r.viaWalk);
    expect(r.viaReach).not.toContain(apart);
  });

  it('a wanted commit the client has as shallow (a tag followed to its boundary) is had: no walk down to it', async () => {
    // git fetch --deepen N follows a tag at the new boundary with want B, shallow B, have TIP.
    const tip = rev('main');
    const boundary = rev('main~12');
    const args = [`want ${boundary}`, `shallow ${boundary}`, `have ${tip}`, 'ofs-delta', 'done'];
    // Walking from the tip down to it took 12 commits: past a bound of 5, the fetch failed.
    expect(await idsOf(await run(walkStore, args, 5))).toEqual([]);
  });
});
