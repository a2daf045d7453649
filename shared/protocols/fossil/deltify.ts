/**
 * Fossil's reverse deltas, made after crosslinking. fossil server stores each
 * older version as a delta of the newer one (content.c content_deltify, called
 * from manifest_crosslink for a check-in's parents and for each changed file's
 * previous version); pushes arrive the other way round (child against parent).
 * A clone copies stored records, so a hub that kept the pushed deltas made
 * every cloning client expand and re-deltify the whole history (fossil clone's
 * rebuild and "extra delta compression"). Repacking here gives the hub the
 * deltas the client would keep.
 *
 * A pair (target, source) asks "make target a delta of source", as
 * content_deltify(target, &source, 1, 0) does:
 *  - a target that already is a delta of a newer artifact is left as it is
 *    (force = 0), so is one under 50 bytes or whose delta would not save a quarter;
 *  - a public target never becomes a delta of a private source;
 *  - a source whose chain passes through the target is first stored full
 *    (content_undelta), or the delta would loop.
 * Unlike fossil, chains stay within MAX_CHAIN_DEPTH: a target whose deepest
 * dependent would pass it stays full (so every ~50th version of a file is full).
 *
 * One call works through the pairs given in two passes, each writing its
 * records to one new segment and then swapping index rows (FossilStore.repoint);
 * old records stay where they are (append-only). Memory: one bounded base
 * cache and the pairs' bookkeeping.
 */
import { createFossilDelta } from '../../delta/fossil.js';
import type { FossilRecordSwap, FossilRow } from '../../storage/fossil.js';
import { BlockCachedSegments } from '../../storage/segment-cache.js';
import type { SegmentStore } from '../../storage/segments.js';
import { MAX_CHAIN_DEPTH, MAX_CHAIN_ROWS } from '../../storage/object-index.js';
import { LruBaseCache } from '../../storage/object-store.js';
import { ArtifactReader, RecordSink, type FossilRepo } from './repo.js';

/** Make `target` a delta of `source`. */
export interface DeltifyPair {
  target: string;
  source: string;
  /** Adjacent pairs of one group (one artifact's) are never split by a deadline; without one, a pair is its own group. */
  group?: number;
}

export interface DeltifyResult {
  /** Targets now stored as deltas of their sources. */
  deltified: number;
  /** Sources stored full first (their chains passed through their targets). */
  expanded: number;
  /** Pairs gone through (all of them unless a deadline stopped the call early). */
  handled: number;
}

/** fossil's content_deltify skips artifacts this small. */
const MIN_SIZE = 50;
/** Bytes of segment blocks and delta bases cached while repacking. */
const CACHE_BYTES = 8 * 1024 * 1024;
/** Bytes of full texts read by one call kept for its later pairs. */
const TEXT_CACHE_BYTES = 8 * 1024 * 1024;
/** Rows fetched per store call. */
const ROWS_PER_CALL = 500;

/** Bounds on one call. */
export interface DeltifyOptions {
  /** Stop taking new pairs in the delta pass once `now()` passes this (at least one group is always taken). */
  deadline?: number;
  /** Clock in ms (default Date.now). */
  now?: () => number;
}

/** Deltifies `pairs` in order (see the module comment), the first `handled` of them when a deadline cut it short. */
export async function deltify(repo: FossilRepo, pairs: readonly DeltifyPair[], opts: DeltifyOptions = {}): Promise<DeltifyResult> {
  const now = opts.now ?? Date.now;
  const deadline = opts.deadline ?? Infinity;
  const texts = new Texts(repo);
  const rows = new Rows(repo);
  const load = async () => {
    await rows.fetch(pairs.flatMap((p) => [p.target, p.source]));
    await rows.fetch(pairs.map((p) => rows.get(p.target)?.base ?? p.target));
  };
  await load();
  const usable = (p: DeltifyPair) => p.target !== p.source && rows.known(p.target) && rows.known(p.source);

  // Pass 1: store full the sources whose chains pass through their targets.
  const expanded = await writeSwaps(repo, async (reader, sink, swaps) => {
    for (const p of pairs) {
      const { target, source } = p;
      if (!usable(p) || !eligible(rows, target, source)) continue;
      if (!(await rows.chain(source)).includes(target)) continue;
      const text = await texts.read(reader, source);
      const rec = await sink.appendDeflated(text);
      swaps.push({ hash: source, ...rec, recordSize: text.length, format: 'full', base: null });
      rows.setBase(source, null);
    }
  });

  // Pass 2: the deltas, on the store as pass 1 left it.
  rows.forget();
  await load();
  // Heights as stored before this pass (its swaps apply at its end), in one store call per ROWS_PER_CALL.
  const heights = new Map<string, number>();
  const targets = [...new Set(pairs.filter(usable).map((p) => p.target))];
  for (let i = 0; i < targets.length; i += ROWS_PER_CALL) {
    const part = targets.slice(i, i + ROWS_PER_CALL);
    (await repo.store.heights(part)).forEach((h, k) => heights.set(part[k], h));
  }
  let handled = 0;
  const deltified = await writeSwaps(repo, async (reader, sink, swaps) => {
    for (; handled < pairs.length; handled++) {
      const p = pairs[handled];
      if (handled > 0 && (p.group === undefined || p.group !== pairs[handled - 1].group) && now() > deadline) break;
      const { target, source } = p;
      if (!usable(p) || !eligible(rows, target, source)) continue;
      const chain = await rows.chain(source);
      if (chain.includes(target)) continue;
      const height = heights.get(target) ?? 0;
      if (chain.length + height > MAX_CHAIN_DEPTH) continue;
      const from = await texts.read(reader, source);
      const text = await texts.read(reader, target);
      const delta = createFossilDelta(from, text);
      if (delta.length >= text.length * 0.75) continue;
      const rec = await sink.appendDeflated(delta);
      swaps.push({ hash: target, ...rec, recordSize: delta.length, format: 'fossil-delta', base: source });
      rows.setBase(target, source);
      // The source and everything under it now carry the target's chains.
      chain.forEach((h, k) => heights.set(h, Math.max(heights.get(h) ?? 0, height + 1 + k)));
    }
  });
  return { deltified, expanded, handled };
}

/** fossil's conditions on a pair, on the rows as this call has left them. */
function eligible(rows: Rows, target: string, source: string): boolean {
  const t = rows.get(target)!;
  const s = rows.get(source)!;
  if (t.size < MIN_SIZE || (s.private && !t.private)) return false;
  // Already a delta of a newer artifact (ours or fossil's): left as it is.
  const base = rows.baseOf(target);
  return base === null || !(rows.madeHere(target) || (rows.get(base)?.seq ?? 0) > t.seq);
}

/**
 * Full texts by hash: those the host still holds from receiving them (a push's
 * texts, hash-checked), then those read in this call (a pair's target is the
 * next pair's source), then the store.
 */
class Texts {
  private readonly read_ = new LruBaseCache(TEXT_CACHE_BYTES);

  constructor(private readonly repo: FossilRepo) {}

  async read(reader: ArtifactReader, hash: string): Promise<Uint8Array> {
    let text = this.repo.memo?.texts.get(hash) ?? this.read_.get(hash);
    if (text === undefined) {
      const got = await reader.read(hash);
      if (got === null) throw new Error(`deltify: artifact ${hash} vanished`);
      this.read_.set(hash, (text = got));
    }
    return text;
  }
}

/**
 * Runs `fill`, then makes its records readable and swaps them in; returns how many swaps were applied.
 * Texts are read through a block cache: a push wrote neighbouring versions next to each other,
 * and one R2 read per record made a step cost seconds.
 */
async function writeSwaps(repo: FossilRepo, fill: (reader: ArtifactReader, sink: RecordSink, swaps: FossilRecordSwap[]) => Promise<void>): Promise<number> {
  const sink = new RecordSink(repo);
  const swaps: FossilRecordSwap[] = [];
  try {
    // The reader only reads; the sink writes through the real store.
    const segments = new BlockCachedSegments(repo.segments, { maxBytes: CACHE_BYTES }) as unknown as SegmentStore;
    await fill(new ArtifactReader({ ...repo, segments }, CACHE_BYTES), sink, swaps);
    await sink.finish();
  } catch (e) {
    await sink.abort();
    throw e;
  }
  if (swaps.length === 0) return 0;
  try {
    await repo.store.repoint(swaps);
    return swaps.length;
  } catch {
    // Another writer changed a chain meanwhile (or a bound was misjudged): apply what still holds, one by one.
    let applied = 0;
    for (const sw of swaps) {
      try {
        await repo.store.repoint([sw]);
        applied++;
      } catch {
        // Left as stored; its new record stays unreferenced.
      }
    }
    return applied;
  }
}

/** Stored rows as this call sees them: fetched once, with the bases it has changed laid over. */
class Rows {
  private readonly rows = new Map<string, FossilRow | null>();
  private readonly bases = new Map<string, string | null>();

  constructor(private readonly repo: FossilRepo) {}

  async fetch(hashes: string[]): Promise<void> {
    const need = [...new Set(hashes.filter((h) => !this.rows.has(h)))];
    for (let i = 0; i < need.length; i += ROWS_PER_CALL) {
      const part = need.slice(i, i + ROWS_PER_CALL);
      const got = await this.repo.store.rows(part);
      part.forEach((h, k) => this.rows.set(h, got[k]));
    }
  }

  known(hash: string): boolean {
    return this.rows.get(hash) != null;
  }

  get(hash: string): FossilRow | undefined {
    return this.rows.get(hash) ?? undefined;
  }

  baseOf(hash: string): string | null {
    return this.bases.has(hash) ? this.bases.get(hash)! : (this.rows.get(hash)?.base ?? null);
  }

  madeHere(hash: string): boolean {
    return this.bases.get(hash) != null;
  }

  setBase(hash: string, base: string | null): void {
    this.bases.set(hash, base);
  }

  /** Drops what was fetched and laid over (the store has changed under it). */
  forget(): void {
    this.rows.clear();
    this.bases.clear();
  }

  /** `hash`, its base, and so on (at most MAX_CHAIN_ROWS). */
  async chain(hash: string): Promise<string[]> {
    const out: string[] = [];
    for (let h: string | null = hash; h !== null && out.length < MAX_CHAIN_ROWS; h = this.baseOf(h)) {
      if (!this.rows.has(h)) {
        // One store call brings the rest of the stored chain.
        for (const r of await this.repo.store.chain(h)) if (!this.rows.has(r.hash)) this.rows.set(r.hash, r);
        if (!this.rows.has(h)) this.rows.set(h, null);
      }
      if (this.rows.get(h) === null) break;
      out.push(h);
    }
    return out;
  }
}
