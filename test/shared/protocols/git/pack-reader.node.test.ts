/** The pack reader against packs made by the real git: ids, types, depths and contents must match git's. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { purePrimitives, type Primitives } from '../../../../shared/core/primitives.js';
import { fromBytes } from '../../../../shared/core/stream.js';
import { applyGitDelta } from '../../../../shared/delta/index.js';
import { decodeEntryHeader } from '../../../../shared/protocols/git/pack.js';
import { packBytesToEntries, type PackEvent, type ReadPackOptions } from '../../../../shared/protocols/git/pack-reader.js';
import { nativePrimitives } from '../../../../worker/primitives.js';
import { catFile, fillRepo, tempRepo, verifyPack, type TempRepo, type VerifyLine } from './git-repo.js';
import { packErrorCode, withTrailer } from './pack-errors.js';

let repo: TempRepo;
const packs: Record<string, { bytes: Uint8Array; verify: VerifyLine[] }> = {};
let thin: Uint8Array;
let thinIds: string[];

function makePack(name: string, args: string[]) {
  const objects = repo.git(['rev-list', '--objects', '--all']);
  const prefix = join(repo.dir, `pack-${name}`);
  const hash = repo.git(['pack-objects', '-q', ...args, prefix], objects).toString().trim();
  const path = `${prefix}-${hash}.pack`;
  packs[name] = { bytes: new Uint8Array(readFileSync(path)), verify: verifyPack(repo, path) };
}

beforeAll(() => {
  repo = tempRepo();
  fillRepo(repo, { commits: 40, files: 12, bigMB: 3 });
  makePack('ofs', ['--depth=50', '--window=250', '--delta-base-offset']);
  makePack('ref', ['--depth=50', '--window=50']);
  makePack('fresh', ['--no-reuse-delta', '--depth=10', '--window=10', '--delta-base-offset']);
  thin = new Uint8Array(repo.git(['pack-objects', '-q', '--revs', '--thin', '--stdout', '--delta-base-offset'], 'main\n^main~6\n'));
  thinIds = repo.git(['rev-list', '--objects', 'main', '^main~6']).toString().trim().split('\n').map((l) => l.slice(0, 40));
}, 120_000);
afterAll(() => repo?.remove());

async function events(bytes: Uint8Array, chunk: number, opts: Partial<ReadPackOptions> = {}, primitives: Primitives = nativePrimitives) {
  const out: PackEvent[] = [];
  // An entry's raw bytes and an object's content (and delta) are valid until the next event: kept as copies.
  // A streamed entry's zlib stream comes in parts before it: joined to its header here.
  let parts: Uint8Array[] = [];
  for await (const ev of packBytesToEntries(fromBytes(bytes, chunk), { primitives, ...opts })) {
    if (ev.kind === 'part') parts.push(ev.bytes.slice());
    else if (ev.kind === 'entry') {
      expect(parts.length > 0).toBe(ev.entry.streamed === true);
      out.push({ kind: 'entry', entry: { ...ev.entry, raw: Buffer.concat([ev.entry.raw, ...parts]) } });
      parts = [];
    }
    else if (ev.kind === 'object') {
      const { delta, ...o } = ev.object;
      out.push({ kind: 'object', object: { ...o, data: o.data.slice(), ...(delta ? { delta: { data: delta.data.slice(), base: delta.base.slice() } } : {}) } });
    } else out.push(ev);
  }
  return out;
}

function checkAgainstGit(evs: PackEvent[], verify: VerifyLine[], bytes: Uint8Array) {
  const objects = evs.flatMap((e) => (e.kind === 'object' ? [e.object] : []));
  const entries = evs.flatMap((e) => (e.kind === 'entry' ? [e.entry] : []));
  expect(entries.length).toBe(verify.length);
  expect(objects.length).toBe(verify.length);
  const byOffset = new Map(objects.map((o) => [o.offset, o]));
  for (const v of verify) {
    const o = byOffset.get(v.offset)!;
    expect({ id: o.id, type: o.type, depth: o.depth }).toEqual({ id: v.id, type: v.type, depth: v.depth });
  }
  // Raw bytes are the pack's bytes, entry after entry, with nothing left out.
  let at = 12;
  for (const e of entries) {
    expect(e.offset).toBe(at);
    expect(Buffer.compare(Buffer.from(e.raw), Buffer.from(bytes.subarray(at, at + e.raw.length)))).toBe(0);
    at += e.raw.length;
  }
  expect(at).toBe(bytes.length - 20);
  const end = evs[evs.length - 1];
  expect(end.kind).toBe('end');
  return objects;
}

describe('pack reader vs git pack-objects', () => {
  it('reads a deep OFS_DELTA pack: ids, types, depths as verify-pack, contents as cat-file', async () => {
    const { bytes, verify } = packs.ofs;
    expect(Math.max(...verify.map((v) => v.depth))).toBeGreaterThan(10);
    expect(bytes.length).toBeGreaterThan(1_000_000);
    const objects = checkAgainstGit(await events(bytes, 65536), verify, bytes);
    const cat = catFile(repo, objects.map((o) => o.id));
    for (const o of objects) expect(Buffer.compare(Buffer.from(o.data), cat.get(o.id)!.data)).toBe(0);
    // Each delta comes with what it was applied to (all bases are in this pack).
    for (const o of objects) {
      expect(o.delta !== undefined).toBe(o.depth > 0);
      if (o.delta) expect(applyGitDelta(o.delta.base, o.delta.data)).toEqual(o.data);
    }
  });

  it('gives the same result for 7-byte chunks, pure primitives, and a tiny cache (rebuilding bases)', async () => {
    const { bytes, verify } = packs.ofs;
    checkAgainstGit(await events(bytes, 7), verify, bytes);
    checkAgainstGit(await events(bytes, 65536, {}, purePrimitives), verify, bytes);
    checkAgainstGit(await events(bytes, 65536, { maxDeltaBaseCache: 10_000 }), verify, bytes);
    // A small inflate window: most entries go through the streaming inflater.
    checkAgainstGit(await events(bytes, 4096, { window: 64 }), verify, bytes);
  });

  it('a small base cache (its ring of contents wrapping many times) hands out each object and delta base intact', async () => {
    const { bytes, verify } = packs.ofs;
    const cat = catFile(repo, verify.map((v) => v.id));
    for (const cache of [40_000, 300_000]) {
      const objects = checkAgainstGit(await events(bytes, 65536, { maxDeltaBaseCache: cache }), verify, bytes);
      let checked = 0;
      for (const o of objects) {
        expect(Buffer.compare(Buffer.from(o.data), cat.get(o.id)!.data)).toBe(0);
        if (o.delta && o.data.length <= cache / 4) {
          expect(applyGitDelta(o.delta.base, o.delta.data)).toEqual(o.data);
          checked++;
        }
      }
      expect(checked).toBeGreaterThan(100);
    }
  });

  it('packs read side by side, and after one abandoned midway, each hand out intact contents (the ring kept between packs)', async () => {
    const cache = 300_000; // wraps many times: a ring shared by two reads would overwrite what the other hands out
    const copy = (ev: PackEvent): PackEvent => (ev.kind === 'object' ? { kind: 'object', object: { ...ev.object, data: ev.object.data.slice(), delta: undefined } } : ev);
    const check = (evs: PackEvent[], name: 'ofs' | 'ref') => {
      const { bytes, verify } = packs[name];
      const cat = catFile(repo, verify.map((v) => v.id));
      const objects = evs.flatMap((e) => (e.kind === 'object' ? [e.object] : []));
      expect(objects.length).toBe(verify.length);
      for (const o of objects) expect(Buffer.compare(Buffer.from(o.data), cat.get(o.id)!.data)).toBe(0);
      expect(bytes.length).toBeGreaterThan(0);
    };
    await events(packs.ofs.bytes, 65536, { maxDeltaBaseCache: cache }); // leaves its ring for the next read
    const a = packBytesToEntries(fromBytes(packs.ofs.bytes, 65536), { primitives: nativePrimitives, maxDeltaBaseCache: cache });
    const aEvents: PackEvent[] = [];
    for (let i = 0; i < 300; i++) aEvents.push(copy((await a.next()).value as PackEvent));
    const b: PackEvent[] = [];
    for await (const ev of packBytesToEntries(fromBytes(packs.ref.bytes, 65536), { primitives: nativePrimitives, maxDeltaBaseCache: cache })) b.push(copy(ev));
    for (let r = await a.next(); !r.done; r = await a.next()) aEvents.push(copy(r.value));
    check(aEvents, 'ofs');
    check(b, 'ref');
    // Abandoned midway (the consumer stops pulling): its ring goes back, and the next read is whole.
    const c = packBytesToEntries(fromBytes(packs.ofs.bytes, 65536), { primitives: nativePrimitives, maxDeltaBaseCache: cache });
    for (let i = 0; i < 200; i++) await c.next();
    await c.return(undefined);
    check((await events(packs.ofs.bytes, 65536, { maxDeltaBaseCache: cache })).map(copy), 'ofs');
  });

  it('rebuilds evicted bases through readEntry (the entry\'s zlib stream) instead of retaining raw bytes', async () => {
    const { bytes, verify } = packs.ofs;
    let reads = 0;
    const evs = await events(bytes, 65536, {
      maxDeltaBaseCache: 50_000,
      readEntry: async (offset) => {
        reads++;
        const next = verify.filter((v) => v.offset > offset).reduce((m, v) => Math.min(m, v.offset), bytes.length - 20);
        const header = decodeEntryHeader(bytes, offset, offset);
        if (header.kind === 'need') throw new Error(`no entry header at ${offset}`);
        return bytes.subarray(offset + header.length, next);
      },
    });
    checkAgainstGit(evs, verify, bytes);
    expect(reads).toBeGreaterThan(0);
  });

  it('reads REF_DELTA packs and packs with freshly computed deltas', async () => {
    for (const name of ['ref', 'fresh']) {
      const { bytes, verify } = packs[name];
      const evs = await events(bytes, 65536);
      checkAgainstGit(evs, verify, bytes);
      if (name === 'ref') expect(evs.some((e) => e.kind === 'entry' && e.entry.type === 'ref-delta')).toBe(true);
    }
  });

  it('reads a 1-byte-chunked pack', async () => {
    const small = tempRepo();
    try {
      fillRepo(small, { commits: 8, files: 4, seed: 3 });
      const bytes = new Uint8Array(small.git(['pack-objects', '-q', '--stdout', '--all', '--delta-base-offset'], ''));
      const a = (await events(bytes, 1)).filter((e) => e.kind === 'object');
      const b = (await events(bytes, 1 << 20)).filter((e) => e.kind === 'object');
      expect(a).toEqual(b);
      expect(a.length).toBeGreaterThan(20);
    } finally {
      small.remove();
    }
  });

  it('resolves a thin pack against a base provider, and fails without one', async () => {
    const asked = new Set<string>();
    const provider = async (id: string) => {
      asked.add(id);
      const o = catFile(repo, [id]).get(id);
      return o && o.type !== 'missing' ? { type: o.type as 'blob', data: new Uint8Array(o.data) } : null;
    };
    const evs = await events(thin, 65536, { baseProvider: provider });
    const ids = evs.flatMap((e) => (e.kind === 'object' ? [e.object.id] : []));
    expect(new Set(ids)).toEqual(new Set(thinIds));
    expect(asked.size).toBeGreaterThan(0);
    // Deltas on a provided base come without it (its object event is not in this pack).
    const onProvided = evs.flatMap((e) => (e.kind === 'object' && e.object.baseId !== null && asked.has(e.object.baseId) ? [e.object] : []));
    expect(onProvided.length).toBeGreaterThan(0);
    for (const o of onProvided) expect(o.delta).toBeUndefined();
    await expect(events(thin, 65536)).rejects.toMatchObject({ code: 'pack-unknown-base' });
  });
});

describe('damaged packs are PackErrors', () => {
  const codeOf = (bytes: Uint8Array, opts: Partial<ReadPackOptions> = {}) => packErrorCode(() => events(bytes, 65536, opts));

  it('bad signature, version, trailer, count, trailing bytes, truncation', async () => {
    const { bytes, verify } = packs.ofs;
    const c = bytes.slice();
    c[0] = 0x51;
    expect(await codeOf(c)).toBe('pack-bad-signature');
    const v = bytes.slice();
    v[7] = 4;
    expect(await codeOf(v)).toBe('pack-bad-version');
    const t = bytes.slice();
    t[t.length - 1] ^= 1;
    expect(await codeOf(t)).toBe('pack-bad-checksum');
    expect(await codeOf(new Uint8Array([...bytes, 0]))).toBe('pack-trailing-data');
    // Left unread in a pack of fewer objects than trailingDataBelow (git's unpack-objects), refused from there.
    const count = new DataView(bytes.buffer, bytes.byteOffset).getUint32(8);
    expect(await codeOf(new Uint8Array([...bytes, 0, 1]), { trailingDataBelow: count + 1 })).toBe('no-error');
    expect(await codeOf(new Uint8Array([...bytes, 0]), { trailingDataBelow: count })).toBe('pack-trailing-data');
    const more = bytes.slice();
    more[11] += 1;
    expect(await codeOf(withTrailer(more))).toMatch(/^pack-(truncated|bad-type|bad-zlib|bad-header|bad-ofs-delta)$/);
    const fewer = bytes.slice();
    fewer[11] -= 1;
    expect(await codeOf(withTrailer(fewer))).toBe('pack-bad-checksum');
    for (const cut of [5, 12, 13, verify[3].offset + 3, Math.floor(bytes.length / 2), bytes.length - 21, bytes.length - 1]) {
      expect(await codeOf(bytes.subarray(0, cut))).toBe('pack-truncated');
    }
  });

  it('a flipped byte inside any zlib stream is caught', async () => {
    const { bytes, verify } = packs.ofs;
    const sorted = [...verify].sort((a, b) => a.offset - b.offset);
    for (let k = 0; k < sorted.length; k += Math.ceil(sorted.length / 25)) {
      const start = sorted[k].offset;
      const end = sorted[k + 1]?.offset ?? bytes.length - 20;
      const c = bytes.slice();
      c[end - 2] ^= 0x40; // in the Adler-32 trailer of the entry's stream
      expect(await codeOf(c)).toMatch(/^pack-(bad-zlib|size-mismatch|bad-delta|bad-checksum)$/);
      const d = bytes.slice();
      d[Math.floor((start + end) / 2) + 3] ^= 0x10;
      expect((await codeOf(d)).startsWith('pack-')).toBe(true);
    }
  });

  it('entries over maxObjectSize are refused before inflating', async () => {
    expect(await codeOf(packs.ofs.bytes, { maxObjectSize: 100_000 })).toBe('pack-object-too-large');
  });
});
