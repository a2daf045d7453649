/**
 * Compaction's copy: records of many segments copied, byte for byte and in the
 * order given, into one new segment. Both kinds of repository use it (fossil's
 * compaction in clone order, git's of the small segments many pushes leave);
 * each then points its index rows at the copies in its own transactions. The
 * old records stay where they are (segments are append-only) until the segment
 * collector deletes what no row names.
 */
import { RangePrefetcher, type RangeRequest } from './range-prefetch.js';
import type { RecordLocation, SegmentCreator, SegmentId, SegmentReader } from './segments.js';

/** Bytes of records one compaction step copies into one segment: the longest range a fossil clone round reads at once (RangePrefetcher's maxSpan). */
export const COMPACT_BYTES = 4 * 1024 * 1024;

/** Records of one segment this far apart are read as one range. */
const READ_GAP = 256 * 1024;

/** Where copyRecords put the records: one new segment, a location per record in the order given. */
export interface CopiedRecords {
  segment: SegmentId;
  locations: RecordLocation[];
  /** Range reads the copy made (R2 gets). */
  reads: number;
}

/**
 * Copies `records` into one new segment and finishes it. At most about
 * 2 x COMPACT_BYTES of source ranges are held at once (plus what the writer
 * buffers), whatever the number of records. On failure the new segment is
 * aborted and the error thrown: nothing refers to it.
 */
export async function copyRecords(segments: SegmentCreator & SegmentReader, records: readonly RangeRequest[]): Promise<CopiedRecords> {
  const prefetch = new RangePrefetcher(segments, records, { concurrency: 4, maxBytes: 2 * COMPACT_BYTES, gap: READ_GAP, freeTaken: true });
  const writer = await segments.create();
  try {
    const locations: RecordLocation[] = [];
    for (let i = 0; i < records.length; i++) {
      const bytes = await prefetch.take(i);
      if (bytes.length > 0) await writer.write(bytes);
      locations.push(writer.endRecord());
    }
    await writer.finish();
    return { segment: writer.segment, locations, reads: prefetch.stats.reads };
  } catch (e) {
    await writer.abort().catch(() => undefined);
    throw e;
  }
}
