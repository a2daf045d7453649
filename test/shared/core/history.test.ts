// History walks against brute-force reachability on random DAGs.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { commitsBetween, HistoryError, isAncestor, mergeBases, type CommitGraph } from '../../../shared/core/history.js';

/** A random DAG: commit i's parents are earlier commits; times mostly increase, sometimes skewed. */
const dag = fc
  .array(fc.tuple(fc.array(fc.nat(), { maxLength: 3 }), fc.integer({ min: -5, max: 20 })), { minLength: 1, maxLength: 40 })
  .map((spec) => {
    const commits = new Map<string, { parents: string[]; time: number }>();
    let t = 1000;
    spec.forEach(([ps, dt], i) => {
      t += dt;
      const parents = i === 0 ? [] : [...new Set(ps.map((p) => `c${p % i}`))];
      commits.set(`c${i}`, { parents, time: t });
    });
    return commits;
  });

function graphOf(commits: Map<string, { parents: string[]; time: number }>): CommitGraph {
  return { commit: async (id) => commits.get(id) ?? null };
}

function ancestors(commits: Map<string, { parents: string[] }>, id: string): Set<string> {
  const seen = new Set<string>([id]);
  const stack = [id];
  while (stack.length) for (const p of commits.get(stack.pop()!)!.parents) if (!seen.has(p)) seen.add(p), stack.push(p);
  return seen;
}

describe('history walks', () => {
  it('isAncestor matches reachability', async () => {
    await fc.assert(
      fc.asyncProperty(dag, fc.nat(), fc.nat(), async (commits, x, y) => {
        const a = `c${x % commits.size}`;
        const d = `c${y % commits.size}`;
        expect(await isAncestor(graphOf(commits), a, d)).toBe(ancestors(commits, d).has(a));
      }),
      { numRuns: 200 },
    );
  });

  it('mergeBases are the maximal common ancestors', async () => {
    await fc.assert(
      fc.asyncProperty(dag, fc.nat(), fc.nat(), async (commits, x, y) => {
        const a = `c${x % commits.size}`;
        const b = `c${y % commits.size}`;
        const common = [...ancestors(commits, a)].filter((c) => ancestors(commits, b).has(c));
        const best = common.filter((c) => !common.some((o) => o !== c && ancestors(commits, o).has(c)));
        expect((await mergeBases(graphOf(commits), a, b)).sort()).toEqual(best.sort());
      }),
      { numRuns: 200 },
    );
  });

  it('commitsBetween covers include minus exclude: never misses one, exact when clocks are monotonic', async () => {
    await fc.assert(
      fc.asyncProperty(dag, fc.array(fc.nat(), { minLength: 1, maxLength: 3 }), fc.array(fc.nat(), { maxLength: 3 }), async (commits, inc, exc) => {
        const include = inc.map((i) => `c${i % commits.size}`);
        const exclude = exc.map((i) => `c${i % commits.size}`);
        const wanted = new Set(include.flatMap((i) => [...ancestors(commits, i)]));
        for (const e of exclude) for (const c of ancestors(commits, e)) wanted.delete(c);
        const got = await commitsBetween(graphOf(commits), include, exclude);
        expect(new Set(got).size).toBe(got.length);
        for (const c of wanted) expect(got).toContain(c);
        const reachable = new Set(include.flatMap((i) => [...ancestors(commits, i)]));
        for (const c of got) expect(reachable.has(c)).toBe(true);
        const monotonic = [...commits.values()].every((c) => c.parents.every((p) => commits.get(p)!.time < c.time));
        if (monotonic) expect(new Set(got)).toEqual(wanted);
      }),
      { numRuns: 200 },
    );
  });

  it('ignores excluded commits the graph lacks, and fails on a missing wanted one', async () => {
    const g = graphOf(new Map([['a', { parents: [], time: 1 }], ['b', { parents: ['a'], time: 2 }]]));
    expect(await commitsBetween(g, ['b'], ['zzz'])).toEqual(['b', 'a']);
    await expect(commitsBetween(g, ['zzz'], [])).rejects.toBeInstanceOf(HistoryError);
  });

  it('isAncestor of a non-fast-forward forking near the tips reads a few commits, not the history below (git in_merge_bases)', async () => {
    const commits = new Map<string, { parents: string[]; time: number }>();
    for (let i = 0; i < 10_000; i++) commits.set(`c${i}`, { parents: i ? [`c${i - 1}`] : [], time: i });
    commits.set('rebased', { parents: ['c9997'], time: 20_000 });
    commits.set('orphan', { parents: [], time: 20_000 });
    let reads = 0;
    const g: CommitGraph = { commit: async (id) => (reads++, commits.get(id) ?? null) };
    const cost = async (a: string, d: string) => ((reads = 0), [await isAncestor(g, a, d), reads]);
    expect(await cost('c9999', 'rebased')).toEqual([false, 5]);
    expect(await cost('c9999', 'orphan')).toEqual([false, 2]);
    expect(await cost('c9997', 'rebased')).toEqual([true, 2]);
    expect(await cost('c9990', 'c9999')).toEqual([true, 10]);
  });

  it('stops at the visit limit', async () => {
    const commits = new Map<string, { parents: string[]; time: number }>();
    for (let i = 0; i < 100; i++) commits.set(`c${i}`, { parents: i ? [`c${i - 1}`] : [], time: i });
    await expect(commitsBetween(graphOf(commits), ['c99'], [], 10)).rejects.toMatchObject({ code: 'walk-limit' });
  });
});
