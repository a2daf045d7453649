/** Packs written here, checked by the real git: index-pack --strict accepts them, verify-pack lists the ids we expect. */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { gitObjectId } from '../../../../shared/core/git/object-id.js';
import { fromBytes } from '../../../../shared/core/stream.js';
import { createGitDelta } from '../../../../shared/delta/git.js';
import { packBytesToEntries, type PackEntry } from '../../../../shared/protocols/git/pack-reader.js';
import { entriesToPackBytes, type PackWriteEntry } from '../../../../shared/protocols/git/pack-writer.js';
import { nativePrimitives } from '../../../../worker/primitives.js';
import { catFile, fillRepo, tempRepo, verifyPack, type TempRepo } from './git-repo.js';

const p = nativePrimitives;
let src: TempRepo;
let all: { id: string; path: string }[];
let contents: Map<string, { type: string; data: Buffer }>;

beforeAll(() => {
  src = tempRepo();
  fillRepo(src, { commits: 25, files: 8, seed: 11 });
  all = src
    .git(['rev-list', '--objects', '--all'])
    .toString()
    .trim()
    .split('\n')
    .map((l) => ({ id: l.slice(0, 40), path: l.slice(41) }));
  contents = catFile(src, all.map((o) => o.id));
}, 60_000);
afterAll(() => src?.remove());

async function bytesOf(s: AsyncIterable<Uint8Array>): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  for await (const c of s) parts.push(c.slice());
  return new Uint8Array(Buffer.concat(parts));
}

/** index-pack --strict the pack into a fresh repository; verify-pack's lines. */
function gitIndex(pack: Uint8Array) {
  const dst = tempRepo();
  try {
    dst.git(['index-pack', '--strict', '--stdin'], pack);
    const dir = join(dst.dir, 'objects', 'pack');
    const file = readdirSync(dir).find((f) => f.endsWith('.pack'))!;
    return verifyPack(dst, join(dir, file));
  } finally {
    dst.remove();
  }
}

describe('pack writer vs git index-pack', () => {
  it('whole objects deflated here', async () => {
    const entries: PackWriteEntry[] = all.map(({ id }) => {
      const c = contents.get(id)!;
      return { kind: 'object', type: c.type as 'blob', data: new Uint8Array(c.data) };
    });
    const lines = gitIndex(await bytesOf(entriesToPackBytes(entries, entries.length, { primitives: p })));
    expect(new Set(lines.map((l) => l.id))).toEqual(new Set(all.map((o) => o.id)));
  });

  it('our git deltas (createGitDelta) as OFS and REF deltas, some REF bases later in the pack', async () => {
    const lastByPath = new Map<string, { index: number; id: string; data: Uint8Array }>();
    const entries: PackWriteEntry[] = [];
    const deferred: PackWriteEntry[] = [];
    let deltas = 0;
    let newPaths = 0;
    for (const { id, path } of all) {
      const c = contents.get(id)!;
      const data = new Uint8Array(c.data);
      const prev = c.type === 'blob' ? lastByPath.get(path) : undefined;
      if (prev && prev.data.length > 0) {
        const delta = createGitDelta(prev.data, data);
        const useOfs = deltas % 2 === 0;
        entries.push({ kind: 'delta', base: useOfs ? { index: prev.index } : { id: prev.id }, delta });
        deltas++;
      } else if (c.type === 'blob' && !prev && newPaths++ % 3 === 1) {
        // Put this base at the very end; a REF delta to it comes first.
        deferred.push({ kind: 'object', type: 'blob', data });
        entries.push({ kind: 'delta', base: { id }, delta: createGitDelta(data, new Uint8Array([...data, 1, 2, 3])) });
        deltas++;
        continue;
      } else {
        entries.push({ kind: 'object', type: c.type as 'blob', data });
      }
      if (c.type === 'blob') lastByPath.set(path, { index: entries.length - 1, id, data });
    }
    entries.push(...deferred);
    const lines = gitIndex(await bytesOf(entriesToPackBytes(entries, entries.length, { primitives: p })));
    for (const { id } of all) expect(lines.some((l) => l.id === id)).toBe(true);
    expect(lines.filter((l) => l.depth > 0).length).toBeGreaterThan(all.length / 4);
    expect(lines.length).toBe(entries.length);
    expect(deferred.length).toBeGreaterThan(0);
  });

  it('raw records copied from a git pack reproduce it byte for byte, and index identically', async () => {
    const pack = new Uint8Array(src.git(['pack-objects', '-q', '--stdout', '--all', '--delta-base-offset', '--depth=50'], ''));
    const raw: PackEntry[] = [];
    for await (const ev of packBytesToEntries(fromBytes(pack), { primitives: p })) if (ev.kind === 'entry') raw.push({ ...ev.entry, raw: ev.entry.raw.slice() }); // raw is valid until the next event
    const index = new Map(raw.map((e, i) => [e.offset, i]));
    const copy = raw.map(
      (e): PackWriteEntry => ({
        kind: 'raw',
        type: e.type === 'ofs-delta' || e.type === 'ref-delta' ? 'delta' : e.type,
        size: e.size,
        compressed: e.raw.subarray(e.headerLength),
        ...(e.baseOffset !== undefined ? { base: { index: index.get(e.baseOffset)! } } : e.baseId ? { base: { id: e.baseId } } : {}),
      }),
    );
    const out = await bytesOf(entriesToPackBytes(copy, copy.length, { primitives: p }));
    expect(Buffer.compare(Buffer.from(out), Buffer.from(pack))).toBe(0);
    // Re-ordered: OFS bases turned into REF bases still index.
    const ids: string[] = [];
    for await (const ev of packBytesToEntries(fromBytes(pack), { primitives: p })) if (ev.kind === 'object') ids[index.get(ev.object.offset)!] = ev.object.id;
    const asRef = copy.map((e) => (e.kind === 'raw' && e.base && 'index' in e.base ? { ...e, base: { id: ids[e.base.index] } } : e)).reverse();
    const lines = gitIndex(await bytesOf(entriesToPackBytes(asRef, asRef.length, { primitives: p })));
    expect(new Set(lines.map((l) => l.id))).toEqual(new Set(ids));
    expect(gitObjectId(p, 'blob', new Uint8Array(0))).toBe('e69de29bb2d1d6434b8b29ae775ad8c2e48c5391');
  });
});
