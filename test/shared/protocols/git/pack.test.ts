import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { gitObjectId } from '../../../../shared/core/git/object-id.js';
import { purePrimitives } from '../../../../shared/core/primitives.js';
import { fromBytes } from '../../../../shared/core/stream.js';
import { createGitDelta } from '../../../../shared/delta/git.js';
import { PackError, decodeEntryHeader, encodeEntryHeader, encodePackHeader, decodePackHeader } from '../../../../shared/protocols/git/pack.js';
import { packBytesToEntries, readPackObjects, type PackEntry } from '../../../../shared/protocols/git/pack-reader.js';
import { entriesToPackBytes, type PackWriteEntry } from '../../../../shared/protocols/git/pack-writer.js';

const p = purePrimitives;
const enc = (s: string) => new TextEncoder().encode(s);
async function bytesOf(s: AsyncIterable<Uint8Array>): Promise<Uint8Array> {
  const parts: number[] = [];
  for await (const c of s) parts.push(...c);
  return Uint8Array.from(parts);
}
const codeOf = async (f: () => Promise<unknown>) => {
  try {
    await f();
  } catch (e) {
    expect(e).toBeInstanceOf(PackError);
    return (e as PackError).code;
  }
  return 'no-error';
};

describe('pack entry headers', () => {
  it('encode the spec bytes', () => {
    expect([...encodeEntryHeader('blob', 10)]).toEqual([0x3a]);
    expect([...encodeEntryHeader('commit', 100)]).toEqual([0x94, 0x06]);
    expect([...encodeEntryHeader('ofs-delta', 5, { rel: 128 })]).toEqual([0x65, 0x80, 0x00]);
    expect([...encodeEntryHeader('ofs-delta', 5, { rel: 127 })]).toEqual([0x65, 0x7f]);
    expect([...encodePackHeader(3)]).toEqual([0x50, 0x41, 0x43, 0x4b, 0, 0, 0, 2, 0, 0, 0, 3]);
    expect(decodePackHeader(encodePackHeader(70000))).toEqual({ version: 2, count: 70000 });
  });

  it('round-trip sizes up to 2^53 and any OFS distance', () => {
    fc.assert(
      fc.property(fc.maxSafeNat(), fc.integer({ min: 1, max: 2 ** 40 }), fc.constantFrom('blob', 'tree', 'ofs-delta', 'ref-delta'), (size, rel, type) => {
        const id = new Uint8Array(20).fill(0xab);
        const b = encodeEntryHeader(type, size, { rel, id });
        const offset = rel + 12;
        const h = decodeEntryHeader(b, 0, offset);
        expect(h).toMatchObject({ kind: 'header', type, size, length: b.length });
        if (type === 'ofs-delta') expect(h).toMatchObject({ baseOffset: 12 });
        if (type === 'ref-delta') expect(h).toMatchObject({ baseId: 'ab'.repeat(20) });
        for (let n = 0; n < b.length; n++) expect(decodeEntryHeader(b.subarray(0, n), 0, offset).kind).toBe('need');
      }),
      { numRuns: 300 },
    );
  });

  it('reject bad types and OFS bases outside the pack', async () => {
    expect(await codeOf(async () => decodeEntryHeader(Uint8Array.of(0x05), 0, 12))).toBe('pack-bad-type');
    expect(await codeOf(async () => decodeEntryHeader(Uint8Array.of(0x55), 0, 12))).toBe('pack-bad-type');
    expect(await codeOf(async () => decodeEntryHeader(Uint8Array.of(0x65, 0x10), 0, 20))).toBe('pack-bad-ofs-delta');
    expect(await codeOf(async () => decodeEntryHeader(Uint8Array.of(0xb5, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01), 0, 12))).toBe('pack-bad-header');
  });
});

describe('pack writer → pack reader', () => {
  const v1 = enc('hello world\n'.repeat(50));
  const v2 = enc('hello world\n'.repeat(25) + 'changed\n' + 'hello world\n'.repeat(25));
  const v3 = enc('hello world\n'.repeat(25) + 'changed again\n' + 'hello world\n'.repeat(24));
  const id1 = gitObjectId(p, 'blob', v1);
  const id2 = gitObjectId(p, 'blob', v2);

  it('round-trips whole objects, OFS and REF deltas (REF to a later base), and raw records', async () => {
    const entries: PackWriteEntry[] = [
      { kind: 'delta', base: { id: id1 }, delta: createGitDelta(v1, v2) }, // base comes later
      { kind: 'object', type: 'blob', data: v1 },
      { kind: 'raw', type: 'delta', size: createGitDelta(v2, v3).length, compressed: p.zlib.deflate(createGitDelta(v2, v3)), base: { id: id2 } },
      { kind: 'raw', type: 'commit', size: 4, compressed: [p.zlib.deflate(enc('abcd')).subarray(0, 3), p.zlib.deflate(enc('abcd')).subarray(3)] },
      { kind: 'delta', base: { index: 1 }, delta: createGitDelta(v1, enc('tiny')) },
    ];
    const pack = await bytesOf(entriesToPackBytes(entries, entries.length, { primitives: p }));
    const objs = await readPackObjects(fromBytes(pack, 100), { primitives: p });
    const byId = new Map(objs.map((o) => [o.id, o]));
    expect(byId.get(id2)?.depth).toBe(1);
    expect(byId.get(gitObjectId(p, 'blob', v3))?.depth).toBe(2);
    expect(byId.get(gitObjectId(p, 'commit', enc('abcd')))?.type).toBe('commit');
    expect(byId.get(gitObjectId(p, 'blob', enc('tiny')))?.depth).toBe(1);
    expect(objs.length).toBe(5);
    // Reading the pack and re-writing its raw entries reproduces it byte for byte.
    const raw: PackEntry[] = [];
    for await (const ev of packBytesToEntries(fromBytes(pack), { primitives: p })) if (ev.kind === 'entry') raw.push({ ...ev.entry, raw: ev.entry.raw.slice() }); // raw is valid until the next event
    const index = new Map(raw.map((e, i) => [e.offset, i]));
    const copy = raw.map((e): PackWriteEntry => ({
      kind: 'raw',
      type: e.type === 'ofs-delta' || e.type === 'ref-delta' ? 'delta' : e.type,
      size: e.size,
      compressed: e.raw.subarray(e.headerLength),
      ...(e.baseOffset !== undefined ? { base: { index: index.get(e.baseOffset)! } } : e.baseId ? { base: { id: e.baseId } } : {}),
    }));
    expect(await bytesOf(entriesToPackBytes(copy, copy.length, { primitives: p }))).toEqual(pack);
  });

  it('a delta base hit after most of the base cache was reused is read intact', async () => {
    // A 40 kB cache keeps contents in a 40 kB ring: A, then three more blobs fill it, and the
    // delta on A allocates its result where A sits unless A was moved to the ring's front first.
    const blob = (seed: number) => Uint8Array.from({ length: 9000 }, (_, i) => (i * seed + (i >> 7)) & 0xff);
    const a = blob(7);
    const onA = new Uint8Array([...enc('ten bytes!'), ...a.subarray(0, 8990)]);
    const entries: PackWriteEntry[] = [
      { kind: 'object', type: 'blob', data: a },
      ...[11, 13, 17].map((seed): PackWriteEntry => ({ kind: 'object', type: 'blob', data: blob(seed) })),
      { kind: 'delta', base: { index: 0 }, delta: createGitDelta(a, onA) },
      { kind: 'delta', base: { index: 4 }, delta: createGitDelta(onA, a) },
    ];
    const pack = await bytesOf(entriesToPackBytes(entries, entries.length, { primitives: p }));
    const objs = await readPackObjects(fromBytes(pack), { primitives: p, maxDeltaBaseCache: 40_000 });
    expect(objs.map((o) => o.id)).toEqual([a, blob(11), blob(13), blob(17), onA, a].map((d) => gitObjectId(p, 'blob', d)));
  });

  it('refuses a count mismatch, a forward OFS base and a REF cycle', async () => {
    const one: PackWriteEntry[] = [{ kind: 'object', type: 'blob', data: v1 }];
    expect(await codeOf(() => bytesOf(entriesToPackBytes(one, 2, { primitives: p })))).toBe('pack-count-mismatch');
    expect(await codeOf(() => bytesOf(entriesToPackBytes([...one, ...one], 1, { primitives: p })))).toBe('pack-count-mismatch');
    expect(await codeOf(() => bytesOf(entriesToPackBytes([{ kind: 'delta', base: { index: 0 }, delta: v1 }], 1, { primitives: p })))).toBe('pack-bad-ofs-delta');
    // Two REF deltas naming each other's ids: never resolvable.
    const cyc: PackWriteEntry[] = [
      { kind: 'delta', base: { id: id2 }, delta: createGitDelta(v2, v1) },
      { kind: 'delta', base: { id: id1 }, delta: createGitDelta(v1, v2) },
    ];
    const pack = await bytesOf(entriesToPackBytes(cyc, 2, { primitives: p }));
    expect(await codeOf(() => readPackObjects(fromBytes(pack), { primitives: p }))).toBe('pack-unknown-base');
  });

  it('a delta whose result disagrees with its base is a PackError, as is a declared size lie', async () => {
    const bad: PackWriteEntry[] = [
      { kind: 'object', type: 'blob', data: v1 },
      { kind: 'delta', base: { index: 0 }, delta: createGitDelta(v2, v3) }, // wrong base size
    ];
    const pack = await bytesOf(entriesToPackBytes(bad, 2, { primitives: p }));
    expect(await codeOf(() => readPackObjects(fromBytes(pack), { primitives: p }))).toBe('pack-bad-delta');
    const lie: PackWriteEntry[] = [{ kind: 'raw', type: 'blob', size: 5, compressed: p.zlib.deflate(enc('four')) }];
    const pack2 = await bytesOf(entriesToPackBytes(lie, 1, { primitives: p }));
    expect(await codeOf(() => readPackObjects(fromBytes(pack2), { primitives: p }))).toBe('pack-size-mismatch');
    const lie2: PackWriteEntry[] = [{ kind: 'raw', type: 'blob', size: 3, compressed: p.zlib.deflate(enc('four')) }];
    const pack3 = await bytesOf(entriesToPackBytes(lie2, 1, { primitives: p }));
    expect(await codeOf(() => readPackObjects(fromBytes(pack3), { primitives: p }))).toBe('pack-size-mismatch');
  });

  it('any flipped or cut byte of a pack gives a PackError, never another exception', async () => {
    const entries: PackWriteEntry[] = [
      { kind: 'object', type: 'blob', data: v1 },
      { kind: 'delta', base: { index: 0 }, delta: createGitDelta(v1, v2) },
      { kind: 'delta', base: { id: id2 }, delta: createGitDelta(v2, v3) },
      { kind: 'object', type: 'commit', data: enc('tree 0000\n') },
    ];
    const pack = await bytesOf(entriesToPackBytes(entries, entries.length, { primitives: p }));
    await fc.assert(
      fc.asyncProperty(fc.nat(pack.length - 1), fc.integer({ min: 1, max: 255 }), fc.boolean(), async (at, x, cut) => {
        const bad = cut ? pack.subarray(0, at) : pack.slice();
        if (!cut) bad[at] ^= x;
        try {
          await readPackObjects(fromBytes(bad, 1 + (at % 50)), { primitives: p });
          throw new Error('damaged pack accepted');
        } catch (e) {
          expect(e).toBeInstanceOf(PackError);
        }
      }),
      { numRuns: 500 },
    );
  });
});
