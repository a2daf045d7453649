/** Git's own deltas (from a real pack) apply with applyGitDelta; ours re-encode git's targets and git accepts them (see pack-writer.node.test.ts). */
import { describe, expect, it } from 'vitest';
import { fromBytes } from '../../../shared/core/stream.js';
import { applyGitDelta, createGitDelta, gitDeltaHeader, gitDeltaOps } from '../../../shared/delta/git.js';
import { packBytesToEntries, type PackEntry } from '../../../shared/protocols/git/pack-reader.js';
import { nativePrimitives } from '../../../worker/primitives.js';
import { catFile, fillRepo, tempRepo, verifyPack } from '../protocols/git/git-repo.js';
import { join } from 'node:path';
import { readFileSync } from 'node:fs';

describe('git delta vs git', () => {
  it('applies every delta git wrote to the base git names, giving the object git has', async () => {
    const repo = tempRepo();
    try {
      fillRepo(repo, { commits: 30, files: 6, seed: 21 });
      const objects = repo.git(['rev-list', '--objects', '--all']);
      const prefix = join(repo.dir, 'p');
      const hash = repo.git(['pack-objects', '-q', '--depth=20', '--window=50', prefix], objects).toString().trim();
      const path = `${prefix}-${hash}.pack`;
      const verify = verifyPack(repo, path);
      const deltas = verify.filter((v) => v.baseId);
      expect(deltas.length).toBeGreaterThan(20);
      const cat = catFile(repo, verify.map((v) => v.id));
      const entries = new Map<number, PackEntry>();
      for await (const ev of packBytesToEntries(fromBytes(new Uint8Array(readFileSync(path))), { primitives: nativePrimitives })) {
        if (ev.kind === 'entry') entries.set(ev.entry.offset, { ...ev.entry, raw: ev.entry.raw.slice() }); // raw is valid until the next event
      }
      let checked = 0;
      for (const v of deltas) {
        const e = entries.get(v.offset)!;
        const delta = nativePrimitives.zlib.inflate(e.raw.subarray(e.headerLength));
        const base = new Uint8Array(cat.get(v.baseId!)!.data);
        const target = cat.get(v.id)!.data;
        expect(gitDeltaHeader(delta)).toMatchObject({ baseSize: base.length, resultSize: target.length });
        expect(Buffer.from(applyGitDelta(base, delta)).equals(target)).toBe(true);
        // Our encoder on the same pair: correct, and not much larger than git's.
        const ours = createGitDelta(base, new Uint8Array(target));
        expect(Buffer.from(applyGitDelta(base, ours)).equals(target)).toBe(true);
        expect(ours.length).toBeLessThanOrEqual(delta.length * 2 + 64);
        expect([...gitDeltaOps(delta)].length).toBeGreaterThan(0);
        checked++;
      }
      expect(checked).toBe(deltas.length);
    } finally {
      repo.remove();
    }
  });
});
