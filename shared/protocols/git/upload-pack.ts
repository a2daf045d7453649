/**
 * upload-pack: the body of `POST git-upload-pack` in, the response body out
 * (clone, fetch, ls-refs, object-info). One call per HTTP request; the server
 * keeps no state between rounds (stateless RPC).
 *
 *   uploadPack(store, body, { protocol: 0 | 2, features?, ... }): ByteStream
 *
 * v0 (gitprotocol-pack, multi_ack_detailed/no-done as git-smart-http.md §5):
 *   wants only (shallow first round)  -> shallow lines + flush (when deepening), nothing else
 *   haves + flush                     -> [shallow lines] ACK ... common / ready, NAK [+ ACK + pack]
 *   done                              -> [shallow lines] ACK <last> | NAK, then the pack
 *   the pack: side-band(-64k) band 1, progress on band 2 unless no-progress, flush;
 *   raw pack bytes when no side-band was asked
 * v2 (gitprotocol-v2):
 *   command=fetch      [acknowledgments] [shallow-info] packfile (band 1/2) flush
 *   command=ls-refs    lsRefsResponse over the store's refs
 *   command=object-info  sizes from the index
 *   empty request      nothing
 *
 * Errors never escape the stream: before the pack starts they become an
 * `ERR <message>` pkt-line, inside it a band-3 message (then the stream ends).
 * `opts.onError` sees every error (e.g. to log the unexpected ones).
 */
import { HubError } from '../../core/errors.js';
import { MAX_WALK, meetAncestors } from '../../core/history.js';
import type { Primitives } from '../../core/primitives.js';
import type { ByteStream } from '../../core/stream.js';
import { applyFossilDelta } from '../../delta/fossil.js';
import { applyGitDelta } from '../../delta/git.js';
import type { IdSet } from '../../storage/id-set.js';
import type { ObjectId } from '../../storage/ids.js';
import type { ObjectChainReader, ObjectIndexReader } from '../../storage/object-index.js';
import { LruBaseCache, type DeltaAppliers } from '../../storage/object-store.js';
import { BlockCachedSegments } from '../../storage/segment-cache.js';
import { MAX_REACH_TIPS, PlanRows, REACH_IN, REACH_OUTSIDE, type ReachIndex, type ReachPlan } from '../../storage/reach.js';
import { resolveRef, type RefReader } from '../../storage/refs.js';
import type { SegmentReader } from '../../storage/segments.js';
import type { AdvertisedRef, HeadState } from './advertisement.js';
import { DEFAULT_UPLOAD_FEATURES, ProtocolError, textPkt, type Pkt, type UploadPackFeatures } from './capabilities.js';
import { lsRefsResponse } from './ls-refs.js';
import { negotiateV0, negotiateV2, type HaveOracle } from './negotiation.js';
import { reachClosure, RepoView, walkObjects } from './object-walk.js';
import { orderReachPlan, planFetchPack, reachPlanToPackBytes, type BuildOptions, type ReachPackOrder } from './pack-builder.js';
import { FLUSH_PKT, PktLineError, encodePkt, encodePkts, pktLineBatches } from './pkt-line.js';
import { computeShallow, shallowInfoSection, shallowLinesV0, shallowSinceCutsNothing, type ShallowInfo, type ShallowQuery } from './shallow.js';
import { MAX_UNSHALLOW_PLAN, planOfObjects, unshallowPlan } from './unshallow.js';
import { BAND_DATA, BAND_ERROR, BAND_PROGRESS, SIDEBAND_64K_MAX, SIDEBAND_MAX, encodeSideband } from './sideband.js';
import {
  V2RequestParser,
  UploadRequestV0Parser,
  isShallowRequest,
  objectInfoResponse,
  type FetchArgs,
  type ShallowArgs,
  type UploadRequestV0,
} from './upload-request.js';

/** What upload-pack reads: refs, the object index and segments of one repository. */
export interface UploadPackStore {
  refs: RefReader;
  /** With `chain` (ObjectChainReader), a delta chain's rows come in one call. */
  index: ObjectIndexReader & Partial<ObjectChainReader> & Partial<ReachIndex>;
  segments: SegmentReader;
  primitives: Primitives;
  /** Delta appliers for rebuilding objects; default: shared/delta's git and fossil appliers. */
  appliers?: DeltaAppliers;
}

/** Options of uploadPack. */
export interface UploadPackOptions {
  /** Protocol the client asked for (`Git-Protocol: version=2` -> 2; else 0, which also serves v1). */
  protocol: 0 | 2;
  /** What the advertisement offered; must be the same value the route advertised. Default DEFAULT_UPLOAD_FEATURES. */
  features?: UploadPackFeatures;
  /** Largest request body read (bytes). Default DEFAULT_MAX_REQUEST_BYTES. */
  maxRequestBytes?: number;
  /** Bound on commits visited by one walk. Default MAX_WALK. */
  maxWalk?: number;
  /** Bytes of rebuilt delta bases kept while reading objects. Default 32 MiB. */
  baseCacheBytes?: number;
  /** Bytes of segment blocks kept for reading records (walk, rebuilt objects). Default 16 MiB. */
  segmentCacheBytes?: number;
  /** Pack-building knobs (range read sizes, zlib level). */
  build?: BuildOptions;
  /** Called with every error turned into an ERR line or a band-3 message. */
  onError?: (error: unknown) => void;
}

/** About how many bytes of pack go out per response chunk. */
const PACK_CHUNK_BYTES = 256 * 1024;

/** Default request body bound: MAX_WANTS want lines (50 bytes each in v2, 49 in v0), MAX_HAVES haves and MAX_SHALLOWS shallows fit. */
export const DEFAULT_MAX_REQUEST_BYTES = 32 * 1024 * 1024;

/** Serve one upload-pack POST: the response body as a stream of bytes (see the top of this file). */
export function uploadPack(store: UploadPackStore, body: ByteStream, opts: UploadPackOptions): ByteStream {
  const state: OutputState = { inSideband: false, max: SIDEBAND_64K_MAX, raw: false };
  return guard(serve(store, body, opts, state), state, opts.onError);
}

/** Where the response is, so an error can be reported in the right form. */
interface OutputState {
  /** The side-band stream has begun: errors go on band 3. */
  inSideband: boolean;
  /** Side-band packet size. */
  max: number;
  /** Raw pack bytes are being sent (no side-band): nothing more can be said. */
  raw: boolean;
}

/** The text of an error for the client: a HubError's message, or a generic one for bugs. */
export function errorMessage(e: unknown): string {
  if (e instanceof HubError) return e.message;
  return 'internal server error';
}

async function* guard(inner: AsyncGenerator<Uint8Array>, state: OutputState, onError?: (e: unknown) => void): ByteStream {
  try {
    yield* inner;
  } catch (e) {
    onError?.(e);
    const msg = errorMessage(e).replace(/\n/g, ' ');
    if (state.raw) return;
    if (state.inSideband) {
      yield* encodeSideband(BAND_ERROR, `${msg}\n`, state.max);
      return;
    }
    yield encodePkt(`ERR ${msg}\n`);
  }
}

/** Bounded pkt-lines of the request body, a batch per chunk (a PktLineError or a too-large body is a ProtocolError). */
async function* requestPkts(body: ByteStream, max: number): AsyncGenerator<Pkt[]> {
  let total = 0;
  async function* counted(): ByteStream {
    for await (const chunk of body) {
      total += chunk.length;
      if (total > max) throw new ProtocolError('request-too-large', `request larger than ${max} bytes`, { max });
      yield chunk;
    }
  }
  try {
    yield* pktLineBatches(counted());
  } catch (e) {
    if (e instanceof PktLineError) throw new ProtocolError('bad-pkt-line', `protocol error: ${e.message}`, { code: e.code });
    throw e;
  }
}

function session(store: UploadPackStore, opts: UploadPackOptions): RepoView {
  return new RepoView({
    index: store.index,
    // Walks read many small records in about storage order: fetch them in blocks.
    segments: new BlockCachedSegments(store.segments, { maxBytes: opts.segmentCacheBytes ?? 16 * 1024 * 1024 }),
    primitives: store.primitives,
    appliers: store.appliers ?? { git: applyGitDelta, fossil: applyFossilDelta },
    cache: new LruBaseCache(opts.baseCacheBytes ?? 32 * 1024 * 1024),
  });
}

async function* serve(store: UploadPackStore, body: ByteStream, opts: UploadPackOptions, state: OutputState): AsyncGenerator<Uint8Array> {
  const features = opts.features ?? DEFAULT_UPLOAD_FEATURES;
  const pkts = requestPkts(body, opts.maxRequestBytes ?? DEFAULT_MAX_REQUEST_BYTES);
  const view = session(store, opts);
  if (opts.protocol === 2) {
    const parser = new V2RequestParser(features);
    for await (const batch of pkts) for (const p of batch) parser.feed(p);
    const req = parser.finish();
    switch (req.command) {
      case null:
        return;
      case 'ls-refs': {
        const [refs, head] = await Promise.all([advertisedRefs(store.refs, view), headState(store.refs)]);
        yield encodePkts(lsRefsResponse(refs, head, req.args));
        return;
      }
      case 'object-info': {
        const sizes = new Map<string, number>();
        for (const oid of req.args.oids) {
          const row = await view.row(oid);
          if (row !== null && row.kind !== 'artifact') sizes.set(oid, row.size);
        }
        yield encodePkts(objectInfoResponse(req.args, sizes));
        return;
      }
      case 'fetch':
        yield* fetchV2(store, view, req.args, opts, state);
        return;
    }
  }
  const parser = new UploadRequestV0Parser(features);
  for await (const batch of pkts) for (const p of batch) parser.feed(p);
  const req = parser.finish();
  if (req.wants.size === 0) return;
  yield* fetchV0(store, view, req, features, opts, state);
}

/** The refs as advertised: annotated tags with their peeled ids. Exported for the route's v0 advertisement. */
export async function advertisedRefs(refs: RefReader, view: RepoView): Promise<AdvertisedRef[]> {
  const out: AdvertisedRef[] = [];
  for (const ref of await refs.list()) {
    const row = await view.row(ref.id);
    if (row !== null && row.kind === 'tag') out.push({ ...ref, peeled: (await view.peel(ref.id)).id });
    else out.push({ ...ref });
  }
  return out;
}

/** HEAD as the advertisements describe it; null when there is no HEAD at all. */
export async function headState(refs: RefReader): Promise<HeadState | null> {
  const target = await refs.readSymbolic('HEAD');
  const resolved = await resolveRef(refs, 'HEAD');
  if (target === null && resolved === null) return null;
  return { target, id: resolved?.id ?? null };
}

/** The ref advertisement inputs from a store (for routes): refs with peeled tags, and HEAD. */
export async function advertisementInputs(store: UploadPackStore): Promise<{ refs: AdvertisedRef[]; head: HeadState | null }> {
  const view = session(store, { protocol: 0 });
  return { refs: await advertisedRefs(store.refs, view), head: await headState(store.refs) };
}

/** Negotiation's view of the repository: commits we store, and git's ok_to_give_up bounded. */
function haveOracle(view: RepoView, wants: Iterable<ObjectId>): HaveOracle {
  return {
    has: async (id) => (await view.commit(id)) !== null,
    covered: async (common) => {
      // Every wanted commit must reach a common one, walking no older than the oldest common
      // (git's can_all_from_reach_with_flag). Past the budget, "any common" is the answer.
      const commonSet = new Set(common);
      let oldest = Infinity;
      for (const id of common) oldest = Math.min(oldest, (await view.commit(id))!.time);
      let budget = 20_000;
      for (const want of wants) {
        const p = await view.peel(want);
        if (p.row === null || p.row.kind !== 'commit') continue;
        const seen = new Set<ObjectId>([p.id]);
        const stack = [p.id];
        let found = false;
        while (stack.length > 0 && !found) {
          if (--budget < 0) return true;
          const id = stack.pop()!;
          if (commonSet.has(id)) {
            found = true;
            break;
          }
          const c = await view.commit(id);
          if (c === null || c.time < oldest) continue;
          for (const parent of c.parents) {
            if (!seen.has(parent)) {
              seen.add(parent);
              stack.push(parent);
            }
          }
        }
        if (!found) return false;
      }
      return true;
    },
  };
}

/** Check v0 wants: advertised tips, or (stateless RPC, as git) commits reachable from a ref; other objects only with allow-reachable-sha1-in-want. */
async function checkWantsV0(store: UploadPackStore, view: RepoView, wants: IdSet, features: UploadPackFeatures, limit: number): Promise<void> {
  const tips = new Set<ObjectId>((await store.refs.list()).map((r) => r.id));
  const head = await resolveRef(store.refs, 'HEAD');
  if (head) tips.add(head.id);
  // Tags' peeled ids only when a want is no ref's own id: peeling reads a row a ref, and a clone wants ref ids.
  if ([...wants].some((w) => !tips.has(w))) for (const r of await advertisedRefs(store.refs, view)) if (r.peeled) tips.add(r.peeled);
  const pending = new Set<ObjectId>();
  for (const w of wants) {
    if (tips.has(w)) continue;
    // Not memoised: a lazy fetch wants a blob per missing file, and a row each would outgrow the isolate.
    const row = await view.deps.index.get(w);
    if (row === null) throw new ProtocolError('not-our-ref', `upload-pack: not our ref ${w}`, { id: w });
    if (row.kind === 'commit') pending.add(w);
    else if (!features.allowReachableSha1InWant) throw new ProtocolError('not-our-ref', `upload-pack: not our ref ${w}`, { id: w });
  }
  if (pending.size > 0) await meetAncestors(view, await peeledCommits(view, tips), pending, limit);
  for (const w of pending) throw new ProtocolError('not-our-ref', `upload-pack: not our ref ${w}`, { id: w });
}

/** The commits `tips` peel to (tips that are no commits start nothing), for meetAncestors. */
async function peeledCommits(view: RepoView, tips: Iterable<ObjectId>): Promise<ObjectId[]> {
  const out: ObjectId[] = [];
  for (const t of tips) {
    const p = await view.peel(t);
    if (p.row?.kind === 'commit') out.push(p.id);
  }
  return out;
}

/** Wants checked per index call: one round trip for many (a lazy fetch sends one want per missing blob). */
const WANT_CHECK_BATCH = 1024;

/** v2 wants may name any object we store. */
async function checkWantsV2(view: RepoView, wants: IdSet): Promise<void> {
  const n = wants.size;
  for (let i = 0; i < n; i += WANT_CHECK_BATCH) {
    const ids: ObjectId[] = [];
    for (let j = i; j < Math.min(n, i + WANT_CHECK_BATCH); j++) ids.push(wants.at(j));
    const found = await view.deps.index.has(ids);
    const k = found.indexOf(false);
    if (k >= 0) throw new ProtocolError('not-our-ref', `upload-pack: not our ref ${ids[k]}`, { id: ids[k] });
  }
}

/** Resolve `deepen-not` names as git's dwim does, peeled to commits. */
async function resolveDeepenNot(refs: RefReader, view: RepoView, names: readonly string[]): Promise<ObjectId[]> {
  const out: ObjectId[] = [];
  for (const name of names) {
    let id: ObjectId | null = null;
    for (const full of [name, `refs/${name}`, `refs/tags/${name}`, `refs/heads/${name}`, `refs/remotes/${name}`]) {
      id = (await resolveRef(refs, full))?.id ?? null;
      if (id !== null) break;
    }
    if (id === null) throw new ProtocolError('bad-deepen', `git upload-pack: deepen-not is not a ref: ${name}`, { name });
    const p = await view.peel(id);
    if (p.row?.kind === 'commit') out.push(p.id);
  }
  return out;
}

/**
 * A shallow request's walks (its boundary's, then its objects') read their rows from V's plan
 * when every want is in V, so is everything below them, and the plan is at most
 * MAX_UNSHALLOW_PLAN objects: rows, delta chains and the pack's entries are then lookups in
 * memory, not an index query each (most of such a walk's time when they were).
 */
async function usePlanRows(store: UploadPackStore, view: RepoView, wants: IdSet): Promise<void> {
  const reach = store.index;
  if (view.plan !== null || !reach.reachState || !reach.reachStatus || !reach.reachPlan) return;
  if (wants.size > MAX_REACH_TIPS) return;
  const state = await reach.reachState();
  if (state.tips.length === 0) return;
  if ((await reach.reachStatus([...wants])).some((s) => s !== REACH_IN)) return;
  const plan = await reach.reachPlan(state.version, true);
  if (plan === null || plan.count > MAX_UNSHALLOW_PLAN) return;
  planTips.set(plan, state.tips);
  view.usePlan(PlanRows.of(plan));
}

/** The tips S whose closure a plan in use holds (usePlanRows). */
const planTips = new WeakMap<ReachPlan, readonly ObjectId[]>();

/** The shallow computation for a request, or null when it is not a shallow request. */
async function shallowFor(store: UploadPackStore, view: RepoView, wants: IdSet, args: ShallowArgs, limit: number): Promise<ShallowInfo | null> {
  if (!isShallowRequest(args)) return null;
  await usePlanRows(store, view, wants);
  const commits: ObjectId[] = [];
  for (const w of wants) {
    const p = await view.peel(w);
    if (p.row?.kind === 'commit') commits.push(p.id);
  }
  const q: ShallowQuery = {
    wants: commits,
    shallows: args.shallows,
    depth: args.depth,
    deepenRelative: args.deepenRelative,
    deepenSince: args.deepenSince,
    deepenNot: await resolveDeepenNot(store.refs, view, args.deepenNot),
  };
  // A --shallow-since older than every commit of V (which holds the wants' history when its plan
  // is in use) cuts nothing: known without a walk once one such walk went over all of V, and
  // the store kept its oldest date under the plan's name.
  const reach = store.index;
  const key = view.plan?.plan.key;
  const oldest = key === undefined ? null : ((await reach.reachOldestCommit?.(key)) ?? null);
  if (oldest !== null) {
    const none = await shallowSinceCutsNothing(view, q, oldest, limit);
    if (none !== null) return none;
  }
  // Else the walk tells V's oldest date when it goes over all of V (every tip of V below the wants).
  const tips = view.plan === null ? undefined : planTips.get(view.plan.plan);
  if (key !== undefined && oldest === null && q.deepenSince !== null && reach.keepReachOldestCommit && tips !== undefined) q.oldestOver = await peeledCommits(view, tips);
  const info = await computeShallow(view, q, limit);
  if (key !== undefined && info.oldest !== undefined) await reach.keepReachOldestCommit?.(key, info.oldest);
  return info;
}

/** Annotated tag ref values, for include-tag. */
async function tagRefIds(refs: RefReader, view: RepoView): Promise<ObjectId[]> {
  const out: ObjectId[] = [];
  for (const r of await refs.list('refs/tags/')) if ((await view.row(r.id))?.kind === 'tag') out.push(r.id);
  return out;
}

/** What the pack needs from a request, v0 or v2. */
interface PackRequest {
  wants: IdSet;
  common: readonly ObjectId[];
  shallow: ShallowInfo | null;
  filter: FetchArgs['filter'];
  includeTag: boolean;
  ofsDelta: boolean;
  thinPack: boolean;
  progress: boolean;
}

/** Enumerate, plan and stream the pack; `say` gets git's progress lines as they become known. */
async function buildPack(
  store: UploadPackStore,
  view: RepoView,
  r: PackRequest,
  opts: UploadPackOptions,
  say: (text: string) => void,
  chunkSize: number,
  sideband?: number,
): Promise<{ stream: { pack: ByteStream; summary: () => string } }> {
  const limit = opts.maxWalk ?? MAX_WALK;
  // Pack bytes joined into whole side-band packets (framed as they are joined when `sideband`);
  // records read past the view's block cache.
  const build: BuildOptions = { chunkSize, sideband, records: store.segments, ...opts.build };
  const short = await reachShortcut(store, view, r, limit, () => session(store, opts));
  if (short !== null) {
    const { plan, order } = short;
    await keptTrailer(store, plan, r.ofsDelta, build);
    say(`Enumerating objects: ${plan.count}, done.\n`);
    say(`Counting objects: 100% (${plan.count}/${plan.count}), done.\n`);
    const summary = () => `Total ${plan.count} (delta ${order.deltas}), reused ${order.reused} (delta ${order.deltas}), pack-reused 0\n`;
    return { stream: { pack: reachPlanToPackBytes(view, plan, order, r.ofsDelta, build), summary } };
  }
  const extra: ObjectId[] = [];
  for (const id of r.shallow?.unshallow ?? []) extra.push(...((await view.commit(id))?.parents ?? []));
  const unshallow = await unshallowShortcut(store, view, r, extra, limit);
  if (unshallow !== null) {
    const { plan, order } = unshallow;
    await keptTrailer(store, plan, r.ofsDelta, build);
    say(`Enumerating objects: ${plan.count}, done.\n`);
    say(`Counting objects: 100% (${plan.count}/${plan.count}), done.\n`);
    const summary = () => `Total ${plan.count} (delta ${order.deltas}), reused ${order.reused} (delta ${order.deltas}), pack-reused 0\n`;
    return { stream: { pack: reachPlanToPackBytes(view, plan, order, r.ofsDelta, build), summary } };
  }
  const walk = await walkObjects(view, {
    wants: r.wants,
    common: r.common,
    // Unshallowed commits stay parentless too: the client has them but not their parents
    // (which are sent as extra commits), so the have side must not walk through them.
    boundary: [...(r.shallow?.boundary ?? []), ...(r.shallow?.unshallow ?? [])],
    extraCommits: extra,
    clientShallow: clientShallow(r.shallow),
    filter: r.filter,
    includeTags: r.includeTag ? await tagRefIds(store.refs, view) : [],
    limit,
  });
  const n = walk.objects.length;
  say(`Enumerating objects: ${n}, done.\n`);
  // A filter means the client may lack blobs of its own commits: no thin deltas then.
  const thinPack = r.thinPack && r.filter === null;
  const fromPlan = view.plan && planOfObjects(view.plan, walk.objects, walk.have, thinPack);
  const { plan, order } = fromPlan ? { plan: fromPlan, order: orderReachPlan(fromPlan) } : await planFetchPack(view, walk.objects, { thinPack, have: walk.have, index: walk.index });
  say(`Counting objects: 100% (${n}/${n}), done.\n`);
  const summary = () => `Total ${n} (delta ${order.deltas}), reused ${order.reused} (delta ${order.deltas}), pack-reused 0\n`;
  return { stream: { pack: reachPlanToPackBytes(view, plan, order, r.ofsDelta, build), summary } };
}

/** A pack of a kept plan (the same bytes each time: a clone of an unchanged repository) has its trailer kept, not hashed again. */
async function keptTrailer(store: UploadPackStore, plan: ReachPlan, ofsDelta: boolean, build: BuildOptions): Promise<void> {
  const { key } = plan;
  const reach = store.index;
  if (key === undefined || !reach.reachPackDigest || !reach.keepReachPackDigest) return;
  const keep = reach.keepReachPackDigest.bind(reach);
  build.trailer = { known: await reach.reachPackDigest(key, ofsDelta), keep: (d) => void keep(key, ofsDelta, d).catch(() => undefined) };
}

/**
 * The clone shortcut (shared/storage/reach.ts): when the request wants every
 * ref and has no haves, shallow or filter other than blob:none, the pack is
 * the closure of the wants, which the index remembers. Only the objects
 * added since the closure was last proven are walked; the rest is streamed
 * from the index in storage order with no parsing. Null when it does not
 * apply (the caller walks as usual).
 */
async function reachShortcut(
  store: UploadPackStore,
  view: RepoView,
  r: PackRequest,
  limit: number,
  walkView: () => RepoView,
): Promise<{ plan: ReachPlan; order: ReachPackOrder } | null> {
  const reach = store.index;
  if (!reach.reachState || !reach.reachStatus || !reach.reachMark || !reach.reachPlan) return null;
  if (r.common.length > 0 || r.shallow !== null) return null;
  const blobs = r.filter === null;
  if (r.filter !== null && r.filter.kind !== 'blob:none') return null;
  const wanted = r.wants;
  // Every ref wanted (a clone): then include-tag adds nothing, and a recomputed closure is the whole repository's.
  for (const ref of await store.refs.list('refs/')) if (!wanted.has(ref.id)) return null;
  const tips = [...wanted];
  if (!blobs) {
    // blob:none still sends a blob that is wanted by name; leave such requests to the walk.
    for (const w of tips) if ((await view.peel(w)).row?.kind === 'blob') return null;
  }
  const state = await reach.reachState();
  // The walk's id sets (tens of MB on a large history) live only inside this call, so they can be
  // collected before the plan (as large again) is built.
  const mark = async (): Promise<number | null> => {
    const status = reach.reachRows ? (ids: ObjectId[]) => reach.reachRows!(ids) : (ids: ObjectId[]) => reach.reachStatus!(ids);
    // A view of its own, so its base and block caches (up to 48 MiB) go with the walk, not
    // stay full beside the plan while the pack streams.
    const walk = walkView();
    let closure = await reachClosure(walk, tips, status, limit);
    let reset = false;
    // Old tips the walk did not meet (a deleted ref, a force-push) may still be below the wants: a
    // merged branch's. A walk of commits alone shows it (no trees: a small part of a full walk).
    // (A tag or tree tip left is not looked for: only commits are walked.)
    const stale = new Set(state.tips.filter((t) => !wanted.has(t) && !closure.met.has(t)));
    let commits = true;
    for (const t of stale) if ((await walk.row(t))?.kind !== 'commit') commits = false;
    if (commits && stale.size > 0) await meetAncestors(walk, await peeledCommits(walk, tips), stale, limit);
    if (!commits || stale.size > 0) {
      // An old tip is not below the wants: the closure may hold objects nothing reaches any more,
      // which a clone must not get (they may be what a force-push meant to take back). Recompute it
      // from these wants alone.
      const ignoreClosure = async (ids: ObjectId[]) => {
        const answer = await status(ids);
        const st = (answer instanceof Uint8Array ? answer : answer.status).map((x) => (x === REACH_IN ? REACH_OUTSIDE : x));
        return answer instanceof Uint8Array ? st : { status: st, rows: answer.rows };
      };
      closure = await reachClosure(walk, tips, ignoreClosure, limit);
      reset = true;
    }
    // Nothing new and the same tips (a clone of an unchanged repository): the closure stands as it
    // is, and not bumping its version keeps the DO's remembered plan valid.
    if (!reset && closure.ids.length === 0 && sameSet(state.tips, tips)) return state.version;
    return reach.reachMark!(state.version, tips, closure.ids, reset);
  };
  const version = await mark();
  // Another exchange changed the closure meanwhile: walk as usual rather than retry.
  if (version === null) return null;
  const plan = await reach.reachPlan(version, blobs);
  if (plan === null) return null;
  return { plan, order: orderReachPlan(plan) };
}

/**
 * The unshallow shortcut (unshallow.ts): a shallow request whose boundary is
 * empty (every client shallow commit unshallowed, no new one: an unshallow, or
 * a --shallow-since, --depth or --shallow-exclude that cuts nothing),
 * unfiltered, is served from the remembered closure's plan when it applies.
 * Null otherwise (the caller walks).
 */
async function unshallowShortcut(
  store: UploadPackStore,
  view: RepoView,
  r: PackRequest,
  extra: ObjectId[],
  limit: number,
): Promise<{ plan: ReachPlan; order: ReachPackOrder } | null> {
  const reach = store.index;
  if (!reach.reachState || !reach.reachStatus || !reach.reachPlan) return null;
  const s = r.shallow;
  if (s === null || s.boundary.length > 0 || r.filter !== null) return null;
  // Each want is peeled one by one here: as many as the closure may have tips, no more.
  if (r.wants.size > MAX_REACH_TIPS) return null;
  const plan = await unshallowPlan(view, reach as ReachIndex, {
    wants: r.wants,
    extra,
    common: r.common,
    clientShallow: s.unshallow,
    includeTags: r.includeTag ? await tagRefIds(store.refs, view) : [],
    thinPack: r.thinPack,
    limit,
  });
  return plan && { plan, order: orderReachPlan(plan) };
}

/** The client's shallow commits we have: the boundary's that stay shallow, and the unshallowed. */
function clientShallow(s: ShallowInfo | null): ObjectId[] {
  if (s === null) return [];
  const fresh = new Set(s.shallow);
  return [...s.boundary.filter((id) => !fresh.has(id)), ...s.unshallow];
}

function sameSet(a: readonly ObjectId[], b: readonly ObjectId[]): boolean {
  const x = new Set(a);
  const y = new Set(b);
  return x.size === y.size && [...x].every((id) => y.has(id));
}

async function* fetchV0(
  store: UploadPackStore,
  view: RepoView,
  req: UploadRequestV0,
  features: UploadPackFeatures,
  opts: UploadPackOptions,
  state: OutputState,
): AsyncGenerator<Uint8Array> {
  const limit = opts.maxWalk ?? MAX_WALK;
  await checkWantsV0(store, view, req.wants, features, limit);
  const shallow = await shallowFor(store, view, req.wants, req, limit);
  const lines: Pkt[] = shallow ? shallowLinesV0(req, shallow) : [];
  if (req.end === 'wants-only') {
    if (lines.length > 0) yield encodePkts(lines);
    return;
  }
  const decision = await negotiateV0(req, haveOracle(view, req.wants));
  lines.push(...decision.lines);
  if (!decision.sendPack) {
    yield encodePkts(lines);
    return;
  }
  const r: PackRequest = {
    wants: req.wants,
    common: decision.common,
    shallow,
    filter: req.filter,
    includeTag: req.includeTag,
    ofsDelta: req.ofsDelta,
    thinPack: req.thinPack,
    progress: req.sideBand !== 'none' && !req.noProgress,
  };
  if (req.sideBand === 'none') {
    // Build before answering, so an error can still be an ERR line.
    const { stream } = await buildPack(store, view, r, opts, () => undefined, SIDEBAND_64K_MAX);
    yield encodePkts(lines);
    state.raw = true;
    yield* stream.pack;
    return;
  }
  const max = req.sideBand === 'side-band-64k' ? SIDEBAND_64K_MAX : SIDEBAND_MAX;
  yield* packResponse(store, view, r, opts, state, max, lines, []);
}

/**
 * `before` (plain pkt-lines), then the pack in side-band with progress, then a
 * flush. The pack is planned before anything is sent, so enumeration errors
 * are ERR lines; `wrapped` pkts (v2 sideband-all) go on band 1.
 */
async function* packResponse(
  store: UploadPackStore,
  view: RepoView,
  r: PackRequest,
  opts: UploadPackOptions,
  state: OutputState,
  max: number,
  before: Pkt[],
  wrapped: Pkt[],
): AsyncGenerator<Uint8Array> {
  const progress: Uint8Array[] = [];
  const say = (text: string) => {
    if (r.progress) progress.push(...encodeSideband(BAND_PROGRESS, text, max));
  };
  // A few packets per chunk: every chunk costs a step in each stream it passes (DO, Worker, runtime).
  const perChunk = Math.max(1, Math.floor(PACK_CHUNK_BYTES / max)) * max;
  const { stream } = await buildPack(store, view, r, opts, say, perChunk, max);
  const head: Uint8Array[] = [];
  if (before.length > 0) head.push(encodePkts(before));
  for (const p of wrapped) {
    if (p.kind === 'data') head.push(...encodeSideband(BAND_DATA, p.payload, max));
    else head.push(encodePkts([p]));
  }
  yield* head;
  state.inSideband = true;
  state.max = max;
  yield* progress;
  // Already band-1 pkt-lines (BuildOptions.sideband).
  yield* stream.pack;
  if (r.progress) yield* encodeSideband(BAND_PROGRESS, stream.summary(), max);
  yield FLUSH_PKT;
}

async function* fetchV2(store: UploadPackStore, view: RepoView, args: FetchArgs, opts: UploadPackOptions, state: OutputState): AsyncGenerator<Uint8Array> {
  const limit = opts.maxWalk ?? MAX_WALK;
  await checkWantsV2(view, args.wants);
  // Before the haves are looked up: they are commits of V too.
  if (isShallowRequest(args)) await usePlanRows(store, view, args.wants);
  const decision = await negotiateV2(args, haveOracle(view, args.wants));
  const sections: Pkt[] = [...decision.section];
  if (!decision.sendPack) {
    yield encodePkts(wrapAll(sections, args.sidebandAll));
    return;
  }
  const shallow = await shallowFor(store, view, args.wants, args, limit);
  if (shallow) sections.push(...shallowInfoSection(args, shallow));
  sections.push(textPkt('packfile\n'));
  const r: PackRequest = {
    wants: args.wants,
    common: decision.common,
    shallow,
    filter: args.filter,
    includeTag: args.includeTag,
    ofsDelta: args.ofsDelta,
    thinPack: args.thinPack,
    progress: !args.noProgress,
  };
  if (args.sidebandAll) yield* packResponse(store, view, r, opts, state, SIDEBAND_64K_MAX, [], sections);
  else yield* packResponse(store, view, r, opts, state, SIDEBAND_64K_MAX, sections, []);
}

/** With sideband-all every data pkt goes on band 1; flush and delim stay as they are. */
function wrapAll(pkts: Pkt[], sidebandAll: boolean): Pkt[] {
  if (!sidebandAll) return pkts;
  return pkts.map((p) => (p.kind === 'data' ? { kind: 'data', payload: Uint8Array.of(BAND_DATA, ...p.payload) } : p));
}
