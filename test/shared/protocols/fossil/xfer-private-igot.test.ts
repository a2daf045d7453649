// A push's `igot HASH 1` (an x user announcing a private artifact): a missing one becomes a
// private phantom, asked of x users syncing private and never in the replies to other
// writers' pushes, as fossil server asks its private phantoms of x users only.
import { describe, expect, it } from 'vitest';
import { ROLE_CAPS } from '../../../../shared/protocols/fossil/index.js';
import { enc, fileCard, harness, msg, USERS } from './xfer-helpers.js';

const PRAGMA = 'pragma client-version 22100 20230226 192424\n';

describe('private igot cards of a push', () => {
  it('are asked back from the x user while missing, and never named to a writer', async () => {
    USERS.root = { password: 'p', caps: ROLE_CAPS.admin };
    const h = await harness();
    const push = `${PRAGMA}push ${h.serverCode} ${h.projectCode}\n`;
    const secret = fileCard(enc('a private file\n'));
    const announce = `pragma send-private\nigot ${secret.hash} 1\n`;
    const gimmes = (lines: string[]) => lines.filter((l) => l.startsWith('gimme '));

    const first = await h.send(msg(push, announce), { user: 'root' });
    expect(first.lines.filter((l) => l.startsWith('error'))).toEqual([]);
    expect(gimmes(first.lines)).toEqual([`gimme ${secret.hash}`]);
    // A writer's push is not told of it (before: a phantom every push was asked for).
    expect(gimmes((await h.send(push, { user: 'alice' })).lines)).toEqual([]);
    // The x user's next round announces it again with its content: stored private, asked no more.
    const second = await h.send(msg(push, announce, 'private\n', secret.card), { user: 'root' });
    expect(gimmes(second.lines)).toEqual([]);
    expect(await h.store.states([secret.hash])).toEqual(['private']);
    // A public igot of a missing artifact is still kept as a phantom and asked of any writer.
    const other = fileCard(enc('a public file\n'));
    await h.send(`${push}igot ${other.hash}\n`, { user: 'alice' });
    expect(gimmes((await h.send(push, { user: 'alice' })).lines)).toEqual([`gimme ${other.hash}`]);
    // Without x, a private igot is refused in fossil's words and asked for nowhere.
    const refused = await h.send(msg(push, `igot ${fileCard(enc('x\n')).hash} 1\n`), { user: 'alice' });
    expect(refused.lines).toContain('error not\\sauthorized\\sto\\ssync\\sprivate\\scontent');
    expect(gimmes(refused.lines)).toEqual([`gimme ${other.hash}`]);
    delete USERS.root;
  });
});
