// A generated history (test/fixtures/git-history.ts, converted with
// `git fast-export --all | fossil import --git`) pushed to the hub by the real
// fossil, cloned back, and compared check-in by check-in and artifact by
// artifact, `fossil test-integrity` clean on both sides.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateHistory } from '../fixtures/git-history.js';
import { artifactHashes, check, checkins, fossilEnv, fossilHome, runFossil } from './fossil-client.js';
import { api } from './hub-client.js';
import { startHub, type Hub } from './hub-server.js';

let hub: Hub;
let home: string;
let cleanup: () => void;

const sql = (repo: string, q: string) => check(runFossil(home, ['sql', '-R', repo, q]), 'fossil sql').stdout.trim().replace(/^'|'$/g, '');

/** A whole clone (protocol 3) spoken directly: how many cfile cards are deltas, and how many of those have a base sent after them. */
async function cloneDeltas(url: string): Promise<{ all: number; newer: number }> {
  const sentAt = new Map<string, number>();
  const deltas: { hash: string; base: string }[] = [];
  for (let seq = 1, round = 0; seq !== 0 && round < 100; round++) {
    const post = () => fetch(url, { method: 'POST', headers: { 'content-type': 'application/x-fossil-uncompressed' }, body: `pragma client-version 22100 20230226 192424\nclone 3 ${seq}\n` });
    // wrangler dev may close a kept-alive connection between polls ("other side closed"): one retry on a fresh one.
    const res = await post().catch(post);
    expect(res.status).toBe(200);
    // latin1: one character per byte, so payload lengths index the string.
    const text = Buffer.from(await res.arrayBuffer()).toString('latin1');
    seq = 0;
    for (let at = 0; at < text.length; ) {
      const nl = text.indexOf('\n', at);
      const line = text.slice(at, nl < 0 ? text.length : nl);
      at = nl < 0 ? text.length : nl + 1;
      const args = line.split(' ');
      if (args[0] === 'clone_seqno') seq = Number(args[1]);
      if (args[0] !== 'cfile') continue;
      sentAt.set(args[1], sentAt.size);
      if (args.length === 5) deltas.push({ hash: args[1], base: args[2] });
      at += Number(args[args.length - 1]);
    }
  }
  const newer = deltas.filter((d) => (sentAt.get(d.base) ?? -1) > sentAt.get(d.hash)!).length;
  return { all: deltas.length, newer };
}

beforeAll(async () => {
  hub = await startHub();
  ({ home, done: cleanup } = fossilHome('fossil-history-'));
  expect((await api(hub, 'POST', '/users', { name: 'wanda', password: 'wanda-pw' })).status).toBe(201);
  expect((await api(hub, 'POST', '/repos', { name: 'hist', kind: 'fossil', public: true })).status).toBe(201);
  expect((await api(hub, 'PUT', '/repos/hist/members/wanda', { role: 'write' })).status).toBe(200);
}, 120_000);

afterAll(async () => {
  await hub?.stop();
  cleanup?.();
});

describe('a generated history through the hub', () => {
  it('pushes it whole, clones it back identical, and syncs nothing more', async () => {
    const git = join(home, 'src.git');
    const history = await generateHistory(git, { commits: 150, files: 25, textLines: 30, binaryFiles: 2, binarySize: 20_000, topics: 4, tags: 3 });
    expect(history.commits).toBe(150);
    const src = join(home, 'src.fossil');
    const imported = spawnSync('sh', ['-c', `git -C "${git}" fast-export --all | fossil import --git "${src}"`], { cwd: home, env: fossilEnv(home), encoding: 'utf8' });
    expect(imported.status, imported.stderr).toBe(0);

    // A first push into a new remote: the local repository takes the remote's project code.
    const probe = join(home, 'probe.fossil');
    check(runFossil(home, ['clone', `${hub.url}/hist`, probe]), 'clone of the empty repository');
    const projectCode = sql(probe, `SELECT value FROM config WHERE name = 'project-code'`);
    sql(src, `UPDATE config SET value = '${projectCode}' WHERE name = 'project-code'`);
    const remote = hub.url.replace('http://', 'http://wanda:wanda-pw@') + '/hist';
    const push = check(runFossil(home, ['push', '-R', src, remote], home, 300_000), 'fossil push');
    expect(push.output).not.toMatch(/Error|server says/);

    const back = join(home, 'back.fossil');
    const clone = check(runFossil(home, ['clone', `${hub.url}/hist`, back], home, 300_000), 'fossil clone');
    expect(clone.output).not.toMatch(/Error|unresolved/);

    // Check-in by check-in: same hashes, users, times and comments; the hub adds only its initial check-in.
    const initial = checkins(home, probe);
    expect(initial).toHaveLength(1);
    const theirs = checkins(home, src);
    expect(theirs.length).toBeGreaterThanOrEqual(150);
    expect(checkins(home, back).filter((c) => c.hash !== initial[0].hash)).toEqual(theirs);
    // Artifact by artifact (files, manifests, tags, and the clusters the hub made).
    const mine = new Set(artifactHashes(home, back));
    const missing = artifactHashes(home, src).filter((h) => !mine.has(h));
    expect(missing).toEqual([]);
    for (const repo of [src, back]) expect(check(runFossil(home, ['test-integrity', '-R', repo], home, 300_000), 'test-integrity').output).toMatch(/\b0 errors/);
    // The same tags and branches.
    const tags = (repo: string) => check(runFossil(home, ['tag', 'list', '-R', repo]), 'tag list').stdout;
    expect(tags(back)).toBe(tags(src));

    // Nothing left to push; pulls bring only what the other side made (the hub's clusters, made once >= 100 artifacts are unclustered).
    const again = check(runFossil(home, ['sync', '-R', src, remote]), 'fossil sync');
    expect(again.output).toMatch(/Artifacts sent: 0/);
    expect(again.output).not.toMatch(/Error/);
    expect(check(runFossil(home, ['pull', '-R', back]), 'fossil pull').output).not.toMatch(/Error/);
    // The sync also brought the hub's initial check-in to the source: both now hold exactly the same artifacts.
    expect(artifactHashes(home, src)).toContain(initial[0].hash);
    expect(artifactHashes(home, back)).toEqual(artifactHashes(home, src));
    const clusters = Number(sql(back, `SELECT count(*) FROM tagxref JOIN tag USING (tagid) WHERE tagname = 'cluster'`));
    expect(clusters).toBeGreaterThan(0);

    // The hub repacks what was pushed into fossil's reverse deltas (older versions as deltas of newer
    // ones, in a DO alarm after the push), so a clone copies them as they are. Seen on the wire (the
    // client re-deltifies what it gets, so its own tables would not tell): in the clone's cfile stream,
    // most deltas are against an artifact sent after them. Right after the push part of it may still be
    // the pushed forward deltas: wait for the repack.
    let late = { all: 0, newer: 0 };
    for (let i = 0; i < 30 && !(late.all > 100 && late.newer > late.all * 0.8); i++) {
      if (i > 0) await new Promise((r) => setTimeout(r, 1000));
      late = await cloneDeltas(`${hub.url}/hist`);
    }
    expect(late.all).toBeGreaterThan(100);
    expect(late.newer).toBeGreaterThan(late.all * 0.8);
    // And a clone of it is intact and complete.
    const again2 = join(home, 'again.fossil');
    check(runFossil(home, ['clone', `${hub.url}/hist`, again2], home, 300_000), 'fossil clone');
    expect(check(runFossil(home, ['test-integrity', '-R', again2], home, 300_000), 'test-integrity').output).toMatch(/\b0 errors/);
    expect(artifactHashes(home, again2)).toEqual(artifactHashes(home, src));
  });
});
