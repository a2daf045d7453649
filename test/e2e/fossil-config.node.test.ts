// fossil configuration sync with fossil 2.21 against the hub under wrangler dev:
// an admin pushes a ticket schema and a shun entry with `fossil configuration
// push`, a fresh clone gets them; a writer's push is refused and changes nothing.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { check, fossilHome, runFossil } from './fossil-client.js';
import { api } from './hub-client.js';
import { startHub, type Hub } from './hub-server.js';

let hub: Hub;
let home: string;
let cleanup: () => void;
const url = (who: string) => hub.url.replace('http://', `http://${who}:${who}-pw@`) + '/cfg';
const fossil = (args: string[]) => check(runFossil(home, args, home), `fossil ${args.join(' ')}`);
const sql = (repo: string, q: string) => fossil(['sql', '-R', repo, q]).stdout.trim();
const LEAK = 'ab'.repeat(32);
const TICKET_TABLE = `CREATE TABLE ticket(tkt_id INTEGER PRIMARY KEY, tkt_uuid TEXT UNIQUE, tkt_mtime DATE, tkt_ctime DATE, type TEXT, status TEXT, subsystem TEXT, priority TEXT, severity TEXT, foundin TEXT, private_contact TEXT, resolution TEXT, title TEXT, comment TEXT, mood TEXT)`;

beforeAll(async () => {
  hub = await startHub();
  ({ home, done: cleanup } = fossilHome('fossil-config-'));
  for (const name of ['ada', 'walt']) expect((await api(hub, 'POST', '/users', { name, password: `${name}-pw` })).status).toBe(201);
  expect((await api(hub, 'POST', '/repos', { name: 'cfg', kind: 'fossil', public: true })).status).toBe(201);
  expect((await api(hub, 'PUT', '/repos/cfg/members/ada', { role: 'admin' })).status).toBe(200);
  expect((await api(hub, 'PUT', '/repos/cfg/members/walt', { role: 'write' })).status).toBe(200);
}, 120_000);

afterAll(async () => {
  await hub?.stop();
  cleanup?.();
});

describe('fossil configuration through the hub', () => {
  it('an admin pushes a ticket schema and a shun entry; a fresh clone gets them', () => {
    const a = join(home, 'ada.fossil');
    fossil(['clone', url('ada'), a]);
    sql(a, `REPLACE INTO config(name, value, mtime) VALUES('ticket-table', '${TICKET_TABLE}', now())`);
    sql(a, `INSERT INTO shun(uuid, mtime, scom) VALUES('${LEAK}', now(), 'leaked key')`);
    const out = fossil(['configuration', 'push', 'all', url('ada'), '-R', a]).output;
    expect(out).not.toMatch(/Error|not authorized/);

    const c = join(home, 'fresh.fossil');
    expect(fossil(['clone', hub.url + '/cfg', c]).output).not.toMatch(/Error/);
    expect(sql(c, `SELECT uuid, scom FROM shun`)).toBe(`'${LEAK}','leaked key'`);
    expect(sql(c, `SELECT count(*) FROM pragma_table_info('ticket') WHERE name = 'mood'`)).toBe('1');
    // A pull of one group by a reader gets it too.
    const w = join(home, 'walt.fossil');
    fossil(['clone', url('walt'), w]);
    expect(sql(w, `SELECT count(*) FROM pragma_table_info('ticket') WHERE name = 'mood'`)).toBe('1');
  });

  it('a writer’s configuration push is refused and changes nothing', () => {
    const w = join(home, 'walt.fossil');
    sql(w, `REPLACE INTO shun(uuid, mtime, scom) VALUES('${'cd'.repeat(32)}', now(), 'mine')`);
    sql(w, `REPLACE INTO config(name, value, mtime) VALUES('css', 'body{color:red}', now())`);
    const out = runFossil(home, ['configuration', 'push', 'all', url('walt'), '-R', w], home).output;
    expect(out).toMatch(/not authorized to push configuration/);
    const c = join(home, 'fresh2.fossil');
    fossil(['clone', hub.url + '/cfg', c]);
    expect(sql(c, `SELECT uuid FROM shun`)).toBe(`'${LEAK}'`);
    expect(sql(c, `SELECT count(*) FROM config WHERE name = 'css'`)).toBe('0');
  });
});
