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
 * dependent would pass it is hung on a version nearer its source's full text,
 * at least MIN_HANG deep (where a cloning client's content cache covers it),
 * and when its own dependents leave too little room for that, the deepest of
 * them are first re-hung on it halfway down (splitBelow): one delta over some
 * versions every ~25 versions where a full text every ~50 was (the small bench
 * corpus: 542 full texts, as fossil's, for 552). A deeper bound for the repack
 * alone (400, then 4096; the push still storing within 50) gave the small
 * corpus fossil's shape (one 399-deep manifest chain; a cloning client's
 * instructions 1.039x -> 1.005x fossil server's, bench/fossil-client-cost.ts),
 * but not the large one's: there the repack left chains up to 152 deep in
 * another shape than fossil's (5,905 of 12,440 artifacts on another base;
 * 6,322 of 8,340 deltas on a base earlier in clone order, all 9,036 of
 * fossil server's on a later one), and the client's clone of it took
 * 472 s (400) and 758 s (4096) where 75 s at 50 (load ~15), client CPU over
 * 131 s: deep walks are cheap for fossil's rebuild only in its own layout and order.
 *
 * One call plans in memory, then writes: it takes the pairs' groups newest
 * first (a source whose chain passes through its target is planned full,
 * which in that order is the newest version of a pushed forward chain, once),
 * and at the end writes each changed artifact once, in its final form, to one
 * new segment, and swaps the index rows (FossilStore.repoint, bases before
 * what depends on them); old records stay where they are (append-only).
 * Memory: bounded caches (kept for the next call on the same FossilRepo:
 * texts never change) and the planned deltas. What it made or read and no
 * longer needs (deltas once written or refused, inflated forward deltas,
 * dropped segment blocks, texts its reader's cache dropped, freed between
 * pairs, when none is held) is freed at once (releaseNow): a repack passes
 * about its repository's size through them, and V8 15.8 let that garbage
 * pile up to 200 MiB (the bench's large repack).
 */
import { equal, releaseNow } from '../../core/bytes.js';
import { createFossilDelta, reverseFossilDelta, walkFossilDelta } from '../../delta/fossil.js';
import type { FossilRecordSwap, FossilRow } from '../../storage/fossil.js';
import { inflateSized } from '../../storage/object-store.js';
import { BlockCachedSegments } from '../../storage/segment-cache.js';
import type { SegmentStore } from '../../storage/segments.js';
import { MAX_CHAIN_DEPTH, MAX_CHAIN_ROWS } from '../../storage/object-index.js';
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
  /** Pairs gone through, newest groups first (all of them unless a deadline stopped the call early). */
  handled: number;
}

/** fossil's content_deltify skips artifacts this small. */
const MIN_SIZE = 50;
/** Bytes of segment blocks and delta bases cached while repacking. */
const CACHE_BYTES = 8 * 1024 * 1024;
/** Rows fetched per store call. */
const ROWS_PER_CALL = 500;

/** Bounds on one call. */
export interface DeltifyOptions {
  /** Stop taking new groups once `now()` passes this (at least one group that needs work is always taken). */
  deadline?: number;
  /** Clock in ms (default Date.now). */
  now?: () => number;
}

/** Deltifies `pairs` (see the module comment), newest group first: the last `handled` of them when a deadline cut it short. */
export async function deltify(repo: FossilRepo, pairs: readonly DeltifyPair[], opts: DeltifyOptions = {}): Promise<DeltifyResult> {
  const now = opts.now ?? Date.now;
  const deadline = opts.deadline ?? Infinity;
  const { texts, reader, segments } = cachesOf(repo);
  const rows = new Rows(repo);
  await rows.fetch(pairs.flatMap((p) => [p.target, p.source]));
  await rows.fetch(pairs.map((p) => rows.get(p.target)?.base ?? p.target));
  const usable = (p: DeltifyPair) => p.target !== p.source && rows.known(p.target) && rows.known(p.source);

  // What the deltas planned here hang below each row (the store's heights know only the stored bases).
  const raised = new Map<string, number>();
  // Newest artifact first: a pushed forward chain then costs one full record (its newest version, whose
  // chain passes through its target) and a delta each; oldest first made every version full, then a delta.
  const groups: DeltifyPair[][] = [];
  for (const p of pairs) {
    const last = groups.at(-1);
    if (last && p.group !== undefined && last[0].group === p.group) last.push(p);
    else groups.push([p]);
  }
  const deltas = new Map<string, Uint8Array>();
  // Rows re-hung on their chain's top by a split: swapped first, while that top still is where it was.
  const early = new Set<string>();
  let handled = 0;
  let worked = false;
  for (let g = groups.length - 1; g >= 0; g--) {
    // A group that needed no work does not count as the call's one group: done ones are met again after a cut-short call.
    if (worked && now() > deadline) break;
    for (const p of groups[g]) {
      // The last pair's texts are let go: those its reader's cache dropped are freed now.
      reader.releaseEvicted();
      handled++;
      const { target, source } = p;
      if (!usable(p) || !eligible(rows, target, source)) continue;
      worked = true;
      let chain = await rows.chain(source);
      // The source's chain passes through the target: the source becomes full (or the delta would loop).
      const cut = chain.includes(target);
      // Rows planned elsewhere (or full) no longer hang below their stored bases: a pushed forward
      // chain hangs below its oldest version until it is reversed, and counting it skipped every other pair.
      const moved = [...rows.changed().keys()];
      if (cut) moved.push(source);
      const below = (await repo.store.heights([target], moved))[0];
      if (cut) chain = [source];
      let height = Math.max(below, raised.get(target) ?? 0);
      let split: Split | null = null;
      if (chain.length + height > MAX_CHAIN_DEPTH) {
        // Too deep under the source: a full text where fossil keeps a delta (its chains are unbounded).
        // Rather, restart the chain: when the target's own dependents leave too little room to hang it
        // MIN_HANG deep, first re-hang the deepest of them on it about halfway down (when that fails, a
        // shallower restart as long as it fits); then hang it on a version nearer the chain's full text.
        if (cut || (raised.get(target) ?? 0) > below) continue;
        if (MAX_CHAIN_DEPTH - height < 2 * MIN_HANG) {
          split = await splitBelow(repo, rows, texts, reader, target, moved);
          if (split !== null) height = split.height;
          else if (height >= MAX_CHAIN_DEPTH) continue;
        }
        // Halfway up the room left: the next versions then chain on it for a while (at the deepest room, every
        // next one restarted on the same version, further and further from it).
        if (chain.length + height > MAX_CHAIN_DEPTH) chain = chain.slice(chain.length - Math.ceil((MAX_CHAIN_DEPTH - height) / 2));
      }
      const base = chain[0];
      const from = await texts.read(reader, base);
      const text = await texts.read(reader, target);
      const delta = (await reversed(repo, segments, rows.get(base)!, target, from, text)) ?? (sharesEnough(from, text) ? createFossilDelta(from, text) : null);
      if (delta === null || delta.length >= text.length * 0.75) {
        if (delta !== null) releaseNow(delta);
        continue;
      }
      if (cut) rows.setBase(source, null);
      for (const c of split?.cuts ?? []) {
        deltas.set(c.hash, c.delta);
        rows.setBase(c.hash, target);
        early.add(c.hash);
      }
      if (split) raised.set(target, Math.max(raised.get(target) ?? 0, height));
      deltas.set(target, delta);
      rows.setBase(target, base);
      // The base and everything under it now carry the target's chains.
      chain.forEach((h, k) => raised.set(h, Math.max(raised.get(h) ?? 0, height + 1 + k)));
    }
  }

  // Each changed artifact once, in its final form; a base's swap before those of its dependents.
  const final = rows.changed();
  const order = new Set<string>();
  const visit = (h: string) => {
    if (order.has(h)) return;
    const base = final.get(h);
    if (base != null && final.has(base)) visit(base);
    order.add(h);
  };
  for (const h of early) if (final.has(h)) order.add(h);
  for (const [h, base] of final) if (base === null) order.add(h);
  for (const h of final.keys()) visit(h);
  const sink = new RecordSink(repo);
  const swaps: FossilRecordSwap[] = [];
  try {
    for (const hash of order) {
      reader.releaseEvicted();
      const base = final.get(hash)!;
      if (base === null) {
        const text = await texts.read(reader, hash);
        swaps.push({ hash, ...(await sink.appendDeflated(text)), recordSize: text.length, format: 'full', base: null });
      } else {
        const delta = deltas.get(hash)!;
        swaps.push({ hash, ...(await sink.appendDeflated(delta)), recordSize: delta.length, format: 'fossil-delta', base });
        releaseNow(delta); // made here, and written: freed now, not at V8's next full GC
      }
    }
    reader.releaseEvicted();
    await sink.finish();
  } catch (e) {
    await sink.abort();
    throw e;
  }
  const applied = await repoint(repo, swaps);
  return {
    deltified: applied.filter((sw) => sw.base !== null).length,
    expanded: applied.filter((sw) => sw.base === null).length,
    handled,
  };
}

/** Dependents re-hung on the target they hang below (splitBelow). */
interface Split {
  /** Each with its delta against the target. */
  cuts: { hash: string; delta: Uint8Array }[];
  /** The target's height once they are re-hung. */
  height: number;
}

/**
 * A restart hangs its version at least this deep under its chain's full text.
 * fossil's content_get keeps in its cache only every 8th text of a chain walk
 * (content.c), never one of the first 7 under the full text it started from:
 * each walk down a restart hung shallower inflated the full text again (the
 * small bench corpus's newest manifest, 44,702 B: 54 times in a cloning
 * client's rebuild, 9 on fossil server's shape).
 */
const MIN_HANG = 8;

/** Rows re-hung by one split at most (a plain history takes one; one more per as deep a branch). */
const MAX_CUTS = 4;

/**
 * Lowers the height of `target` to leave room to hang it MIN_HANG deep (about
 * halves it on a plain history): rows on the way to its deepest dependents
 * become deltas of `target` itself, one delta over some versions where a full
 * text every MAX_CHAIN_DEPTH versions was. Null when no cut brings it under
 * MAX_CHAIN_DEPTH, rows below are planned in this call, a delta would not save
 * a quarter, or privacy forbids it.
 */
async function splitBelow(repo: FossilRepo, rows: Rows, texts: Texts, reader: ArtifactReader, target: string, moved: string[]): Promise<Split | null> {
  const below = (await repo.store.below(target, moved)).map((r) => ({ ...r }));
  if (below.length === 0 || below.some((r) => rows.madeHere(r.hash))) return null;
  const byHash = new Map(below.map((r) => [r.hash, r]));
  /** The height, or that of the rows under `cut` (moved up under the target) and above it on the way to it. */
  const heightWith = (cut?: string, path?: string[]) => {
    const under = new Set(cut === undefined ? [] : [cut]);
    const lift = cut === undefined ? 0 : byHash.get(cut)!.level - 1;
    let all = 0;
    let own = 0;
    for (const r of below) {
      if (under.has(r.base)) under.add(r.hash);
      const level = under.has(r.hash) ? r.level - lift : r.level;
      all = Math.max(all, level);
      if (under.has(r.hash) || path?.includes(r.hash)) own = Math.max(own, level);
    }
    return { all, own };
  };
  const cuts: string[] = [];
  let height = heightWith().all;
  while (MAX_CHAIN_DEPTH - height < 2 * MIN_HANG && cuts.length < MAX_CUTS) {
    // Parents before children; the way to a deepest row.
    below.sort((a, b) => a.level - b.level);
    const path = [below.at(-1)!.hash];
    while (byHash.has(path[0]) && byHash.get(path[0])!.base !== target) path.unshift(byHash.get(path[0])!.base);
    // The cut leaving the lowest height; on a tie (another branch as deep) the lowest along this way, then the nearest.
    let best: { cut: string; all: number; own: number } | null = null;
    for (const c of path.slice(1)) {
      const h = heightWith(c, path);
      if (best === null || h.all < best.all || (h.all === best.all && h.own < best.own)) best = { cut: c, ...h };
    }
    // No cut lowers it further: what was cut so far may do (it fits under MAX_CHAIN_DEPTH), hung shallower.
    if (best === null || best.own >= height) break;
    const lift = byHash.get(best.cut)!.level - 1;
    const under = new Set([best.cut]);
    for (const r of below) {
      if (under.has(r.base)) under.add(r.hash);
      if (under.has(r.hash)) r.level -= lift;
    }
    byHash.get(best.cut)!.base = target;
    cuts.push(best.cut);
    height = best.all;
  }
  if (height >= MAX_CHAIN_DEPTH) return null;
  await rows.fetch(cuts);
  const from = await texts.read(reader, target);
  const out: Split['cuts'] = [];
  for (const hash of cuts) {
    // A public row never becomes a delta of a private one.
    if (rows.get(target)!.private && !rows.get(hash)!.private) return null;
    const text = await texts.read(reader, hash);
    const delta = sharesEnough(from, text) ? createFossilDelta(from, text) : null;
    if (delta === null || delta.length >= text.length * 0.75) return null;
    out.push({ hash, delta });
  }
  return { cuts: out, height };
}

/**
 * A client pushes a check-in's manifest and changed files as deltas of their
 * parent versions: when `source` is stored as a delta of `target`, the delta
 * the other way is read off that one's copies (reverseFossilDelta: linear;
 * createFossilDelta's matching was over half of a large repack's CPU). Checked
 * by applying it, so a stored record that does not say what it should costs
 * only the fallback (null).
 */
async function reversed(repo: FossilRepo, segments: SegmentStore, source: FossilRow, target: string, from: Uint8Array, text: Uint8Array): Promise<Uint8Array | null> {
  if (source.base !== target || source.format !== 'fossil-delta') return null;
  let forward: Uint8Array | undefined;
  try {
    forward = inflateSized(repo.primitives.zlib, await segments.readRange(source.segment, source.offset, source.length), source.recordSize);
    const delta = reverseFossilDelta(forward, text);
    if (makes(from, delta, text)) return delta;
    releaseNow(delta);
    return null;
  } catch {
    return null;
  } finally {
    if (forward !== undefined) releaseNow(forward); // a buffer of its own (inflateSized)
  }
}

/**
 * Whether `delta` applied to `from` makes `text`, compared segment by segment
 * in place: applying it first cost a copy of the result and its checksum,
 * which reverseFossilDelta computes from `text` itself. Throws on a malformed delta.
 */
function makes(from: Uint8Array, delta: Uint8Array, text: Uint8Array): boolean {
  let at = 0;
  let same = true;
  const { size } = walkFossilDelta(
    delta,
    (offset, n) => {
      same &&= offset + n <= from.length && equal(from.subarray(offset, offset + n), text.subarray(at, at + n));
      at += n;
    },
    (start, stop) => {
      same &&= equal(delta.subarray(start, stop), text.subarray(at, at + stop - start));
      at += stop - start;
    },
  );
  return same && size === text.length;
}

/** Texts at least this long are sampled before a delta is made (below it, making one costs little). */
const SAMPLE_FROM = 64 * 1024;
/** Windows of the target sampled, and their length (fossil's delta block size). */
const SAMPLES = 64;
const WINDOW = 16;

/**
 * Whether `text` may share enough with `from` for a delta to save a quarter:
 * false only when at most 1/16 of SAMPLES windows spread evenly over `text`
 * occur anywhere in `from` (one rolling-hash pass over `from`). A delta saves a
 * quarter only by copying a quarter of the target, so a sample that finds
 * almost nothing tells the delta would be thrown away: two versions of an
 * incompressible file that was replaced, not edited (the bench's 2 MB
 * binaries: createFossilDelta's matching on them was half of a large repack's
 * CPU, every delta discarded). Only compression is at stake, never correctness.
 */
export function sharesEnough(from: Uint8Array, text: Uint8Array): boolean {
  if (text.length < SAMPLE_FROM || from.length < WINDOW) return true;
  // The sampled windows by hash (a collision only makes a sample count as found).
  const step = Math.floor((text.length - WINDOW) / (SAMPLES - 1));
  const wanted = new Map<number, number[]>();
  // A bit per top 16 bits of a wanted hash: most positions of `from` are ruled out without a Map lookup.
  const bits = new Uint32Array(2048);
  for (let k = 0; k < SAMPLES; k++) {
    const at = k * step;
    const h = windowHash(text, at);
    bits[h >>> 21] |= 1 << ((h >>> 16) & 31);
    const list = wanted.get(h);
    if (list) list.push(at);
    else wanted.set(h, [at]);
  }
  // B^WINDOW: what the byte leaving the window weighed.
  let out = 1;
  for (let i = 0; i < WINDOW; i++) out = Math.imul(out, HASH_BASE);
  let found = 0;
  let h = windowHash(from, 0);
  for (let i = 0; ; i++) {
    const list = bits[h >>> 21] & (1 << ((h >>> 16) & 31)) ? wanted.get(h) : undefined;
    if (list !== undefined) {
      found += list.length;
      wanted.delete(h);
      if (found > SAMPLES / 16) return true;
    }
    if (i + WINDOW >= from.length) return false;
    h = (Math.imul(h, HASH_BASE) + from[i + WINDOW] - Math.imul(from[i], out)) | 0;
  }
}

const HASH_BASE = 0x01000193;

function windowHash(data: Uint8Array, at: number): number {
  let h = 0;
  for (let i = at; i < at + WINDOW; i++) h = (Math.imul(h, HASH_BASE) + data[i]) | 0;
  return h;
}

/** fossil's conditions on a pair, on the rows as this call has left them. */
function eligible(rows: Rows, target: string, source: string): boolean {
  const t = rows.get(target)!;
  const s = rows.get(source)!;
  if (t.size < MIN_SIZE || (s.private && !t.private)) return false;
  // Already a delta of this source: a client pushes fossil's own reverse deltas, so most pairs are
  // done on arrival (the base arrives after its delta, so seq below cannot tell it is newer).
  const base = rows.baseOf(target);
  if (base === source) return false;
  // Already a delta of a newer artifact (ours or fossil's): left as it is.
  return base === null || !(rows.madeHere(target) || (rows.get(base)?.seq ?? 0) > t.seq);
}

/**
 * Full texts by hash: those the host still holds from receiving them (a push's
 * texts, hash-checked), then the store through the reader, whose cache keeps
 * what it read (a pair's target is the next pair's source). A cache of its
 * own here held the same texts a second time (8 MiB more live, no less CPU).
 */
class Texts {
  constructor(private readonly repo: FossilRepo) {}

  async read(reader: ArtifactReader, hash: string): Promise<Uint8Array> {
    const text = this.repo.memo?.texts.get(hash) ?? (await reader.read(hash));
    if (text === null) throw new Error(`deltify: artifact ${hash} vanished`);
    return text;
  }
}

/** Applies `swaps` in one transaction; the swaps applied (when that fails: what still holds, one by one). */
async function repoint(repo: FossilRepo, swaps: FossilRecordSwap[]): Promise<FossilRecordSwap[]> {
  if (swaps.length === 0) return [];
  try {
    await repo.store.repoint(swaps);
    return swaps;
  } catch {
    // Another writer changed a chain meanwhile (or a bound was misjudged): apply what still holds, one by one.
    const applied: FossilRecordSwap[] = [];
    for (const sw of swaps) {
      try {
        await repo.store.repoint([sw]);
        applied.push(sw);
      } catch {
        // Left as stored; its new record stays unreferenced.
      }
    }
    return applied;
  }
}

/**
 * The caches of the calls on one FossilRepo (a repack alarm makes one per
 * invocation): texts by hash and segment blocks never change, so the next
 * slice finds the texts its predecessor read. Texts are read through a block
 * cache: a push wrote neighbouring versions next to each other, and one R2
 * read per record made a step cost seconds.
 */
const caches = new WeakMap<FossilRepo, { texts: Texts; reader: ArtifactReader; segments: SegmentStore }>();

function cachesOf(repo: FossilRepo): { texts: Texts; reader: ArtifactReader; segments: SegmentStore } {
  let c = caches.get(repo);
  if (!c) {
    const segments = new BlockCachedSegments(repo.segments, { maxBytes: CACHE_BYTES, freeDropped: true }) as unknown as SegmentStore;
    caches.set(repo, (c = { texts: new Texts(repo), reader: new ArtifactReader({ ...repo, segments }, CACHE_BYTES, { freeEvicted: true }), segments }));
  }
  return c;
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

  /** The artifacts whose planned base differs from the stored one, with it (null: full), in the order first planned. */
  changed(): Map<string, string | null> {
    return new Map([...this.bases].filter(([h, b]) => b !== (this.rows.get(h)?.base ?? null)));
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
