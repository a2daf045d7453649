// A history of a few hundred artifacts (a generated git repository imported
// with `fossil import --git`) pushed to the xfer server and cloned back in
// small batches; clusters keep the igot lists short.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { artifactHashes, check, checkins, fossilEnv, fossilHome, runFossil } from '../../../e2e/fossil-client.js';
import { generateHistory } from '../../../fixtures/git-history.js';
import { fossil, rememberPassword } from './fossil-run.js';
import { startXferServer, type XferServer } from './xfer-server.js';

describe('a few hundred artifacts: push, pull with clusters, batched clone', () => {
  let hub: XferServer;
  let home: string;
  let done: () => void;
  let imported: string;

  beforeAll(async () => {
    // A small reply budget makes the clone take several clone_seqno rounds.
    hub = await startXferServer({ users: { dev: { password: 'pw', role: 'write' } }, limits: { replyBudget: 60_000 } });
    ({ home, done } = fossilHome('fossil-hist-'));
    const git = join(home, 'src.git');
    await generateHistory(git, { seed: 7, commits: 60, files: 25, textLines: 30, binaryFiles: 1, binarySize: 4000, topics: 3, tags: 2 });
    imported = join(home, 'imported.fossil');
    const exp = spawnSync('git', ['fast-export', '--all'], { cwd: git, maxBuffer: 256 * 1024 * 1024 });
    expect(exp.status).toBe(0);
    const imp = spawnSync('fossil', ['import', '--git', imported], { input: exp.stdout, env: fossilEnv(home), maxBuffer: 64 * 1024 * 1024 });
    expect(imp.status, String(imp.stderr)).toBe(0);
    // The hub's repository was made first; the import joins its project.
    check(runFossil(home, ['sql', '-R', imported, `UPDATE config SET value='${hub.projectCode}' WHERE name='project-code'`]), 'set project code');
  }, 120_000);
  afterAll(async () => {
    await hub?.close();
    done?.();
  });

  it('pushes everything, makes clusters on pull, clones back check-in for check-in', async () => {
    const src = artifactHashes(home, imported);
    expect(src.length).toBeGreaterThan(200);
    const push = await fossil(home, ['push', hub.urlFor('dev'), '-R', imported]);
    expect(push.output).not.toMatch(/Error/);
    rememberPassword(home, imported, hub.urlFor('dev'));
    expect(await hub.store.states(src)).toEqual(src.map(() => 'public'));
    expect(await hub.store.listPhantoms(10)).toEqual([]);
    // Pushed deltas were kept as deltas (fossil import stores many; the client sends them as deltas).
    const rows = await hub.store.listFrom(1, 100_000);
    const deltas = rows.filter((r) => r.format === 'fossil-delta').length;
    expect(deltas).toBeGreaterThan(0);
    expect(Math.max(...rows.map((r) => r.depth))).toBeLessThanOrEqual(50);

    // A pull finds > 100 unclustered artifacts and clusters them.
    const pull = await fossil(home, ['pull', '-R', imported]);
    expect(pull.output).not.toMatch(/Error/);
    const clusters = hub.received.filter((r) => r.artifact.type === 'cluster');
    expect(clusters.length).toBeGreaterThan(0);
    expect((await hub.store.listUnclustered(1000)).length).toBeLessThan(10);
    // The pull brought the clusters (and the hub's initial check-in) into the imported repository.
    const after = artifactHashes(home, imported);
    for (const c of clusters) expect(after).toContain(c.hash);

    const cloned = join(home, 'clone.fossil');
    const clone = await fossil(home, ['clone', hub.urlFor('dev'), cloned]);
    expect(clone.output).not.toMatch(/Error/);
    expect(hub.requests).toBeGreaterThan(5);
    expect(artifactHashes(home, cloned)).toEqual(artifactHashes(home, imported));
    const timeline = (r: string) => checkins(home, r).map((c) => `${c.hash} ${c.time} ${c.user} ${c.comment}`);
    expect(timeline(cloned)).toEqual(timeline(imported));
    for (const r of [imported, cloned]) expect(check(runFossil(home, ['test-integrity', '-R', r]), 'integrity').output).toMatch(/0 errors/);

    // A no-op sync sends and receives no artifacts and only a short igot list.
    rememberPassword(home, cloned, hub.urlFor('dev'));
    const noop = await fossil(home, ['sync', '-R', cloned]);
    expect(noop.output).toMatch(/received: 0/);
  });
});
