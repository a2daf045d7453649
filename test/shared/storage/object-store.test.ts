// The object store view: its bounded base cache, and delta resolution with shared/delta's real engines.
import { describe, expect, it } from 'vitest';
import { purePrimitives } from '../../../shared/core/primitives.js';
import { applyFossilDelta, createFossilDelta } from '../../../shared/delta/fossil.js';
import { applyGitDelta, createGitDelta } from '../../../shared/delta/git.js';
import { createMemoryStores } from '../../../shared/storage/memory.js';
import { LruBaseCache, readObject } from '../../../shared/storage/object-store.js';
import { appendRecords } from '../../../shared/storage/segments.js';
import { randomBytes } from '../../random-bytes.js';

describe('LruBaseCache', () => {
  const data = (n: number) => new Uint8Array(n);

  it('evicts least recently used entries to stay within its byte budget', () => {
    const cache = new LruBaseCache(10);
    cache.set('a', data(4));
    cache.set('b', data(4));
    expect(cache.get('a')).toBeDefined(); // a is now more recent than b
    cache.set('c', data(4));
    expect(cache.get('b')).toBeUndefined();
    expect(cache.get('a')?.length).toBe(4);
    expect(cache.get('c')?.length).toBe(4);
    expect(cache.size).toBe(8);
  });

  it('does not keep an entry larger than the whole budget, nor count a replaced one twice', () => {
    const cache = new LruBaseCache(10);
    cache.set('a', data(3));
    cache.set('huge', data(11));
    expect(cache.get('huge')).toBeUndefined();
    expect(cache.get('a')).toBeDefined();
    cache.set('a', data(5));
    expect(cache.size).toBe(5);
  });

  it('keeps exactly the most recently used entries over a long mix of uses, emptyings and replacements', () => {
    // Against a plain model (an array in use order), so eviction order stays right however often the
    // cache wraps around and whatever the Map does with deleted slots.
    const cache = new LruBaseCache(64);
    let model: { id: string; n: number }[] = [];
    let seed = 7;
    const rand = (k: number) => ((seed = (seed * 1103515245 + 12345) % 2 ** 31), Math.floor(seed / 2 ** 16) % k);
    for (let step = 0; step < 5000; step++) {
      const id = `o${rand(40)}`;
      if (rand(3) === 0) {
        const hit = model.find((e) => e.id === id);
        expect(cache.get(id)?.length).toBe(hit?.n);
        if (hit) model = [...model.filter((e) => e !== hit), hit];
        continue;
      }
      // Now and then one entry takes the whole budget, emptying the cache of everything else.
      const n = rand(50) === 0 ? 64 : 1 + rand(12);
      cache.set(id, data(n));
      model = [...model.filter((e) => e.id !== id), { id, n }];
      let total = model.reduce((t, e) => t + e.n, 0);
      while (total > 64) total -= model.shift()!.n;
      expect(cache.size).toBe(total);
    }
    for (const e of model) expect(cache.get(e.id)?.length).toBe(e.n);
  });

  it('with freeEvicted, frees what it dropped only at releaseEvicted, and never what it still holds or a shared buffer', () => {
    const canFree = 'transfer' in ArrayBuffer.prototype; // workerd has it; Node 20 not (then nothing is freed)
    const cache = new LruBaseCache(10, { freeEvicted: true });
    const [a, b, c, a2] = [data(4), data(4), data(4), data(3)];
    const shared = new Uint8Array(8).subarray(0, 4); // a view of a larger buffer
    cache.set('a', a);
    cache.set('s', shared);
    cache.set('b', b);
    cache.set('a', a2); // replaced: the old array is dropped
    cache.set('c', c); // evicts s, then b
    expect([a.length, b.length, shared.length]).toEqual([4, 4, 4]); // dropped, still readable until releaseEvicted
    cache.releaseEvicted();
    expect([a.length, b.length, shared.length]).toEqual(canFree ? [0, 0, 4] : [4, 4, 4]);
    expect([cache.get('a'), cache.get('c')]).toEqual([a2, c]);
    expect(a2.length + c.length).toBe(7);
    cache.releaseEvicted(); // nothing dropped since: nothing freed twice
    // Without the option nothing is freed.
    const plain = new LruBaseCache(4);
    const d = data(4);
    plain.set('d', d);
    plain.set('e', data(4));
    plain.releaseEvicted();
    expect(d.length).toBe(4);
  });
});

describe('readObject with the real delta engines', () => {
  it('resolves a chain of git and fossil deltas made by shared/delta', async () => {
    const { repo, segments } = createMemoryStores();
    const z = (d: Uint8Array) => purePrimitives.zlib.deflate(d);
    const enc = new TextEncoder();
    const versions = Array.from({ length: 6 }, (_, i) =>
      enc.encode(Array.from({ length: 40 }, (_, line) => `line ${line} of version ${line % 7 === 0 ? i : 0}\n`).join('')),
    );
    // Version 0 in full, then each version a delta on the previous, alternating formats.
    const records = versions.map((v, i) =>
      i === 0 ? z(v) : z(i % 2 ? createGitDelta(versions[i - 1], v) : createFossilDelta(versions[i - 1], v)),
    );
    const seg = await appendRecords(segments, records);
    const id = (i: number) => (i + 1).toString(16).padStart(40, '0');
    await repo.putBatch(
      versions.map((v, i) => ({
        id: id(i),
        kind: 'blob' as const,
        size: v.length,
        segment: seg.segment,
        ...seg.records[i],
        format: i === 0 ? ('full' as const) : i % 2 ? ('git-delta' as const) : ('fossil-delta' as const),
        base: i === 0 ? null : id(i - 1),
      })),
    );
    const deps = { index: repo, segments, primitives: purePrimitives, appliers: { git: applyGitDelta, fossil: applyFossilDelta } };
    for (let i = 0; i < versions.length; i++) {
      const obj = await readObject(deps, id(i));
      expect(obj?.data).toEqual(versions[i]);
    }
    expect((await repo.get(id(5)))?.depth).toBe(5);
  });
});

describe('readObject of records whose inflated size the index knows', () => {
  it('frees each inflated delta once applied (workerd), never a text it returned or cached, nor a delta its result is a view of', async () => {
    const canFree = 'transfer' in ArrayBuffer.prototype; // workerd: a text freed by mistake reads as empty
    const { repo, segments } = createMemoryStores();
    const enc = new TextEncoder();
    const versions = Array.from({ length: 6 }, (_, i) => enc.encode(Array.from({ length: 400 }, (_, line) => `line ${line} of version ${line % 7 === 0 ? i : 0}\n`).join('')));
    // Version 0 full, 1-4 fossil deltas on the previous, 5 a "git delta" that is its own text (the applier below returns it).
    const bodies = versions.map((v, i) => (i === 0 || i === 5 ? v : createFossilDelta(versions[i - 1], v)));
    const seg = await appendRecords(segments, bodies.map((b) => purePrimitives.zlib.deflate(b)));
    const id = (i: number) => (i + 1).toString(16).padStart(40, '0');
    const format = (i: number) => (i === 0 ? ('full' as const) : i === 5 ? ('git-delta' as const) : ('fossil-delta' as const));
    await repo.putBatch(versions.map((v, i) => ({ id: id(i), kind: 'blob' as const, size: v.length, segment: seg.segment, ...seg.records[i], recordSize: bodies[i].length, format: format(i), base: i === 0 ? null : id(i - 1) })));
    const deltas: Uint8Array[] = [];
    const fossil = (b: Uint8Array, d: Uint8Array, n: number) => (deltas.push(d), applyFossilDelta(b, d, n));
    const cache = new LruBaseCache(1 << 20);
    const deps = { index: repo, segments, primitives: purePrimitives, appliers: { git: (_b: Uint8Array, d: Uint8Array) => d, fossil }, cache };
    const got = [await readObject(deps, id(4)), await readObject(deps, id(5)), await readObject(deps, id(5))];
    expect(deltas.map((d) => d.length)).toEqual(canFree ? [0, 0, 0, 0] : bodies.slice(1, 5).map((b) => b.length));
    expect(got.map((o) => o?.data)).toEqual([versions[4], versions[5], versions[5]]);
    for (let i = 0; i < versions.length; i++) expect(cache.get(id(i))).toEqual(versions[i]);
    // A delta inflating past its recorded size is refused, not cut.
    await repo.putBatch([{ id: 'f'.repeat(40), kind: 'blob', size: versions[1].length, segment: seg.segment, ...seg.records[1], recordSize: bodies[1].length - 1, format: 'fossil-delta', base: id(0) }]);
    await expect(readObject({ ...deps, cache: undefined }, 'f'.repeat(40))).rejects.toMatchObject({ code: 'zlib-too-large' });
  });
});

describe('readObject of a large full record', () => {
  it('streams and inflates it into one array of its size (no range read of the whole record); a cut or wrong one is refused', async () => {
    const { repo, segments } = createMemoryStores();
    let data = randomBytes(4.5 * 1024 * 1024, 9); // incompressible: a record over 4 MiB
    const record = purePrimitives.zlib.deflate(data, 1);
    expect(record.length).toBeGreaterThan(4 * 1024 * 1024);
    const seg = await appendRecords(segments, [record, Uint8Array.of(7)]);
    const row = (id: string, over: object = {}) => ({ id, kind: 'blob' as const, size: data.length, segment: seg.segment, ...seg.records[0], format: 'full' as const, base: null, ...over });
    const ids = ['a', 'b', 'c', 'd'].map((c) => c.repeat(40));
    await repo.putBatch([row(ids[0]), row(ids[1], { length: record.length - 10 }), row(ids[2], { length: record.length + 1 }), row(ids[3], { size: data.length - 1 })]);
    let ranges = 0;
    const counted = { ...segments, readStream: segments.readStream.bind(segments), readRange: (s: string, o: number, n: number) => (ranges++, segments.readRange(s, o, n)) };
    const deps = { index: repo, segments: counted, primitives: purePrimitives, appliers: { git: applyGitDelta, fossil: applyFossilDelta } };
    expect(Buffer.from((await readObject(deps, ids[0]))!.data).equals(Buffer.from(data))).toBe(true);
    expect(ranges).toBe(0);
    for (const id of ids.slice(1)) await expect(readObject(deps, id)).rejects.toMatchObject({ code: expect.stringMatching(/^(corrupt-record|zlib-too-large)$/) });
    data = new Uint8Array(0);
  });
});
