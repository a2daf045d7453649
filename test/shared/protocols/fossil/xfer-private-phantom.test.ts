// Phantoms named by private cards stay private, as fossil server 2.21's do (observed with
// raw requests to `fossil server`: a private delta's missing base is asked of an x user's
// push with `pragma send-private` only; a writer's public igot of it makes it public).
import { describe, expect, it } from 'vitest';
import { ROLE_CAPS } from '../../../../shared/protocols/fossil/index.js';
import { deltaCard, enc, fileCard, harness, msg, USERS } from './xfer-helpers.js';

const PRAGMA = 'pragma client-version 22100 20230226 192424\n';
const gimmes = (lines: string[]) => lines.filter((l) => l.startsWith('gimme '));

describe('private phantoms', () => {
  it("a private delta's missing base is asked of x users syncing private only, until it arrives", async () => {
    USERS.root = { password: 'p', caps: ROLE_CAPS.admin };
    const h = await harness();
    const push = `${PRAGMA}push ${h.serverCode} ${h.projectCode}\n`;
    const base = enc('the base of a private delta, long enough to make a delta of\n');
    const d = deltaCard(base, enc('the base of a private delta, long enough to make a delta of, and more\n'));

    const first = await h.send(msg(push, 'pragma send-private\n', 'private\n', d.card), { user: 'root' });
    expect(first.lines.filter((l) => l.startsWith('error'))).toEqual([]);
    expect(gimmes(first.lines)).toEqual([`gimme ${d.baseHash}`]);
    // Not named to a writer, nor to the x user pushing without send-private.
    expect(gimmes((await h.send(push, { user: 'alice' })).lines)).toEqual([]);
    expect(gimmes((await h.send(push, { user: 'root' })).lines)).toEqual([]);
    expect(await h.store.listPhantoms(10)).toEqual([]);
    expect(await h.store.listPhantoms(10, '', true)).toEqual([d.baseHash]);

    // The base arrives private: the delta resolves, both private, nothing is asked any more.
    const second = await h.send(msg(push, 'pragma send-private\n', 'private\n', fileCard(base).card), { user: 'root' });
    expect(gimmes(second.lines)).toEqual([]);
    expect(await h.store.states([d.baseHash, d.hash])).toEqual(['private', 'private']);
    delete USERS.root;
  });

  it("a writer's public igot makes a private phantom public (fossil server 2.21 does the same)", async () => {
    USERS.root = { password: 'p', caps: ROLE_CAPS.admin };
    const h = await harness();
    const push = `${PRAGMA}push ${h.serverCode} ${h.projectCode}\n`;
    const announced = fileCard(enc('announced privately first\n'));
    await h.send(msg(push, 'pragma send-private\n', `igot ${announced.hash} 1\n`), { user: 'root' });
    expect(gimmes((await h.send(push, { user: 'alice' })).lines)).toEqual([]);
    expect(gimmes((await h.send(`${push}igot ${announced.hash}\n`, { user: 'alice' })).lines)).toEqual([`gimme ${announced.hash}`]);
    expect(gimmes((await h.send(push, { user: 'alice' })).lines)).toEqual([`gimme ${announced.hash}`]);
    // A later private igot leaves it public (fossil keeps an existing phantom's mark).
    await h.send(msg(push, 'pragma send-private\n', `igot ${announced.hash} 1\n`), { user: 'root' });
    expect(await h.store.listPhantoms(10)).toEqual([announced.hash]);
    delete USERS.root;
  });
});
