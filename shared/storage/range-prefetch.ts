/**
 * Reading a known list of records ahead, for a stream that consumes them in
 * order (a fossil clone round): the caller already knows every record's
 * segment, offset and length (the index has them), so no size lookup is
 * needed; records of one segment lying close together are read as one range
 * (coalesced), and up to `concurrency` range reads are in flight at once
 * while the consumer takes the records in order. Memory is bounded by
 * `maxBytes` of spans fetched or in flight and not yet fully consumed (a span
 * the consumer needs now is always started, whatever the budget).
 */
import { releaseNow } from '../core/bytes.js';
import type { SegmentId, SegmentReader } from './segments.js';

/** One record to read. */
export interface RangeRequest {
  segment: SegmentId;
  offset: number;
  length: number;
}

/** Options of RangePrefetcher. */
export interface RangePrefetchOptions {
  /** Range reads in flight at once (default 6). */
  concurrency?: number;
  /** Bytes of spans read ahead and not yet consumed (default 16 MiB). */
  maxBytes?: number;
  /** Records of one segment at most this far apart are read as one range (default 16 KiB). */
  gap?: number;
  /** Longest coalesced range (default 4 MiB); a longer record is read alone. */
  maxSpan?: number;
  /**
   * Free a range's memory (releaseNow) at the take after its last record's, for
   * a consumer done with each record by its next take (a copy): what it reads
   * passes through as garbage otherwise, left for V8's next full GC.
   */
  freeTaken?: boolean;
}

/** Counters, for tests and benchmarks. */
export interface RangePrefetchStats {
  /** Range reads of the underlying store. */
  reads: number;
  /** Bytes those reads fetched (records and the gaps between them). */
  bytes: number;
}

interface Span {
  segment: SegmentId;
  start: number;
  end: number;
  /** Requests not yet taken. */
  remaining: number;
  data: Promise<Uint8Array> | null;
}

/** Reads `requests` ahead; take(i) must be called for i = 0, 1, 2... (each at most once; stopping early is fine). */
export class RangePrefetcher {
  readonly stats: RangePrefetchStats = { reads: 0, bytes: 0 };
  private readonly spans: Span[] = [];
  /** For each request: its span and its offset in it. */
  private readonly where: { span: Span; at: number; length: number }[];
  private readonly concurrency: number;
  private readonly maxBytes: number;
  private next = 0;
  private inFlight = 0;
  private held = 0;
  private readonly freeTaken: boolean;
  /** With freeTaken: the range whose last record the last take gave, freed at the next. */
  private taken: Uint8Array | null = null;

  constructor(
    private readonly reader: SegmentReader,
    requests: readonly RangeRequest[],
    opts: RangePrefetchOptions = {},
  ) {
    this.concurrency = Math.max(1, opts.concurrency ?? 6);
    this.maxBytes = opts.maxBytes ?? 16 * 1024 * 1024;
    this.freeTaken = opts.freeTaken ?? false;
    const gap = opts.gap ?? 16 * 1024;
    const maxSpan = opts.maxSpan ?? 4 * 1024 * 1024;
    this.where = new Array(requests.length);
    // Per segment, the requests by offset, merged into spans; spans are then read in order of first use.
    const bySegment = new Map<SegmentId, number[]>();
    requests.forEach((r, i) => {
      let list = bySegment.get(r.segment);
      if (list === undefined) bySegment.set(r.segment, (list = []));
      list.push(i);
    });
    const firstUse = new Map<Span, number>();
    for (const [segment, list] of bySegment) {
      list.sort((a, b) => requests[a].offset - requests[b].offset || a - b);
      let span: Span | null = null;
      for (const i of list) {
        const r = requests[i];
        const end = r.offset + r.length;
        if (span === null || r.offset > span.end + gap || Math.max(end, span.end) - span.start > maxSpan) {
          span = { segment, start: r.offset, end, remaining: 0, data: null };
          this.spans.push(span);
          firstUse.set(span, i);
        } else {
          span.end = Math.max(span.end, end);
          firstUse.set(span, Math.min(firstUse.get(span)!, i));
        }
        span.remaining++;
        this.where[i] = { span, at: r.offset - span.start, length: r.length };
      }
    }
    this.spans.sort((a, b) => firstUse.get(a)! - firstUse.get(b)!);
    this.pump();
  }

  /** The bytes of request `i` (a view of a shared buffer: never mutate it). */
  async take(i: number): Promise<Uint8Array> {
    const w = this.where[i];
    if (w === undefined) throw new RangeError(`no request ${i}`);
    if (this.taken !== null) releaseNow(this.taken);
    this.taken = null;
    const { span, at, length } = w;
    // Needed now: start it (and every span ordered before it) whatever the budget.
    while (span.data === null) this.start(this.spans[this.next++]);
    const data = await span.data;
    const out = data.subarray(at, at + length);
    if (--span.remaining === 0) {
      span.data = Promise.resolve(new Uint8Array(0));
      if (this.freeTaken && data.byteOffset === 0 && data.byteLength === data.buffer.byteLength) this.taken = data;
      this.held -= span.end - span.start;
      this.pump();
    }
    return out;
  }

  private pump(): void {
    while (this.next < this.spans.length && this.inFlight < this.concurrency) {
      const span = this.spans[this.next];
      if (this.held > 0 && this.held + (span.end - span.start) > this.maxBytes) return;
      this.next++;
      this.start(span);
    }
  }

  private start(span: Span): void {
    const length = span.end - span.start;
    this.inFlight++;
    this.held += length;
    this.stats.reads++;
    this.stats.bytes += length;
    const p = this.reader.readRange(span.segment, span.start, length).finally(() => {
      this.inFlight--;
      this.pump();
    });
    // A read nobody takes (the consumer stopped early) must not be an unhandled rejection.
    p.catch(() => undefined);
    span.data = p;
  }
}
