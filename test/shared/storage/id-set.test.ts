import { describe, expect, it } from 'vitest';
import { IdSet, PackedIds } from '../../../shared/storage/id-set.js';
import { markIdsSlice } from '../../../shared/storage/reach.js';
import { scanTree } from '../../../shared/protocols/git/object-walk.js';
import { fromHex } from '../../../shared/core/bytes.js';

// Ids that collide in their first four bytes (the hash) and differ later, plus spread ones.
const oid = (n: number, prefix = '') => (prefix + n.toString(16)).padStart(40, '0');

describe('IdSet', () => {
  it('adds, finds and grows past many rehashes, including ids sharing a hash prefix', () => {
    const s = new IdSet();
    const ids: string[] = [];
    for (let i = 0; i < 5000; i++) ids.push(oid(i * 7919 + 1));
    for (let i = 0; i < 50; i++) ids.push(`abcdef01${i.toString(16).padStart(32, '0')}`);
    for (const id of ids) expect(s.add(id)).toBe(true);
    for (const id of ids) expect(s.add(id)).toBe(false);
    expect(s.size).toBe(ids.length);
    for (const id of ids) expect(s.has(id)).toBe(true);
    expect(s.has(oid(2))).toBe(false);
    expect(s.has(`abcdef01${'f'.repeat(32)}`)).toBe(false);
    expect([...s]).toEqual(ids);
    const raw = new Uint8Array(25);
    raw.set(fromHex(ids[3]), 5);
    expect(s.hasAt(raw, 5)).toBe(true);
  });

  it('indexOrAddAt gives a held id its index and adds a new one at the end, across growth', () => {
    const s = new IdSet();
    const ids = Array.from({ length: 3000 }, (_, i) => oid(i * 104729 + 3));
    ids.forEach((id, i) => expect(s.indexOrAddAt(fromHex(id), 0)).toBe(i));
    ids.forEach((id, i) => expect(s.indexOrAddAt(fromHex(id), 0)).toBe(i));
    expect(s.size).toBe(ids.length);
    expect(s.indexOfAt(fromHex(ids[2999]), 0)).toBe(2999);
    expect(s.at(1234)).toBe(ids[1234]);
  });
});

describe('IdSet slots', () => {
  it('holds more ids than it was told to expect, through the table sized for them and past it, and ids sharing the tag byte', () => {
    const s = new IdSet();
    s.expect(1000);
    const ids: string[] = [];
    // Random-looking first four bytes (the home slot), the fifth (the slot's tag) the same for half of them.
    for (let i = 0; i < 2500; i++) ids.push(`${((i * 2654435761) >>> 0).toString(16).padStart(8, '0')}${i % 2 ? '5a' : (i & 0xff).toString(16).padStart(2, '0')}${i.toString(16).padStart(30, '0')}`);
    ids.forEach((id, i) => expect(s.indexOrAddAt(fromHex(id), 0)).toBe(i));
    ids.forEach((id, i) => expect(s.indexOfAt(fromHex(id), 0)).toBe(i));
    expect(s.size).toBe(ids.length);
    expect(s.has(`${ids[1].slice(0, 39)}f`)).toBe(false);
    expect(s.has(`${ids[1].slice(0, 8)}5b${ids[1].slice(10)}`)).toBe(false);
    expect([...s]).toEqual(ids);
  });

  it('tells apart ids sharing their first bytes, with high first bytes, and keeps insertion indexes over growth', () => {
    const s = new IdSet();
    const ids: string[] = [];
    // First byte 0xff for all, differing in bytes 1-3 or only in the last byte.
    for (let i = 0; i < 3000; i++) ids.push(`ff${(i * 2654435761 >>> 8).toString(16).padStart(6, '0')}${'0'.repeat(32)}`);
    for (let i = 0; i < 300; i++) ids.push(`ff123456${i.toString(16).padStart(32, '0')}`);
    for (let i = 0; i < 3000; i++) ids.push(`${(i & 0xff).toString(16).padStart(2, '0')}${((i * 40503) & 0xffffff).toString(16).padStart(6, '0')}${'1'.repeat(32)}`);
    const fresh = [...new Set(ids)];
    for (const id of fresh) expect(s.add(id)).toBe(true);
    expect(s.size).toBe(fresh.length);
    for (let i = 0; i < fresh.length; i++) expect(s.indexOfAt(fromHex(fresh[i]), 0)).toBe(i);
    expect(s.has(`ff123456${'f'.repeat(32)}`)).toBe(false);
    expect(s.has(`fe${fresh[0].slice(2)}`)).toBe(false);
    expect(s.indexOfAt(fromHex(`00${fresh[0].slice(2)}`), 0)).toBe(-1);
    expect(s.at(fresh.length - 1)).toBe(fresh[fresh.length - 1]);
  });
});

describe('PackedIds', () => {
  it('pushes, pops in LIFO order and slices as hex', () => {
    const p = new PackedIds(1);
    for (let i = 0; i < 100; i++) p.push(oid(i));
    expect(p.length).toBe(100);
    expect(p.at(42)).toBe(oid(42));
    expect(markIdsSlice(p, 98, 200)).toEqual([oid(98), oid(99)]);
    expect(markIdsSlice([oid(1), oid(2)], 1, 5)).toEqual([oid(2)]);
    const out = new Uint8Array(20);
    expect(p.popInto(out, 0)).toBe(true);
    expect(out).toEqual(fromHex(oid(99)));
    expect(p.length).toBe(99);
    expect(() => p.at(99)).toThrow(RangeError);
  });
});

describe('scanTree', () => {
  const enc = new TextEncoder();
  const entry = (mode: string, name: string, id: string) => [...enc.encode(`${mode} ${name}\0`), ...fromHex(id)];
  it('reports each entry type and id offset without parsing names', () => {
    const data = Uint8Array.from([...entry('100644', 'a', oid(1)), ...entry('40000', 'd', oid(2)), ...entry('160000', 'm', oid(3)), ...entry('120000', 'l', oid(4))]);
    const seen: [number, string][] = [];
    scanTree(data, oid(9), (t, d, off) => seen.push([t, Buffer.from(d.subarray(off, off + 20)).toString('hex')]));
    // 3 = blob, 2 = tree, 1 = gitlink commit
    expect(seen).toEqual([
      [3, oid(1)],
      [2, oid(2)],
      [1, oid(3)],
      [3, oid(4)],
    ]);
  });
  it('throws on a truncated entry or a bad mode', () => {
    const good = Uint8Array.from(entry('100644', 'a', oid(1)));
    expect(() => scanTree(good.subarray(0, good.length - 1), oid(9), () => undefined)).toThrow(/truncated/);
    expect(() => scanTree(Uint8Array.from(entry('10x644', 'a', oid(1))), oid(9), () => undefined)).toThrow(/bad mode/);
  });
});
