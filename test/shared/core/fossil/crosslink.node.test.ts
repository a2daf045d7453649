/**
 * Cross-check of crosslink + applyCrosslinkRows against fossil 2.21's own
 * tables: repositories built by the real fossil (commands in a check-out, and
 * a git history through `fossil import --git`), every artifact read back and
 * crosslinked into MemoryCrosslinkTables in several arrival orders, then event,
 * plink, mlink, tagxref and leaf compared row for row with what fossil wrote
 * (rids mapped to hashes through blob.uuid).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Artifact, parseArtifact } from '../../../../shared/core/fossil/artifact.js';
import { applyCrosslinkRows } from '../../../../shared/core/fossil/crosslink-apply.js';
import { MemoryCrosslinkTables } from '../../../../shared/core/fossil/crosslink-memory.js';
import { crosslink, manifestFiles } from '../../../../shared/core/fossil/crosslink.js';
import { type FossilRepo, fossilTables, importedRepo, ms, nativeRepo, readArtifacts } from './crosslink-repos.js';

/** mulberry32: a seeded PRNG so a failing order can be replayed. */
function prng(seed: number): () => number {
  let s = seed;
  return () => {
    s = (s + 0x6d2b79f5) | 0;
    let t = Math.imul(s ^ (s >>> 15), 1 | s);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function shuffled<T>(items: readonly T[], seed: number): T[] {
  const rand = prng(seed);
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [out[i], out[j]] = [out[j], out[i]];
  }
  return out;
}

/** Crosslink `order` (structural artifacts only) into fresh tables, each artifact "stored" just before it is crosslinked. */
async function crosslinkAll(order: readonly string[], parsed: ReadonlyMap<string, Artifact>): Promise<MemoryCrosslinkTables> {
  const tables = new MemoryCrosslinkTables();
  const stored = new Set<string>();
  const source = tables.source(async (h) => (stored.has(h) ? (parsed.get(h) ?? null) : null));
  for (const hash of order) {
    stored.add(hash);
    const a = parsed.get(hash);
    if (a === undefined) continue;
    applyCrosslinkRows(tables, await crosslink(hash, a, source));
  }
  return tables;
}

const sorted = <T>(rows: T[]) => rows.map((r) => JSON.stringify(r)).sort();
// fossil words ticket and forum comments from other tables; ours are plainer (see crosslink.ts).
const comparableComment = (type: string, comment: string | null) => (type === 't' || type === 'f' ? '(not compared)' : comment);

function ours(t: MemoryCrosslinkTables) {
  return {
    events: sorted(
      [...t.events.values()].map((e) => ({
        objid: e.objid,
        type: e.type,
        mtime: ms(e.mtime),
        user: e.user,
        comment: comparableComment(e.type, e.comment),
        euser: e.euser,
        ecomment: e.ecomment,
        bgcolor: e.bgcolor,
      })),
    ),
    plinks: sorted(t.plinks().map((p) => ({ pid: p.pid, cid: p.cid, isprim: p.isprim ? 1 : 0, baseid: p.baseid, mtime: ms(p.mtime) }))),
    mlinks: sorted(
      [...t.mlinks.values()].flat().map((m) => ({
        mid: m.mid,
        pmid: m.pmid,
        fid: m.fid,
        pid: m.pid,
        mergeAdded: m.mergeAdded ? 1 : 0,
        name: m.name,
        priorName: m.priorName,
        mperm: m.mperm,
        isaux: m.isaux ? 1 : 0,
      })),
    ),
    tagxrefs: sorted(t.tagxrefs().map((x) => ({ tag: x.tag, rid: x.rid, type: x.type, src: x.src, orig: x.orig, value: x.value, mtime: ms(x.mtime) }))),
    leaves: [...t.leaves].sort(),
  };
}

function theirs(f: ReturnType<typeof fossilTables>) {
  return {
    events: sorted(f.events.map((e) => ({ ...e, comment: comparableComment(e.type, e.comment) }))),
    plinks: sorted(f.plinks),
    mlinks: sorted(f.mlinks),
    tagxrefs: sorted(f.tagxrefs),
    leaves: [...f.leaves].sort(),
  };
}

interface Case {
  repo: FossilRepo;
  hashes: string[];
  parsed: Map<string, Artifact>;
  raw: ReturnType<typeof fossilTables>;
  expected: ReturnType<typeof theirs>;
}

function load(repo: FossilRepo): Case {
  const artifacts = readArtifacts(repo);
  const parsed = new Map<string, Artifact>();
  for (const { hash, bytes } of artifacts) {
    const a = parseArtifact(bytes);
    if (a !== null) parsed.set(hash, a);
  }
  const raw = fossilTables(repo);
  return { repo, hashes: artifacts.map((a) => a.hash), parsed, raw, expected: theirs(raw) };
}

const ORDERS: [string, (h: string[]) => string[]][] = [
  ['natural (rid) order', (h) => h],
  ['reversed', (h) => [...h].reverse()],
  ['shuffled, seed 1', (h) => shuffled(h, 1)],
  ['shuffled, seed 2', (h) => shuffled(h, 2)],
  ['shuffled, seed 3', (h) => shuffled(h, 3)],
];

type Tables = ReturnType<typeof fossilTables>;

// What each repository must contain for the comparison to mean something.
function nativeCovers(f: Tables): void {
  expect(f.mlinks.some((m) => m.priorName !== null)).toBe(true); // rename
  expect(f.mlinks.some((m) => m.fid === null)).toBe(true); // deletion
  expect(f.mlinks.some((m) => m.mergeAdded === 1)).toBe(true);
  expect(f.mlinks.some((m) => m.fid !== null && m.fid === m.pid && m.priorName === null)).toBe(true); // exec bit dropped
  expect(f.plinks.some((p) => p.baseid !== null)).toBe(true); // delta manifests
  expect(f.tagxrefs.some((x) => x.tag === 'sym-wip' && x.type === 0)).toBe(true); // cancelled propagating tag
  expect(f.tagxrefs.some((x) => x.tag === 'sym-late' && x.src === null)).toBe(true); // propagated copies
  expect(f.tagxrefs.some((x) => x.tag === 'branch' && x.value === 'moved')).toBe(true);
  expect(f.tagxrefs.some((x) => x.tag === 'closed')).toBe(true);
  expect(f.events.some((e) => e.euser !== null && e.ecomment !== null && e.bgcolor !== null)).toBe(true);
  expect(new Set(f.events.map((e) => e.type))).toEqual(new Set(['ci', 'g', 'w', 't', 'e']));
}

function importCovers(f: Tables): void {
  // fossil import --git writes a git rename as a delete and an add (no old-name on the F card).
  expect(f.plinks.some((p) => p.isprim === 0)).toBe(true); // a merge
  expect(f.mlinks.some((m) => m.fid === null)).toBe(true);
  expect(new Set(f.tagxrefs.filter((x) => x.tag === 'branch').map((x) => x.value)).size).toBeGreaterThan(1);
  expect(f.tagxrefs.some((x) => x.tag === 'sym-v1')).toBe(true);
}

describe.each([
  ['fossil commands in a check-out', nativeRepo, nativeCovers],
  ['git fast-export | fossil import --git', () => importedRepo(24), importCovers],
])('crosslink matches fossil 2.21: %s', (_name, build, covers) => {
  let c: Case;
  beforeAll(() => {
    c = load(build());
  });
  afterAll(() => c?.repo.cleanup());

  it('has the cases it is meant to cover', () => covers(c.raw));

  it.each(ORDERS)('%s', async (_order, arrange) => {
    const got = ours(await crosslinkAll(arrange(c.hashes), c.parsed));
    expect(got.plinks).toEqual(c.expected.plinks);
    expect(got.mlinks).toEqual(c.expected.mlinks);
    expect(got.tagxrefs).toEqual(c.expected.tagxrefs);
    expect(got.events).toEqual(c.expected.events);
    expect(got.leaves).toEqual(c.expected.leaves);
  });

  it('gives every check-in the file list fossil checks out (its files_of_checkin)', () => {
    const checkins = [...c.parsed].filter(([, a]) => a.type === 'manifest');
    for (const [hash, m] of checkins) {
      const baseline = m.cards.baseline === undefined ? null : (c.parsed.get(m.cards.baseline) ?? null);
      const ours = manifestFiles(m, baseline).map((f) => ({ name: f.name, hash: f.hash, x: f.perm === 'x' }));
      const theirs = c.repo
        .sql<{ filename: string; uuid: string; perm: string | null }>(`SELECT filename, uuid, perm FROM files_of_checkin('${hash}') ORDER BY filename`)
        .map((f) => ({ name: f.filename, hash: f.uuid, x: f.perm === 'x' }));
      expect(ours, hash).toEqual(theirs);
    }
  });
});
