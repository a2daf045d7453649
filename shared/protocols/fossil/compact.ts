/**
 * Compaction: copying records, byte for byte, into one new segment in clone
 * order (seq). A push writes one segment per round and the repack (deltify)
 * one per call, so in seq order a clone's records alternate between dozens of
 * segments, and a clone round reads one range per segment it touches (38
 * ranges for the small bench corpus's 2 MB). Copied once the repack is done,
 * a round reads one range per COMPACT_BYTES. The old records stay where they
 * are (segments are append-only), unreferenced.
 */
import type { FossilRow } from '../../storage/fossil.js';
import { RangePrefetcher } from '../../storage/range-prefetch.js';
import { RecordSink, type FossilRepo } from './repo.js';

/** Bytes of records one compaction step copies into one segment: the longest range a clone round reads at once (RangePrefetcher's maxSpan). */
export const COMPACT_BYTES = 4 * 1024 * 1024;
/** Records of one segment this far apart already read as one range (send.ts CLONE_READ_GAP). */
const READ_GAP = 256 * 1024;

/** The ranges a clone reading `rows` in order would make (a run: one segment, each record at most READ_GAP past the last). */
export function readRuns(rows: readonly FossilRow[]): number {
  let runs = 0;
  for (let i = 0; i < rows.length; i++) {
    const p = rows[i - 1];
    const r = rows[i];
    const end = p ? p.offset + p.length : 0;
    if (!p || r.segment !== p.segment || r.offset < end || r.offset > end + READ_GAP) runs++;
  }
  return runs;
}

/**
 * Copies the records of `rows` (in the given order) into one new segment and
 * points the rows still at their old records at the copies. Rows that already
 * read as at most two ranges are left where they are. Returns the rows moved.
 */
export async function compactRecords(repo: FossilRepo, rows: readonly FossilRow[]): Promise<number> {
  if (readRuns(rows) <= 2) return 0;
  const prefetch = new RangePrefetcher(repo.segments, rows, { concurrency: 4, maxBytes: 2 * COMPACT_BYTES, gap: READ_GAP });
  const sink = new RecordSink(repo);
  const moves = [];
  try {
    for (let i = 0; i < rows.length; i++) {
      const r = rows[i];
      const at = await sink.append(await prefetch.take(i));
      moves.push({ hash: r.hash, from: { segment: r.segment, offset: r.offset }, ...at });
    }
    await sink.finish();
  } catch (e) {
    await sink.abort();
    throw e;
  }
  return repo.store.relocate(moves);
}
