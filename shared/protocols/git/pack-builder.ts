/**
 * Builds a fetch's pack from stored records by reuse (git's pack-objects
 * "reuse_delta"): planned up front (index rows only, so the object count is
 * known for the header), then streamed record by record.
 *
 * Per object, from its index row:
 *   full record                         -> copied as a whole-object entry
 *   git delta, base also in the pack    -> copied; OFS_DELTA (REF_DELTA without ofs-delta)
 *   git delta, base at the client       -> copied as REF_DELTA (thin pack only)
 *   anything else                       -> rebuilt with readObject and deflated
 * Bases are placed before their deltas; otherwise objects go in storage order
 * (segment, offset), so neighbouring records are read with one range read.
 */
import { gitObjectId, type GitObjectType } from '../../core/git/object-id.js';
import type { ByteStream } from '../../core/stream.js';
import { entriesToPackBytes, type OutputBuffers, type PackTrailer, type PackWriteEntry } from './pack-writer.js';
import { PackError } from './pack.js';
import { rowsInOrder, type RepoView } from './object-walk.js';
import { toHex, toHexAt, writeHex } from '../../core/bytes.js';
import { deflatedStream, storedSource } from './large-blob.js';
import { MAX_CHAIN_ROWS } from '../../storage/object-index.js';
import { PLAN_BASE_OUTSIDE, PLAN_BASE_THIN, PLAN_FORMATS, PLAN_KINDS, PLAN_NO_BASE, PLAN_NO_RECORD_SIZE, type ReachPlan } from '../../storage/reach.js';
import { IdSet, type PackedIds } from '../../storage/id-set.js';
import type { ForwardReader, SegmentReader } from '../../storage/segments.js';

/** Options of reachPlanToPackBytes. */
export interface BuildOptions {
  /** Most bytes fetched by one range read (neighbouring records are read together). Default 4 MiB. */
  maxRead?: number;
  /** A copied record longer than this is read and sent in pieces of this many bytes, never held whole. Default 4 MiB. */
  piece?: number;
  /** Largest gap of unwanted bytes read through to join two records in one read. Default 64 KiB. */
  maxGap?: number;
  /** Most bytes one forward request (SegmentReader.openForward) asks for, read maxRead at a time. Default 4 * maxRead. */
  maxForward?: number;
  /** zlib level for rebuilt objects. Default 6. */
  level?: number;
  /** Check that each rebuilt object hashes to its id (default true). */
  verifyRebuilt?: boolean;
  /** Output chunk size (see WritePackOptions.chunkSize). */
  chunkSize?: number;
  /** Side-band packet size of the output (see WritePackOptions.sideband). */
  sideband?: number;
  /** Where reused records are read from (default: the view's segments). A clone streams each record once, so it reads past the view's block cache. */
  records?: SegmentReader;
  /**
   * The trailer of this plan's pack as written before (see WritePackOptions.trailer): used only
   * when every entry is copied, whose bytes then depend on nothing but the plan, its order and
   * ofsDelta (a rebuilt object's deflated bytes could change with the zlib build).
   */
  trailer?: PackTrailer;
  /** Output chunk memory (see WritePackOptions.buffers). */
  buffers?: OutputBuffers;
}

const maxDeltaSize = (targetSize: number) => targetSize * 16 + 1024;

/**
 * A fetch's pack plan as a compact ReachPlan (typed arrays, storage order:
 * segment name, then offset), so a walk's result costs about 100 bytes per
 * object instead of an IndexRow and its strings each. Rows
 * are read one by one and not memoised. A git delta whose base is in the
 * pack is reused (OFS_DELTA), one whose base the client has is reused as a
 * thin REF_DELTA when `thinPack`, anything else is rebuilt.
 */
export async function planFetchPack(
  view: RepoView,
  ids: PackedIds,
  opts: { thinPack: boolean; have: IdSet; index?: IdSet },
): Promise<{ plan: ReachPlan; order: ReachPackOrder }> {
  const n = ids.length;
  const packed = ids.bytes;
  // `opts.index`, when given, holds exactly `ids` in their order (a lazy fetch's wants): not built twice.
  let index = opts.index;
  if (index === undefined) {
    index = new IdSet();
    for (let i = 0; i < n; i++) index.addAt(packed, i * 20);
  }
  if (index.size !== n) throw new PackError('pack-internal', 'duplicate ids in a pack plan');
  const seg = new Uint32Array(n);
  const offset = new Float64Array(n);
  const length = new Uint32Array(n);
  const size = new Uint32Array(n);
  const recordSize = new Int32Array(n);
  const kind = new Uint8Array(n);
  const format = new Uint8Array(n);
  const base = new Int32Array(n);
  const thin = opts.thinPack ? new Uint8Array(n * 20) : undefined;
  const names: string[] = [];
  const segIndex = new Map<string, number>();
  const raw = new Uint8Array(20);
  const rowAt = rowsInOrder(view.deps.index, packed, n, (id) => view.known(id));
  for (let i = 0; i < n; i++) {
    const row = await rowAt(i);
    if (row === null) {
      const id = toHexAt(packed, i * 20, 20);
      throw new PackError('pack-missing-object', `object ${id} is not in the repository`, { id });
    }
    let s = segIndex.get(row.segment);
    if (s === undefined) {
      s = names.length;
      names.push(row.segment);
      segIndex.set(row.segment, s);
    }
    seg[i] = s;
    offset[i] = row.offset;
    length[i] = row.length;
    size[i] = row.size;
    if (row.length > 0xffff_ffff || row.size > 0xffff_ffff) throw new PackError('pack-internal', `object ${row.id} is over 4 GiB`, { id: row.id });
    recordSize[i] = row.recordSize !== undefined && row.recordSize <= 0x7fff_ffff ? row.recordSize : PLAN_NO_RECORD_SIZE;
    kind[i] = PLAN_KINDS.indexOf(row.kind);
    format[i] = PLAN_FORMATS.indexOf(row.format);
    base[i] = PLAN_NO_BASE;
    if (row.format === 'full') continue;
    base[i] = PLAN_BASE_OUTSIDE;
    if (row.format !== 'git-delta' || row.base === null) continue;
    writeHex(row.base, raw, 0);
    const j = index.indexOfAt(raw, 0);
    if (j >= 0) base[i] = j;
    else if (thin && opts.have.hasAt(raw, 0)) {
      base[i] = PLAN_BASE_THIN;
      thin.set(raw, i * 20);
    }
  }
  // Storage order: segments by name (the store names them so they sort by creation), then offset.
  const rank = names.map((_, i) => i).sort((a, b) => (names[a] < names[b] ? -1 : names[a] > names[b] ? 1 : 0));
  const segRank = new Uint32Array(names.length);
  rank.forEach((s, r) => (segRank[s] = r));
  const perm = new Int32Array(n);
  for (let i = 0; i < n; i++) perm[i] = i;
  perm.sort((a, b) => segRank[seg[a]] - segRank[seg[b]] || offset[a] - offset[b]);
  const at = new Int32Array(n);
  for (let k = 0; k < n; k++) at[perm[k]] = k;
  // Columns are reordered in place through one scratch column (every value fits a double): a copy
  // of each beside the originals was 42 more bytes an object at the plan's peak (a lazy fetch of
  // 500k blobs plans 500k objects).
  const scratch = new Float64Array(n);
  const permute = <T extends Float64Array | Uint32Array | Uint8Array | Int32Array>(a: T): T => {
    for (let k = 0; k < n; k++) scratch[k] = a[perm[k]];
    for (let k = 0; k < n; k++) a[k] = scratch[k];
    return a;
  };
  const permuteIds = (a: Uint8Array): Uint8Array => {
    const out = new Uint8Array(n * 20);
    for (let k = 0; k < n; k++) out.set(a.subarray(perm[k] * 20, perm[k] * 20 + 20), k * 20);
    return out;
  };
  const newBase = new Int32Array(n);
  for (let k = 0; k < n; k++) {
    const b = base[perm[k]];
    newBase[k] = b >= 0 ? at[b] : b;
  }
  const plan: ReachPlan = {
    count: n,
    segmentNames: names,
    seg: permute(seg),
    offset: permute(offset),
    length: permute(length),
    size: permute(size),
    recordSize: permute(recordSize),
    kind: permute(kind),
    format: permute(format),
    base: newBase,
    ids: permuteIds(packed),
    thinBases: thin && permuteIds(thin),
  };
  return { plan, order: orderReachPlan(plan) };
}

const GIT_DELTA = PLAN_FORMATS.indexOf('git-delta');
const FULL = PLAN_FORMATS.indexOf('full');

/** A compact plan's write order and counts (see reachPlanToPackBytes). */
export interface ReachPackOrder {
  /**
   * Plan indexes in the order written: storage order, with each in-pack base pulled before its
   * delta; null when that is storage order itself (no base after its delta: the usual plan, whose
   * records a push or a compaction wrote bases first), which then costs no array of a million entries.
   */
  order: Int32Array | null;
  /** Position of each plan index in `order` (null with it). */
  pos: Int32Array | null;
  deltas: number;
  reused: number;
}

/** Orders a ReachPlan for writing (bases first, so every reused delta can be OFS_DELTA). */
export function orderReachPlan(plan: ReachPlan): ReachPackOrder {
  const n = plan.count;
  let deltas = 0;
  let reused = 0;
  let inOrder = true;
  for (let i = 0; i < n && inOrder; i++) {
    if (plan.format[i] === FULL) reused++;
    else if (plan.format[i] === GIT_DELTA && (plan.base[i] >= 0 || plan.base[i] === PLAN_BASE_THIN)) {
      reused++;
      deltas++;
      if (plan.base[i] >= i) inOrder = false;
    }
  }
  if (inOrder) return { order: null, pos: null, deltas, reused };
  const order = new Int32Array(n);
  const pos = new Int32Array(n).fill(-1);
  let k = 0;
  deltas = 0;
  reused = 0;
  const chain: number[] = [];
  for (let i = 0; i < n; i++) {
    if (pos[i] >= 0) continue;
    chain.length = 0;
    for (let cur = i; cur >= 0 && pos[cur] < 0; ) {
      // The index bounds chains, so a longer one here is a corrupt index (a loop).
      if (chain.length > MAX_CHAIN_ROWS) throw new PackError('pack-internal', 'delta chain loops in the reachability plan');
      chain.push(cur);
      cur = plan.format[cur] === GIT_DELTA ? plan.base[cur] : -1;
    }
    for (let j = chain.length - 1; j >= 0; j--) {
      const c = chain[j];
      pos[c] = k;
      order[k++] = c;
      if (plan.format[c] === FULL) reused++;
      else if (plan.format[c] === GIT_DELTA && (plan.base[c] >= 0 || plan.base[c] === PLAN_BASE_THIN)) {
        reused++;
        deltas++;
      }
    }
  }
  return { order, pos, deltas, reused };
}

/**
 * The pack of a whole ReachPlan (the full-clone shortcut): records copied in
 * about storage order, read in joined ranges; a delta whose base is in the
 * plan is copied (OFS_DELTA, or REF_DELTA without ofs-delta), anything else
 * (a base outside the closure, a Fossil delta) is rebuilt and deflated.
 * Holds no per-object JS objects: a few typed arrays per object.
 */
export function reachPlanToPackBytes(view: RepoView, plan: ReachPlan, order: ReachPackOrder, ofsDelta: boolean, opts: BuildOptions = {}): ByteStream {
  return entriesToPackBytes(reachEntries(view, plan, order, ofsDelta, opts), plan.count, {
    primitives: view.deps.primitives,
    level: opts.level,
    chunkSize: opts.chunkSize,
    sideband: opts.sideband,
    trailer: order.reused === plan.count ? opts.trailer : undefined,
    buffers: opts.buffers,
  });
}

/** A rebuilt large blob's entry, its zlib stream made as it is read (null when its chain copies out of order: read whole). */
async function largeEntry(view: RepoView, id: string, opts: BuildOptions): Promise<PackWriteEntry | null> {
  const row = await view.deps.index.get(id);
  const src = row && (await storedSource(view.deps, row));
  if (!src) return null;
  const check = (bin: Uint8Array) => {
    if (toHex(bin) !== id) throw new PackError('pack-corrupt-object', `object ${id} does not match its id`, { id });
  };
  const compressed = deflatedStream(src, view.deps.primitives, opts.level ?? 6, opts.verifyRebuilt !== false ? check : undefined);
  return { kind: 'raw', type: 'blob', size: src.size, compressed };
}

/** Most entries yielded in one batch (entriesToPackBytes writes a batch before asking for more). */
const BATCH = 1024;

/** One joined read of reachEntries: the bytes of records at order positions ..until, from `start` of segment `seg`. */
interface RecordRead {
  seg: number;
  start: number;
  until: number;
  buf: Uint8Array;
  /** A record longer than a piece (BuildOptions.piece): `buf` holds its first piece, the rest is read piece by piece as the writer asks. */
  partial: boolean;
}

async function* reachEntries(view: RepoView, plan: ReachPlan, ord: ReachPackOrder, ofsDelta: boolean, opts: BuildOptions): AsyncGenerator<PackWriteEntry[]> {
  const maxRead = opts.maxRead ?? 4 * 1024 * 1024;
  const maxGap = opts.maxGap ?? 64 * 1024;
  const { primitives } = view.deps;
  const segments = opts.records ?? view.deps.segments;
  const { order, pos } = ord;
  /** The plan index written k-th. */
  const at = order === null ? (k: number) => k : (k: number) => order[k];
  const n = plan.count;
  // A copied record longer than a piece goes out in pieces (its delta size must then be known
  // without inflating it: recordSize, kept by the index for every record a push stores).
  const piece = opts.piece ?? 4 * 1024 * 1024;
  const inPieces = (i: number) => plan.length[i] > piece && (plan.format[i] === FULL || plan.recordSize[i] >= 0);
  const reusable = (i: number) => plan.format[i] === FULL || (plan.format[i] === GIT_DELTA && (plan.base[i] >= 0 || plan.base[i] === PLAN_BASE_THIN));
  // With chunkSize the writer copies every record out before asking for the next batch, so the
  // range reads can take turns in two buffers (a batch never outlives the read its records come from).
  const readInto = opts.chunkSize !== undefined && segments.readRangeInto ? segments.readRangeInto.bind(segments) : null;
  // And then, reads that move forward in a segment (past gaps of at most maxGap, as a joined read
  // would) share one request of up to maxForward bytes: a full clone makes a quarter of the requests.
  const forward = readInto && segments.openForward ? segments.openForward.bind(segments) : null;
  const maxForward = opts.maxForward ?? 4 * maxRead;
  // Per segment, the end of its last record the pack copies: a request never asks past it.
  const segEnd = forward ? new Float64Array(plan.segmentNames.length) : null;
  if (segEnd) for (let i = 0; i < n; i++) if (reusable(i)) segEnd[plan.seg[i]] = Math.max(segEnd[plan.seg[i]], plan.offset[i] + plan.length[i]);
  let fwd: ForwardReader | null = null;
  let fwdSeg = -1;
  /**
   * The read starting at order position k (a reusable record), into `into`'s memory: the following
   * reusable records of its segment joined while close and the read stays bounded. Rebuilt objects
   * in between are stepped over (they are read through readObject, not from this buffer): a shallow
   * pack has them every few entries, and each split the reads.
   */
  const read = async (k: number, into: Uint8Array | null): Promise<RecordRead> => {
    const i = at(k);
    const seg = plan.seg[i];
    const offset = plan.offset[i];
    let end = offset + plan.length[i];
    const partial = inPieces(i);
    let j = k;
    while (!partial && j + 1 < n) {
      const m = at(j + 1);
      if (!reusable(m)) {
        j++;
        continue;
      }
      if (plan.seg[m] !== seg || inPieces(m)) break;
      const o = plan.offset[m];
      if (o < end || o - end > maxGap || o + plan.length[m] - offset > maxRead) break;
      end = o + plan.length[m];
      j++;
    }
    if (forward) {
      if (fwd !== null && (fwdSeg !== seg || offset < fwd.position || offset - fwd.position > maxGap || end > fwd.end)) {
        await fwd.close();
        fwd = null;
      }
      if (fwd === null) {
        fwd = await forward(plan.segmentNames[seg], offset, Math.max(end, Math.min(segEnd![seg], offset + maxForward)) - offset);
        fwdSeg = seg;
      }
    }
    return { seg, start: offset, until: j, buf: await readPiece(seg, offset, partial ? piece : end - offset, into), partial };
  };
  /** `length` bytes at `offset` of segment `seg`, through the forward request when there is one (opened by read). */
  const readPiece = (seg: number, offset: number, length: number, into: Uint8Array | null): Promise<Uint8Array> => {
    const name = plan.segmentNames[seg];
    if (fwd !== null) return fwd.readInto(offset, length, into);
    return readInto ? readInto(name, offset, length, into) : segments.readRange(name, offset, length);
  };
  /**
   * The pieces of a record read in part (the first is `first.buf`), each read while the one before
   * goes out: two buffers of a piece whatever the record's size (a 100 MB file is not held whole).
   */
  async function* pieces(first: RecordRead, end: number): AsyncGenerator<Uint8Array> {
    let got = first.buf;
    let at = first.start + got.length;
    let spare: Uint8Array | null = null;
    let next: Promise<Uint8Array> | null = null;
    try {
      while (at < end) {
        next = readPiece(first.seg, at, Math.min(piece, end - at), readInto ? spare : null);
        next.catch(() => undefined);
        yield got;
        spare = got;
        got = await next;
        next = null;
        at += got.length;
      }
      yield got;
    } finally {
      // Stopped early (the client went away): the read under way holds the forward request, closed after this.
      await (next as Promise<Uint8Array> | null)?.catch(() => undefined);
    }
  }
  /** The first order position from k on whose record is copied (n if none). */
  const nextReusable = (k: number) => {
    while (k < n && !reusable(at(k))) k++;
    return k;
  };
  // One read ahead: the next read is under way while the pack is written from this one, so the
  // storage's latency (an R2 request's first byte, its body's transfer) overlaps the copying and the
  // client's pace instead of adding to them. Reads still run one at a time, in order; two buffers.
  let cur: RecordRead | null = null;
  let ahead: Promise<RecordRead> | null = null;
  const start = (k: number, into: Uint8Array | null) => {
    ahead = read(k, into);
    // Awaited when its turn comes (or in finally): a failure then is not an unhandled rejection meanwhile.
    ahead.catch(() => undefined);
  };
  /** The entry copying record i, whose stored bytes are `compressed`. */
  const entryAt = (i: number, compressed: Uint8Array | AsyncIterable<Uint8Array>): PackWriteEntry => {
    if (plan.format[i] === FULL) return { kind: 'raw', type: PLAN_KINDS[plan.kind[i]] as GitObjectType, size: plan.size[i], compressed };
    const b = plan.base[i];
    // inPieces needs recordSize, so only a whole record is ever inflated here.
    const size = plan.recordSize[i] >= 0 ? plan.recordSize[i] : primitives.zlib.inflate(compressed as Uint8Array, maxDeltaSize(plan.size[i])).length;
    const ref = b === PLAN_BASE_THIN ? { id: toHexAt(plan.thinBases!, i * 20, 20) } : ofsDelta ? { index: pos === null ? b : pos[b] } : { id: toHexAt(plan.ids, b * 20, 20) };
    return { kind: 'raw', type: 'delta', size, compressed, base: ref };
  };
  let batch: PackWriteEntry[] = [];
  try {
    for (let k = 0; k < n; k++) {
      if (batch.length >= BATCH) {
        yield batch;
        batch = [];
      }
      const i = at(k);
      if (!reusable(i)) {
        const id = toHexAt(plan.ids, i * 20, 20);
        // A large blob (a changed large file in a shallow or filtered fetch: its base not sent) is made
        // and deflated as its base streams, not held with its base and deflated whole (3x its size).
        const large = plan.size[i] > piece && PLAN_KINDS[plan.kind[i]] === 'blob' ? await largeEntry(view, id, opts) : null;
        if (large) {
          if (batch.length > 0) yield batch;
          batch = [];
          yield [large];
          continue;
        }
        const obj = await view.read(id);
        if (obj === null) throw new PackError('pack-missing-object', `object ${id} is not in the repository`, { id });
        const type = obj.kind as GitObjectType;
        if (opts.verifyRebuilt !== false && gitObjectId(primitives, type, obj.data) !== id) {
          throw new PackError('pack-corrupt-object', `object ${id} does not match its id`, { id });
        }
        // Alone in its batch: rebuilt objects can be large, and a batch holds them all.
        if (batch.length > 0) yield batch;
        batch = [];
        yield [{ kind: 'object', type, data: obj.data }];
        continue;
      }
      if (cur === null || k > cur.until) {
        // The entries so far view the buffer about to be handed to the next read.
        if (batch.length > 0) yield batch;
        batch = [];
        if (ahead === null) start(k, null);
        const free: Uint8Array | null = cur?.buf ?? null;
        cur = await ahead!;
        ahead = null;
        const next = nextReusable(cur.until + 1);
        if (cur.partial) {
          // Alone in its batch, and read to its end by the writer before the next read starts (one
          // forward request, read in order).
          yield [entryAt(i, pieces(cur, plan.offset[i] + plan.length[i]))];
          // (cur.buf's memory went to the pieces' reads; `free` was not touched.)
          if (next < n) start(next, readInto ? free : null);
          continue;
        }
        if (next < n) start(next, readInto ? free : null);
      }
      const seg = plan.seg[i];
      const offset = plan.offset[i];
      const length = plan.length[i];
      if (cur.seg !== seg || offset < cur.start) throw new PackError('pack-internal', 'record read out of order');
      batch.push(entryAt(i, cur.buf.subarray(offset - cur.start, offset - cur.start + length)));
    }
    if (batch.length > 0) yield batch;
  } finally {
    // A read still under way holds the forward request: let it end before closing that.
    await (ahead as Promise<RecordRead> | null)?.catch(() => undefined);
    await (fwd as ForwardReader | null)?.close();
  }
}
