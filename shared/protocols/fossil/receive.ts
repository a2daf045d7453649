/**
 * Receiving artifacts (xfer.c xfer_accept_file, without fossil's full-text
 * storage): every `file` is hash-checked after its delta is applied, then
 * stored as it arrived: a full text as a full record, a delta as a delta
 * record against its base (a full record instead only when the chain would
 * pass MAX_CHAIN_DEPTH). A delta whose base the repository lacks is kept as a
 * pending delta and its base becomes a phantom (so it is gimme'd); it turns
 * into a row when the base arrives, in this request or a later one.
 *
 * Nothing is visible until `commit`: records go to one new segment, and the
 * rows, phantoms, pending deltas and unclustered changes go in one
 * FossilStore commit.
 */
import { parseArtifact, type Artifact } from '../../core/fossil/artifact.js';
import { releaseNow } from '../../core/bytes.js';
import type { Primitives } from '../../core/primitives.js';
import { artifactNameKind, verifyArtifact } from '../../core/fossil/name.js';
import { applyFossilDelta, decodeFossilDeltaHeader } from '../../delta/fossil.js';
import type { ArtifactState, FossilRowInput, PendingDelta, UnversionedEntry, ConfigEntry } from '../../storage/fossil.js';
import { MAX_CHAIN_DEPTH } from '../../storage/object-index.js';
import { xferError } from './errors.js';
import { LruBaseCache } from '../../storage/object-store.js';
import type { SegmentStore } from '../../storage/segments.js';
import { ArtifactReader, RecordSink, recordKey, releaseMemo, type FossilRepo } from './repo.js';

/** A structural artifact that became part of the repository. */
export interface ReceivedArtifact {
  hash: string;
  seq: number;
  artifact: Artifact;
}

/**
 * Takes structural artifacts just committed, a bounded batch at a time
 * (crosslinking): a push's pending chain can resolve thousands of manifests in
 * one request, and holding all of them parsed took hundreds of MiB.
 */
export type ArtifactBatchHandler = (batch: ReceivedArtifact[]) => Promise<void> | void;

/** What a commit made visible. */
export interface IngestResult {
  /** Structural artifacts handed to the handler. */
  artifacts: number;
  /** Check-ins (manifests) among them, in the order handed on. */
  checkins: string[];
}

/** Most artifacts handed on at once. */
export const ARTIFACT_BATCH_COUNT = 64;
/** Most bytes (of artifact texts: their parsed form is a few times that) handed on at once, beyond the first artifact. */
export const ARTIFACT_BATCH_BYTES = 2 * 1024 * 1024;

/**
 * Hands artifacts on in batches of at most ARTIFACT_BATCH_COUNT artifacts and
 * ARTIFACT_BATCH_BYTES bytes (a single larger artifact goes alone). The
 * handler's first error stops further batches and is rethrown by `finish`, so
 * that storing (resolving pending deltas) completes as before: crosslinking
 * is idempotent and an artifact left out is linked when crosslinked again.
 */
class BatchEmitter {
  private batch: ReceivedArtifact[] = [];
  private bytes = 0;
  private failed = false;
  private error: unknown = null;
  readonly result: IngestResult = { artifacts: 0, checkins: [] };

  constructor(private readonly handler: ArtifactBatchHandler | undefined) {}

  /** Adds one committed artifact (`size`: its text's length), handing the batch on when full. */
  async add(item: ReceivedArtifact, size: number): Promise<void> {
    if (this.batch.length > 0 && (this.batch.length >= ARTIFACT_BATCH_COUNT || this.bytes + size > ARTIFACT_BATCH_BYTES)) await this.flush();
    this.batch.push(item);
    this.bytes += size;
    this.result.artifacts++;
    if (item.artifact.type === 'manifest') this.result.checkins.push(item.hash);
  }

  /** Hands on what is batched (the batch is dropped before the handler runs, so only the handler holds it). */
  async flush(): Promise<void> {
    const batch = this.batch;
    this.batch = [];
    this.bytes = 0;
    if (batch.length === 0 || this.failed || !this.handler) return;
    try {
      await this.handler(batch);
    } catch (e) {
      this.failed = true;
      this.error = e;
    }
  }

  /** Hands on the rest; rethrows the handler's error, if any. */
  async finish(): Promise<IngestResult> {
    await this.flush();
    if (this.failed) throw this.error;
    return this.result;
  }
}

/**
 * Bytes of a request's reads of stored delta bases kept (a card's base that arrived in an earlier round and is no
 * longer in the receive memo, read back through its chain). A push's cards come in the order the server asked for
 * them, at random, so a round's few such reads seldom share links: a large cache bought little, and what it held was
 * live beside the memo whenever V8 collected, which a workerd isolate's peak follows (V8 collects once ArrayBuffer
 * memory has grown ~64 MiB past what was live at the last full collection).
 */
export const BASE_READ_CACHE_BYTES = 1024 * 1024;

/**
 * Reads stored delta bases through their chains (ArtifactReader), and frees at `release` what
 * those reads made and no longer need: the texts its cache dropped and each record read from
 * the segments (inflated, then done with). A push's base reads made ~240 MiB of texts and
 * ~120 MiB of records for the large bench corpus, garbage till V8's next full GC (which waits
 * for ~64 MiB more of it). The repository's segment stores (R2, memory) answer each readRange
 * with a fresh array; only one owning its whole buffer is freed.
 */
export class BaseReader {
  private readonly reader: ArtifactReader;
  private readonly records: Uint8Array[] = [];

  constructor(repo: FossilRepo, cacheBytes = BASE_READ_CACHE_BYTES) {
    const s = repo.segments;
    const segments: SegmentStore = {
      readRange: async (segment, offset, length) => {
        const r = await s.readRange(segment, offset, length);
        this.records.push(r);
        return r;
      },
      readStream: (segment, offset, length) => s.readStream(segment, offset, length),
      create: () => s.create(),
      list: () => s.list(),
      delete: (segment) => s.delete(segment),
    };
    this.reader = new ArtifactReader({ ...repo, segments }, cacheBytes, { freeEvicted: true });
  }

  /** The full text of a stored artifact, or null; valid until `release` unless it is still cached. */
  read(hash: string): Promise<Uint8Array | null> {
    return this.reader.read(hash);
  }

  /** Frees what the reads since the last call made and no longer need: call it once done with every text read. */
  release(): void {
    this.reader.releaseEvicted();
    for (const r of this.records.splice(0)) if (r.byteOffset === 0 && r.byteLength === r.buffer.byteLength) releaseNow(r);
  }
}

/** Bounds used while receiving. */
export interface IngestLimits {
  /** Largest artifact accepted (full size). */
  maxArtifactBytes: number;
  /** Bytes of this request's received texts kept as delta bases for later cards of the same request. */
  contentCacheBytes: number;
}

interface NewRow extends FossilRowInput {
  depth: number;
}

/** The artifacts and other changes of one request, committed together at the end. */
export class Ingest {
  private readonly rows = new Map<string, NewRow>();
  /** Texts received (this request, and earlier ones when the host keeps a memo): delta bases at hand. */
  private readonly contents: LruBaseCache;
  private readonly pending = new Map<string, PendingDelta>();
  /** Pending deltas of this request by base, with their payloads: resolved as soon as the base arrives. */
  private readonly waiting = new Map<string, { hash: string; payload: Uint8Array }[]>();
  private waitingBytes = 0;
  /** Hashes to keep as phantoms if missing, and whether only private cards named them. */
  private readonly igots = new Map<string, boolean>();
  private readonly unclusteredAdd: string[] = [];
  private readonly unclusteredRemove: string[] = [];
  /** Stored private artifacts a public file card made public (fossil's xfer_accept_file after `fossil publish`). */
  private readonly published = new Set<string>();
  /** Public delta cards for stored private artifacts whose base had not arrived yet: checked at commit. */
  private readonly publishLater: { hash: string; base: string; payload: Uint8Array }[] = [];
  /** Structural artifacts of this request, parsed (bounded by the request's size); handed on at commit. */
  private readonly structural = new Map<string, Artifact>();
  private readonly uv = new Map<string, UnversionedEntry>();
  private readonly config: ConfigEntry[] = [];
  /** Stored states looked up ahead (prefetchStates). */
  private readonly stored = new Map<string, ArtifactState>();

  constructor(
    private readonly repo: FossilRepo,
    private readonly sink: RecordSink,
    private readonly reader: BaseReader,
    private readonly limits: IngestLimits,
  ) {
    this.contents = repo.memo?.texts ?? new LruBaseCache(limits.contentCacheBytes);
  }

  /** True when `hash` was received in this request. */
  has(hash: string): boolean {
    return this.rows.has(hash) || this.pending.has(hash);
  }

  /**
   * Remembers a hash a card named (a pushing client's `igot`, a delta's base, a cluster's member):
   * missing at commit, it becomes a phantom, private when only private cards named it. A public
   * one also makes a private phantom public (as fossil server 2.21 on a public igot).
   */
  igot(hash: string, isPrivate = false): void {
    if (!isPrivate || !this.igots.has(hash)) this.igots.set(hash, isPrivate);
  }

  /**
   * Looks up the stored states of the artifacts a request's file cards name,
   * in a few queries instead of one per card (storage changes only at commit).
   */
  async prefetchStates(hashes: string[]): Promise<void> {
    const todo = [...new Set(hashes)].filter((h) => !this.stored.has(h));
    for (let i = 0; i < todo.length; i += STATE_BATCH) {
      const part = todo.slice(i, i + STATE_BATCH);
      (await this.repo.store.states(part)).forEach((s, j) => this.stored.set(part[j], s));
    }
  }

  /** A received `file` card (HASH [BASE] SIZE + payload); throws XferError for a bad artifact. */
  async file(hash: string, base: string | null, payload: Uint8Array, isPrivate: boolean): Promise<void> {
    const names = base === null ? [hash] : [hash, base];
    const [state, baseState] = names.every((h) => this.stored.has(h)) ? names.map((h) => this.stored.get(h)!) : await this.repo.store.states(names);
    if (state === 'private' && !isPrivate) return this.publish(hash, base, payload);
    // Shunned artifacts are dropped silently, known ones are immutable (fossil does the same).
    if (state === 'shunned' || state === 'public' || state === 'private' || this.has(hash)) return;
    if (base === null) {
      this.checkSize(hash, payload.length);
      this.verify(hash, payload);
      const rec = await this.sink.appendDeflated(payload);
      this.addRow({ hash, size: payload.length, ...rec, recordSize: payload.length, format: 'full', base: null, private: isPrivate, depth: 0 }, payload);
      await this.settle(hash, payload);
      return;
    }
    const header = (() => {
      try {
        return decodeFossilDeltaHeader(payload);
      } catch {
        return null;
      }
    })();
    if (header === null || header.kind !== 'header') throw wrongHash(hash);
    this.checkSize(hash, header.size);
    const inRequest = this.rows.get(base);
    let baseText: Uint8Array | null | undefined;
    let baseDepth = 0;
    if (inRequest) {
      baseText = this.contents.get(base);
      baseDepth = inRequest.depth;
    } else if (baseState === 'public' || baseState === 'private') {
      baseText = this.contents.get(base) ?? (await this.reader.read(base));
      const [row] = await this.repo.store.rows([base]);
      baseDepth = row?.depth ?? 0;
    }
    const rec = await this.sink.appendDeflated(payload);
    const delta: PendingDelta = { hash, base, size: header.size, ...rec, recordSize: payload.length, private: isPrivate };
    if (!baseText) {
      // Base unknown (or no longer cached): keep the delta, ask for the base.
      this.pending.set(hash, delta);
      // Owned copy: the payload is a view of the whole request message, which the memo must not keep alive.
      this.repo.memo?.deltas.set(recordKey(rec), owned(payload));
      if (baseState !== 'shunned' && !this.rows.has(base)) this.igot(base, isPrivate);
      // Clients send deltas before their bases (fossil keeps reverse deltas):
      // kept at hand, they resolve when the base arrives in this request
      // instead of being read back from storage after the commit.
      if (!this.rows.has(base) && this.waitingBytes + payload.length <= this.limits.contentCacheBytes) {
        const list = this.waiting.get(base);
        if (list) list.push({ hash, payload });
        else this.waiting.set(base, [{ hash, payload }]);
        this.waitingBytes += payload.length;
      }
      return;
    }
    await this.settle(delta.hash, await this.addDelta(delta, payload, baseText, baseDepth));
    // The base is applied: what the read cache dropped on the way (its chain's texts) is freed now.
    this.reader.release();
  }

  /**
   * Makes a stored private artifact public once the card's content checks out
   * (so only someone holding it can). A delta whose base is not at hand is
   * checked again at commit (clients send deltas before their bases); if the
   * base never came, the artifact stays private until a later card can be checked.
   */
  private async publish(hash: string, base: string | null, payload: Uint8Array, retry = false): Promise<void> {
    let text = payload;
    if (base !== null) {
      const baseText = this.contents.get(base) ?? (await this.reader.read(base));
      if (!baseText) {
        if (!retry) this.publishLater.push({ hash, base, payload });
        return;
      }
      try {
        text = applyFossilDelta(baseText, payload, this.limits.maxArtifactBytes);
      } catch {
        throw wrongHash(hash);
      } finally {
        this.reader.release();
      }
    }
    this.verify(hash, text);
    this.published.add(hash);
  }

  /**
   * Resolves the deltas of this request that wait for `hash` (just stored),
   * and theirs in turn: a chain can be hundreds of links long, so a worklist.
   */
  private async settle(hash: string, text: Uint8Array): Promise<void> {
    const work = [{ hash, text }];
    for (let next = work.pop(); next !== undefined; next = work.pop()) {
      const list = this.waiting.get(next.hash);
      if (!list) continue;
      this.waiting.delete(next.hash);
      const depth = this.rows.get(next.hash)!.depth;
      for (const w of list) {
        this.waitingBytes -= w.payload.length;
        const d = this.pending.get(w.hash)!;
        this.pending.delete(w.hash);
        work.push({ hash: w.hash, text: await this.addDelta(d, w.payload, next.text, depth) });
      }
    }
  }

  /** Stores a delta whose base text is at hand, checking its hash (the delta record is already appended); its text. */
  private async addDelta(d: PendingDelta, payload: Uint8Array, baseText: Uint8Array, baseDepth: number): Promise<Uint8Array> {
    let text: Uint8Array;
    try {
      text = applyFossilDelta(baseText, payload, this.limits.maxArtifactBytes);
    } catch {
      throw wrongHash(d.hash);
    }
    this.verify(d.hash, text);
    const { recordSize: _r, ...loc } = d;
    if (baseDepth + 1 > MAX_CHAIN_DEPTH) {
      const rec = await this.sink.appendDeflated(text);
      this.addRow({ ...loc, size: text.length, ...rec, recordSize: text.length, format: 'full', base: null, depth: 0 }, text);
    } else {
      this.addRow({ ...loc, size: text.length, recordSize: payload.length, format: 'fossil-delta', depth: baseDepth + 1 }, text);
    }
    return text;
  }

  /** Sets an unversioned entry at commit (the caller applied fossil's newer-wins rule). */
  setUnversioned(e: UnversionedEntry): void {
    this.uv.set(e.name, e);
  }

  /** An unversioned entry set earlier in this request, if any. */
  unversioned(name: string): UnversionedEntry | undefined {
    return this.uv.get(name);
  }

  /** Writes a config value at commit. */
  setConfig(e: ConfigEntry): void {
    this.config.push(e);
  }

  /**
   * Makes everything received visible in one commit, then resolves pending
   * deltas whose bases arrived (committed in batches). The structural
   * artifacts stored are handed to `onArtifacts` in bounded batches, each
   * after the commit that made it visible; an error of `onArtifacts` is
   * thrown once everything is stored.
   */
  async commit(onArtifacts?: ArtifactBatchHandler): Promise<IngestResult> {
    const store = this.repo.store;
    for (const d of this.publishLater.splice(0)) await this.publish(d.hash, d.base, d.payload, true);
    const igots = [...this.igots].filter(([h]) => !this.has(h));
    const states = igots.length > 0 ? await store.states(igots.map(([h]) => h)) : [];
    const named = (priv: boolean) => igots.filter(([, p], i) => p === priv && (states[i] === 'unknown' || (!priv && states[i] === 'private-phantom'))).map(([h]) => h);
    const phantoms = named(false);
    const privatePhantoms = named(true);
    const nothing =
      this.rows.size === 0 &&
      this.pending.size === 0 &&
      phantoms.length === 0 &&
      privatePhantoms.length === 0 &&
      this.published.size === 0 &&
      this.uv.size === 0 &&
      this.config.length === 0;
    if (nothing) {
      releaseMemo(this.repo.memo);
      return { artifacts: 0, checkins: [] };
    }
    await this.sink.finish();
    const result = await store.commit({
      rows: [...this.rows.values()].map(({ depth: _d, ...r }) => r),
      phantoms,
      privatePhantoms,
      pendingAdd: [...this.pending.values()],
      unclusteredAdd: this.unclusteredAdd,
      unclusteredRemove: this.unclusteredRemove,
      publish: [...this.published],
      unversioned: [...this.uv.values()],
      config: this.config,
    });
    const emit = new BatchEmitter(onArtifacts);
    for (const r of result.inserted) {
      const a = this.structural.get(r.hash);
      if (!a) continue;
      this.structural.delete(r.hash);
      await emit.add({ hash: r.hash, seq: r.seq, artifact: a }, this.rows.get(r.hash)?.size ?? 0);
    }
    await emit.flush();
    this.structural.clear();
    await resolveInto(this.repo, this.reader, result.inserted.map((r) => r.hash), this.limits, this.contents, emit);
    // The cards are done with and the batches handed on: nothing of this request holds a memo text now.
    releaseMemo(this.repo.memo);
    return emit.finish();
  }

  private addRow(row: NewRow, text: Uint8Array): void {
    this.rows.set(row.hash, row);
    if (!row.private) this.unclusteredAdd.push(row.hash);
    const a = parseStructural(this.repo.primitives, text);
    if (a) {
      this.structural.set(row.hash, a);
      // A received cluster clusters its members here too, and members we lack
      // become phantoms to gimme (fossil's crosslink does both).
      if (a.type === 'cluster') {
        for (const m of a.cards.members ?? []) {
          this.unclusteredRemove.push(m);
          this.igot(m, row.private);
        }
      }
    }
    this.contents.set(row.hash, owned(text));
  }

  private checkSize(hash: string, size: number): void {
    if (size > this.limits.maxArtifactBytes) {
      throw xferError('too-large', `artifact ${hash} is ${size} bytes, over the limit of ${this.limits.maxArtifactBytes}`);
    }
  }

  private verify(hash: string, text: Uint8Array): void {
    if (!verifyArtifact(this.repo.primitives, hash, text)) throw wrongHash(hash);
  }
}

function wrongHash(hash: string) {
  return xferError('wrong-hash', `wrong hash on received artifact: ${hash}`, { hash });
}

/** `data` itself when it owns its buffer, else a copy (a view would keep the whole buffer alive in a cache). */
function owned(data: Uint8Array): Uint8Array {
  return data.byteOffset === 0 && data.byteLength === data.buffer.byteLength ? data : data.slice();
}

function parseStructural(p: Primitives, text: Uint8Array): Artifact | null {
  try {
    // Receiving needs the cards only (crosslinking, cluster members), not whether they are canonically spelled.
    return parseArtifact(text, { skipCanonical: true, primitives: p });
  } catch {
    return null;
  }
}

/** True when `hash` is a well-formed artifact name (40 or 64 lowercase hex digits). */
export function isHash(hash: string | undefined): hash is string {
  return hash !== undefined && artifactNameKind(hash) !== null;
}

/**
 * Turns pending deltas whose base is now stored into rows over the same
 * record (after applying and hash-checking them), repeatedly, since a
 * resolved delta may be the base of another: a chain of pending deltas (a
 * client sends newest first) takes one step per link. A delta that does not
 * verify is dropped. Rows are committed in batches (each adds only verified
 * artifacts; at most RESOLVE_BATCH rows, and at most an ArtifactBatchHandler
 * batch of structural artifacts), and each batch's structural artifacts are
 * handed to `onArtifacts` right after its commit: nothing held grows with the
 * length of the chain. A step's memory is its pending entries' texts, and
 * texts are kept as bases up to the cache bound (the host's memo when it has
 * one). An error of `onArtifacts` is thrown once everything is resolved.
 */
export async function resolvePending(
  repo: FossilRepo,
  reader: BaseReader,
  newHashes: string[],
  limits: IngestLimits,
  /** Full texts of (some of) `newHashes` already at hand: bases read without walking their chains in storage. */
  known: { get(hash: string): Uint8Array | undefined } = new Map(),
  onArtifacts?: ArtifactBatchHandler,
): Promise<IngestResult> {
  const emit = new BatchEmitter(onArtifacts);
  await resolveInto(repo, reader, newHashes, limits, known, emit);
  return emit.finish();
}

async function resolveInto(
  repo: FossilRepo,
  reader: BaseReader,
  newHashes: string[],
  limits: IngestLimits,
  known: { get(hash: string): Uint8Array | undefined },
  emit: BatchEmitter,
): Promise<void> {
  const texts = repo.memo?.texts ?? new LruBaseCache(limits.contentCacheBytes);
  const textOf = (h: string) => texts.get(h) ?? known.get(h);
  // Resolved here but not committed yet: their depths, and the batch to commit.
  const depths = new Map<string, number>();
  let sink = new RecordSink(repo);
  let rows: FossilRowInput[] = [];
  let remove: string[] = [];
  // Parsed structural artifacts of the batch, with the bytes of their texts.
  let structural = new Map<string, { artifact: Artifact; size: number; private: boolean }>();
  let structuralBytes = 0;
  const flush = async () => {
    await sink.finish();
    const clusters = [...structural.values()].filter((s) => s.artifact.type === 'cluster');
    const members = (priv: boolean) => clusters.filter((s) => s.private === priv).flatMap((s) => s.artifact.cards.members ?? []);
    const result = await repo.store.commit({
      rows,
      pendingRemove: remove,
      unclusteredAdd: rows.filter((r) => !r.private).map((r) => r.hash),
      unclusteredRemove: clusters.flatMap((s) => s.artifact.cards.members ?? []),
      phantoms: members(false),
      privatePhantoms: members(true),
    });
    const inserted = structural;
    sink = new RecordSink(repo);
    rows = [];
    remove = [];
    structural = new Map();
    structuralBytes = 0;
    depths.clear();
    // Committed: crosslinked now, and then dropped.
    for (const r of result.inserted) {
      const s = inserted.get(r.hash);
      if (s) await emit.add({ hash: r.hash, seq: r.seq, artifact: s.artifact }, s.size);
    }
    inserted.clear();
    await emit.flush();
    // Committed and handed on: no parsed artifact (which may view its text) and no base is held here now.
    releaseMemo(repo.memo);
  };
  let frontier = newHashes;
  try {
    while (frontier.length > 0) {
      const pend = await repo.store.pendingByBase(frontier);
      if (pend.length === 0) break;
      const baseList = [...new Set(pend.map((p) => p.base))].filter((h) => !depths.has(h));
      const baseRows = new Map(baseList.map((h, i) => [h, i]));
      const storedBases = baseList.length > 0 ? await repo.store.rows(baseList) : [];
      const resolved: string[] = [];
      for (const p of pend) {
        let baseText = textOf(p.base);
        // Its base was resolved here but fell out of the cache: commit, so it can be read back.
        if (baseText === undefined && depths.has(p.base)) await flush();
        const i = baseRows.get(p.base);
        const baseDepth = depths.get(p.base) ?? (i !== undefined ? storedBases[i]?.depth : (await repo.store.rows([p.base]))[0]?.depth);
        baseText ??= (await reader.read(p.base)) ?? undefined;
        if (baseText === undefined || baseDepth === undefined) continue;
        let text: Uint8Array | null = null;
        try {
          const memo = repo.memo?.deltas.get(recordKey(p));
          const record = memo === undefined ? await repo.segments.readRange(p.segment, p.offset, p.length) : null;
          const delta = memo ?? repo.primitives.zlib.inflate(record!, p.recordSize);
          text = applyFossilDelta(baseText, delta, limits.maxArtifactBytes);
          // Read for this step only (the memo's are freed by releaseMemo): freed now.
          if (record !== null) releaseNow(...[record, delta].filter((b) => b.byteOffset === 0 && b.byteLength === b.buffer.byteLength));
        } catch {
          text = null;
        }
        // Applied: what the base's read made is freed (`text` is a new array).
        reader.release();
        if (text === null || text.length !== p.size || !verifyArtifact(repo.primitives, p.hash, text)) {
          remove.push(p.hash);
          continue;
        }
        if (baseDepth + 1 > MAX_CHAIN_DEPTH) {
          const rec = await sink.appendDeflated(text);
          rows.push({ hash: p.hash, size: text.length, ...rec, recordSize: text.length, format: 'full', base: null, private: p.private });
          depths.set(p.hash, 0);
        } else {
          rows.push({ ...p, format: 'fossil-delta' });
          depths.set(p.hash, baseDepth + 1);
        }
        const a = parseStructural(repo.primitives, text);
        if (a) {
          structural.set(p.hash, { artifact: a, size: text.length, private: p.private });
          structuralBytes += text.length;
        }
        texts.set(p.hash, text);
        resolved.push(p.hash);
        // Parsed artifacts are held only until their batch is committed and handed on.
        if (structural.size >= ARTIFACT_BATCH_COUNT || structuralBytes >= ARTIFACT_BATCH_BYTES) await flush();
      }
      if (rows.length >= RESOLVE_BATCH) await flush();
      frontier = resolved;
    }
    if (rows.length > 0 || remove.length > 0) await flush();
  } catch (e) {
    await sink.abort();
    throw e;
  }
}

/** Hashes per states query when prefetching. */
const STATE_BATCH = 500;

/** Rows resolved from pending deltas per commit. */
const RESOLVE_BATCH = 500;
