// The crosslink tables inside a real Durable Object's SQLite: artifacts made by
// fossil 2.21 (test/fixtures/fossil-crosslink.json, from
// test/fixtures/fossil-crosslink-make.ts) crosslinked in two arrival orders,
// and timeline / branches / checkinFiles compared with what fossil's own tables
// said for the same repository.
import { env, runInDurableObject } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { utf8Encode } from '../../shared/core/bytes.js';
import { type Artifact, parseArtifactStrict } from '../../shared/core/fossil/artifact.js';
import { crosslink } from '../../shared/core/fossil/crosslink.js';
import {
  applyCrosslink,
  branches,
  checkinFiles,
  crosslinkArtifacts,
  crosslinker,
  crosslinkSource,
  type FossilSql,
  MAX_TIMELINE,
  migrateFossilTables,
  timeline,
} from '../../worker/durable/fossil-tables.js';
import type { RepoObject } from '../../worker/durable/repo.js';
import fixture from '../fixtures/fossil-crosslink.json';

const parsed = new Map<string, Artifact>(fixture.artifacts.map((a) => [a.hash, parseArtifactStrict(utf8Encode(a.text))]));
const natural = fixture.artifacts.map((a) => a.hash);
const ms = (jd: number) => Math.round(jd * 86_400_000);

function shuffled<T>(items: readonly T[], seed: number): T[] {
  let s = seed;
  const rand = () => {
    s = (s * 1103515245 + 12345) % 2147483648;
    return s / 2147483648;
  };
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [out[i], out[j]] = [out[j], out[i]];
  }
  return out;
}

/** Runs `fn` on the SQL of a fresh RepoObject. */
async function withSql<T>(fn: (sql: FossilSql) => Promise<T> | T): Promise<T> {
  const stub = env.REPO.get(env.REPO.newUniqueId());
  return runInDurableObject(stub, async (_instance: RepoObject, state) => fn(state.storage.sql));
}

/** Crosslinks `order`, each artifact "stored" just before its call, as the DO does. */
async function crosslinkAll(sql: FossilSql, order: readonly string[], stored = new Set<string>()): Promise<void> {
  migrateFossilTables(sql);
  const source = crosslinkSource(sql, async (h) => (stored.has(h) ? (parsed.get(h) ?? null) : null));
  for (const hash of order) {
    stored.add(hash);
    const a = parsed.get(hash);
    if (a !== undefined) applyCrosslink(sql, await crosslink(hash, a, source));
  }
}

/** Every crosslink table's rows, ids replaced by names, sorted: comparable across databases. */
function dump(sql: FossilSql): Record<string, string[]> {
  const q = (query: string) => sql.exec(query).toArray().map((r) => JSON.stringify(r)).sort();
  return {
    event: q(`SELECT * FROM fossil_event`),
    plink: q(`SELECT * FROM fossil_plink`),
    mlink: q(`SELECT m.mid, m.pmid, m.fid, m.pid, m.mergeadd, f.name, p.name AS prior, m.mperm, m.isaux
                FROM fossil_mlink m JOIN fossil_filename f ON f.fnid = m.fnid LEFT JOIN fossil_filename p ON p.fnid = m.pfnid`),
    tagxref: q(`SELECT t.tagname, x.rid, x.tagtype, x.srcid, x.origid, x.value, x.mtime FROM fossil_tagxref x JOIN fossil_tag t USING (tagid)`),
    leaf: q(`SELECT * FROM fossil_leaf`),
  };
}

describe('fossil crosslink tables in the Durable Object', () => {
  it('answers timeline, branches and check-in changes as fossil 2.21 does', async () => {
    await withSql(async (sql) => {
      await crosslinkAll(sql, natural);
      const got = timeline(sql, 100).map((e) => ({
        hash: e.hash,
        type: e.type,
        mtime: ms(e.mtime),
        date: e.date,
        user: e.user,
        // fossil words ticket comments from its ticket table; ours are plainer.
        comment: e.type === 't' ? null : e.comment,
        bgcolor: e.bgcolor,
        branch: e.branch,
        leaf: e.leaf ? 1 : 0,
      }));
      const want = fixture.expected.timeline.map((e) => ({ ...e, comment: e.type === 't' ? null : e.comment }));
      // Same set, and newest first (fossil's order of equal times is its rid order, ours the hash's).
      expect(new Set(got.map((e) => JSON.stringify(e)))).toEqual(new Set(want.map((e) => JSON.stringify(e))));
      expect(got.map((e) => e.mtime)).toEqual([...got.map((e) => e.mtime)].sort((a, b) => b - a));
      expect(got.filter((e) => e.type === 'ci').every((e) => e.branch !== null)).toBe(true);

      const leaves = fixture.expected.leaves;
      expect(
        branches(sql).map((b) => ({ name: b.name, checkins: b.checkins, mtime: ms(b.mtime), tip: b.tip, open: b.openLeaves, closed: b.closed })),
      ).toEqual(
        fixture.expected.branches.map((b) => {
          const mine = leaves.filter((l) => l.branch === b.name);
          const open = mine.filter((l) => l.closed === 0).map((l) => l.hash);
          return { ...b, open, closed: mine.length > 0 && open.length === 0 };
        }),
      );
      expect(branches(sql).find((b) => b.name === 'moved')?.closed).toBe(true);

      const checkins = [...parsed].filter(([, a]) => a.type === 'manifest').map(([h]) => h);
      for (const mid of checkins) {
        const want = fixture.expected.changes
          .filter((c) => c.mid === mid)
          .map((c) => ({ name: c.name, priorName: c.priorName, hash: c.hash, previous: c.previous, mergeAdded: c.mergeAdded === 1, mperm: c.mperm }));
        const got = checkinFiles(sql, mid).map((f) => ({
          name: f.name,
          priorName: f.priorName,
          hash: f.hash,
          previous: f.previous,
          mergeAdded: f.change === 'added-by-merge',
          mperm: f.perm === 'x' ? 1 : f.perm === 'l' ? 2 : 0,
        }));
        expect(got, mid).toEqual(want);
      }
      const kinds = new Set(checkins.flatMap((h) => checkinFiles(sql, h).map((f) => f.change)));
      expect(kinds).toEqual(new Set(['added', 'added-by-merge', 'deleted', 'modified', 'renamed', 'mode']));
    });
  });

  it('ends with the same rows whatever the arrival order, and re-applying changes nothing', async () => {
    const inOrder = await withSql(async (sql) => {
      await crosslinkAll(sql, natural);
      return dump(sql);
    });
    expect(inOrder.tagxref.length).toBeGreaterThan(20);
    for (const seed of [7, 11]) {
      const other = await withSql(async (sql) => {
        await crosslinkAll(sql, shuffled(natural, seed));
        const first = dump(sql);
        // Every artifact again, as one stored batch.
        await crosslinkArtifacts(
          sql,
          natural.map((hash) => ({ hash, artifact: parsed.get(hash) as Artifact })),
          async (h) => parsed.get(h) ?? null,
        );
        expect(dump(sql)).toEqual(first);
        return first;
      });
      expect(other).toEqual(inOrder);
    }
    const reversed = await withSql(async (sql) => {
      await crosslinkAll(sql, [...natural].reverse());
      return dump(sql);
    });
    expect(reversed).toEqual(inOrder);
    // One stored batch in any order (everything loadable from the start), as the xfer hook gives it.
    const batch = await withSql(async (sql) => {
      migrateFossilTables(sql);
      const items = shuffled(natural, 5).map((hash) => ({ hash, artifact: parsed.get(hash) as Artifact }));
      await crosslinkArtifacts(sql, items, async (h) => parsed.get(h) ?? null);
      return dump(sql);
    });
    expect(batch).toEqual(inOrder);
  });

  it('pages and filters the timeline, capped at MAX_TIMELINE', async () => {
    await withSql(async (sql) => {
      await crosslinkAll(sql, natural);
      migrateFossilTables(sql); // idempotent
      const all = timeline(sql, 10_000);
      expect(all.length).toBe(fixture.expected.timeline.length);
      expect(all.length).toBeLessThanOrEqual(MAX_TIMELINE);
      const first = timeline(sql, 5);
      expect(first).toEqual(all.slice(0, 5));
      const next = timeline(sql, 5, { before: first[4].mtime });
      expect(next[0].mtime).toBeLessThan(first[4].mtime);
      const ci = timeline(sql, 100, { types: ['ci'] });
      expect(ci.length).toBe(fixture.expected.timeline.filter((e) => e.type === 'ci').length);
      expect(ci.every((e) => e.type === 'ci' && (e.parents.length > 0 || e.comment === 'initial empty check-in'))).toBe(true);
      expect(timeline(sql, 100, { types: [] })).toEqual([]);
      expect(timeline(sql, -3)).toEqual([]);
      expect(timeline(sql, Number.NaN)).toEqual([]);
      const tagged = all.find((e) => e.tags.includes('v1.0'));
      expect(tagged?.type).toBe('ci');
    });
  });

  it('links a check-in whose parent never arrives, and completes it when the parent does', async () => {
    const checkins = natural.filter((h) => parsed.get(h)?.type === 'manifest');
    const child = checkins[2];
    const parent = parsed.get(child)?.cards.parents?.[0] as string;
    await withSql(async (sql) => {
      const stored = new Set<string>();
      await crosslinkAll(sql, [child], stored);
      expect(checkinFiles(sql, child)).toEqual([]);
      expect(timeline(sql, 10).map((e) => e.hash)).toEqual([child]);
      expect(timeline(sql, 10)[0].parents).toEqual([parent]);
      expect(timeline(sql, 10)[0].leaf).toBe(true);
      // No branch: its own manifest has no branch tag; it inherits one only from its parent's line.
      expect(timeline(sql, 10)[0].branch).toBeNull();
      await crosslinkAll(sql, natural.slice(0, natural.indexOf(parent) + 1), stored);
      expect(checkinFiles(sql, child).length).toBeGreaterThan(0);
      expect(timeline(sql, 100, { types: ['ci'] }).find((e) => e.hash === child)?.branch).toBe('trunk');
    });
  });

  it('loads no manifest again that an earlier batch of the request linked', async () => {
    // A request's batches newest first (as a push resolves a manifest chain), through one crosslinker.
    const checkins = natural.filter((h) => parsed.get(h)?.type === 'manifest');
    const newestFirst = [...natural].reverse();
    const loads: string[] = [];
    const stored = new Set<string>();
    let current = new Set<string>();
    const rows = await withSql(async (sql) => {
      migrateFossilTables(sql);
      const link = crosslinker(sql, async (h) => {
        if (!stored.has(h)) return null;
        // The hook answers its own batch from the parsed artifacts it was given: only reads of earlier batches parse.
        if (!current.has(h)) loads.push(h);
        return parsed.get(h) ?? null;
      });
      for (let i = 0; i < newestFirst.length; i += 4) {
        const batch = newestFirst.slice(i, i + 4);
        for (const h of batch) stored.add(h);
        current = new Set(batch);
        await link(batch.map((hash) => ({ hash, artifact: parsed.get(hash) as Artifact })));
      }
      return dump(sql);
    });
    const inOrder = await withSql(async (sql) => {
      await crosslinkAll(sql, natural);
      return dump(sql);
    });
    expect(rows).toEqual(inOrder);
    // No check-in of an earlier batch was read again: the crosslinker's cache had it.
    expect(loads.filter((h) => checkins.includes(h))).toEqual([]);
  });
});
