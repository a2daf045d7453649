/**
 * Shallow boundaries for `deepen <n>`, `deepen-relative`, `deepen-since` and
 * `deepen-not` (git's upload-pack.c deepen/deepen_by_rev_list and shallow.c
 * get_shallow_commits*), over the CommitGraph of core/history.ts.
 *
 *   shallow <id>      a commit we send without its parents (new client boundary)
 *   unshallow <id>    a client shallow commit whose parents we now send
 *
 * v0 sends these lines then a flush (when a deepen was asked); v2 puts them in a
 * `shallow-info` section ended by a delim.
 */
import { commitsBetween, HistoryError, MAX_WALK, meetAncestors, type CommitGraph, type CommitInfo } from '../../core/history.js';
import { DELIM, FLUSH, ProtocolError, textPkt, type Pkt } from './capabilities.js';
import { INFINITE_DEPTH, isShallowRequest, type ShallowArgs } from './upload-request.js';

/** What the shallow computation decided. */
export interface ShallowInfo {
  /** New boundary commits to announce (`shallow <id>`). */
  shallow: string[];
  /** Client shallow commits whose parents will now be sent (`unshallow <id>`). */
  unshallow: string[];
  /**
   * Every commit the pack walk must treat as having no parents: the new
   * boundary plus the client's shallow commits that stay shallow.
   */
  boundary: string[];
  /** Set when a `deepen-since` cut nothing and selected every `oldestOver` commit: the oldest date it selected. */
  oldest?: number;
}

/** Inputs: the request's shallow arguments with `deepen-not` refs already resolved to commit ids. */
export interface ShallowQuery {
  /** Wanted commits (tags peeled; non-commits are skipped as git does). */
  wants: readonly string[];
  /** The client's shallow lines. Ids we lack are ignored, as git does. */
  shallows: readonly string[];
  depth: number | null;
  deepenRelative: boolean;
  deepenSince: number | null;
  /** Commit ids the `deepen-not` refs point to. */
  deepenNot: readonly string[];
  /**
   * Commits (a closure's tips) whose history a `deepen-since` that cuts nothing reports the oldest
   * date of (ShallowInfo.oldest), when it selected them all: it then walked all of their history.
   */
  oldestOver?: readonly string[];
}

async function load(graph: CommitGraph, id: string): Promise<CommitInfo> {
  const c = await graph.commit(id);
  if (!c) throw new HistoryError('missing-commit', `commit ${id} is not in the repository`, { id });
  return c;
}

/** Compute shallow/unshallow lines and the pack's boundary. `limit` bounds commits visited. */
export async function computeShallow(graph: CommitGraph, q: ShallowQuery, limit = MAX_WALK): Promise<ShallowInfo> {
  const client: string[] = [];
  for (const id of new Set(q.shallows)) if (await graph.commit(id)) client.push(id);
  const clientSet = new Set(client);
  let result: string[] = [];
  let notShallow = new Set<string>();
  let oldest: number | undefined;
  if (q.depth !== null && (q.deepenSince !== null || q.deepenNot.length > 0)) {
    throw new ProtocolError('bad-deepen', 'deepen and deepen-since (or deepen-not) cannot be used together');
  }
  if (q.depth === INFINITE_DEPTH) {
    notShallow = new Set(client);
  } else if (q.depth !== null) {
    const heads = q.deepenRelative ? client : q.wants;
    ({ result, notShallow } = await shallowByDepth(graph, heads, q.deepenRelative ? q.depth + 1 : q.depth, limit));
  } else if (q.deepenSince !== null || q.deepenNot.length > 0) {
    ({ result, notShallow, oldest } = await shallowByRevList(graph, q, limit));
  } else {
    return { shallow: [], unshallow: [], boundary: client };
  }
  const shallow = [...new Set(result)].filter((id) => !clientSet.has(id) && !notShallow.has(id));
  const unshallow = client.filter((id) => notShallow.has(id));
  const boundary = [...shallow, ...client.filter((id) => !notShallow.has(id))];
  return oldest === undefined ? { shallow, unshallow, boundary } : { shallow, unshallow, boundary, oldest };
}

/**
 * computeShallow of a `deepen-since` alone that cuts nothing, without walking the history:
 * `oldest` is at most the date of every commit the wants reach (the oldest of a closure that
 * holds them), so when the cut is no later, git's deepen_by_rev_list selects every commit below
 * the wants and none is a boundary. The client's shallow commits the wants reach are unshallowed
 * (a walk that stops once it met them all). Null when that does not apply: computeShallow then.
 */
export async function shallowSinceCutsNothing(graph: CommitGraph, q: ShallowQuery, oldest: number, limit = MAX_WALK): Promise<ShallowInfo | null> {
  if (q.deepenSince === null || q.depth !== null || q.deepenNot.length > 0 || q.wants.length === 0 || q.deepenSince > oldest) return null;
  const client: string[] = [];
  for (const id of new Set(q.shallows)) if (await graph.commit(id)) client.push(id);
  const pending = new Set(client);
  await meetAncestors(graph, q.wants, pending, limit);
  // One not met may lie past the walk's bound: the full computation says so.
  if (pending.size > 0) return null;
  return { shallow: [], unshallow: client, boundary: [] };
}

/** git's get_shallow_commits: commits at `depth` along each head's history (head = 1) become shallow. */
async function shallowByDepth(graph: CommitGraph, heads: readonly string[], depth: number, limit: number) {
  const depths = new Map<string, number>();
  const notShallow = new Set<string>();
  const found: string[] = [];
  const stack: string[] = [];
  let visits = 0;
  let i = 0;
  let commit: string | null = null;
  let cur = 0;
  while (commit !== null || i < heads.length || stack.length > 0) {
    if (commit === null) {
      if (i < heads.length) {
        const head = heads[i++];
        if (!(await graph.commit(head))) continue;
        commit = head;
        depths.set(head, 0);
        cur = 0;
      } else {
        commit = stack.pop()!;
        cur = depths.get(commit)!;
      }
    }
    if (++visits > limit) throw new HistoryError('walk-limit', `shallow walk passed ${limit} commits`);
    const info = await load(graph, commit);
    cur++;
    if (depth !== INFINITE_DEPTH && cur >= depth) {
      found.push(commit);
      commit = null;
      continue;
    }
    notShallow.add(commit);
    commit = null;
    const parents = info.parents;
    for (let k = 0; k < parents.length; k++) {
      const p = parents[k];
      const seen = depths.get(p);
      if (seen !== undefined && cur >= seen) continue;
      depths.set(p, cur);
      if (k < parents.length - 1) stack.push(p);
      else commit = p;
    }
  }
  // git prepends to its result list, so the last found is announced first.
  return { result: found.reverse(), notShallow };
}

/**
 * git's deepen_by_rev_list: the commits reachable from the wants without passing
 * through a commit older than `deepenSince` or one reachable from a `deepen-not`
 * commit; those with a parent outside the set are the boundary.
 */
async function shallowByRevList(graph: CommitGraph, q: ShallowQuery, limit: number) {
  // What the deepen-not commits reach is excluded, walked as rev-list WANTS --not REFS walks it: down
  // from both sides at once until only excluded commits are queued (so, as in git, skewed commit times
  // may let a few excluded commits through), not the whole history below REFS.
  const allowed = q.deepenNot.length > 0 ? new Set(await commitsBetween(graph, q.wants, q.deepenNot, limit)) : null;
  let visits = 0;
  const excluded = new Set<string>();
  const selected = new Map<string, CommitInfo>();
  const order: string[] = [];
  const todo = [...q.wants].reverse();
  while (todo.length > 0) {
    const id = todo.pop()!;
    if (selected.has(id) || excluded.has(id) || (allowed !== null && !allowed.has(id))) continue;
    const info = await graph.commit(id);
    if (!info) continue;
    if (++visits > limit) throw new HistoryError('walk-limit', `shallow walk passed ${limit} commits`);
    if (q.deepenSince !== null && info.time < q.deepenSince) {
      excluded.add(id);
      continue;
    }
    selected.set(id, info);
    order.push(id);
    for (let k = info.parents.length - 1; k >= 0; k--) todo.push(info.parents[k]);
  }
  if (order.length === 0) throw new ProtocolError('no-commits-selected', 'no commits selected for shallow requests');
  const result = order.filter((id) => selected.get(id)!.parents.some((p) => !selected.has(p)));
  const border = new Set(result);
  const notShallow = new Set(order.filter((id) => !border.has(id)));
  let oldest: number | undefined;
  if (q.oldestOver !== undefined && q.deepenSince !== null && q.deepenNot.length === 0 && excluded.size === 0 && q.oldestOver.every((id) => selected.has(id))) {
    oldest = Infinity;
    for (const info of selected.values()) oldest = Math.min(oldest, info.time);
  }
  return { result, notShallow, oldest };
}

/** v0: the shallow/unshallow lines and their flush; nothing unless a deepen was asked. */
export function shallowLinesV0(args: ShallowArgs, info: ShallowInfo): Pkt[] {
  if (args.depth === null && args.deepenSince === null && args.deepenNot.length === 0) return [];
  return [...lines(info), FLUSH];
}

/** v2: the `shallow-info` section ended by its delim; nothing unless the request is shallow. */
export function shallowInfoSection(args: ShallowArgs, info: ShallowInfo): Pkt[] {
  if (!isShallowRequest(args)) return [];
  return [textPkt('shallow-info\n'), ...lines(info), DELIM];
}

function lines(info: ShallowInfo): Pkt[] {
  // git sends these without a trailing LF.
  return [...info.shallow.map((id) => textPkt(`shallow ${id}`)), ...info.unshallow.map((id) => textPkt(`unshallow ${id}`))];
}
