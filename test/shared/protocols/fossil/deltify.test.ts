// Repacking pushed (forward) deltas into fossil's reverse deltas: texts
// unchanged, newest version full, chains bounded, fossil's skip rules.
import { describe, expect, it } from 'vitest';
import { purePrimitives } from '../../../../shared/core/primitives.js';
import { applyFossilDelta, createFossilDelta, reverseFossilDelta } from '../../../../shared/delta/fossil.js';
import { deltify, sharesEnough } from '../../../../shared/protocols/fossil/deltify.js';
import { ArtifactReader, RecordSink, receiveMemo, type FossilRepo } from '../../../../shared/protocols/fossil/repo.js';
import { MemoryFossilStore } from '../../../../shared/storage/fossil-memory.js';
import { MemorySegmentStore } from '../../../../shared/storage/memory.js';
import { MAX_CHAIN_DEPTH } from '../../../../shared/storage/object-index.js';

const hashOf = (n: number) => n.toString(16).padStart(40, '0');
/** Version `i` of a file: a common body with a line changed per version. */
const version = (i: number) => new TextEncoder().encode(`${'line of a file that changes a little\n'.repeat(40)}version ${i}\n${'tail\n'.repeat(i % 7)}`);

/** A repository holding `n` versions as a push leaves them: v0 full, each next one a delta of the previous. */
async function pushedHistory(n: number, opts: { privateFrom?: number } = {}): Promise<{ repo: FossilRepo; texts: Uint8Array[] }> {
  const repo: FossilRepo = { store: new MemoryFossilStore(), segments: new MemorySegmentStore(), primitives: purePrimitives };
  const sink = new RecordSink(repo);
  const texts = Array.from({ length: n }, (_, i) => version(i));
  const rows = [];
  for (let i = 0; i < n; i++) {
    const isPrivate = opts.privateFrom !== undefined && i >= opts.privateFrom;
    // Pushed chains restart full every 10 versions, as a bounded push would.
    if (i % 10 === 0) {
      rows.push({ hash: hashOf(i), size: texts[i].length, ...(await sink.appendDeflated(texts[i])), recordSize: texts[i].length, format: 'full' as const, base: null, private: isPrivate });
    } else {
      const d = createFossilDelta(texts[i - 1], texts[i]);
      rows.push({ hash: hashOf(i), size: texts[i].length, ...(await sink.appendDeflated(d)), recordSize: d.length, format: 'fossil-delta' as const, base: hashOf(i - 1), private: isPrivate });
    }
  }
  await sink.finish();
  await repo.store.commit({ rows });
  return { repo, texts };
}

const pairsOf = (n: number) => Array.from({ length: n - 1 }, (_, i) => ({ target: hashOf(i), source: hashOf(i + 1) }));

async function expectTexts(repo: FossilRepo, texts: Uint8Array[]): Promise<void> {
  const reader = new ArtifactReader(repo, 1 << 20);
  for (let i = 0; i < texts.length; i++) expect(await reader.read(hashOf(i))).toEqual(texts[i]);
}

describe('deltify', () => {
  it('turns forward deltas into reverse ones: older versions are deltas of newer, the newest is full', async () => {
    const { repo, texts } = await pushedHistory(25);
    const r = await deltify(repo, pairsOf(25));
    expect(r.deltified).toBe(24);
    const rows = await repo.store.rows(texts.map((_, i) => hashOf(i)));
    for (let i = 0; i < 24; i++) expect(rows[i]).toMatchObject({ format: 'fossil-delta', base: hashOf(i + 1), depth: 24 - i });
    expect(rows[24]).toMatchObject({ format: 'full', base: null, depth: 0 });
    await expectTexts(repo, texts);
    // Done once: a second run changes nothing.
    expect(await deltify(repo, pairsOf(25))).toEqual({ deltified: 0, expanded: 0, handled: 24 });
  });

  it('reads the reverse delta off the pushed forward one (reverseFossilDelta), not matched afresh', async () => {
    const repo: FossilRepo = { store: new MemoryFossilStore(), segments: new MemorySegmentStore(), primitives: purePrimitives };
    const sink = new RecordSink(repo);
    // v0 holds a block twice, v1 once: the forward delta copies it once, so its reversal inserts
    // the second one, where matching afresh would copy it (the two deltas differ).
    const block = version(3);
    const v0 = new Uint8Array([...version(0), ...block, ...block]);
    const v1 = new Uint8Array([...version(0), ...block]);
    const forward = createFossilDelta(v0, v1);
    const rows = [
      { hash: hashOf(0), size: v0.length, ...(await sink.appendDeflated(v0)), recordSize: v0.length, format: 'full' as const, base: null, private: false },
      { hash: hashOf(1), size: v1.length, ...(await sink.appendDeflated(forward)), recordSize: forward.length, format: 'fossil-delta' as const, base: hashOf(0), private: false },
    ];
    await sink.finish();
    await repo.store.commit({ rows });
    expect(reverseFossilDelta(forward, v0)).not.toEqual(createFossilDelta(v1, v0));
    expect((await deltify(repo, pairsOf(2))).deltified).toBe(1);
    const [r0] = await repo.store.rows([hashOf(0)]);
    expect(r0).toMatchObject({ format: 'fossil-delta', base: hashOf(1) });
    expect(repo.primitives.zlib.inflate(await repo.segments.readRange(r0!.segment, r0!.offset, r0!.length), r0!.recordSize)).toEqual(reverseFossilDelta(forward, v0));
    await expectTexts(repo, [v0, v1]);
  });

  it('checks the reversed delta against the text it must make: a record that does not say what it should gets a delta matched afresh', async () => {
    const repo: FossilRepo = { store: new MemoryFossilStore(), segments: new MemorySegmentStore(), primitives: purePrimitives, memo: receiveMemo() };
    const sink = new RecordSink(repo);
    const [v0, v1] = [version(0), version(1)];
    // v1's record makes v1 shifted by a byte, while the push's memo holds v1 itself (hash-checked on arrival).
    const wrong = createFossilDelta(v0, new Uint8Array([0x41, ...v1]));
    const rows = [
      { hash: hashOf(0), size: v0.length, ...(await sink.appendDeflated(v0)), recordSize: v0.length, format: 'full' as const, base: null, private: false },
      { hash: hashOf(1), size: v1.length, ...(await sink.appendDeflated(wrong)), recordSize: wrong.length, format: 'fossil-delta' as const, base: hashOf(0), private: false },
    ];
    await sink.finish();
    await repo.store.commit({ rows });
    repo.memo!.texts.set(hashOf(1), v1);
    expect((await deltify(repo, pairsOf(2))).deltified).toBe(1);
    const [r0] = await repo.store.rows([hashOf(0)]);
    const stored = repo.primitives.zlib.inflate(await repo.segments.readRange(r0!.segment, r0!.offset, r0!.length), r0!.recordSize);
    expect(stored).toEqual(createFossilDelta(v1, v0));
    expect(applyFossilDelta(v1, stored)).toEqual(v0);
  });

  it('keeps chains within MAX_CHAIN_DEPTH, in one call or spread over many, with one full text (the newest): chains restart as deltas', async () => {
    const n = MAX_CHAIN_DEPTH * 2 + 15;
    // 23 pairs a call: about the versions of a manifest in the repack's step of 100 artifacts (the small bench
    // corpus), where each step's newest version came with 35-49 dependents and so restarted 1-3 deep.
    for (const step of [n, 7, 23]) {
      const { repo, texts } = await pushedHistory(n);
      const pairs = pairsOf(n);
      for (let i = 0; i < pairs.length; i += step) await deltify(repo, pairs.slice(i, i + step));
      const rows = await repo.store.rows(texts.map((_, i) => hashOf(i)));
      expect(Math.max(...rows.map((r) => r!.depth))).toBeLessThanOrEqual(MAX_CHAIN_DEPTH);
      expect(rows.filter((r) => r!.format === 'full').map((r) => r!.hash)).toEqual([hashOf(n - 1)]);
      // Most versions are deltas of the next, a few of a version further on (where a chain restarted).
      const far = rows.filter((r, i) => i < n - 1 && r!.base !== hashOf(i + 1)).length;
      expect(far).toBeGreaterThan(0);
      expect(far).toBeLessThanOrEqual(n / 10);
      // A restart hangs at least 8 deltas below the full text (a cloning client caches every 8th text of a chain walk).
      const shallow = rows.filter((r, i) => i < n - 1 && r!.base !== hashOf(i + 1) && r!.depth < 8).map((r) => r!.depth);
      expect(shallow).toEqual([]);
      await expectTexts(repo, texts);
    }
  });

  it('re-hangs each as deep branch below a version whose dependents fill the bound, so it too becomes a delta', async () => {
    // Version 0 (full) with two branches of MAX_CHAIN_DEPTH reverse deltas each below it (1.., 1001..), and a newer version 999.
    const repo: FossilRepo = { store: new MemoryFossilStore(), segments: new MemorySegmentStore(), primitives: purePrimitives };
    const sink = new RecordSink(repo);
    const ids = [0, 999, ...Array.from({ length: MAX_CHAIN_DEPTH }, (_, i) => [i + 1, 1001 + i]).flat()];
    const texts = new Map(ids.map((i) => [i, version(i)]));
    const rows = [];
    for (const i of ids) {
      const text = texts.get(i)!;
      const base = i === 0 || i === 999 ? null : i === 1 || i === 1001 ? 0 : i - 1;
      const record = base === null ? text : createFossilDelta(texts.get(base)!, text);
      rows.push({ hash: hashOf(i), size: text.length, ...(await sink.appendDeflated(record)), recordSize: record.length, format: base === null ? ('full' as const) : ('fossil-delta' as const), base: base === null ? null : hashOf(base), private: false });
    }
    await sink.finish();
    await repo.store.commit({ rows });
    expect(await repo.store.heights([hashOf(0)])).toEqual([MAX_CHAIN_DEPTH]);
    expect(await deltify(repo, [{ target: hashOf(0), source: hashOf(999) }])).toMatchObject({ deltified: 3 });
    const after = await repo.store.rows(ids.map(hashOf));
    expect(after[0]).toMatchObject({ base: hashOf(999), depth: 1 });
    expect(after.filter((r) => r!.format === 'full').map((r) => r!.hash)).toEqual([hashOf(999)]);
    // One row of each branch, about halfway down, now hangs on version 0 itself.
    const rehung = after.filter((r) => r!.base === hashOf(0)).map((r) => parseInt(r!.hash, 16));
    expect(rehung.filter((i) => i > 1 && i < 1000)).toHaveLength(1);
    expect(rehung.filter((i) => i > 1001)).toHaveLength(1);
    expect(Math.max(...after.map((r) => r!.depth))).toBeLessThanOrEqual(MAX_CHAIN_DEPTH / 2 + 2);
    const reader = new ArtifactReader(repo, 1 << 20);
    for (const i of ids) expect(await reader.read(hashOf(i))).toEqual(texts.get(i));
  });

  it('leaves a pushed reverse delta alone: its base, the source, was stored after it', async () => {
    const repo: FossilRepo = { store: new MemoryFossilStore(), segments: new MemorySegmentStore(), primitives: purePrimitives };
    const sink = new RecordSink(repo);
    const [v0, v1] = [version(0), version(1)];
    const d = createFossilDelta(v1, v0);
    // As a resolved pending delta lands: the newer base's row first (lower seq), then the older delta of it.
    const full = { hash: hashOf(1), size: v1.length, ...(await sink.appendDeflated(v1)), recordSize: v1.length, format: 'full' as const, base: null, private: false };
    const delta = { hash: hashOf(0), size: v0.length, ...(await sink.appendDeflated(d)), recordSize: d.length, format: 'fossil-delta' as const, base: hashOf(1), private: false };
    await sink.finish();
    await repo.store.commit({ rows: [full] });
    await repo.store.commit({ rows: [delta] });
    const before = await repo.store.rows([hashOf(0), hashOf(1)]);
    // Reading the segments would fail: nothing is read, nothing written.
    const untouched: FossilRepo = { ...repo, segments: Object.assign(Object.create(repo.segments), { readRange: () => Promise.reject(new Error('read')), create: () => Promise.reject(new Error('write')) }) };
    expect(await deltify(untouched, pairsOf(2))).toEqual({ deltified: 0, expanded: 0, handled: 1 });
    expect(await repo.store.rows([hashOf(0), hashOf(1)])).toEqual(before);
  });

  it('never makes a public artifact a delta of a private one, and skips what is not stored', async () => {
    const { repo, texts } = await pushedHistory(6, { privateFrom: 3 });
    await deltify(repo, [...pairsOf(6), { target: hashOf(5), source: hashOf(99) }]);
    const rows = await repo.store.rows(texts.map((_, i) => hashOf(i)));
    expect(rows[2]!.base).not.toBe(hashOf(3));
    expect(rows[3]).toMatchObject({ base: hashOf(4) });
    await expectTexts(repo, texts);
  });

  it('makes no delta of large versions that share almost nothing (sampled first), and still of edited ones', async () => {
    // Incompressible, deterministic bytes (xorshift).
    const noise = (n: number, seed: number) => {
      const out = new Uint8Array(n);
      let x = seed;
      for (let i = 0; i < n; i++) (x ^= x << 13), (x ^= x >>> 17), (x ^= x << 5), (out[i] = x & 0xff);
      return out;
    };
    const [a, b] = [noise(80_000, 1), noise(80_000, 2)];
    const edited = a.slice();
    for (let i = 0; i < 80_000; i += 2_000) edited[i] ^= 0xff;
    // A quarter of `a`, at an offset no block boundary of `a` falls on.
    const quarter = noise(80_000, 3);
    quarter.set(a.subarray(7, 20_007), 50_000);
    expect(sharesEnough(a, b)).toBe(false);
    expect(sharesEnough(a, edited)).toBe(true);
    expect(sharesEnough(a, quarter)).toBe(true);
    // Small texts are not sampled: making their delta costs little.
    expect(sharesEnough(noise(1000, 1), noise(1000, 2))).toBe(true);

    // Pushed full both (a replaced file), or full then edited: only the edited pair becomes a delta.
    const repo: FossilRepo = { store: new MemoryFossilStore(), segments: new MemorySegmentStore(), primitives: purePrimitives };
    const sink = new RecordSink(repo);
    const full = async (i: number, t: Uint8Array) => ({ hash: hashOf(i), size: t.length, ...(await sink.appendDeflated(t)), recordSize: t.length, format: 'full' as const, base: null, private: false });
    const rows = [await full(0, a), await full(1, b), await full(2, a), await full(3, edited)];
    await sink.finish();
    await repo.store.commit({ rows });
    const r = await deltify(repo, [
      { target: hashOf(0), source: hashOf(1) },
      { target: hashOf(2), source: hashOf(3) },
    ]);
    expect(r.deltified).toBe(1);
    const after = await repo.store.rows([hashOf(0), hashOf(2)]);
    expect(after[0]).toMatchObject({ format: 'full', base: null });
    expect(after[1]).toMatchObject({ format: 'fossil-delta', base: hashOf(3) });
    await expectTexts(repo, [a, b, a, edited]);
  });

  it('keeps a pair\'s texts whole while reading them evicts one from its 8 MiB cache (texts dropped are freed only between pairs)', async () => {
    // 10 versions of ~2 MB, each pushed as a delta of the previous one: the cache holds 4. Going newest first, a
    // pair whose target is not cached reads its chain from v0 and evicts its source meanwhile: freed then, that
    // source reads as empty (in workerd, where buffers can be freed), the pair makes no delta and a text written
    // full may be written empty.
    const n = 10;
    const texts = Array.from({ length: n }, (_, v) =>
      new TextEncoder().encode(Array.from({ length: 60_000 }, (_, i) => `line ${i} of a file in version ${i % 1000 === v * 7 ? v : 0}\n`).join('')),
    );
    const repo: FossilRepo = { store: new MemoryFossilStore(), segments: new MemorySegmentStore(), primitives: purePrimitives };
    const sink = new RecordSink(repo);
    const rows = [];
    for (let i = 0; i < n; i++) {
      const body = i === 0 ? texts[0] : createFossilDelta(texts[i - 1], texts[i]);
      const format = i === 0 ? ('full' as const) : ('fossil-delta' as const);
      rows.push({ hash: hashOf(i), size: texts[i].length, ...(await sink.appendDeflated(body)), recordSize: body.length, format, base: i === 0 ? null : hashOf(i - 1), private: false });
    }
    await sink.finish();
    await repo.store.commit({ rows });
    expect(await deltify(repo, pairsOf(n))).toEqual({ deltified: n - 1, expanded: 1, handled: n - 1 });
    await expectTexts(repo, texts);
  });
});
