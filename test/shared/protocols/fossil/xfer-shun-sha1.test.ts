// Hash policy shun-sha1 (config `hash-policy` 4, pushed by `configuration push project`):
// a push's SHA1-named artifacts are dropped as shunned ones are (fossil's uuid_is_shunned),
// SHA1 ones already stored are still served.
import { describe, expect, it } from 'vitest';
import { concat } from '../../../../shared/core/bytes.js';
import { artifactId } from '../../../../shared/core/fossil/name.js';
import { enc, fileCard, harness, msg, p } from './xfer-helpers.js';

const PRAGMA = 'pragma client-version 22100 20230226 192424\n';
const sha1Card = (text: Uint8Array) => {
  const hash = artifactId(p, text, 'sha1');
  return { hash, card: concat([enc(`file ${hash} ${text.length}\n`), text]) };
};

describe('hash policy shun-sha1', () => {
  it('drops SHA1-named file cards and igots of a push, takes SHA3 ones, and still serves stored SHA1 artifacts', async () => {
    const h = await harness();
    const push = `${PRAGMA}push ${h.serverCode} ${h.projectCode}\n`;
    const pull = `${PRAGMA}pull ${h.serverCode} ${h.projectCode}\n`;
    const legacy = sha1Card(enc('stored before the policy\n'));
    expect((await h.send(msg(push, legacy.card), { user: 'alice' })).lines.filter((l) => l.startsWith('error'))).toEqual([]);
    expect(await h.store.states([legacy.hash])).toEqual(['public']);

    await h.store.commit({ config: [{ name: 'hash-policy', value: '4', mtime: 1 }] });
    const old = sha1Card(enc('a sha1 file\n'));
    const fresh = fileCard(enc('a sha3 file\n'));
    const announced = sha1Card(enc('announced only\n'));
    const r = await h.send(msg(push, old.card, fresh.card, `igot ${announced.hash}\n`), { user: 'alice' });
    expect(r.lines.filter((l) => l.startsWith('error'))).toEqual([]);
    expect(await h.store.states([old.hash, fresh.hash, announced.hash])).toEqual(['unknown', 'public', 'unknown']);
    expect(r.lines.filter((l) => l.startsWith('gimme'))).toEqual([]);
    // The stored SHA1 artifact is served to a pull that asks for it.
    const served = await h.send(`${pull}gimme ${legacy.hash}\n`, { user: 'alice' });
    expect(served.lines).toContain(`file ${legacy.hash} ${'stored before the policy\n'.length}`);
  });
});
