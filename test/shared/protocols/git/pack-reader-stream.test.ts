/**
 * Entries over the pack reader's window are streamed: their zlib stream goes
 * out in `part` events, a whole blob is hashed as it inflates and not held.
 * A small window here stands in for the 4 MiB default (a 30 MB file).
 */
import { describe, expect, it } from 'vitest';
import { concat, utf8Encode } from '../../../../shared/core/bytes.js';
import { gitObjectId } from '../../../../shared/core/git/object-id.js';
import { fromBytes } from '../../../../shared/core/stream.js';
import { applyGitDelta, applyGitDeltaTo, createGitDelta } from '../../../../shared/delta/git.js';
import { PackError } from '../../../../shared/protocols/git/pack.js';
import { packBytesToEntries, type PackEntry, type PackObject, type ReadPackOptions } from '../../../../shared/protocols/git/pack-reader.js';
import type { PackWriteEntry } from '../../../../shared/protocols/git/pack-writer.js';
import { MAX_CHAIN_DEPTH } from '../../../../shared/storage/object-index.js';
import { readObject } from '../../../../shared/storage/object-store.js';
import { randomBytes } from '../../../random-bytes.js';
import { packErrorCode, withTrailer } from './pack-errors.js';
import { commit, newRepo, obj, p, packBytes, push, tree, ZERO_ID } from './receive-pack-helpers.js';

const WINDOW = 4096;
const v1 = randomBytes(60_000, 5);
const v2 = v1.slice();
v2.set(randomBytes(100, 9), 20_000);
const v3 = v2.slice(0, 50_000);
const small = utf8Encode('small base\n');
const text = utf8Encode('a line of text that compresses well\n'.repeat(3000));
const id = (data: Uint8Array) => gitObjectId(p, 'blob', data);

/** Whole v1, v2 as an OFS delta on it, v3 as a REF delta on v2, a large delta (text on a small base), a tree and a commit. */
async function bigPack(): Promise<{ bytes: Uint8Array; contents: Map<string, Uint8Array> }> {
  const t = tree([['100644', 'a', id(v3)], ['100644', 'b', id(text)]]);
  const c = commit(t.id, [], 'big');
  const entries: PackWriteEntry[] = [
    { kind: 'object', type: 'commit', data: c.data },
    { kind: 'object', type: 'tree', data: t.data },
    { kind: 'object', type: 'blob', data: v1 },
    { kind: 'delta', base: { index: 2 }, delta: createGitDelta(v1, v2) },
    { kind: 'delta', base: { id: id(v2) }, delta: createGitDelta(v2, v3) },
    { kind: 'object', type: 'blob', data: small },
    { kind: 'delta', base: { index: 5 }, delta: createGitDelta(small, text) },
  ];
  const contents = new Map([c, t, obj('blob', v1), obj('blob', v2), obj('blob', v3), obj('blob', small), obj('blob', text)].map((o) => [o.id, o.data]));
  return { bytes: await packBytes(entries), contents };
}

interface Read {
  entries: PackEntry[];
  objects: PackObject[];
}

/** Reads a pack, joining each streamed entry's parts to its header (copies: views are valid until the next event). */
async function read(bytes: Uint8Array, opts: Partial<ReadPackOptions> = {}, withReadEntry = false): Promise<Read> {
  const out: Read = { entries: [], objects: [] };
  const raws = new Map<number, Uint8Array>();
  let parts: Uint8Array[] = [];
  const readEntry = async (offset: number) => raws.get(offset)!;
  for await (const ev of packBytesToEntries(fromBytes(bytes, 1000), { primitives: p, window: WINDOW, ...(withReadEntry ? { readEntry } : {}), ...opts })) {
    if (ev.kind === 'part') parts.push(ev.bytes.slice());
    else if (ev.kind === 'entry') {
      expect(ev.entry.streamed === true).toBe(parts.length > 0);
      if (ev.entry.streamed) expect(ev.entry.raw.length).toBe(ev.entry.headerLength);
      const raw = concat([ev.entry.raw, ...parts]);
      parts = [];
      raws.set(ev.entry.offset, raw);
      out.entries.push({ ...ev.entry, raw });
    } else if (ev.kind === 'object') out.objects.push({ ...ev.object, data: ev.object.data.slice(), delta: undefined });
  }
  return out;
}

const codeOf = (bytes: Uint8Array, withReadEntry = false) => packErrorCode(() => read(bytes, {}, withReadEntry));

describe('pack reader: entries over the window', () => {
  it('a thin delta on a large provided base: the base is asked for once, the result hashed', async () => {
    const bytes = await packBytes([{ kind: 'delta', base: { id: id(v1) }, delta: createGitDelta(v1, v2) }]);
    let asked = 0;
    const provider = async () => (asked++, { type: 'blob' as const, data: v1 });
    const { objects } = await read(bytes, { baseProvider: provider, maxDeltaBaseCache: 1000 });
    expect(objects.map((o) => [o.id, o.baseId, o.streamed, o.size])).toEqual([[id(v2), id(v1), true, v2.length]]);
    expect(asked).toBe(1);
  });

  it('applyGitDeltaTo hands out exactly what applyGitDelta makes, and refuses what it refuses', () => {
    const pairs: [Uint8Array, Uint8Array][] = [
      [v1, v2],
      [v2, v3],
      [small, text],
      [text, small],
      [v1, concat([v1.subarray(100), randomBytes(200_000, 3), v1.subarray(0, 100)])],
    ];
    for (const [a, b] of pairs) {
      const d = createGitDelta(a, b);
      const pieces: Uint8Array[] = [];
      expect(applyGitDeltaTo(a, d, 1 << 30, (x) => pieces.push(x.slice()))).toBe(b.length);
      expect(Buffer.concat(pieces).equals(Buffer.from(applyGitDelta(a, d)))).toBe(true);
      const codeOf = (f: () => unknown) => {
        try {
          f();
          return 'no-error';
        } catch (e) {
          return (e as { code: string }).code;
        }
      };
      for (const bad of [d.subarray(0, d.length - 1), concat([d, Uint8Array.of(0)]), concat([d, Uint8Array.of(1, 7)])]) {
        expect(codeOf(() => applyGitDeltaTo(a, bad, 1 << 30, () => undefined))).toBe(codeOf(() => applyGitDelta(a, bad)));
      }
      expect(codeOf(() => applyGitDeltaTo(a.subarray(1), d, 1 << 30, () => undefined))).toBe('delta-base-size');
      expect(codeOf(() => applyGitDeltaTo(a, d, b.length - 1, () => undefined))).toBe('delta-too-large');
    }
  });

  it('streams them: parts and header are the pack bytes, whole blobs hashed and not held, deltas on them rebuilt (retained or re-read)', async () => {
    const { bytes, contents } = await bigPack();
    for (const opts of [{}, { maxDeltaBaseCache: 1000 }]) {
      for (const withReadEntry of [false, true]) {
        const { entries, objects } = await read(bytes, opts, withReadEntry);
        // Entry after entry, the raw bytes are the pack's, nothing left out.
        let at = 12;
        for (const e of entries) {
          expect(e.offset).toBe(at);
          expect(Buffer.from(e.raw).equals(Buffer.from(bytes.subarray(at, at + e.raw.length)))).toBe(true);
          at += e.raw.length;
        }
        expect(at).toBe(bytes.length - 20);
        // Everything over the window streamed: v1 and the two large deltas, not the small ones.
        expect(entries.map((e) => e.streamed === true)).toEqual([false, false, true, false, false, false, true]);
        expect(objects.map((o) => o.id).sort()).toEqual([...contents.keys()].sort());
        // Blobs over the window, whole or patched, are hashed and not held; the rest are handed out.
        expect(objects.filter((o) => o.streamed).map((o) => o.id).sort()).toEqual([v1, v2, v3, text].map(id).sort());
        for (const o of objects) {
          const want = contents.get(o.id)!;
          expect(o.size).toBe(want.length);
          if (o.streamed) expect(o.data.length).toBe(0);
          else expect(Buffer.from(o.data).equals(Buffer.from(want))).toBe(true);
        }
        expect(objects.find((o) => o.id === id(v2))!.depth).toBe(1);
        expect(objects.find((o) => o.id === id(v3))!.depth).toBe(2);
      }
    }
  });

  it('a tree, commit or tag over maxHeldSize, read or made by a delta, is refused before it is held; a blob is not', async () => {
    const bigCommit = obj('commit', `tree ${'0'.repeat(40)}\nauthor A <a@x> 1 +0000\ncommitter A <a@x> 1 +0000\n\n${'x'.repeat(30_000)}\n`);
    const t1 = tree([['100644', 'a', id(v1)]]);
    const t2 = tree(Array.from({ length: 400 }, (_, i) => ['100644', `f${String(i).padStart(4, '0')}`, id(v1)] as [string, string, string]));
    const refusedBy = async (entries: PackWriteEntry[]) => {
      try {
        await read(await packBytes(entries), { maxHeldSize: 10_000 });
        return 'no-error';
      } catch (e) {
        return (e as PackError).code;
      }
    };
    expect(await refusedBy([{ kind: 'object', type: 'commit', data: bigCommit.data }])).toBe('pack-object-too-large');
    expect(await refusedBy([{ kind: 'object', type: 'tree', data: t1.data }, { kind: 'delta', base: { index: 0 }, delta: createGitDelta(t1.data, t2.data) }])).toBe('pack-object-too-large');
    expect(t2.data.length).toBeGreaterThan(10_000);
    expect(await refusedBy([{ kind: 'object', type: 'blob', data: v1 }, { kind: 'delta', base: { index: 0 }, delta: createGitDelta(v1, v2) }])).toBe('no-error');
    expect(await refusedBy([{ kind: 'object', type: 'tree', data: t1.data }])).toBe('no-error');
  });

  it('a truncated, damaged or mis-sized streamed entry is the same PackError as before', async () => {
    const { bytes } = await bigPack();
    const { entries } = await read(bytes);
    const big = entries[2];
    const end = big.offset + big.raw.length;
    for (const cut of [big.offset + big.headerLength + 10, big.offset + 30_000, end - 1]) {
      expect(await codeOf(bytes.subarray(0, cut))).toBe('pack-truncated');
    }
    const damaged = bytes.slice();
    damaged[big.offset + 30_000] ^= 0x40;
    expect(await codeOf(withTrailer(damaged))).toMatch(/^pack-(bad-zlib|size-mismatch)$/);
    const adler = bytes.slice();
    adler[end - 2] ^= 0x01;
    expect(await codeOf(withTrailer(adler))).toBe('pack-bad-zlib');
    // The declared size one more, one less than the stream holds (60000 takes three header bytes either way).
    for (const delta of [1, -1]) {
      const lie = bytes.slice();
      const size = v1.length + delta;
      lie[big.offset] = (lie[big.offset] & 0xf0) | (size & 0x0f) | 0x80;
      lie[big.offset + 1] = ((size >> 4) & 0x7f) | 0x80;
      lie[big.offset + 2] = (size >> 11) & 0x7f;
      expect(await codeOf(withTrailer(lie), true)).toBe('pack-size-mismatch');
    }
  });
});

describe('receivePack: entries over the window', () => {
  it('stores them as received (records written piece by piece) and serves them back', async () => {
    const r = newRepo();
    const { bytes, contents } = await bigPack();
    const tip = [...contents.keys()][0];
    const reply = await push(r, [[ZERO_ID, tip, 'refs/heads/main']], bytes, { opts: { window: WINDOW, maxDeltaBaseCache: 1000, segmentRetainBytes: 0 } });
    expect(reply.report).toEqual(['unpack ok', 'ok refs/heads/main']);
    for (const [k, data] of contents) {
      const o = await readObject({ index: r.repo, segments: r.segments, primitives: p, appliers: r.store.appliers }, k);
      expect(o && Buffer.from(o.data).equals(Buffer.from(data))).toBe(true);
    }
    expect((await r.repo.get(id(v1)))?.format).toBe('full');
    expect((await r.repo.get(id(text)))?.format).toBe('git-delta');
  });

  it(`a chain of large blobs deeper than ${MAX_CHAIN_DEPTH}: results hashed as patched, the one too deep rebuilt and stored full`, async () => {
    const r = newRepo();
    const n = MAX_CHAIN_DEPTH + 4;
    const versions = [randomBytes(6000, 77)];
    for (let i = 1; i < n; i++) {
      const next = versions[i - 1].slice();
      next.set(randomBytes(8, i), (i * 97) % 5900);
      versions.push(next);
    }
    const t = tree(versions.map((v, i) => ['100644', `f${String(i).padStart(3, '0')}`, id(v)] as [string, string, string]));
    const c = commit(t.id, [], 'deep');
    const entries: PackWriteEntry[] = [{ kind: 'object', type: 'commit', data: c.data }, { kind: 'object', type: 'tree', data: t.data }, { kind: 'object', type: 'blob', data: versions[0] }];
    for (let i = 1; i < n; i++) entries.push({ kind: 'delta', base: { index: i + 1 }, delta: createGitDelta(versions[i - 1], versions[i]) });
    const reply = await push(r, [[ZERO_ID, c.id, 'refs/heads/main']], await packBytes(entries), { opts: { window: WINDOW } });
    expect(reply.report).toEqual(['unpack ok', 'ok refs/heads/main']);
    let fulls = 0;
    for (const v of versions) {
      const row = (await r.repo.get(id(v)))!;
      expect(row.depth).toBeLessThanOrEqual(MAX_CHAIN_DEPTH);
      if (row.format === 'full') fulls++;
      const o = await readObject({ index: r.repo, segments: r.segments, primitives: p, appliers: r.store.appliers }, id(v));
      expect(o && Buffer.from(o.data).equals(Buffer.from(v))).toBe(true);
    }
    expect(fulls).toBe(2);
  });

  it('a pack cut inside one is an unpack error that stores nothing', async () => {
    const r = newRepo();
    const { bytes, contents } = await bigPack();
    const { entries } = await read(bytes);
    const tip = [...contents.keys()][0];
    const reply = await push(r, [[ZERO_ID, tip, 'refs/heads/main']], bytes.subarray(0, entries[2].offset + 30_000), { opts: { window: WINDOW } });
    expect(reply.report[0]).toMatch(/^unpack .*(ends|truncated)/);
    expect(reply.report.slice(1)).toEqual(['ng refs/heads/main unpacker error']);
    expect(await r.repo.list()).toEqual([]);
    expect(await r.repo.has([...contents.keys()])).toEqual([...contents.keys()].map(() => false));
  });
});
