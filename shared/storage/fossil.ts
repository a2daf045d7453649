/**
 * Storage of one Fossil repository (the fossil schema's blob/delta/phantom/
 * unclustered/private/shun/config/unversioned tables, reduced to what sync needs).
 *
 * Content lives in the SegmentStore like git objects: each artifact is one
 * record, a zlib stream of either its full text or a Fossil delta against a
 * base artifact, kept exactly as it arrived. A clone's `cfile` is then a byte
 * copy: payload = 4-byte BE `recordSize` + the record's stored bytes.
 *
 * The index below says where each record lies. Everything a request changes
 * goes into one `commit(batch)`: the sync server writes its records to a new
 * segment first and commits the batch last, so a request that fails leaves
 * only an unreferenced segment (for garbage collection) and nothing reachable
 * changed. Implementations: MemoryFossilStore (shared/storage/fossil-memory.ts)
 * and the Durable Object's SQLite (worker/durable). Both pass
 * test/shared/storage/fossil-contract.ts.
 *
 * Every method is async; calls of one request are sequential. A commit is
 * atomic: it validates the whole batch first and either applies all of it or
 * throws and applies none.
 */
import { InvalidRowError } from './errors.js';
import { checkObjectId } from './ids.js';
import { MAX_CHAIN_ROWS, type IndexRow, type ObjectChainReader, type ObjectIndexReader } from './object-index.js';
import type { SegmentId } from './segments.js';

/** An artifact name: lowercase hex, 40 digits (SHA1) or 64 (SHA3-256). */
export type ArtifactHash = string;

/** How an artifact's record inflates: its full text, or a Fossil delta against `base`. */
export type FossilRecordFormat = 'full' | 'fossil-delta';

/** An artifact row as the writer gives it (seq and depth are assigned by the store). */
export interface FossilRowInput {
  hash: ArtifactHash;
  /** Size of the artifact's full text. */
  size: number;
  segment: SegmentId;
  /** Byte offset of the record (one zlib stream) in its segment. */
  offset: number;
  /** Byte length of the record (the zlib stream). */
  length: number;
  /** Size of the record once inflated: `size` for full records, the delta's size otherwise. */
  recordSize: number;
  format: FossilRecordFormat;
  /** Delta base: null for 'full'; for 'fossil-delta' a stored artifact or one earlier in the same batch. */
  base: ArtifactHash | null;
  /** Never sent to users without capability x (the sync server also keeps private rows out of the unclustered set). */
  private: boolean;
}

/** A stored artifact row. */
export interface FossilRow extends FossilRowInput {
  /** Clone cursor: >= 1, unique, increasing in commit order (within a batch, in `rows` order). */
  seq: number;
  /** Delta chain depth: 0 for full records, base's depth + 1 otherwise; never above MAX_CHAIN_DEPTH. */
  depth: number;
}

/**
 * A delta whose base the repository lacks: its record is stored but its hash
 * cannot be verified yet. When the base arrives the sync server applies it,
 * verifies the hash and commits it as a row pointing at the same record (and
 * removes the pending entry); on a mismatch it only removes the entry.
 */
export interface PendingDelta {
  hash: ArtifactHash;
  base: ArtifactHash;
  /** Claimed full size (the delta's declared output size). */
  size: number;
  segment: SegmentId;
  offset: number;
  length: number;
  /** The delta's inflated size. */
  recordSize: number;
  private: boolean;
}

/**
 * What the repository knows of a hash. `shunned` wins over everything; then a
 * stored row (`public`/`private`); then `pending`; then `phantom` (or
 * `private-phantom`, one only private cards named); else `unknown`.
 */
export type ArtifactState = 'public' | 'private' | 'pending' | 'phantom' | 'private-phantom' | 'shunned' | 'unknown';

/** A config value (fossil's config table: name, value, mtime in seconds since 1970). */
export interface ConfigEntry {
  name: string;
  value: string;
  mtime: number;
}

/**
 * An unversioned file. `hash` null means deleted (then `size` is 0 and there
 * is no record). Content is stored as a 'full' record (zlib of the raw bytes).
 */
export interface UnversionedEntry {
  name: string;
  /** Seconds since 1970. */
  mtime: number;
  hash: ArtifactHash | null;
  size: number;
  /** Where the content's record lies; null when deleted. */
  record: { segment: SegmentId; offset: number; length: number } | null;
}

/** Everything one request changes, applied atomically. */
export interface FossilCommit {
  /**
   * New artifacts. A hash already stored is skipped (artifacts are immutable).
   * Bases must be stored or earlier/later in this batch; a missing base, a
   * cycle or a depth over MAX_CHAIN_DEPTH throws and nothing is applied.
   * Inserting a row also removes that hash from the phantoms and the pending
   * deltas. Shunned hashes throw (the server must filter them out).
   */
  rows?: FossilRowInput[];
  /** Hashes to remember as phantoms; stored, pending or shunned hashes are ignored, a private phantom becomes public. */
  phantoms?: ArtifactHash[];
  /**
   * Hashes to remember as private phantoms (named by a private card: fossil's content_new with
   * isPrivate), asked of x users syncing private only; an existing phantom keeps its mark, and
   * a hash also in `phantoms` is public.
   */
  privatePhantoms?: ArtifactHash[];
  /** Deltas against bases the repository lacks; a hash already stored is ignored, a repeat replaces. */
  pendingAdd?: PendingDelta[];
  /** Pending entries to drop (resolved or rejected). Absent hashes are ignored. */
  pendingRemove?: ArtifactHash[];
  /** Hashes to add to the unclustered set (must be stored or in `rows`, else ignored). */
  unclusteredAdd?: ArtifactHash[];
  /** Hashes to take out of the unclustered set (absent ones ignored). */
  unclusteredRemove?: ArtifactHash[];
  /**
   * Stored private rows to make public and unclustered (fossil's
   * content_make_public when a public file card arrives for a private
   * artifact, as after `fossil publish`). Public or absent hashes are ignored.
   */
  publish?: ArtifactHash[];
  /** Unversioned files to set (insert or replace by name; the caller has applied fossil's newer-wins rule). */
  unversioned?: UnversionedEntry[];
  /** Config values to set (insert or replace by name). */
  config?: ConfigEntry[];
}

/** What a commit did. */
export interface FossilCommitResult {
  /** Rows actually inserted (not already stored), with their seq and depth, in batch order. */
  inserted: FossilRow[];
}

/**
 * A new record for a stored artifact (repacking): the row keeps its hash,
 * seq, size and privacy; its record, format and base change. The old record
 * stays where it was (segments are append-only) and is no longer referenced.
 */
export interface FossilRecordSwap {
  hash: ArtifactHash;
  segment: SegmentId;
  offset: number;
  length: number;
  recordSize: number;
  format: FossilRecordFormat;
  base: ArtifactHash | null;
}

/**
 * A record copied elsewhere byte for byte (compaction, fossil-repack.ts): the
 * row still at `from` points at the copy; what it holds (format, base, sizes)
 * is unchanged.
 */
export interface FossilRecordMove {
  hash: ArtifactHash;
  /** Where the row's record was when the copy was made. */
  from: { segment: SegmentId; offset: number };
  segment: SegmentId;
  offset: number;
  /** The copy's length: the record's stored length. */
  length: number;
}

/** A row below another (FossilStore.below). */
export interface FossilBelow {
  hash: ArtifactHash;
  base: ArtifactHash;
  /** Levels below the row asked about: 1 for its own dependents. */
  level: number;
}

/** The storage of one Fossil repository. */
export interface FossilStore {
  /** The state of each hash (same order as `hashes`). Malformed hashes throw InvalidIdError. */
  states(hashes: ArtifactHash[]): Promise<ArtifactState[]>;
  /** The rows of the stored ones among `hashes` (same order; null where not stored). */
  rows(hashes: ArtifactHash[]): Promise<(FossilRow | null)[]>;
  /**
   * The row of `hash`, then its base's row, and so on down to a full record:
   * at most MAX_CHAIN_ROWS rows; ends early where a base is not stored; empty
   * when `hash` is not stored.
   */
  chain(hash: ArtifactHash): Promise<FossilRow[]>;
  /**
   * Up to `limit` stored, non-shunned rows with seq >= `fromSeq`, ascending by
   * seq (private ones included: the caller filters by capability).
   */
  listFrom(fromSeq: number, limit: number): Promise<FossilRow[]>;
  /** How many artifacts are stored (rows, not phantoms or pending). */
  count(): Promise<number>;
  /** Up to `limit` hashes of the unclustered set, ascending by hash, those after `after` when given (pages). */
  listUnclustered(limit: number, after?: ArtifactHash): Promise<ArtifactHash[]>;
  /** Up to `limit` hashes of stored private rows, ascending by hash, after `after` when given (never clustered, so listed apart). */
  listPrivate(limit: number, after?: ArtifactHash): Promise<ArtifactHash[]>;
  /**
   * Up to `limit` phantom hashes, ascending by hash from the first one >= `from`, then wrapping
   * round to the smallest. A random `from` keeps phantoms no client has from hiding the rest.
   * Private phantoms only `withPrivate` (fossil's request_phantoms with syncPrivate).
   */
  listPhantoms(limit: number, from?: string, withPrivate?: boolean): Promise<ArtifactHash[]>;
  /** The pending deltas whose base is one of `bases` (any order). */
  pendingByBase(bases: ArtifactHash[]): Promise<PendingDelta[]>;
  /** Config values for `names` (same order; null when unset). */
  getConfig(names: string[]): Promise<(ConfigEntry | null)[]>;
  /** Every unversioned entry (deleted ones too), ascending by name (code-point order). */
  listUnversioned(): Promise<UnversionedEntry[]>;
  /** One unversioned entry by name, or null. */
  getUnversioned(name: string): Promise<UnversionedEntry | null>;
  /** Adds (`on` true) or removes hashes from the shun list (moderation; outside sync). */
  setShunned(hashes: ArtifactHash[], on: boolean): Promise<void>;
  /**
   * For each hash, how much deeper than it the deepest row whose delta chain
   * passes through it lies (0 for a row nothing is a delta of, or not stored).
   * Rows in `detached` count as full (not below their bases): a repack that
   * will store them full asks before it has.
   */
  heights(hashes: ArtifactHash[], detached?: readonly ArtifactHash[]): Promise<number[]>;
  /**
   * The rows whose delta chain passes through `hash` (not itself), each with
   * its base and how many levels below `hash` it lies (at most MAX_CHAIN_ROWS),
   * `detached` rows and what hangs below them left out as in heights: what a
   * repack re-hangs when a chain would grow too deep.
   */
  below(hash: ArtifactHash, detached?: readonly ArtifactHash[]): Promise<FossilBelow[]>;
  /**
   * Points stored artifacts at new records (see FossilRecordSwap), in order,
   * and recomputes the depth of each and of every row whose chain passes
   * through it. Atomic: an unknown hash, a missing base, a cycle or any depth
   * over MAX_CHAIN_DEPTH throws and changes nothing.
   */
  repoint(swaps: FossilRecordSwap[]): Promise<void>;
  /**
   * Points each row still at its move's `from` at the copy, in one transaction;
   * a row that moved meanwhile (repacked again) or is gone is left as it is.
   * Returns how many rows moved. A length that differs from the row's throws and moves nothing.
   */
  relocate(moves: FossilRecordMove[]): Promise<number>;
  /** Applies a batch atomically (see FossilCommit); throws and applies nothing on a bad batch. */
  commit(batch: FossilCommit): Promise<FossilCommitResult>;
  /** The shun/reportfmt/concealed configuration tables. */
  readonly configRows: FossilConfigRows;
}

/** Longest unversioned file name kept (fossil has no limit; a bound keeps rows and cards small). */
export const MAX_UV_NAME_LENGTH = 1000;

/** Checks one row's shape (hashes, format/base agreement, integer bounds); throws InvalidRowError. */
export function checkFossilRow(row: FossilRowInput): void {
  checkObjectId(row.hash);
  const bad = (why: string) => new InvalidRowError('invalid-row', `row ${row.hash}: ${why}`, { id: row.hash, why });
  for (const k of ['size', 'offset', 'length', 'recordSize'] as const) {
    if (!Number.isSafeInteger(row[k]) || row[k] < 0) throw bad(`${k} is not a non-negative integer`);
  }
  if (typeof row.segment !== 'string' || row.segment.length === 0) throw bad('no segment');
  if (typeof row.private !== 'boolean') throw bad('private is not a boolean');
  if (row.format === 'full') {
    if (row.base !== null) throw bad('a full record has no base');
    if (row.recordSize !== row.size) throw bad('a full record inflates to the artifact size');
  } else if (row.format === 'fossil-delta') {
    if (row.base === null) throw bad('a delta record needs a base');
    checkObjectId(row.base);
    if (row.base === row.hash) throw bad('a row cannot be its own base');
  } else {
    throw bad(`unknown format ${String(row.format)}`);
  }
}

/** Checks a record swap's shape (as a row of unknown size: a full record's size is checked by the store). */
export function checkRecordSwap(s: FossilRecordSwap): void {
  checkFossilRow({ ...s, size: s.recordSize, private: false });
}

/** Checks a pending delta's shape; throws InvalidRowError. */
export function checkPendingDelta(p: PendingDelta): void {
  checkFossilRow({ ...p, format: 'fossil-delta' });
}

/** Checks an unversioned entry's shape; throws InvalidRowError. */
export function checkUnversionedEntry(e: UnversionedEntry): void {
  const bad = (why: string) => new InvalidRowError('invalid-row', `unversioned ${JSON.stringify(String(e.name)).slice(0, 80)}: ${why}`, { why });
  if (typeof e.name !== 'string' || e.name.length === 0 || e.name.length > MAX_UV_NAME_LENGTH) throw bad('bad name');
  if (!Number.isSafeInteger(e.mtime)) throw bad('mtime is not an integer');
  if (!Number.isSafeInteger(e.size) || e.size < 0) throw bad('size is not a non-negative integer');
  if (e.hash === null) {
    if (e.record !== null || e.size !== 0) throw bad('a deleted file has no content');
  } else {
    checkObjectId(e.hash);
    if (e.record === null) throw bad('a file needs its content record');
  }
}

/** A FossilRow as the generic object index sees it (for readObject). */
export function fossilRowToIndexRow(r: FossilRow): IndexRow {
  return {
    id: r.hash,
    kind: 'artifact',
    size: r.size,
    segment: r.segment,
    offset: r.offset,
    length: r.length,
    format: r.format,
    base: r.base,
    depth: r.depth,
  };
}

/**
 * The FossilStore as an object index, so shared/storage's readObject resolves
 * artifacts (delta chains, base cache) exactly as it does git objects.
 */
export function fossilObjectIndex(store: FossilStore): ObjectIndexReader & ObjectChainReader {
  return {
    has: async (ids) => (await store.rows(ids)).map((r) => r !== null),
    get: async (id) => {
      const [r] = await store.rows([id]);
      return r ? fossilRowToIndexRow(r) : null;
    },
    chain: async (id) => (await store.chain(id)).slice(0, MAX_CHAIN_ROWS).map(fossilRowToIndexRow),
  };
}

/**
 * Fossil's configuration tables that sync carries besides `config` (src/configure.c),
 * and the `config` values it carries by name prefix (alias: `walias:/PATH`, interwiki: `interwiki:TAG`).
 */
export type FossilConfigTable = 'shun' | 'reportfmt' | 'concealed' | 'alias' | 'interwiki';

/**
 * One row of such a table: its primary key (shun: uuid, reportfmt: title,
 * concealed: hash, alias and interwiki: the config name), mtime, and the other
 * columns as the `config` card carries them, pre-validated SQL tokens
 * (` scom 'why'`, ` value '...'`), sent back verbatim.
 */
export interface FossilConfigRow {
  table: FossilConfigTable;
  key: string;
  mtime: number;
  fields: string;
}

/** The configuration tables (kept apart from FossilStore.commit: admins push them outside artifact batches). */
export interface FossilConfigRows {
  /** Up to `limit` rows of `table`, ascending by key (code-point order). */
  list(table: FossilConfigTable, limit: number): Promise<FossilConfigRow[]>;
  /** Inserts rows; where (table, key) exists the larger mtime wins (a tie keeps the stored row), as fossil merges. */
  put(rows: FossilConfigRow[]): Promise<void>;
  /** Up to `limit` hashes on the shun list (setShunned), ascending. */
  listShunned(limit: number): Promise<ArtifactHash[]>;
}

/** Checks a configuration row's shape; throws InvalidRowError. */
export function checkConfigRow(r: FossilConfigRow): void {
  const ok =
    ['shun', 'reportfmt', 'concealed', 'alias', 'interwiki'].includes(r.table) &&
    typeof r.key === 'string' &&
    r.key.length > 0 &&
    Number.isSafeInteger(r.mtime) &&
    typeof r.fields === 'string';
  if (!ok) throw new InvalidRowError('invalid-row', 'bad config row', { why: 'config' });
}
