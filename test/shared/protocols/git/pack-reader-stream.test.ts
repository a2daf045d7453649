/**
 * Entries over the pack reader's window are streamed: their zlib stream goes
 * out in `part` events, a whole blob is hashed as it inflates and not held.
 * A small window here stands in for the 4 MiB default (a 30 MB file).
 */
import { describe, expect, it } from 'vitest';
import { concat, utf8Encode } from '../../../../shared/core/bytes.js';
import { gitObjectId } from '../../../../shared/core/git/object-id.js';
import { fromBytes } from '../../../../shared/core/stream.js';
import { applyGitDelta, applyGitDeltaStream, applyGitDeltaTo, createGitDelta, gitDeltaPasses, type GitDeltaBaseSource } from '../../../../shared/delta/git.js';
import { PackError } from '../../../../shared/protocols/git/pack.js';
import { packBytesToEntries, type PackEntry, type PackObject, type ReadPackOptions } from '../../../../shared/protocols/git/pack-reader.js';
import type { PackWriteEntry } from '../../../../shared/protocols/git/pack-writer.js';
import { MAX_CHAIN_DEPTH } from '../../../../shared/storage/object-index.js';
import { readObject } from '../../../../shared/storage/object-store.js';
import { randomBytes } from '../../../random-bytes.js';
import { packErrorCode, withTrailer } from './pack-errors.js';
import { commit, newRepo, obj, p, packBytes, push, tree, whole, ZERO_ID } from './receive-pack-helpers.js';

const WINDOW = 4096;
const v1 = randomBytes(60_000, 5);
const v2 = v1.slice();
v2.set(randomBytes(100, 9), 20_000);
const v3 = v2.slice(0, 50_000);
const small = utf8Encode('small base\n');
const text = utf8Encode('a line of text that compresses well\n'.repeat(3000));
const id = (data: Uint8Array) => gitObjectId(p, 'blob', data);
/** v1 in 12 blocks of 5000 bytes, last first: a delta on v1 copies out of order 11 times. */
const scrambled = concat(Array.from({ length: 12 }, (_, k) => v1.subarray((11 - k) * 5000, (12 - k) * 5000)));
/** v1's halves swapped: one copy out of order. */
const swapped = concat([v1.subarray(30_000), v1.subarray(0, 30_000)]);

/** `base` as a GitDeltaBaseSource handing out `piece`-byte views, counting its reads. */
function sourceOf(base: Uint8Array, piece: number): GitDeltaBaseSource & { reads: number } {
  const s = {
    reads: 0,
    size: base.length,
    async read(sink: (piece: Uint8Array) => void, stop: () => boolean) {
      s.reads++;
      for (let at = 0; at < base.length && !stop(); at += piece) sink(base.subarray(at, at + piece));
    },
  };
  return s;
}

/** The code a call throws, or 'no-error'. */
async function thrown(f: () => unknown): Promise<string> {
  try {
    await f();
    return 'no-error';
  } catch (e) {
    return (e as { code: string }).code;
  }
}

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
  const records = new Map<number, Uint8Array>();
  let parts: Uint8Array[] = [];
  const readEntry = async (offset: number) => records.get(offset)!;
  for await (const ev of packBytesToEntries(fromBytes(bytes, 1000), { primitives: p, window: WINDOW, ...(withReadEntry ? { readEntry } : {}), ...opts })) {
    if (ev.kind === 'part') parts.push(ev.bytes.slice());
    else if (ev.kind === 'entry') {
      expect(ev.entry.streamed === true).toBe(parts.length > 0);
      if (ev.entry.streamed) expect(ev.entry.raw.length).toBe(ev.entry.headerLength);
      const raw = concat([ev.entry.raw, ...parts]);
      parts = [];
      records.set(ev.entry.offset, raw.subarray(ev.entry.headerLength));
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

  it('applyGitDeltaStream makes what applyGitDelta makes from a base read as it streams: once for copies in order, again per copy out of order', async () => {
    // Base, result, reads of the base in pieces of 999 bytes (text has no copy of small: none).
    const cases: [Uint8Array, Uint8Array, number][] = [
      [v1, v2, 1],
      [v2, v3, 1],
      [small, text, 0],
      [v1, swapped, 2],
      [v1, scrambled, 12],
    ];
    for (const [a, b, reads] of cases) {
      const d = createGitDelta(a, b);
      const passes = gitDeltaPasses(a.length, d);
      expect(passes).toBe(Math.max(reads, 1));
      for (const piece of [999, 4096, 1 << 20]) {
        const src = sourceOf(a, piece);
        const out: Uint8Array[] = [];
        expect(await applyGitDeltaStream(src, d, 1 << 30, (x) => out.push(x.slice()))).toBe(b.length);
        expect(Buffer.concat(out).equals(Buffer.from(b))).toBe(true);
        // Reads of the base: one per pass at most (a copy out of order within the piece being read needs none).
        if (piece === 999) expect(src.reads).toBe(reads);
        else expect(src.reads).toBeLessThanOrEqual(passes);
      }
      // A bad delta: applyGitDelta's error, before the base is read or a byte sent.
      for (const bad of [d.subarray(0, d.length - 1), concat([d, Uint8Array.of(0)]), concat([d, Uint8Array.of(1, 7)])]) {
        const src = sourceOf(a, 999);
        let sent = 0;
        expect(await thrown(() => applyGitDeltaStream(src, bad, 1 << 30, () => sent++))).toBe(await thrown(() => applyGitDelta(a, bad)));
        expect([src.reads, sent]).toEqual([0, 0]);
      }
      expect(await thrown(() => applyGitDeltaStream(sourceOf(a.subarray(1), 999), d, 1 << 30, () => undefined))).toBe('delta-base-size');
      expect(await thrown(() => applyGitDeltaStream(sourceOf(a, 999), d, b.length - 1, () => undefined))).toBe('delta-too-large');
    }
    // A base whose read ends short of its size.
    const short = { ...sourceOf(v1.subarray(0, 59_000), 999), size: v1.length };
    expect(await thrown(() => applyGitDeltaStream(short, createGitDelta(v1, v2), 1 << 30, () => undefined))).toBe('delta-base-size');
    const src = sourceOf(v1, 999);
    expect(await thrown(() => applyGitDeltaStream(src, createGitDelta(v1, scrambled), 1 << 30, () => undefined, 8))).toBe('delta-too-scattered');
    expect(src.reads).toBe(0);
  });

  it('a delta on a blob over the window reads it as its record streams (readEntryStream), never whole; out of order too much: whole up to maxHeldSize, else refused', async () => {
    const { bytes, contents } = await bigPack();
    const { entries } = await read(bytes);
    const records = new Map(entries.map((e) => [e.offset, e.raw.subarray(e.headerLength)]));
    const streamed: number[] = [];
    const whole: number[] = [];
    const opts = (maxHeldSize = 10_000): Partial<ReadPackOptions> => ({
      maxDeltaBaseCache: 1000,
      maxHeldSize,
      readEntry: async (o) => (whole.push(o), records.get(o)!),
      readEntryStream: (o) => (streamed.push(o), fromBytes(records.get(o)!, 777)),
    });
    const { objects } = await read(bytes, opts());
    expect(objects.map((o) => o.id).sort()).toEqual([...contents.keys()].sort());
    // v2 (on v1) and v3 (on v2, made as v1 streams again): v1's record read as it streams, twice; never whole.
    expect(streamed).toEqual([entries[2].offset, entries[2].offset]);
    expect(whole).not.toContain(entries[2].offset);

    const pack = async (b: Uint8Array) => packBytes([{ kind: 'object', type: 'blob', data: v1 }, { kind: 'delta', base: { index: 0 }, delta: createGitDelta(v1, b) }]);
    const swappedPack = await pack(swapped);
    const swappedEntries = (await read(swappedPack)).entries;
    const records2 = new Map(swappedEntries.map((e) => [e.offset, e.raw.subarray(e.headerLength)]));
    streamed.length = 0;
    const got = await read(swappedPack, {
      ...opts(),
      readEntry: async (o) => records2.get(o)!,
      readEntryStream: (o) => (streamed.push(o), fromBytes(records2.get(o)!, 777)),
    });
    expect(got.objects.map((o) => o.id)).toEqual([id(v1), id(swapped)]);
    expect(streamed).toEqual([12, 12]);
    // 12 reads are too many: v1 held whole (60000 bytes, at most maxHeldSize) or, under a smaller maxHeldSize, refused.
    const scrambledPack = await pack(scrambled);
    expect((await read(scrambledPack, { maxDeltaBaseCache: 1000, maxHeldSize: 60_000 })).objects.map((o) => o.id)).toEqual([id(v1), id(scrambled)]);
    expect(await packErrorCode(() => read(scrambledPack, { maxDeltaBaseCache: 1000, maxHeldSize: 59_999 }))).toBe('pack-bad-delta');
  });

  it('a thin delta on a LargeBase is applied as the base streams; one out of order too much gets it whole', async () => {
    let reads = 0;
    let wholes = 0;
    const provider = async () => ({
      type: 'blob' as const,
      size: v1.length,
      read: (sink: (piece: Uint8Array) => void, stop: () => boolean) => (reads++, sourceOf(v1, 5000).read(sink, stop)),
      whole: async () => (wholes++, v1),
    });
    const bytes = await packBytes([
      { kind: 'delta', base: { id: id(v1) }, delta: createGitDelta(v1, v2) },
      { kind: 'delta', base: { id: id(v1) }, delta: createGitDelta(v1, swapped) },
      { kind: 'delta', base: { id: id(v1) }, delta: createGitDelta(v1, scrambled) },
    ]);
    const { objects } = await read(bytes, { baseProvider: provider, maxDeltaBaseCache: 1000 });
    expect(objects.map((o) => [o.id, o.baseId, o.streamed])).toEqual([id(v2), id(swapped), id(scrambled)].map((k) => [k, id(v1), true]));
    expect([reads, wholes]).toEqual([3, 1]);
    expect(await packErrorCode(() => read(bytes, { baseProvider: provider, maxDeltaBaseCache: 1000, maxHeldSize: 50_000 }))).toBe('pack-bad-delta');
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

  it('depths past 254 and sizes of 64 KiB and more, kept apart from the narrow columns, come back right (a base rebuilt through readEntry too)', async () => {
    const base = text; // 108,000 bytes: its declared size is over the 2-byte size column
    const entries: PackWriteEntry[] = [{ kind: 'object', type: 'blob', data: base }];
    const made = [base];
    for (let i = 1; i <= 300; i++) {
      const next = concat([made[i - 1], utf8Encode(`line ${i}\n`)]);
      entries.push({ kind: 'delta', base: { index: i - 1 }, delta: createGitDelta(made[i - 1], next) });
      made.push(next);
    }
    // Last, a delta on the first entry, long evicted: rebuilt from its record at its declared size.
    const last = concat([base, utf8Encode('last\n')]);
    entries.push({ kind: 'delta', base: { index: 0 }, delta: createGitDelta(base, last) });
    const { objects } = await read(await packBytes(entries), { window: 1 << 20, maxDeltaBaseCache: 1 << 20 }, true);
    expect(objects.map((o) => o.depth)).toEqual([...made.map((_, i) => i), 1]);
    expect(objects.map((o) => o.id)).toEqual([...made, last].map(id));
    expect(objects[0].entrySize).toBe(base.length);
  });

  it('an object twice in a pack: the later copy is a repeat, and REF_DELTAs on either find their base in the pack', async () => {
    const [a, b, c, d] = ['a', 'b', 'c', 'd'].map((x) => utf8Encode(`${x} ${'text '.repeat(40)}\n`));
    const entries: PackWriteEntry[] = [
      { kind: 'object', type: 'blob', data: a },
      { kind: 'object', type: 'blob', data: a },
      { kind: 'delta', base: { index: 0 }, delta: createGitDelta(a, b) },
      { kind: 'delta', base: { id: id(b) }, delta: createGitDelta(b, c) },
      { kind: 'object', type: 'blob', data: b },
      { kind: 'delta', base: { id: id(a) }, delta: createGitDelta(a, d) },
    ];
    const { objects } = await read(await packBytes(entries));
    expect(objects.map((o) => [o.id, o.repeat, o.depth])).toEqual([
      [id(a), false, 0],
      [id(a), true, 0],
      [id(b), false, 1],
      [id(c), false, 2],
      [id(b), true, 0],
      [id(d), false, 1],
    ]);
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

  it(`a chain of large blobs deeper than ${MAX_CHAIN_DEPTH}: results hashed as patched, the one too deep made again as its chain streams and stored full`, async () => {
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
    const ranges: number[] = [];
    const readRange = r.segments.readRange.bind(r.segments);
    r.segments.readRange = (seg, off, len) => (ranges.push(len), readRange(seg, off, len));
    const reply = await push(r, [[ZERO_ID, c.id, 'refs/heads/main']], await packBytes(entries), { opts: { window: WINDOW } });
    expect(reply.report).toEqual(['unpack ok', 'ok refs/heads/main']);
    // The one stored full was made as the chain's first version streamed (never read as one range) and deflated as it went.
    expect(ranges).not.toContain((await r.repo.get(id(versions[0])))!.length);
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

  it('thin deltas on stored large blobs (full, or a delta on one) are applied as the stored record streams; a bad one stores nothing', async () => {
    const r = newRepo();
    const ranges: number[] = [];
    const readRange = r.segments.readRange.bind(r.segments);
    r.segments.readRange = (seg, off, len) => (ranges.push(len), readRange(seg, off, len));
    const opts = { window: WINDOW, maxDeltaBaseCache: 1000 };
    const c1 = commit(tree([['100644', 'a', id(v1)]]).id, [], 'v1');
    const t1 = tree([['100644', 'a', id(v1)]]);
    expect((await push(r, [[ZERO_ID, c1.id, 'refs/heads/main']], await packBytes([whole(c1), whole(t1), { kind: 'object', type: 'blob', data: v1 }]), { opts })).report).toEqual(['unpack ok', 'ok refs/heads/main']);
    const v1Row = (await r.repo.get(id(v1)))!;
    let prev = c1.id;
    for (const [from, to] of [[v1, v2], [v2, v3], [v3, swapped]]) {
      const t = tree([['100644', 'a', id(to)]]);
      const c = commit(t.id, [prev], 'next');
      const pack = await packBytes([whole(c), whole(t), { kind: 'delta', base: { id: id(from) }, delta: createGitDelta(from, to) }]);
      expect((await push(r, [[prev, c.id, 'refs/heads/main']], pack, { opts })).report).toEqual(['unpack ok', 'ok refs/heads/main']);
      prev = c.id;
    }
    // The stored v1 was never read as one range (only streamed); v2 and v3 are deltas on it.
    expect(ranges).not.toContain(v1Row.length);
    expect((await r.repo.get(id(v3)))?.format).toBe('git-delta');
    for (const v of [v1, v2, v3, swapped]) {
      const o = await readObject({ index: r.repo, segments: r.segments, primitives: p, appliers: r.store.appliers }, id(v));
      expect(o && Buffer.from(o.data).equals(Buffer.from(v))).toBe(true);
    }
    // A delta naming another base size: the push's unpack error, nothing of it stored.
    const t = tree([['100644', 'a', id(scrambled)]]);
    const c = commit(t.id, [prev], 'bad');
    const bad = await packBytes([whole(c), whole(t), { kind: 'delta', base: { id: id(v3) }, delta: createGitDelta(v3.subarray(1), scrambled) }]);
    const reply = await push(r, [[prev, c.id, 'refs/heads/main']], bad, { opts });
    expect(reply.report[0]).toMatch(/^unpack .*base/);
    expect(await r.repo.has([c.id, t.id, id(scrambled)])).toEqual([false, false, false]);
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
