// Configuration sync against xfer() directly: an admin's `config` cards are
// merged (larger mtime wins, unknown names and malformed records ignored),
// others are refused with fossil's error card and change nothing, and
// `reqconfig` answers each group as fossil server does.
import { beforeEach, describe, expect, it } from 'vitest';
import { ROLE_CAPS } from '../../../../shared/protocols/fossil/index.js';
import { harness, USERS, utf8Decode, type Harness, type Reply } from './xfer-helpers.js';

const PRAGMA = 'pragma client-version 22100 20230226 192424\n';
USERS.ada = { password: 'a', caps: ROLE_CAPS.admin };
const H1 = '1'.repeat(64);
const H2 = '2'.repeat(40);

function card(table: string, record: string): string {
  return `config /${table} ${new TextEncoder().encode(record).length}\n${record}\n`;
}

/** The config cards of a reply as "TABLE RECORD". */
function configs(r: Reply): string[] {
  return r.cards.filter((c) => c.name === 'config').map((c) => `${c.args[0]} ${utf8Decode(c.payload!)}`);
}

describe('fossil configuration sync', () => {
  let h: Harness;
  beforeEach(async () => {
    h = await harness();
  });

  const push = (body: string, user = 'ada') => h.send(PRAGMA + body, { user });
  const pull = (group: string, user = 'ada') => h.send(`${PRAGMA}reqconfig /${group}\n`, { user });

  it('takes an admin push and serves it back by group', async () => {
    const r = await push(
      card('config', `100 'ticket-table' value 'CREATE TABLE ticket(x, y)'`) +
        card('config', `100 'css' value 'body{}'`) +
        card('config', `100 'project-code' value 'evil'`) + // never travels
        card('shun', `100 '${H1}' scom 'leaked'`) +
        card('shun', `100 'not-a-hash' scom 'x'`) +
        card('reportfmt', `100 'Mine' owner 'ada' cols '' sqlcode 'SELECT 1' bogus 'x'`) +
        card('user', `100 'eve' pw 'x' cap 's'`),
    );
    expect(r.lines.filter((l) => l.startsWith('error'))).toEqual([]);
    expect(configs(await pull('ticket'))).toEqual([
      `/reportfmt 100 'Mine' owner 'ada' cols '' sqlcode 'SELECT 1'`,
      `/config 100 'ticket-table' value 'CREATE TABLE ticket(x, y)'`,
    ]);
    expect(configs(await pull('shun'))).toEqual([`/shun 100 '${H1}' scom 'leaked'`]);
    expect(configs(await pull('skin'))).toEqual([`/config 100 'css' value 'body{}'`]);
    const all = configs(await pull('all', 'rita'));
    expect(all).toContain(`/shun 100 '${H1}' scom 'leaked'`);
    expect(all.join('\n')).not.toMatch(/evil|eve|\/user/);
    expect(await h.store.states([H1])).toEqual(['shunned']);
    // Older records lose, newer ones win.
    await push(card('config', `99 'css' value 'old'`) + card('shun', `200 '${H1}' scom 'newer'`));
    expect(configs(await pull('css'))).toEqual([`/config 100 'css' value 'body{}'`]);
    expect(configs(await pull('shun'))).toEqual([`/shun 200 '${H1}' scom 'newer'`]);
  });

  it('URL aliases and interwiki prefixes (named by prefix), timeline skin and TH1 settings travel in their groups as fossil 2.21 sends them', async () => {
    const iw = `'{"base":"https://en.wikipedia.org/wiki/","hash":null,"wiki":null}'`;
    await push(
      card('config', `100 'walias:/docs' value '/doc/trunk/www/index.wiki'`) +
        card('config', `100 'interwiki:wp' value ${iw}`) +
        card('config', `100 'walias:/' value 'x'`) + // a bare prefix names nothing
        card('config', `100 'timeline-utc' value '0'`) +
        card('config', `100 'th1-setup' value 'set x 1'`),
    );
    expect(configs(await pull('alias'))).toEqual([`/config 100 'walias:/docs' value '/doc/trunk/www/index.wiki'`]);
    expect(configs(await pull('interwiki'))).toEqual([`/config 100 'interwiki:wp' value ${iw}`]);
    expect(configs(await pull('skin'))).toEqual([`/config 100 'timeline-utc' value '0'`, `/config 100 'th1-setup' value 'set x 1'`]);
    expect(configs(await pull('ticket'))).toEqual([`/config 100 'th1-setup' value 'set x 1'`]);
    expect(configs(await pull('all', 'rita'))).toEqual(expect.arrayContaining([`/config 100 'walias:/docs' value '/doc/trunk/www/index.wiki'`, `/config 100 'interwiki:wp' value ${iw}`]));
    // The larger mtime wins here too.
    await push(card('config', `99 'walias:/docs' value '/old'`) + card('config', `200 'interwiki:wp' value 'newer'`));
    expect(configs(await pull('alias'))).toEqual([`/config 100 'walias:/docs' value '/doc/trunk/www/index.wiki'`]);
    expect(configs(await pull('interwiki'))).toEqual([`/config 200 'interwiki:wp' value 'newer'`]);
  });

  it('a logo image (a blob in fossil) comes back as the blob literal it came as', async () => {
    const logo = `X'89504E470D0A1A0A0001'`;
    await push(card('config', `100 'logo-image' value ${logo}`) + card('config', `100 'logo-mimetype' value 'image/png'`));
    expect(configs(await pull('skin', 'rita'))).toEqual([`/config 100 'logo-mimetype' value 'image/png'`, `/config 100 'logo-image' value ${logo}`]);
    // Over what a DO SQLite row holds it is ignored, as a record fossil would not take.
    await push(card('config', `200 'logo-image' value X'${'00'.repeat(1_000_000)}'`));
    expect(configs(await pull('skin'))).toContain(`/config 100 'logo-image' value ${logo}`);
  });

  it('refuses config from a non-admin with fossil error card, changing nothing', async () => {
    const before = await h.snapshot();
    for (const user of ['alice', 'rita']) {
      const r = await push(card('shun', `100 '${H1}' scom 'x'`) + card('config', `100 'css' value 'x'`), user);
      expect(r.lines).toContain('error not\\sauthorized\\sto\\spush\\sconfiguration');
    }
    expect(await h.snapshot()).toBe(before);
    expect(await h.store.configRows.list('shun', 10)).toEqual([]);
    expect(configs(await pull('css'))).toEqual([]);
  });

  it('ignores malformed records whole; sends the hub’s own shunned artifacts; no config for anonymous clone-only', async () => {
    await push(card('shun', `12x '${H1}' scom 'x'`) + card('shun', `5 '${H1}' scom 'x' scom 'unterminated`) + card('config', `5 'css' value x'zz`));
    expect(await h.store.configRows.list('shun', 10)).toEqual([]);
    await h.store.setShunned([H2], true);
    expect(configs(await pull('sh'))).toEqual([`/shun 0 '${H2}' scom NULL`]);
    // reqconfig needs read (o); a group name that matches nothing sends nothing.
    expect(configs(await pull('nosuch'))).toEqual([]);
  });
});
