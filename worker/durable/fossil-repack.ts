/**
 * Repacking a Fossil repository into fossil's reverse deltas (shared/'s
 * deltify), driven from the crosslink tables: for each artifact past the
 * repack cursor (fossil_blob.seq), in the order it arrived, the pairs fossil's
 * manifest_crosslink would deltify: each parent manifest of a check-in
 * (plink) and each changed file's previous version (mlink) become deltas of
 * the newer one.
 *
 * It runs after each xfer request, in that request's queue (fossil-xfer.ts),
 * so the crosslink rows of everything stored so far exist, a push's next
 * round waits for it as fossil server's push waits for its own deltify, and
 * no request sees a half-swapped chain. Work per call is bounded
 * (MAX_ARTIFACTS); what is left is taken up by the next request.
 */
import { deltify, type DeltifyPair } from '../../shared/protocols/fossil/deltify.js';
import type { FossilRepo } from '../../shared/protocols/fossil/repo.js';
import type { SqlHost } from './repo-store.js';

/** Artifacts past the cursor whose pairs one deltify call takes. */
const STEP_ARTIFACTS = 250;
/** Artifacts one call to repackFossil gets through at most. */
const MAX_ARTIFACTS = 2000;

/** The repack cursor: every artifact with seq <= it has been through deltify. */
function cursor(host: SqlHost): number {
  return host.sql.exec<{ cursor: number }>(`SELECT cursor FROM fossil_repack`).toArray()[0]?.cursor ?? 0;
}

function setCursor(host: SqlHost, seq: number): void {
  host.transactionSync(() => {
    host.sql.exec(`DELETE FROM fossil_repack`);
    host.sql.exec(`INSERT INTO fossil_repack (cursor) VALUES (?)`, seq);
  });
}

/** The pairs of the artifacts with from < seq <= to, in arrival order (a check-in's primary parent first). */
export function repackPairs(host: SqlHost, from: number, to: number): DeltifyPair[] {
  return host.sql
    .exec<{ target: string; source: string }>(
      `SELECT target, source FROM (
         SELECT b.seq, 0 AS k, 1 - p.isprim AS o, p.pid AS target, p.cid AS source
           FROM fossil_blob b JOIN fossil_plink p ON p.cid = b.hash WHERE b.seq > ?1 AND b.seq <= ?2
         UNION ALL
         SELECT b.seq, 1, 0, m.pid, m.fid
           FROM fossil_blob b JOIN fossil_mlink m ON m.mid = b.hash
          WHERE b.seq > ?1 AND b.seq <= ?2 AND m.pid IS NOT NULL AND m.fid IS NOT NULL AND m.pid <> m.fid
       ) ORDER BY seq, k, o`,
      from,
      to,
    )
    .toArray();
}

/** Deltifies what arrived since the cursor (at most MAX_ARTIFACTS artifacts) and moves the cursor past it. */
export async function repackFossil(host: SqlHost, repo: FossilRepo): Promise<{ artifacts: number; deltified: number }> {
  let done = 0;
  let deltified = 0;
  while (done < MAX_ARTIFACTS) {
    const from = cursor(host);
    const to = host.sql
      .exec<{ to: number | null }>(`SELECT max(seq) AS "to" FROM (SELECT seq FROM fossil_blob WHERE seq > ? ORDER BY seq LIMIT ?)`, from, STEP_ARTIFACTS)
      .one().to;
    if (to === null) break;
    const pairs = repackPairs(host, from, to);
    if (pairs.length > 0) deltified += (await deltify(repo, pairs)).deltified;
    setCursor(host, to);
    done += STEP_ARTIFACTS;
  }
  return { artifacts: done, deltified };
}
