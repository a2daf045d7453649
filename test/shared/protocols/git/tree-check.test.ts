// checkTree must accept and refuse exactly what parseTree does (same codes), and report the same entries.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { toHexAt } from '../../../../shared/core/bytes.js';
import { modeObjectType, parseTree, type TreeOptions } from '../../../../shared/core/git/tree.js';
import { applyGitDelta } from '../../../../shared/delta/index.js';
import { checkTree, CopiedEntries, ENTRY_BLOB, ENTRY_GITLINK, ENTRY_TREE } from '../../../../shared/protocols/git/tree-check.js';

const KIND = { tree: ENTRY_TREE, blob: ENTRY_BLOB, commit: ENTRY_GITLINK, tag: -1 };

function outcome(fn: () => unknown): unknown {
  try {
    return { ok: fn() };
  } catch (e) {
    return { code: (e as { code?: string }).code, message: (e as Error).message };
  }
}

function compare(bytes: Uint8Array, opts: TreeOptions): void {
  const viaParse = outcome(() => parseTree(bytes, opts).entries.map((e) => [KIND[modeObjectType(e.mode)], e.id]));
  const viaCheck = outcome(() => {
    const out: [number, string][] = [];
    checkTree(bytes, opts, (kind, b, off) => out.push([kind, toHexAt(b, off, 20)]));
    return out;
  });
  expect(viaCheck).toEqual(viaParse);
}

const enc = new TextEncoder();
const entry = (mode: string, name: string, idByte: number) => {
  const head = enc.encode(`${mode} ${name}\0`);
  const out = new Uint8Array(head.length + 20).fill(idByte);
  out.set(head);
  return out;
};
const join = (parts: Uint8Array[]) => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) out.set(p, at), (at += p.length);
  return out;
};

describe('checkTree', () => {
  const modes = fc.constantFrom('100644', '100755', '120000', '40000', '160000', '040000', '100664', '644', '1234567', '12345678', '10064x', '', '9');
  const names = fc.constantFrom('a', 'b', 'a.c', 'a-b', 'a0', 'ab', 'a/b', '', 'z', 'é', 'a\u0001');
  const trees = fc.array(fc.tuple(modes, names, fc.integer({ min: 0, max: 255 })), { maxLength: 6 });
  const variants: TreeOptions[] = [{}, { legacyModes: true }, { anyOrder: true }, { legacyModes: true, anyOrder: true }];

  it('agrees with parseTree on generated trees (sorted or not, good and bad modes and names)', () => {
    fc.assert(
      fc.property(trees, fc.boolean(), fc.nat(), (list, sort, cut) => {
        const ordered = sort ? [...list].sort((x, y) => (x[1] < y[1] ? -1 : x[1] > y[1] ? 1 : 0)) : list;
        const bytes = join(ordered.map(([m, n, b]) => entry(m, n, b)));
        for (const opts of variants) {
          compare(bytes, opts);
          compare(bytes.subarray(0, cut % (bytes.length + 1)), opts);
        }
      }),
      { numRuns: 400 },
    );
  });

  it('agrees on the file/directory duplicate that sorts apart ("a", "a-b", "a/")', () => {
    const bytes = join([entry('100644', 'a', 1), entry('100644', 'a-b', 2), entry('40000', 'a', 3)]);
    compare(bytes, {});
    expect(() => checkTree(bytes, {}, () => undefined)).toThrow(expect.objectContaining({ code: 'duplicate-tree-entry' }));
  });
});

describe('CopiedEntries', () => {
  const entry = (mode: string, name: string, fill: number) => [...new TextEncoder().encode(`${mode} ${name}\0`), ...new Array<number>(20).fill(fill)];
  // Three entries of 30, 33 and 32 bytes: starts 0, 30, 63; 95 bytes.
  const base = Uint8Array.from([...entry('40000', 'dir', 1), ...entry('100644', 'a.txt', 2), ...entry('100644', 'b.tx', 3)]);
  const varint = (n: number) => (n < 0x80 ? [n] : [(n & 0x7f) | 0x80, n >> 7]);
  const copy = (off: number, size: number) => [0x80 | 0x01 | 0x10, off, size];
  const insert = (bytes: number[]) => [bytes.length, ...bytes];
  const delta = (size: number, ...ops: number[][]) => Uint8Array.from([...varint(base.length), ...varint(size), ...ops.flat()]);
  /** Each target entry's [start, end) and whether it is copied, the delta checked to apply. */
  const ask = (d: Uint8Array, entries: [number, number][]) => {
    expect(applyGitDelta(base, d).length).toBe(d[1] < 0x80 ? d[1] : (d[1] & 0x7f) + (d[2] << 7));
    const c = new CopiedEntries(base, d);
    return entries.map(([s, e]) => c.copied(s, e));
  };

  it('finds whole entries copied from entry starts of the base', () => {
    expect(ask(delta(95, copy(0, 95)), [[0, 30], [30, 63], [63, 95]])).toEqual([true, true, true]);
    // The middle entry rewritten (new id): inserted, not copied; the last copied from its start.
    const changed = entry('100644', 'a.txt', 9);
    expect(ask(delta(95, copy(0, 30), insert(changed), copy(63, 32)), [[0, 30], [30, 63], [63, 95]])).toEqual([true, false, true]);
    // The first entry dropped: the others now at 0 and 33, copied from 30.
    expect(ask(delta(65, copy(30, 65)), [[0, 33], [33, 65]])).toEqual([true, true]);
  });

  it('refuses bytes copied from inside an entry, or an entry split over two copies', () => {
    // The same bytes as entry 1 but copied from 31 (one byte of it inserted first): not an entry start there.
    expect(ask(delta(33, insert([base[30]]), copy(31, 32)), [[0, 33]])).toEqual([false]);
    // Entry 1 as two copies of its halves.
    expect(ask(delta(33, copy(30, 10), copy(40, 23)), [[0, 33]])).toEqual([false]);
    // Past the last instruction.
    expect(ask(delta(30, copy(0, 30)), [[30, 63]])).toEqual([false]);
  });
});
