// A clone round lists the index in pages sized to what its reply budget has room for
// (send.ts CLONE_FIRST_PAGE): a round that needs more rows than the first page still sends everything once.
import { describe, expect, it } from 'vitest';
import { createFossilDelta } from '../../../../shared/delta/fossil.js';
import { RecordSink } from '../../../../shared/protocols/fossil/repo.js';
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

describe("a clone round's delta bases", () => {
  const base = enc('line\n'.repeat(200) + 'base ending\n');
  const target = enc('line\n'.repeat(200) + 'target ending\n');

  /** Stores base (private or not) and target as a delta against it, as a push would have. */
  async function stored(isPrivate: boolean) {
    const h = await harness();
    const sink = new RecordSink(h.repo);
    const d = createFossilDelta(base, target);
    const b = { hash: fileCard(base).hash, size: base.length, ...(await sink.appendDeflated(base)), recordSize: base.length, format: 'full' as const, base: null, private: isPrivate };
    const t = { hash: fileCard(target).hash, size: target.length, ...(await sink.appendDeflated(d)), recordSize: d.length, format: 'fossil-delta' as const, base: b.hash, private: false };
    await sink.finish();
    await h.store.commit({ rows: [b, t] });
    const states = h.store.states.bind(h.store);
    const asked: string[] = [];
    h.store.states = async (hashes) => (asked.push(...hashes), states(hashes));
    return { h, b, t, asked };
  }

  it('a base listed in the round is not looked up, and the delta goes out against it', async () => {
    const { h, b, t, asked } = await stored(false);
    const r = await h.send(`${PRAGMA}clone 3 1\n`);
    expect(r.lines).toContain('clone_seqno 0');
    expect(r.cards.find((c) => c.name === 'cfile' && c.args[0] === t.hash)!.args[1]).toBe(b.hash);
    expect(asked).not.toContain(b.hash);
  });

  it('a private base listed in the round is not sent, so its delta goes out as a full text', async () => {
    const { h, b, t } = await stored(true);
    const r = await h.send(`${PRAGMA}clone 3 1\n`);
    const cfiles = r.cards.filter((c) => c.name === 'cfile');
    expect(cfiles.map((c) => c.args[0])).not.toContain(b.hash);
    const card = cfiles.find((c) => c.args[0] === t.hash)!;
    expect(card.args).toHaveLength(3); // HASH USIZE CSIZE: no base
    expect(Number(card.args[1])).toBe(target.length);
  });

  it('a base in an earlier round is looked up', async () => {
    const { h, b, t, asked } = await stored(false);
    // A later round: it starts at the delta, after its base.
    const rows = await h.store.listFrom(1, 100);
    const tSeq = rows.find((r) => r.hash === t.hash)!.seq;
    const r = await h.send(`${PRAGMA}clone 3 ${tSeq}\n`);
    expect(r.cards.find((c) => c.name === 'cfile' && c.args[0] === t.hash)!.args[1]).toBe(b.hash);
    expect(asked).toContain(b.hash);
  });
});
