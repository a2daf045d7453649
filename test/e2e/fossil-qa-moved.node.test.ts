// Outside-in QA of a repository moved onto the hub, side by side with `fossil
// server --repolist` 2.21 serving the repository file itself: its history is
// pushed and its configuration sent with `fossil configuration push all` (the
// README's way), then clones of both servers, an admin's and an anonymous
// one, must carry the same settings (a logo image among them), ticket
// fields, reports, shun list, URL aliases and interwiki prefixes. And what
// happens to a public file an admin's `sync --private` later names as private.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { check, runFossil, serveOnBoth, useSideBySide, type SideBySide } from './fossil-client.js';
import { apiOk, repoUrl } from './hub-client.js';

let sides: SideBySide;
let home: string;

useSideBySide('fossil-qa-moved-', 'ada', (s) => ({ home } = sides = s));

const fossil = (args: string[], cwd = home) => check(runFossil(home, args, cwd), `fossil ${args.join(' ')}`);
const sql = (repo: string, q: string) => fossil(['sql', '-R', repo, q]).stdout.trim();

/** `name` on both servers with `ada` as admin (hub role admin, fossil caps with a s x). */
async function onBoth(name: string, src: string): Promise<{ hub: (who?: string) => string; server: (who?: string) => string }> {
  await serveOnBoth(sides, name, src, { name: 'ada', password: 'ada-pw' });
  await apiOk(sides.hub, 'PUT', `/repos/${name}/members/ada`, { role: 'admin' });
  fossil(['user', 'capabilities', 'ada', 'goiyasx', '-R', join(sides.served, `${name}.fossil`)]);
  const url = (base: string) => (who?: string) => repoUrl(base, name, who, who && `${who}-pw`);
  return { hub: url(sides.hub.url), server: url(sides.serverUrl) };
}

/** A new repository opened in `dir`, autosync off. */
function fresh(name: string): { repo: string; dir: string } {
  const repo = join(home, `${name}.fossil`);
  const dir = join(home, name);
  fossil(['new', repo]);
  mkdirSync(dir);
  fossil(['open', repo], dir);
  fossil(['settings', 'autosync', 'off'], dir);
  return { repo, dir };
}

describe('a repository moved onto the hub', () => {
  it('push, then configuration push all: admin and anonymous clones carry the settings, ticket fields, reports, shun list, aliases and interwiki of fossil server’s', async () => {
    const { repo, dir } = fresh('moved');
    // What a long-lived repository has set up: its own ticket field and report, skin and
    // timeline settings, URL aliases, interwiki prefixes, a shunned file, a ticket contact.
    const table = `CREATE TABLE repository.ticket(tkt_id INTEGER PRIMARY KEY, tkt_uuid TEXT UNIQUE, tkt_mtime DATE, tkt_ctime DATE, type TEXT, status TEXT, subsystem TEXT, priority TEXT, severity TEXT, foundin TEXT, private_contact TEXT, resolution TEXT, title TEXT, comment TEXT, customer TEXT);`;
    sql(repo, `REPLACE INTO config(name, value, mtime) VALUES ('ticket-table', '${table}', now()), ('project-name', 'Moved', now()), ('project-description', 'A moved project', now()), ('header', '<div>our header</div>', now()), ('timeline-utc', '0', now()), ('walias:/docs', '/doc/trunk/www/index.wiki', now()), ('logo-image', x'89504e470d0a1a0a00', now())`);
    sql(repo, `INSERT INTO reportfmt(owner, title, mtime, cols, sqlcode) VALUES ('ada', 'By customer', now(), '', 'SELECT tkt_uuid, customer FROM ticket')`);
    fossil(['interwiki', 'edit', 'wp', '--base', 'https://en.wikipedia.org/wiki/', '-R', repo]);
    fossil(['rebuild', repo]);
    fossil(['ticket', 'add', 'title', 'Moved bug', 'status', 'Open', 'customer', 'ACME', 'private_contact', 'ann@example.com'], dir);
    writeFileSync(join(dir, 'leaked.txt'), 'a secret\n');
    fossil(['add', 'leaked.txt'], dir);
    fossil(['commit', '--no-warnings', '-m', 'oops'], dir);
    const leaked = sql(repo, `SELECT uuid FROM blob b JOIN mlink m ON m.fid = b.rid JOIN filename USING (fnid) WHERE name = 'leaked.txt'`).replace(/'/g, '');
    sql(repo, `INSERT INTO shun(uuid, mtime, scom) VALUES ('${leaked}', now(), 'leaked')`);
    fossil(['rebuild', repo]);

    const urls = await onBoth('moved', repo);
    for (const args of [['push'], ['configuration', 'push', 'all']]) {
      expect(fossil([...args, urls.hub('ada'), '-R', repo]).output).not.toMatch(/error|server says/i);
    }
    const seen = (clone: string) =>
      sql(
        clone,
        `SELECT 'report', title, sqlcode FROM reportfmt ORDER BY title;
         SELECT 'shun', uuid, scom FROM shun;
         SELECT 'concealed', hash, content FROM concealed;
         SELECT 'ticket', title, customer FROM ticket;
         SELECT 'config', name, typeof(value), quote(value) FROM config WHERE name IN ('ticket-table', 'project-name', 'project-description', 'header', 'timeline-utc', 'logo-image') OR name GLOB 'walias:*' OR name GLOB 'interwiki:*' ORDER BY name`,
      );
    for (const who of ['ada', undefined]) {
      const mine = join(home, `moved-hub-${who ?? 'anon'}.fossil`);
      const theirs = join(home, `moved-server-${who ?? 'anon'}.fossil`);
      fossil(['clone', urls.hub(who), mine]);
      fossil(['clone', urls.server(who), theirs]);
      expect(seen(mine), who ?? 'anonymous').toBe(seen(theirs));
      expect(fossil(['interwiki', 'list', '-R', mine]).stdout).toMatch(/^wp\s+https:\/\/en\.wikipedia\.org\/wiki\/$/m);
      expect(sql(mine, `SELECT value FROM config WHERE name = 'walias:/docs'`)).toBe(`'/doc/trunk/www/index.wiki'`);
      expect(sql(mine, `SELECT title || ' ' || customer FROM ticket`)).toBe(`'Moved bug ACME'`);
      expect(sql(mine, `SELECT hex(value) FROM config WHERE name = 'logo-image'`)).toBe(`'89504E470D0A1A0A00'`);
      expect(sql(mine, `SELECT count(*) FROM shun WHERE uuid = '${leaked}'`)).toBe('1');
      // Email addresses go to those who may read them (admins here), on both.
      expect(sql(mine, `SELECT count(*) FROM concealed`)).toBe(who ? '1' : '0');
    }
  }, 120_000);

  it('an admin’s sync --private naming a file private that a public check-in has since carried: it stays public (fossil server 2.21 makes it private again, and its anonymous clones get a phantom)', async () => {
    const { repo } = fresh('relic');
    const urls = await onBoth('relic', repo);
    fossil(['push', urls.hub('ada'), '-R', repo]); // the initial check-in (fossil server's copy has it)
    await apiOk(sides.hub, 'POST', '/users', { name: 'wes', password: 'wes-pw' });
    await apiOk(sides.hub, 'PUT', '/repos/relic/members/wes', { role: 'write' });
    fossil(['user', 'new', 'wes', 'x', 'wes-pw', '-R', join(sides.served, 'relic.fossil')]);
    fossil(['user', 'capabilities', 'wes', 'goi', '-R', join(sides.served, 'relic.fossil')]);
    const anonymous = { hub: '', server: '' };
    for (const [side, url] of Object.entries(urls) as ['hub' | 'server', (who?: string) => string][]) {
      const clone = (who: string) => {
        const r = join(home, `relic-${side}-${who}.fossil`);
        const d = join(home, `relic-${side}-${who}`);
        fossil(['clone', '--save-http-password', url(who), r]);
        mkdirSync(d);
        fossil(['open', r], d);
        fossil(['settings', 'autosync', 'off'], d);
        return d;
      };
      const ada = clone('ada');
      const wes = clone('wes');
      // The admin's private branch has the file; the writer's public check-in has the same content.
      writeFileSync(join(ada, 'notes.txt'), 'the same notes\n');
      fossil(['add', 'notes.txt'], ada);
      fossil(['commit', '--no-warnings', '--private', '-m', 'private notes'], ada);
      expect(fossil(['push', '--private'], ada).output).not.toMatch(/error/i);
      writeFileSync(join(wes, 'notes.txt'), 'the same notes\n');
      fossil(['add', 'notes.txt'], wes);
      fossil(['commit', '--no-warnings', '-m', 'public notes'], wes);
      expect(fossil(['push'], wes).output).not.toMatch(/error/i);
      // The admin's clone still holds the file as private: its sync says `igot HASH 1`.
      expect(fossil(['sync', '--private'], ada).output).not.toMatch(/error/i);
      anonymous[side] = join(home, `relic-${side}-anon.fossil`);
      fossil(['clone', url(), anonymous[side]]);
    }
    const phantoms = (r: string) => sql(r, `SELECT count(*) FROM phantom`);
    expect(phantoms(anonymous.hub)).toBe('0');
    expect(fossil(['cat', 'notes.txt', '-r', 'trunk', '-R', anonymous.hub]).stdout).toBe('the same notes\n');
    // The reference differs here, by a fault of its own: were it fixed, this would say so.
    expect(phantoms(anonymous.server)).toBe('1');
  }, 120_000);
});
