// A push's delta cards whose bases were stored by an earlier request are applied
// to bases read back through their stored chains; the records read and the texts
// the read's cache drops on the way are freed once applied (receive.ts BaseReader;
// in workerd: ArrayBuffer.transfer, a no-op on Node 20). Chains longer than the
// cache, read again and again in one request, must still give every artifact
// intact: a text freed while still cached or in use would apply as empty and fail
// its hash. Pure (memory store): runs in Node and in workerd.
import { describe, expect, it } from 'vitest';
import { BASE_READ_CACHE_BYTES } from '../../../../shared/protocols/fossil/receive.js';
import { ArtifactReader } from '../../../../shared/protocols/fossil/repo.js';
import { deltaCard, enc, fileCard, harness, msg } from './xfer-helpers.js';

const PRAGMA = 'pragma client-version 22100 20230226 192424\n';

/** Version `i` of a ~60 KB file: one line changed per version. */
const version = (i: number) => enc(Array.from({ length: 1500 }, (_, l) => (l === i ? `line ${l} edited in version ${i}\n` : `line ${l} of the file, as it was\n`)).join(''));

describe('delta cards on bases stored by earlier requests', () => {
  it('read back through chains longer than the read cache, every artifact arrives intact', async () => {
    const h = await harness();
    const push = `${PRAGMA}push ${h.serverCode} ${h.projectCode}\n`;
    const versions = Array.from({ length: 45 }, (_, i) => version(i));
    expect(versions.reduce((n, v) => n + v.length, 0)).toBeGreaterThan(2 * BASE_READ_CACHE_BYTES);
    // Request 1: a 44-link chain (each version a delta of the one before).
    const first = await h.send(msg(push, fileCard(versions[0]).card, ...versions.slice(1).map((v, i) => deltaCard(versions[i], v).card)), { user: 'alice' });
    expect(first.lines.filter((l) => l.startsWith('error'))).toEqual([]);
    // Request 2: edits on versions deep in the chain, the shallow end, then deep again and in between.
    const edits = [44, 43, 2, 44, 30, 1, 42].map((b, k) => ({ base: versions[b], text: enc(`${new TextDecoder().decode(versions[b])}edit ${k}\n`) }));
    const cards = edits.map((e) => deltaCard(e.base, e.text));
    const second = await h.send(msg(push, ...cards.map((c) => c.card)), { user: 'alice' });
    expect(second.lines.filter((l) => l.startsWith('error'))).toEqual([]);
    expect(await h.store.states(cards.map((c) => c.hash))).toEqual(cards.map(() => 'public'));
    const reader = new ArtifactReader(h.repo, 0);
    for (const [k, c] of cards.entries()) expect(await reader.read(c.hash)).toEqual(edits[k].text);
    for (const v of versions) expect(await reader.read(fileCard(v).hash)).toEqual(v);
  });
});
