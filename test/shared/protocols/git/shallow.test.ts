// Shallow boundaries on small graphs, by hand against git's rules (git-smart-http.md §5.4).
import { describe, expect, it } from 'vitest';
import type { CommitGraph } from '../../../../shared/core/history.js';
import { computeShallow, shallowInfoSection, shallowLinesV0, shallowSinceCutsNothing } from '../../../../shared/protocols/git/shallow.js';
import { INFINITE_DEPTH } from '../../../../shared/protocols/git/upload-request.js';

// 4 - 3 - 2 - 1 (time = digit; f has time 4)

// f branches off 2; 4 merges 3 and f.
const id = (s: string) => s.padEnd(40, '0');
const G: Record<string, { parents: string[]; time: number }> = {
  [id('1')]: { parents: [], time: 1 },
  [id('2')]: { parents: [id('1')], time: 2 },
  [id('3')]: { parents: [id('2')], time: 3 },
  [id('f')]: { parents: [id('2')], time: 4 },
  [id('4')]: { parents: [id('3'), id('f')], time: 5 },
};
const graph: CommitGraph = { commit: async (c) => G[c] ?? null };
const q = { wants: [id('4')], shallows: [] as string[], depth: null as number | null, deepenRelative: false, deepenSince: null as number | null, deepenNot: [] as string[] };

describe('computeShallow', () => {
  it('deepen 1 makes the tip shallow', async () => {
    expect(await computeShallow(graph, { ...q, depth: 1 })).toEqual({ shallow: [id('4')], unshallow: [], boundary: [id('4')] });
  });
  it('deepen 2 cuts both parents of a merge', async () => {
    const r = await computeShallow(graph, { ...q, depth: 2 });
    expect(new Set(r.shallow)).toEqual(new Set([id('3'), id('f')]));
  });
  it('deepen 3 reaches the shared parent once', async () => {
    expect((await computeShallow(graph, { ...q, depth: 3 })).shallow).toEqual([id('2')]);
  });
  it('deepening past a client shallow commit unshallows it; a boundary it already has is not repeated', async () => {
    const r = await computeShallow(graph, { ...q, shallows: [id('3'), id('2'), id('9')], depth: 3 });
    expect(r).toEqual({ shallow: [], unshallow: [id('3')], boundary: [id('2')] });
  });
  it('deepen-relative counts from the client boundary', async () => {
    const r = await computeShallow(graph, { ...q, shallows: [id('3')], depth: 1, deepenRelative: true });
    expect(r).toEqual({ shallow: [id('2')], unshallow: [id('3')], boundary: [id('2')] });
  });
  it('infinite depth unshallows everything', async () => {
    const r = await computeShallow(graph, { ...q, shallows: [id('3')], depth: INFINITE_DEPTH });
    expect(r).toEqual({ shallow: [], unshallow: [id('3')], boundary: [] });
  });
  it('deepen-since keeps commits at or after the time', async () => {
    expect((await computeShallow(graph, { ...q, deepenSince: 3 })).shallow.sort()).toEqual([id('3'), id('f')].sort());
  });
  it('deepen-since that cuts nothing and selects every oldestOver commit tells the oldest date; else not', async () => {
    const none = await computeShallow(graph, { ...q, shallows: [id('3')], deepenSince: 1, oldestOver: [id('4'), id('f')] });
    expect(none).toEqual({ shallow: [], unshallow: [id('3')], boundary: [], oldest: 1 });
    expect((await computeShallow(graph, { ...q, deepenSince: 1 })).oldest).toBeUndefined();
    expect((await computeShallow(graph, { ...q, wants: [id('3')], deepenSince: 1, oldestOver: [id('f')] })).oldest).toBeUndefined();
    expect((await computeShallow(graph, { ...q, deepenSince: 2, oldestOver: [id('4')] })).oldest).toBeUndefined();
  });
  it('deepen-since no later than a known oldest date: the same answer without a walk, else none', async () => {
    const walks: string[] = [];
    const counted: CommitGraph = { commit: async (c) => (walks.push(c), G[c] ?? null) };
    // A client shallow commit the wants reach is unshallowed (a walk that stops on meeting it); one they do not reach is left to computeShallow.
    expect(await shallowSinceCutsNothing(counted, { ...q, shallows: [id('f')], deepenSince: 1 }, 1)).toEqual({ shallow: [], unshallow: [id('f')], boundary: [] });
    expect(await shallowSinceCutsNothing(counted, { ...q, wants: [id('3')], shallows: [id('f')], deepenSince: 1 }, 1)).toBeNull();
    walks.length = 0;
    expect(await shallowSinceCutsNothing(counted, { ...q, deepenSince: 1 }, 1)).toEqual({ shallow: [], unshallow: [], boundary: [] });
    expect(walks).toEqual([]);
    expect(await shallowSinceCutsNothing(counted, { ...q, deepenSince: 2 }, 1)).toBeNull();
    expect(await shallowSinceCutsNothing(counted, { ...q, deepenSince: 1, deepenNot: [id('3')] }, 1)).toBeNull();
    expect(await shallowSinceCutsNothing(counted, { ...q, deepenSince: 1 }, 1, 0)).toEqual({ shallow: [], unshallow: [], boundary: [] });
  });
  it('deepen-not stops at what the ref reaches', async () => {
    expect((await computeShallow(graph, { ...q, deepenNot: [id('3')] })).shallow).toEqual([id('4'), id('f')]);
  });
  it('deepen-not walks the excluded side only as far as the wanted side reaches', async () => {
    // A linear history of 2000 commits, the ref 3 below the tip: a walk of all it reaches passes the bound.
    const line = (n: number) => String(n).padStart(40, '0');
    const long: CommitGraph = { commit: async (c) => (Number(c) >= 1 && Number(c) <= 2000 ? { parents: Number(c) > 1 ? [line(Number(c) - 1)] : [], time: Number(c) } : null) };
    const r = await computeShallow(long, { ...q, wants: [line(2000)], deepenNot: [line(1997)] }, 50);
    expect(r).toEqual({ shallow: [line(1998)], unshallow: [], boundary: [line(1998)] });
  });
  it('nothing selected is an error', async () => {
    await expect(computeShallow(graph, { ...q, deepenSince: 99 })).rejects.toMatchObject({ code: 'no-commits-selected' });
  });
  it('only shallow lines: no lines, boundary kept', async () => {
    expect(await computeShallow(graph, { ...q, shallows: [id('2')] })).toEqual({ shallow: [], unshallow: [], boundary: [id('2')] });
  });
  it('bounds the walk', async () => {
    await expect(computeShallow(graph, { ...q, depth: 100 }, 3)).rejects.toMatchObject({ code: 'walk-limit' });
  });
});

describe('shallow encodings', () => {
  const info = { shallow: [id('2')], unshallow: [id('3')], boundary: [] };
  const dec = (ps: ReturnType<typeof shallowLinesV0>) => ps.map((p) => (p.kind === 'data' ? new TextDecoder().decode(p.payload) : p.kind));
  const args = { shallows: [id('3')], depth: 1, deepenSince: null, deepenNot: [], deepenRelative: true };
  it('v0: lines without LF, then flush; nothing without a deepen', () => {
    expect(dec(shallowLinesV0(args, info))).toEqual([`shallow ${id('2')}`, `unshallow ${id('3')}`, 'flush']);
    expect(shallowLinesV0({ ...args, depth: null }, info)).toEqual([]);
  });
  it('v2: a section ended by delim, also for shallow lines alone', () => {
    expect(dec(shallowInfoSection(args, info))).toEqual(['shallow-info\n', `shallow ${id('2')}`, `unshallow ${id('3')}`, 'delim']);
    expect(dec(shallowInfoSection({ ...args, depth: null }, { shallow: [], unshallow: [], boundary: [] }))).toEqual(['shallow-info\n', 'delim']);
    expect(shallowInfoSection({ ...args, shallows: [], depth: null }, info)).toEqual([]);
  });
});
