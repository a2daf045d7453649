/**
 * History walks over a commit graph: ancestry (is this push a fast-forward?),
 * merge bases, and the commits one side has that the other lacks (what a fetch
 * must send). The graph is read through a small async interface so the same
 * walks serve git commits and fossil check-ins, from any store.
 *
 * Walks visit commits newest first (by commit time, as git does), and every
 * walk takes a visit limit: a history is untrusted input too.
 */
import { HubError } from './errors.js';

/** What a walk needs to know of one commit. */
export interface CommitInfo {
  parents: readonly string[];
  /** Commit time in seconds; orders the walk (newest first). */
  time: number;
}

/** Read access to a commit graph; null for a commit the store does not have. */
export interface CommitGraph {
  commit(id: string): Promise<CommitInfo | null>;
}

/** A walk ran past its visit limit, or met a commit the graph lacks. */
export class HistoryError extends HubError {}

/** Default bound on commits visited by one walk. */
export const MAX_WALK = 5_000_000;

/** A max-heap of commits by time (ties: insertion order), so walks go newest first. */
class Queue {
  private items: { id: string; time: number; seq: number }[] = [];
  private seq = 0;

  get size(): number {
    return this.items.length;
  }

  push(id: string, time: number): void {
    const a = this.items;
    a.push({ id, time, seq: this.seq++ });
    let i = a.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!this.before(a[i], a[p])) break;
      [a[i], a[p]] = [a[p], a[i]];
      i = p;
    }
  }

  pop(): string {
    const a = this.items;
    const top = a[0];
    const last = a.pop()!;
    if (a.length > 0) {
      a[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < a.length && this.before(a[l], a[m])) m = l;
        if (r < a.length && this.before(a[r], a[m])) m = r;
        if (m === i) break;
        [a[i], a[m]] = [a[m], a[i]];
        i = m;
      }
    }
    return top.id;
  }

  /** True if any queued commit satisfies `pred` (the queue is the walk's frontier, so this is cheap). */
  some(pred: (id: string) => boolean): boolean {
    return this.items.some((item) => pred(item.id));
  }

  private before(x: { time: number; seq: number }, y: { time: number; seq: number }): boolean {
    return x.time > y.time || (x.time === y.time && x.seq < y.seq);
  }
}

async function load(graph: CommitGraph, id: string): Promise<CommitInfo> {
  const c = await graph.commit(id);
  if (!c) throw new HistoryError('missing-commit', `commit ${id} is not in the repository`, { id });
  return c;
}

/** Paint of the walks below: reached from the first commit, the second, below a common ancestor; a merge base found. */
const LEFT = 1;
const RIGHT = 2;
const STALE = 4;
const RESULT = 8;

/**
 * True if `ancestor` is `descendant` or reachable from it through parents. Painted down from both,
 * newest first, as git's in_merge_bases: a commit both reach is a common ancestor, and what lies
 * below one (stale) is below `ancestor` too, so cannot be it. The walk ends once the descendant's
 * side reaches `ancestor` or has nothing left that is not stale. The commits between a descendant
 * and its ancestor are never stale, so skewed clocks cost visits, never the answer; and a
 * non-fast-forward that forks near the tips (a rebased branch force-pushed) is found in a few
 * visits instead of a walk of the whole history below the new tip.
 */
export async function isAncestor(graph: CommitGraph, ancestor: string, descendant: string, limit = MAX_WALK): Promise<boolean> {
  if (ancestor === descendant) return true;
  const flags = new Map<string, number>();
  /** Commits in the queue, read when queued (a commit painted again after its visit is queued again). */
  const queued = new Map<string, CommitInfo>();
  const queue = new Queue();
  const paint = async (id: string, f: number) => {
    const had = flags.get(id) ?? 0;
    if ((had & f) === f) return;
    flags.set(id, had | f);
    if (queued.has(id)) return;
    const c = await load(graph, id);
    queued.set(id, c);
    queue.push(id, c.time);
  };
  await paint(ancestor, LEFT);
  await paint(descendant, RIGHT);
  let visited = 0;
  while (queue.some((id) => (flags.get(id)! & (RIGHT | STALE)) === RIGHT)) {
    if (++visited > limit) throw new HistoryError('walk-limit', `history walk passed ${limit} commits`);
    const id = queue.pop();
    const c = queued.get(id)!;
    queued.delete(id);
    let f = flags.get(id)!;
    if ((f & (LEFT | RIGHT)) === (LEFT | RIGHT)) f |= STALE;
    for (const p of c.parents) {
      await paint(p, f);
      if (p === ancestor && f & RIGHT) return true;
    }
  }
  return false;
}

/**
 * The best common ancestors of a and b (git merge-base --all): common
 * ancestors none of which is an ancestor of another.
 */
export async function mergeBases(graph: CommitGraph, a: string, b: string, limit = MAX_WALK): Promise<string[]> {
  if (a === b) return [a];
  const flags = new Map<string, number>();
  const times = new Map<string, number>();
  const queue = new Queue();
  const mark = async (id: string, f: number) => {
    if (!times.has(id)) times.set(id, (await load(graph, id)).time);
    flags.set(id, (flags.get(id) ?? 0) | f);
    queue.push(id, times.get(id)!);
  };
  await mark(a, LEFT);
  await mark(b, RIGHT);
  const found: string[] = [];
  // Walk while any queued commit is not stale: a stale one is below a found base.
  const live = () => queue.some((id) => !((flags.get(id) ?? 0) & STALE));
  let visited = 0;
  while (queue.size > 0 && live()) {
    if (++visited > limit) throw new HistoryError('walk-limit', `history walk passed ${limit} commits`);
    const id = queue.pop();
    let f = flags.get(id)! & (LEFT | RIGHT | STALE);
    if ((f & (LEFT | RIGHT)) === (LEFT | RIGHT) && !(f & STALE)) {
      if (!((flags.get(id)! & RESULT) !== 0)) {
        flags.set(id, flags.get(id)! | RESULT);
        found.push(id);
      }
      f |= STALE;
    }
    for (const p of (await load(graph, id)).parents) {
      const pf = flags.get(p) ?? 0;
      if ((pf & f) === f) continue;
      await mark(p, f);
    }
  }
  // Drop any found base that is an ancestor of another found base.
  const bases: string[] = [];
  for (const x of found) {
    let redundant = false;
    for (const y of found) if (x !== y && (await isAncestor(graph, x, y, limit))) redundant = true;
    if (!redundant) bases.push(x);
  }
  return bases;
}

/**
 * Commits reachable from `include` but not from `exclude` (git rev-list
 * include --not exclude), newest first. Excluded ids the graph lacks are
 * ignored (a client may name commits we never had). Like git's walk it stops
 * when only excluded commits are queued, so with skewed commit times it may
 * return a few commits the excluded side also reaches: never fewer than wanted.
 */
export async function commitsBetween(
  graph: CommitGraph,
  include: readonly string[],
  exclude: readonly string[],
  limit = MAX_WALK,
): Promise<string[]> {
  const UNINTERESTING = 1;
  const flags = new Map<string, number>();
  const queue = new Queue();
  for (const id of exclude) {
    const c = await graph.commit(id);
    if (!c || flags.has(id)) continue;
    flags.set(id, UNINTERESTING);
    queue.push(id, c.time);
  }
  for (const id of include) {
    if (flags.has(id)) continue;
    flags.set(id, 0);
    queue.push(id, (await load(graph, id)).time);
  }
  const out: string[] = [];
  let visited = 0;
  // Stop once only uninteresting commits remain queued: nothing below them is wanted.
  while (queue.size > 0 && queue.some((id) => flags.get(id) === 0)) {
    if (++visited > limit) throw new HistoryError('walk-limit', `history walk passed ${limit} commits`);
    const id = queue.pop();
    const f = flags.get(id)!;
    if (f === 0) out.push(id);
    for (const p of (await load(graph, id)).parents) {
      const pf = flags.get(p);
      if (pf === undefined) {
        flags.set(p, f);
        queue.push(p, (await load(graph, p)).time);
      } else if (f === UNINTERESTING && pf === 0) {
        // Reached from an excluded commit after all: it is not wanted after all.
        flags.set(p, UNINTERESTING);
        queue.push(p, (await load(graph, p)).time);
      }
    }
  }
  // A commit output early may have been reached from an excluded one later.
  return out.filter((id) => flags.get(id) === 0);
}

/**
 * One walk of commits down from `tips` (commits the graph has), deleting each
 * commit of `pending` it meets, until none is left or more than `limit`
 * commits were seen (what is left in `pending` was not met). Breadth first:
 * what is looked for is usually a few commits below a tip (a want, a merged
 * branch, a tag), and depth first went down one line of history before the
 * next.
 */
export async function meetAncestors(graph: CommitGraph, tips: Iterable<string>, pending: Set<string>, limit = MAX_WALK): Promise<void> {
  if (pending.size === 0) return;
  const seen = new Set<string>();
  const queue: string[] = [];
  for (const t of tips) {
    if (!seen.has(t)) {
      seen.add(t);
      queue.push(t);
    }
  }
  for (let next = 0; next < queue.length && pending.size > 0; next++) {
    if (seen.size > limit) break;
    const id = queue[next];
    pending.delete(id);
    for (const parent of (await graph.commit(id))?.parents ?? []) {
      if (!seen.has(parent)) {
        seen.add(parent);
        queue.push(parent);
      }
    }
  }
}
