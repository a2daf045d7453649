// One contract suite for every storage implementation (memory in Node and
// workerd; Durable Object + R2 in workerd). Pure: no node:* imports.
import { describe, expect, it } from 'vitest';
import { purePrimitives } from '../../../shared/core/primitives.js';
import {
  appendRecords,
  LruBaseCache,
  MAX_CHAIN_DEPTH,
  readObject,
  resolveRef,
  type IndexRowInput,
  type ObjectIndex,
  type ObjectStoreDeps,
  type RefStore,
  type RepoCommitter,
  type SegmentReader,
  type SegmentStore,
} from '../../../shared/storage/index.js';
import { fossilInt, tinyApplyFossil, tinyApplyGit } from './tiny-deltas.js';

/** The stores of one fresh, empty repository. */
export interface StorageUnderTest {
  refs: RefStore;
  index: ObjectIndex;
  committer: RepoCommitter;
  segments: SegmentStore;
}

/** Knobs for implementations with different costs. */
export interface ContractOptions {
  /** Size of the large record (default 12 MiB: more than two 5 MiB multipart parts). */
  largeRecordBytes?: number;
}

/** A distinct 40-hex-digit object id for `n`. */
export const oid = (n: number) => n.toString(16).padStart(40, '0');
const enc = new TextEncoder();
const dec = new TextDecoder();
const bytes = (s: string) => enc.encode(s);

/** Expects `p` to reject with a HubError of `code`. */
async function rejectsWithCode(p: Promise<unknown>, code: string): Promise<void> {
  await expect(p).rejects.toMatchObject({ code });
}

async function collect(stream: AsyncIterable<Uint8Array>): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  for await (const c of stream) parts.push(c);
  const out = new Uint8Array(parts.reduce((n, c) => n + c.length, 0));
  let at = 0;
  for (const c of parts) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}

/** Byte i of the large record: a pattern with period 251 so misplaced chunks show. */
const patternByte = (i: number) => (i * 7 + (i >> 16)) % 251;

function row(n: number, over: Partial<IndexRowInput> = {}): IndexRowInput {
  return { id: oid(n), kind: 'blob', size: 1, segment: 'seg', offset: 0, length: 1, format: 'full', base: null, ...over };
}

/** Registers the contract tests for one implementation; `make` returns a fresh empty repository each call. */
export function describeStorageContract(name: string, make: () => Promise<StorageUnderTest>, opts: ContractOptions = {}): void {
  const largeBytes = opts.largeRecordBytes ?? 12 * 1024 * 1024;

  describe(`storage contract: ${name}`, () => {
    describe('refs', () => {
      it('creates, updates and deletes a ref by compare-and-swap', async () => {
        const { refs } = await make();
        expect(await refs.update([{ name: 'refs/heads/main', old: null, new: oid(1) }])).toEqual({
          ok: true,
          refs: [{ name: 'refs/heads/main', status: 'ok' }],
        });
        expect(await refs.read('refs/heads/main')).toBe(oid(1));
        expect((await refs.update([{ name: 'refs/heads/main', old: oid(1), new: oid(2) }])).ok).toBe(true);
        expect(await refs.read('refs/heads/main')).toBe(oid(2));
        expect((await refs.update([{ name: 'refs/heads/main', old: oid(2), new: null }])).ok).toBe(true);
        expect(await refs.read('refs/heads/main')).toBeNull();
        expect(await refs.list()).toEqual([]);
      });

      it('rejects a stale old value and changes nothing', async () => {
        const { refs } = await make();
        await refs.update([{ name: 'refs/heads/main', old: null, new: oid(1) }]);
        expect(await refs.update([{ name: 'refs/heads/main', old: oid(9), new: oid(2) }])).toEqual({
          ok: false,
          refs: [{ name: 'refs/heads/main', status: 'stale', expected: oid(9), actual: oid(1) }],
        });
        // Creating over an existing ref and deleting an absent one are stale too.
        expect((await refs.update([{ name: 'refs/heads/main', old: null, new: oid(2) }])).refs[0]).toMatchObject({
          status: 'stale',
          expected: null,
          actual: oid(1),
        });
        expect((await refs.update([{ name: 'refs/heads/gone', old: oid(1), new: null }])).refs[0]).toMatchObject({
          status: 'stale',
          actual: null,
        });
        expect(await refs.read('refs/heads/main')).toBe(oid(1));
        expect(await refs.read('refs/heads/gone')).toBeNull();
      });

      it('applies a set atomically: one bad ref of three changes nothing', async () => {
        const { refs } = await make();
        await refs.update([
          { name: 'refs/heads/a', old: null, new: oid(1) },
          { name: 'refs/heads/b', old: null, new: oid(2) },
        ]);
        const result = await refs.update([
          { name: 'refs/heads/a', old: oid(1), new: oid(11) },
          { name: 'refs/heads/b', old: oid(3), new: oid(12) },
          { name: 'refs/heads/c', old: null, new: oid(13) },
        ]);
        expect(result).toEqual({
          ok: false,
          refs: [
            { name: 'refs/heads/a', status: 'aborted' },
            { name: 'refs/heads/b', status: 'stale', expected: oid(3), actual: oid(2) },
            { name: 'refs/heads/c', status: 'aborted' },
          ],
        });
        expect(await refs.list()).toEqual([
          { name: 'refs/heads/a', id: oid(1) },
          { name: 'refs/heads/b', id: oid(2) },
        ]);
      });

      it('applies each matching ref on its own when not atomic', async () => {
        const { refs } = await make();
        await refs.update([{ name: 'refs/heads/b', old: null, new: oid(2) }]);
        const result = await refs.update(
          [
            { name: 'refs/heads/a', old: null, new: oid(1) },
            { name: 'refs/heads/b', old: oid(3), new: oid(4) },
          ],
          { atomic: false },
        );
        expect(result.ok).toBe(false);
        expect(result.refs.map((r) => r.status)).toEqual(['ok', 'stale']);
        expect(await refs.read('refs/heads/a')).toBe(oid(1));
        expect(await refs.read('refs/heads/b')).toBe(oid(2));
      });

      it('refuses the same ref twice in one update', async () => {
        const { refs } = await make();
        const result = await refs.update([
          { name: 'refs/heads/a', old: null, new: oid(1) },
          { name: 'refs/heads/a', old: null, new: oid(2) },
        ]);
        expect(result.refs.map((r) => r.status)).toEqual(['duplicate', 'duplicate']);
        expect(await refs.read('refs/heads/a')).toBeNull();
      });

      it('throws typed errors for malformed ids and names, changing nothing', async () => {
        const { refs } = await make();
        await rejectsWithCode(
          refs.update([
            { name: 'refs/heads/ok', old: null, new: oid(1) },
            { name: 'refs/heads/x', old: null, new: 'ABC' },
          ]),
          'invalid-id',
        );
        await rejectsWithCode(refs.update([{ name: 'refs/heads/\n', old: null, new: oid(1) }]), 'invalid-ref-name');
        await rejectsWithCode(refs.update([{ name: '', old: null, new: oid(1) }]), 'invalid-ref-name');
        expect(await refs.list()).toEqual([]);
      });

      it('lists by plain prefix (no wildcards), in code point order', async () => {
        const { refs } = await make();
        const names = ['refs/tags/v1', 'refs/heads/ab', 'refs/heads/a_', 'refs/heads/a%', 'refs/heads/z', 'refs/heads/é', 'refs/heads-x'];
        await refs.update(names.map((name, i) => ({ name, old: null, new: oid(i + 1) })));
        expect((await refs.list()).map((r) => r.name)).toEqual([
          'refs/heads-x',
          'refs/heads/a%',
          'refs/heads/a_',
          'refs/heads/ab',
          'refs/heads/z',
          'refs/heads/é',
          'refs/tags/v1',
        ]);
        expect((await refs.list('refs/heads/')).map((r) => r.name)).toEqual(['refs/heads/a%', 'refs/heads/a_', 'refs/heads/ab', 'refs/heads/z', 'refs/heads/é']);
        expect((await refs.list('refs/heads/a_')).map((r) => r.name)).toEqual(['refs/heads/a_']);
        expect((await refs.list('refs/heads/a%')).map((r) => r.name)).toEqual(['refs/heads/a%']);
        expect(await refs.list('refs/tags/v1')).toEqual([{ name: 'refs/tags/v1', id: oid(1) }]);
        expect(await refs.list('refs/nothing')).toEqual([]);
      });

      it('keeps symbolic refs apart from direct ones', async () => {
        const { refs } = await make();
        await refs.setSymbolic('HEAD', 'refs/heads/main');
        expect(await refs.readSymbolic('HEAD')).toBe('refs/heads/main');
        expect(await refs.readSymbolic('refs/heads/main')).toBeNull();
        expect(await resolveRef(refs, 'HEAD')).toBeNull(); // unborn branch
        await refs.update([{ name: 'refs/heads/main', old: null, new: oid(1) }]);
        expect(await resolveRef(refs, 'HEAD')).toEqual({ name: 'refs/heads/main', id: oid(1) });
        expect(await refs.read('HEAD')).toBeNull();
        expect(await refs.list()).toEqual([{ name: 'refs/heads/main', id: oid(1) }]);
        expect(await refs.listSymbolic()).toEqual([{ name: 'HEAD', target: 'refs/heads/main' }]);
        // A CAS on the symbolic name itself is refused, not applied through it.
        expect((await refs.update([{ name: 'HEAD', old: null, new: oid(2) }])).refs[0].status).toBe('symbolic');
        await rejectsWithCode(refs.setSymbolic('refs/heads/main', 'refs/heads/other'), 'ref-kind');
        await refs.setSymbolic('HEAD', 'refs/heads/dev');
        expect(await refs.readSymbolic('HEAD')).toBe('refs/heads/dev');
        await refs.setSymbolic('HEAD', null);
        expect(await refs.readSymbolic('HEAD')).toBeNull();
        expect(await refs.listSymbolic()).toEqual([]);
      });

      it('lets exactly one of many concurrent compare-and-swaps on one ref win', async () => {
        const { refs } = await make();
        await refs.update([{ name: 'refs/heads/main', old: null, new: oid(1) }]);
        const results = await Promise.all(
          Array.from({ length: 8 }, (_, i) => refs.update([{ name: 'refs/heads/main', old: oid(1), new: oid(100 + i) }])),
        );
        const winners = results.flatMap((r, i) => (r.ok ? [i] : []));
        expect(winners).toHaveLength(1);
        expect(await refs.read('refs/heads/main')).toBe(oid(100 + winners[0]));
        for (const r of results) if (!r.ok) expect(r.refs[0]).toMatchObject({ status: 'stale', actual: expect.any(String) });
      });
    });

    describe('segments', () => {
      it('appends records and reads each back by range', async () => {
        const { segments } = await make();
        const records = ['first record', '', 'the third one', 'x'];
        const result = await appendRecords(segments, records.map(bytes));
        expect(result.records).toEqual([
          { offset: 0, length: 12 },
          { offset: 12, length: 0 },
          { offset: 12, length: 13 },
          { offset: 25, length: 1 },
        ]);
        expect(result.size).toBe(26);
        for (let i = 0; i < records.length; i++) {
          const { offset, length } = result.records[i];
          expect(dec.decode(await segments.readRange(result.segment, offset, length))).toBe(records[i]);
        }
        expect(dec.decode(await segments.readRange(result.segment, 3, 12))).toBe('st recordthe');
        expect(await segments.list()).toContain(result.segment);
      });

      it('streams a whole segment or a slice of it', async () => {
        const { segments } = await make();
        const result = await appendRecords(segments, [bytes('abc'), [bytes('de'), bytes('fgh')], bytes('ij')]);
        expect(result.records).toEqual([
          { offset: 0, length: 3 },
          { offset: 3, length: 5 },
          { offset: 8, length: 2 },
        ]);
        expect(dec.decode(await collect(segments.readStream(result.segment)))).toBe('abcdefghij');
        expect(dec.decode(await collect(segments.readStream(result.segment, 4)))).toBe('efghij');
        expect(dec.decode(await collect(segments.readStream(result.segment, 2, 5)))).toBe('cdefg');
        expect(await collect(segments.readStream(result.segment, 10))).toEqual(new Uint8Array(0));
      });

      it('rejects reads past the end and of unknown segments with typed errors', async () => {
        const { segments } = await make();
        const { segment } = await appendRecords(segments, [bytes('0123456789')]);
        await rejectsWithCode(segments.readRange(segment, 5, 6), 'segment-range');
        await rejectsWithCode(segments.readRange(segment, 11, 0), 'segment-range');
        await rejectsWithCode(collect(segments.readStream(segment, 8, 5)), 'segment-range');
        await rejectsWithCode(segments.readRange('no-such-segment', 0, 1), 'segment-not-found');
        await rejectsWithCode(collect(segments.readStream('no-such-segment')), 'segment-not-found');
      });

      it('tells a finished segment\'s size, and refuses an unknown one', async () => {
        const { segments } = await make();
        if (!segments.size) return; // optional in SegmentReader; both of ours have it
        const { segment, size } = await appendRecords(segments, [bytes('0123456789'), bytes('abc')]);
        expect(size).toBe(13);
        expect(await segments.size(segment)).toBe(13);
        await rejectsWithCode(segments.size('no-such-segment'), 'segment-not-found');
      });

      it(`streams a large record (${largeBytes} bytes) in across many chunks`, async () => {
        const { segments } = await make();
        const CHUNK = 64 * 1024 + 3; // odd size so chunk edges never align with parts
        async function* large() {
          for (let at = 0; at < largeBytes; at += CHUNK) {
            const n = Math.min(CHUNK, largeBytes - at);
            const chunk = new Uint8Array(n);
            for (let i = 0; i < n; i++) chunk[i] = patternByte(at + i);
            yield chunk;
          }
        }
        const result = await appendRecords(segments, [bytes('head'), large(), bytes('tail')]);
        expect(result.records).toEqual([
          { offset: 0, length: 4 },
          { offset: 4, length: largeBytes },
          { offset: 4 + largeBytes, length: 4 },
        ]);
        expect(dec.decode(await segments.readRange(result.segment, 4 + largeBytes, 4))).toBe('tail');
        // Around the 5 MiB part boundary, and at the very end of the large record.
        for (const at of [0, 5 * 1024 * 1024 - 10, largeBytes - 20]) {
          const got = await segments.readRange(result.segment, 4 + at, 20);
          expect(Array.from(got)).toEqual(Array.from({ length: 20 }, (_, i) => patternByte(at + i)));
        }
        let total = 0;
        let mismatches = 0;
        for await (const chunk of segments.readStream(result.segment, 4, largeBytes)) {
          for (let i = 0; i < chunk.length; i++) if (chunk[i] !== patternByte(total + i)) mismatches++;
          total += chunk.length;
        }
        expect(total).toBe(largeBytes);
        expect(mismatches).toBe(0);
      });

      it('copies written chunks, so a writer may reuse its buffer', async () => {
        const { segments } = await make();
        const writer = await segments.create();
        const buf = bytes('aaaa');
        await writer.write(buf);
        buf.set(bytes('bbbb'));
        await writer.write(buf);
        const result = await writer.finish();
        expect(dec.decode(await segments.readRange(result.segment, 0, 8))).toBe('aaaabbbb');
      });

      it('never shows an aborted segment, refuses writes after finish, and deletes', async () => {
        const { segments } = await make();
        const writer = await segments.create();
        await writer.write(bytes('doomed'));
        await writer.abort();
        expect(await segments.list()).not.toContain(writer.segment);
        await rejectsWithCode(segments.readRange(writer.segment, 0, 1), 'segment-not-found');
        await expect(writer.write(bytes('more'))).rejects.toMatchObject({ code: 'segment-state' });

        const kept = await appendRecords(segments, [bytes('kept')]);
        const other = await segments.create();
        const empty = await other.finish();
        expect(empty).toEqual({ segment: other.segment, size: 0 });
        await expect(other.write(bytes('late'))).rejects.toMatchObject({ code: 'segment-state' });
        expect((await segments.list()).sort()).toEqual([kept.segment, empty.segment].sort());
        await segments.delete(kept.segment);
        await segments.delete(kept.segment); // deleting twice is fine
        expect(await segments.list()).toEqual([empty.segment]);
        await rejectsWithCode(segments.readRange(kept.segment, 0, 1), 'segment-not-found');
      });
    });

    describe('object index', () => {
      it('puts a batch and answers has/get with computed depths', async () => {
        const { index } = await make();
        expect(await index.putBatch([row(2, { format: 'git-delta', base: oid(1), kind: 'tree', size: 7, offset: 5, length: 9 }), row(1)])).toEqual({
          inserted: 2,
        });
        expect(await index.has([oid(1), oid(3), oid(2)])).toEqual([true, false, true]);
        expect(await index.get(oid(2))).toEqual({
          id: oid(2),
          kind: 'tree',
          size: 7,
          segment: 'seg',
          offset: 5,
          length: 9,
          format: 'git-delta',
          base: oid(1),
          depth: 1,
        });
        expect((await index.get(oid(1)))?.depth).toBe(0);
        expect(await index.get(oid(3))).toBeNull();
        // Objects are immutable: a second row for an id is skipped.
        expect(await index.putBatch([row(1, { size: 99 })])).toEqual({ inserted: 0 });
        expect((await index.get(oid(1)))?.size).toBe(1);
      });

      it('keeps 64-digit ids, fossil kinds and large offsets', async () => {
        const { index } = await make();
        const id = 'ab'.repeat(32);
        await index.putBatch([{ id, kind: 'artifact', size: 2 ** 40, segment: 's', offset: 2 ** 41 + 1, length: 3, format: 'full', base: null }]);
        await index.putBatch([{ id: 'cd'.repeat(32), kind: 'artifact', size: 4, segment: 's', offset: 0, length: 3, format: 'fossil-delta', base: id }]);
        expect(await index.get(id)).toMatchObject({ kind: 'artifact', size: 2 ** 40, offset: 2 ** 41 + 1 });
        expect(await index.get('cd'.repeat(32))).toMatchObject({ format: 'fossil-delta', base: id, depth: 1 });
      });

      it('rejects a malformed row and keeps nothing of its batch', async () => {
        const { index } = await make();
        await rejectsWithCode(index.putBatch([row(1), row(2, { format: 'git-delta', base: null })]), 'invalid-row');
        await rejectsWithCode(index.putBatch([row(1), row(2, { base: oid(1) })]), 'invalid-row');
        await rejectsWithCode(index.putBatch([row(1), row(2, { size: -1 })]), 'invalid-row');
        await rejectsWithCode(index.putBatch([row(1), row(2, { kind: 'weird' as never })]), 'invalid-row');
        await rejectsWithCode(index.putBatch([row(1), { ...row(2), id: 'xyz' }]), 'invalid-id');
        expect(await index.has([oid(1), oid(2)])).toEqual([false, false]);
      });

      it('needs each delta base indexed or in the batch, in any order, without cycles', async () => {
        const { index } = await make();
        await rejectsWithCode(index.putBatch([row(1), row(2, { format: 'git-delta', base: oid(7) })]), 'delta-base-missing');
        await rejectsWithCode(
          index.putBatch([row(2, { format: 'git-delta', base: oid(3) }), row(3, { format: 'git-delta', base: oid(2) })]),
          'chain-cycle',
        );
        await rejectsWithCode(index.putBatch([row(4, { format: 'git-delta', base: oid(4) })]), 'chain-cycle');
        expect(await index.has([oid(1), oid(2), oid(3), oid(4)])).toEqual([false, false, false, false]);
        await index.putBatch([row(3, { format: 'git-delta', base: oid(2) }), row(2, { format: 'git-delta', base: oid(1) }), row(1)]);
        expect((await index.get(oid(3)))?.depth).toBe(2);
      });

      it('returns a delta chain in one call, top first', async () => {
        const { index } = await make();
        await index.putBatch([row(1), row(2, { format: 'git-delta', base: oid(1) }), row(3, { format: 'fossil-delta', base: oid(2) }), row(4)]);
        expect((await index.chain(oid(3))).map((r) => [r.id, r.depth])).toEqual([
          [oid(3), 2],
          [oid(2), 1],
          [oid(1), 0],
        ]);
        expect(await index.chain(oid(4))).toEqual([await index.get(oid(4))]);
        expect(await index.chain(oid(9))).toEqual([]);
      });

      it('keeps a record size given at ingest (and none when not given), through get and chain', async () => {
        const { index } = await make();
        await index.putBatch([row(1), row(2, { format: 'git-delta', base: oid(1), recordSize: 37 })]);
        expect((await index.get(oid(2)))?.recordSize).toBe(37);
        expect((await index.chain(oid(2))).map((r) => r.recordSize)).toEqual([37, undefined]);
        expect(await index.get(oid(1))).not.toHaveProperty('recordSize');
        await expect(index.putBatch([row(3, { recordSize: -1 })])).rejects.toMatchObject({ code: 'invalid-row' });
      });

      it(`bounds delta chains at depth ${MAX_CHAIN_DEPTH}`, async () => {
        const { index } = await make();
        const chain = [row(1), ...Array.from({ length: MAX_CHAIN_DEPTH }, (_, i) => row(i + 2, { format: 'git-delta', base: oid(i + 1) }))];
        // One row too many in the same batch: the whole batch is refused.
        const tooDeep = row(MAX_CHAIN_DEPTH + 2, { format: 'git-delta', base: oid(MAX_CHAIN_DEPTH + 1) });
        await expect(index.putBatch([...chain, tooDeep])).rejects.toMatchObject({
          code: 'chain-too-deep',
          data: { id: oid(MAX_CHAIN_DEPTH + 2), depth: MAX_CHAIN_DEPTH + 1 },
        });
        expect(await index.has([oid(1)])).toEqual([false]);
        await index.putBatch(chain);
        expect((await index.get(oid(MAX_CHAIN_DEPTH + 1)))?.depth).toBe(MAX_CHAIN_DEPTH);
        // And in a later batch, against the indexed base.
        await rejectsWithCode(index.putBatch([tooDeep]), 'chain-too-deep');
        await index.putBatch([{ ...tooDeep, format: 'full', base: null }]);
        expect((await index.get(oid(MAX_CHAIN_DEPTH + 2)))?.depth).toBe(0);
      });
    });

    describe('commit (quarantine)', () => {
      it('makes rows and ref updates visible together', async () => {
        const { index, refs, committer } = await make();
        const result = await committer.commit({ rows: [row(1), row(2)], refs: [{ name: 'refs/heads/main', old: null, new: oid(2) }] });
        expect(result).toEqual({ ok: true, refs: [{ name: 'refs/heads/main', status: 'ok' }], inserted: 2 });
        expect(await index.has([oid(1), oid(2)])).toEqual([true, true]);
        expect(await refs.read('refs/heads/main')).toBe(oid(2));
      });

      it('rolls the rows back when the ref compare-and-swap fails', async () => {
        const { index, refs, committer } = await make();
        await refs.update([{ name: 'refs/heads/main', old: null, new: oid(1) }]);
        const result = await committer.commit({
          rows: [row(5), row(6)],
          refs: [
            { name: 'refs/heads/new', old: null, new: oid(5) },
            { name: 'refs/heads/main', old: oid(9), new: oid(6) },
          ],
        });
        expect(result).toEqual({
          ok: false,
          inserted: 0,
          refs: [
            { name: 'refs/heads/new', status: 'aborted' },
            { name: 'refs/heads/main', status: 'stale', expected: oid(9), actual: oid(1) },
          ],
        });
        expect(await index.has([oid(5), oid(6)])).toEqual([false, false]);
        expect(await refs.list()).toEqual([{ name: 'refs/heads/main', id: oid(1) }]);
      });

      it('keeps the rows when a non-atomic commit applies some refs', async () => {
        const { index, refs, committer } = await make();
        const result = await committer.commit({
          rows: [row(5)],
          refs: [
            { name: 'refs/heads/new', old: null, new: oid(5) },
            { name: 'refs/heads/main', old: oid(9), new: oid(5) },
          ],
          atomic: false,
        });
        expect(result).toMatchObject({ ok: false, inserted: 1 });
        expect(await index.has([oid(5)])).toEqual([true]);
        expect(await refs.read('refs/heads/new')).toBe(oid(5));
      });

      it('changes nothing when a row is bad, even if the refs would apply', async () => {
        const { index, refs, committer } = await make();
        await rejectsWithCode(
          committer.commit({ rows: [row(1), row(2, { format: 'git-delta', base: oid(3) })], refs: [{ name: 'refs/heads/main', old: null, new: oid(1) }] }),
          'delta-base-missing',
        );
        expect(await index.has([oid(1)])).toEqual([false]);
        expect(await refs.read('refs/heads/main')).toBeNull();
      });

      it('lets exactly one of two concurrent pushes to one branch commit its rows', async () => {
        const { index, refs, committer } = await make();
        const [a, b] = await Promise.all([
          committer.commit({ rows: [row(10)], refs: [{ name: 'refs/heads/main', old: null, new: oid(10) }] }),
          committer.commit({ rows: [row(20)], refs: [{ name: 'refs/heads/main', old: null, new: oid(20) }] }),
        ]);
        expect([a.ok, b.ok].filter(Boolean)).toHaveLength(1);
        const winner = a.ok ? 10 : 20;
        const loser = a.ok ? 20 : 10;
        expect(await refs.read('refs/heads/main')).toBe(oid(winner));
        expect(await index.has([oid(winner), oid(loser)])).toEqual([true, false]);
      });
    });

    describe('object store view', () => {
      const z = (data: Uint8Array) => purePrimitives.zlib.deflate(data);
      const base = bytes('hello, storage world');
      // git delta: base size 20, result size 26: copy 0+7 "hello, ", insert "delta ", copy 7+13 "storage world".
      const gitDelta = new Uint8Array([20, 26, 0x90, 7, 6, ...bytes('delta '), 0x91, 7, 13]);
      const mid = bytes('hello, delta storage world');
      // fossil delta on `mid`: copy 0+13 "hello, delta ", insert "chain ", copy 13+13 "storage world".
      const top = bytes('hello, delta chain storage world');
      const fossilDelta = bytes(`${fossilInt(top.length)}\n${fossilInt(13)}@0,${fossilInt(6)}:chain ${fossilInt(13)}@${fossilInt(13)},0;`);

      async function setup() {
        const stores = await make();
        const seg = await appendRecords(stores.segments, [z(base), z(gitDelta), z(fossilDelta), z(bytes('not the right size'))]);
        const [r0, r1, r2, r3] = seg.records;
        // Row 5 claims more bytes than its record holds; row 4 fewer.
        await stores.index.putBatch([
          { id: oid(1), kind: 'blob', size: base.length, segment: seg.segment, ...r0, format: 'full', base: null },
          { id: oid(2), kind: 'blob', size: mid.length, segment: seg.segment, ...r1, format: 'git-delta', base: oid(1) },
          { id: oid(3), kind: 'artifact', size: top.length, segment: seg.segment, ...r2, format: 'fossil-delta', base: oid(2) },
          { id: oid(4), kind: 'blob', size: 5, segment: seg.segment, ...r3, format: 'full', base: null },
          { id: oid(5), kind: 'blob', size: 100, segment: seg.segment, ...r3, format: 'full', base: null },
        ]);
        let reads = 0;
        let gets = 0;
        const counting: SegmentReader = {
          readRange: (s, o, l) => {
            reads++;
            return stores.segments.readRange(s, o, l);
          },
          readStream: (s, o, l) => stores.segments.readStream(s, o, l),
        };
        const deps = (cache?: LruBaseCache, withChain = true): ObjectStoreDeps => ({
          index: {
            has: (ids) => stores.index.has(ids),
            get: (id) => {
              gets++;
              return stores.index.get(id);
            },
            chain: withChain ? (id) => stores.index.chain(id) : undefined,
          },
          segments: counting,
          primitives: purePrimitives,
          appliers: { git: tinyApplyGit, fossil: tinyApplyFossil },
          cache,
        });
        return { deps, reads: () => reads, gets: () => gets };
      }

      it('resolves an object through a git then a fossil delta', async () => {
        const { deps, reads, gets } = await setup();
        expect(dec.decode((await readObject(deps(), oid(1)))!.data)).toBe('hello, storage world');
        expect(dec.decode((await readObject(deps(), oid(2)))!.data)).toBe('hello, delta storage world');
        const obj = await readObject(deps(), oid(3));
        expect(obj).toMatchObject({ id: oid(3), kind: 'artifact', size: top.length });
        expect(dec.decode(obj!.data)).toBe('hello, delta chain storage world');
        expect(reads()).toBe(1 + 2 + 3);
        expect(gets()).toBe(0); // the chain came in one call each time
        expect(await readObject(deps(), oid(9))).toBeNull();
        expect(dec.decode((await readObject(deps(undefined, false), oid(3)))!.data)).toBe('hello, delta chain storage world');
        expect(gets()).toBe(4); // without chain(): one get per link, plus the missing oid(9)
      });

      it('reads cached bases instead of their records', async () => {
        const { deps, reads } = await setup();
        const cache = new LruBaseCache(1024);
        await readObject(deps(cache), oid(2));
        const before = reads();
        expect(dec.decode((await readObject(deps(cache), oid(3)))!.data)).toBe('hello, delta chain storage world');
        expect(reads() - before).toBe(1);
      });

      it('refuses a record whose content disagrees with its row', async () => {
        const { deps } = await setup();
        await rejectsWithCode(readObject(deps(), oid(4)), 'zlib-too-large');
        await rejectsWithCode(readObject(deps(), oid(5)), 'corrupt-record');
      });
    });
  });
}
