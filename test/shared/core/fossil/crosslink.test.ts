// Crosslink rules on small hand-made histories, in every arrival order (runs in
// Node and in workerd). The cross-check against fossil's own tables is
// crosslink.node.test.ts.
import { describe, expect, it } from 'vitest';
import { type Artifact, type ArtifactCards, type FileCard, parseArtifactStrict, type TagCard } from '../../../../shared/core/fossil/artifact.js';
import { buildArtifact, makeControl } from '../../../../shared/core/fossil/build.js';
import { applyCrosslinkRows } from '../../../../shared/core/fossil/crosslink-apply.js';
import { MemoryCrosslinkTables } from '../../../../shared/core/fossil/crosslink-memory.js';
import { crosslink, julianDay, manifestFiles } from '../../../../shared/core/fossil/crosslink.js';
import { artifactId } from '../../../../shared/core/fossil/name.js';
import { hashOnly } from './hash-only.js';

interface Made {
  hash: string;
  artifact: Artifact;
}

function made(bytes: Uint8Array): Made {
  return { hash: artifactId(hashOnly, bytes, 'sha3-256'), artifact: parseArtifactStrict(bytes) };
}

const blob = (n: number) => artifactId(hashOnly, new Uint8Array([n]), 'sha3-256');

function checkin(fields: { date: string; files: FileCard[]; parents?: Made[]; baseline?: Made; tags?: TagCard[]; comment?: string }): Made {
  const cards: ArtifactCards = {
    comment: fields.comment ?? 'c',
    date: fields.date,
    files: [...fields.files].sort((a, b) => (a.name < b.name ? -1 : 1)),
    user: 'u',
  };
  if (fields.parents !== undefined) cards.parents = fields.parents.map((p) => p.hash);
  if (fields.baseline !== undefined) cards.baseline = fields.baseline.hash;
  if (fields.tags !== undefined) cards.tags = fields.tags;
  return made(buildArtifact(cards, 'manifest'));
}

const control = (date: string, tags: TagCard[]) => made(makeControl({ date, user: 'u', tags }));

function* permutations<T>(items: T[]): Generator<T[]> {
  if (items.length <= 1) {
    yield items;
    return;
  }
  for (let i = 0; i < items.length; i++) {
    for (const rest of permutations([...items.slice(0, i), ...items.slice(i + 1)])) yield [items[i], ...rest];
  }
}

async function run(order: Made[], all: Made[] = order): Promise<MemoryCrosslinkTables> {
  const t = new MemoryCrosslinkTables();
  const byHash = new Map(all.map((m) => [m.hash, m.artifact]));
  const stored = new Set<string>();
  const source = t.source(async (h) => (stored.has(h) ? (byHash.get(h) ?? null) : null));
  for (const m of order) {
    stored.add(m.hash);
    applyCrosslinkRows(t, await crosslink(m.hash, m.artifact, source));
  }
  return t;
}

function dump(t: MemoryCrosslinkTables) {
  const s = (rows: unknown[]) => rows.map((r) => JSON.stringify(r)).sort();
  return {
    events: s([...t.events.values()]),
    plinks: s(t.plinks()),
    mlinks: s([...t.mlinks.values()].flat()),
    tagxrefs: s(t.tagxrefs()),
    leaves: [...t.leaves].sort(),
  };
}

async function sameInEveryOrder(items: Made[]): Promise<MemoryCrosslinkTables> {
  const first = await run(items);
  for (const order of permutations(items)) expect(dump(await run(order, items))).toEqual(dump(first));
  return first;
}

describe('julianDay', () => {
  it('computes the double SQLite julianday() gives', () => {
    expect(julianDay('2000-01-01 12:00:00')).toBe(2451545);
    expect(julianDay('2000-01-01T12:00:00')).toBe(2451545);
    expect(julianDay('1970-01-01')).toBe(2440587.5);
    const jd = julianDay('2024-01-02T03:04:05.678') as number;
    expect(jd).toBe((Date.UTC(2024, 0, 2, 3, 4, 5, 678) + 210_866_760_000_000) / 86_400_000);
    expect(julianDay('2024-01-02T03:04:05.6785')).toBe(julianDay('2024-01-02T03:04:05.679'));
  });

  it('answers null for what is not a date', () => {
    for (const bad of ['', 'now', '2024-13-01', '2024-01-01T25:00:00', '2024-01-01T12:00:00Z', '24-01-01']) {
      expect(julianDay(bad), bad).toBeNull();
    }
  });
});

describe('crosslink rules', () => {
  const root = checkin({
    date: '2024-01-01T00:00:00.000',
    files: [
      { name: 'a', hash: blob(1) },
      { name: 'b', hash: blob(2) },
    ],
    tags: [
      { op: '*', name: 'branch', target: '*', value: 'trunk' },
      { op: '*', name: 'sym-trunk', target: '*' },
    ],
  });
  const c1 = checkin({
    date: '2024-01-02T00:00:00.000',
    parents: [root],
    files: [
      { name: 'a', hash: blob(3) },
      { name: 'c', hash: blob(2), perm: 'w', oldName: 'b' },
    ],
  });
  const c2 = checkin({ date: '2024-01-03T00:00:00.000', parents: [c1], files: [{ name: 'a', hash: blob(3) }] });

  it('propagates a tag down primary children and a later cancel removes it, in every order', async () => {
    const tag = control('2024-02-01T00:00:00.000', [{ op: '*', name: 'sym-rel', target: c1.hash }]);
    const cancel = control('2024-03-01T00:00:00.000', [{ op: '-', name: 'sym-rel', target: c1.hash }]);
    const t = await sameInEveryOrder([root, c1, c2, tag]);
    expect(t.tagxref(c2.hash, 'sym-rel')).toMatchObject({ type: 2, src: null, orig: c1.hash });
    expect(t.tagxref(c2.hash, 'branch')).toMatchObject({ type: 2, src: null, orig: root.hash, value: 'trunk' });
    expect(t.leaves).toEqual(new Set([c2.hash]));
    // c2 is a baseline manifest without c: c is deleted there.
    expect(t.mlinks.get(c2.hash)).toEqual([expect.objectContaining({ name: 'c', fid: null, pid: blob(2) })]);
    expect(t.mlinks.get(c1.hash)).toContainEqual(expect.objectContaining({ name: 'c', priorName: 'b', fid: blob(2), pid: blob(2) }));

    const cancelled = await sameInEveryOrder([root, c1, c2, tag, cancel]);
    expect(cancelled.tagxref(c1.hash, 'sym-rel')).toMatchObject({ type: 0, src: cancel.hash });
    expect(cancelled.tagxref(c2.hash, 'sym-rel')).toBeUndefined();
  });

  it('keeps the newest assertion on a target, whichever arrives first; equal times break ties the same way', async () => {
    const older = control('2024-02-01T00:00:00.000', [{ op: '+', name: 'user', target: c1.hash, value: 'old' }]);
    const newer = control('2024-02-02T00:00:00.000', [{ op: '+', name: 'user', target: c1.hash, value: 'new' }]);
    const t = await sameInEveryOrder([c1, older, newer]);
    expect(t.tagxref(c1.hash, 'user')?.value).toBe('new');
    expect(t.event(c1.hash)?.euser).toBe('new');
    const x = control('2024-02-01T00:00:00.000', [{ op: '+', name: 'comment', target: c1.hash, value: 'x' }]);
    const y = control('2024-02-01T00:00:00.000', [{ op: '+', name: 'comment', target: c1.hash, value: 'y' }]);
    const tie = await sameInEveryOrder([c1, x, y]);
    expect(tie.event(c1.hash)?.ecomment).toBe(x.hash < y.hash ? 'x' : 'y');
  });

  it('moves a check-in to another branch with a date override, and its leaf status follows', async () => {
    const move = control('2024-02-01T00:00:00.000', [
      { op: '*', name: 'branch', target: c2.hash, value: 'side' },
      { op: '+', name: 'date', target: c2.hash, value: '2023-06-01 00:00:00' },
    ]);
    const t = await sameInEveryOrder([root, c1, c2, move]);
    expect(t.tagxref(c2.hash, 'branch')).toMatchObject({ type: 2, value: 'side', src: move.hash });
    expect(t.leaves).toEqual(new Set([c1.hash, c2.hash])); // c1 has no child on trunk any more
    expect(t.event(c2.hash)?.mtime).toBe(julianDay('2023-06-01 00:00:00'));
    expect(t.event(c2.hash)?.omtime).toBe(julianDay('2024-01-03T00:00:00.000'));
  });

  it('marks a file added by a merge, once both parents are known', async () => {
    const side = checkin({
      date: '2024-01-04T00:00:00.000',
      parents: [root],
      files: [
        { name: 'a', hash: blob(1) },
        { name: 'b', hash: blob(2) },
        { name: 'm', hash: blob(9) },
      ],
    });
    const merge = checkin({
      date: '2024-01-05T00:00:00.000',
      parents: [c1, side],
      files: [
        { name: 'a', hash: blob(7) },
        { name: 'c', hash: blob(2) },
        { name: 'm', hash: blob(9) },
      ],
    });
    const t = await sameInEveryOrder([root, c1, side, merge]);
    expect(t.mlinks.get(merge.hash)).toContainEqual(expect.objectContaining({ name: 'm', pid: null, mergeAdded: true, isaux: false }));
    // Against the merge parent, only files that changed against the primary one are listed.
    const aux = (t.mlinks.get(merge.hash) ?? []).filter((m) => m.isaux);
    expect(aux.map((m) => [m.name, m.pid, m.fid])).toEqual([['a', blob(1), blob(7)]]);
  });

  it('reads a delta manifest through its baseline, and waits for the baseline to list its changes', async () => {
    const d1 = checkin({
      date: '2024-01-04T00:00:00.000',
      parents: [c1],
      baseline: c1,
      files: [{ name: 'a' }, { name: 'n', hash: blob(5), perm: 'x' }],
    });
    expect(manifestFiles(d1.artifact, c1.artifact).map((f) => f.name)).toEqual(['c', 'n']);
    expect(() => manifestFiles(d1.artifact, null)).toThrow(TypeError);
    expect(() => manifestFiles(c1.artifact, c1.artifact)).toThrow(TypeError);
    const t = await sameInEveryOrder([root, c1, d1]);
    expect(t.plinks()).toContainEqual(expect.objectContaining({ cid: d1.hash, baseid: c1.hash }));
    expect(t.mlinks.get(d1.hash)?.map((m) => [m.name, m.fid, m.mperm])).toEqual([
      ['a', null, 0],
      ['n', blob(5), 1],
    ]);
    const partial = await run([d1], [root, c1, d1]);
    expect(partial.mlinks.get(d1.hash)).toBeUndefined();
    expect(partial.leaves).toEqual(new Set([d1.hash]));
  });

  it('gives a technote one event, for its newest version, and a wiki page an edit mark from its P card', async () => {
    const id = 'a'.repeat(40);
    const note = (date: string, text: string, parents?: Made[]) =>
      made(
        buildArtifact(
          {
            comment: text,
            date,
            technote: { time: '2024-05-05T05:05:05', id },
            user: 'u',
            wiki: new TextEncoder().encode(text),
            ...(parents ? { parents: parents.map((p) => p.hash) } : {}),
          },
          'technote',
        ),
      );
    const v1 = note('2024-01-01T00:00:00.000', 'one');
    const v2 = note('2024-01-02T00:00:00.000', 'two', [v1]);
    const t = await sameInEveryOrder([v1, v2]);
    expect([...t.events.keys()]).toEqual([v2.hash]);
    expect(t.event(v2.hash)).toMatchObject({ type: 'e', comment: 'two', mtime: julianDay('2024-05-05T05:05:05'), tag: `event-${id}` });

    const page = (date: string, text: string, parents?: Made[]) =>
      made(
        buildArtifact(
          { date, title: 'Home', user: 'u', wiki: new TextEncoder().encode(text), ...(parents ? { parents: parents.map((p) => p.hash) } : {}) },
          'wiki',
        ),
      );
    const w1 = page('2024-01-01T00:00:00.000', 'hi');
    const w2 = page('2024-01-02T00:00:00.000', 'hello', [w1]);
    const w3 = page('2024-01-03T00:00:00.000', '  ', [w2]);
    const wt = await sameInEveryOrder([w1, w2, w3]);
    expect([w1, w2, w3].map((w) => wt.event(w.hash)?.comment)).toEqual(['+Home', ':Home', '-Home']);
    expect(wt.tagxref(w2.hash, 'wiki-Home')).toMatchObject({ type: 1, value: '5' });
    expect(wt.leaves.size).toBe(0); // leaves are check-ins only
  });
});
