/**
 * Git smart HTTP inside a repository's Durable Object. The Worker route has
 * already authenticated and answered the push probe;
 * it forwards the request here as
 *
 *   GET  https://repo/info/refs?service=git-upload-pack|git-receive-pack
 *   POST https://repo/git-upload-pack | https://repo/git-receive-pack
 *
 * with `x-hub-repo-id` (the immutable repository id: R2 key prefix),
 * `x-hub-max-body` (bytes of decoded body allowed), `x-hub-gzip: 1` when
 * the body is still gzip-encoded, and the client's
 * `git-protocol`. This file serves the advertisements (v0 for both services,
 * v2 capabilities), v2 `ls-refs` and the empty v2 request itself, and hands
 * everything else to the protocol engines in shared/ at one seam
 * (`runUploadPack` / `runReceivePack` below). The answer is always 200 with a
 * pkt-line body: errors become an `ERR <message>` pkt-line (`errorPkt`), which
 * git prints as "remote error: <message>".
 */
import { HubError, StreamError } from '../../shared/core/errors.js';
import { fromHex, toHex } from '../../shared/core/bytes.js';
import type { GitObjectType } from '../../shared/core/git/object-id.js';
import { parseTag } from '../../shared/core/git/tag.js';
import type { Primitives } from '../../shared/core/primitives.js';
import { ByteReader, ChunkPool, fromReadableStream, toReadableStream, type ByteStream } from '../../shared/core/stream.js';
import { applyFossilDelta, applyGitDelta } from '../../shared/delta/index.js';
import {
  receivePackAdvertisement,
  requestedProtocolVersion,
  uploadPackV0Advertisement,
  uploadPackV2Advertisement,
  type AdvertisedRef,
  type GitService,
  type HeadState,
} from '../../shared/protocols/git/advertisement.js';
import { DEFAULT_RECEIVE_FEATURES, DEFAULT_UPLOAD_FEATURES, type ReceivePackFeatures, type UploadPackFeatures } from '../../shared/protocols/git/capabilities.js';
import { lsRefsResponse } from '../../shared/protocols/git/ls-refs.js';
import { encodePkt, encodePkts, pktLength, readPkt } from '../../shared/protocols/git/pkt-line.js';
import { V2RequestParser } from '../../shared/protocols/git/upload-request.js';
import { OutputBuffers } from '../../shared/protocols/git/pack-writer.js';
import { uploadPack } from '../../shared/protocols/git/upload-pack.js';
import { receivePack, type ReceivePackOptions } from '../../shared/protocols/git/receive-pack.js';
import type { ObjectIndex, ObjectKindReader, RepoCommitter, RowStager } from '../../shared/storage/object-index.js';
import { readObject, type DeltaAppliers } from '../../shared/storage/object-store.js';
import { resolveRef, type RefStore } from '../../shared/storage/refs.js';
import type { SegmentStore } from '../../shared/storage/segments.js';
import type { SqlHost } from './repo-store.js';

/** Everything a git protocol engine needs of one repository. */
export interface GitRepo {
  refs: RefStore;
  index: ObjectIndex & Partial<ObjectKindReader>;
  committer: RepoCommitter & RowStager;
  segments: SegmentStore;
  primitives: Primitives;
  appliers: DeltaAppliers;
}

/**
 * What the hub's upload-pack offers: git's defaults plus any stored object as
 * a v0 want (allow-tip / allow-reachable-sha1-in-want). A v0 partial clone's
 * lazy fetch asks for bare blob ids and fails without it; v2 serves any
 * stored object anyway, so this opens nothing v2 does not.
 */
export const HUB_UPLOAD_FEATURES: UploadPackFeatures = { ...DEFAULT_UPLOAD_FEATURES, allowTipSha1InWant: true, allowReachableSha1InWant: true };

/** Options handed to the protocol engines with each POST body. */
export interface GitServiceOptions {
  /** 2 when the client sent `Git-Protocol: version=2` (upload-pack only; push is always v0). */
  protocol: 0 | 2;
  /** What the advertisement offered; the engine honours exactly this. */
  uploadFeatures: UploadPackFeatures;
  receiveFeatures: ReceivePackFeatures;
  /** Annotated tag -> peeled object, per DO instance (tag objects are immutable). */
  peeled: PeelCache;
  /** The hub's push policy (branch protection) and audit hook, from the Worker's push headers. */
  receiveHooks?: Pick<ReceivePackOptions, 'checkUpdate' | 'onApplied'>;
  /** Memory for the pack's output chunks, given back as the answer's writes complete (see written). */
  buffers?: OutputBuffers;
}

/** The protocol engine contract: a request body in, a response body out (both pkt-line byte streams). */
export type GitEngine = (repo: GitRepo, body: ByteStream, opts: GitServiceOptions) => ByteStream;

/**
 * The seam to the protocol engines in shared/: upload-pack serves v0 POSTs and
 * v2 `fetch` / `object-info`; receive-pack every push POST (the probe never
 * gets here). The body is already decoded and size-capped by the handler.
 */
function runUploadPack(repo: GitRepo, body: ByteStream, opts: GitServiceOptions): ByteStream | null {
  return uploadPack(repo, body, { protocol: opts.protocol, features: opts.uploadFeatures, onError: logError, build: opts.buffers && { buffers: opts.buffers } });
}
function runReceivePack(repo: GitRepo, body: ByteStream, opts: GitServiceOptions, releaseChunk?: (chunk: Uint8Array) => void): ByteStream | null {
  const tags = new PushedTags();
  const hooks = opts.receiveHooks;
  // The handler already enforces the push size cap while streaming the body.
  return receivePack(repo, body, {
    receiveFeatures: opts.receiveFeatures,
    maxPackBytes: Number.MAX_SAFE_INTEGER,
    onError: logError,
    releaseChunk,
    ...hooks,
    onTag: (id, type, object) => tags.add(id, type, object),
    onApplied: (updates) => {
      // The pack's objects are committed once a ref moved (else its rows are dropped: record nothing).
      if (updates.length > 0) tags.record(opts.peeled);
      return hooks?.onApplied?.(updates);
    },
  });
}

/** Errors that are not the client's fault: log them (the client got a protocol error). */
function logError(e: unknown): void {
  // A HubError is the client's fault (bad input, refused request): already answered, not worth a log line.
  if (e instanceof HubError) return;
  console.error('git engine error:', e);
}

/** Delta appliers for readObject (shared/delta's engines as they are). */
export const DELTA_APPLIERS: DeltaAppliers = { git: applyGitDelta, fossil: applyFossilDelta };

/**
 * Annotated tag id -> the non-tag object it peels to: immutable facts, in a bounded memo and, given
 * the DO's SQLite, in table git_peeled. With the memo alone a new DO instance (after a minute or so
 * idle, or a deploy) read every annotated tag again for its first advertisement, one segment read
 * per tag (5000 tags: ~5.5 s of workerd CPU and ~20 s per ls-remote locally, sequential R2 reads on
 * Cloudflare), and past `max` tags the oldest-first memo missed on every advertisement. Rows of
 * tags no ref names any more are kept (a few dozen bytes each).
 */
export class PeelCache {
  /** Tag -> peeled id; NOT_A_TAG for an object known to be no tag (a branch's commit: memo only). */
  private readonly map = new Map<string, string>();
  private tableReady = false;
  constructor(
    private readonly host?: SqlHost,
    private readonly max = 50_000,
  ) {}
  /** The peeled id, when known. */
  get(tag: string): string | undefined {
    const hit = this.map.get(tag);
    if (hit !== undefined || this.host === undefined) return hit || undefined;
    const row = this.table().sql.exec<{ target: string }>(`SELECT target FROM git_peeled WHERE tag = ?`, tag).toArray()[0];
    if (row !== undefined) this.remember(tag, row.target);
    return row?.target;
  }
  /**
   * get() of many ids: the memo, then one query a PEEL_BATCH of the rest (not a query each: see
   * currentRefs). null for an id the memo knows is no tag (undefined: not known to be either).
   */
  getMany(ids: readonly string[]): (string | null | undefined)[] {
    const out = ids.map((t): string | null | undefined => {
      const hit = this.map.get(t);
      return hit === NOT_A_TAG ? null : hit;
    });
    if (this.host === undefined) return out;
    const misses = ids.filter((_, k) => out[k] === undefined);
    const found = new Map<string, string>();
    for (let at = 0; at < misses.length; at += PEEL_BATCH) {
      const batch = JSON.stringify(misses.slice(at, at + PEEL_BATCH));
      for (const r of this.table().sql.exec<{ tag: string; target: string }>(`SELECT tag, target FROM git_peeled WHERE tag IN (SELECT value FROM json_each(?))`, batch)) {
        found.set(r.tag, r.target);
        this.remember(r.tag, r.target);
      }
    }
    return out.map((hit, k) => (hit === undefined ? found.get(ids[k]!) : hit));
  }
  /** Remembers that `id` is no annotated tag (its kind never changes), so advertisements stop asking the index. */
  notTag(id: string): void {
    this.remember(id, NOT_A_TAG);
  }
  /** Remembers a peeled id. */
  set(tag: string, peeled: string): void {
    this.remember(tag, peeled);
    this.host && this.table().sql.exec(`INSERT INTO git_peeled (tag, target) VALUES (?, ?) ON CONFLICT (tag) DO NOTHING`, tag, peeled);
  }
  /** In the memo, dropping its oldest entry when full. */
  private remember(tag: string, peeled: string): void {
    if (this.map.size >= this.max) this.map.delete(this.map.keys().next().value!);
    this.map.set(tag, peeled);
  }
  private table(): SqlHost {
    // Made on first use, as git-compact.ts makes its tables: no schema version for a cache.
    if (!this.tableReady) this.host!.sql.exec(`CREATE TABLE IF NOT EXISTS git_peeled (tag TEXT PRIMARY KEY, target TEXT NOT NULL) WITHOUT ROWID`);
    this.tableReady = true;
    return this.host!;
  }
}

/**
 * The annotated tags of one push, as receive-pack parses them, so their peeled ids go into the
 * PeelCache when the push commits: the first advertisement after a push of thousands of tags then
 * reads none of them back (5000 tags: ~7 s of workerd CPU and ~30 s locally before). Held as binary
 * ids, 41 bytes a tag, up to MAX_PUSHED_TAGS; tags past that are peeled when first advertised.
 */
export class PushedTags {
  private ids = new Uint8Array(0);
  private n = 0;
  add(id: string, type: GitObjectType, object: string): void {
    if (this.n >= MAX_PUSHED_TAGS) return;
    if ((this.n + 1) * TAG_BYTES > this.ids.length) {
      const next = new Uint8Array(Math.min(Math.max(64, this.n * 2), MAX_PUSHED_TAGS) * TAG_BYTES);
      next.set(this.ids);
      this.ids = next;
    }
    const at = this.n++ * TAG_BYTES;
    this.ids.set(fromHex(id), at);
    this.ids.set(fromHex(object), at + 20);
    this.ids[at + 40] = type === 'tag' ? 1 : 0;
  }
  /** Each tag's peeled id into `cache`: a tag of a tag once the chain reaches a tag known (from this push or before), else left to peelTag. */
  record(cache: PeelCache): void {
    const waiting = new Map<string, string>(); // a tag of a tag -> the tag it names
    for (let k = 0; k < this.n; k++) {
      const at = k * TAG_BYTES;
      const id = toHex(this.ids.subarray(at, at + 20));
      const object = toHex(this.ids.subarray(at + 20, at + 40));
      if (this.ids[at + 40] === 1) waiting.set(id, object);
      else cache.set(id, object);
    }
    // Each chain followed once, whatever order the pack had its tags in (git peels any depth).
    for (const start of waiting.keys()) {
      const chain: string[] = [];
      let peeled: string | undefined;
      for (let at: string | undefined = start; at !== undefined && (peeled = cache.get(at)) === undefined; ) {
        chain.push(at);
        const next = waiting.get(at);
        waiting.delete(at);
        at = next;
      }
      if (peeled !== undefined) for (const tag of chain) cache.set(tag, peeled);
    }
    this.ids = new Uint8Array(0);
    this.n = 0;
  }
}

/** Ids a query of PeelCache.getMany or of the index's kinds asks at once (a bound JSON array of ~43 KiB). */
const PEEL_BATCH = 1000;
/** PeelCache's memo value for an object that is no tag. */
const NOT_A_TAG = '';

/** A pushed tag: its id, its object's id, 1 when that is a tag. */
const TAG_BYTES = 41;
/** Tags of one push recorded at once (8 MiB held); a push of more leaves the rest to the first advertisement. */
const MAX_PUSHED_TAGS = 200_000;

/** The object `id` peels to when it is an annotated tag (following tags of tags to any depth, as git's peel_object does); undefined otherwise. */
export async function peelTag(repo: GitRepo, id: string, cache: PeelCache): Promise<string | undefined> {
  const hit = cache.get(id);
  if (hit !== undefined) return hit;
  const row = await repo.index.get(id);
  if (row === null || row.kind !== 'tag') return undefined;
  // Every tag of the chain is remembered, so a long chain is read once (ids are hashes: it cannot loop).
  const chain: string[] = [];
  for (let current = id; ; ) {
    const obj = await readObject({ index: repo.index, segments: repo.segments, primitives: repo.primitives, appliers: repo.appliers }, current);
    if (obj === null || obj.kind !== 'tag') return undefined;
    chain.push(current);
    // The tag names its target's type, so only tags of tags cost another read.
    const tag = parseTag(obj.data);
    if (tag.objectType !== 'tag') return remember(cache, chain, tag.object);
    current = tag.object;
    const known = cache.get(current);
    if (known !== undefined) return remember(cache, chain, known);
  }
}

function remember(cache: PeelCache, chain: string[], peeled: string): string {
  for (const tag of chain) cache.set(tag, peeled);
  return peeled;
}

/**
 * Every ref under refs/ (only those starting with one of `prefixes` unless null, as git's ls-refs
 * lists only what a ref-prefix asks), with `peeled` for annotated tags when `peel`, and HEAD's state.
 * Peeled ids known are read for all refs at once, and only refs the index says are tags go through
 * peelTag: a query or two a ref (git_peeled, then the index for a branch) cost 20,000 branches and
 * 20,000 tags ~0.8 s of workerd CPU a ls-remote, now ~0.25 s.
 */
export async function currentRefs(repo: GitRepo, peel: boolean, cache: PeelCache, prefixes: readonly string[] | null = null): Promise<{ refs: AdvertisedRef[]; head: HeadState | null }> {
  const listed = (await repo.refs.list('refs/')).filter((r) => prefixes === null || prefixes.some((p) => r.name.startsWith(p)));
  const peeled = peel ? cache.getMany(listed.map((r) => r.id)) : [];
  if (peel) {
    const unknown = listed.flatMap((r, k) => (peeled[k] === undefined ? [k] : []));
    for (let at = 0; at < unknown.length; at += PEEL_BATCH) {
      const batch = unknown.slice(at, at + PEEL_BATCH);
      const kinds = repo.index.kinds ? await repo.index.kinds(batch.map((k) => listed[k]!.id)) : null;
      for (const [j, k] of batch.entries()) {
        if (kinds === null || kinds[j] === 'tag') peeled[k] = await peelTag(repo, listed[k]!.id, cache);
        else if (kinds[j] !== null) cache.notTag(listed[k]!.id);
      }
    }
  }
  const refs = listed.map((r, k): AdvertisedRef => (peeled[k] == null ? { name: r.name, id: r.id } : { name: r.name, id: r.id, peeled: peeled[k]! }));
  const target = await repo.refs.readSymbolic('HEAD');
  const resolved = await resolveRef(repo.refs, 'HEAD');
  const head = target === null && resolved === null ? null : { target, id: resolved?.id ?? null };
  return { refs, head };
}

/** The `ERR <message>` pkt-line that reports a failed request inside a 200 (git prints "remote error: ..."). */
export function errorPkt(e: unknown): Uint8Array {
  const message = e instanceof HubError ? e.message : 'internal error';
  // One line, and short enough for one pkt-line whatever the message holds.
  return encodePkt(`ERR ${message.replace(/[\r\n]+/g, ' ').slice(0, 1000)}\n`);
}

/**
 * The same failure for a push whose client asked for side-band: send-pack
 * demultiplexes the whole answer and would call `ERR` a "bad band #69", so
 * the message goes on band 3 (git prints "remote: <message>" and stops).
 */
export function sidebandErrorPkts(e: unknown): Uint8Array {
  const message = e instanceof HubError ? e.message : 'internal error';
  return encodePkts([{ kind: 'data', payload: new TextEncoder().encode(`\x03${message.replace(/[\r\n]+/g, ' ').slice(0, 1000)}`) }, { kind: 'flush' }]);
}

/** How a failure is told to the client: set by the handler once it knows (see sidebandErrorPkts). */
interface ErrorMode {
  sideband: boolean;
}

/**
 * The one place errors meet the wire: a response body stream that ends with an
 * ERR pkt-line (or band-3 packet) instead of failing when `s` throws.
 */
async function* guarded(s: () => ByteStream | Promise<ByteStream>, mode: ErrorMode): ByteStream {
  try {
    yield* await s();
  } catch (e) {
    if (!(e instanceof HubError)) console.error('git request failed:', e);
    yield mode.sideband ? sidebandErrorPkts(e) : errorPkt(e);
  }
}

/**
 * The decoded request body as a ByteStream, at most `limit` bytes: past it a
 * StreamError ('too-large'), counted as chunks arrive. A failure of the body
 * itself (a corrupt gzip stream, a client gone) becomes a StreamError too, so
 * the client gets a protocol error and never a 5xx.
 */
export async function* requestBody(body: ReadableStream<Uint8Array> | null, gzip: boolean, limit: number, what: string, pool?: ChunkPool): AsyncGenerator<Uint8Array, void, undefined> {
  if (body === null) return;
  let total = 0;
  // Decoded here rather than in the Worker: a stream that fails on its way into
  // the DO arrives as a clean (truncated) end, while a failure here is seen.
  const it = fromReadableStream(gzip ? body.pipeThrough(new DecompressionStream('gzip')) : body, pool)[Symbol.asyncIterator]();
  try {
    for (;;) {
      let r: IteratorResult<Uint8Array>;
      try {
        r = await it.next();
      } catch (e) {
        throw new StreamError('bad-body', `${what} could not be read: ${(e as Error).message}`);
      }
      if (r.done) return;
      if (total + r.value.length > limit) {
        // The bytes up to the limit still go out, so a reader can see what the request was (a push's side-band choice).
        if (limit > total) yield r.value.subarray(0, limit - total);
        throw new StreamError('too-large', `${what} is larger than the hub's limit of ${formatBytes(limit)}`, { limit });
      }
      total += r.value.length;
      yield r.value;
    }
  } finally {
    // Read what the engine left (bounded) before letting go: cancelling the body
    // while the Worker still pumped it failed that pump (an uncaught "Network
    // connection lost"), and the client is still uploading it anyway.
    try {
      for (let n = 0; n <= MAX_DRAIN_BYTES; ) {
        const r = await it.next();
        if (r.done) break;
        n += r.value.length;
      }
    } catch {
      // a body that cannot be read further: nothing to wait for
    }
    await it.return?.();
  }
}

/** Request bytes read and dropped after the engine stopped reading (Cloudflare caps bodies below this). */
const MAX_DRAIN_BYTES = 128 * 1024 * 1024;

function formatBytes(n: number): string {
  return n >= 1024 * 1024 && n % (1024 * 1024) === 0 ? `${n / (1024 * 1024)} MiB` : `${n} bytes`;
}

/** What is left of `reader`'s source, as a ByteStream (consuming the reader). */
async function* rest(reader: ByteReader): ByteStream {
  for (;;) {
    const chunk = await reader.peekChunk();
    if (chunk === null) return;
    // Not copied: the reader never writes into its chunks (a copy cost a
    // memcpy of every pushed byte), and the engine may keep this view.
    await reader.skip(chunk.length);
    yield chunk;
  }
}

/**
 * Whether a push's first command line asks for side-band(-64k), peeked without
 * consuming anything (a malformed start answers false: the engine reports it).
 */
async function asksForSideband(reader: ByteReader): Promise<boolean> {
  const head = await reader.peek(4);
  if (head.length < 4) return false;
  let n: number;
  try {
    n = pktLength(head);
  } catch {
    return false;
  }
  if (n <= 4) return false;
  const line = await reader.peek(n);
  const nul = line.indexOf(0);
  if (nul < 0) return false;
  const caps = new TextDecoder().decode(line.subarray(nul + 1)).trim().split(' ');
  return caps.includes('side-band-64k') || caps.includes('side-band');
}

/** Reads every byte of `s` (so the limit is enforced and the client's upload completes), keeping none. */
async function drain(s: ByteStream): Promise<void> {
  for await (const _ of s) void _;
}

/** Answers one forwarded git request inside the DO. */
export async function handleGitRequest(
  request: Request,
  repo: GitRepo,
  peeled: PeelCache,
  receiveHooks?: GitServiceOptions['receiveHooks'],
): Promise<Response> {
  const url = new URL(request.url);
  const limit = Number(request.headers.get('x-hub-max-body') ?? '0');
  const gzip = request.headers.get('x-hub-gzip') === '1';
  const requested = requestedProtocolVersion(request.headers.get('git-protocol'));
  // v1 differs from v0 only in its advertisement's first line.
  const protocol = requested === 2 ? 2 : 0;
  const opts: GitServiceOptions = {
    protocol,
    uploadFeatures: HUB_UPLOAD_FEATURES,
    receiveFeatures: DEFAULT_RECEIVE_FEATURES,
    peeled,
    receiveHooks,
  };
  const mode: ErrorMode = { sideband: false };
  const reply = (s: () => ByteStream | Promise<ByteStream>) => new Response(toReadableStream(guarded(s, mode)), { status: 200 });

  if (request.method === 'GET' && url.pathname === '/info/refs') {
    const service = url.searchParams.get('service') as GitService;
    return reply(async function* () {
      if (service === 'git-receive-pack') {
        const { refs } = await currentRefs(repo, false, peeled);
        yield encodePkts(receivePackAdvertisement(refs, opts.receiveFeatures, requested === 1));
        return;
      }
      if (protocol === 2) {
        yield encodePkts(uploadPackV2Advertisement(opts.uploadFeatures));
        return;
      }
      const { refs, head } = await currentRefs(repo, true, peeled);
      yield encodePkts(uploadPackV0Advertisement(refs, head, opts.uploadFeatures, requested === 1));
    });
  }
  // Each POST body is finished (drained, see requestBody) once the answer is
  // complete, even where an engine stopped reading it on an error.
  if (request.method === 'POST' && url.pathname === '/git-upload-pack') {
    const body = requestBody(request.body, gzip, limit, 'request');
    // The pack's output chunks are written, not pulled, so their memory is used again (see written).
    const buffers = new OutputBuffers();
    const upload = { ...opts, buffers };
    const answer = guarded(async function* () {
      try {
        yield* protocol === 2 ? uploadPackV2(repo, body, upload) : engineOrRefusal(runUploadPack(repo, body, upload), body, 'fetch');
      } finally {
        await body.return(undefined);
      }
    }, mode);
    return new Response(written(answer, buffers.release), { status: 200 });
  }
  if (request.method === 'POST' && url.pathname === '/git-receive-pack') {
    return reply(async function* () {
      // The pack reader hands the body's buffers back as it reads past them (no 256 KiB of garbage per read).
      const pool = new ChunkPool();
      const raw = requestBody(request.body, gzip, limit, 'push', pool);
      try {
        const reader = new ByteReader(raw);
        mode.sideband = await asksForSideband(reader);
        const body = rest(reader);
        yield* engineOrRefusal(runReceivePack(repo, body, opts, pool.release), body, 'push');
      } finally {
        await raw.return(undefined);
      }
    });
  }
  return new Response('not found\n', { status: 404 });
}

/**
 * `s` written into an IdentityTransformStream, each chunk given to `release` once its write is
 * done. Such a stream buffers nothing: a write completes when the reader has taken all its bytes
 * (workerd copies them out into the response), so the chunk's memory is free again; a JS-pulled
 * stream (toReadableStream) never says when the runtime is done with a chunk. If the client goes
 * away, the write fails and `s` is ended (its finally blocks run).
 */
function written(s: ByteStream, release: (chunk: Uint8Array) => void): ReadableStream<Uint8Array> {
  const { readable, writable } = new IdentityTransformStream();
  const writer = writable.getWriter();
  void (async () => {
    try {
      for await (const chunk of s) {
        await writer.write(chunk);
        release(chunk);
      }
      await writer.close();
    } catch (e) {
      await writer.abort(e).catch(() => undefined);
    }
  })();
  return readable as ReadableStream<Uint8Array>;
}

/** The engine's stream; without an engine, the body is read to its end and the request refused. */
async function* engineOrRefusal(engine: ByteStream | null, body: ByteStream, what: string): ByteStream {
  if (engine !== null) return yield* engine;
  await drain(body);
  throw new HubError('not-implemented', `${what} is not supported by this hub yet`);
}

/**
 * A v2 upload-pack POST: the empty request and `ls-refs` are answered here,
 * `fetch` and `object-info` go to the engine with the body replayed from its
 * first byte (only the first pkt-line is looked at before deciding).
 */
async function* uploadPackV2(repo: GitRepo, body: ByteStream, opts: GitServiceOptions): ByteStream {
  const reader = new ByteReader(body);
  const head = await reader.peek(4);
  let command: string | null = null;
  if (head.length === 4) {
    const n = pktLength(head);
    if (n > 4) {
      const first = await reader.peek(n);
      const text = new TextDecoder().decode(first.subarray(4)).replace(/\n$/, '');
      if (text.startsWith('command=')) command = text.slice('command='.length);
    }
  }
  if (command === 'fetch' || command === 'object-info') {
    const remaining = rest(reader);
    return yield* engineOrRefusal(runUploadPack(repo, remaining, opts), remaining, command);
  }
  const parser = new V2RequestParser(opts.uploadFeatures);
  for (;;) {
    const pkt = await readPkt(reader);
    if (pkt === null) break;
    parser.feed(pkt);
  }
  const req = parser.finish();
  if (req.command === null) return; // the empty request: an empty answer
  if (req.command !== 'ls-refs') throw new HubError('bad-request', 'unexpected command');
  const { refs, head: headState } = await currentRefs(repo, req.args.peel, opts.peeled, req.args.prefixes);
  yield encodePkts(lsRefsResponse(refs, headState, req.args));
}
