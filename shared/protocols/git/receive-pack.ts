/**
 * receive-pack: the server side of `git push` (gitprotocol-pack "Pushing Data
 * To a Server", git's builtin/receive-pack.c), as one function over a store
 * and byte streams:
 *
 *   receivePack(store, body, opts): ByteStream
 *
 * `body` is the whole POST body (pkt-line commands, optional push options,
 * then the raw pack); the result is the whole response body. It never throws:
 * every failure becomes a protocol reply (`unpack <reason>`, `ng REF reason`,
 * or an `ERR` pkt-line / band-3 message when the request head is unreadable).
 *
 * Steps, as git does them:
 *   1. parse the head (receive-request.ts);
 *   2. stream the pack through the pack reader; each entry's record (its zlib
 *      stream, as received) is appended to a new segment as it arrives, and an
 *      index row (full | git-delta against the base's id) goes into a
 *      QuarantineIndex (rows staged in the store, RowStager); a delta whose chain would pass MAX_CHAIN_DEPTH is
 *      stored as a full text instead (deflated here); every object is parsed;
 *   3. connectivity: every id a new object refers to must be in the pack or
 *      already stored (stored objects are connected by construction), and of
 *      the type the reference says; if some are missing or of another type,
 *      each ref's new tip is walked to say which refs lack objects (`missing
 *      necessary objects`);
 *   4. per command: ref name (`funny refname`), current-branch deletion,
 *      optional fast-forward rule, branches hold commits; `atomic` refuses all
 *      (`atomic push failure`) when one fails;
 *   5. index rows and ref compare-and-swaps commit in ONE transaction
 *      (RepoCommitter.commit); a ref that moved meanwhile is `failed to update
 *      ref` and nothing of an atomic push (nor rows of a push where no ref
 *      moved) becomes visible; an atomic push whose refs fail here, or on a
 *      name conflict (refs/heads/a vs a/b), gets `atomic transaction failed`
 *      on every ref, as git's ref transaction does;
 *   6. an unset HEAD is pointed at the first branch pushed
 *      (refs/heads/main when pushed);
 *   7. report-status(-v2), inside side-band-64k when asked, after progress on
 *      band 2 unless `quiet`.
 *
 * Memory: the pack is never held; the pack reader's base cache is bounded
 * (`maxDeltaBaseCache`), evicted bases are re-read from the segments written
 * (the open segment's recent records are kept up to `segmentRetainBytes`;
 * past that the segment is finished so it can be read back and a new one is
 * started). Per object a few dozen bytes of bookkeeping are kept, as git
 * index-pack does, in typed-array columns and binary id sets: JS objects per
 * pack entry kept to the end cost a 300k-object push ~100 MB. The index rows
 * themselves wait in the store's stage, not in memory.
 */
import { fromHex, releaseNow, toHexAt, writeHex } from '../../core/bytes.js';
import { grownColumn } from '../../core/columns.js';
import { HubError } from '../../core/errors.js';
import { parseCommit } from '../../core/git/commit.js';
import { parseObject, referencedIds } from '../../core/git/object.js';
import type { GitObjectType } from '../../core/git/object-id.js';
import { isAncestor, type CommitGraph } from '../../core/history.js';
import type { Primitives } from '../../core/primitives.js';
import { ByteReader, type ByteStream } from '../../core/stream.js';
import { ChainTooDeepError } from '../../storage/errors.js';
import { IdSet } from '../../storage/id-set.js';
import { MAX_REF_NAME_LENGTH } from '../../storage/ids.js';
import {
  MAX_CHAIN_DEPTH,
  type IndexRowInput,
  type ObjectChainReader,
  type ObjectIndexReader,
  type ObjectKindReader,
  type RepoCommitter,
  type RowStager,
} from '../../storage/object-index.js';
import { LruBaseCache, readObject, type BaseCache, type DeltaAppliers, type ObjectStoreDeps } from '../../storage/object-store.js';
import { QuarantineIndex } from '../../storage/quarantine.js';
import { MAX_REACH_TIPS, REACH_IN, type ReachCommit, type ReachIndex } from '../../storage/reach.js';
import type { RefStore, RefUpdate } from '../../storage/refs.js';
import type { SegmentCreator, SegmentReader, SegmentWriter } from '../../storage/segments.js';
import { DEFAULT_RECEIVE_FEATURES, ProtocolError, ZERO_ID, type ReceivePackFeatures } from './capabilities.js';
import { applyGitDeltaStream, gitDeltaPasses } from '../../delta/git.js';
import { deflatedStream, storedSource } from './large-blob.js';
import { DEFAULT_WINDOW, readPack, setOffset, type OffsetColumn, type PackEntry, type PackObject } from './pack-reader.js';
import { decodePkt, encodePkt, encodePkts } from './pkt-line.js';
import { parseReceiveRequest, type RefCommand, type ReceiveRequest } from './receive-request.js';
import { refNameIsUtf8, refNameProblem } from './ref-name.js';
import { checkTree, CopiedEntries, ENTRY_GITLINK, ENTRY_TREE } from './tree-check.js';
import { reportStatusResponse, type PushReport, type RefStatus } from './report-status.js';
import { BAND_ERROR, BAND_PROGRESS, encodeSideband } from './sideband.js';

/** Parse options for pushed objects: odd modes and unsorted trees are fsck's concern; git's receive-pack takes them. */
const LENIENT = { legacyModes: true, anyOrder: true } as const;

/** What receive-pack needs of one repository (the routes' GitRepo fits as is). */
export interface ReceivePackStore {
  refs: RefStore;
  /** The committed index; `chain` makes reads of deep objects one call. */
  index: ObjectIndexReader & Partial<ObjectChainReader> & Partial<ObjectKindReader> & Partial<Pick<ReachIndex, 'reachState' | 'reachStatus'>>;
  /** Commits; its stages hold the push's rows until then. */
  committer: RepoCommitter & RowStager;
  segments: SegmentCreator & SegmentReader;
  primitives: Primitives;
  appliers: DeltaAppliers;
}

/** Options of receivePack (every field optional). */
export interface ReceivePackOptions {
  /** What the advertisement offered (atomic, push-options). Default DEFAULT_RECEIVE_FEATURES. */
  receiveFeatures?: ReceivePackFeatures;
  /** git's receive.denyNonFastForwards: refuse non-fast-forward updates of refs/heads/*. Default false. */
  denyNonFastForwards?: boolean;
  /** git's receive.denyDeletes: refuse deleting refs/heads/*. Default false. */
  denyDeletes?: boolean;
  /** git's receive.denyDeleteCurrent: refuse deleting the branch HEAD points at. Default true (git's default). */
  denyDeleteCurrent?: boolean;
  /** Largest pack accepted, in bytes (HUB_MAX_PUSH_BYTES). Default 100 MiB. */
  maxPackBytes?: number;
  /** Largest object or delta in the pack. Default: the pack reader's (256 MiB). */
  maxObjectSize?: number;
  /** Bytes of resolved contents cached for delta bases. Default DEFAULT_DELTA_BASE_CACHE (4 MiB). */
  maxDeltaBaseCache?: number;
  /** Records of the open segment kept in memory for delta-base re-reads. Default DEFAULT_SEGMENT_RETAIN (4 MiB). */
  segmentRetainBytes?: number;
  /** The pack reader's window: entries over it are streamed into their records. Default: the reader's (4 MiB). */
  window?: number;
  /** Milliseconds between progress lines. Default 1000. */
  progressInterval?: number;
  /** Told of every unexpected (non-client) error, for logging. */
  onError?: (e: unknown) => void;
  /** Told of each chunk of the pack read past (packBytesToEntries' releaseChunk): the body's ChunkPool.release. */
  releaseChunk?: (chunk: Uint8Array) => void;
  /**
   * The host's own policy (the hub's branch protection): why an update may
   * not go ahead, or undefined. Asked after git's own checks pass; the reason
   * goes to the client as `ng REF <reason>`.
   */
  checkUpdate?: (update: UpdateToCheck) => Promise<string | undefined> | string | undefined;
  /** Told of the ref updates a push applied, after they are committed (the hub's audit log). */
  onApplied?: (updates: RefUpdate[]) => Promise<void> | void;
  /** Told of each annotated tag of the pack as it is parsed: its id and what it names (the hub records peeled tags). */
  onTag?: (id: string, objectType: GitObjectType, object: string) => void;
}

/** One requested ref update, as ReceivePackOptions.checkUpdate sees it (null ids: create / delete). */
export interface UpdateToCheck {
  ref: string;
  oldId: string | null;
  newId: string | null;
  /** Whether newId descends from oldId (walks history: ask only when it matters). */
  isFastForward(): Promise<boolean>;
}

/** Default HUB_MAX_PUSH_BYTES: the common Cloudflare plan's request body limit. */
export const DEFAULT_MAX_PACK_BYTES = 100 * 1024 * 1024;
/**
 * Default maxDeltaBaseCache, sized for a 128 MB isolate: the pack reader's
 * ring of resolved contents (git index-pack's delta_base_cache_limit is 96 MiB,
 * but it has the whole machine). Evicted bases are rebuilt from their records.
 * The 392 MiB bench pack (Node, bench/push-heap.ts) re-reads 0 bases at 16 MiB,
 * 1 at 8, 33 at 4 (same CPU) and 316k at 2 MiB (twice the CPU). 4: in workerd
 * the large and 1M-object pushes took the same CPU at 4 as at 8 (bench/git-memory.ts).
 */
export const DEFAULT_DELTA_BASE_CACHE = 4 * 1024 * 1024;
/**
 * Default segmentRetainBytes: records of the open segment kept for re-reads,
 * when its writer cannot read back (SegmentWriter.readBack; R2's and the
 * memory store's can, so nothing is copied for them: re-reads of both bench
 * corpora were 0.3-0.8 MiB behind the write end). A re-read of a record
 * neither kept nor held finishes the open segment, so without either a small
 * push that re-reads bases (4076 objects) was cut into many small segments,
 * and its clone read them one by one (0.03 -> 0.37 s CPU).
 */
export const DEFAULT_SEGMENT_RETAIN = 4 * 1024 * 1024;
/**
 * Cache of objects read through the quarantine during the ingest (thin-pack
 * bases outside the pack and their chains): one for the whole push, next to the
 * pack reader's own cache, which keeps each base once read.
 */
const INGEST_READ_CACHE = 4 * 1024 * 1024;
/** Cache of one walk after the ingest (connectivity, ancestry), when the pack reader's is gone. */
const WALK_READ_CACHE = 16 * 1024 * 1024;
/**
 * Rows handed to QuarantineIndex.add at once (one index round trip each). Few: rows waiting here
 * (objects with hex ids) outlive V8's scavenges, and V8 grows its young generation by what survives
 * them; with 1000 here and 1000 in the quarantine a million-object push grew it to 2 x 32 MiB.
 */
const ROW_BATCH = 100;
/** Ids per has() call. */
const HAS_BATCH = 1000;
/** Objects visited by one ref's connectivity walk (error path only). */
const MAX_WALK_OBJECTS = 5_000_000;

const REASON_UNPACKER = 'unpacker error';
const REASON_MISSING = 'missing necessary objects';
const REASON_ATOMIC = 'atomic push failure';
const REASON_ATOMIC_TX = 'atomic transaction failed';
/**
 * The longest ref name component, in UTF-8 bytes, that git's files backend
 * can lock: it creates "<component>.lock", past NAME_MAX (255) "File name too
 * long". Such a ref could not be fetched into a clone either, so the hub
 * refuses it as git http-backend does, in its words. Whole names are held to
 * the ref store's MAX_REF_NAME_LENGTH (git's limit is PATH_MAX, 4096 with the
 * repository's path), refused in the same words.
 */
const MAX_REF_COMPONENT_BYTES = 250;
const MAX_REF_BYTES = MAX_REF_NAME_LENGTH;
/**
 * git's transfer.unpackLimit default: its receive-pack unpacks a pack of fewer
 * objects with unpack-objects, which ignores bytes after the trailer, and
 * indexes a larger one with index-pack, which refuses them ("pack has junk at
 * the end"). The hub does the same, so a push is taken or refused as by git.
 */
const GIT_UNPACK_LIMIT = 100;
/** git's empty tree: present in every repository (a virtual object), so a pack may refer to it without it. */
const EMPTY_TREE = '4b825dc642cb6eb9a060e54bf8d69288fbee4904';

/** Object types as small codes (0: not known yet) for the push's type checks. */
const TYPE_CODE: Record<GitObjectType, number> = { commit: 1, tree: 2, blob: 3, tag: 4 };
const TYPE_NAMES = ['unknown', 'commit', 'tree', 'blob', 'tag'];
/** Push.marks: bits of the kind seen, the kind expected by a referrer ahead of the object, and whether a pack object refers to it. */
const MARK_KIND = 0x07;
const AHEAD_SHIFT = 3;
const MARK_AHEAD = 0x07 << AHEAD_SHIFT;
const MARK_REFERENCED = 0x40;

/** Whether git's files backend could not lock `ref` (MAX_REF_COMPONENT_BYTES, MAX_REF_BYTES). */
function refTooLong(ref: string): boolean {
  const bytes = new TextEncoder().encode(ref);
  if (bytes.length > MAX_REF_BYTES) return true;
  let start = 0;
  for (let i = 0; i <= bytes.length; i++) {
    if (i < bytes.length && bytes[i] !== 0x2f) continue;
    if (i - start > MAX_REF_COMPONENT_BYTES) return true;
    start = i + 1;
  }
  return false;
}

/** The receive-pack response for `body` (see the file comment). Never throws; errors are protocol replies. */
export function receivePack(store: ReceivePackStore, body: ByteStream, opts: ReceivePackOptions = {}): ByteStream {
  return run(store, body, opts);
}

/** Text of an error for the wire (client faults keep their message; others are reported as internal). */
function errorText(e: unknown): string {
  if (e instanceof HubError) return e.message;
  return `internal error: ${e instanceof Error ? e.message : String(e)}`;
}

async function* run(store: ReceivePackStore, body: ByteStream, opts: ReceivePackOptions): AsyncGenerator<Uint8Array> {
  const features = opts.receiveFeatures ?? DEFAULT_RECEIVE_FEATURES;
  const reader = new ByteReader(body);
  let req: ReceiveRequest;
  try {
    req = await readHead(reader, features);
  } catch (e) {
    if (!(e instanceof HubError)) opts.onError?.(e);
    // A client that asked for side-band demultiplexes the whole answer, so an
    // error must go on band 3 if the first command line (already seen) asked for it.
    const seen = reader.buffered > 0 ? await reader.peek(reader.buffered).catch(() => new Uint8Array(0)) : new Uint8Array(0);
    await reader.cancel().catch(() => undefined);
    if (asksForSideBand(seen)) yield* encodeSideband(BAND_ERROR, `${errorText(e)}\n`), yield FLUSH_BYTES;
    else yield encodePkt(`ERR ${errorText(e)}\n`);
    return;
  }
  if (req.commands.length === 0) {
    await reader.cancel().catch(() => undefined);
    return;
  }
  const push = new Push(store, req, opts);
  try {
    yield* push.run(reader);
  } catch (e) {
    // Only a bug gets here (every step maps its errors); still a protocol reply.
    opts.onError?.(e);
    const text = `receive-pack failed: ${errorText(e)}`;
    if (req.sideBand) yield* encodeSideband(BAND_ERROR, `${text}\n`);
    else yield encodePkt(`ERR ${text}\n`);
  } finally {
    await reader.cancel().catch(() => undefined);
  }
}

const FLUSH_BYTES = new TextEncoder().encode('0000');

/** Whether the first command line of a (possibly partial) push head asks for side-band(-64k). */
function asksForSideBand(head: Uint8Array): boolean {
  let first;
  try {
    first = decodePkt(head, 0);
  } catch {
    return false; // not even a pkt-line: answer with ERR
  }
  if (first.kind !== 'data') return false;
  const nul = first.payload.indexOf(0);
  if (nul < 0) return false;
  const caps = new TextDecoder().decode(first.payload.subarray(nul + 1)).trim().split(' ');
  return caps.includes('side-band-64k') || caps.includes('side-band');
}

/** Reads and parses the request head, leaving `reader` at the pack. */
async function readHead(reader: ByteReader, features: ReceivePackFeatures): Promise<ReceiveRequest> {
  let want = 4096;
  for (;;) {
    const buf = await reader.peek(want);
    const final = buf.length < want;
    const r = parseReceiveRequest(buf, features, final);
    if (r.kind === 'done') {
      await reader.skip(r.packOffset);
      return r.request;
    }
    // Grow geometrically: the head is re-parsed from its start each time.
    want = Math.max(want * 2, buf.length + r.bytes);
  }
}

/** The rest of a ByteReader as a stream, counting bytes against `limit`. */
async function* remainder(reader: ByteReader, limit: number): ByteStream {
  let total = 0;
  for (;;) {
    const chunk = await reader.peekChunk();
    if (!chunk) return;
    total += chunk.length;
    if (total > limit) throw new ProtocolError('too-large', `push larger than the limit of ${limit} bytes`, { limit });
    await reader.skip(chunk.length);
    yield chunk;
  }
}

/**
 * Where each pack entry's record was written, by entry number: segment index,
 * record offset and length (a delta's inflated size, the row's recordSize,
 * comes with its object: PackObject.entrySize). ~4 bytes an entry: entries are
 * written in order, so the segment is kept per run of entries, not per entry;
 * offsets in a segment take 4 bytes until one passes 4 GiB; and a record's
 * length is where the next entry's record starts, kept apart only where the
 * next one does not follow it (the last entry, a segment's last, one followed
 * by a record of the push's own).
 */
class EntryLocs {
  /** The first entry of each run of entries written to one segment, and that segment's index. */
  private readonly runFirst: number[] = [];
  private readonly runSeg: number[] = [];
  private off: OffsetColumn = new Uint32Array(0);
  /** Lengths of the records the next entry's record does not follow (few), by entry. */
  private readonly ends = new Map<number, number>();
  /** The last entry set: its segment, record length, and where its record ends. */
  private last = -1;
  private lastSeg = -1;
  private lastLen = 0;
  private lastEnd = 0;
  /** The pack's declared entry count: the column is reserved at it (grownColumn). */
  expected = Number.POSITIVE_INFINITY;

  /** Records entry `i`'s location; entries come in order (i is the entry after the last one set). */
  set(i: number, seg: number, off: number, len: number): void {
    if (i >= this.off.length) this.off = grownColumn(this.off, i, this.expected);
    if (this.runSeg.length === 0 || this.runSeg[this.runSeg.length - 1] !== seg) {
      this.runFirst.push(i);
      this.runSeg.push(seg);
    }
    if (this.last >= 0 && (seg !== this.lastSeg || off !== this.lastEnd)) this.ends.set(this.last, this.lastLen);
    this.off = setOffset(this.off, i, off);
    this.last = i;
    this.lastSeg = seg;
    this.lastLen = len;
    this.lastEnd = off + len;
  }

  /** Frees the column now (not at V8's next full GC); the locations are gone. */
  release(): void {
    releaseNow(this.off);
  }

  /** The segment index of entry `i` (the last run starting at or before it: usually the last run). */
  seg(i: number): number {
    const first = this.runFirst;
    let lo = 0;
    let hi = first.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >>> 1;
      if (first[mid] <= i) lo = mid;
      else hi = mid - 1;
    }
    return this.runSeg[lo];
  }

  offset(i: number): number {
    return this.off[i];
  }

  length(i: number): number {
    if (i === this.last) return this.lastLen;
    return this.ends.get(i) ?? this.off[i + 1] - this.off[i];
  }
}

/**
 * Parents and commit times of the pack's commits, by packIds index, as the
 * ingest parsed them: an ancestry check of a ref update (denyNonFastForwards,
 * a protected branch) walks a deep fast-forward's new commits here instead of
 * reading each back from its segment (29,000 new commits: one read each).
 * ~40 bytes a commit, kept only when a command may need it (Push.commits).
 */
class PackCommits {
  /** Commit number by packIds index. */
  private readonly numbers = new Map<number, number>();
  private times = new Float64Array(256);
  /** Commit n's parents are parents[start[n] .. start[n + 1]) (packIds indexes). */
  private start = new Uint32Array(257);
  private parents = new Int32Array(256);

  add(k: number, time: number, parents: number[]): void {
    const n = this.numbers.size;
    if (this.numbers.has(k)) return;
    if (n + 1 >= this.times.length) {
      this.times = grownColumn(this.times, n + 1);
      this.start = grownColumn(this.start, n + 2);
    }
    const at = this.start[n];
    while (at + parents.length > this.parents.length) this.parents = grownColumn(this.parents, this.parents.length);
    this.parents.set(parents, at);
    this.times[n] = time;
    this.start[n + 1] = at + parents.length;
    this.numbers.set(k, n);
  }

  /** The commit at packIds index `k` (parents as packIds indexes), or undefined when the pack has none there. */
  get(k: number): { time: number; parents: Int32Array } | undefined {
    const n = this.numbers.get(k);
    if (n === undefined) return undefined;
    return { time: this.times[n], parents: this.parents.subarray(this.start[n], this.start[n + 1]) };
  }
}

const NO_LINE: Uint8Array[] = [];

/** Progress lines on band 2, throttled. */
class Progress {
  private last = Date.now();
  /** Whether a line has been shown (short pushes show only the final lines). */
  shown = false;
  constructor(
    private readonly enabled: boolean,
    private readonly interval: number,
  ) {}
  /** A `\r` progress line once the interval has passed since the last (or a `done` line). */
  line(title: string, n: number, total: number | null, done = false): Uint8Array[] {
    if (!this.enabled) return NO_LINE;
    const now = Date.now();
    if (!done && now - this.last < this.interval) return NO_LINE;
    this.last = now;
    this.shown = true;
    const count = total === null ? `${n}` : `${total === 0 ? 100 : Math.floor((n * 100) / total)}% (${n}/${total})`;
    return encodeSideband(BAND_PROGRESS, `${title}: ${count}${done ? ', done.\n' : '\r'}`);
  }
}

/** One push: its pack ingest, checks and commit. */
class Push {
  readonly p: Primitives;
  readonly quarantine: QuarantineIndex;
  /** Messages for band 2 (`remote: ...`), sent before the report. */
  readonly messages: string[] = [];
  readonly progress: Progress;
  /** Segments written by this push, by index. */
  readonly segIds: string[] = [];
  writer: SegmentWriter | null = null;
  /** Records of the open segment kept for re-reads: entry offset -> its record (zlib stream). */
  retained = new Map<number, Uint8Array>();
  retainedBytes = 0;
  /** Entries' record locations: read by the ingest only (base re-reads, rows), dropped at its end. */
  locs = new EntryLocs();
  /** Entries read so far (locs holds entries 0..entryCount-1). */
  entryCount = 0;
  /** Ids of the objects in pendingRows and their depths by IdSet index (the rest of the pack's objects are in the quarantine). */
  pendingIds = new IdSet();
  /**
   * Every object id of the pack resolved so far (the pack reader's own set,
   * shared): the push's new objects, pending or in the quarantine, are exactly
   * these, so "is it new?" is one lookup instead of one in pendingIds and
   * another in the quarantine.
   */
  readonly packIds = new IdSet();
  pendingDepths = new Uint8Array(ROW_BATCH);
  /** Committed depths of bases outside the pack (thin packs). */
  readonly externalDepths = new Map<string, number>();
  /**
   * Ids referred to by pack objects and neither in the pack nor indexed, once
   * the pack is read (pruneMissing): none in a push git accepts.
   */
  missing = new IdSet();
  /**
   * What the push knows of each packIds index, in one byte (three columns of
   * one took 3 bytes an id): MARK_KIND, the object's TYPE_CODE once seen (0:
   * not a pack object, yet); MARK_AHEAD, for an id referred to ahead of its
   * object, the type code its first referrer expects; MARK_REFERENCED.
   *
   * Ids referred to ahead of their object (in a first push, trees name blobs
   * that come later: nearly every id) are added to packIds when first named,
   * so each id is held once: an index whose kind is still 0 is such an id,
   * not (yet) a pack object; aheadFrom holds its first referrer's index.
   * Settled once, at the end of the pack (pruneMissing): pruning as they came
   * re-checked the same ids again and again. A separate IdSet of them cost
   * ~33 bytes an id (a 1M-object first push: ~31 MiB).
   *
   * Type checks of the pack's references (git's connectivity walk fails on "is
   * a blob, not a tree") read the kinds; referenced is for marking the push
   * into the reachability closure (reachCommit): another pack object refers
   * to the id.
   */
  marks = new Uint8Array(1024);
  aheadFrom = new Int32Array(1024);
  /** Ids added to packIds by edgeAt, ahead of (or instead of) their object. */
  aheadCount = 0;
  /** The pack's declared object count: per-object columns grow to it, not past it by up to 2x. */
  expected = Number.POSITIVE_INFINITY;
  /** The ids pack objects refer to that were already indexed (reachCommit). */
  readonly outside = new IdSet();
  /**
   * Edges whose target's kind was not known when seen, left for the end of the pack; and the new
   * objects with an edge to an object of another type (their tips are not connected).
   */
  readonly later: { from: number; id: string; want: number }[] = [];
  readonly broken = new Set<string>();
  /**
   * Each id found of another type than an edge to it wants, with that type
   * code: a new object with such an edge is not connected, whether or not it
   * is the referrer marked broken (only the first referrer of an id, or of a
   * tree entry copied from a base, is seen by the checks above).
   */
  readonly wrongEdges = new Set<string>();
  pendingRows: IndexRowInput[] = [];
  /** The pack's commits for Push.graph, when a command updates a ref whose ancestry may be checked; else null. */
  readonly commits: PackCommits | null;
  /** Reads during the ingest (baseProvider, rebased rows) share this cache: a fresh one per read re-read whole chains each time. */
  ingestCache: BaseCache = new LruBaseCache(INGEST_READ_CACHE);
  deltas = 0;
  objects = 0;
  /** One id's bytes for lookups (no Uint8Array per delta). */
  readonly scratch = new Uint8Array(20);
  /** The copied entries of the tree being checked (one, made again per tree: its arrays are reused). */
  readonly copiedEntries = new CopiedEntries();

  constructor(
    readonly store: ReceivePackStore,
    readonly req: ReceiveRequest,
    readonly opts: ReceivePackOptions,
  ) {
    this.p = store.primitives;
    // The pack's id set: every quarantined row is a pack object, so the quarantine keeps no second copy of the ids.
    this.quarantine = new QuarantineIndex(store.index, store.committer, undefined, this.packIds);
    this.progress = new Progress(req.sideBand && !req.quiet, opts.progressInterval ?? 1000);
    const checksAncestry = opts.denyNonFastForwards === true || opts.checkUpdate !== undefined;
    this.commits = checksAncestry && req.commands.some((c) => c.oldId !== ZERO_ID && c.newId !== ZERO_ID) ? new PackCommits() : null;
  }

  /** Object reads through quarantine over the committed index (a walk's own cache unless given one). */
  deps(cache: BaseCache = new LruBaseCache(WALK_READ_CACHE)): ObjectStoreDeps {
    return { index: this.quarantine, segments: this.store.segments, primitives: this.p, appliers: this.store.appliers, cache };
  }

  async *run(reader: ByteReader): AsyncGenerator<Uint8Array> {
    try {
      yield* this.steps(reader);
    } finally {
      // Committed or not, the staged rows are done with (a stage left by a crash is swept at the store's next start).
      await this.quarantine.drop().catch((e) => this.opts.onError?.(e));
    }
  }

  async *steps(reader: ByteReader): AsyncGenerator<Uint8Array> {
    const req = this.req;
    let unpack: PushReport['unpack'] = { ok: true };
    if (req.packExpected) {
      try {
        yield* this.ingest(remainder(reader, this.opts.maxPackBytes ?? DEFAULT_MAX_PACK_BYTES));
      } catch (e) {
        if (!(e instanceof HubError)) this.opts.onError?.(e);
        unpack = { ok: false, error: errorText(e) };
        await this.writer?.abort().catch(() => undefined);
        this.writer = null;
      }
    }
    let statuses: RefStatus[];
    if (!unpack.ok) {
      this.messages.push(`error: ${unpack.error}`);
      statuses = req.commands.map((c) => ({ ref: c.ref, ok: false, reason: REASON_UNPACKER }));
    } else {
      statuses = await this.decide();
    }
    for (const m of this.messages) if (req.sideBand) yield* encodeSideband(BAND_PROGRESS, `${m}\n`);
    if (req.report === 'none') {
      if (req.sideBand) yield encodePkts([{ kind: 'flush' }]);
      return;
    }
    yield encodePkts(reportStatusResponse({ unpack, refs: statuses }, { sideBand: req.sideBand, v2: req.report === 'report-status-v2' }));
  }

  // ---- ingest -------------------------------------------------------------

  async openWriter(): Promise<SegmentWriter> {
    if (!this.writer) {
      this.writer = await this.store.segments.create();
      this.segIds.push(this.writer.segment);
      this.retained = new Map();
      this.retainedBytes = 0;
    }
    return this.writer;
  }

  async finishWriter(): Promise<void> {
    if (!this.writer) return;
    const w = this.writer;
    this.writer = null;
    this.retained = new Map();
    this.retainedBytes = 0;
    await w.finish();
  }

  /** Appends one record to the open segment; returns its segment index and location. */
  async writeRecord(bytes: Uint8Array): Promise<{ seg: number; off: number; len: number }> {
    const w = await this.openWriter();
    if (bytes.length > 0) await w.write(bytes);
    const loc = w.endRecord();
    return { seg: this.segIds.length - 1, off: loc.offset, len: loc.length };
  }

  /** The record (zlib stream) of entry number `index` (at `offset`), for the pack reader to rebuild an evicted base. */
  async readEntry(offset: number, index: number): Promise<Uint8Array> {
    if (!(index >= 0 && index < this.entryCount)) throw new ProtocolError('internal', `no entry at ${offset}`);
    const seg = this.locs.seg(index);
    const kept = this.retained.get(offset);
    if (kept && seg === this.segIds.length - 1 && this.writer) return kept;
    const off = this.locs.offset(index);
    const len = this.locs.length(index);
    // The open segment cannot be read from the store: from the writer's memory if it still holds the
    // record (a recent one), else finish the segment and carry on in a new one.
    const open = this.writer && seg === this.segIds.length - 1 ? this.writer : null;
    const held = open?.readBack?.(off, len) ?? null;
    if (open && !held) await this.finishWriter();
    return held ?? (await this.store.segments.readRange(this.segIds[seg], off, len));
  }

  /** The record (zlib stream) of entry number `index`, streamed from its segment: a large base read as it passes. */
  async *readEntryStream(offset: number, index: number): AsyncGenerator<Uint8Array> {
    if (!(index >= 0 && index < this.entryCount)) throw new ProtocolError('internal', `no entry at ${offset}`);
    const seg = this.locs.seg(index);
    const open = this.writer && seg === this.segIds.length - 1 ? this.writer : null;
    const held = open?.readBack?.(this.locs.offset(index), this.locs.length(index)) ?? null;
    if (held) return yield held;
    if (open) await this.finishWriter();
    yield* this.store.segments.readStream(this.segIds[seg], this.locs.offset(index), this.locs.length(index));
  }

  /** Whether the binary id at `src[off..]` is one of this push's new objects (in the quarantine or about to be). */
  isNewAt(src: Uint8Array, off: number): boolean {
    return this.seen(this.packIds.indexOfAt(src, off));
  }

  /** Whether packIds index `k` is a pack object's (not an id only referred to ahead of it). */
  seen(k: number): boolean {
    return k >= 0 && k < this.marks.length && (this.marks[k] & MARK_KIND) !== 0;
  }

  isNew(id: string): boolean {
    return this.isNewAt(fromHex(id), 0);
  }

  /** isNewAt, noting that a pack object refers to it (for reachCommit). */
  referAt(src: Uint8Array, off: number): boolean {
    return this.referIndex(src, off) >= 0;
  }

  /** referAt, giving the packIds index (or -1). */
  referIndex(src: Uint8Array, off: number): number {
    const k = this.packIds.indexOfAt(src, off);
    if (!this.seen(k)) return -1;
    this.markReferenced(k);
    return k;
  }

  /** marks, grown to hold index `k`. */
  growMarks(k: number): void {
    if (k >= this.marks.length) this.marks = grownColumn(this.marks, k, this.expected);
  }

  markReferenced(k: number): void {
    this.growMarks(k);
    this.marks[k] |= MARK_REFERENCED;
  }

  /**
   * An edge of pack object `from` (packIds index) to the id at src[off..], which must be of TYPE_CODE `want`.
   * git writes every tree before any blob, so in a first push nearly every tree entry names an id
   * first seen ahead of its object, and later trees name it again (9M entries in 176k trees of the
   * large corpus): one lookup in packIds says which. Whether an id referred to ahead has arrived since
   * is settled at the end of the pack (pruneMissing marks it referenced and checks its kind), as for its
   * first referrer.
   */
  edgeAt(src: Uint8Array, off: number, want: number, from: number): void {
    const size = this.packIds.size;
    const k = this.packIds.indexOrAddAt(src, off);
    if (k === size) {
      // Named ahead of its object (or outside the pack).
      this.growMarks(k);
      if (k >= this.aheadFrom.length) this.aheadFrom = grownColumn(this.aheadFrom, k, this.expected);
      this.marks[k] |= want << AHEAD_SHIFT;
      this.aheadFrom[k] = from;
      this.aheadCount++;
      return;
    }
    if (this.seen(k)) {
      this.markReferenced(k);
      return this.checkKind(from, this.marks[k] & MARK_KIND, want, src, off);
    }
    if (((this.marks[k] & MARK_AHEAD) >> AHEAD_SHIFT) !== want) this.later.push({ from, id: toHexAt(src, off, 20), want });
  }

  /** Marks `from` broken when the kind found (`have`, 0 when not known yet: checked at the end) is not `want`. */
  checkKind(from: number, have: number, want: number, src: Uint8Array, off: number): void {
    if (have === 0) this.later.push({ from, id: toHexAt(src, off, 20), want });
    else if (have !== want) {
      this.wrongEdges.add(`${toHexAt(src, off, 20)}${want}`);
      const id = this.packIds.at(from);
      if (this.broken.size < 10) this.messages.push(`error: object ${toHexAt(src, off, 20)} is a ${TYPE_NAMES[have] ?? 'different object'}, not a ${TYPE_NAMES[want]} (referred to by ${id})`);
      this.broken.add(id);
    }
  }

  async *ingest(pack: ByteStream): AsyncGenerator<Uint8Array> {
    let count = 0;
    // The reader calls the push back per event (no event objects and promises per object, see readPack);
    // the progress lines it makes meanwhile wait here and go out as they come.
    const lines: Uint8Array[] = [];
    let wake: (() => void) | null = null;
    let read: { ok: true } | { ok: false; error: unknown } | null = null;
    let stopped = false;
    const going = () => {
      if (stopped) throw new ProtocolError('internal', 'the push stopped reading its pack');
    };
    const reading = readPack(pack, {
      primitives: this.p,
      baseProvider: async (id) => {
        // A blob over the window is read as it streams (a small edit's delta on a 100 MB file), not held.
        const row = await this.quarantine.get(id).catch(() => null);
        const large = row?.kind === 'blob' && row.size > (this.opts.window ?? DEFAULT_WINDOW) ? await storedSource(this.deps(this.ingestCache), row) : null;
        if (large) return { ...large, whole: async () => (await readObject(this.deps(this.ingestCache), id))!.data };
        const obj = await readObject(this.deps(this.ingestCache), id).catch(() => null);
        if (!obj || obj.kind === 'artifact') return null;
        return { type: obj.kind, data: obj.data };
      },
      readEntry: (offset, index) => this.readEntry(offset, index),
      readEntryStream: (offset, index) => this.readEntryStream(offset, index),
      maxObjectSize: this.opts.maxObjectSize,
      maxDeltaBaseCache: this.opts.maxDeltaBaseCache ?? DEFAULT_DELTA_BASE_CACHE,
      window: this.opts.window,
      ids: this.packIds,
      releaseChunk: this.opts.releaseChunk,
      trailingDataBelow: GIT_UNPACK_LIMIT,
    }, {
      header: (_version, n) => {
        count = n;
        this.expected = count;
        this.locs.expected = count;
        // packIds also holds ids named ahead of their objects; the count only stops its slab's growth past it
        this.packIds.expect(count);
        this.quarantine.expect(count);
      },
      // A large entry's record, piece by piece.
      part: async (bytes) => (going(), await (this.writer ?? (await this.openWriter())).write(bytes)),
      entry: (entry) => (going(), this.onEntry(entry)),
      object: (obj) => {
        going();
        const took = this.onObject(obj);
        const line = this.progress.line('Receiving objects', this.objects, count);
        if (line.length > 0) lines.push(...line), wake?.();
        return took;
      },
    }).then(
      () => void (read = { ok: true }),
      (error: unknown) => void (read = { ok: false, error }),
    );
    try {
      while (read === null || lines.length > 0) {
        if (lines.length > 0) yield* lines.splice(0);
        else await Promise.race([reading, new Promise<void>((r) => (wake = r))]);
        wake = null;
      }
    } finally {
      // Left early (the reply's reader went away): the pack reader fails at its next event and ends.
      stopped = true;
      await reading;
    }
    const done = read as { ok: true } | { ok: false; error: unknown };
    if (!done.ok) throw done.error;
    if (this.progress.shown) yield* this.progress.line('Receiving objects', this.objects, count, true);
    if (this.deltas > 0) yield* this.progress.line('Resolving deltas', this.deltas, this.deltas, true);
    await this.addEmptyTree();
    await this.flushRows();
    await this.finishWriter();
    this.ingestCache = new LruBaseCache(INGEST_READ_CACHE); // its contents are garbage now
    this.locs.release(); // ~4 bytes an entry, not needed by the checks and the commit
    this.locs = new EntryLocs();
    await this.checkMissing();
  }

  async onEntry(entry: PackEntry): Promise<void> {
    const raw = entry.raw;
    // writeRecord spelled out: no promise of openWriter's and no location object per entry.
    const w = this.writer ?? (await this.openWriter());
    if (raw.length > entry.headerLength) await w.write(raw.subarray(entry.headerLength));
    const loc = w.endRecord();
    this.locs.set(entry.index, this.segIds.length - 1, loc.offset, loc.length);
    this.entryCount = entry.index + 1;
    // A writer that reads back what it has not uploaded yet serves re-reads of recent records (the only
    // ones the pack reader's base cache re-reads in practice, see DEFAULT_SEGMENT_RETAIN): no copy here.
    const retain = this.writer?.readBack ? 0 : (this.opts.segmentRetainBytes ?? DEFAULT_SEGMENT_RETAIN);
    if (!entry.streamed && this.retainedBytes + raw.length - entry.headerLength <= retain) {
      this.retained.set(entry.offset, raw.slice(entry.headerLength)); // raw is the reader's view, valid until the next event
      this.retainedBytes += raw.length - entry.headerLength;
    }
  }

  /** The tree being checked by checkTree's callback (treeEntry): its packIds index, copied entries, where its next entry starts. */
  treeSelf = 0;
  treeCopied: CopiedEntries | null = null;
  treeStart = 0;
  /** checkTree's callback, one for every tree: an edge per entry not copied whole from its base tree. */
  readonly treeEntry = (kind: number, data: Uint8Array, off: number): void => {
    const from = this.treeStart;
    this.treeStart = off + 20;
    if (kind === ENTRY_GITLINK || (this.treeCopied !== null && this.treeCopied.copied(from, this.treeStart))) return;
    this.edgeAt(data, off, kind === ENTRY_TREE ? TYPE_CODE.tree : TYPE_CODE.blob, this.treeSelf);
  };

  /** Checks and indexes a resolved object; a promise only when it must wait (a base's stored depth, a batch of rows added). */
  onObject(obj: PackObject): void | Promise<void> {
    this.objects++;
    const e = obj.index;
    const self = obj.idIndex;
    this.growMarks(self);
    this.marks[self] |= TYPE_CODE[obj.type];
    // Every object must parse (trees, commits and tags are checked in full),
    // with the tree modes old git wrote that git's receive-pack accepts too.
    if (obj.type === 'tree') {
      // Checked and looked up as the tree's own binary ids: parseTree's entry
      // objects and hex ids were a quarter of a large push's CPU.
      // One lookup an entry in the pack's ids (the object itself is in them
      // already, but no tree, commit or tag can refer to its own id).
      // An entry copied whole from an in-pack base tree is an edge that tree's check already took:
      // the same id and type (wrongEdges makes a wrong one refuse whoever reaches it, see connected).
      this.treeCopied = obj.delta ? this.copiedEntries.of(obj.delta.base, obj.delta.data) : null;
      this.treeStart = 0;
      this.treeSelf = self;
      checkTree(obj.data, LENIENT, this.treeEntry);
    } else {
      const parsed = parseObject(obj.type, obj.data, LENIENT);
      if (parsed.type === 'tag') this.opts.onTag?.(obj.id, parsed.objectType, parsed.object);
      for (const r of referencedIds(parsed)) this.edgeAt(fromHex(r.id), 0, TYPE_CODE[r.type], self);
      // Its parents are in packIds now (edgeAt adds them).
      if (parsed.type === 'commit' && this.commits !== null) this.commits.add(self, parsed.committer?.timestamp ?? 0, parsed.parents.map((id) => this.packIds.indexOfAt(fromHex(id), 0)));
    }
    if (obj.repeat) return; // a repeat within the pack: the first copy is indexed
    const segment = this.segIds[this.locs.seg(e)];
    if (obj.baseId === null) return this.addRow(obj, { id: obj.id, kind: obj.type, size: obj.size, segment, offset: this.locs.offset(e), length: this.locs.length(e), format: 'full', base: null }, 0);
    this.deltas++;
    const known = this.knownDepthOf(obj.baseId);
    if (known !== undefined) return this.addDelta(obj, segment, known + 1);
    return this.depthOf(obj.baseId).then((d) => this.addDelta(obj, segment, d + 1));
  }

  /** addRow of a delta at `depth`: its git-delta row, or past MAX_CHAIN_DEPTH a full one made here. */
  addDelta(obj: PackObject, segment: string, depth: number): void | Promise<void> {
    const e = obj.index;
    if (depth <= MAX_CHAIN_DEPTH) {
      return this.addRow(obj, { id: obj.id, kind: obj.type, size: obj.size, segment, offset: this.locs.offset(e), length: this.locs.length(e), format: 'git-delta', base: obj.baseId, recordSize: obj.entrySize }, depth);
    }
    return (obj.streamed ? this.rebuild(obj) : this.fullRow(obj.id, obj.type, obj.data)).then((row) => this.addRow(obj, row, 0));
  }

  /** Adds an object's row to the pending batch, moved to the quarantine once full. */
  addRow(obj: PackObject, row: IndexRowInput, depth: number): void | Promise<void> {
    this.pendingDepths[this.pendingIds.size] = depth;
    this.pendingIds.addAt(this.packIds.bytes, obj.idIndex * 20);
    this.pendingRows.push(row);
    if (this.pendingRows.length >= ROW_BATCH) return this.flushRows();
  }

  /**
   * Stores the empty tree when the pack refers to it without carrying it and
   * it is not stored yet (git's receive-pack takes such a pack: the empty tree
   * is always present to git): as one more new object, so the checks below
   * find it and clones get it.
   */
  async addEmptyTree(): Promise<void> {
    const bin = fromHex(EMPTY_TREE);
    const k = this.packIds.indexOfAt(bin, 0); // named ahead (only edgeAt adds ids besides the reader)
    if (k < 0 || this.seen(k) || (await this.store.index.has([EMPTY_TREE]))[0]) return;
    this.growMarks(k);
    this.marks[k] |= TYPE_CODE.tree;
    this.pendingDepths[this.pendingIds.size] = 0;
    this.pendingIds.addAt(bin, 0);
    this.pendingRows.push(await this.fullRow(EMPTY_TREE, 'tree', new Uint8Array(0)));
  }

  /**
   * The full row of a streamed delta result (a blob over the reader's window, not held), for the rare
   * one stored full (its chain too deep): its base and its own record read back (made readable first),
   * the delta applied as the base streams and the result deflated as it is made, piece by piece into
   * a new record; or, when a delta of the chain copies out of order, made and deflated whole.
   */
  async rebuild(obj: PackObject): Promise<IndexRowInput> {
    await this.flushRows();
    await this.finishWriter();
    const e = obj.index;
    const raw = await this.store.segments.readRange(this.segIds[this.locs.seg(e)], this.locs.offset(e), this.locs.length(e));
    const delta = this.p.zlib.inflate(raw);
    const baseRow = await this.quarantine.get(obj.baseId!);
    const base = baseRow && (await storedSource(this.deps(this.ingestCache), baseRow));
    if (base && gitDeltaPasses(base.size, delta, obj.size) === 1) {
      const made = { type: obj.type, size: obj.size, read: async (sink: (piece: Uint8Array) => void, stop: () => boolean, pace?: () => Promise<void>) => void (await applyGitDeltaStream(base, delta, obj.size, sink, 1, stop, pace)) };
      const check = (id: Uint8Array) => {
        if (toHexAt(id, 0, 20) !== obj.id) throw new ProtocolError('internal', `${obj.id} made again does not hash to its id`);
      };
      const w = await this.openWriter();
      for await (const piece of deflatedStream(made, this.p, 6, check)) await w.write(piece);
      const loc = w.endRecord();
      return { id: obj.id, kind: obj.type, size: obj.size, segment: this.segIds[this.segIds.length - 1], offset: loc.offset, length: loc.length, format: 'full', base: null };
    }
    const whole = await readObject(this.deps(this.ingestCache), obj.baseId!);
    if (!whole) throw new ProtocolError('internal', `the base of ${obj.id} is not readable`);
    return this.fullRow(obj.id, obj.type, this.store.appliers.git(whole.data, delta, obj.size));
  }

  /** A full record for `data` (deflated here), appended to the open segment. */
  async fullRow(id: string, type: GitObjectType, data: Uint8Array): Promise<IndexRowInput> {
    const { seg, off, len } = await this.writeRecord(this.p.zlib.deflate(data));
    return { id, kind: type, size: data.length, segment: this.segIds[seg], offset: off, length: len, format: 'full', base: null };
  }

  /** depthOf without asking the index: a pack object's depth, or a committed base's already asked; else undefined. */
  knownDepthOf(id: string): number | undefined {
    const bin = this.scratch;
    writeHex(id, bin, 0); // a pack reader's id: hex already
    const k = this.pendingIds.indexOfAt(bin, 0);
    return k >= 0 ? this.pendingDepths[k] : (this.quarantine.depthOfAt(bin, 0) ?? this.externalDepths.get(id));
  }

  /** Stored depth of a delta base: a pack object's, else the committed row's. */
  async depthOf(id: string): Promise<number> {
    const d = this.knownDepthOf(id);
    if (d !== undefined) return d;
    const row = await this.store.index.get(id);
    const depth = row?.depth ?? 0;
    this.externalDepths.set(id, depth);
    return depth;
  }

  /** Moves pending rows into the quarantine; rows a committed duplicate pushed too deep are rebased to full texts. */
  async flushRows(): Promise<void> {
    const rows = this.pendingRows;
    this.pendingRows = [];
    // Their depths are the quarantine's once added (a row stored full below is at 0 there).
    this.pendingIds = new IdSet();
    if (rows.length === 0) return;
    try {
      await this.quarantine.add(rows);
      return;
    } catch (e) {
      if (!(e instanceof ChainTooDeepError)) throw e;
    }
    // Rare: a pack object already stored at another depth lengthened a chain.
    // Add one by one; a row too deep is rebuilt from what is readable and stored full.
    for (const row of rows) {
      try {
        await this.quarantine.add([row]);
      } catch (e) {
        if (!(e instanceof ChainTooDeepError) || row.base === null) throw e;
        await this.finishWriter();
        const base = await readObject(this.deps(this.ingestCache), row.base);
        if (!base) throw e;
        const raw = await this.store.segments.readRange(row.segment, row.offset, row.length);
        const delta = this.p.zlib.inflate(raw);
        const data = this.store.appliers.git(base.data, delta, row.size);
        await this.quarantine.add([await this.fullRow(row.id, row.kind as GitObjectType, data)]);
      }
    }
  }

  /**
   * Settles the ids referred to ahead (aheadKind): those that are pack objects
   * by now are marked referenced and their kind checked; the rest are looked
   * up in the committed index, and those it lacks go to `missing`. Once.
   */
  async pruneMissing(): Promise<void> {
    // Binary ids throughout (hex only for the index query): each hex round trip
    // here was ~1.5% of a large first push, whose trees refer ahead in the pack.
    const { marks, aheadFrom } = this;
    const aheadKind = (i: number) => (marks[i] & MARK_AHEAD) >> AHEAD_SHIFT;
    const bytes = this.packIds.bytes; // nothing adds to packIds any more
    const end = Math.min(this.packIds.size, aheadFrom.length);
    let part: number[] = [];
    const check = async () => {
      const found = await this.storedKinds(part.map((i) => this.packIds.at(i)));
      part.forEach((i, k) => {
        const f = found[k];
        if (f === null) {
          this.missing.addAt(bytes, i * 20);
          return;
        }
        this.outside.addAt(bytes, i * 20);
        if (f !== true) this.checkKind(aheadFrom[i], TYPE_CODE[f as GitObjectType] ?? 0xff, aheadKind(i), bytes, i * 20);
      });
      part = [];
    };
    for (let i = 0; i < end; i++) {
      if (aheadKind(i) === 0) continue;
      if (this.seen(i)) {
        this.markReferenced(i);
        this.checkKind(aheadFrom[i], marks[i] & MARK_KIND, aheadKind(i), bytes, i * 20);
        continue;
      }
      part.push(i);
      if (part.length >= HAS_BATCH) await check();
    }
    if (part.length > 0) await check();
    releaseNow(aheadFrom);
    this.aheadFrom = new Int32Array(0);
    this.aheadCount = 0;
  }

  /** The committed index's kind of each id (null: not indexed; true: indexed, kind unknown to this index). */
  async storedKinds(ids: string[]): Promise<(string | true | null)[]> {
    const index = this.store.index;
    if (index.kinds) return index.kinds(ids);
    return (await index.has(ids)).map((h) => (h ? true : null));
  }

  async checkMissing(): Promise<void> {
    if (this.aheadCount > 0) await this.pruneMissing();
    // Edges whose target's kind was not known when they were seen.
    const later = this.later.splice(0);
    const stored: typeof later = [];
    for (const e of later) {
      const raw = fromHex(e.id);
      const k = this.packIds.indexOfAt(raw, 0);
      if (this.seen(k)) this.checkKind(e.from, this.marks[k] & MARK_KIND, e.want, raw, 0);
      else if (!this.missing.hasAt(raw, 0)) stored.push(e);
    }
    for (let i = 0; i < stored.length; i += HAS_BATCH) {
      const part = stored.slice(i, i + HAS_BATCH);
      const found = await this.storedKinds(part.map((e) => e.id));
      part.forEach((e, k) => typeof found[k] === 'string' && this.checkKind(e.from, TYPE_CODE[found[k] as GitObjectType] ?? 0xff, e.want, fromHex(e.id), 0));
    }
  }

  // ---- decisions ----------------------------------------------------------

  /** Which commands may go ahead, then the commit; one status per command, in order. */
  async decide(): Promise<RefStatus[]> {
    const req = this.req;
    const cmds = req.commands;
    const reasons: (string | null)[] = cmds.map(() => null);
    const head = await this.store.refs.readSymbolic('HEAD');
    // Tips: present in the pack or the store?
    const tips = [...new Set(cmds.filter((c) => c.newId !== ZERO_ID).map((c) => c.newId))];
    const present = new Set<string>();
    for (let i = 0; i < tips.length; i += HAS_BATCH) {
      const part = tips.slice(i, i + HAS_BATCH);
      const has = await this.quarantine.has(part);
      part.forEach((id, k) => has[k] && present.add(id));
    }
    const graph = this.graph();
    for (let i = 0; i < cmds.length; i++) {
      reasons[i] = await this.check(cmds[i], head, present, graph);
      if (reasons[i] === null && this.opts.checkUpdate) reasons[i] = (await this.policyRefusal(cmds[i], graph)) ?? null;
    }
    if (req.atomic && reasons.some((r) => r !== null)) {
      return cmds.map((c, i) => ({ ref: c.ref, ok: false, reason: reasons[i] ?? REASON_ATOMIC }));
    }
    await this.refuseNameConflicts(cmds, reasons);
    // git finds these when it commits the ref transaction: an atomic push's every ref then fails with it.
    if (req.atomic && reasons.some((r) => r !== null)) return cmds.map((c) => ({ ref: c.ref, ok: false, reason: REASON_ATOMIC_TX }));
    const go = cmds.map((_, i) => i).filter((i) => reasons[i] === null);
    if (go.length === 0) return cmds.map((c, i) => ({ ref: c.ref, ok: false, reason: reasons[i]! }));

    const emptyBefore = await this.headNeedsTarget(head);
    const updates: RefUpdate[] = go.map((i) => ({
      name: cmds[i].ref,
      old: cmds[i].oldId === ZERO_ID ? null : cmds[i].oldId,
      new: cmds[i].newId === ZERO_ID ? null : cmds[i].newId,
    }));
    let result;
    try {
      const reach = await this.reachCommit(updates.flatMap((u) => (u.new === null ? [] : [u.new]))).catch((e) => void this.opts.onError?.(e));
      result = await this.store.committer.commit({ rows: [], ...this.quarantine.pendingRows(), refs: updates, atomic: req.atomic, reach });
    } catch (e) {
      if (!(e instanceof HubError)) this.opts.onError?.(e);
      this.messages.push(`error: ${errorText(e)}`);
      return cmds.map((c, i) => ({ ref: c.ref, ok: false, reason: reasons[i] ?? 'failed to update ref' }));
    }
    go.forEach((i, k) => {
      const s = result.refs[k];
      const cmd = cmds[i];
      switch (s.status) {
        case 'ok':
          return;
        case 'aborted':
          reasons[i] = REASON_ATOMIC_TX;
          return;
        case 'stale':
          // git's lock errors, word for word.
          this.messages.push(
            `error: cannot lock ref '${cmd.ref}': ${s.actual === null ? `unable to resolve reference '${cmd.ref}'` : s.expected === null ? 'reference already exists' : `is at ${s.actual} but expected ${s.expected}`}`,
          );
          break;
        case 'symbolic':
          this.messages.push(`error: cannot update symbolic ref '${cmd.ref}'`);
          break;
        case 'duplicate':
          this.messages.push(`error: multiple updates for ref '${cmd.ref}' not allowed`);
          break;
      }
      // git's atomic transaction fails as a whole: every ref gets the transaction's reason. Otherwise
      // each ref's own transaction failed, deletions too ('failed to delete' is only for a refused queueing).
      reasons[i] = req.atomic ? REASON_ATOMIC_TX : 'failed to update ref';
    });
    const statuses = cmds.map((c, i): RefStatus => (reasons[i] === null ? { ref: c.ref, ok: true } : { ref: c.ref, ok: false, reason: reasons[i]! }));
    if (this.opts.onApplied) {
      try {
        await this.opts.onApplied(updates.filter((_, k) => result.refs[k].status === 'ok'));
      } catch (e) {
        // The refs have moved; a failing observer must not turn that into a failed push.
        this.opts.onError?.(e);
      }
    }
    if (emptyBefore) await this.pointHead(cmds.filter((_, i) => reasons[i] === null));
    return statuses;
  }

  /**
   * The closure mark for this push's commit (shared/storage/reach.ts), or
   * undefined. With P the pack's objects and T the new tips, V + P is exactly
   * reach(S + T) when (a) everything P refers to outside P, and every tip
   * outside P, is in V (not merely indexed), and (b) every P object is a tip
   * or is referred to by another P object (then, ids being hashes, every one
   * is below some tip). Both come from what the ingest saw anyway: no walk.
   * Old tips that P refers to (a fast-forward's old tip) leave S, so it
   * stays the refs' tips and a clone's wants match it.
   */
  async reachCommit(tips: string[]): Promise<ReachCommit | undefined> {
    const reach = this.store.index;
    if (!reach.reachState || !reach.reachStatus || this.missing.size > 0 || this.broken.size > 0) return undefined;
    const n = this.packIds.size;
    const t = new Set(tips);
    if (t.size === 0) return undefined;
    let objects = 0; // packIds also holds the ids referred to outside the pack
    for (let k = 0; k < n; k++) {
      if (!this.seen(k)) continue;
      objects++;
      if ((this.marks[k] & MARK_REFERENCED) === 0 && !t.has(this.packIds.at(k))) return undefined;
    }
    // A pack object indexed before the push has no row in the quarantine, so would go unmarked.
    if (this.quarantine.size !== objects) return undefined;
    const state = await reach.reachState();
    const check = [...t].filter((id) => !this.isNew(id));
    for (let i = 0; i < this.outside.size; i++) check.push(this.outside.at(i));
    for (let i = 0; i < check.length; i += HAS_BATCH) {
      const st = await reach.reachStatus(check.slice(i, i + HAS_BATCH));
      if (st.some((x) => x !== REACH_IN)) return undefined;
    }
    const kept = state.tips.filter((id) => !t.has(id) && !this.outside.has(id) && !this.isNew(id));
    const next = [...t, ...kept];
    return next.length <= MAX_REACH_TIPS ? { expect: state.version, tips: next } : undefined;
  }

  /**
   * Refuses creating a ref where a ref is a directory of its name or has it
   * as a directory ("refs/heads/x" and "refs/heads/x/y"), as git's
   * receive-pack does ("cannot lock ref"): a repository holding both cannot
   * be cloned ("cannot process 'refs/heads/x' and 'refs/heads/x/y' at the
   * same time"). Refs this push deletes free their names; creations are
   * taken in order, so the first of two conflicting ones wins.
   */
  async refuseNameConflicts(cmds: RefCommand[], reasons: (string | null)[]): Promise<void> {
    const deleting = new Set(cmds.filter((c, i) => reasons[i] === null && c.newId === ZERO_ID).map((c) => c.ref));
    const created = new Set<string>();
    /** Every directory of a created name ("refs/heads/x" for "refs/heads/x/y"). */
    const createdDirs = new Set<string>();
    const exists = (name: string) => created.has(name) || (!deleting.has(name) && this.store.refs.read(name).then((id) => id !== null));
    for (const [i, cmd] of cmds.entries()) {
      if (reasons[i] !== null || cmd.oldId !== ZERO_ID || cmd.newId === ZERO_ID) continue;
      const parts = cmd.ref.split('/');
      let other: string | undefined;
      // Directories of the new name, below "refs/": few reads each.
      for (let k = 2; k < parts.length && other === undefined; k++) {
        const dir = parts.slice(0, k).join('/');
        if (await exists(dir)) other = dir;
      }
      if (other === undefined && createdDirs.has(cmd.ref)) other = [...created].find((c) => c.startsWith(`${cmd.ref}/`));
      if (other === undefined) other = (await this.store.refs.list(`${cmd.ref}/`)).find((r) => !deleting.has(r.name))?.name;
      if (other !== undefined) {
        this.messages.push(`error: cannot lock ref '${cmd.ref}': '${other}' exists; cannot create '${cmd.ref}'`);
        reasons[i] = 'failed to update ref';
        continue;
      }
      created.add(cmd.ref);
      for (let k = 2; k < parts.length; k++) createdDirs.add(parts.slice(0, k).join('/'));
    }
  }

  /** The host policy's refusal of `cmd` (opts.checkUpdate), or undefined. */
  async policyRefusal(cmd: RefCommand, graph: CommitGraph): Promise<string | undefined> {
    const reason = await this.opts.checkUpdate!({
      ref: cmd.ref,
      oldId: cmd.oldId === ZERO_ID ? null : cmd.oldId,
      newId: cmd.newId === ZERO_ID ? null : cmd.newId,
      isFastForward: () => isAncestor(graph, cmd.oldId, cmd.newId).catch(() => false),
    });
    if (reason !== undefined) this.messages.push(`error: ${cmd.ref}: ${reason}`);
    return reason;
  }

  /** Why `cmd` may not go ahead, or null. */
  async check(cmd: RefCommand, head: string | null, present: Set<string>, graph: CommitGraph): Promise<string | null> {
    // git checks the name after "refs/" as a ref of its own (check_refname_format(name + 5, 0)),
    // which needs a "/": refs/foo and refs/heads are funny too.
    const problem = refNameProblem(cmd.ref) ?? (cmd.ref.indexOf('/', 5) < 0 ? 'one level under refs/' : null);
    if (problem === 'too long' || (problem === null && refTooLong(cmd.ref))) {
      this.messages.push(`error: cannot lock ref '${cmd.ref}': Unable to create '${cmd.ref}.lock': File name too long`);
      return 'failed to update ref';
    }
    if (problem !== null) {
      this.messages.push(`error: refusing to create funny ref '${cmd.ref}' remotely`);
      return 'funny refname';
    }
    // git would take it; the hub stores ref names as UTF-8 text (README: Git hosting).
    if (!refNameIsUtf8(cmd.ref)) return 'refname is not UTF-8';
    const del = cmd.newId === ZERO_ID;
    if (!del) {
      if (!present.has(cmd.newId)) return REASON_MISSING;
      const connected = await this.connected(cmd.newId);
      // A history cut at a commit the pushing clone is shallow at, which we did not have (git's
      // receive-pack, without receive.shallowUpdate, refuses such a ref in these words).
      if (connected === 'shallow') return 'shallow update not allowed';
      if (!connected) return REASON_MISSING;
    }
    const branch = cmd.ref.startsWith('refs/heads/');
    if (del && cmd.oldId !== ZERO_ID) {
      if (this.opts.denyDeletes && branch) {
        this.messages.push(`error: denying ref deletion for ${cmd.ref}`);
        return 'deletion prohibited';
      }
      if ((this.opts.denyDeleteCurrent ?? true) && head === cmd.ref) {
        this.messages.push(`error: refusing to delete the current branch: ${cmd.ref}`);
        return 'deletion of the current branch prohibited';
      }
    }
    if (del) {
      // git's receive-pack says so and deletes nothing (the ref stays absent).
      if (cmd.oldId === ZERO_ID && (await this.store.refs.read(cmd.ref)) === null) this.messages.push('warning: deleting a non-existent ref');
      return null;
    }
    if (branch) {
      const row = await this.quarantine.get(cmd.newId);
      if (row?.kind !== 'commit') {
        this.messages.push(`error: cannot update ref '${cmd.ref}': trying to write non-commit object ${cmd.newId} to branch '${cmd.ref}'`);
        return 'failed to update ref';
      }
      if (this.opts.denyNonFastForwards && cmd.oldId !== ZERO_ID) {
        let ff = false;
        try {
          ff = await isAncestor(graph, cmd.oldId, cmd.newId);
        } catch {
          ff = false;
        }
        if (!ff) {
          this.messages.push(`error: denying non-fast-forward ${cmd.ref} (you should pull first)`);
          return 'non-fast-forward';
        }
      }
    }
    return null;
  }

  /** Commits for ancestry checks: the pack's as the ingest parsed them (PackCommits), others read through the quarantine. */
  graph(): CommitGraph {
    const deps = this.deps();
    const commits = this.commits;
    return {
      commit: async (id) => {
        const known = commits !== null && id.length === 40 ? commits.get(this.packIds.indexOfAt(fromHex(id), 0)) : undefined;
        if (known !== undefined) return { parents: Array.from(known.parents, (k) => this.packIds.at(k)), time: known.time };
        const obj = await readObject(deps, id);
        if (!obj || obj.kind !== 'commit') return null;
        const c = parseCommit(obj.data);
        return { parents: c.parents, time: c.committer?.timestamp ?? 0 };
      },
    };
  }

  /**
   * True if everything reachable from `tip` is present. Without missing
   * references in the pack this holds for every tip; otherwise walk the new
   * objects from `tip` (stored objects are connected) looking for them.
   * 'shallow' when not, and the walk met a new commit the client said it is
   * shallow at (its parents are missing because the client never had them).
   */
  async connected(tip: string): Promise<boolean | 'shallow'> {
    if (this.missing.size === 0 && this.broken.size === 0) return true;
    const deps = this.deps();
    const seen = new Set<string>([tip]);
    const stack = [tip];
    const shallows = new Set(this.req.shallows);
    let shallow = false;
    while (stack.length > 0) {
      const id = stack.pop()!;
      if (this.missing.has(id) || this.broken.has(id)) return shallow && !this.broken.has(id) ? 'shallow' : false;
      if (!this.quarantine.pending(id)) continue; // not new: stored objects are connected
      if (shallows.has(id)) shallow = true;
      if (seen.size > MAX_WALK_OBJECTS) return false;
      const obj = await readObject(deps, id);
      if (!obj || obj.kind === 'artifact') return false;
      for (const r of referencedIds(parseObject(obj.kind, obj.data, LENIENT))) {
        if (this.wrongEdges.has(`${r.id}${TYPE_CODE[r.type]}`)) return false;
        if (!seen.has(r.id)) {
          seen.add(r.id);
          stack.push(r.id);
        }
      }
    }
    return true;
  }

  /**
   * True when HEAD is unset. One already set is kept even if its branch is not
   * there yet: the API's default_branch set before the first push (as git
   * keeps a bare repository's HEAD, whatever branch comes first).
   */
  async headNeedsTarget(head: string | null): Promise<boolean> {
    if (head !== null) return false;
    return (await this.store.refs.read('HEAD')) === null; // a detached HEAD is left alone
  }

  /**
   * Points HEAD at the first branch created by this push, main or master
   * preferred: a mirror push sends refs sorted, and a repository's "develop"
   * or "deep/x" branch should not become the default over its master.
   */
  async pointHead(done: RefCommand[]): Promise<void> {
    const branches = done.filter((c) => c.newId !== ZERO_ID && c.ref.startsWith('refs/heads/')).map((c) => c.ref);
    if (branches.length === 0) return;
    const target = ['refs/heads/main', 'refs/heads/master'].find((b) => branches.includes(b)) ?? branches[0];
    const current = await this.store.refs.readSymbolic('HEAD');
    if (current === target) return;
    try {
      await this.store.refs.setSymbolic('HEAD', target);
    } catch (e) {
      if (!(e instanceof HubError)) this.opts.onError?.(e);
    }
  }
}
