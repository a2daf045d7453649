// Reading known records ahead: same bytes in order, adjacent records coalesced, reads overlapped but bounded, errors at take.
import { describe, expect, it } from 'vitest';
import { MemorySegmentStore } from '../../../shared/storage/memory.js';
import { RangePrefetcher, type RangeRequest } from '../../../shared/storage/range-prefetch.js';
import { appendRecords, type SegmentReader } from '../../../shared/storage/segments.js';
import { records } from './random-records.js';

/** A store whose reads wait until released, counting those in flight. */
function slow(inner: MemorySegmentStore): SegmentReader & { reads: number; inFlight: number; most: number } {
  const c = {
    reads: 0,
    inFlight: 0,
    most: 0,
    async readRange(s: string, o: number, l: number) {
      c.reads++;
      c.inFlight++;
      c.most = Math.max(c.most, c.inFlight);
      await new Promise((r) => setTimeout(r, 2));
      try {
        return await inner.readRange(s, o, l);
      } finally {
        c.inFlight--;
      }
    },
    readStream: (s: string, o?: number, l?: number) => inner.readStream(s, o, l),
  };
  return c;
}

/** Two segments' records interleaved (as a clone sees a push's and the repack's), some skipped. */
async function interleaved(store: MemorySegmentStore) {
  const a = records(200, 1);
  const b = records(200, 2);
  const sa = await appendRecords(store, a);
  const sb = await appendRecords(store, b);
  const reqs: RangeRequest[] = [];
  const want: Uint8Array[] = [];
  for (let i = 0; i < 200; i++) {
    if (i % 7 === 3) continue;
    reqs.push({ segment: sa.segment, ...sa.records[i] }, { segment: sb.segment, ...sb.records[i] });
    want.push(a[i], b[i]);
  }
  return { reqs, want };
}

describe('RangePrefetcher', () => {
  it('gives every record in order, coalescing each segment\'s records into few reads', async () => {
    const store = new MemorySegmentStore();
    const { reqs, want } = await interleaved(store);
    const inner = slow(store);
    const p = new RangePrefetcher(inner, reqs, { concurrency: 4, gap: 1024, maxSpan: 64 * 1024 });
    for (let i = 0; i < reqs.length; i++) expect(await p.take(i)).toEqual(want[i]);
    // ~70 KB per segment in spans of at most 64 KiB: a few reads, not one per record.
    expect(inner.reads).toBeLessThanOrEqual(6);
    expect(p.stats.reads).toBe(inner.reads);
  });

  it('keeps at most `concurrency` reads in flight and about maxBytes read ahead', async () => {
    const store = new MemorySegmentStore();
    const { reqs, want } = await interleaved(store);
    const inner = slow(store);
    const p = new RangePrefetcher(inner, reqs, { concurrency: 3, gap: 0, maxSpan: 1, maxBytes: 4096 });
    for (let i = 0; i < reqs.length; i++) expect(await p.take(i)).toEqual(want[i]);
    expect(inner.reads).toBe(reqs.length);
    expect(inner.most).toBeLessThanOrEqual(3);
    expect(inner.most).toBeGreaterThan(1);
  });

  it('with freeTaken, frees a range at the take after its last record\'s (workerd), while every other record stays whole', async () => {
    const frees = typeof (ArrayBuffer.prototype as { transfer?: unknown }).transfer === 'function';
    const store = new MemorySegmentStore();
    const { reqs, want } = await interleaved(store);
    const p = new RangePrefetcher(slow(store), reqs, { concurrency: 4, gap: 1024, maxSpan: 16 * 1024, freeTaken: true });
    const got: Uint8Array[] = [];
    let freed = 0;
    for (let i = 0; i < reqs.length; i++) {
      const r = await p.take(i);
      expect(r).toEqual(want[i]); // whole when taken, though the two segments' ranges are taken interleaved
      got.push(r);
      freed = got.filter((g, k) => g.length === 0 && want[k].length > 0).length;
    }
    // By the end, the records of every range but the last one's (whose take came last) read as freed.
    expect(freed).toBeGreaterThan(frees ? reqs.length / 2 : -1);
    if (!frees) expect(freed).toBe(0);
  });

  it('may stop early; a failing read fails the take that needs it', async () => {
    const store = new MemorySegmentStore();
    const { reqs, want } = await interleaved(store);
    const p = new RangePrefetcher(store, reqs.slice(0, 10));
    for (let i = 0; i < 3; i++) expect(await p.take(i)).toEqual(want[i]);
    const bad = new RangePrefetcher(store, [reqs[0], { segment: 'nope', offset: 0, length: 5 }], { concurrency: 1 });
    expect(await bad.take(0)).toEqual(want[0]);
    await expect(bad.take(1)).rejects.toThrow(/nope/);
  });
});
