// receive-pack against real git: recorded pushes replayed (transcripts) and
// packs made by `git pack-objects` (full, thin, deep chains).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fromBytes } from '../../../../shared/core/stream.js';
import { parseObject, referencedIds } from '../../../../shared/core/git/object.js';
import { readPackObjects } from '../../../../shared/protocols/git/pack-reader.js';
import { parseReceiveRequest } from '../../../../shared/protocols/git/receive-request.js';
import { DEFAULT_RECEIVE_FEATURES } from '../../../../shared/protocols/git/capabilities.js';
import { MAX_CHAIN_DEPTH, type IndexRowInput } from '../../../../shared/storage/object-index.js';
import { readObject } from '../../../../shared/storage/object-store.js';
import { catFile, fillRepo, tempRepo, type TempRepo } from './git-repo.js';
import { exchanges, splitPkts } from './http-transcript.js';
import { decodeReply, newRepo, p, push, pushRaw, ZERO_ID, type TestRepo } from './receive-pack-helpers.js';

const dec = new TextDecoder();

/** Refs of a receive-pack advertisement body. */
function advertisedRefs(body: Uint8Array): { name: string; id: string }[] {
  const out: { name: string; id: string }[] = [];
  for (const pkt of splitPkts(body).pkts) {
    if (pkt.kind !== 'data') continue;
    const line = dec.decode(pkt.payload).replace(/\n$/, '').split('\0')[0];
    const m = /^([0-9a-f]{40}) (\S+)$/.exec(line);
    if (m && m[2] !== 'capabilities^{}') out.push({ id: m[1], name: m[2] });
  }
  return out;
}

describe('receivePack replays the recorded pushes (git 2.39 against git http-backend)', () => {
  const captures = ['g-push', 'g-push-atomic-options-delete', 'g-push-delete-only', 'g-push-empty-pack', 'g-push-refused', 'g-push-refused-atomic'];
  for (const capture of captures) {
    it(capture, async () => {
      const all = exchanges(capture);
      const adv = all.filter((e) => e.request.startLine.includes('service=git-receive-pack') && e.response.startLine.includes(' 200 ')).at(-1)!;
      const post = all.filter((e) => e.request.startLine.startsWith('POST') && e.response.startLine.includes(' 200 ')).at(-1)!;
      const r = newRepo();
      // The server's state: its refs, and index rows standing for the objects it
      // had (never read: these pushes need no fast-forward walk or thin base).
      const refs = advertisedRefs(adv.response.body);
      const body = post.request.body;
      const head = parseReceiveRequest(body, DEFAULT_RECEIVE_FEATURES, true);
      if (head.kind !== 'done') throw new Error('bad head');
      const packed = head.request.packExpected ? await readPackObjects(fromBytes(body.subarray(head.packOffset)), { primitives: p }) : [];
      const inPack = new Set(packed.map((o) => o.id));
      const kinds = new Map<string, IndexRowInput['kind']>();
      for (const ref of refs) kinds.set(ref.id, ref.name.startsWith('refs/tags/') ? 'tag' : 'commit');
      for (const c of head.request.commands) if (c.newId !== ZERO_ID && !inPack.has(c.newId)) kinds.set(c.newId, 'commit');
      for (const o of packed) for (const x of referencedIds(parseObject(o.type, o.data))) if (!inPack.has(x.id)) kinds.set(x.id, x.type);
      await r.repo.putBatch(
        [...kinds].map(([id, kind]) => ({ id, kind, size: 0, segment: 'seeded', offset: 0, length: 0, format: 'full', base: null })),
      );
      expect((await r.repo.update(refs.map((x) => ({ name: x.name, old: null, new: x.id })))).ok).toBe(true);
      await r.repo.setSymbolic('HEAD', 'refs/heads/main');

      const ours = await pushRaw(r, fromBytes(body, 1000), head.request.sideBand);
      const recorded = decodeReply(post.response.body, head.request.sideBand);
      // Refusals that came from the capture server's update hook are ours to accept.
      const expected = recorded.report.map((l) => l.replace(/^ng (\S+) (hook declined|atomic push failure)$/, 'ok $1'));
      expect(ours.report).toEqual(expected);
      expect(ours.errors).toEqual([]);
      for (const c of head.request.commands) {
        expect(await r.repo.read(c.ref)).toBe(c.newId === ZERO_ID ? null : c.newId);
      }
    });
  }
});

describe('receivePack with packs from git pack-objects', () => {
  let g: TempRepo;
  beforeAll(() => {
    g = tempRepo();
    fillRepo(g, { commits: 400, files: 2 });
  }, 60_000);
  afterAll(() => g.remove());

  const rev = (name: string) => g.git(['rev-parse', name]).toString().trim();
  const pack = (args: string[], input: string) => new Uint8Array(g.git(['pack-objects', '--stdout', '-q', ...args], input));

  async function checkAll(r: TestRepo, tip: string) {
    const ids = g.git(['rev-list', '--objects', tip]).toString().trim().split('\n').map((l) => l.slice(0, 40));
    const want = catFile(g, ids);
    for (const id of ids) {
      const got = await readObject({ index: r.repo, segments: r.segments, primitives: p, appliers: r.store.appliers }, id);
      expect(got?.kind).toBe(want.get(id)!.type);
      expect(Buffer.from(got!.data).equals(want.get(id)!.data)).toBe(true);
      expect((await r.repo.get(id))!.depth).toBeLessThanOrEqual(MAX_CHAIN_DEPTH);
    }
    return ids.length;
  }

  it('a full push, then a thin incremental push', async () => {
    const r = newRepo();
    const mid = rev('main~20');
    const first = await push(r, [[ZERO_ID, mid, 'refs/heads/main']], pack(['--revs'], `${mid}\n`));
    expect(first.report).toEqual(['unpack ok', 'ok refs/heads/main']);
    await checkAll(r, mid);
    const tip = rev('main');
    const thin = pack(['--revs', '--thin'], `${tip}\n^${mid}\n`);
    const second = await push(r, [[mid, tip, 'refs/heads/main']], thin, { opts: { denyNonFastForwards: true } });
    expect(second.report).toEqual(['unpack ok', 'ok refs/heads/main']);
    expect(await checkAll(r, tip)).toBeGreaterThan(100);
    const rows = await Promise.all((await r.repo.list()).map((x) => r.repo.get(x.id)));
    expect(rows.every((x) => x !== null)).toBe(true);
  });

  it('deep chains (pack-objects --depth=250) are stored at most MAX_CHAIN_DEPTH deep', async () => {
    const r = newRepo();
    const tip = rev('main');
    const deep = pack(['--revs', '--include-tag', '--no-reuse-delta', '--depth=250', '--window=250'], `${tip}\n`);
    const inPack = await readPackObjects(fromBytes(deep), { primitives: p });
    expect(Math.max(...inPack.map((o) => o.depth))).toBeGreaterThan(MAX_CHAIN_DEPTH);
    const reply = await push(r, [[ZERO_ID, tip, 'refs/heads/main'], [ZERO_ID, rev('v1'), 'refs/tags/v1']], deep, {
      opts: { maxDeltaBaseCache: 64 * 1024 },
    });
    expect(reply.report).toEqual(['unpack ok', 'ok refs/heads/main', 'ok refs/tags/v1']);
    await checkAll(r, tip);
  });
});
