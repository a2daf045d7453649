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
});
