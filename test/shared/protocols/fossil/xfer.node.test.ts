// The xfer server against the real fossil 2.21 client: clone, commit with
// autosync, pull, sync between two clones, refusals. One server per describe.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { artifactHashes, check, checkins, fossilHome, runFossil } from '../../../e2e/fossil-client.js';
import { cloneOpen, fossil } from './fossil-run.js';
import { startXferServer, type XferServer } from './xfer-server.js';

describe('fossil client against xfer (public repository)', () => {
  let hub: XferServer;
  let home: string;
  let done: () => void;

  beforeAll(async () => {
    hub = await startXferServer({
      users: { alice: { password: 'secret', role: 'write' }, bob: { password: 'pw2', role: 'write' }, rita: { password: 'r', role: 'read' } },
    });
    ({ home, done } = fossilHome('fossil-xfer-'));
  });
  afterAll(async () => {
    await hub?.close();
    done?.();
  });

  it('clones the new (empty) repository like a fossil-new one', async () => {
    const { repo, clone } = await cloneOpen(home, hub.urlFor('alice'), 'a');
    expect(clone.output).not.toMatch(/error/i);
    const cis = checkins(home, repo);
    expect(cis).toHaveLength(1);
    expect(cis[0].comment).toBe('initial empty check-in');
    expect(cis[0].hash).toHaveLength(64);
    expect(cis[0].hash).toBe(hub.received[0].hash);
    // Project code, name and hash policy came across.
    const info = check(runFossil(home, ['info', '-R', repo]), 'info').stdout;
    expect(info).toContain(hub.projectCode);
    const cfg = check(runFossil(home, ['sql', '-R', repo, "SELECT name||'='||value FROM config WHERE name IN ('project-name','hash-policy') ORDER BY name"]), 'sql').stdout;
    expect(cfg).toContain('hash-policy=2');
    expect(cfg).toContain('project-name=test-project');
    expect(check(runFossil(home, ['test-integrity', '-R', repo]), 'integrity').output).toMatch(/0 errors/);
  });

  it('commits with autosync in one clone and pulls it into a second', async () => {
    const a = join(home, 'a');
    writeFileSync(join(a, 'hello.txt'), 'hello fossil\n');
    check(runFossil(home, ['add', 'hello.txt'], a), 'add');
    const ci = await fossil(home, ['commit', '-m', 'first file'], a);
    expect(ci.output).not.toMatch(/Error|server says/);
    const { repo: b } = await cloneOpen(home, hub.urlFor('bob'), 'b');
    expect(checkins(home, b).map((c) => c.comment)).toEqual(['first file', 'initial empty check-in']);
    // A further commit in a, then an explicit pull in b.
    writeFileSync(join(a, 'hello.txt'), 'hello fossil\nsecond line\n');
    await fossil(home, ['commit', '-m', 'second'], a);
    const pull = await fossil(home, ['pull'], join(home, 'b'));
    expect(pull.output).not.toMatch(/Error/);
    expect(checkins(home, b).map((c) => c.comment)).toEqual(['second', 'first file', 'initial empty check-in']);
    expect(artifactHashes(home, b)).toEqual(artifactHashes(home, join(home, 'a.fossil')));
  });

  it('two clones each commit, then fossil sync: both end with both check-ins', async () => {
    const a = join(home, 'a');
    const b = join(home, 'b');
    await fossil(home, ['settings', 'autosync', 'off'], a);
    await fossil(home, ['settings', 'autosync', 'off'], b);
    writeFileSync(join(a, 'from-a.txt'), 'made in a\n');
    await fossil(home, ['add', 'from-a.txt'], a);
    await fossil(home, ['commit', '-m', 'commit in a', '--allow-fork'], a);
    writeFileSync(join(b, 'from-b.txt'), 'made in b\n');
    await fossil(home, ['add', 'from-b.txt'], b);
    await fossil(home, ['commit', '-m', 'commit in b', '--allow-fork'], b);
    const sa = await fossil(home, ['sync'], a);
    expect(sa.output).not.toMatch(/Error/);
    const sb = await fossil(home, ['sync'], b);
    expect(sb.output).not.toMatch(/Error/);
    await fossil(home, ['sync'], a);
    const ra = join(home, 'a.fossil');
    const rb = join(home, 'b.fossil');
    const comments = (r: string) => checkins(home, r).map((c) => c.comment).sort();
    expect(comments(ra)).toContain('commit in b');
    expect(comments(rb)).toContain('commit in a');
    expect(comments(ra)).toEqual(comments(rb));
    expect(artifactHashes(home, ra)).toEqual(artifactHashes(home, rb));
    for (const r of [ra, rb]) expect(check(runFossil(home, ['test-integrity', '-R', r]), 'integrity').output).toMatch(/0 errors/);
    // The hub stored the manifests that arrived as deltas as deltas, and told the crosslink hook.
    const rows = await hub.store.listFrom(1, 1000);
    expect(rows.some((r) => r.format === 'fossil-delta')).toBe(true);
    const manifests = hub.received.filter((x) => x.artifact.type === 'manifest').map((x) => x.artifact.cards.comment);
    expect(manifests).toEqual(expect.arrayContaining(['initial empty check-in', 'first file', 'second', 'commit in a', 'commit in b']));
  });

  it('a read member may pull but gets "pull only" on sync, and "not authorized to write" on push', async () => {
    const { dir } = await cloneOpen(home, hub.urlFor('rita'), 'r');
    await fossil(home, ['settings', 'autosync', 'off'], dir);
    writeFileSync(join(dir, 'r.txt'), 'rita\n');
    await fossil(home, ['add', 'r.txt'], dir);
    await fossil(home, ['commit', '-m', 'by rita'], dir);
    const before = await hub.store.count();
    const push = await fossil(home, ['push'], dir);
    expect(push.output).toMatch(/Error: not authorized to write/);
    const sync = await fossil(home, ['sync'], dir);
    expect(sync.output).not.toMatch(/Error/);
    expect(await hub.store.count()).toBe(before);
    expect(await hub.store.listPhantoms(10)).toEqual([]);
  });

  it('refuses anonymous pushes and wrong passwords, and then serves the next request', async () => {
    const { dir } = await cloneOpen(home, hub.url, 'anon');
    await fossil(home, ['settings', 'autosync', 'off'], dir);
    writeFileSync(join(dir, 'x.txt'), 'anon\n');
    await fossil(home, ['add', 'x.txt'], dir);
    await fossil(home, ['commit', '-m', 'anonymous'], dir);
    const before = await hub.store.count();
    const push = await fossil(home, ['push'], dir);
    expect(push.output).toMatch(/Error: not authorized to write/);
    const wrong = hub.urlFor('alice').replace(':secret@', ':wrong@');
    const bad = await fossil(home, ['pull', wrong], dir);
    expect(bad.output).toMatch(/Error: login failed/);
    const badClone = await fossil(home, ['clone', wrong, join(home, 'never.fossil')], home, false);
    expect(badClone.output).toMatch(/login failed/);
    expect(await hub.store.count()).toBe(before);
    const ok = await fossil(home, ['pull', hub.url], dir);
    expect(ok.output).not.toMatch(/Error/);
  });
});
