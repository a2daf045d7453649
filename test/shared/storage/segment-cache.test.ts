// The block cache over segments: same bytes as the store, far fewer store reads, bounded, errors passed through.
import { describe, expect, it } from 'vitest';
import { MemorySegmentStore } from '../../../shared/storage/memory.js';
import { BlockCachedSegments } from '../../../shared/storage/segment-cache.js';
import { appendRecords, type SegmentReader } from '../../../shared/storage/segments.js';
import { records } from './random-records.js';

/** Counts the reads reaching a store. */
function counting(inner: MemorySegmentStore): SegmentReader & { count: number } {
  const c = {
    count: 0,
    readRange: (s: string, o: number, l: number) => (c.count++, inner.readRange(s, o, l)),
    readStream: (s: string, o?: number, l?: number) => inner.readStream(s, o, l),
    size: (s: string) => inner.size(s),
  };
  return c;
}

describe('BlockCachedSegments', () => {
  it('returns exactly the store\'s bytes for every record, including ones across block boundaries, with few store reads', async () => {
    const store = new MemorySegmentStore();
    const recs = records(600, 3);
    const { segment, records: locs } = await appendRecords(store, recs);
    const inner = counting(store);
    const cache = new BlockCachedSegments(inner, { blockSize: 4096, maxBytes: 1 << 20 });
    let crossing = 0;
    for (let i = 0; i < locs.length; i++) {
      const { offset, length } = locs[i];
      if (Math.floor(offset / 4096) !== Math.floor((offset + length - 1) / 4096)) crossing++;
      expect(await cache.readRange(segment, offset, length)).toEqual(recs[i]);
    }
    expect(crossing).toBeGreaterThan(10);
    const total = locs.reduce((n, l) => n + l.length, 0);
    // Every block once: ceil(size / blockSize) reads instead of one per record.
    expect(inner.count).toBe(Math.ceil(total / 4096));
    expect(cache.stats.reads).toBe(600);
  });

  it('stays within its byte budget (re-reading evicted blocks) and passes long reads through', async () => {
    const store = new MemorySegmentStore();
    const recs = records(400, 9);
    const { segment, records: locs } = await appendRecords(store, recs);
    const inner = counting(store);
    const cache = new BlockCachedSegments(inner, { blockSize: 1024, maxBytes: 4096 });
    for (let pass = 0; pass < 2; pass++) for (let i = 0; i < locs.length; i++) expect(await cache.readRange(segment, locs[i].offset, locs[i].length)).toEqual(recs[i]);
    const blocks = Math.ceil(locs.reduce((n, l) => n + l.length, 0) / 1024);
    // Two passes over far more than four blocks: every block is loaded again on the second pass.
    expect(inner.count).toBeGreaterThanOrEqual(2 * blocks);
    expect(inner.count).toBeLessThanOrEqual(2 * blocks + 2);
    const before = inner.count;
    const whole = await cache.readRange(segment, 0, 5000);
    expect(inner.count).toBe(before + 1);
    expect(whole).toEqual(await store.readRange(segment, 0, 5000));
  });

  it('reports the store\'s errors for ranges past the end and unknown segments', async () => {
    const store = new MemorySegmentStore();
    const { segment } = await appendRecords(store, [new Uint8Array(100)]);
    const cache = new BlockCachedSegments(store, { blockSize: 64 });
    await expect(cache.readRange(segment, 90, 20)).rejects.toMatchObject({ code: 'segment-range' });
    await expect(cache.readRange('nope', 0, 1)).rejects.toMatchObject({ code: 'segment-not-found' });
    expect(await cache.readRange(segment, 100, 0)).toEqual(new Uint8Array(0));
  });
  it('with freeDropped, frees a dropped block at once where the runtime can detach it (workerd), else leaves it', async () => {
    const frees = typeof (ArrayBuffer.prototype as { transfer?: unknown }).transfer === 'function';
    const store = new MemorySegmentStore();
    const recs = records(64, 5);
    const { segment, records: locs } = await appendRecords(store, recs);
    for (const freeDropped of [false, true]) {
      const cache = new BlockCachedSegments(store, { blockSize: 4096, maxBytes: 8192, freeDropped });
      const first = await cache.readRange(segment, locs[0].offset, 16);
      const kept = first.slice();
      // Reading on past two more blocks drops the first one.
      for (const l of locs) if (l.offset + l.length <= 3 * 4096) await cache.readRange(segment, l.offset, l.length);
      expect(first.length).toBe(freeDropped && frees ? 0 : 16);
      if (first.length > 0) expect(first).toEqual(kept);
      // The block is read again, intact.
      expect(await cache.readRange(segment, locs[0].offset, 16)).toEqual(kept);
    }
  });

  it('with freeDropped, frees a read made for it alone (passed through, across two blocks) at the next read, never a view of a kept block', async () => {
    const frees = typeof (ArrayBuffer.prototype as { transfer?: unknown }).transfer === 'function';
    const store = new MemorySegmentStore();
    const recs = records(64, 6);
    const { segment, records: locs } = await appendRecords(store, recs);
    const whole = await store.readRange(segment, 0, 3 * 4096);
    for (const freeDropped of [false, true]) {
      const cache = new BlockCachedSegments(store, { blockSize: 4096, maxBytes: 1 << 20, freeDropped });
      const long = await cache.readRange(segment, 0, 2 * 4096); // longer than a block: passed through
      const across = await cache.readRange(segment, 4000, 200); // read while `long` is freed (the caller is done with it)
      expect(across).toEqual(whole.subarray(4000, 4200));
      const inBlock = await cache.readRange(segment, 100, 50); // `across` freed now
      const next = await cache.readRange(segment, 200, 50); // a view of a block: never freed
      expect([long.length, across.length, inBlock.length]).toEqual(freeDropped && frees ? [0, 0, 50] : [2 * 4096, 200, 50]);
      expect([inBlock, next]).toEqual([whole.subarray(100, 150), whole.subarray(200, 250)]);
      expect(await cache.readRange(segment, 0, 2 * 4096)).toEqual(whole.subarray(0, 2 * 4096));
    }
  });
});
