/**
 * The unshallow shortcut: a fetch that gives a shallow client its whole
 * history (`git fetch --unshallow`: `deepen 2147483647`, every client shallow
 * commit answered `unshallow`, no new boundary) sends the closure of the
 * wants and the unshallowed commits' parents minus what the client has. When
 * the remembered closure V (shared/storage/reach.ts) is that closure (every
 * tip of V lies below a wanted commit), the pack is V's plan minus the
 * client's objects, taken from the plan's arrays instead of walking every
 * commit and tree of the history (and then looking each object's row up),
 * for closures of up to MAX_UNSHALLOW_PLAN objects (the plan is copied).
 *
 * What the client has (git's rule): the commits its haves reach down to its
 * shallow commits, and everything their trees reach (a shallow client has
 * whole trees). So a blob of an old commit equal to one of the shallow tip's
 * is not sent. Annotated tags go as the walk sends them: wanted ones, and
 * with include-tag those whose object is in the pack.
 */
import { meetAncestors } from '../../core/history.js';
import { IdSet, type PackedIds } from '../../storage/id-set.js';
import type { ObjectId } from '../../storage/ids.js';
import { PLAN_BASE_OUTSIDE, PLAN_BASE_THIN, PLAN_KINDS, REACH_IN, type PlanRows, type ReachIndex, type ReachPlan } from '../../storage/reach.js';
import { markHave, type RepoView } from './object-walk.js';

/** What an unshallow fetch asks for. */
export interface UnshallowQuery {
  wants: Iterable<ObjectId>;
  /** Parents of the unshallowed commits (sent with their history). */
  extra: readonly ObjectId[];
  /** Commits the client has (acknowledged haves). */
  common: readonly ObjectId[];
  /** The client's shallow commits (all unshallowed): its history stops there. */
  clientShallow: readonly ObjectId[];
  /** Annotated tag ref values for include-tag (empty without it). */
  includeTags: readonly ObjectId[];
  thinPack: boolean;
  /** Bound on commits visited. */
  limit: number;
}

/**
 * Largest closure whose plan is copied for an unshallow: the copy lies beside the kept plan (50-62
 * bytes an object each), and a million-object clone's one plan already nears the isolate's 128 MB.
 */
export const MAX_UNSHALLOW_PLAN = 300_000;

const TAG = PLAN_KINDS.indexOf('tag');
const COMMIT = PLAN_KINDS.indexOf('commit');

/** The fetch plan of an unshallow from V's plan, or null when the shortcut does not apply (walk then). */
export async function unshallowPlan(view: RepoView, reach: ReachIndex, q: UnshallowQuery, maxPlan = MAX_UNSHALLOW_PLAN): Promise<ReachPlan | null> {
  const state = await reach.reachState();
  if (state.tips.length === 0) return null;
  // Everything asked for must be in V, and every tip of V below a wanted commit: then V holds
  // exactly the wants' closure and the tags of V's tips.
  const roots: ObjectId[] = [];
  const wantTags = new Set<ObjectId>();
  const asked = [...q.wants];
  for (const w of asked) {
    const p = await view.peel(w);
    if (p.row?.kind !== 'commit') return null;
    for (const t of p.tags) wantTags.add(t);
    roots.push(p.id);
  }
  roots.push(...q.extra);
  const status = await reach.reachStatus([...asked, ...q.extra]);
  if (status.some((s) => s !== REACH_IN)) return null;
  const rootSet = new Set(roots);
  const pending = new Set<ObjectId>();
  for (const t of state.tips) {
    const p = await view.peel(t);
    if (p.row?.kind !== 'commit') return null;
    if (!rootSet.has(p.id)) pending.add(p.id);
  }
  await meetAncestors(view, roots, pending, q.limit);
  if (pending.size > 0) return null;
  const plan = await reach.reachPlan(state.version, true);
  if (plan === null || plan.count > maxPlan) return null;
  // What the client has: worth it only while it is the smaller part of the history (else walk).
  let budget = 0;
  for (let i = 0; i < plan.count; i++) if (plan.kind[i] === COMMIT) budget++;
  budget = Math.floor(budget / 2);
  const have = new IdSet();
  const cut = new Set(q.clientShallow);
  const stack = [...q.common];
  while (stack.length > 0) {
    const id = stack.pop()!;
    if (have.has(id)) continue;
    const c = await view.commit(id);
    if (c === null) continue;
    if (--budget < 0) return null;
    have.add(id);
    await markHave(view, c.tree, have);
    if (!cut.has(id)) stack.push(...c.parents);
  }
  // Tags: the wanted ones, and include-tag's (not had, their object in the pack); all in V's plan.
  const tags = new IdSet();
  for (const t of wantTags) if (!have.has(t)) tags.add(t);
  const targets: ObjectId[] = [];
  const chains: ObjectId[][] = [];
  for (const t of q.includeTags) {
    if (have.has(t)) continue;
    const p = await view.peel(t);
    if (have.has(p.id)) continue;
    targets.push(p.id);
    chains.push(p.tags);
  }
  const inV = await reach.reachStatus(targets);
  for (let k = 0; k < targets.length; k++) if (inV[k] === REACH_IN) for (const t of chains[k]) tags.add(t);
  return planWithout(plan, have, tags, q.thinPack);
}

/**
 * `plan`'s entries minus the ids in `have` and minus its tags not in `tags`,
 * in the same (storage) order. A delta whose base is dropped becomes a thin
 * REF_DELTA when `thin` and the client has the base, else it is rebuilt.
 * Null when a tag of `tags` is not in the plan.
 */
export function planWithout(plan: ReachPlan, have: IdSet, tags: IdSet, thin: boolean): ReachPlan | null {
  const n = plan.count;
  const at = new Int32Array(n);
  let count = 0;
  let tagsMet = 0;
  for (let i = 0; i < n; i++) {
    const off = i * 20;
    const keep = plan.kind[i] === TAG ? tags.hasAt(plan.ids, off) : !have.hasAt(plan.ids, off);
    if (keep && plan.kind[i] === TAG) tagsMet++;
    at[i] = keep ? count++ : -1;
  }
  if (tagsMet !== tags.size) return null;
  // Nothing left out (a --shallow-since or --depth that cuts nothing, in a clone): the plan itself.
  if (count === n) return plan;
  return pickEntries(plan, at, count, have, thin);
}

/**
 * The fetch plan of a walk's `objects` (walkObjects) from V's plan, whose
 * PlanRows it read its rows through: the same entries planFetchPack would
 * plan, in the same (storage) order, without asking the index for a row of
 * each. Null when an object is not in the plan.
 */
export function planOfObjects(rows: PlanRows, objects: PackedIds, have: IdSet, thin: boolean): ReachPlan | null {
  const plan = rows.plan;
  const at = new Int32Array(plan.count).fill(-1);
  for (let k = 0; k < objects.length; k++) {
    const e = rows.entryAt(objects.bytes, k * 20);
    if (e < 0) return null;
    at[e] = 0;
  }
  let count = 0;
  for (let i = 0; i < plan.count; i++) if (at[i] === 0) at[i] = count++;
  return pickEntries(plan, at, count, have, thin);
}

/**
 * The `count` entries of `plan` with `at[i] >= 0` (entry i goes to `at[i]`, in plan order). A
 * delta whose base is not kept becomes a thin REF_DELTA when `thin` and the client has the base,
 * else it is rebuilt.
 */
function pickEntries(plan: ReachPlan, at: Int32Array, count: number, have: IdSet, thin: boolean): ReachPlan {
  const n = plan.count;
  const keep = new Int32Array(count);
  for (let i = 0; i < n; i++) if (at[i] >= 0) keep[at[i]] = i;
  // The columns keep their types (whatever ReachPlan declares), entry by entry.
  const pick = <T extends { length: number; [k: number]: number }>(a: T): T => {
    const out = new (a.constructor as new (n: number) => T)(count);
    for (let k = 0; k < count; k++) out[k] = a[keep[k]];
    return out;
  };
  const ids = new Uint8Array(count * 20);
  for (let k = 0; k < count; k++) ids.set(plan.ids.subarray(keep[k] * 20, keep[k] * 20 + 20), k * 20);
  const base = new Int32Array(count);
  let thinBases: Uint8Array | undefined;
  for (let k = 0; k < count; k++) {
    const b = plan.base[keep[k]];
    if (b < 0 || at[b] >= 0) {
      base[k] = b < 0 ? b : at[b];
      continue;
    }
    base[k] = PLAN_BASE_OUTSIDE;
    if (thin && have.hasAt(plan.ids, b * 20)) {
      thinBases ??= new Uint8Array(count * 20);
      thinBases.set(plan.ids.subarray(b * 20, b * 20 + 20), k * 20);
      base[k] = PLAN_BASE_THIN;
    }
  }
  const out: ReachPlan = {
    count,
    segmentNames: plan.segmentNames,
    seg: pick(plan.seg),
    offset: pick(plan.offset),
    length: pick(plan.length),
    size: pick(plan.size),
    recordSize: pick(plan.recordSize),
    kind: pick(plan.kind),
    format: pick(plan.format),
    base,
    ids,
  };
  if (thinBases !== undefined) out.thinBases = thinBases;
  return out;
}

