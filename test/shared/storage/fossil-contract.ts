// Contract suite for FossilStore implementations (memory in Node and workerd;
// the Durable Object's SQLite in workerd). Pure: no node:* imports.
// Usage: describeFossilStoreContract('name', async () => ({ store, segments })).
import { describe, expect, it } from 'vitest';
import { purePrimitives } from '../../../shared/core/primitives.js';
import {
  appendRecords,
  fossilObjectIndex,
  MAX_CHAIN_DEPTH,
  readObject,
  type FossilRowInput,
  type FossilStore,
  type PendingDelta,
  type SegmentStore,
  type UnversionedEntry,
} from '../../../shared/storage/index.js';
import { fossilInt, tinyApplyFossil, tinyApplyGit } from './tiny-deltas.js';

/** A fresh, empty Fossil repository's stores. */
export interface FossilStoreUnderTest {
  store: FossilStore;
  segments: SegmentStore;
}

/** A distinct 64-hex-digit hash for `n` (the store never checks content against names). */
export const fhash = (n: number) => n.toString(16).padStart(64, '0');
const enc = new TextEncoder();

function frow(n: number, over: Partial<FossilRowInput> = {}): FossilRowInput {
  return { hash: fhash(n), size: 1, segment: 'seg', offset: 0, length: 1, recordSize: 1, format: 'full', base: null, private: false, ...over };
}

function pend(n: number, base: number, over: Partial<PendingDelta> = {}): PendingDelta {
  return { hash: fhash(n), base: fhash(base), size: 5, segment: 'seg', offset: 0, length: 3, recordSize: 3, private: false, ...over };
}

async function rejectsWithCode(p: Promise<unknown>, code: string): Promise<void> {
  await expect(p).rejects.toMatchObject({ code });
}

/** Registers the FossilStore contract tests; `make` returns a fresh empty repository each call. */
export function describeFossilStoreContract(name: string, make: () => Promise<FossilStoreUnderTest>): void {
  describe(`fossil store contract: ${name}`, () => {
    it('starts empty', async () => {
      const { store } = await make();
      expect(await store.count()).toBe(0);
      expect(await store.listFrom(1, 10)).toEqual([]);
      expect(await store.listUnclustered(10)).toEqual([]);
      expect(await store.listPhantoms(10)).toEqual([]);
      expect(await store.listUnversioned()).toEqual([]);
      expect(await store.getConfig(['project-code'])).toEqual([null]);
      expect(await store.states([fhash(1)])).toEqual(['unknown']);
      expect(await store.rows([fhash(1)])).toEqual([null]);
      expect(await store.chain(fhash(1))).toEqual([]);
    });

    it('assigns increasing seqs from 1 in batch order and computes depths', async () => {
      const { store } = await make();
      const r = await store.commit({
        rows: [frow(2, { format: 'fossil-delta', base: fhash(1), recordSize: 7 }), frow(1), frow(3, { format: 'fossil-delta', base: fhash(2), recordSize: 2 })],
      });
      expect(r.inserted.map((x) => [x.hash, x.seq, x.depth])).toEqual([
        [fhash(2), 1, 1],
        [fhash(1), 2, 0],
        [fhash(3), 3, 2],
      ]);
      const r2 = await store.commit({ rows: [frow(1), frow(4, { private: true })] });
      expect(r2.inserted.map((x) => [x.hash, x.seq])).toEqual([[fhash(4), 4]]);
      expect(await store.count()).toBe(4);
      const [row3] = await store.rows([fhash(3)]);
      expect(row3).toMatchObject({ hash: fhash(3), seq: 3, depth: 2, base: fhash(2), format: 'fossil-delta', recordSize: 2, private: false });
      expect((await store.chain(fhash(3))).map((x) => x.hash)).toEqual([fhash(3), fhash(2), fhash(1)]);
      expect(await store.states([fhash(1), fhash(4), fhash(9)])).toEqual(['public', 'private', 'unknown']);
      await store.commit({ rows: [frow(0, { private: true })] });
      expect(await store.listPrivate(10)).toEqual([fhash(0), fhash(4)]);
      expect(await store.listPrivate(1)).toEqual([fhash(0)]);
      expect(await store.listPrivate(1, fhash(0))).toEqual([fhash(4)]);
      expect(await store.listPrivate(1, fhash(4))).toEqual([]);
    });

    it('lists from a seq with a limit, skipping shunned rows', async () => {
      const { store } = await make();
      await store.commit({ rows: [1, 2, 3, 4, 5].map((n) => frow(n)) });
      expect((await store.listFrom(2, 2)).map((r) => r.seq)).toEqual([2, 3]);
      expect((await store.listFrom(4, 10)).map((r) => r.seq)).toEqual([4, 5]);
      expect(await store.listFrom(6, 10)).toEqual([]);
      await store.setShunned([fhash(3)], true);
      expect((await store.listFrom(2, 2)).map((r) => r.seq)).toEqual([2, 4]);
      expect(await store.states([fhash(3)])).toEqual(['shunned']);
      await store.setShunned([fhash(3)], false);
      expect(await store.states([fhash(3)])).toEqual(['public']);
    });

    it('answers the states of thousands of hashes in their order, repeats included', async () => {
      const { store } = await make();
      // n % 6: 0 public, 1 private, 2 phantom, 3 pending, 4 shunned, 5 unknown.
      const want = ['public', 'private', 'phantom', 'pending', 'shunned', 'unknown'] as const;
      const ns = Array.from({ length: 3000 }, (_, i) => i + 1);
      await store.commit({
        rows: ns.filter((n) => n % 6 < 2).map((n) => frow(n, { private: n % 6 === 1 })),
        phantoms: ns.filter((n) => n % 6 === 2 || n % 6 === 3).map(fhash),
        pendingAdd: ns.filter((n) => n % 6 === 3).map((n) => pend(n, n - 1)),
      });
      await store.setShunned(ns.filter((n) => n % 6 === 4).map(fhash), true);
      const asked = [...ns.slice(1500), ...ns.slice(0, 1500).reverse(), 6, 7, 6];
      expect(await store.states(asked.map(fhash))).toEqual(asked.map((n) => want[n % 6]));
    });

    it('rejects a bad batch whole: missing base, cycle, too deep, malformed, shunned', async () => {
      const { store } = await make();
      await store.commit({ rows: [frow(1)] });
      const bad: FossilRowInput[][] = [
        [frow(2), frow(3, { format: 'fossil-delta', base: fhash(99) })],
        [frow(4, { format: 'fossil-delta', base: fhash(5) }), frow(5, { format: 'fossil-delta', base: fhash(4) })],
        [frow(6, { format: 'full', base: fhash(1) })],
        [frow(7, { hash: 'XYZ' })],
        [frow(8, { size: -1 })],
        [frow(9, { format: 'full', recordSize: 5 })],
      ];
      for (const rows of bad) {
        await expect(store.commit({ rows, phantoms: [fhash(50)], unclusteredAdd: [fhash(1)] })).rejects.toBeTruthy();
      }
      // A chain over MAX_CHAIN_DEPTH.
      const deep: FossilRowInput[] = [];
      for (let i = 0; i <= MAX_CHAIN_DEPTH; i++) deep.push(frow(100 + i, { format: 'fossil-delta', base: fhash(i === 0 ? 1 : 99 + i) }));
      await rejectsWithCode(store.commit({ rows: deep }), 'chain-too-deep');
      await store.setShunned([fhash(60)], true);
      await expect(store.commit({ rows: [frow(60)] })).rejects.toBeTruthy();
      // Nothing of the failed batches is visible.
      expect(await store.count()).toBe(1);
      expect(await store.listPhantoms(10)).toEqual([]);
      expect(await store.listUnclustered(10)).toEqual([]);
      // A chain of exactly MAX_CHAIN_DEPTH is fine.
      const r = await store.commit({ rows: deep.slice(0, MAX_CHAIN_DEPTH) });
      expect(r.inserted.at(-1)!.depth).toBe(MAX_CHAIN_DEPTH);
    });

    it('repoints rows at new records: reverses a chain, shifts dependent depths, reports heights', async () => {
      const { store } = await make();
      const d = (n: number, base: number) => frow(n, { format: 'fossil-delta', base: fhash(base), recordSize: 3 });
      await store.commit({ rows: [frow(1, { size: 9, recordSize: 9 }), d(2, 1), d(3, 2), frow(4)] });
      expect(await store.heights([fhash(1), fhash(2), fhash(3), fhash(99)])).toEqual([2, 1, 0, 0]);
      // A detached row (to be stored full) and what hangs below it no longer count.
      expect(await store.heights([fhash(1), fhash(2)], [fhash(3)])).toEqual([1, 0]);
      expect(await store.heights([fhash(1)], [fhash(2)])).toEqual([0]);
      // The rows below, each with its base and level; a detached row and what hangs below it left out.
      const byHash = (xs: { hash: string }[]) => [...xs].sort((a, b) => a.hash.localeCompare(b.hash));
      expect(byHash(await store.below(fhash(1)))).toEqual([{ hash: fhash(2), base: fhash(1), level: 1 }, { hash: fhash(3), base: fhash(2), level: 2 }]);
      expect(await store.below(fhash(1), [fhash(3)])).toEqual([{ hash: fhash(2), base: fhash(1), level: 1 }]);
      expect(await store.below(fhash(3))).toEqual([]);
      expect(await store.below(fhash(99))).toEqual([]);
      // 3 becomes full, then 1 a delta of 3: 2 (a delta of 1) goes one deeper.
      await store.repoint([
        { hash: fhash(3), segment: 'new', offset: 10, length: 4, recordSize: 1, format: 'full', base: null },
        { hash: fhash(1), segment: 'new', offset: 14, length: 2, recordSize: 5, format: 'fossil-delta', base: fhash(3) },
      ]);
      const [r1, r2, r3] = await store.rows([fhash(1), fhash(2), fhash(3)]);
      expect(r3).toMatchObject({ seq: 3, depth: 0, format: 'full', base: null, segment: 'new', offset: 10, length: 4 });
      expect(r1).toMatchObject({ seq: 1, size: 9, depth: 1, format: 'fossil-delta', base: fhash(3), segment: 'new', offset: 14, length: 2, recordSize: 5 });
      expect(r2).toMatchObject({ depth: 2, base: fhash(1) });
      expect((await store.chain(fhash(2))).map((r) => r.hash)).toEqual([fhash(2), fhash(1), fhash(3)]);
      expect(await store.heights([fhash(3), fhash(1)])).toEqual([2, 1]);
      // A new record at the same depth (another delta on the same base): what hangs below stays.
      await store.repoint([{ hash: fhash(1), segment: 'again', offset: 0, length: 3, recordSize: 4, format: 'fossil-delta', base: fhash(3) }]);
      expect((await store.rows([fhash(1), fhash(2)])).map((r) => [r!.segment, r!.depth])).toEqual([['again', 1], ['seg', 2]]);
      // Bad swaps change nothing: unknown row, missing base, a cycle, a full record of the wrong size, a bad hash.
      const before = await store.listFrom(1, 10);
      const swap = (n: number, base: number | null, over = {}) => ({ hash: fhash(n), segment: 'x', offset: 0, length: 1, recordSize: 3, format: base === null ? ('full' as const) : ('fossil-delta' as const), base: base === null ? null : fhash(base), ...over });
      for (const bad of [[swap(4, null, { recordSize: 1 }), swap(77, 4)], [swap(4, 88)], [swap(3, 2)], [swap(3, null)], [swap(4, 1, { hash: 'nope' })]]) {
        await expect(store.repoint(bad)).rejects.toBeTruthy();
      }
      expect(await store.listFrom(1, 10)).toEqual(before);
    });

    it('relocates records copied elsewhere, only rows still where the copy came from', async () => {
      const { store } = await make();
      const d = frow(2, { format: 'fossil-delta', base: fhash(1), recordSize: 3, offset: 5, length: 4 });
      await store.commit({ rows: [frow(1, { size: 9, recordSize: 9, length: 5 }), d, frow(3, { segment: 'other', offset: 7 })] });
      const moves = [
        { hash: fhash(1), from: { segment: 'seg', offset: 0 }, segment: 'packed', offset: 0, length: 5 },
        { hash: fhash(2), from: { segment: 'seg', offset: 5 }, segment: 'packed', offset: 5, length: 4 },
        // Moved meanwhile (not at `from`), and not stored: left alone.
        { hash: fhash(3), from: { segment: 'seg', offset: 7 }, segment: 'packed', offset: 9, length: 1 },
        { hash: fhash(9), from: { segment: 'seg', offset: 0 }, segment: 'packed', offset: 10, length: 1 },
      ];
      expect(await store.relocate(moves)).toBe(2);
      const [r1, r2, r3] = await store.rows([fhash(1), fhash(2), fhash(3)]);
      expect(r1).toMatchObject({ segment: 'packed', offset: 0, length: 5, size: 9, recordSize: 9, format: 'full', depth: 0, seq: 1 });
      expect(r2).toMatchObject({ segment: 'packed', offset: 5, length: 4, recordSize: 3, format: 'fossil-delta', base: fhash(1), depth: 1, seq: 2 });
      expect(r3).toMatchObject({ segment: 'other', offset: 7 });
      // A length that is not the record's throws and moves nothing.
      const before = await store.listFrom(1, 10);
      await expect(store.relocate([{ ...moves[0], from: { segment: 'packed', offset: 0 }, segment: 'again', offset: 0 }, { ...moves[1], from: { segment: 'packed', offset: 5 }, length: 3 }])).rejects.toBeTruthy();
      expect(await store.listFrom(1, 10)).toEqual(before);
    });

    it('refuses a repoint that would make a chain deeper than MAX_CHAIN_DEPTH', async () => {
      const { store } = await make();
      const rows: FossilRowInput[] = [frow(1), frow(2)];
      for (let i = 1; i <= MAX_CHAIN_DEPTH; i++) rows.push(frow(100 + i, { format: 'fossil-delta', base: fhash(i === 1 ? 2 : 99 + i) }));
      await store.commit({ rows });
      expect(await store.heights([fhash(2)])).toEqual([MAX_CHAIN_DEPTH]);
      await rejectsWithCode(store.repoint([{ hash: fhash(2), segment: 'x', offset: 0, length: 1, recordSize: 3, format: 'fossil-delta', base: fhash(1) }]), 'chain-too-deep');
      expect((await store.rows([fhash(2)]))[0]).toMatchObject({ format: 'full', depth: 0 });
      expect((await store.rows([fhash(100 + MAX_CHAIN_DEPTH)]))[0]!.depth).toBe(MAX_CHAIN_DEPTH);
      // A row nothing hangs below, onto the deepest row: too deep by itself.
      await store.commit({ rows: [frow(3)] });
      await rejectsWithCode(store.repoint([{ hash: fhash(3), segment: 'x', offset: 0, length: 1, recordSize: 3, format: 'fossil-delta', base: fhash(100 + MAX_CHAIN_DEPTH) }]), 'chain-too-deep');
      expect((await store.rows([fhash(3)]))[0]).toMatchObject({ format: 'full', depth: 0, segment: 'seg' });
      // One level up fits, and leaves it MAX_CHAIN_DEPTH deep.
      await store.repoint([{ hash: fhash(3), segment: 'x', offset: 0, length: 1, recordSize: 3, format: 'fossil-delta', base: fhash(99 + MAX_CHAIN_DEPTH) }]);
      expect((await store.rows([fhash(3)]))[0]).toMatchObject({ format: 'fossil-delta', depth: MAX_CHAIN_DEPTH, segment: 'x' });
    });

    it('keeps phantoms until the artifact arrives; ignores phantoms for stored or shunned hashes', async () => {
      const { store } = await make();
      await store.commit({ rows: [frow(1)] });
      await store.setShunned([fhash(4)], true);
      await store.commit({ phantoms: [fhash(3), fhash(2), fhash(1), fhash(4)] });
      expect(await store.listPhantoms(10)).toEqual([fhash(2), fhash(3)]);
      expect(await store.listPhantoms(1)).toEqual([fhash(2)]);
      // From a point: the ones at or after it first, then wrapping round.
      expect(await store.listPhantoms(10, fhash(3))).toEqual([fhash(3), fhash(2)]);
      expect(await store.listPhantoms(1, fhash(3))).toEqual([fhash(3)]);
      expect(await store.listPhantoms(10, 'f')).toEqual([fhash(2), fhash(3)]);
      expect(await store.states([fhash(2)])).toEqual(['phantom']);
      await store.commit({ rows: [frow(2)] });
      expect(await store.listPhantoms(10)).toEqual([fhash(3)]);
      expect(await store.states([fhash(2), fhash(3)])).toEqual(['public', 'phantom']);
    });

    it('lists private phantoms only when asked; a public naming makes one public, never the reverse', async () => {
      const { store } = await make();
      await store.commit({ privatePhantoms: [fhash(1), fhash(2), fhash(3)], phantoms: [fhash(3), fhash(4)] });
      expect(await store.listPhantoms(10)).toEqual([fhash(3), fhash(4)]);
      expect(await store.listPhantoms(10, fhash(2), true)).toEqual([fhash(2), fhash(3), fhash(4), fhash(1)]);
      expect(await store.states([fhash(1), fhash(3)])).toEqual(['private-phantom', 'phantom']);
      await store.commit({ phantoms: [fhash(1)], privatePhantoms: [fhash(4)] });
      expect(await store.listPhantoms(10)).toEqual([fhash(1), fhash(3), fhash(4)]);
      // The artifact arrives (private or public): no longer a phantom of either kind.
      await store.commit({ rows: [frow(2, { private: true })], pendingAdd: [pend(1, 9, { private: true })] });
      expect(await store.listPhantoms(10, '', true)).toEqual([fhash(3), fhash(4)]);
      expect(await store.states([fhash(2)])).toEqual(['private']);
    });

    it('holds pending deltas by base, resolves them into rows, drops them on request', async () => {
      const { store } = await make();
      await store.commit({ phantoms: [fhash(1), fhash(2)], pendingAdd: [pend(2, 1), pend(3, 1), pend(4, 9)] });
      expect(await store.states([fhash(1), fhash(2), fhash(3)])).toEqual(['phantom', 'pending', 'pending']);
      expect(await store.listPhantoms(10)).toEqual([fhash(1)]);
      const got = await store.pendingByBase([fhash(1)]);
      expect(got.map((p) => p.hash).sort()).toEqual([fhash(2), fhash(3)]);
      expect(got.find((p) => p.hash === fhash(2))).toEqual(pend(2, 1));
      // The base arrives: 2 resolves into a row over the same record, 3 turns out bad.
      await store.commit({
        rows: [frow(1), frow(2, { format: 'fossil-delta', base: fhash(1), size: 5, length: 3, recordSize: 3 })],
        pendingRemove: [fhash(3)],
      });
      expect(await store.pendingByBase([fhash(1)])).toEqual([]);
      expect(await store.states([fhash(1), fhash(2), fhash(3)])).toEqual(['public', 'public', 'unknown']);
      expect((await store.pendingByBase([fhash(9)])).map((p) => p.hash)).toEqual([fhash(4)]);
      // A pending entry for a stored hash is ignored.
      await store.commit({ pendingAdd: [pend(1, 9)] });
      expect(await store.states([fhash(1)])).toEqual(['public']);
    });

    it('tracks the unclustered set', async () => {
      const { store } = await make();
      await store.commit({ rows: [frow(3), frow(1), frow(2)], unclusteredAdd: [fhash(3), fhash(1), fhash(2), fhash(77)] });
      expect(await store.listUnclustered(10)).toEqual([fhash(1), fhash(2), fhash(3)]);
      expect(await store.listUnclustered(2)).toEqual([fhash(1), fhash(2)]);
      // Pages: the hashes after the last one of the page before.
      expect(await store.listUnclustered(2, fhash(2))).toEqual([fhash(3)]);
      expect(await store.listUnclustered(2, fhash(3))).toEqual([]);
      await store.commit({ rows: [frow(4)], unclusteredAdd: [fhash(4)], unclusteredRemove: [fhash(1), fhash(2), fhash(88)] });
      expect(await store.listUnclustered(10)).toEqual([fhash(3), fhash(4)]);
    });

    it('publishes private rows: public and unclustered; public or absent hashes ignored', async () => {
      const { store } = await make();
      await store.commit({ rows: [frow(1, { private: true }), frow(2, { private: true }), frow(3)] });
      expect(await store.listPrivate(10)).toEqual([fhash(1), fhash(2)]);
      await store.commit({ publish: [fhash(1), fhash(3), fhash(9)] });
      expect(await store.states([fhash(1), fhash(2), fhash(3), fhash(9)])).toEqual(['public', 'private', 'public', 'unknown']);
      expect(await store.listPrivate(10)).toEqual([fhash(2)]);
      expect((await store.rows([fhash(1)]))[0]?.private).toBe(false);
      expect(await store.listUnclustered(10)).toEqual([fhash(1)]);
      await expect(store.commit({ publish: ['not-a-hash'] })).rejects.toBeTruthy();
    });

    it('stores config and unversioned entries (replace by name, deletions, code-point order)', async () => {
      const { store } = await make();
      await store.commit({ config: [{ name: 'project-code', value: 'a'.repeat(40), mtime: 5 }, { name: 'project-name', value: 'Demo', mtime: 6 }] });
      expect(await store.getConfig(['project-name', 'nope', 'project-code'])).toEqual([
        { name: 'project-name', value: 'Demo', mtime: 6 },
        null,
        { name: 'project-code', value: 'a'.repeat(40), mtime: 5 },
      ]);
      await store.commit({ config: [{ name: 'project-name', value: 'Other', mtime: 7 }] });
      expect(await store.getConfig(['project-name'])).toEqual([{ name: 'project-name', value: 'Other', mtime: 7 }]);

      const a: UnversionedEntry = { name: 'b.txt', mtime: 100, hash: fhash(1), size: 3, record: { segment: 's', offset: 0, length: 11 } };
      const b: UnversionedEntry = { name: 'a\u{1F600}.txt', mtime: 50, hash: fhash(2), size: 4, record: { segment: 's', offset: 11, length: 12 } };
      const c: UnversionedEntry = { name: 'a\uFFFF.txt', mtime: 60, hash: null, size: 0, record: null };
      await store.commit({ unversioned: [a, b, c] });
      expect((await store.listUnversioned()).map((e) => e.name)).toEqual(['a\uFFFF.txt', 'a\u{1F600}.txt', 'b.txt']);
      expect(await store.getUnversioned('b.txt')).toEqual(a);
      const deleted = { ...a, mtime: 200, hash: null, size: 0, record: null };
      await store.commit({ unversioned: [deleted] });
      expect(await store.getUnversioned('b.txt')).toEqual(deleted);
      expect(await store.getUnversioned('zzz')).toBeNull();
      // A deleted entry with content, or content without a record, is refused.
      await expect(store.commit({ unversioned: [{ ...c, size: 3 }] })).rejects.toBeTruthy();
      await expect(store.commit({ unversioned: [{ ...a, record: null }] })).rejects.toBeTruthy();
      expect(await store.getUnversioned('b.txt')).toEqual(deleted);
    });

    it('validates hashes given to queries', async () => {
      const { store } = await make();
      await rejectsWithCode(store.states(['nothex']), 'invalid-id');
      await rejectsWithCode(store.chain('ABC'), 'invalid-id');
      await expect(store.setShunned(['x'], true)).rejects.toBeTruthy();
    });

    it('resolves artifacts through readObject: full records and fossil delta chains', async () => {
      const { store, segments } = await make();
      const z = purePrimitives.zlib;
      const v1 = enc.encode('hello fossil world\n');
      const v2 = enc.encode('hello fossil world\nand more\n');
      // A Fossil delta v1 -> v2: copy all of v1, insert the tail.
      const tail = v2.subarray(v1.length);
      const delta = enc.encode(`${fossilInt(v2.length)}\n${fossilInt(v1.length)}@0,${fossilInt(tail.length)}:${new TextDecoder().decode(tail)}0;`);
      const recs = [z.deflate(v1), z.deflate(delta)];
      const app = await appendRecords(segments, recs);
      await store.commit({
        rows: [
          frow(1, { size: v1.length, recordSize: v1.length, segment: app.segment, ...app.records[0] }),
          frow(2, { size: v2.length, recordSize: delta.length, format: 'fossil-delta', base: fhash(1), segment: app.segment, ...app.records[1] }),
        ],
      });
      const deps = {
        index: fossilObjectIndex(store),
        segments,
        primitives: purePrimitives,
        appliers: { git: tinyApplyGit, fossil: tinyApplyFossil },
      };
      expect((await readObject(deps, fhash(2)))!.data).toEqual(v2);
      expect((await readObject(deps, fhash(1)))!.data).toEqual(v1);
      expect(await readObject(deps, fhash(3))).toBeNull();
      // The stored record bytes are exactly what was written (cfile copies them).
      const [row] = await store.rows([fhash(2)]);
      expect(await segments.readRange(row!.segment, row!.offset, row!.length)).toEqual(recs[1]);
    });

    it('keeps configuration rows per table and key; the larger mtime wins; lists the shun list', async () => {
      const { store } = await make();
      const shun = (key: string, mtime: number, why: string) => ({ table: 'shun' as const, key, mtime, fields: ` scom '${why}'` });
      await store.configRows.put([shun(fhash(2), 10, 'b'), shun(fhash(1), 10, 'a'), { table: 'reportfmt', key: 'All', mtime: 5, fields: ` cols ''` }]);
      await store.configRows.put([shun(fhash(1), 9, 'older'), shun(fhash(2), 10, 'tie'), shun(fhash(2), 11, 'newer')]);
      expect(await store.configRows.list('shun', 10)).toEqual([shun(fhash(1), 10, 'a'), shun(fhash(2), 11, 'newer')]);
      expect(await store.configRows.list('shun', 1)).toEqual([shun(fhash(1), 10, 'a')]);
      expect((await store.configRows.list('reportfmt', 10)).map((r) => r.key)).toEqual(['All']);
      expect(await store.configRows.list('concealed', 10)).toEqual([]);
      // A bad row rejects the whole put.
      await rejectsWithCode(store.configRows.put([shun(fhash(3), 1, 'x'), { ...shun(fhash(4), 1, 'x'), mtime: 1.5 }]), 'invalid-row');
      expect((await store.configRows.list('shun', 10)).length).toBe(2);
      await store.setShunned([fhash(7), fhash(5)], true);
      expect(await store.configRows.listShunned(10)).toEqual([fhash(5), fhash(7)]);
      expect(await store.configRows.listShunned(1)).toEqual([fhash(5)]);
    });
  });
}
