// Private repositories and private artifacts, and unversioned files, with the
// real fossil client against the xfer server.
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { artifactHashes, fossilHome } from '../../../e2e/fossil-client.js';
import { cloneOpen, fossil } from './fossil-run.js';
import { startXferServer, type XferServer } from './xfer-server.js';

describe('private repository and private artifacts', () => {
  let hub: XferServer;
  let home: string;
  let done: () => void;

  beforeAll(async () => {
    hub = await startXferServer({
      public: false,
      users: { boss: { password: 'b0ss', role: 'admin' }, dev: { password: 'd3v', role: 'write' } },
    });
    ({ home, done } = fossilHome('fossil-priv-'));
  });
  afterAll(async () => {
    await hub?.close();
    done?.();
  });

  it('refuses an anonymous clone (after the push card) and lets a member clone with a login', async () => {
    const anon = await fossil(home, ['clone', hub.url, join(home, 'anon.fossil')], home, false);
    expect(anon.output).toMatch(/not authorized to clone/);
    const { clone } = await cloneOpen(home, hub.urlFor('dev'), 'dev');
    expect(clone.output).not.toMatch(/Error/);
  });

  it('never sends private artifacts to users without x, sends them with --private to those with x', async () => {
    const { dir } = await cloneOpen(home, hub.urlFor('boss'), 'boss');
    await fossil(home, ['settings', 'autosync', 'off'], dir);
    writeFileSync(join(dir, 'secret.txt'), 'top secret content\n');
    await fossil(home, ['add', 'secret.txt'], dir);
    await fossil(home, ['commit', '-m', 'private work', '--private'], dir);
    const privHashes = artifactHashes(home, join(home, 'boss.fossil')).filter((h) => !artifactHashes(home, join(home, 'boss.fossil'), false).includes(h));
    expect(privHashes.length).toBeGreaterThanOrEqual(2);
    const push = await fossil(home, ['push', '--private'], dir);
    expect(push.output).not.toMatch(/Error/);
    expect(await hub.store.states(privHashes)).toEqual(privHashes.map(() => 'private'));
    // A write member without x: private artifacts never reach it.
    await fossil(home, ['pull'], join(home, 'dev'));
    const devRepo = join(home, 'dev.fossil');
    for (const h of privHashes) expect(artifactHashes(home, devRepo)).not.toContain(h);
    const devPriv = await fossil(home, ['pull', '--private'], join(home, 'dev'), false);
    expect(devPriv.output).toMatch(/not authorized to sync private content/);
    const { repo: fresh } = await cloneOpen(home, hub.urlFor('dev'), 'dev2');
    for (const h of privHashes) expect(artifactHashes(home, fresh)).not.toContain(h);
    // The admin (x) gets them with --private.
    const { repo: bossClone } = await cloneOpen(home, hub.urlFor('boss'), 'boss2', ['--private']);
    for (const h of privHashes) expect(artifactHashes(home, bossClone)).toContain(h);
    // An x user's plain clone lacks them; `pull --private` (no --verily) brings them,
    // because the pull reply announces private artifacts as `igot HASH 1` as fossil server does.
    const { dir: plainDir, repo: plain } = await cloneOpen(home, hub.urlFor('boss'), 'boss3');
    for (const h of privHashes) expect(artifactHashes(home, plain)).not.toContain(h);
    const pullPriv = await fossil(home, ['pull', '--private'], plainDir);
    expect(pullPriv.output).not.toMatch(/Error/);
    const afterPull = artifactHashes(home, plain);
    for (const h of privHashes) expect(afterPull).toContain(h);
    expect(artifactHashes(home, plain, false)).toEqual(artifactHashes(home, fresh));
  });
});

describe('unversioned files', () => {
  let hub: XferServer;
  let home: string;
  let done: () => void;

  beforeAll(async () => {
    hub = await startXferServer({ users: { dev: { password: 'd3v', role: 'write' }, reader: { password: 'r', role: 'read' } } });
    ({ home, done } = fossilHome('fossil-uv-'));
  });
  afterAll(async () => {
    await hub?.close();
    done?.();
  });

  it('round-trips content, mtimes and deletions between two clones', async () => {
    const { dir: a } = await cloneOpen(home, hub.urlFor('dev'), 'a');
    writeFileSync(join(a, 'doc.txt'), 'unversioned document\n');
    writeFileSync(join(a, 'bin.dat'), Buffer.from([0, 1, 2, 255, 10, 13, 0]));
    await fossil(home, ['uv', 'add', 'doc.txt', 'bin.dat'], a);
    const up = await fossil(home, ['uv', 'sync'], a);
    expect(up.output).not.toMatch(/Error/);
    const stored = await hub.store.listUnversioned();
    expect(stored.map((e) => e.name)).toEqual(['bin.dat', 'doc.txt']);
    const { dir: b } = await cloneOpen(home, hub.urlFor('reader'), 'b');
    await fossil(home, ['uv', 'sync'], b);
    expect((await fossil(home, ['uv', 'cat', 'doc.txt'], b)).stdout).toBe('unversioned document\n');
    const list = (d: string) => fossil(home, ['uv', 'list'], d).then((r) => r.stdout.trim().split('\n').sort());
    expect(await list(b)).toEqual(await list(a));
    const mtimes = (repo: string) =>
      fossil(home, ['sql', '-R', repo, "SELECT name||' '||mtime||' '||coalesce(hash,'-') FROM unversioned ORDER BY name"]).then((r) => r.stdout);
    expect(await mtimes(join(home, 'b.fossil'))).toBe(await mtimes(join(home, 'a.fossil')));
    // A reader cannot push: its changes stay local (fossil: uv-pull-only).
    writeFileSync(join(b, 'mine.txt'), 'reader file\n');
    await fossil(home, ['uv', 'add', 'mine.txt'], b);
    await fossil(home, ['uv', 'sync'], b);
    expect((await hub.store.listUnversioned()).map((e) => e.name)).not.toContain('mine.txt');
    // Deletion travels. uv mtimes are whole seconds and on a tie the larger hash wins
    // (fossil's unversioned_status), so a deletion in the same second as the add loses: wait.
    await new Promise((r) => setTimeout(r, 1100));
    await fossil(home, ['uv', 'rm', 'doc.txt'], a);
    await fossil(home, ['uv', 'sync'], a);
    expect((await hub.store.getUnversioned('doc.txt'))?.hash).toBeNull();
    await fossil(home, ['uv', 'sync'], b);
    expect((await list(b)).join('\n')).not.toContain('doc.txt');
    expect((await fossil(home, ['uv', 'cat', 'bin.dat'], b)).stdout.length).toBeGreaterThan(0);
    expect(statSync(join(a, 'bin.dat')).size).toBe(7);
    void readFileSync;
  });
});
