// Pack building from stored records: a delta record's size comes from its row's
// recordSize when ingest wrote it (no inflation), neighbouring records are read
// together even with rebuilt objects between them, and the pack reads back whole.
import { describe, expect, it } from 'vitest';
import { gitObjectId } from '../../../../shared/core/git/object-id.js';
import { purePrimitives, type Primitives } from '../../../../shared/core/primitives.js';
import { applyFossilDelta } from '../../../../shared/delta/fossil.js';
import { applyGitDelta, createGitDelta } from '../../../../shared/delta/git.js';
import { RepoView } from '../../../../shared/protocols/git/object-walk.js';
import { planFetchPack, reachPlanToPackBytes } from '../../../../shared/protocols/git/pack-builder.js';
import { packBytesToEntries } from '../../../../shared/protocols/git/pack-reader.js';
import { entriesToPackBytes } from '../../../../shared/protocols/git/pack-writer.js';
import { encodePkts } from '../../../../shared/protocols/git/pkt-line.js';
import { receivePack } from '../../../../shared/protocols/git/receive-pack.js';
import { IdSet, PackedIds } from '../../../../shared/storage/id-set.js';
import { createMemoryStores } from '../../../../shared/storage/memory.js';
import { fromBytes } from '../../../../shared/core/stream.js';
import { PLAN_FORMATS } from '../../../../shared/storage/reach.js';
import { appendRecords, type SegmentReader } from '../../../../shared/storage/segments.js';

const enc = new TextEncoder();

/** purePrimitives with a count of inflate calls. */
function counted(): { p: Primitives; inflates: () => number } {
  let n = 0;
  const zlib = { ...purePrimitives.zlib, inflate: (...a: Parameters<Primitives['zlib']['inflate']>) => (n++, purePrimitives.zlib.inflate(...a)) };
  return { p: { hash: purePrimitives.hash, zlib }, inflates: () => n };
}

/** A base and a delta on it, stored in that order (or the delta first). */
async function repoWithDelta(withRecordSize: boolean, deltaFirst = false) {
  const { repo, segments } = createMemoryStores();
  const base = enc.encode('line one\nline two\nline three\n'.repeat(40));
  const target = enc.encode('line one\nline 2\nline three\n'.repeat(40) + 'tail\n');
  const delta = createGitDelta(base, target);
  const z = purePrimitives.zlib.deflate;
  const stored = await appendRecords(segments, deltaFirst ? [z(delta), z(base)] : [z(base), z(delta)]);
  const { segment } = stored;
  const records = deltaFirst ? [...stored.records].reverse() : stored.records;
  const baseId = gitObjectId(purePrimitives, 'blob', base);
  const targetId = gitObjectId(purePrimitives, 'blob', target);
  await repo.putBatch([
    { id: baseId, kind: 'blob', size: base.length, segment, ...records[0], format: 'full', base: null },
    { id: targetId, kind: 'blob', size: target.length, segment, ...records[1], format: 'git-delta', base: baseId, ...(withRecordSize ? { recordSize: delta.length } : {}) },
  ]);
  return { repo, segments, ids: [targetId, baseId] };
}

/** The ids of a pack's objects (it must read back whole). */
async function packIds(parts: Uint8Array[]): Promise<string[]> {
  const found: string[] = [];
  async function* chunks() {
    yield* parts;
  }
  for await (const ev of packBytesToEntries(chunks(), { primitives: purePrimitives })) if (ev.kind === 'object') found.push(ev.object.id);
  return found;
}

/** The pack of `ids` as a fetch builds it (planFetchPack, then reachPlanToPackBytes), with `records` counting range reads. */
async function fetchPack(view: RepoView, ids: string[], records: SegmentReader) {
  const packed = new PackedIds();
  for (const id of ids) packed.push(id);
  const { plan, order } = await planFetchPack(view, packed, { thinPack: false, have: new IdSet() });
  const parts: Uint8Array[] = [];
  for await (const c of reachPlanToPackBytes(view, plan, order, true, { records })) parts.push(c.slice());
  return { plan, order, parts };
}

async function build(withRecordSize: boolean, deltaFirst = false) {
  const { repo, segments, ids } = await repoWithDelta(withRecordSize, deltaFirst);
  const { p, inflates } = counted();
  const view = new RepoView({ index: repo, segments, primitives: p, appliers: { git: applyGitDelta, fossil: applyFossilDelta } });
  const { plan, order, parts } = await fetchPack(view, ids, segments);
  const packInflates = inflates();
  const formats = [...(order.order ?? plan.format.keys())].map((i) => PLAN_FORMATS[plan.format[i]]);
  return { formats, order, packInflates, found: await packIds(parts), ids };
}

describe('pack building from stored records', () => {
  it('copies a delta record without inflating it when its row has recordSize', async () => {
    const { formats, order, packInflates, found, ids } = await build(true);
    expect(formats).toEqual(['full', 'git-delta']);
    expect(order.deltas).toBe(1);
    expect(packInflates).toBe(0);
    expect(found.sort()).toEqual([...ids].sort());
    // Storage order was the write order: no order array.
    expect(order.order).toBe(null);
  });

  it('writes a base stored after its delta first (an order array then)', async () => {
    const { formats, order, found, ids } = await build(true, true);
    expect(formats).toEqual(['full', 'git-delta']);
    expect([...order.order!]).toEqual([1, 0]);
    expect([...order.pos!]).toEqual([1, 0]);
    expect(order.deltas).toBe(1);
    expect(found).toEqual([...ids].reverse());
  });

  it('inflates the delta once to learn its size when the row has none (rows from before recordSize)', async () => {
    const { packInflates, found, ids } = await build(false);
    expect(packInflates).toBe(1);
    expect(found.sort()).toEqual([...ids].sort());
  });

  it('reads records on both sides of a rebuilt object in one range read', async () => {
    // Storage order: a, x, d, b. d is a delta on x, which the pack leaves out, so d is rebuilt
    // (read through the view); a and b are copied from one read spanning d's record.
    const { repo, segments } = createMemoryStores();
    const a = enc.encode('first file\n'.repeat(50));
    const x = enc.encode('old version\n'.repeat(60));
    const d = enc.encode('new version\n'.repeat(60) + 'more\n');
    const b = enc.encode('last file\n'.repeat(50));
    const delta = createGitDelta(x, d);
    const z = purePrimitives.zlib.deflate;
    const { segment, records } = await appendRecords(segments, [z(a), z(x), z(delta), z(b)]);
    const id = (data: Uint8Array) => gitObjectId(purePrimitives, 'blob', data);
    await repo.putBatch([
      { id: id(a), kind: 'blob', size: a.length, segment, ...records[0], format: 'full', base: null },
      { id: id(x), kind: 'blob', size: x.length, segment, ...records[1], format: 'full', base: null },
      { id: id(d), kind: 'blob', size: d.length, segment, ...records[2], format: 'git-delta', base: id(x), recordSize: delta.length },
      { id: id(b), kind: 'blob', size: b.length, segment, ...records[3], format: 'full', base: null },
    ]);
    const view = new RepoView({ index: repo, segments, primitives: purePrimitives, appliers: { git: applyGitDelta, fossil: applyFossilDelta } });
    const reads: number[] = [];
    const countedRecords: SegmentReader = {
      readRange: (s, offset, length) => (reads.push(offset), segments.readRange(s, offset, length)),
      readStream: (s, offset, length) => segments.readStream(s, offset, length),
    };
    const { order, parts } = await fetchPack(view, [id(b), id(d), id(a)], countedRecords);
    expect(reads).toEqual([records[0].offset]);
    expect(order.reused).toBe(2);
    expect((await packIds(parts)).sort()).toEqual([id(a), id(b), id(d)].sort());
  });

  it('reads forward through one request for several reads where the store can (openForward): a new one past a gap or maxForward', async () => {
    const { repo, segments } = createMemoryStores();
    const z = purePrimitives.zlib.deflate;
    const id = (data: Uint8Array) => gitObjectId(purePrimitives, 'blob', data);
    const blobs = Array.from({ length: 12 }, (_, i) => enc.encode(`file ${i}\n`.repeat(40)));
    // Segment 1: blobs 0-7 back to back; segment 2: blobs 8-11 with a 2000-byte record nobody wants after the first.
    const one = await appendRecords(segments, blobs.slice(0, 8).map(z));
    const two = await appendRecords(segments, [z(blobs[8]), new Uint8Array(2000), ...blobs.slice(9).map(z)]);
    const at = (k: number) => (k < 8 ? { segment: one.segment, ...one.records[k] } : { segment: two.segment, ...two.records[k === 8 ? 0 : k - 7] });
    await repo.putBatch(blobs.map((b, k) => ({ id: id(b), kind: 'blob' as const, size: b.length, ...at(k), format: 'full' as const, base: null })));
    const view = new RepoView({ index: repo, segments, primitives: purePrimitives, appliers: { git: applyGitDelta, fossil: applyFossilDelta } });
    const opened: [string, number, number][] = [];
    let ranges = 0;
    const records: SegmentReader = {
      readRange: (s, offset, length) => (ranges++, segments.readRange(s, offset, length)),
      readRangeInto: (s, offset, length) => (ranges++, segments.readRange(s, offset, length)),
      readStream: (s, offset, length) => segments.readStream(s, offset, length),
      async openForward(s, offset, length) {
        opened.push([s, offset, length]);
        let position = offset;
        return {
          get position() {
            return position;
          },
          end: offset + length,
          async readInto(o: number, n: number) {
            if (o < position || o + n > offset + length) throw new Error('read outside the request');
            position = o + n;
            return segments.readRange(s, o, n);
          },
          async close() {},
        };
      },
    };
    const packed = new PackedIds();
    for (const b of blobs) packed.push(id(b));
    const { plan, order } = await planFetchPack(view, packed, { thinPack: false, have: new IdSet() });
    const parts: Uint8Array[] = [];
    // A read per record (maxRead 1), one request per forward run of up to maxForward bytes.
    const r = one.records;
    const maxForward = r[5].offset + r[5].length; // segment 1's first six records
    for await (const c of reachPlanToPackBytes(view, plan, order, true, { records, chunkSize: 1000, maxRead: 1, maxGap: 100, maxForward })) parts.push(c.slice());
    expect(ranges).toBe(0);
    const seg2End = two.records[4].offset + two.records[4].length;
    expect(opened.map(([s, o]) => [s, o])).toEqual([[one.segment, 0], [one.segment, r[6].offset], [two.segment, 0], [two.segment, two.records[2].offset]]);
    // Never past the last record the pack copies from the segment, nor past maxForward.
    expect(opened.map(([, o, n]) => o + n)).toEqual([maxForward, r[7].offset + r[7].length, Math.min(maxForward, seg2End), seg2End]);
    expect((await packIds(parts)).sort()).toEqual(blobs.map(id).sort());
  });
});

describe('pack building reads one range ahead', () => {
  /** Eight blobs back to back in one segment, and a forward-reading store that logs its reads (and fails at `failAt`). */
  async function setup(failAt = -1) {
    const { repo, segments } = createMemoryStores();
    const z = purePrimitives.zlib.deflate;
    const id = (data: Uint8Array) => gitObjectId(purePrimitives, 'blob', data);
    const blobs = Array.from({ length: 8 }, (_, i) => enc.encode(`blob ${i}\n`.repeat(30)));
    const { segment, records } = await appendRecords(segments, blobs.map(z));
    await repo.putBatch(blobs.map((b, k) => ({ id: id(b), kind: 'blob' as const, size: b.length, segment, ...records[k], format: 'full' as const, base: null })));
    const view = new RepoView({ index: repo, segments, primitives: purePrimitives, appliers: { git: applyGitDelta, fossil: applyFossilDelta } });
    const log: string[] = [];
    let open = 0;
    const store: SegmentReader = {
      readRange: (s, offset, length) => segments.readRange(s, offset, length),
      readRangeInto: (s, offset, length) => segments.readRange(s, offset, length),
      readStream: (s, offset, length) => segments.readStream(s, offset, length),
      async openForward(s, offset, length) {
        open++;
        let position = offset;
        return {
          get position() {
            return position;
          },
          end: offset + length,
          async readInto(o: number, n: number) {
            const k = records.findIndex((r) => r.offset === o);
            log.push(`read ${k}`);
            if (k === failAt) throw new Error(`read ${k} failed`);
            position = o + n;
            return segments.readRange(s, o, n);
          },
          async close() {
            open--;
          },
        };
      },
    };
    const packed = new PackedIds();
    for (const b of blobs) packed.push(id(b));
    const { plan, order } = await planFetchPack(view, packed, { thinPack: false, have: new IdSet() });
    // A read per record (maxRead 1) and output chunks smaller than a record.
    const pack = reachPlanToPackBytes(view, plan, order, true, { records: store, chunkSize: 16, maxRead: 1 });
    return { pack, log, open: () => open, ids: blobs.map(id) };
  }

  it('asks for the next read before the pack bytes of the current one go out', async () => {
    const { pack, log, open, ids } = await setup();
    const parts: Uint8Array[] = [];
    for await (const c of pack) {
      if (parts.length === 0) log.push('first chunk');
      parts.push(c.slice());
    }
    // Without read-ahead the second read came only after the first record's bytes were written.
    expect(log.slice(0, 3)).toEqual(['read 0', 'read 1', 'first chunk']);
    expect(log.filter((e) => e.startsWith('read'))).toEqual(ids.map((_, k) => `read ${k}`));
    expect(open()).toBe(0);
    expect((await packIds(parts)).sort()).toEqual([...ids].sort());
  });

  it('a read ahead that fails fails the pack when its turn comes, and the request is closed', async () => {
    const { pack, log, open } = await setup(3);
    const got: number[] = [];
    await expect(
      (async () => {
        for await (const c of pack) got.push(c.length);
      })(),
    ).rejects.toThrow('read 3 failed');
    expect(got.length).toBeGreaterThan(0);
    expect(log.filter((e) => e.startsWith('read'))).toEqual(['read 0', 'read 1', 'read 2', 'read 3']);
    expect(open()).toBe(0);
  });
});

describe('a record longer than a piece is sent in pieces', () => {
  /** Random bytes (they do not compress, so their records are as long). */
  const noise = (n: number, seed: number) => {
    const out = new Uint8Array(n);
    for (let i = 0, x = seed; i < n; i++) {
      x = (Math.imul(x, 1103515245) + 12345) >>> 0;
      out[i] = x >>> 24;
    }
    return out;
  };
  /**
   * A small blob, a 20 KB one, a delta of 20 KB on it (with recordSize) and another small one in one
   * segment; a forward store that reuses the buffer it is handed (as R2's BYOB reads do) and logs
   * each read's length, so a piece overwritten before it went out would corrupt the pack.
   */
  async function setup() {
    const { repo, segments } = createMemoryStores();
    const z = purePrimitives.zlib.deflate;
    const id = (data: Uint8Array) => gitObjectId(purePrimitives, 'blob', data);
    const big = noise(20_000, 1);
    const target = noise(20_000, 2);
    const delta = createGitDelta(big, target);
    const small = [enc.encode('small one\n'), enc.encode('small two\n')];
    const { segment, records } = await appendRecords(segments, [z(small[0]), z(big), z(delta), z(small[1])]);
    const row = (data: Uint8Array, k: number) => ({ id: id(data), kind: 'blob' as const, size: data.length, segment, ...records[k], format: 'full' as const, base: null });
    await repo.putBatch([row(small[0], 0), row(big, 1), { ...row(target, 2), format: 'git-delta', base: id(big), recordSize: delta.length }, row(small[1], 3)]);
    expect(records[1].length).toBeGreaterThan(19_000);
    expect(records[2].length).toBeGreaterThan(19_000);
    const view = new RepoView({ index: repo, segments, primitives: purePrimitives, appliers: { git: applyGitDelta, fossil: applyFossilDelta } });
    const reads: number[] = [];
    const into = (bytes: Uint8Array, buf: Uint8Array | null) => {
      const out = buf !== null && buf.buffer.byteLength >= bytes.length ? new Uint8Array(buf.buffer, 0, bytes.length) : new Uint8Array(bytes.length);
      out.set(bytes);
      return out;
    };
    const store: SegmentReader = {
      readRange: (s, offset, length) => segments.readRange(s, offset, length),
      readRangeInto: async (s, offset, length, buf) => (reads.push(length), into(await segments.readRange(s, offset, length), buf)),
      readStream: (s, offset, length) => segments.readStream(s, offset, length),
      async openForward(s, offset, length) {
        let position = offset;
        return {
          get position() {
            return position;
          },
          end: offset + length,
          async readInto(o: number, n: number, buf: Uint8Array | null) {
            reads.push(n);
            position = o + n;
            return into(await segments.readRange(s, o, n), buf);
          },
          async close() {},
        };
      },
    };
    const packed = new PackedIds();
    for (const b of [small[0], big, target, small[1]]) packed.push(id(b));
    const { plan, order } = await planFetchPack(view, packed, { thinPack: false, have: new IdSet() });
    const pack = async (opts: { piece?: number; chunkSize?: number; records?: SegmentReader }) => {
      const parts: Uint8Array[] = [];
      for await (const c of reachPlanToPackBytes(view, plan, order, true, { records: store, ...opts })) parts.push(c.slice());
      return Buffer.concat(parts);
    };
    return { pack, reads, ids: [small[0], big, target, small[1]].map(id) };
  }

  it('reads no more than a piece at a time and writes the same pack as a whole read', async () => {
    const { pack, reads, ids } = await setup();
    const whole = await pack({ chunkSize: 1000 });
    expect(Math.max(...reads)).toBeGreaterThan(19_000);
    reads.length = 0;
    const pieced = await pack({ chunkSize: 1000, piece: 3000 });
    expect(reads.length).toBeGreaterThan(14);
    expect(Math.max(...reads)).toBeLessThanOrEqual(3000);
    expect(pieced.equals(whole)).toBe(true);
    expect((await packIds([pieced])).sort()).toEqual([...ids].sort());
  });

  it('without chunkSize (no buffer reuse) too', async () => {
    const { pack } = await setup();
    expect((await pack({ piece: 3000 })).equals(await pack({ chunkSize: 1000 }))).toBe(true);
  });

  it('a large blob whose delta base is left out is made and deflated as its base streams (not read whole); copies out of order: read whole', async () => {
    const { repo, segments } = createMemoryStores();
    const z = purePrimitives.zlib.deflate;
    const id = (data: Uint8Array) => gitObjectId(purePrimitives, 'blob', data);
    const big = noise(20_000, 1);
    const edited = big.slice();
    edited.set(noise(10, 3), 12_345);
    const swapped = Buffer.concat([big.subarray(10_000), big.subarray(0, 10_000)]);
    const { segment, records } = await appendRecords(segments, [z(big), z(createGitDelta(big, edited)), z(createGitDelta(big, swapped))]);
    const delta = (data: Uint8Array, k: number, as = id(data)) => ({ id: as, kind: 'blob' as const, size: data.length, segment, ...records[k], format: 'git-delta' as const, base: id(big) });
    const liar = '1'.repeat(40);
    await repo.putBatch([{ id: id(big), kind: 'blob', size: big.length, segment, ...records[0], format: 'full', base: null }, delta(edited, 1), delta(swapped, 2), delta(edited, 1, liar)]);
    const ranges: number[] = [];
    const logged: SegmentReader = { readRange: (s, o, n) => (ranges.push(n), segments.readRange(s, o, n)), readStream: (s, o, n) => segments.readStream(s, o, n) };
    const view = new RepoView({ index: repo, segments: logged, primitives: purePrimitives, appliers: { git: applyGitDelta, fossil: applyFossilDelta } });
    const objectsOf = async (ids: string[]) => {
      const packed = new PackedIds();
      for (const k of ids) packed.push(k);
      const { plan, order } = await planFetchPack(view, packed, { thinPack: false, have: new IdSet() });
      const parts: Uint8Array[] = [];
      for await (const c of reachPlanToPackBytes(view, plan, order, true, { piece: 3000 })) parts.push(c.slice());
      // The reader hashes what it reads: the right id is the right content.
      const out: [string, number][] = [];
      for await (const ev of packBytesToEntries(fromBytes(Buffer.concat(parts), 999), { primitives: purePrimitives })) if (ev.kind === 'object') out.push([ev.object.id, ev.object.size]);
      return out;
    };
    expect(await objectsOf([id(edited)])).toEqual([[id(edited), edited.length]]);
    expect(ranges).not.toContain(records[0].length); // big streamed, not read as one range
    ranges.length = 0;
    expect(await objectsOf([id(swapped)])).toEqual([[id(swapped), swapped.length]]);
    expect(ranges).toContain(records[0].length); // its delta reads big twice: made whole instead
    await expect(objectsOf([liar])).rejects.toMatchObject({ code: 'pack-corrupt-object' });
  });
});

describe('pack trailer kept between identical packs', () => {
  it('an all-copied pack takes a known trailer without hashing, and hands the one it computes to keep', async () => {
    const { repo, segments, ids } = await repoWithDelta(true);
    const view = new RepoView({ index: repo, segments, primitives: purePrimitives, appliers: { git: applyGitDelta, fossil: applyFossilDelta } });
    const packed = new PackedIds();
    for (const id of ids) packed.push(id);
    const { plan, order } = await planFetchPack(view, packed, { thinPack: false, have: new IdSet() });
    const kept: Uint8Array[] = [];
    const first: Uint8Array[] = [];
    for await (const c of reachPlanToPackBytes(view, plan, order, true, { chunkSize: 64, trailer: { known: null, keep: (d) => kept.push(d) } })) first.push(c.slice());
    const bytes = Buffer.concat(first);
    expect(kept).toEqual([new Uint8Array(bytes.subarray(bytes.length - 20))]);
    expect(kept[0]).toEqual(purePrimitives.hash('sha1').update(bytes.subarray(0, bytes.length - 20)).digest());
    // Known: written as given (a wrong one shows it was not computed), nothing hashed, nothing kept.
    const noHash: Primitives = { ...purePrimitives, hash: () => { throw new Error('hashed'); } };
    const view2 = new RepoView({ index: repo, segments, primitives: noHash, appliers: { git: applyGitDelta, fossil: applyFossilDelta } });
    const second: Uint8Array[] = [];
    const known = new Uint8Array(20).fill(9);
    for await (const c of reachPlanToPackBytes(view2, plan, order, true, { chunkSize: 64, trailer: { known, keep: (d) => kept.push(d) } })) second.push(c.slice());
    const again = Buffer.concat(second);
    expect(again.subarray(0, again.length - 20)).toEqual(bytes.subarray(0, bytes.length - 20));
    expect(new Uint8Array(again.subarray(again.length - 20))).toEqual(known);
    expect(kept.length).toBe(1);
  });

  it('a pack with a rebuilt object neither takes a known trailer nor keeps one', async () => {
    const { repo, segments, ids } = await repoWithDelta(true);
    const view = new RepoView({ index: repo, segments, primitives: purePrimitives, appliers: { git: applyGitDelta, fossil: applyFossilDelta } });
    // Only the delta: its base stays out, so it is rebuilt.
    const packed = new PackedIds();
    packed.push(ids[0]);
    const { plan, order } = await planFetchPack(view, packed, { thinPack: false, have: new IdSet() });
    expect(order.reused).toBe(0);
    const kept: Uint8Array[] = [];
    const parts: Uint8Array[] = [];
    for await (const c of reachPlanToPackBytes(view, plan, order, true, { chunkSize: 64, trailer: { known: new Uint8Array(20), keep: (d) => kept.push(d) } })) parts.push(c.slice());
    expect(await packIds(parts)).toEqual([ids[0]]);
    expect(kept).toEqual([]);
  });
});

describe('receive-pack indexes a delta with its record size', () => {
  it('stores the delta entry\'s declared size as recordSize, and none for whole objects', async () => {
    const { repo, segments } = createMemoryStores();
    const base = enc.encode('alpha\nbeta\ngamma\n'.repeat(30));
    const target = enc.encode('alpha\nBETA\ngamma\n'.repeat(30));
    const delta = createGitDelta(base, target);
    const pack: Uint8Array[] = [];
    const entries = [
      { kind: 'object' as const, type: 'blob' as const, data: base },
      { kind: 'delta' as const, base: { index: 0 }, delta },
    ];
    for await (const c of entriesToPackBytes(entries, 2, { primitives: purePrimitives })) pack.push(c.slice());
    const targetId = gitObjectId(purePrimitives, 'blob', target);
    const baseId = gitObjectId(purePrimitives, 'blob', base);
    const head = encodePkts([{ kind: 'data', payload: enc.encode(`${'0'.repeat(40)} ${targetId} refs/tags/t\0report-status\n`) }, { kind: 'flush' }]);
    async function* body() {
      yield head;
      yield* pack;
    }
    let reply = '';
    const store = { refs: repo, index: repo, committer: repo, segments, primitives: purePrimitives, appliers: { git: applyGitDelta, fossil: applyFossilDelta } };
    for await (const c of receivePack(store, body())) reply += new TextDecoder().decode(c);
    expect(reply).toContain('ok refs/tags/t');
    expect(await repo.get(targetId)).toMatchObject({ format: 'git-delta', base: baseId, recordSize: delta.length });
    expect(await repo.get(baseId)).not.toHaveProperty('recordSize');
  });
});
