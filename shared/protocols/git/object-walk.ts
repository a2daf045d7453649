/**
 * What a fetch sends (git's list-objects.c and pack-objects' "edge" marking,
 * over our storage): the commits between the wants and the common haves
 * (cut at shallow boundaries), then the trees and blobs they reach minus what
 * the client's edge commits' trees reach, filtered (partial clone), plus the
 * annotated tags asked for or pointing into the pack (include-tag).
 *
 * Everything is read through a `RepoView`, one per exchange: index rows and
 * parsed commits are memoised there (objects are immutable), contents come
 * through readObject with the exchange's base cache.
 */
import { commitsBetween, HistoryError, MAX_WALK, type CommitGraph, type CommitInfo } from '../../core/history.js';
import { commitDate, parseCommit, parseCommitLinks } from '../../core/git/commit.js';
import { parseTree, type Tree } from '../../core/git/tree.js';
import { parseTag } from '../../core/git/tag.js';
import type { ObjectId } from '../../storage/ids.js';
import type { IndexRow, ObjectIndexReader, ObjectRowsAfterReader, ObjectRowsReader } from '../../storage/object-index.js';
import { readObject, type ObjectStoreDeps, type StoredObject } from '../../storage/object-store.js';
import { ProtocolError } from './capabilities.js';
import type { FilterSpec } from './filter.js';
import { REACH_IN, REACH_MISSING, type PlanRows, type ReachRows } from '../../storage/reach.js';
import { IdSet, PackedIds } from '../../storage/id-set.js';
import { toHexAt, writeHex } from '../../core/bytes.js';

/** Most tag objects followed when peeling one tag (git's peel limit is similar). */
export const MAX_PEEL = 64;

/** Most rows RepoView.remember keeps (~12 MB): a fetch of a 50,000-commit history's root trees. */
const MAX_REMEMBERED = 50_000;

/** Rows a commit walk reads ahead at first and at most (see RepoView.commitRow). */
const READ_AHEAD_MIN = 16;
const READ_AHEAD_MAX = 512;

/** Reads of one exchange: rows and commits memoised, contents through readObject. */
export class RepoView implements CommitGraph {
  private readonly rows = new Map<ObjectId, IndexRow | null>();
  private readonly commits = new Map<ObjectId, (CommitInfo & { tree: ObjectId }) | null>();
  /** One string per segment name: each index row arrives with its own copy, and a clone keeps every row. */
  private readonly segmentNames = new Map<string, string>();
  private remembered = 0;
  /** commitRow's window, the ids its last read memoised that no walk asked for yet, and how many were asked. */
  private readAhead = READ_AHEAD_MIN;
  private readonly ahead = new Set<ObjectId>();
  private aheadUsed = 0;
  /** Rows answered from a reach plan (usePlan), before the index is asked. */
  private planRows: PlanRows | null = null;

  constructor(readonly deps: ObjectStoreDeps) {}

  /**
   * Answers rows from `rows` (V's plan) from now on: a walk over V then makes no index query per
   * commit, tree or delta base. Its rows are derived again when asked, not memoised.
   */
  usePlan(rows: PlanRows): void {
    this.planRows = rows;
  }

  /** The plan rows in use (usePlan), or null. */
  get plan(): PlanRows | null {
    return this.planRows;
  }

  /** The index row of `id`, or null. */
  async row(id: ObjectId): Promise<IndexRow | null> {
    let row = this.rows.get(id);
    if (row === undefined) {
      const planned = this.planRows?.row(id);
      if (planned !== undefined) return planned;
      row = await this.deps.index.get(id);
      if (row !== null) this.intern(row);
      this.rows.set(id, row);
    }
    return row;
  }

  /** The row of `id` if this view has it memoised (no index call). */
  known(id: ObjectId): IndexRow | undefined {
    return this.rows.get(id) ?? this.planRows?.row(id);
  }

  /**
   * Memoises a row read in a batch (a walk's root trees), so the pack plan does not ask for it
   * again; at most MAX_REMEMBERED rows (~250 bytes each), past which the plan looks them up.
   */
  remember(row: IndexRow): void {
    if (this.remembered >= MAX_REMEMBERED || this.rows.has(row.id)) return;
    this.remembered++;
    this.intern(row);
    this.rows.set(row.id, row);
  }

  /** A row read for content (a delta base): memoised if this view has it, else asked (not kept: a clone's closure walk reads every tree). */
  private memoised(id: ObjectId): Promise<IndexRow | null> {
    const known = this.known(id);
    return known ? Promise.resolve(known) : this.deps.index.get(id);
  }

  /** Shares one string per segment name among the rows kept. */
  private intern(row: IndexRow): void {
    const name = this.segmentNames.get(row.segment);
    if (name === undefined) this.segmentNames.set(row.segment, row.segment);
    else row.segment = name;
  }

  /** Content of `id` (which must be indexed, of kind `kind`); `row`, when the caller has it, is `id`'s row and saves its lookup. */
  async content(id: ObjectId, kind: IndexRow['kind'], row?: IndexRow): Promise<Uint8Array> {
    const obj = await readObject(this.withRow(row), id);
    if (obj === null || obj.kind !== kind) throw new HistoryError('missing-object', `${kind} ${id} is not in the repository`, { id });
    return obj.data;
  }

  /** The deps with `row` (when given) and the rows this view memoised answered without asking the index. */
  private withRow(row?: IndexRow): ObjectStoreDeps {
    const index = this.deps.index;
    if (row !== undefined) this.intern(row);
    return {
      ...this.deps,
      index: {
        has: (ids) => index.has(ids),
        get: (id) => (row !== undefined && id === row.id ? Promise.resolve(row) : this.memoised(id)),
        // With plan rows a chain's rows are a lookup each in memory, not worth a query.
        chain: this.planRows === null && index.chain ? (id) => index.chain!(id) : undefined,
      },
    };
  }

  /**
   * The row of a commit a walk asks for. When it is not memoised, the commit rows stored after it
   * are read with it (ObjectRowsAfterReader): a walk's next commits, its parents, usually follow it
   * (git writes a pack's commits newest first), and a row asked alone costs about what a few dozen
   * read in one statement do. The window doubles while the walk asked for at least half of what the
   * last one read, else starts small again (commits asked out of storage order: a fetch's haves).
   */
  private async commitRow(id: ObjectId): Promise<IndexRow | null> {
    const memo = this.rows.get(id);
    if (memo !== undefined) {
      if (this.ahead.delete(id)) this.aheadUsed++;
      return memo;
    }
    const planned = this.planRows?.row(id);
    if (planned !== undefined) return planned;
    const row = await this.row(id);
    const index = this.deps.index as Partial<ObjectRowsAfterReader>;
    if (row === null || row.kind !== 'commit' || index.rowsAfter === undefined) return row;
    this.readAhead = 2 * this.aheadUsed >= this.readAhead ? Math.min(READ_AHEAD_MAX, 2 * this.readAhead) : READ_AHEAD_MIN;
    this.ahead.clear();
    this.aheadUsed = 0;
    for (const r of await index.rowsAfter(row, this.readAhead)) {
      if (r.kind !== 'commit' || this.rows.has(r.id)) continue;
      this.intern(r);
      this.rows.set(r.id, r);
      this.ahead.add(r.id);
    }
    return row;
  }

  /** CommitGraph: parents and committer time of a stored commit; null for anything else. */
  async commit(id: ObjectId): Promise<(CommitInfo & { tree: ObjectId }) | null> {
    let info = this.commits.get(id);
    if (info === undefined) {
      const row = await this.commitRow(id);
      if (row === null || row.kind !== 'commit') info = null;
      else {
        const bytes = await this.content(id, 'commit', row);
        // Only the links: a walk reads no identity or message.
        const c = parseCommitLinks(bytes);
        // git's date (what --shallow-since cuts at), not the committer line's: they differ for odd commits.
        info = { parents: c.parents, time: commitDate(bytes, c), tree: c.tree };
      }
      this.commits.set(id, info);
    }
    return info;
  }

  /** readObject through this view: memoised and plan rows answer before the index. */
  read(id: ObjectId): Promise<StoredObject | null> {
    return readObject(this.withRow(), id);
  }

  async tree(id: ObjectId): Promise<Tree> {
    // Stored trees may carry what a push accepted as git does (zero-padded modes, unsorted entries).
    return parseTree(await this.content(id, 'tree'), { legacyModes: true, anyOrder: true });
  }

  /** The object an annotated tag points at. */
  async tagTarget(id: ObjectId): Promise<ObjectId> {
    return parseTag(await this.content(id, 'tag')).object;
  }

  /** Peel `id` through annotated tags: the tags passed and the final object's id and row (null row if missing). */
  async peel(id: ObjectId): Promise<{ tags: ObjectId[]; id: ObjectId; row: IndexRow | null }> {
    const tags: ObjectId[] = [];
    let row = await this.row(id);
    while (row !== null && row.kind === 'tag') {
      if (tags.length >= MAX_PEEL) throw new ProtocolError('peel-too-deep', `tag ${tags[0]} nests more than ${MAX_PEEL} tags`);
      tags.push(id);
      id = await this.tagTarget(id);
      row = await this.row(id);
    }
    return { tags, id, row };
  }
}

/** Rows asked of the index per call by rowsInOrder. */
const ROW_BATCH = 1024;

/**
 * The index rows of the packed ids (id i at i * 20), for reading in
 * ascending positions: ROW_BATCH ids per call when the index offers
 * ObjectRowsReader.rows (a lazy fetch asks for a row per want: one SQL
 * statement each was most of its CPU), else one get per id. Not memoised.
 * `known` answers the rows the caller has already (asked of nobody).
 */
export function rowsInOrder(
  index: ObjectIndexReader & Partial<ObjectRowsReader>,
  packed: Uint8Array,
  n: number,
  known: (id: ObjectId) => IndexRow | undefined = () => undefined,
): (i: number) => Promise<IndexRow | null> {
  const many = index.rows?.bind(index);
  if (!many) {
    return async (i) => {
      const id = toHexAt(packed, i * 20, 20);
      return known(id) ?? index.get(id);
    };
  }
  let from = 0;
  let got: (IndexRow | null)[] = [];
  return async (i) => {
    if (i < from || i >= from + got.length) {
      const ids: ObjectId[] = [];
      const at: number[] = [];
      got = [];
      for (let j = i; j < Math.min(n, i + ROW_BATCH); j++) {
        const id = toHexAt(packed, j * 20, 20);
        const row = known(id);
        got.push(row ?? null);
        if (row === undefined) {
          ids.push(id);
          at.push(j - i);
        }
      }
      from = i;
      if (ids.length > 0) {
        const rows = await many(ids);
        for (let k = 0; k < at.length; k++) got[at[k]] = rows[k];
      }
    }
    return got[i - from];
  };
}

/** A CommitGraph in which `cut` commits have no parents (shallow boundaries, as git's grafts). */
export function cutGraph(graph: CommitGraph, cut: ReadonlySet<ObjectId>): CommitGraph {
  if (cut.size === 0) return graph;
  return {
    async commit(id) {
      const c = await graph.commit(id);
      return c && cut.has(id) ? { ...c, parents: [] } : c;
    },
  };
}

/** Decides per tree/blob whether a filter keeps it: kind, depth from the root tree (root = 0), size. */
export function filterKeeps(filter: FilterSpec | null, kind: 'tree' | 'blob', depth: number, size: number): boolean {
  if (filter === null) return true;
  switch (filter.kind) {
    case 'blob:none':
      return kind !== 'blob';
    case 'blob:limit':
      return kind !== 'blob' || size < filter.bytes;
    case 'tree':
      return depth < filter.depth;
    case 'object:type':
      return kind === filter.type;
    case 'combine':
      return filter.filters.every((f) => filterKeeps(f, kind, depth, size));
  }
}

/** Whether a filter keeps commits the client did not ask for by id (only object:type drops them). */
function filterKeepsCommits(filter: FilterSpec | null): boolean {
  if (filter === null) return true;
  if (filter.kind === 'object:type') return filter.type === 'commit';
  if (filter.kind === 'combine') return filter.filters.every(filterKeepsCommits);
  return true;
}

/** Deepest tree depth any filter keeps objects at (Infinity without a tree: filter). */
function filterDepth(filter: FilterSpec | null): number {
  if (filter === null) return Infinity;
  if (filter.kind === 'tree') return filter.depth;
  // Neither trees nor blobs go: nothing below a root tree needs reading.
  if (filter.kind === 'object:type' && (filter.type === 'commit' || filter.type === 'tag')) return 0;
  if (filter.kind === 'combine') return Math.min(...filter.filters.map(filterDepth));
  return Infinity;
}

/** What to walk. */
export interface WalkQuery {
  /** Wanted ids, validated as stored (an IdSet: a lazy fetch wants a blob per missing file). */
  wants: Iterable<ObjectId> | IdSet;
  /** Commits the client has (acknowledged haves). */
  common: readonly ObjectId[];
  /** Commits to treat as parentless (shallow-info's boundary, i.e. the client's and the new shallow commits). */
  boundary: readonly ObjectId[];
  /** More commits to send with their history (parents of commits being unshallowed). */
  extraCommits?: readonly ObjectId[];
  /**
   * The client's shallow commits: it has them and their trees. One that is wanted (a tag a
   * shallow clone follows to its boundary) is had as a common commit is, so no walk goes to it.
   */
  clientShallow?: readonly ObjectId[];
  filter: FilterSpec | null;
  /** Annotated tag ids (ref values) to add when they point into the pack (include-tag). */
  includeTags?: readonly ObjectId[];
  /** Bound on commits walked. */
  limit?: number;
}

/** What a walk found. */
export interface WalkResult {
  /** Ids to send: commits, trees and blobs, tags. No duplicates. */
  objects: PackedIds;
  /** Number of commits among them. */
  commits: number;
  /** Objects the client has (edge commits and everything their trees reach): thin-pack bases. */
  have: IdSet;
  /** When set, holds exactly `objects` in their order (planFetchPack need not build its own). */
  index?: IdSet;
}

/**
 * Enumerate a fetch's objects. Sets of ids are binary (IdSet), trees are
 * scanned without per-entry strings and blob rows are not memoised, so a
 * walk over a large history stays at a few dozen bytes per object.
 */
export async function walkObjects(view: RepoView, q: WalkQuery): Promise<WalkResult> {
  const limit = q.limit ?? MAX_WALK;
  const out = new PackedIds();
  const sent = new IdSet();
  const raw = new Uint8Array(20);
  const add = (id: ObjectId) => {
    writeHex(id, raw, 0);
    if (sent.addAt(raw, 0)) out.pushAt(raw, 0);
  };
  // 1. Classify wants: tags are sent and peeled; commits start the walk; trees and blobs are explicit.
  // Blob wants (a lazy fetch: one per missing file, up to MAX_WANTS) stay binary, marked by a byte
  // each, and their rows are not memoised.
  let wants: IdSet;
  if (q.wants instanceof IdSet) wants = q.wants;
  else {
    wants = new IdSet();
    for (const w of q.wants) wants.add(w);
  }
  const commitRoots: ObjectId[] = [];
  const explicitTrees: ObjectId[] = [];
  const explicit = new PackedIds(16);
  const blobWant = new Uint8Array(wants.size);
  let blobsOnly = true;
  const wantRow = rowsInOrder(view.deps.index, wants.bytes, wants.size, (id) => view.known(id));
  for (let i = 0; i < wants.size; i++) {
    const row = await wantRow(i);
    if (row !== null && row.kind === 'blob') {
      blobWant[i] = 1;
      continue;
    }
    blobsOnly = false;
    const want = wants.at(i);
    if (row !== null) view.remember(row);
    const p = row === null ? { tags: [], id: want, row } : await view.peel(want);
    for (const t of p.tags) explicit.push(t);
    if (p.row === null) throw new ProtocolError('not-our-ref', `upload-pack: not our ref ${p.id}`, { id: p.id });
    if (p.row.kind === 'commit') commitRoots.push(p.id);
    else if (p.row.kind === 'tree') explicitTrees.push(p.id);
    else explicit.push(p.id);
  }
  commitRoots.push(...(q.extraCommits ?? []));
  const clientShallow = new Set(q.clientShallow ?? []);
  const common = [...q.common, ...commitRoots.filter((c) => clientShallow.has(c))];
  // Only blobs asked for (a lazy fetch): they are the pack, in the request's order, without a second set of them.
  if (blobsOnly && commitRoots.length === 0 && (q.includeTags ?? []).length === 0) {
    return { objects: PackedIds.over(wants.bytes), commits: 0, have: new IdSet(), index: wants };
  }
  // 2. Commits.
  const cut = new Set(q.boundary);
  const graph = cutGraph(view, cut);
  const commits = await commitsBetween(graph, commitRoots, common, limit);
  const commitSet = new Set(commits);
  // object:type=tree|blob|tag sends only the commits asked for (git marks them USER_GIVEN), the rest are walked through.
  const wanted = filterKeepsCommits(q.filter) ? null : new Set(commitRoots);
  for (const c of commits) if (wanted === null || wanted.has(c)) add(c);
  // 3. Edge: commits the client has next to what we send; their trees are uninteresting.
  const have = new IdSet();
  const edge: ObjectId[] = [];
  const noteEdge = async (id: ObjectId) => {
    if (have.has(id) || commitSet.has(id) || !(await view.commit(id))) return;
    have.add(id);
    edge.push(id);
  };
  for (const id of common) await noteEdge(id);
  for (const c of commits) {
    for (const p of (await graph.commit(c))!.parents) await noteEdge(p);
  }
  for (const id of edge) await markHave(view, (await view.commit(id))!.tree, have);
  // 4. Trees and blobs of the commits we send.
  const maxDepth = filterDepth(q.filter);
  // A tree: filter keeps what lies above a depth, so a tree met again higher up is walked again;
  // without one a tree is walked once (a binary set then, not a Map of strings).
  const treeDepth = Number.isFinite(maxDepth) ? new Map<ObjectId, number>() : null;
  const treesSeen = new IdSet();
  const walkTree = async (root: ObjectId, forced: boolean, rootRow?: IndexRow) => {
    const stack: { id: ObjectId; depth: number }[] = [{ id: root, depth: 0 }];
    while (stack.length > 0) {
      const { id, depth } = stack.pop()!;
      const row = id === root ? rootRow : undefined;
      if (treeDepth !== null) {
        const seenAt = treeDepth.get(id);
        if (seenAt !== undefined && seenAt <= depth) continue;
        treeDepth.set(id, depth);
      } else if (!treesSeen.add(id)) continue;
      if ((forced && id === root) || filterKeeps(q.filter, 'tree', depth, 0)) add(id);
      if (depth + 1 >= maxDepth) continue;
      const blobs: ObjectId[] = [];
      scanTree(await view.content(id, 'tree', row), id, (type, data, off) => {
        if (type === T_COMMIT || have.hasAt(data, off)) return;
        if (type === T_TREE) stack.push({ id: toHexAt(data, off, 20), depth: depth + 1 });
        else if (!sent.hasAt(data, off) && filterKeeps(q.filter, 'blob', depth + 1, 0)) blobs.push(toHexAt(data, off, 20));
      });
      for (const blob of blobs) {
        if (q.filter === null) {
          add(blob);
          continue;
        }
        // Kept at size 0, so worth a row lookup (blob:none never looks blobs up); not memoised.
        const row = await view.deps.index.get(blob);
        if (row === null) throw new HistoryError('missing-object', `blob ${blob} of tree ${id} is not in the repository`, { id: blob });
        if (filterKeeps(q.filter, 'blob', depth + 1, row.size)) add(blob);
      }
    }
  };
  // The commits' root trees' rows come ROW_BATCH to a query (a long history has a tree per commit).
  const roots = new PackedIds();
  const rootSet = new IdSet();
  for (const c of commits) {
    const tree = (await view.commit(c))!.tree;
    // A tree met again (a revert) is walked once: its row is asked once.
    if (!have.has(tree) && rootSet.add(tree)) roots.push(tree);
  }
  const rootRow = rowsInOrder(view.deps.index, roots.bytes, roots.length, (id) => view.known(id));
  for (let i = 0; i < roots.length; i++) {
    const row = await rootRow(i);
    // planFetchPack asks for the rows of every object sent: these, and the commits', it has then.
    if (row !== null) view.remember(row);
    await walkTree(roots.at(i), false, row ?? undefined);
  }
  for (const t of explicitTrees) await walkTree(t, true);
  const packed = explicit.bytes;
  for (let i = 0; i < explicit.length; i++) if (sent.addAt(packed, i * 20)) out.pushAt(packed, i * 20);
  const wantIds = wants.bytes;
  for (let i = 0; i < blobWant.length; i++) if (blobWant[i] === 1 && sent.addAt(wantIds, i * 20)) out.pushAt(wantIds, i * 20);
  // 5. include-tag: annotated tags whose target is in the pack (tags of tags too).
  for (const tag of q.includeTags ?? []) {
    if (sent.has(tag) || have.has(tag)) continue;
    const p = await view.peel(tag);
    if (sent.has(p.id)) for (const t of p.tags) add(t);
  }
  return { objects: out, commits: commits.length, have };
}

/** Adds `root` and every tree and blob it reaches to `have` (skipping subtrees already there). */
export async function markHave(view: RepoView, root: ObjectId, have: IdSet): Promise<void> {
  if (!have.add(root)) return;
  const stack = [root];
  while (stack.length > 0) {
    const id = stack.pop()!;
    scanTree(await view.content(id, 'tree'), id, (type, data, off) => {
      if (type === T_COMMIT || !have.addAt(data, off)) return;
      if (type === T_TREE) stack.push(toHexAt(data, off, 20));
    });
  }
}

/** What reachClosure found. */
export interface ClosureResult {
  /** Objects reachable from the tips, minus the known closure's members (and what lies below them). */
  ids: PackedIds;
  /** Members of the known closure the walk stopped at (tips included). */
  met: IdSet;
}

/** Object type codes of reachClosure's pending stack ('' in the old string form: look the row up). */
const T_UNKNOWN = 0;
const T_COMMIT = 1;
const T_TREE = 2;
const T_BLOB = 3;
const T_TAG = 4;
const TYPE_CODES: Record<string, number> = { commit: T_COMMIT, tree: T_TREE, blob: T_BLOB, tag: T_TAG };

/**
 * Calls `fn(type, data, idOffset)` for each entry of a raw tree (T_TREE,
 * T_BLOB or T_COMMIT for a gitlink) without building strings: a walk reads
 * every tree of a history, and parseTree's per-entry objects and hex ids were
 * most of its garbage. Modes follow modeObjectType (octal file-type bits).
 */
export function scanTree(data: Uint8Array, id: ObjectId, fn: (type: number, data: Uint8Array, idOffset: number) => void): void {
  let i = 0;
  while (i < data.length) {
    let mode = 0;
    let digits = 0;
    while (i < data.length && data[i] !== 0x20) {
      const d = data[i] - 0x30;
      if (d < 0 || d > 7 || ++digits > 7) throw new HistoryError('bad-tree', `tree ${id} has a bad mode`, { id });
      mode = mode * 8 + d;
      i++;
    }
    const nul = data.indexOf(0, i);
    if (digits === 0 || nul < 0 || nul + 21 > data.length) throw new HistoryError('bad-tree', `tree ${id} is truncated`, { id });
    // git's canon_mode: a directory, a file or link, else a gitlink.
    const bits = mode & 0o170000;
    fn(bits === 0o040000 ? T_TREE : bits === 0o100000 || bits === 0o120000 ? T_BLOB : T_COMMIT, data, nul + 1);
    i = nul + 21;
  }
}

/**
 * Every object reachable from `tips` that is not in a known closure V
 * (git's `rev-list --objects`, cut where V begins: V is closed under
 * reachability, so nothing below a member needs visiting). `status` answers
 * REACH_* codes for a batch of ids, with the rows of commits, trees and
 * tags when it can (ReachIndex.reachRows: the walk then reads them without
 * a row lookup per object); one call per commit or tree keeps the index
 * round trips to one per object that has children. Blobs are never read.
 * Throws HistoryError for a missing object or past `limit` commits.
 *
 * Memory is a few dozen bytes per object (binary ids in IdSet/PackedIds, no
 * memoised rows or commits): a first clone walks the whole history in one
 * isolate, and string sets of 300k ids alone took tens of MB.
 */
export async function reachClosure(
  view: RepoView,
  tips: readonly ObjectId[],
  status: (ids: ObjectId[]) => Promise<Uint8Array | ReachRows>,
  limit = MAX_WALK,
): Promise<ClosureResult> {
  const ids = new PackedIds();
  const met = new IdSet();
  const seen = new IdSet();
  // Pending objects with their type code when the referrer told it (T_UNKNOWN = look the row up).
  const stack = new PackedIds();
  const stackTypes: number[] = [];
  // The pending objects' rows when the status call gave them (else undefined: readObject looks it up).
  const stackRows: (IndexRow | undefined)[] = [];
  let commits = 0;
  // A batch of children, as hex only for the status call (bounded by one tree's width).
  let batch: ObjectId[] = [];
  let batchTypes: number[] = [];
  const offer = (src: Uint8Array, off: number, type: number) => {
    if (!seen.addAt(src, off)) return;
    batch.push(toHexAt(src, off, 20));
    batchTypes.push(type);
  };
  const flush = async () => {
    if (batch.length === 0) return;
    const fresh = batch;
    const types = batchTypes;
    batch = [];
    batchTypes = [];
    const answer = await status(fresh);
    const st = answer instanceof Uint8Array ? answer : answer.status;
    const rows = answer instanceof Uint8Array ? null : answer.rows;
    for (let i = 0; i < fresh.length; i++) {
      if (st[i] === REACH_MISSING) throw new HistoryError('missing-object', `object ${fresh[i]} is not in the repository`, { id: fresh[i] });
      if (st[i] === REACH_IN) met.add(fresh[i]);
      else if (types[i] === T_BLOB) ids.push(fresh[i]);
      else {
        stack.push(fresh[i]);
        stackTypes.push(types[i]);
        stackRows.push(rows?.[i]);
      }
    }
  };
  const raw = new Uint8Array(20);
  for (const t of tips) {
    writeHex(t, raw, 0);
    offer(raw, 0, T_UNKNOWN);
  }
  await flush();
  const cur = new Uint8Array(20);
  while (stack.popInto(cur, 0)) {
    const id = toHexAt(cur, 0, 20);
    let type = stackTypes.pop()!;
    const row = stackRows.pop();
    if (type === T_UNKNOWN) type = TYPE_CODES[(row ?? (await view.row(id)))?.kind ?? ''] ?? T_UNKNOWN;
    ids.pushAt(cur, 0);
    if (type === T_COMMIT) {
      if (++commits > limit) throw new HistoryError('walk-limit', `history walk passed ${limit} commits`);
      // Parsed here, not through view.commit: each commit is visited once, and the memo would keep them all.
      const c = parseCommit(await view.content(id, 'commit', row));
      writeHex(c.tree, raw, 0);
      offer(raw, 0, T_TREE);
      for (const p of c.parents) {
        writeHex(p, raw, 0);
        offer(raw, 0, T_COMMIT);
      }
    } else if (type === T_TREE) {
      scanTree(await view.content(id, 'tree', row), id, (t, data, off) => {
        // A gitlink: the submodule's commit is not ours.
        if (t !== T_COMMIT) offer(data, off, t);
      });
    } else if (type === T_TAG) {
      const tag = parseTag(await view.content(id, 'tag', row));
      writeHex(tag.object, raw, 0);
      offer(raw, 0, TYPE_CODES[tag.objectType] ?? T_UNKNOWN);
    } else if (type !== T_BLOB) {
      throw new HistoryError('missing-object', `object ${id} is not a git object`, { id });
    }
    await flush();
  }
  return { ids, met };
}
