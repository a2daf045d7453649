// gimme answers (pull, sync) read the stored records they send as they are in
// coalesced ranges: a pull round answers hundreds of gimmes, and one segment
// read each was one subrequest each on Workers (1000 gimmes: 1002 reads).
import { describe, expect, it } from 'vitest';
import { createFossilDelta } from '../../../../shared/delta/fossil.js';
import { countReads, deltaCard, enc, fileCard, harness, msg, utf8Decode } from './xfer-helpers.js';

const PRAGMA = 'pragma client-version 22100 20230226 192424\n';

describe('gimme answers', () => {
  it('1000 small artifacts and deltas on them go out complete with a few segment reads', async () => {
    const h = await harness();
    const texts = Array.from({ length: 1000 }, (_, i) => enc(`small artifact ${i}\n`.repeat(20)));
    const edits = texts.slice(0, 50).map((t) => enc(`${utf8Decode(t)}one more line\n`));
    const push = `${PRAGMA}push ${h.serverCode} ${h.projectCode}\n`;
    expect((await h.send(msg(push, ...texts.map((t) => fileCard(t).card)), { user: 'alice' })).lines.filter((l) => l.startsWith('error'))).toEqual([]);
    // Deltas against the older versions, as a client pushes an edit.
    const deltas = edits.map((e, i) => deltaCard(texts[i], e));
    expect((await h.send(msg(push, ...deltas.map((d) => d.card)), { user: 'alice' })).lines.filter((l) => l.startsWith('error'))).toEqual([]);

    const counter = countReads(h);
    const wanted = [...texts.map((t) => fileCard(t).hash), ...deltas.map((d) => d.hash)];
    const r = await h.send(`${PRAGMA}pull ${h.serverCode} ${h.projectCode}\n` + wanted.map((x) => `gimme ${x}\n`).join(''));
    expect(counter.reads).toBeLessThan(10);
    const files = r.cards.filter((c) => c.name === 'file');
    expect(files.map((c) => c.args[0])).toEqual(wanted);
    // The edits go out as deltas against bases sent before them in the same reply.
    const byHash = new Map(files.map((c) => [c.args[0], c]));
    for (const [i, d] of deltas.entries()) {
      const c = byHash.get(d.hash)!;
      expect(c.args).toHaveLength(3);
      expect(c.args[1]).toBe(d.baseHash);
      expect(c.payload).toEqual(createFossilDelta(texts[i], edits[i]));
    }
    for (const [i, t] of texts.entries()) expect(byHash.get(fileCard(t).hash)!.payload).toEqual(t);
  });

  it('past the reply budget answers igot, and the next request sends those', async () => {
    const h = await harness({ limits: { replyBudget: 4000 } });
    const texts = Array.from({ length: 30 }, (_, i) => enc(`${i}`.padEnd(500, '-')));
    await h.send(msg(`${PRAGMA}push ${h.serverCode} ${h.projectCode}\n`, ...texts.map((t) => fileCard(t).card)), { user: 'alice' });
    const wanted = texts.map((t) => fileCard(t).hash);
    const pull = `${PRAGMA}pull ${h.serverCode} ${h.projectCode}\n`;
    const first = await h.send(pull + wanted.map((x) => `gimme ${x}\n`).join(''));
    const sent = first.cards.filter((c) => c.name === 'file').map((c) => c.args[0]);
    expect(sent.length).toBeGreaterThan(0);
    expect(sent.length).toBeLessThan(wanted.length);
    expect(sent).toEqual(wanted.slice(0, sent.length));
    // The rest were announced (igot), so the client asks again.
    const igots = new Set(first.cards.filter((c) => c.name === 'igot').map((c) => c.args[0]));
    const later = wanted.slice(sent.length);
    for (const x of later) expect(igots.has(x)).toBe(true);
    const second = await h.send(pull + later.map((x) => `gimme ${x}\n`).join(''));
    const more = second.cards.filter((c) => c.name === 'file').map((c) => c.args[0]);
    expect(more.length).toBeGreaterThan(0);
    expect(more).toEqual(later.slice(0, more.length));
  });
});
