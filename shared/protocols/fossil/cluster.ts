/**
 * Cluster artifacts (xfer.c create_cluster): when a pull finds at least
 * CLUSTER_THRESHOLD public artifacts unclustered, the server lists them in
 * cluster artifacts (M cards, sorted) of at most CLUSTER_SIZE members, the
 * last one taking the remainder, and only the new clusters stay unclustered.
 * A pull's igot list then stays O(new artifacts). Clusters are named with
 * SHA3-256 like every artifact the hub creates.
 */
import { makeCluster } from '../../core/fossil/build.js';
import { artifactId } from '../../core/fossil/name.js';
import type { FossilRowInput } from '../../storage/fossil.js';
import { RecordSink, type FossilRepo } from './repo.js';

/** Unclustered artifacts that trigger clustering (fossil: 100). */
export const CLUSTER_THRESHOLD = 100;
/** Members per cluster (fossil: 800, the last may have up to 899). */
export const CLUSTER_SIZE = 800;
/** Most unclustered hashes considered in one request (bounds memory; the rest is clustered next time). */
export const MAX_UNCLUSTERED_SCAN = 100_000;

/** Groups sorted members as fossil does: runs of CLUSTER_SIZE while more than CLUSTER_SIZE + 100 remain. */
export function clusterGroups(members: readonly string[]): string[][] {
  const groups: string[][] = [];
  let i = 0;
  while (members.length - i > CLUSTER_SIZE + 100) {
    groups.push(members.slice(i, i + CLUSTER_SIZE));
    i += CLUSTER_SIZE;
  }
  if (i < members.length) groups.push(members.slice(i));
  return groups;
}

/** Makes clusters when enough public artifacts are unclustered; returns the new clusters' hashes. */
export async function createClusters(repo: FossilRepo, threshold = CLUSTER_THRESHOLD): Promise<string[]> {
  const { store } = repo;
  const uncl = await store.listUnclustered(MAX_UNCLUSTERED_SCAN);
  if (uncl.length < threshold) return [];
  const states = await store.states(uncl);
  const members = uncl.filter((_, i) => states[i] === 'public').sort();
  if (members.length < threshold) return [];
  const sink = new RecordSink(repo);
  const rows: FossilRowInput[] = [];
  try {
    for (const group of clusterGroups(members)) {
      const bytes = makeCluster(group);
      const hash = artifactId(repo.primitives, bytes, 'sha3-256');
      const rec = await sink.appendDeflated(bytes);
      rows.push({ hash, size: bytes.length, ...rec, recordSize: bytes.length, format: 'full', base: null, private: false });
    }
    await sink.finish();
  } catch (e) {
    await sink.abort();
    throw e;
  }
  const hashes = rows.map((r) => r.hash);
  await store.commit({ rows, unclusteredRemove: members, unclusteredAdd: hashes });
  return hashes;
}
