// Publishing: a public file card for an artifact the repository holds as
// private makes it public (fossil's xfer_accept_file, after `fossil publish`),
// once its content checks out, also when it comes as a delta whose base
// arrives later in the same message (clients send deltas before bases).
import { describe, expect, it } from 'vitest';
import { createFossilDelta } from '../../../../shared/delta/fossil.js';
import { RecordSink } from '../../../../shared/protocols/fossil/repo.js';
import { deltaCard, enc, fileCard, harness, msg, type Harness } from './xfer-helpers.js';

const PRAGMA = 'pragma client-version 22100 20230226 192424\n';
const old = enc('line\n'.repeat(200) + 'old ending\n');
const newer = enc('line\n'.repeat(200) + 'new ending\n');

/** Stores `text` as a private artifact, as an earlier `push --private` by an x user would have. */
async function storePrivate(h: Harness, text: Uint8Array): Promise<string> {
  const { hash } = fileCard(text);
  const sink = new RecordSink(h.repo);
  const rec = await sink.appendDeflated(text);
  await sink.finish();
  await h.store.commit({ rows: [{ hash, size: text.length, ...rec, recordSize: text.length, format: 'full', base: null, private: true }] });
  return hash;
}

const push = (h: Harness) => `${PRAGMA}push ${h.serverCode} ${h.projectCode}\n`;

describe('publishing private artifacts', () => {
  it('a public delta card whose base comes later in the message publishes the artifact', async () => {
    const h = await harness();
    const hash = await storePrivate(h, old);
    const d = deltaCard(newer, old);
    expect(d.hash).toBe(hash);
    const r = await h.send(msg(push(h), d.card, fileCard(newer).card), { user: 'alice' });
    expect(r.lines.filter((l) => l.startsWith('error'))).toEqual([]);
    expect(await h.store.states([hash, d.baseHash])).toEqual(['public', 'public']);
    expect(await h.store.listPrivate(10)).toEqual([]);
    expect(await h.store.listUnclustered(100)).toContain(hash);
  });

  it('a delta whose base never comes leaves it private; a delta that does not produce it is refused', async () => {
    const h = await harness();
    const hash = await storePrivate(h, old);
    const d = deltaCard(newer, old);
    expect((await h.send(msg(push(h), d.card), { user: 'alice' })).lines.filter((l) => l.startsWith('error'))).toEqual([]);
    expect(await h.store.states([hash])).toEqual(['private']);
    // A card naming the private artifact whose delta yields other content: an error, and nothing changes.
    const before = await h.snapshot();
    const delta = createFossilDelta(newer, enc('something else\n'));
    const forged = msg(`file ${hash} ${d.baseHash} ${delta.length}\n`, delta);
    const r = await h.send(msg(push(h), fileCard(newer).card, forged), { user: 'alice' });
    expect(r.lines.filter((l) => l.startsWith('error'))).toEqual([expect.stringMatching(/^error wrong\\shash/)]);
    expect(await h.snapshot()).toBe(before);
  });
});
