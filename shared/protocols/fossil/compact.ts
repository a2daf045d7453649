/**
 * Compaction: copying records, byte for byte, into one new segment in clone
 * order (seq). A push writes one segment per round and the repack (deltify)
 * one per call, so in seq order a clone's records alternate between dozens of
 * segments, and a clone round reads one range per segment it touches (38
 * ranges for the small bench corpus's 2 MB). Copied once the repack is done,
 * a round reads one range per COMPACT_BYTES. The old records stay where they
 * are (segments are append-only), unreferenced.
 */
import { COMPACT_BYTES, copyRecords } from '../../storage/compact.js';
import type { FossilRow } from '../../storage/fossil.js';
import type { FossilRepo } from './repo.js';

export { COMPACT_BYTES };
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
  const copy = await copyRecords(repo.segments, rows);
  const moves = rows.map((r, i) => ({ hash: r.hash, from: { segment: r.segment, offset: r.offset }, segment: copy.segment, ...copy.locations[i] }));
  return repo.store.relocate(moves);
}
