/**
 * upload-pack against the real git: the in-memory store is filled from a pack
 * made by `git pack-objects`, served over a local HTTP server, and git 2.39
 * clones and fetches from it (v0 and v2, shallow, partial, thin); direct
 * requests check pack contents (counts, filters, include-tag, errors).
 */
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fromBytes } from '../../../../shared/core/stream.js';
import { DEFAULT_UPLOAD_FEATURES } from '../../../../shared/protocols/git/capabilities.js';
import { packBytesToEntries } from '../../../../shared/protocols/git/pack-reader.js';
import { decodeSideband } from '../../../../shared/protocols/git/sideband.js';
import { RepoView, walkObjects } from '../../../../shared/protocols/git/object-walk.js';
import { planFetchPack } from '../../../../shared/protocols/git/pack-builder.js';
import { uploadPack } from '../../../../shared/protocols/git/upload-pack.js';
import { applyGitDelta } from '../../../../shared/delta/git.js';
import type { IndexRow, ObjectIndexReader } from '../../../../shared/storage/object-index.js';
import { commitsBetween } from '../../../../shared/core/history.js';
import { LruBaseCache } from '../../../../shared/storage/object-store.js';
import { nativePrimitives } from '../../../../worker/primitives.js';
import { fillRepo, objectsOf, refsOf, tempRepo, verifyPack, type TempRepo } from './git-repo.js';
import { splitPkts } from './http-transcript.js';
import { collectBytes, gitAsync, loadPack, pkt, serveHttp, setRefs, v2Fetch, type LoadedRepo } from './upload-pack-fixture.js';

let src: TempRepo;
let work: string;
let loaded: LoadedRepo;
let srcRefs: Record<string, string>;
let oldRefs: Record<string, string>;
let server: Awaited<ReturnType<typeof serveHttp>>;
let reachServer: Awaited<ReturnType<typeof serveHttp>>;

const enc = new TextEncoder();



beforeAll(async () => {
  src = tempRepo();
  fillRepo(src, { commits: 40, files: 8, seed: 5 });
  src.git(['branch', 'side', 'main~5']);
  src.git(['tag', 'light', 'main~3']);
  src.git(['tag', '-a', 'old', '-m', 'old tag', 'main~10']);
  // An annotated tag of a blob no tree holds: only its peeled line advertises the blob.
  src.git(['tag', '-a', 'loose', '-m', 'a blob', src.git(['hash-object', '-w', '--stdin'], 'loose blob\n').toString().trim()]);
  srcRefs = refsOf(src);
  oldRefs = { 'refs/heads/main': src.git(['rev-parse', 'main~4']).toString().trim(), 'refs/heads/side': srcRefs['refs/heads/side'] };
  const pack = new Uint8Array(src.git(['pack-objects', '--revs', '--all', '--stdout', '--delta-base-offset', '-q'], ''));
  loaded = await loadPack(pack);
  await setRefs(loaded.repo, srcRefs);
  server = await serveHttp(() => loaded.store);
  reachServer = await serveHttp(() => loaded.store, { ...DEFAULT_UPLOAD_FEATURES, allowReachableSha1InWant: true, allowTipSha1InWant: true });
  work = mkdtempSync(join(tmpdir(), 'hub-upload-'));
}, 120_000);

afterAll(async () => {
  await server?.close();
  await reachServer?.close();
  src?.remove();
  if (work) rmSync(work, { recursive: true, force: true });
});

let n = 0;
const dirName = () => join(work, `c${n++}`);

/** Run a request; split the response into lines before the pack, the pack bytes, and band-2 text. */
async function run(body: Uint8Array, protocol: 0 | 2, store = loaded.store) {
  const out = await collectBytes(uploadPack(store, fromBytes(body), { protocol }));
  const { pkts } = splitPkts(out);
  const lines: string[] = [];
  const pack: Uint8Array[] = [];
  let progress = '';
  let inPack = false;
  for (const p of pkts) {
    if (p.kind !== 'data') {
      if (!inPack) lines.push(p.kind);
      continue;
    }
    const text = Buffer.from(p.payload).toString('latin1');
    if (!inPack && (text === 'packfile\n' || (protocol === 0 && p.payload[0] <= 3 && /^(NAK|ACK [0-9a-f]{40})\n$/.test(lines[lines.length - 1] ?? '')))) {
      inPack = true;
      if (text === 'packfile\n') {
        lines.push(text);
        continue;
      }
    }
    if (inPack) {
      const sb = decodeSideband(p.payload);
      if (sb.band === 1) pack.push(sb.data.slice());
      else progress += Buffer.from(sb.data).toString();
    } else lines.push(text);
  }
  return { out, lines, pack: new Uint8Array(Buffer.concat(pack)), progress };
}

/** Ids and types of a pack's objects (thin bases from `bases`). */
async function packObjects(pack: Uint8Array) {
  const out = new Map<string, string>();
  const base = async (id: string) => {
    const { readObject } = await import('../../../../shared/storage/object-store.js');
    const { applyGitDelta } = await import('../../../../shared/delta/git.js');
    const o = await readObject({ ...loaded.store, appliers: { git: applyGitDelta, fossil: () => new Uint8Array() } }, id);
    return o && { type: o.kind as 'blob', data: o.data };
  };
  let refDeltas = 0;
  for await (const ev of packBytesToEntries(fromBytes(pack), { primitives: nativePrimitives, baseProvider: base })) {
    if (ev.kind === 'object') out.set(ev.object.id, ev.object.type);
    if (ev.kind === 'entry' && ev.entry.type === 'ref-delta') refDeltas++;
  }
  return { objects: out, refDeltas };
}

describe('upload-pack with the real git client', () => {
  for (const version of [0, 2] as const) {
    it(`clones (protocol v${version}): every object, refs, fsck`, async () => {
      const dir = dirName();
      await gitAsync(['-c', `protocol.version=${version}`, 'clone', '--mirror', server.url, dir], work);
      await gitAsync(['fsck', '--full', '--strict'], dir);
      expect(objectsOf(dir)).toEqual(objectsOf(src.dir));
      const got = (await gitAsync(['for-each-ref', '--format=%(objectname) %(refname)'], dir)).stdout.trim().split('\n');
      expect(got.sort()).toEqual(Object.entries(srcRefs).map(([name, id]) => `${id} ${name}`).sort());
    });
  }

  for (const version of [0, 2] as const) {
    it(`fetches only what is new (protocol v${version}), thin pack accepted`, async () => {
      await setRefs(loaded.repo, oldRefs);
      const dir = dirName();
      try {
        await gitAsync(['-c', `protocol.version=${version}`, 'clone', '--bare', server.url, dir], work);
        expect(objectsOf(dir)).toEqual(objectsOf(src.dir, [oldRefs['refs/heads/main'], oldRefs['refs/heads/side']]));
      } finally {
        await setRefs(loaded.repo, srcRefs);
      }
      const before = server.requests.length;
      const { stderr } = await gitAsync(['-c', `protocol.version=${version}`, 'fetch', '--progress', server.url, '+refs/heads/*:refs/heads/*', '+refs/tags/*:refs/tags/*'], dir);
      await gitAsync(['fsck', '--full'], dir);
      expect(objectsOf(dir)).toEqual(objectsOf(src.dir));
      // The server's own count: the new objects only (git rev-list main ^old), tags included.
      const total = /Total (\d+) \(delta (\d+)\)/.exec(stderr);
      expect(total).not.toBeNull();
      const fresh = objectsOf(src.dir, ['--all', `^${oldRefs['refs/heads/main']}`]).length;
      expect(Number(total![1])).toBeLessThanOrEqual(fresh + 2);
      expect(server.requests.length).toBeGreaterThan(before);
    });
  }

  for (const version of [0, 2] as const) {
    it(`shallow clone --depth 1 then --deepen 2 (protocol v${version})`, async () => {
      const dir = dirName();
      await gitAsync(['-c', `protocol.version=${version}`, 'clone', '--bare', '--depth', '1', '--branch', 'main', server.url, dir], work);
      await gitAsync(['fsck'], dir);
      expect((await gitAsync(['rev-list', '--count', 'main'], dir)).stdout.trim()).toBe('1');
      expect(readFileSync(join(dir, 'shallow'), 'utf8').trim().split('\n')).toContain(srcRefs['refs/heads/main']);
      await gitAsync(['-c', `protocol.version=${version}`, 'fetch', '--deepen', '2', server.url, 'main'], dir);
      await gitAsync(['fsck'], dir);
      expect((await gitAsync(['rev-list', '--count', 'main'], dir)).stdout.trim()).toBe('3');
    });
  }

  it('partial clone --filter=blob:none (v2) fetches blobs lazily on checkout', async () => {
    const dir = dirName();
    await gitAsync(['-c', 'protocol.version=2', 'clone', '--filter=blob:none', server.url, dir], work);
    await gitAsync(['fsck'], dir);
    const files = (await gitAsync(['ls-files'], dir)).stdout.trim().split('\n');
    expect(files.length).toBeGreaterThan(3);
    for (const f of files) expect(readFileSync(join(dir, f)).equals(src.git(['show', `main:${f}`]))).toBe(true);
  });

  it('partial clone --filter=blob:none (v0 with allow-reachable-sha1-in-want)', async () => {
    const dir = dirName();
    await gitAsync(['-c', 'protocol.version=0', 'clone', '--filter=blob:none', reachServer.url, dir], work);
    const files = (await gitAsync(['ls-files'], dir)).stdout.trim().split('\n');
    for (const f of files) expect(readFileSync(join(dir, f)).equals(src.git(['show', `main:${f}`]))).toBe(true);
  });

  it('partial clone --filter=tree:0 (v2) and blob:limit', async () => {
    for (const filter of ['tree:0', 'blob:limit=3000']) {
      const dir = dirName();
      await gitAsync(['-c', 'protocol.version=2', 'clone', `--filter=${filter}`, server.url, dir], work);
      const files = (await gitAsync(['ls-files'], dir)).stdout.trim().split('\n');
      for (const f of files) expect(readFileSync(join(dir, f)).equals(src.git(['show', `main:${f}`]))).toBe(true);
    }
  });
});

describe('upload-pack requests', () => {
  const main = () => srcRefs['refs/heads/main'];

  it('v2 clone: pack has every object, git index-pack --strict accepts it, progress says Total', async () => {
    const r = await run(v2Fetch([`want ${main()}`, `want ${srcRefs['refs/tags/v1']}`, 'ofs-delta', 'done']), 2);
    expect(r.lines).toEqual(['packfile\n']);
    const dst = tempRepo();
    try {
      dst.git(['index-pack', '--strict', '--stdin'], r.pack);
      const dir = join(dst.dir, 'objects', 'pack');
      const lines = verifyPack(dst, join(dir, readdirSync(dir).find((f) => f.endsWith('.pack'))!));
      expect(lines.map((l) => l.id).sort()).toEqual(objectsOf(src.dir, ['main', 'v1']).filter((v, i, a) => a.indexOf(v) === i));
      expect(lines.some((l) => l.depth > 0)).toBe(true);
    } finally {
      dst.remove();
    }
    expect(r.progress).toMatch(/Enumerating objects: \d+, done\.\n/);
    expect(r.progress).toMatch(/Total \d+ \(delta \d+\), reused \d+/);
  });

  it('v0 without ofs-delta: REF_DELTA only, still complete', async () => {
    const body = enc.encode(pkt(`want ${main()} multi_ack_detailed side-band-64k no-progress\n`) + '0000' + pkt('done\n'));
    const r = await run(body, 0);
    expect(r.lines).toEqual(['NAK\n']);
    const { objects } = await packObjects(r.pack);
    expect([...objects.keys()].sort()).toEqual(objectsOf(src.dir, ['main']));
  });

  it('v0 without side-band: NAK, then the raw pack (joined chunks, no framing), complete', async () => {
    const body = enc.encode(pkt(`want ${main()} multi_ack_detailed ofs-delta\n`) + '0000' + pkt('done\n'));
    const out = await collectBytes(uploadPack(loaded.store, fromBytes(body), { protocol: 0 }));
    expect(Buffer.from(out.subarray(0, 12)).toString('latin1')).toBe('0008NAK\nPACK');
    const { objects } = await packObjects(out.subarray(8));
    expect([...objects.keys()].sort()).toEqual(objectsOf(src.dir, ['main']));
  });

  it('fetch with haves: only the new objects; thin pack uses REF_DELTA bases the client has', async () => {
    const old = src.git(['rev-parse', 'main~1']).toString().trim();
    const fresh = objectsOf(src.dir, ['main', `^${old}`]);
    const thick = await run(v2Fetch([`want ${main()}`, `have ${old}`, 'ofs-delta', 'done']), 2);
    const t = await packObjects(thick.pack);
    expect([...t.objects.keys()].sort()).toEqual(fresh);
    expect(t.refDeltas).toBe(0);
    const thin = await run(v2Fetch([`want ${main()}`, `have ${old}`, 'ofs-delta', 'thin-pack', 'done']), 2);
    const th = await packObjects(thin.pack);
    expect([...th.objects.keys()].sort()).toEqual(fresh);
    // git index-pack --fix-thin completes it in a repository holding the old history.
    const dst = tempRepo();
    try {
      const base = new Uint8Array(src.git(['pack-objects', '--revs', '--stdout', '-q'], `${old}\n`));
      dst.git(['index-pack', '--stdin'], base);
      dst.git(['index-pack', '--stdin', '--fix-thin', '--strict'], thin.pack);
      dst.git(['update-ref', 'refs/heads/main', main()]);
      dst.git(['fsck', '--full']);
    } finally {
      dst.remove();
    }
  });

  it('the pack plan asks the index for no row the walk read: each commit and root tree once', async () => {
    const asked = new Map<string, number>();
    const count = (ids: string[]) => ids.forEach((id) => asked.set(id, (asked.get(id) ?? 0) + 1));
    const repo = loaded.repo;
    const view = new RepoView({
      index: {
        has: (ids: string[]) => repo.has(ids),
        get: (id: string) => (count([id]), repo.get(id)),
        rows: (ids: string[]) => (count(ids), repo.rows(ids)),
        chain: (id: string) => repo.chain(id),
      } as ObjectIndexReader,
      segments: loaded.segments,
      primitives: nativePrimitives,
      appliers: { git: applyGitDelta, fossil: () => new Uint8Array() },
      cache: new LruBaseCache(1 << 20),
    });
    const old = src.git(['rev-parse', 'main~6']).toString().trim();
    const walk = await walkObjects(view, { wants: [main()], common: [old], boundary: [], filter: null });
    await planFetchPack(view, walk.objects, { thinPack: true, have: walk.have });
    const commits = src.git(['rev-list', 'main', `^${old}`]).toString().trim().split('\n');
    expect(commits).toHaveLength(6);
    const trees = new Set(commits.map((c) => src.git(['rev-parse', `${c}^{tree}`]).toString().trim()));
    for (const id of [...commits, ...trees]) expect(asked.get(id), id).toBe(1);
  });

  it('a commit walk reads ahead the commit rows stored after a row it asks for: the same history, a few index calls', async () => {
    const repo = loaded.repo;
    const stored = (await repo.rows(objectsOf(src.dir))).filter((r) => r !== null).sort((a, b) => a.segment.localeCompare(b.segment) || a.offset - b.offset);
    let gets = 0;
    let reads = 0;
    const view = (ahead: boolean) =>
      new RepoView({
        index: {
          has: (ids: string[]) => repo.has(ids),
          get: (id: string) => (gets++, repo.get(id)),
          chain: (id: string) => repo.chain(id),
          ...(ahead && { rowsAfter: async (row: IndexRow, n: number) => (reads++, stored.filter((r) => r.segment === row.segment && r.offset > row.offset).slice(0, n)) }),
        } as ObjectIndexReader,
        segments: loaded.segments,
        primitives: nativePrimitives,
        appliers: { git: applyGitDelta, fossil: () => new Uint8Array() },
        cache: new LruBaseCache(1 << 20),
      });
    const plain = await commitsBetween(view(false), [main()], []);
    expect(plain).toHaveLength(40);
    expect(gets).toBe(40);
    gets = 0;
    expect(await commitsBetween(view(true), [main()], [])).toEqual(plain);
    // git writes the commits newest first: 16 read ahead of the first, 32 of the 18th.
    expect([gets, reads]).toEqual([2, 2]);
  });

  it('v2 negotiation without done: acknowledgments and ready, then the pack', async () => {
    const old = src.git(['rev-parse', 'main~2']).toString().trim();
    const r = await run(v2Fetch([`want ${main()}`, `have ${old}`, `have ${'1'.repeat(40)}`, 'ofs-delta', 'no-progress']), 2);
    expect(r.lines).toEqual(['acknowledgments\n', `ACK ${old}\n`, 'ready\n', 'delim', 'packfile\n']);
    const w = await run(v2Fetch([`want ${main()}`, `have ${old}`, 'wait-for-done']), 2);
    expect(w.lines).toEqual(['acknowledgments\n', `ACK ${old}\n`, 'flush']);
  });

  it('blob:none has no blobs, but an explicitly wanted blob is sent', async () => {
    const r = await run(v2Fetch([`want ${main()}`, 'filter blob:none', 'done']), 2);
    const types = new Set((await packObjects(r.pack)).objects.values());
    expect(types.has('blob')).toBe(false);
    expect(types.has('tree')).toBe(true);
    const blob = src.git(['rev-parse', 'main:bin/b0.dat']).toString().trim();
    const one = await run(v2Fetch([`want ${blob}`, 'filter blob:none', 'done']), 2);
    expect([...(await packObjects(one.pack)).objects]).toEqual([[blob, 'blob']]);
  });

  it('tree:0 sends commits only', async () => {
    const r = await run(v2Fetch([`want ${main()}`, 'filter tree:0', 'done']), 2);
    const types = new Set((await packObjects(r.pack)).objects.values());
    expect([...types]).toEqual(['commit']);
  });

  it('include-tag adds annotated tags pointing into the pack', async () => {
    const tag = srcRefs['refs/tags/old'];
    const without = await packObjects((await run(v2Fetch([`want ${main()}`, 'done']), 2)).pack);
    expect(without.objects.has(tag)).toBe(false);
    const withTag = await packObjects((await run(v2Fetch([`want ${main()}`, 'include-tag', 'done']), 2)).pack);
    expect(withTag.objects.get(tag)).toBe('tag');
    expect(withTag.objects.get(srcRefs['refs/tags/v1'])).toBe('tag');
  });

  it('v0 shallow first round: only the shallow lines', async () => {
    const body = enc.encode(pkt(`want ${main()} multi_ack_detailed side-band-64k shallow\n`) + pkt('deepen 1') + '0000');
    const r = await run(body, 0);
    expect(r.lines).toEqual([`shallow ${main()}`, 'flush']);
  });

  it('v0: a want of a tag\'s peeled id (a blob here) is taken as an advertised tip, as git does', async () => {
    const blob = src.git(['rev-parse', 'loose^{}']).toString().trim();
    const r = await run(enc.encode(pkt(`want ${blob} side-band-64k\n`) + '0000' + pkt('done\n')), 0);
    expect(r.lines).toEqual(['NAK\n']);
    expect((await packObjects(r.pack)).objects.get(blob)).toBe('blob');
  });

  it('object-info gives sizes from the index', async () => {
    const blob = src.git(['rev-parse', 'main:bin/b0.dat']).toString().trim();
    const size = src.git(['cat-file', '-s', blob]).toString().trim();
    const body = enc.encode(pkt('command=object-info\n') + '0001' + pkt('size\n') + pkt(`oid ${blob}\n`) + '0000');
    const r = await run(body, 2);
    expect(r.lines).toEqual(['size', `${blob} ${size}`, 'flush']);
  });

  it('errors are ERR lines: unknown want, garbage, unadvertised v0 blob', async () => {
    const unknown = await run(v2Fetch([`want ${'2'.repeat(40)}`, 'done']), 2);
    expect(unknown.lines[0]).toMatch(/^ERR upload-pack: not our ref 2{40}/);
    const garbage = await run(enc.encode('zzzz'), 0);
    expect(garbage.lines[0]).toMatch(/^ERR /);
    const blob = src.git(['rev-parse', 'main:bin/b0.dat']).toString().trim();
    const v0 = await run(enc.encode(pkt(`want ${blob} side-band-64k\n`) + '0000' + pkt('done\n')), 0);
    expect(v0.lines[0]).toMatch(/^ERR upload-pack: not our ref/);
  });

  it('a storage failure mid-pack is a band-3 message; before the pack, an ERR line', async () => {
    // Enumeration reads one record at a time; the pack builder joins neighbours into large reads.
    const segs = loaded.segments;
    const failing = (min: number, after = 0) => ({
      ...loaded.store,
      segments: {
        readRange: (s: string, o: number, l: number) => (l >= min && (after -= l) < 0 ? Promise.reject(new Error('boom')) : segs.readRange(s, o, l)),
        readStream: segs.readStream.bind(segs),
      },
    });
    const body = () => fromBytes(v2Fetch([`want ${main()}`, 'ofs-delta', 'done']));
    const mid = splitPkts(await collectBytes(uploadPack(failing(8_000, 200_000), body(), { protocol: 2, build: { maxRead: 16_000, chunkSize: 4_000 } }))).pkts;
    const last = mid[mid.length - 1] as { kind: 'data'; payload: Uint8Array };
    expect(mid.some((p) => p.kind === 'data' && p.payload[0] === 1)).toBe(true);
    expect(last.kind).toBe('data');
    expect(Buffer.from(last.payload).toString('latin1')).toBe('\x03internal server error\n');
    const early = splitPkts(await collectBytes(uploadPack(failing(0), body(), { protocol: 2 }))).pkts;
    expect(early).toHaveLength(1);
    expect(Buffer.from((early[0] as { payload: Uint8Array }).payload).toString()).toBe('ERR internal server error\n');
  });
});
