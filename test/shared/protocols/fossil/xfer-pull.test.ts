// Pull-side behaviour of xfer() without a client: the reply budget turns
// gimme answers into igot, clusters shrink the igot list, send-catalog lists
// everything. Pure: runs in Node and workerd.
import { describe, expect, it } from 'vitest';
import { concat } from '../../../../shared/core/bytes.js';
import { parseArtifact } from '../../../../shared/core/fossil/artifact.js';
import { enc, fileCard, harness, msg } from './xfer-helpers.js';

const PRAGMA = 'pragma client-version 22100 20230226 192424\n';

describe('xfer pull', () => {
  it('answers gimme with files until the reply budget, then with igot; the rest comes next round', async () => {
    const h = await harness({ limits: { replyBudget: 5000 } });
    const files = Array.from({ length: 20 }, (_, i) => fileCard(enc(`file number ${i}\n`.repeat(60))));
    const push = await h.send(msg(PRAGMA, `push ${h.serverCode} ${h.projectCode}\n`, ...files.map((f) => f.card)), { user: 'alice' });
    expect(push.lines.filter((l) => l.startsWith('error'))).toEqual([]);
    const gimme = files.map((f) => `gimme ${f.hash}\n`).join('');
    const r1 = await h.send(`${PRAGMA}pull ${h.serverCode} ${h.projectCode}\n${gimme}`);
    const sent = r1.cards.filter((c) => c.name === 'file').map((c) => c.args[0]);
    const deferred = r1.cards.filter((c) => c.name === 'igot' && files.some((f) => f.hash === c.args[0])).map((c) => c.args[0]);
    expect(sent.length).toBeGreaterThan(0);
    expect(sent.length).toBeLessThan(files.length);
    expect(new Set([...sent, ...deferred])).toEqual(new Set(files.map((f) => f.hash)));
    const r2 = await h.send(`${PRAGMA}pull ${h.serverCode} ${h.projectCode}\n${deferred.map((x) => `gimme ${x}\n`).join('')}`);
    const sent2 = r2.cards.filter((c) => c.name === 'file');
    expect(sent2.length).toBeGreaterThan(0);
    for (const c of [...r1.cards, ...r2.cards].filter((x) => x.name === 'file')) {
      const f = files.find((x) => x.hash === c.args[0])!;
      expect(concat([enc(`file ${f.hash} ${c.payload!.length}\n`), c.payload!])).toEqual(f.card);
    }
  });

  it('clusters 100+ unclustered artifacts on pull; the igot list then names only the clusters', async () => {
    const h = await harness();
    const files = Array.from({ length: 130 }, (_, i) => fileCard(enc(`artifact ${i}\n`)));
    await h.send(msg(PRAGMA, `push ${h.serverCode} ${h.projectCode}\n`, ...files.map((f) => f.card)), { user: 'alice' });
    const r = await h.send(`${PRAGMA}pull ${h.serverCode} ${h.projectCode}\n`);
    const igots = r.lines.filter((l) => l.startsWith('igot ')).map((l) => l.slice(5));
    expect(igots).toHaveLength(1);
    const cl = r.lines.length && (await h.send(`${PRAGMA}pull ${h.serverCode} ${h.projectCode}\ngimme ${igots[0]}\n`));
    const file = (cl as Awaited<ReturnType<typeof h.send>>).cards.find((c) => c.name === 'file')!;
    const cluster = parseArtifact(file.payload!)!;
    expect(cluster.type).toBe('cluster');
    expect(cluster.cards.members).toHaveLength(131); // the files and the initial check-in
    expect(cluster.cards.members).toEqual(expect.arrayContaining(files.map((f) => f.hash)));
    // send-catalog (sync --verily) lists every artifact again.
    const all = await h.send(`${PRAGMA}pull ${h.serverCode} ${h.projectCode}\npragma send-catalog\n`);
    expect(all.lines.filter((l) => l.startsWith('igot '))).toHaveLength(132);
  });

  it('does not igot back what the client announced or was just sent', async () => {
    const h = await harness();
    const f = fileCard(enc('mine\n'));
    const r = await h.send(msg(PRAGMA, `pull ${h.serverCode} ${h.projectCode}\npush ${h.serverCode} ${h.projectCode}\n`, f.card, `igot ${f.hash}\n`), { user: 'alice' });
    const igots = r.lines.filter((l) => l.startsWith('igot ')).map((l) => l.slice(5));
    expect(igots).not.toContain(f.hash);
    expect(igots).toHaveLength(1); // the initial check-in
  });
});
