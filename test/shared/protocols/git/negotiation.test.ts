// Negotiation decisions against the rules of git-smart-http.md §5.3 and §4.5.
import { describe, expect, it } from 'vitest';
import type { Pkt } from '../../../../shared/protocols/git/capabilities.js';
import { negotiateV0, negotiateV2, type HaveOracle } from '../../../../shared/protocols/git/negotiation.js';

const [A, B, C, D] = ['a', 'b', 'c', 'd'].map((c) => c.repeat(40));
const dec = (ps: Pkt[]) => ps.map((p) => (p.kind === 'data' ? new TextDecoder().decode(p.payload) : p.kind));
const oracle = (known: string[], covered = true): HaveOracle & { asked: number } => {
  const o = { asked: 0, has: (id: string) => known.includes(id), covered: () => (o.asked++, covered) };
  return o;
};
const base = { multiAck: 'multi_ack_detailed' as const, noDone: true };

describe('v0', () => {
  it('done without common: NAK then the pack', async () => {
    const r = await negotiateV0({ ...base, haves: [], end: 'done' }, oracle([]));
    expect([dec(r.lines), r.sendPack]).toEqual([['NAK\n'], true]);
  });
  it('done with commons: ACK common per known have, final ACK of the last', async () => {
    const r = await negotiateV0({ ...base, haves: [A, B, C], end: 'done' }, oracle([A, C], false));
    expect(dec(r.lines)).toEqual([`ACK ${A} common\n`, `ACK ${C} common\n`, `ACK ${C}\n`]);
    expect(r.common).toEqual([A, C]);
  });
  it('flush, not covered: NAK and stop', async () => {
    const r = await negotiateV0({ ...base, haves: [A, B], end: 'flush' }, oracle([A], false));
    expect([dec(r.lines), r.sendPack]).toEqual([[`ACK ${A} common\n`, 'NAK\n'], false]);
  });
  it('flush, covered, no-done: ready for unknown haves, NAK, final ACK, pack', async () => {
    const o = oracle([A]);
    const r = await negotiateV0({ ...base, haves: [A, B, C], end: 'flush' }, o);
    expect(dec(r.lines)).toEqual([`ACK ${A} common\n`, `ACK ${B} ready\n`, `ACK ${C} ready\n`, 'NAK\n', `ACK ${A}\n`]);
    expect(r.sendPack).toBe(true);
    expect(o.asked).toBe(1);
  });
  it('flush, all haves known and covered: ACK last ready at the end', async () => {
    const r = await negotiateV0({ ...base, haves: [A, B], end: 'flush' }, oracle([A, B]));
    expect(dec(r.lines)).toEqual([`ACK ${A} common\n`, `ACK ${B} common\n`, `ACK ${B} ready\n`, 'NAK\n', `ACK ${B}\n`]);
  });
  it('without no-done a ready round still ends the response', async () => {
    const r = await negotiateV0({ ...base, noDone: false, haves: [A, B], end: 'flush' }, oracle([A]));
    expect(r.sendPack).toBe(false);
    expect(dec(r.lines).at(-1)).toBe('NAK\n');
  });
  it('wants-only round says nothing', async () => {
    expect((await negotiateV0({ ...base, haves: [], end: 'wants-only' }, oracle([]))).lines).toEqual([]);
  });
  it('multi_ack and plain modes', async () => {
    const m = await negotiateV0({ multiAck: 'multi_ack', noDone: false, haves: [A, B], end: 'done' }, oracle([A]));
    expect(dec(m.lines)).toEqual([`ACK ${A} continue\n`, `ACK ${B} continue\n`, `ACK ${A}\n`]);
    const p = await negotiateV0({ multiAck: 'none', noDone: false, haves: [A, C, B], end: 'flush' }, oracle([A, C]));
    expect(dec(p.lines)).toEqual([`ACK ${A}\n`]);
  });
});

describe('v2', () => {
  it('done or no haves: no acknowledgments section', async () => {
    expect(await negotiateV2({ haves: [A], done: true, waitForDone: false }, oracle([A]))).toMatchObject({ section: [], sendPack: true, common: [A] });
    expect(await negotiateV2({ haves: [], done: false, waitForDone: false }, oracle([]))).toMatchObject({ section: [], sendPack: true });
  });
  it('NAK and flush when nothing is known', async () => {
    const r = await negotiateV2({ haves: [A, B], done: false, waitForDone: false }, oracle([]));
    expect([dec(r.section), r.sendPack]).toEqual([['acknowledgments\n', 'NAK\n', 'flush'], false]);
  });
  it('ACKs, ready and delim when covered', async () => {
    const r = await negotiateV2({ haves: [A, B, A, D], done: false, waitForDone: false }, oracle([A, D]));
    expect([dec(r.section), r.sendPack]).toEqual([['acknowledgments\n', `ACK ${A}\n`, `ACK ${D}\n`, 'ready\n', 'delim'], true]);
  });
  it('never ready with wait-for-done', async () => {
    const r = await negotiateV2({ haves: [A], done: false, waitForDone: true }, oracle([A]));
    expect([dec(r.section), r.sendPack]).toEqual([['acknowledgments\n', `ACK ${A}\n`, 'flush'], false]);
  });
});
