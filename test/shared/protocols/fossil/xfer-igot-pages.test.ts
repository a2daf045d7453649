// A pull's igot cards (xfer.ts igotUnclustered) list the unclustered and the private
// artifacts a page at a time (XferLimits.igotPage), each page's states looked up alone.
import { describe, expect, it } from 'vitest';
import { ROLE_CAPS } from '../../../../shared/protocols/fossil/index.js';
import { RecordSink } from '../../../../shared/protocols/fossil/repo.js';
import { enc, fileCard, harness, msg, USERS } from './xfer-helpers.js';

const PRAGMA = 'pragma client-version 22100 20230226 192424\n';

describe('igot cards of a pull', () => {
  it('are listed in pages: every unclustered and (with send-private) private artifact once, in hash order', async () => {
    USERS.root = { password: 'p', caps: ROLE_CAPS.admin };
    const h = await harness({ limits: { igotPage: 3 } });
    const pub = Array.from({ length: 10 }, (_, i) => fileCard(enc(`public ${i}\n`)));
    await h.send(msg(PRAGMA, `push ${h.serverCode} ${h.projectCode}\n`, ...pub.map((f) => f.card)), { user: 'alice' });
    // Private rows, stored as a push by a user with x would have.
    const sink = new RecordSink(h.repo);
    const priv = [];
    for (let i = 0; i < 7; i++) {
      const text = enc(`private ${i}\n`);
      priv.push({ hash: fileCard(text).hash, size: text.length, ...(await sink.appendDeflated(text)), recordSize: text.length, format: 'full' as const, base: null, private: true });
    }
    await sink.finish();
    await h.store.commit({ rows: priv });

    const calls: [string, number, string | undefined][] = [];
    const store = h.store;
    const [uncl, prv, states] = [store.listUnclustered.bind(store), store.listPrivate.bind(store), store.states.bind(store)];
    store.listUnclustered = async (limit, after) => (calls.push(['uncl', limit, after]), uncl(limit, after));
    store.listPrivate = async (limit, after) => (calls.push(['priv', limit, after]), prv(limit, after));
    let largest = 0;
    store.states = async (hashes) => ((largest = Math.max(largest, hashes.length)), states(hashes));

    const r = await h.send(`${PRAGMA}pragma send-private\npull ${h.serverCode} ${h.projectCode}\n`, { user: 'root' });
    expect(r.lines.filter((l) => l.startsWith('error'))).toEqual([]);
    const expected = [...(await uncl(1e6)).map((x) => `igot ${x}`), ...(await prv(1e6)).map((x) => `igot ${x} 1`)];
    expect(expected).toHaveLength(11 + 7); // the initial check-in, 10 public, 7 private
    expect(r.lines.filter((l) => l.startsWith('igot '))).toEqual(expected);
    // (createClusters' own bounded scan, cluster.ts MAX_UNCLUSTERED_SCAN, comes first.)
    const paged = calls.filter((c) => c[1] === 3);
    expect(paged.filter((c) => c[0] === 'uncl').map((c) => c[2])).toEqual([undefined, expected[2].slice(5), expected[5].slice(5), expected[8].slice(5)]); // 3 + 3 + 3 + 2
    expect(paged.filter((c) => c[0] === 'priv')).toHaveLength(3); // 3 + 3 + 1
    expect(calls.filter((c) => c[1] !== 3).every((c) => c[0] === 'uncl' && c[1] > 1000)).toBe(true);
    expect(largest).toBeLessThanOrEqual(3);

    // Without send-private: the public ones only, no private list.
    calls.length = 0;
    const plain = await h.send(`${PRAGMA}pull ${h.serverCode} ${h.projectCode}\n`, { user: 'root' });
    expect(plain.lines.filter((l) => l.startsWith('igot '))).toEqual(expected.slice(0, 11));
    expect(calls.some((c) => c[0] === 'priv')).toBe(false);
    delete USERS.root;
  });
});
