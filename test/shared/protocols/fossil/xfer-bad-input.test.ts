// Bad input to xfer(): each gets fossil's error card (or the documented
// answer), changes nothing stored, and the next request is served normally.
// Pure: runs in Node and in workerd.
import { beforeEach, describe, expect, it } from 'vitest';
import { concat } from '../../../../shared/core/bytes.js';
import { buildArtifact } from '../../../../shared/core/fossil/build.js';
import { receiveMemo } from '../../../../shared/protocols/fossil/repo.js';
import { deltaCard, enc, fileCard, harness, msg, p, type Harness } from './xfer-helpers.js';

const PRAGMA = 'pragma client-version 22100 20230226 192424\n';

describe('xfer bad input', () => {
  let h: Harness;
  let before: string;
  const pullOk = async () => {
    const r = await h.send(`${PRAGMA}pull ${h.serverCode} ${h.projectCode}\n# 0123\n`);
    expect(r.lines.filter((l) => l.startsWith('error'))).toEqual([]);
    expect(r.lines.some((l) => l.startsWith('igot '))).toBe(true);
  };
  const unchanged = async () => expect(await h.snapshot()).toBe(before);

  beforeEach(async () => {
    h = await harness();
    before = await h.snapshot();
  });

  it('answers a normal pull (the control case)', async () => {
    await pullOk();
  });

  it('garbage, truncated and mis-compressed bodies get an error card', async () => {
    const good = (await import('../../../../shared/protocols/fossil/body.js')).encodeBody(p, 'compressed', enc(`${PRAGMA}pull ${h.serverCode} ${h.projectCode}\n`));
    const bodies = [
      new Uint8Array([1, 2, 3]),
      enc('this is not a fossil message at all, but it claims to be compressed'),
      good.subarray(0, good.length - 5),
      concat([new Uint8Array([0, 0, 0x10, 0]), good.subarray(4)]), // header says 4096 bytes
      concat([good.subarray(0, 4), new Uint8Array(good.length - 4).fill(0x78)]),
      new Uint8Array([0xff, 0xff, 0xff, 0xff, 0x78, 0x9c]), // 4 GB declared
    ];
    for (const body of bodies) {
      const r = await h.send(body, { raw: true });
      expect(r.lines.filter((l) => l.startsWith('error')).length, String(r.lines)).toBe(1);
      await unchanged();
    }
    await pullOk();
  });

  it('cards with bad arguments and unknown cards', async () => {
    const cases: [string, RegExp][] = [
      [`push nothex ${'z'.repeat(40)}\n`, /^error bad\\scommand:\\spush/],
      [`gimme 1234\n`, /^error bad\\scommand:\\sgimme\\s1234$/],
      [`frobnicate now\n`, /^error bad\\scommand:\\sfrobnicate\\snow$/],
      [`pull ${h.serverCode} ${'0'.repeat(40)}\n`, /^error wrong\\sproject$/],
      [`igot ${'a'.repeat(41)}\n`, /^error bad\\scommand/],
      [`login alice\n`, /^error bad\\scommand/],
    ];
    for (const [body, want] of cases) {
      const r = await h.send(PRAGMA + body, { user: 'alice' });
      expect(r.lines.filter((l) => l.startsWith('error')), body).toEqual([expect.stringMatching(want)]);
      await unchanged();
    }
    // A file card with a bad size, and one announcing more bytes than follow.
    for (const body of ['file abc 12\n', `file ${'a'.repeat(64)} 99\nshort`, `file ${'a'.repeat(64)} -1\n`]) {
      const r = await h.send(`${PRAGMA}push ${h.serverCode} ${h.projectCode}\n${body}`, { user: 'alice' });
      expect(r.lines.filter((l) => l.startsWith('error'))).toEqual(['error malformed\\sfile\\sline']);
      await unchanged();
    }
    await pullOk();
  });

  it('a file whose content does not hash to its name is refused and nothing of the message is kept', async () => {
    const good = fileCard(enc('good content\n'));
    const bad = fileCard(enc('bad content\n'), 'b'.repeat(64));
    const r = await h.send(msg(PRAGMA, `push ${h.serverCode} ${h.projectCode}\n`, good.card, bad.card, `igot ${'c'.repeat(64)}\n`), { user: 'alice' });
    expect(r.lines).toEqual([`error wrong\\shash\\son\\sreceived\\sartifact:\\s${'b'.repeat(64)}`]);
    await unchanged();
    expect(await h.store.states([good.hash])).toEqual(['unknown']);
    await pullOk();
  });

  it('a delta against an unknown base is kept pending, its base gimme\'d, and resolved when the base arrives', async () => {
    const base = enc('line one of the base text\nline two of the base text\nline three\n'.repeat(4));
    const target = concat([base, enc('and an appended line\n')]);
    const d = deltaCard(base, target);
    const r1 = await h.send(msg(PRAGMA, `push ${h.serverCode} ${h.projectCode}\n`, d.card), { user: 'alice' });
    expect(r1.lines.filter((l) => l.startsWith('error'))).toEqual([]);
    expect(r1.lines).toContain(`gimme ${d.baseHash}`);
    expect(await h.store.states([d.hash, d.baseHash])).toEqual(['pending', 'phantom']);
    expect((await h.store.listFrom(1, 100)).map((r) => r.hash)).not.toContain(d.hash);
    const r2 = await h.send(msg(PRAGMA, `push ${h.serverCode} ${h.projectCode}\n`, fileCard(base).card), { user: 'alice' });
    expect(r2.lines.filter((l) => l.startsWith('error') || l.startsWith('gimme'))).toEqual([]);
    expect(await h.store.states([d.hash, d.baseHash])).toEqual(['public', 'public']);
    const [row] = await h.store.rows([d.hash]);
    expect(row).toMatchObject({ format: 'fossil-delta', base: d.baseHash, size: target.length });
    // And it is served back as the delta to a client that has the base (its base is older, so only then).
    const r3 = await h.send(`${PRAGMA}pull ${h.serverCode} ${h.projectCode}\nigot ${d.baseHash}\ngimme ${d.hash}\n`);
    const file = r3.cards.find((c) => c.name === 'file' && c.args[0] === d.hash)!;
    expect(file.args[1]).toBe(d.baseHash);
    // Not to one that may lack it: it could hold the base as a delta on this one (the repack turns
    // pushed deltas round), and fossil could then read neither.
    const r4 = await h.send(`${PRAGMA}pull ${h.serverCode} ${h.projectCode}\ngimme ${d.hash}\n`);
    expect(r4.cards.find((c) => c.name === 'file' && c.args[0] === d.hash)!.args).toEqual([d.hash, String(target.length)]);
  });

  it('deltas sent before their bases in one request resolve in that request, without reading their records back', async () => {
    const v1 = enc('the first version of a file, long enough for a delta\n'.repeat(6));
    const v2 = concat([v1, enc('a second line\n')]);
    const v3 = concat([v2, enc('a third line\n')]);
    // Newest first, each against the next one (as fossil sends reverse deltas).
    const d3 = deltaCard(v2, v3);
    const d2 = deltaCard(v1, v2);
    const reads: number[] = [];
    const readRange = h.repo.segments.readRange.bind(h.repo.segments);
    h.repo.segments.readRange = (s, o, n) => (reads.push(n), readRange(s, o, n));
    const r = await h.send(msg(PRAGMA, `push ${h.serverCode} ${h.projectCode}\n`, d3.card, d2.card, fileCard(v1).card), { user: 'alice' });
    expect(r.lines.filter((l) => l.startsWith('error') || l.startsWith('gimme'))).toEqual([]);
    expect(reads).toEqual([]);
    expect(await h.store.states([d3.hash, d2.hash, d2.baseHash])).toEqual(['public', 'public', 'public']);
    expect(await h.store.pendingByBase([d2.baseHash, d3.baseHash])).toEqual([]);
    const rows = await h.store.rows([d3.hash, d2.hash]);
    expect(rows.map((x) => [x?.format, x?.base, x?.depth])).toEqual([
      ['fossil-delta', d2.hash, 2],
      ['fossil-delta', d2.baseHash, 1],
    ]);
    const back = await h.send(`${PRAGMA}pull ${h.serverCode} ${h.projectCode}\ngimme ${d3.hash}\n`);
    expect(back.lines.filter((l) => l.startsWith('error'))).toEqual([]);
  });

  it('pending deltas resolve from the host memo when their base comes in a later request (from storage without one)', async () => {
    for (const memo of [true, false]) {
      h = await harness();
      if (memo) h.repo.memo = receiveMemo();
      const v1 = enc(`version one ${memo}, long enough to be worth a delta\n`.repeat(6));
      const v2 = concat([v1, enc('two\n')]);
      const v3 = concat([v2, enc('three\n')]);
      const d3 = deltaCard(v2, v3);
      const d2 = deltaCard(v1, v2);
      const push = (...cards: Uint8Array[]) => h.send(msg(PRAGMA, `push ${h.serverCode} ${h.projectCode}\n`, ...cards), { user: 'alice' });
      const r1 = await push(d3.card, d2.card);
      expect(r1.lines).toContain(`gimme ${d2.baseHash}`);
      const reads: number[] = [];
      const readRange = h.repo.segments.readRange.bind(h.repo.segments);
      h.repo.segments.readRange = (s, o, n) => (reads.push(n), readRange(s, o, n));
      const r2 = await push(fileCard(v1).card);
      expect(r2.lines.filter((l) => l.startsWith('error') || l.startsWith('gimme'))).toEqual([]);
      expect(await h.store.states([d3.hash, d2.hash])).toEqual(['public', 'public']);
      expect((await h.store.rows([d3.hash])).map((x) => [x?.base, x?.depth])).toEqual([[d2.hash, 2]]);
      expect(reads.length === 0).toBe(memo);
      expect(h.received.map((r) => r.hash)).toEqual([]);
    }
  });

  it('looks up the states of a round\'s file cards in one query, not one per card', async () => {
    const files = Array.from({ length: 20 }, (_, i) => fileCard(enc(`file number ${i}\n`)));
    let queries = 0;
    const states = h.store.states.bind(h.store);
    h.store.states = (hs) => (queries++, states(hs));
    const r = await h.send(msg(PRAGMA, `push ${h.serverCode} ${h.projectCode}\n`, ...files.map((f) => f.card)), { user: 'alice' });
    expect(r.lines.filter((l) => l.startsWith('error'))).toEqual([]);
    expect(queries).toBe(1);
    expect(await h.store.states(files.map((f) => f.hash))).toEqual(files.map(() => 'public'));
  });

  it('a delta waiting for its base in the same request that does not verify is a wrong hash and changes nothing', async () => {
    const base = enc('0123456789abcdef'.repeat(8));
    const name = 'e'.repeat(64);
    const d = deltaCard(base, concat([base, enc('tail\n')]));
    const payload = d.card.subarray(d.card.indexOf(0x0a) + 1);
    const bad = msg(`file ${name} ${d.baseHash} ${payload.length}\n`, payload);
    const r = await h.send(msg(PRAGMA, `push ${h.serverCode} ${h.projectCode}\n`, bad, fileCard(base).card), { user: 'alice' });
    expect(r.lines).toEqual([`error wrong\\shash\\son\\sreceived\\sartifact:\\s${name}`]);
    await unchanged();
  });

  it('a delta that does not apply to its known base is a wrong hash', async () => {
    const base = fileCard(enc('0123456789abcdef'.repeat(8)));
    await h.send(msg(PRAGMA, `push ${h.serverCode} ${h.projectCode}\n`, base.card), { user: 'alice' });
    before = await h.snapshot();
    const name = 'd'.repeat(64);
    const delta = enc('1A\n10@500,0;'); // copy outside the base
    const r = await h.send(msg(PRAGMA, `push ${h.serverCode} ${h.projectCode}\n`, `file ${name} ${base.hash} ${delta.length}\n`, delta), { user: 'alice' });
    expect(r.lines).toEqual([`error wrong\\shash\\son\\sreceived\\sartifact:\\s${name}`]);
    await unchanged();
  });

  it('a manifest with a bad Z card is kept as a plain file, as fossil does', async () => {
    const good = buildArtifact({ comment: 'x', date: '2024-01-01T00:00:00.000', user: 'u' }, 'manifest');
    const text = new TextDecoder().decode(good).replace(/Z [0-9a-f]{32}/, `Z ${'0'.repeat(32)}`);
    const f = fileCard(enc(text));
    const r = await h.send(msg(PRAGMA, `push ${h.serverCode} ${h.projectCode}\n`, f.card), { user: 'alice' });
    expect(r.lines.filter((l) => l.startsWith('error'))).toEqual([]);
    expect(await h.store.states([f.hash])).toEqual(['public']);
    expect(h.received.map((x) => x.hash)).not.toContain(f.hash);
    // The well-formed one is a manifest and reaches the crosslink hook.
    const g = fileCard(good);
    await h.send(msg(PRAGMA, `push ${h.serverCode} ${h.projectCode}\n`, g.card), { user: 'alice' });
    expect(h.received.find((x) => x.hash === g.hash)?.artifact.type).toBe('manifest');
  });

  it('oversized cards and payloads are refused before anything is stored', async () => {
    const small = await harness({ limits: { maxArtifactBytes: 1000, maxMessageBytes: 50_000 } });
    const snap = await small.snapshot();
    const long = `igot ${'a'.repeat(20_000)}\n`;
    const r1 = await small.send(`${PRAGMA}${long}`);
    expect(r1.lines[0]).toMatch(/^error card\\slonger\\sthan/);
    const big = fileCard(new Uint8Array(2000).fill(65));
    const r2 = await small.send(msg(PRAGMA, `push ${small.serverCode} ${small.projectCode}\n`, big.card), { user: 'alice' });
    expect(r2.lines[0]).toMatch(/^error .*over\\sthe\\slimit/);
    const r3 = await small.send(msg(PRAGMA, 'x'.repeat(60_000)));
    expect(r3.lines[0]).toMatch(/^error message\\stoo\\slarge/);
    expect(await small.snapshot()).toBe(snap);
  });

  it('login failures reply with exactly fossil\'s card; permissions are enforced', async () => {
    const r1 = await h.send(`${PRAGMA}pull ${h.serverCode} ${h.projectCode}\n`, { user: 'alice', password: 'wrong' });
    expect(r1.lines).toEqual(['error login\\sfailed']);
    const r2 = await h.send(`${PRAGMA}pull ${h.serverCode} ${h.projectCode}\n`, { user: 'nosuchuser' });
    expect(r2.lines).toEqual(['error login\\sfailed']);
    // A tampered message (the nonce no longer matches) fails too.
    const r3 = await h.send(`${PRAGMA}pull ${h.serverCode} ${h.projectCode}\n`, { user: 'alice' });
    expect(r3.lines.some((l) => l.startsWith('error'))).toBe(false);
    const r4 = await h.send(`${PRAGMA}push ${h.serverCode} ${h.projectCode}\n`);
    expect(r4.lines).toEqual(['error not\\sauthorized\\sto\\swrite']);
    const r5 = await h.send(`${PRAGMA}pull ${h.serverCode} ${h.projectCode}\npush ${h.serverCode} ${h.projectCode}\n`, { user: 'rita' });
    expect(r5.lines).toContain('message pull\\sonly\\s-\\snot\\sauthorized\\sto\\spush');
    const r6 = await h.send(msg(PRAGMA, fileCard(enc('x\n')).card));
    expect(r6.lines).toEqual(['error not\\sauthorized\\sto\\swrite']);
    const r7 = await h.send(`${PRAGMA}config /config 3\nabc\n`, { user: 'alice' });
    expect(r7.lines).toEqual(['error not\\sauthorized\\sto\\spush\\sconfiguration']);
    await unchanged();
  });

  it('a private repository refuses an anonymous clone after telling the project code', async () => {
    const priv = await harness({ public: false });
    const r = await priv.send(`${PRAGMA}clone 3 1\n`);
    expect(r.lines).toEqual([`push ${priv.serverCode} ${priv.projectCode}`, 'error not\\sauthorized\\sto\\sclone']);
    const r2 = await priv.send(`${PRAGMA}clone 3 1\n`, { user: 'rita' });
    expect(r2.lines.at(-1)).toBe(`push ${priv.serverCode} ${priv.projectCode}`);
    expect(r2.lines).toContain('clone_seqno 0');
    expect(r2.cards.filter((c) => c.name === 'cfile')).toHaveLength(1);
  });

  it('shunned artifacts are neither accepted nor sent', async () => {
    const f = fileCard(enc('unwanted\n'));
    await h.store.setShunned([f.hash], true);
    const r = await h.send(msg(PRAGMA, `push ${h.serverCode} ${h.projectCode}\n`, f.card, `igot ${f.hash}\n`), { user: 'alice' });
    expect(r.lines.filter((l) => l.startsWith('error') || l.startsWith('gimme'))).toEqual([]);
    await unchanged();
    // A stored artifact shunned later is not sent on clone, pull or gimme.
    const g = fileCard(enc('later shunned\n'));
    await h.send(msg(PRAGMA, `push ${h.serverCode} ${h.projectCode}\n`, g.card), { user: 'alice' });
    await h.store.setShunned([g.hash], true);
    const c = await h.send(`${PRAGMA}clone 3 1\n`);
    expect(c.cards.map((x) => x.args[0])).not.toContain(g.hash);
    const q = await h.send(`${PRAGMA}pull ${h.serverCode} ${h.projectCode}\ngimme ${g.hash}\n`);
    expect(q.cards.map((x) => x.args[0])).not.toContain(g.hash);
  });
});
