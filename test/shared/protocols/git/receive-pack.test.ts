import { describe, expect, it } from 'vitest';
import { utf8Encode } from '../../../../shared/core/bytes.js';
import { fromBytes } from '../../../../shared/core/stream.js';
import { createGitDelta } from '../../../../shared/delta/index.js';
import type { PackWriteEntry } from '../../../../shared/protocols/git/pack-writer.js';
import type { ReceivePackOptions, UpdateToCheck } from '../../../../shared/protocols/git/receive-pack.js';
import { MAX_CHAIN_DEPTH } from '../../../../shared/storage/object-index.js';
import { readObject } from '../../../../shared/storage/object-store.js';
import {
  blob,
  commit,
  history,
  newRepo,
  obj,
  p,
  packBytes,
  packOf,
  push,
  pushBody,
  pushRaw,
  tag,
  tree,
  whole,
  ZERO_ID,
  type Obj,
  type TestRepo,
} from './receive-pack-helpers.js';

const MAIN = 'refs/heads/main';

async function seeded(n = 3): Promise<{ r: TestRepo; tip: Obj; objects: Obj[] }> {
  const r = newRepo();
  const { objects, tip } = history(n);
  const reply = await push(r, [[ZERO_ID, tip.id, MAIN]], await packOf(objects));
  expect(reply.report).toEqual(['unpack ok', `ok ${MAIN}`]);
  return { r, tip, objects };
}

async function read(r: TestRepo, id: string) {
  return readObject({ index: r.repo, segments: r.segments, primitives: p, appliers: r.store.appliers }, id);
}

describe('receivePack: creates, updates, deletes', () => {
  it('creates a branch, stores every object as received, and points HEAD at it', async () => {
    const { r, tip, objects } = await seeded();
    expect(await r.repo.read(MAIN)).toBe(tip.id);
    expect(await r.repo.readSymbolic('HEAD')).toBe(MAIN);
    for (const o of objects) expect((await read(r, o.id))?.data).toEqual(o.data);
    expect((await r.segments.list()).length).toBe(1);
  });

  it('updates a branch with a pack of new objects only (parents in the store)', async () => {
    const { r, tip } = await seeded();
    const next = history(2, [tip.id], 'y');
    const reply = await push(r, [[tip.id, next.tip.id, MAIN]], await packOf(next.objects));
    expect(reply.report).toEqual(['unpack ok', `ok ${MAIN}`]);
    expect(await r.repo.read(MAIN)).toBe(next.tip.id);
  });

  it('allows non-fast-forward updates by default, refuses them with denyNonFastForwards', async () => {
    const { r, tip } = await seeded();
    const other = history(1, [], 'z');
    const pack = await packOf(other.objects);
    const refused = await push(r, [[tip.id, other.tip.id, MAIN]], pack, { opts: { denyNonFastForwards: true } });
    expect(refused.report).toEqual(['unpack ok', `ng ${MAIN} non-fast-forward`]);
    expect(refused.progress).toContain('denying non-fast-forward refs/heads/main');
    expect(await r.repo.read(MAIN)).toBe(tip.id);
    const ff = history(1, [tip.id], 'w');
    expect((await push(r, [[tip.id, ff.tip.id, MAIN]], await packOf(ff.objects), { opts: { denyNonFastForwards: true } })).report).toEqual([
      'unpack ok',
      `ok ${MAIN}`,
    ]);
    const forced = await push(r, [[ff.tip.id, other.tip.id, MAIN]], pack);
    expect(forced.report).toEqual(['unpack ok', `ok ${MAIN}`]);
    expect(await r.repo.read(MAIN)).toBe(other.tip.id);
  });

  it('checks a deep fast-forward on the commits the ingest parsed, reading none of them back', async () => {
    // Segment reads of one push of 150 new commits onto MAIN, with and without an ancestry check.
    const reads = async (opts: ReceivePackOptions) => {
      const { r, tip } = await seeded();
      let n = 0;
      const segments = r.store.segments;
      const counted = Object.assign(Object.create(segments) as typeof segments, {
        readRange: (s: string, o: number, l: number) => (n++, segments.readRange(s, o, l)),
        readStream: (s: string, o?: number, l?: number) => (n++, segments.readStream(s, o, l)),
      });
      const deep = history(150, [tip.id], 'deep');
      const reply = await push({ ...r, store: { ...r.store, segments: counted } }, [[tip.id, deep.tip.id, MAIN]], await packOf(deep.objects), { opts });
      expect(reply.report).toEqual(['unpack ok', `ok ${MAIN}`]);
      return n;
    };
    let asked = 0;
    const ff = async (u: UpdateToCheck) => void (asked++, expect(await u.isFastForward()).toBe(true));
    // At most the 3 stored commits below the old tip are read (their times interleave with the new ones').
    const plain = await reads({});
    expect(await reads({ denyNonFastForwards: true })).toBeLessThanOrEqual(plain + 3);
    expect(await reads({ checkUpdate: ff })).toBeLessThanOrEqual(plain + 3);
    expect(asked).toBe(1);
  });

  it('deletes a branch without a pack, but not the current branch', async () => {
    const { r, tip } = await seeded();
    expect((await push(r, [[ZERO_ID, tip.id, 'refs/heads/topic']], await packOf([]))).report).toEqual(['unpack ok', 'ok refs/heads/topic']);
    expect((await push(r, [[tip.id, ZERO_ID, 'refs/heads/topic']])).report).toEqual(['unpack ok', 'ok refs/heads/topic']);
    expect(await r.repo.read('refs/heads/topic')).toBeNull();
    const cur = await push(r, [[tip.id, ZERO_ID, MAIN]]);
    expect(cur.report).toEqual(['unpack ok', `ng ${MAIN} deletion of the current branch prohibited`]);
    expect(await r.repo.read(MAIN)).toBe(tip.id);
    expect((await push(r, [[tip.id, ZERO_ID, MAIN]], undefined, { opts: { denyDeleteCurrent: false } })).report).toEqual(['unpack ok', `ok ${MAIN}`]);
  });

  it('accepts the empty pack for a new ref at a stored commit', async () => {
    const { r, tip } = await seeded();
    const reply = await push(r, [[ZERO_ID, tip.id, 'refs/heads/same']], await packOf([]));
    expect(reply.report).toEqual(['unpack ok', 'ok refs/heads/same']);
  });

  it('stores annotated tags and requires their target', async () => {
    const { r, tip } = await seeded();
    const commitObj = obj('commit', (await read(r, tip.id))!.data);
    const t = tag(commitObj, 'v1');
    expect((await push(r, [[ZERO_ID, t.id, 'refs/tags/v1']], await packOf([t]))).report).toEqual(['unpack ok', 'ok refs/tags/v1']);
    const dangling = tag(blob('not pushed\n'), 'v2');
    expect((await push(r, [[ZERO_ID, dangling.id, 'refs/tags/v2']], await packOf([dangling]))).report).toEqual([
      'unpack ok',
      'ng refs/tags/v2 missing necessary objects',
    ]);
  });
});

describe('receivePack: refusals', () => {
  it('refuses a funny ref name and keeps the others', async () => {
    const { r, tip } = await seeded();
    const reply = await push(r, [
      [ZERO_ID, tip.id, 'refs/heads/a..b'],
      [ZERO_ID, tip.id, 'refs/heads/ok'],
    ], await packOf([]));
    expect(reply.report).toEqual(['unpack ok', 'ng refs/heads/a..b funny refname', 'ok refs/heads/ok']);
    expect(reply.progress).toContain("refusing to create funny ref 'refs/heads/a..b' remotely");
  });

  it('atomic: one bad ref refuses every ref with "atomic push failure" and stores nothing', async () => {
    const { r, tip } = await seeded();
    const next = history(1, [tip.id], 'n');
    const reply = await push(
      r,
      [
        [tip.id, next.tip.id, MAIN],
        [ZERO_ID, next.tip.id, 'refs/heads/bad name'],
      ],
      await packOf(next.objects),
      { caps: `atomic ${'report-status side-band-64k quiet'}` },
    );
    expect(reply.report).toEqual(['unpack ok', `ng ${MAIN} atomic push failure`, 'ng refs/heads/bad name funny refname']);
    expect(await r.repo.read(MAIN)).toBe(tip.id);
    expect(await r.repo.has([next.tip.id])).toEqual([false]);
  });

  it('atomic with one stale ref: no ref moves, no row becomes visible', async () => {
    const { r, tip } = await seeded();
    await push(r, [[ZERO_ID, tip.id, 'refs/heads/b']], await packOf([]));
    const next = history(1, [tip.id], 's');
    const stale = '1'.repeat(40);
    const reply = await push(
      r,
      [
        [tip.id, next.tip.id, MAIN],
        [stale, next.tip.id, 'refs/heads/b'],
      ],
      await packOf(next.objects),
      { caps: 'atomic report-status-v2 side-band-64k quiet' },
    );
    expect(reply.report).toEqual(['unpack ok', `ng ${MAIN} atomic transaction failed`, 'ng refs/heads/b atomic transaction failed']);
    expect(reply.progress).toContain(`cannot lock ref 'refs/heads/b': is at ${tip.id} but expected ${stale}`);
    expect(await r.repo.read(MAIN)).toBe(tip.id);
    expect(await r.repo.read('refs/heads/b')).toBe(tip.id);
    expect(await r.repo.has([next.tip.id])).toEqual([false]);
  });

  it('non-atomic with one stale ref: the other ref moves', async () => {
    const { r, tip } = await seeded();
    const next = history(1, [tip.id], 's');
    const reply = await push(
      r,
      [
        [tip.id, next.tip.id, MAIN],
        [tip.id, next.tip.id, 'refs/heads/none'],
      ],
      await packOf(next.objects),
    );
    expect(reply.report).toEqual(['unpack ok', `ok ${MAIN}`, 'ng refs/heads/none failed to update ref']);
    expect(await r.repo.read(MAIN)).toBe(next.tip.id);
  });

  it('refuses refs whose objects are missing (connectivity), per ref', async () => {
    const { r, tip } = await seeded();
    const lost = blob('never sent\n');
    const t = tree([['100644', 'f', lost.id]]);
    const c = commit(t.id, [tip.id], 'broken');
    const good = history(1, [tip.id], 'g');
    const reply = await push(
      r,
      [
        [ZERO_ID, c.id, 'refs/heads/broken'],
        [ZERO_ID, good.tip.id, 'refs/heads/good'],
        [ZERO_ID, '2'.repeat(40), 'refs/heads/nothing'],
      ],
      await packOf([c, t, ...good.objects]),
    );
    expect(reply.report).toEqual([
      'unpack ok',
      'ng refs/heads/broken missing necessary objects',
      'ok refs/heads/good',
      'ng refs/heads/nothing missing necessary objects',
    ]);
    expect(await r.repo.read('refs/heads/broken')).toBeNull();
  });

  it('does not require a gitlink entry\'s commit (it lives in another repository)', async () => {
    const { r, tip } = await seeded();
    const t = tree([['160000', 'sub', '3'.repeat(40)]]);
    const c = commit(t.id, [tip.id], 'submodule');
    const reply = await push(r, [[ZERO_ID, c.id, 'refs/heads/sub']], await packOf([c, t]));
    expect(reply.report).toEqual(['unpack ok', 'ok refs/heads/sub']);
  });

  it('refuses a branch that does not point at a commit', async () => {
    const { r } = await seeded();
    const b = blob('just a blob\n');
    const reply = await push(r, [[ZERO_ID, b.id, 'refs/heads/blob'], [ZERO_ID, b.id, 'refs/tags/blob']], await packOf([b]));
    expect(reply.report).toEqual(['unpack ok', 'ng refs/heads/blob failed to update ref', 'ok refs/tags/blob']);
  });

  it('two concurrent pushes to one branch: exactly one wins', async () => {
    const { r, tip } = await seeded();
    const a = history(1, [tip.id], 'a');
    const b = history(1, [tip.id], 'b');
    const [ra, rb] = await Promise.all([
      push(r, [[tip.id, a.tip.id, MAIN]], await packOf(a.objects)),
      push(r, [[tip.id, b.tip.id, MAIN]], await packOf(b.objects)),
    ]);
    const oks = [ra, rb].filter((x) => x.report[1] === `ok ${MAIN}`);
    expect(oks.length).toBe(1);
    const loser = ra === oks[0] ? rb : ra;
    expect(loser.report).toEqual(['unpack ok', `ng ${MAIN} failed to update ref`]);
    expect([a.tip.id, b.tip.id]).toContain(await r.repo.read(MAIN));
  });
});

describe('receivePack: damaged input', () => {
  async function expectUnpackError(pack: Uint8Array, match: RegExp, opts = {}) {
    const { r, tip } = await seeded();
    const next = history(2, [tip.id], 'd');
    const before = (await r.repo.list()).map((x) => `${x.name} ${x.id}`);
    const reply = await push(r, [[tip.id, next.tip.id, MAIN], [tip.id, ZERO_ID, 'refs/heads/x']], pack, { opts });
    expect(reply.report[0]).toMatch(/^unpack /);
    expect(reply.report[0]).not.toBe('unpack ok');
    expect(reply.report[0]).toMatch(match);
    expect(reply.report.slice(1)).toEqual([`ng ${MAIN} unpacker error`, 'ng refs/heads/x unpacker error']);
    expect((await r.repo.list()).map((x) => `${x.name} ${x.id}`)).toEqual(before);
    expect(await r.repo.has([next.tip.id])).toEqual([false]);
    return next;
  }

  it('bad checksum', async () => {
    const { tip } = await seeded();
    const pack = await packOf(history(2, [tip.id], 'd').objects);
    pack[pack.length - 1] ^= 1;
    await expectUnpackError(pack, /SHA-1|checksum/);
  });

  it('corrupt zlib', async () => {
    const { tip } = await seeded();
    const pack = await packOf(history(2, [tip.id], 'd').objects);
    for (let i = 20; i < 40; i++) pack[i] ^= 0x5a;
    await expectUnpackError(pack, /./);
  });

  it('truncated pack', async () => {
    const { tip } = await seeded();
    const pack = await packOf(history(2, [tip.id], 'd').objects);
    await expectUnpackError(pack.subarray(0, pack.length - 30), /ends|truncated|early/);
  });

  it('no pack where one is expected', async () => {
    await expectUnpackError(new Uint8Array(0), /./);
  });

  it('an unparsable object', async () => {
    const bad = obj('commit', 'not a commit\n');
    await expectUnpackError(await packOf([bad]), /./);
  });

  it('a pack over the size limit', async () => {
    const { tip } = await seeded();
    const pack = await packOf(history(2, [tip.id], 'd').objects);
    await expectUnpackError(pack, /limit of 100 bytes/, { maxPackBytes: 100 });
  });

  it('garbage instead of commands gets an ERR pkt-line', async () => {
    const r = newRepo();
    const reply = await pushRaw(r, fromBytes(utf8Encode('zzzz garbage')), false);
    expect(reply.errors.length).toBe(1);
    expect(reply.errors[0]).toMatch(/^ERR /);
  });

  it('the empty request (push probe) gets an empty reply', async () => {
    const r = newRepo();
    const reply = await pushRaw(r, fromBytes(utf8Encode('0000')), false);
    expect(reply.raw.length).toBe(0);
  });
});

describe('receivePack: deltas', () => {
  it('thin pack: REF_DELTA against a stored object stays a git delta', async () => {
    const { r, tip } = await seeded();
    const oldBlob = blob('x content 2\n'.repeat(50));
    await seedBlobCommit(r, oldBlob, tip.id);
    const newBlob = blob('x content 2\n'.repeat(50) + 'one more line\n');
    const t = tree([['100644', 'file.txt', newBlob.id]]);
    const c = commit(t.id, [tip.id], 'thin');
    const pack = await packBytes([whole(c), whole(t), { kind: 'delta', base: { id: oldBlob.id }, delta: createGitDelta(oldBlob.data, newBlob.data) }]);
    const reply = await push(r, [[ZERO_ID, c.id, 'refs/heads/thin']], pack);
    expect(reply.report).toEqual(['unpack ok', 'ok refs/heads/thin']);
    const row = await r.repo.get(newBlob.id);
    expect(row).toMatchObject({ format: 'git-delta', base: oldBlob.id, depth: 1 });
    expect((await read(r, newBlob.id))!.data).toEqual(newBlob.data);
  });

  it(`chains deeper than ${MAX_CHAIN_DEPTH} are cut with full texts`, async () => {
    const r = newRepo();
    const n = MAX_CHAIN_DEPTH * 2 + 5;
    const blobs: Obj[] = [];
    let text = 'line 0\n'.repeat(20);
    for (let i = 0; i < n; i++) {
      text += `line ${i + 1}\n`;
      blobs.push(blob(text));
    }
    const entries: PackWriteEntry[] = [whole(blobs[0])];
    for (let i = 1; i < n; i++) entries.push({ kind: 'delta', base: { index: i + 1 }, delta: createGitDelta(blobs[i - 1].data, blobs[i].data) });
    const t = tree(blobs.map((b, i) => ['100644', `f${String(i).padStart(4, '0')}`, b.id] as [string, string, string]));
    const c = commit(t.id, [], 'deep');
    entries.unshift(whole(c), whole(t));
    const reply = await push(r, [[ZERO_ID, c.id, MAIN]], await packBytes(entries), { caps: 'report-status side-band-64k' });
    expect(reply.report).toEqual(['unpack ok', `ok ${MAIN}`]);
    expect(reply.progress).toContain(`Resolving deltas: 100% (${n - 1}/${n - 1}), done.`);
    let fulls = 0;
    for (const b of blobs) {
      const row = (await r.repo.get(b.id))!;
      expect(row.depth).toBeLessThanOrEqual(MAX_CHAIN_DEPTH);
      if (row.format === 'full') fulls++;
      expect((await read(r, b.id))!.data).toEqual(b.data);
    }
    expect(fulls).toBe(3);
  });

  it('a thin delta on top of a stored chain already at the depth limit becomes a full text', async () => {
    const r = newRepo();
    const blobs: Obj[] = [];
    let text = 'base\n'.repeat(30);
    for (let i = 0; i <= MAX_CHAIN_DEPTH; i++) {
      text += `more ${i}\n`;
      blobs.push(blob(text));
    }
    const entries: PackWriteEntry[] = [whole(blobs[0])];
    for (let i = 1; i < blobs.length; i++) entries.push({ kind: 'delta', base: { index: i + 1 }, delta: createGitDelta(blobs[i - 1].data, blobs[i].data) });
    const t = tree(blobs.map((b, i) => ['100644', `f${String(i).padStart(4, '0')}`, b.id] as [string, string, string]));
    const c = commit(t.id, [], 'chain');
    entries.unshift(whole(c), whole(t));
    expect((await push(r, [[ZERO_ID, c.id, MAIN]], await packBytes(entries))).report[1]).toBe(`ok ${MAIN}`);
    const top = blobs[blobs.length - 1];
    expect((await r.repo.get(top.id))!.depth).toBe(MAX_CHAIN_DEPTH);
    const next = blob(new TextDecoder().decode(top.data) + 'thin\n');
    const t2 = tree([['100644', 'g', next.id]]);
    const c2 = commit(t2.id, [c.id], 'thin on deep');
    const pack = await packBytes([whole(c2), whole(t2), { kind: 'delta', base: { id: top.id }, delta: createGitDelta(top.data, next.data) }]);
    expect((await push(r, [[c.id, c2.id, MAIN]], pack)).report).toEqual(['unpack ok', `ok ${MAIN}`]);
    expect(await r.repo.get(next.id)).toMatchObject({ format: 'full', depth: 0 });
    expect((await read(r, next.id))!.data).toEqual(next.data);
  });

  it('REF_DELTA whose base comes later in the pack', async () => {
    const r = newRepo();
    const a = blob('shared text\n'.repeat(40));
    const b = blob('shared text\n'.repeat(40) + 'b\n');
    const t = tree([['100644', 'a', a.id], ['100644', 'b', b.id]]);
    const c = commit(t.id, [], 'fwd');
    const pack = await packBytes([whole(c), whole(t), { kind: 'delta', base: { id: a.id }, delta: createGitDelta(a.data, b.data) }, whole(a)]);
    expect((await push(r, [[ZERO_ID, c.id, MAIN]], pack)).report).toEqual(['unpack ok', `ok ${MAIN}`]);
    expect((await read(r, b.id))!.data).toEqual(b.data);
  });

  const evictingPush = () => {
    const blobs: Obj[] = [];
    for (let i = 0; i < 30; i++) blobs.push(blob(`${'common '.repeat(200)}${i}\n`));
    const entries: PackWriteEntry[] = [whole(blobs[0])];
    for (let i = 1; i < blobs.length; i++) entries.push({ kind: 'delta', base: { index: 2 }, delta: createGitDelta(blobs[0].data, blobs[i].data) });
    const t = tree(blobs.map((b, i) => ['100644', `f${String(i).padStart(3, '0')}`, b.id] as [string, string, string]));
    const c = commit(t.id, [], 'evict');
    entries.unshift(whole(c), whole(t));
    return { blobs, c, entries };
  };

  it('re-reads evicted bases from finished segments (tiny base cache and retention, a writer that cannot read back)', async () => {
    const r = newRepo();
    // Writers without readBack (as R2's once a record's part is uploaded): each re-read finishes the open segment.
    const create = r.segments.create.bind(r.segments);
    r.store = { ...r.store, segments: Object.assign(Object.create(r.segments), { create: async () => ({ ...(await create()), readBack: undefined }) }) };
    const { blobs, c, entries } = evictingPush();
    const reply = await push(r, [[ZERO_ID, c.id, MAIN]], await packBytes(entries), { opts: { maxDeltaBaseCache: 100, segmentRetainBytes: 0 } });
    expect(reply.report).toEqual(['unpack ok', `ok ${MAIN}`]);
    expect((await r.segments.list()).length).toBeGreaterThan(1);
    for (const b of blobs) expect((await read(r, b.id))!.data).toEqual(b.data);
  });

  it('re-reads evicted bases of the open segment from its writer, without finishing it (no retention)', async () => {
    const r = newRepo();
    const { blobs, c, entries } = evictingPush();
    const reply = await push(r, [[ZERO_ID, c.id, MAIN]], await packBytes(entries), { opts: { maxDeltaBaseCache: 100, segmentRetainBytes: 0 } });
    expect(reply.report).toEqual(['unpack ok', `ok ${MAIN}`]);
    expect((await r.segments.list()).length).toBe(1);
    for (const b of blobs) expect((await read(r, b.id))!.data).toEqual(b.data);
  });

  it('copies no records for re-reads when the writer can read back (default retain)', async () => {
    const r = newRepo();
    // Counts re-reads the writer served: a retained copy would serve them without asking.
    let readBacks = 0;
    const create = r.segments.create.bind(r.segments);
    r.store = {
      ...r.store,
      segments: Object.assign(Object.create(r.segments), {
        create: async () => {
          const w = await create();
          return { ...w, readBack: (off: number, len: number) => (readBacks++, w.readBack!(off, len)) };
        },
      }),
    };
    const { blobs, c, entries } = evictingPush();
    const reply = await push(r, [[ZERO_ID, c.id, MAIN]], await packBytes(entries), { opts: { maxDeltaBaseCache: 100 } });
    expect(reply.report).toEqual(['unpack ok', `ok ${MAIN}`]);
    expect(readBacks).toBeGreaterThan(0);
    expect((await r.segments.list()).length).toBe(1);
    for (const b of blobs) expect((await read(r, b.id))!.data).toEqual(b.data);
  });

  // Each re-read of a record not retained finishes the open segment: without the default retain a
  // small push was cut into many segments, and every clone of it read them one by one.
  it('keeps a small push in one segment when bases are re-read (default retain)', async () => {
    const r = newRepo();
    const { blobs, c, entries } = evictingPush();
    const reply = await push(r, [[ZERO_ID, c.id, MAIN]], await packBytes(entries), { opts: { maxDeltaBaseCache: 100 } });
    expect(reply.report).toEqual(['unpack ok', `ok ${MAIN}`]);
    expect((await r.segments.list()).length).toBe(1);
    for (const b of blobs) expect((await read(r, b.id))!.data).toEqual(b.data);
  });
});

describe('receivePack: tree deltas', () => {
  // t1 (reached by no ref) names a blob as a directory; t2, the pushed tree, is a delta on t1 copying that entry.
  const setup = (dirMode: string) => {
    const b = blob('not a directory\n');
    const file = blob('a file\n');
    const t1 = tree([[dirMode, 'dir', b.id], ['100644', 'x.txt', file.id]]);
    const t2 = tree([[dirMode, 'dir', b.id], ['100644', 'y.txt', file.id]]);
    const c = commit(t2.id, [], 'c');
    return { c, t2, entries: [whole(c), whole(t1), { kind: 'delta', base: { id: t1.id }, delta: createGitDelta(t1.data, t2.data) }, whole(b), whole(file)] as PackWriteEntry[] };
  };

  it('takes entries copied from an in-pack base tree', async () => {
    const r = newRepo();
    const { c, t2, entries } = setup('100644');
    const reply = await push(r, [[ZERO_ID, c.id, MAIN]], await packBytes(entries));
    expect(reply.report).toEqual(['unpack ok', `ok ${MAIN}`]);
    expect((await read(r, t2.id))?.data).toEqual(t2.data);
  });

  it('refuses a copied entry of the wrong type although only the base tree named it first', async () => {
    const r = newRepo();
    const { c, entries } = setup('40000');
    const reply = await push(r, [[ZERO_ID, c.id, MAIN]], await packBytes(entries));
    expect(reply.report).toEqual(['unpack ok', `ng ${MAIN} missing necessary objects`]);
    expect(await r.repo.read(MAIN)).toBeNull();
  });
});

describe('receivePack: ref names that are directories of each other', () => {
  it('refuses creating x/y beside x (and x beside x/y) as git does, unless this push deletes the other', async () => {
    const { r, tip } = await seeded();
    const t = tip.id;
    expect((await push(r, [[ZERO_ID, t, 'refs/heads/x']], await packOf([]))).report).toEqual(['unpack ok', 'ok refs/heads/x']);
    const under = await push(r, [[ZERO_ID, t, 'refs/heads/x/y']], await packOf([]));
    expect(under.report).toEqual(['unpack ok', 'ng refs/heads/x/y failed to update ref']);
    expect(under.progress).toContain("cannot lock ref 'refs/heads/x/y': 'refs/heads/x' exists; cannot create 'refs/heads/x/y'");
    // Both in one push: the first wins.
    const both = await push(r, [[ZERO_ID, t, 'refs/heads/q/r'], [ZERO_ID, t, 'refs/heads/q']], await packOf([]));
    expect(both.report).toEqual(['unpack ok', 'ok refs/heads/q/r', 'ng refs/heads/q failed to update ref']);
    const above = await push(r, [[ZERO_ID, t, 'refs/heads/q/r/s']], await packOf([]));
    expect(above.report).toEqual(['unpack ok', 'ng refs/heads/q/r/s failed to update ref']);
    // Deleting x frees its name for x/y in the same push; tags and other branches are not affected.
    const moved = await push(r, [[t, ZERO_ID, 'refs/heads/x'], [ZERO_ID, t, 'refs/heads/x/y'], [ZERO_ID, t, 'refs/tags/x']], await packOf([]));
    expect(moved.report).toEqual(['unpack ok', 'ok refs/heads/x', 'ok refs/heads/x/y', 'ok refs/tags/x']);
    expect((await r.repo.list('refs/heads/')).map((ref) => ref.name)).toEqual([MAIN, 'refs/heads/q/r', 'refs/heads/x/y']);
  });
});

describe('receivePack: HEAD and report forms', () => {
  it('points HEAD at the first branch pushed, main then master preferred', async () => {
    const r1 = newRepo();
    const h = history(1);
    await push(r1, [[ZERO_ID, h.tip.id, 'refs/heads/dev']], await packOf(h.objects));
    expect(await r1.repo.readSymbolic('HEAD')).toBe('refs/heads/dev');
    const r2 = newRepo();
    await push(r2, [[ZERO_ID, h.tip.id, 'refs/heads/dev'], [ZERO_ID, h.tip.id, MAIN]], await packOf(h.objects));
    expect(await r2.repo.readSymbolic('HEAD')).toBe(MAIN);
    // Not empty any more: a later push leaves HEAD alone.
    await push(r2, [[ZERO_ID, h.tip.id, 'refs/heads/zzz']], await packOf([]));
    expect(await r2.repo.readSymbolic('HEAD')).toBe(MAIN);
    // A mirror push's sorted refs: master wins over branches sorted before it.
    const r3 = newRepo();
    await push(r3, [[ZERO_ID, h.tip.id, 'refs/heads/dev'], [ZERO_ID, h.tip.id, 'refs/heads/master']], await packOf(h.objects));
    expect(await r3.repo.readSymbolic('HEAD')).toBe('refs/heads/master');
    // A default branch set before the first push (the API's PATCH) is kept, whichever branches come first.
    const r4 = newRepo();
    await r4.repo.setSymbolic('HEAD', 'refs/heads/trunk');
    await push(r4, [[ZERO_ID, h.tip.id, 'refs/heads/dev'], [ZERO_ID, h.tip.id, MAIN]], await packOf(h.objects));
    expect(await r4.repo.readSymbolic('HEAD')).toBe('refs/heads/trunk');
    await push(r4, [[ZERO_ID, h.tip.id, 'refs/heads/trunk']], await packOf([]));
    expect(await r4.repo.readSymbolic('HEAD')).toBe('refs/heads/trunk');
  });

  it('plain report-status without side-band', async () => {
    const r = newRepo();
    const h = history(1);
    const reply = await push(r, [[ZERO_ID, h.tip.id, MAIN]], await packOf(h.objects), { caps: 'report-status' });
    expect(new TextDecoder().decode(reply.raw)).toBe(`000eunpack ok\n0017ok ${MAIN}\n0000`);
  });

  it('push options are accepted; no report asked gives no report', async () => {
    const r = newRepo();
    const h = history(1);
    const body = pushBody([[ZERO_ID, h.tip.id, MAIN]], 'push-options side-band-64k', await packOf(h.objects), ['ci.skip']);
    const reply = await pushRaw(r, fromBytes(body), true);
    expect(reply.report).toEqual([]);
    expect(await r.repo.read(MAIN)).toBe(h.tip.id);
  });

  it('band-2 progress only without quiet', async () => {
    const r = newRepo();
    const h = history(2);
    const loud = await push(r, [[ZERO_ID, h.tip.id, MAIN]], await packOf(h.objects), { caps: 'report-status side-band-64k', opts: { progressInterval: 0 } });
    expect(loud.progress).toContain('Receiving objects: 100% (6/6), done.');
    const r2 = newRepo();
    const quiet = await push(r2, [[ZERO_ID, h.tip.id, MAIN]], await packOf(h.objects), { opts: { progressInterval: 0 } });
    expect(quiet.progress).toBe('');
  });

  it('a head split across many small chunks', async () => {
    const r = newRepo();
    const h = history(1);
    const body = pushBody([[ZERO_ID, h.tip.id, MAIN]], 'report-status', await packOf(h.objects));
    const reply = await pushRaw(r, fromBytes(body, 3), false);
    expect(reply.report).toEqual(['unpack ok', `ok ${MAIN}`]);
  });
});

/** Stores `b` through a push of a commit holding it; returns that commit. */
async function seedBlobCommit(r: TestRepo, b: Obj, parent: string): Promise<Obj> {
  const t = tree([['100644', 'big.txt', b.id]]);
  const c = commit(t.id, [parent], 'seed blob');
  const reply = await push(r, [[ZERO_ID, c.id, 'refs/heads/seed']], await packOf([c, t, b]));
  expect(reply.report[1]).toBe('ok refs/heads/seed');
  return c;
}
