/**
 * Replay of the captured git 2.39 traffic (transcripts/raw/g-*): the store is
 * filled from the packs git http-backend sent in that capture, the refs from
 * its advertisement; every upload-pack POST is replayed through uploadPack and
 * must give the same lines (ACK/NAK, shallow-info, sections) byte for byte and
 * a pack of the same objects.
 */
import { describe, expect, it } from 'vitest';
import { fromBytes } from '../../../../shared/core/stream.js';
import { readPackObjects } from '../../../../shared/protocols/git/pack-reader.js';
import { uploadPack } from '../../../../shared/protocols/git/upload-pack.js';
import { readObject } from '../../../../shared/storage/object-store.js';
import { applyGitDelta } from '../../../../shared/delta/git.js';
import { nativePrimitives } from '../../../../worker/primitives.js';
import { exchanges, splitPkts } from './http-transcript.js';
import { collectBytes, loadPack, setRefs, type LoadedRepo } from './upload-pack-fixture.js';

/** Lines before the side-band data, and the pack carried on band 1. */
function splitResponse(body: Uint8Array): { lines: string[]; pack: Uint8Array } {
  const lines: string[] = [];
  const pack: Uint8Array[] = [];
  let inPack = false;
  for (const p of splitPkts(body).pkts) {
    if (p.kind !== 'data') {
      if (!inPack) lines.push(p.kind);
      continue;
    }
    if (!inPack && p.payload[0] >= 1 && p.payload[0] <= 3) inPack = true;
    if (inPack) {
      if (p.payload[0] === 1) pack.push(p.payload.subarray(1));
    } else lines.push(Buffer.from(p.payload).toString('latin1'));
  }
  return { lines, pack: new Uint8Array(Buffer.concat(pack)) };
}

async function packIds(pack: Uint8Array, loaded: LoadedRepo): Promise<string[]> {
  if (pack.length === 0) return [];
  const deps = { index: loaded.repo, segments: loaded.segments, primitives: nativePrimitives, appliers: { git: applyGitDelta, fossil: () => new Uint8Array() } };
  const objs = await readPackObjects(fromBytes(pack), {
    primitives: nativePrimitives,
    baseProvider: async (id) => {
      const o = await readObject(deps, id);
      return o && { type: o.kind as 'blob', data: o.data };
    },
  });
  return objs.map((o) => o.id).sort();
}

const CAPTURES = ['g-clone-v0', 'g-clone-v2', 'g-filter-v2', 'g-filter-v0', 'g-shallow-v0', 'g-shallow-v2'];

describe('upload-pack replays captured git traffic', () => {
  for (const capture of CAPTURES) {
    it(capture, async () => {
      const all = exchanges(capture).filter((e) => e.request.startLine.includes('upload-pack'));
      let loaded: LoadedRepo | undefined;
      const refs: Record<string, string> = {};
      let head = 'refs/heads/main';
      for (const e of all) {
        const isPost = e.request.startLine.startsWith('POST');
        const { lines, pack } = splitResponse(e.response.body);
        if (pack.length > 0) loaded = await loadPack(pack, loaded);
        for (const l of lines) {
          const m = /^([0-9a-f]{40}) ([^\s\0^]+)(?:\0| |\n|$)/.exec(l);
          if (m && m[2] !== 'HEAD' && !l.includes('^{}')) refs[m[2]] = m[1];
          const sym = /symref(?:=HEAD:|-target:)(\S+)/.exec(l);
          if (sym) head = sym[1];
          if (!isPost) break;
        }
        if (!isPost) {
          for (const l of lines.slice(1)) {
            const m = /^([0-9a-f]{40}) ([^\s^]+)\n$/.exec(l);
            if (m) refs[m[2]] = m[1];
          }
        }
      }
      expect(loaded).toBeDefined();
      await setRefs(loaded!.repo, refs, head);
      // A shallow or partial capture may lack a tag object: its ls-refs cannot be replayed.
      const complete = (await loaded!.repo.has(Object.values(refs))).every(Boolean);
      let replayed = 0;
      for (const e of all) {
        if (!e.request.startLine.startsWith('POST')) continue;
        if (!complete && new TextDecoder().decode(e.request.body).includes('command=ls-refs')) continue;
        const version = /version=2/.test(e.request.headers.get('git-protocol') ?? '') ? 2 : 0;
        const out = await collectBytes(uploadPack(loaded!.store, fromBytes(e.request.body), { protocol: version }));
        const ours = splitResponse(out);
        const theirs = splitResponse(e.response.body);
        expect(ours.lines).toEqual(theirs.lines);
        expect(await packIds(ours.pack, loaded!)).toEqual(await packIds(theirs.pack, loaded!));
        replayed++;
      }
      expect(replayed).toBeGreaterThan(0);
    });
  }
});
