// A clone round lists the index in pages sized to what its reply budget has room for
// (send.ts CLONE_FIRST_PAGE): a round that needs more rows than the first page still sends everything once.
import { describe, expect, it } from 'vitest';
import { enc, fileCard, harness, msg } from './xfer-helpers.js';

const PRAGMA = 'pragma client-version 22100 20230226 192424\n';

describe('clone rounds list the index in pages sized to the budget', () => {
  it('a round of 300 artifacts lists 256 rows, then what the budget left needs, and rounds under a small budget send each artifact once', async () => {
    const h = await harness();
    const files = Array.from({ length: 300 }, (_, i) => fileCard(enc(`file ${i}\n`)));
    const push = await h.send(msg(PRAGMA, `push ${h.serverCode} ${h.projectCode}\n`, ...files.map((f) => f.card)), { user: 'alice' });
    expect(push.lines.filter((l) => l.startsWith('error'))).toEqual([]);
    const listFrom = h.store.listFrom.bind(h.store);
    const limits: number[] = [];
    h.store.listFrom = async (from, limit) => (limits.push(limit), listFrom(from, limit));

    const one = await h.send(`${PRAGMA}clone 3 1\n`);
    expect(one.lines).toContain('clone_seqno 0');
    const sent = one.cards.filter((c) => c.name === 'cfile').map((c) => c.args[0]);
    expect(new Set(sent).size).toBe(301); // and the initial check-in
    for (const f of files) expect(sent).toContain(f.hash);
    expect(limits).toEqual([256, 1024]); // tiny records: the 5 MB budget needs more than the cap

    for (const replyBudget of [2000, 30_000]) {
      const small = await harness({ limits: { replyBudget } });
      await small.send(msg(PRAGMA, `push ${small.serverCode} ${small.projectCode}\n`, ...files.map((f) => f.card)), { user: 'alice' });
      const list = small.store.listFrom.bind(small.store);
      const asked: number[][] = [];
      small.store.listFrom = async (from, limit) => (asked.at(-1)!.push(limit), list(from, limit));
      const seen: string[] = [];
      let seq = 1;
      for (let round = 0; round < 200 && seq !== 0; round++) {
        asked.push([]);
        const r = await small.send(`${PRAGMA}clone 3 ${seq}\n`);
        seen.push(...r.cards.filter((c) => c.name === 'cfile').map((c) => c.args[0]));
        seq = Number(r.cards.find((c) => c.name === 'clone_seqno')!.args[0]);
      }
      expect(seq).toBe(0);
      expect(seen).toHaveLength(301);
      expect(new Set(seen).size).toBe(301);
      // 30 kB: the first page leaves room for about a hundred more records, and the second page asks for about that.
      if (replyBudget === 30_000) {
        expect(asked[0]).toEqual([256, expect.any(Number)]);
        expect(asked[0][1]).toBeGreaterThan(16);
        expect(asked[0][1]).toBeLessThan(256);
      }
    }
  });
});
