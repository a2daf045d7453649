// uvgimme answers: `fossil clone -u` and `uv sync` ask for every unversioned
// file in one message, so their contents are read in coalesced ranges, not one
// segment read per file; over the reply budget a file is only announced
// (uvigot) and asked for again. Empty and deleted files travel too.
import { describe, expect, it } from 'vitest';
import { artifactId } from '../../../../shared/core/fossil/name.js';
import { countReads, enc, harness, msg, p, utf8Decode } from './xfer-helpers.js';

const PRAGMA = 'pragma client-version 22100 20230226 192424\n';
const MTIME = 1_700_000_000;

/** uvfile cards for `files` (name -> content; null: a deletion), as `uv sync` pushes them. */
function uvPush(files: Record<string, string | null>, mtime = MTIME) {
  return Object.entries(files).map(([name, text]) => {
    if (text === null) return `uvfile ${name} ${mtime} - 0 1\n`;
    const content = enc(text);
    return msg(`uvfile ${name} ${mtime} ${artifactId(p, content, 'sha3-256')} ${content.length} 0\n`, content);
  });
}

describe('uvgimme answers', () => {
  it('sends 300 files, an empty one and a deletion with one segment read', async () => {
    const h = await harness();
    const files: Record<string, string | null> = { 'empty.txt': '', 'gone.txt': 'soon deleted' };
    for (let i = 0; i < 300; i++) files[`doc/${i}.txt`] = `unversioned file ${i}\n`;
    expect((await h.send(msg(PRAGMA, ...uvPush(files)), { user: 'alice' })).lines.filter((l) => l.startsWith('error'))).toEqual([]);
    expect((await h.send(msg(PRAGMA, ...uvPush({ 'gone.txt': null }, MTIME + 1)), { user: 'alice' })).lines.filter((l) => l.startsWith('error'))).toEqual([]);

    const counter = countReads(h);
    const names = Object.keys(files);
    const r = await h.send(PRAGMA + names.map((n) => `uvgimme ${n}\n`).join(''));
    expect(counter.reads).toBe(1);
    const got = new Map(r.cards.filter((c) => c.name === 'uvfile').map((c) => [c.args[0], c]));
    expect([...got.keys()].sort()).toEqual([...names].sort());
    expect(got.get('gone.txt')!.args.slice(2)).toEqual(['-', '0', '1']);
    expect(got.get('empty.txt')!.args.slice(3)).toEqual(['0', '0']);
    for (let i = 0; i < 300; i++) expect(utf8Decode(got.get(`doc/${i}.txt`)!.payload!)).toBe(files[`doc/${i}.txt`]);
  });

  it('over the reply budget announces the rest with uvigot, which the next request gets', async () => {
    const h = await harness({ limits: { replyBudget: 2000 } });
    const files: Record<string, string> = {};
    for (let i = 0; i < 20; i++) files[`f${i}`] = `${i}`.padEnd(400, '.');
    await h.send(msg(PRAGMA, ...uvPush(files)), { user: 'alice' });
    const names = Object.keys(files);
    const first = await h.send(PRAGMA + names.map((n) => `uvgimme ${n}\n`).join(''));
    const sent = first.cards.filter((c) => c.name === 'uvfile').map((c) => c.args[0]);
    const announced = first.cards.filter((c) => c.name === 'uvigot').map((c) => c.args[0]);
    expect(sent.length).toBeGreaterThan(0);
    expect(announced.length).toBeGreaterThan(0);
    expect([...sent, ...announced]).toEqual(names);
    const second = await h.send(PRAGMA + announced.map((n) => `uvgimme ${n}\n`).join(''));
    const more = second.cards.filter((c) => c.name === 'uvfile');
    expect(more.map((c) => c.args[0])).toEqual(announced.slice(0, more.length));
    for (const c of more) expect(utf8Decode(c.payload!)).toBe(files[c.args[0]]);
  });
});
