// checkTree must accept and refuse exactly what parseTree does (same codes), and report the same entries.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { toHexAt } from '../../../../shared/core/bytes.js';
import { modeObjectType, parseTree, type TreeOptions } from '../../../../shared/core/git/tree.js';
import { checkTree, ENTRY_BLOB, ENTRY_GITLINK, ENTRY_TREE } from '../../../../shared/protocols/git/tree-check.js';

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
