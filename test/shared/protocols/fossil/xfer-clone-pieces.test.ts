// A clone round sends a stored record longer than XferLimits.recordPiece in reads of at
// most that size, never read whole nor joined into one chunk (send.ts recordPieces).
import { describe, expect, it } from 'vitest';
import { randomBytes as noise } from '../../../random-bytes.js';
import { enc, fileCard, harness, msg, p } from './xfer-helpers.js';

const PRAGMA = 'pragma client-version 22100 20230226 192424\n';

describe('large records in a clone round', () => {
  const big = [noise(5000, 1), noise(2500, 2), noise(1001, 3)];
  const small = Array.from({ length: 20 }, (_, i) => enc(`small ${i}\n`));

  async function cloned(recordPiece?: number) {
    const h = await harness({ limits: recordPiece === undefined ? {} : { recordPiece } });
    // Small ones around the large ones, so pieces and coalesced reads alternate.
    const texts = [small[0], big[0], ...small.slice(1, 10), big[1], big[2], ...small.slice(10)];
    const push = await h.send(msg(PRAGMA, `push ${h.serverCode} ${h.projectCode}\n`, ...texts.map((t) => fileCard(t).card)), { user: 'alice' });
    expect(push.lines.filter((l) => l.startsWith('error'))).toEqual([]);
    const reads: { segment: string; offset: number; length: number }[] = [];
    const segments = h.repo.segments;
    const readRange = segments.readRange.bind(segments);
    segments.readRange = (segment, offset, length) => (reads.push({ segment, offset, length }), readRange(segment, offset, length));
    const reply = await h.send(`${PRAGMA}clone 3 1\n`);
    const rows = await h.store.listFrom(1, 100);
    /** The reads that touched each stored record over `limit` bytes. */
    const readsOf = (limit: number) =>
      rows.filter((r) => r.length > limit).map((r) => reads.filter((x) => x.segment === r.segment && x.offset < r.offset + r.length && x.offset + x.length > r.offset).map((x) => [x.offset - r.offset, x.length]));
    return { reply, reads, texts, readsOf };
  }

  const cards = (r: Awaited<ReturnType<typeof cloned>>['reply']) => r.cards.filter((c) => c.name === 'cfile').map((c) => ({ args: c.args, payload: c.payload }));

  it('are read in pieces of at most recordPiece bytes and go out as the same cards as whole reads', async () => {
    const whole = await cloned();
    const pieced = await cloned(1000);
    // Each of the three large records (over 1000 bytes stored): read in order, 1000 bytes at a time.
    const large = pieced.readsOf(1000);
    expect(large).toHaveLength(3);
    for (const pieces of large) {
      expect(pieces.length).toBeGreaterThanOrEqual(2);
      pieces.forEach(([at, length], i) => {
        expect(at).toBe(i * 1000);
        expect(length).toBeLessThanOrEqual(1000);
      });
    }
    // Read whole by default.
    for (const pieces of whole.readsOf(1000)) expect(pieces).toHaveLength(1);
    expect(cards(pieced.reply)).toEqual(cards(whole.reply));
    expect(pieced.reply.lines).toContain('clone_seqno 0');
    // Every text comes back from its cfile (u32be size + zlib).
    const sent = new Map(cards(pieced.reply).map((c) => [c.args[0], c.payload!]));
    for (const t of pieced.texts) {
      const payload = sent.get(fileCard(t).hash)!;
      expect(p.zlib.inflate(payload.subarray(4), t.length)).toEqual(t);
    }
  });

  it('a record of exactly recordPiece bytes is read with the others, one byte longer in two pieces', async () => {
    // big[2]'s stored length (1001 bytes of noise, deflated as a push stores it).
    const stored = p.zlib.deflate(big[2]).length;
    const at = await cloned(stored);
    const under = await cloned(stored - 1);
    // Through the read-ahead: one read (perhaps with its neighbours) holds it whole.
    const one = at.readsOf(stored - 1).filter((r) => r.length === 1 && r[0][0] <= 0 && r[0][0] + r[0][1] >= stored);
    expect(one.length).toBeGreaterThanOrEqual(1);
    expect(under.readsOf(stored - 1)).toContainEqual([
      [0, stored - 1],
      [stored - 1, 1],
    ]);
    expect(cards(under.reply)).toEqual(cards(at.reply));
  });
});
