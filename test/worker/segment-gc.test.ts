// Garbage collection of unreferenced R2 segments (worker/durable/segment-gc.ts),
// against miniflare's R2 and a Durable Object's SQLite, thresholds overridden.
import { env, runDurableObjectAlarm, runInDurableObject } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { migrateFossil } from '../../worker/durable/fossil-store.js';
import type { RepoObject } from '../../worker/durable/repo.js';
import { collectSegments, GC_INTERVAL_MS, noteGcRepo } from '../../worker/durable/segment-gc.js';

const NOW = { minAgeMs: 0, graceMs: 0 };

function fresh() {
  const repoId = `gc-${crypto.randomUUID()}`;
  return { stub: env.REPO.get(env.REPO.newUniqueId()), repoId, prefix: `repos/${repoId}/segments/` };
}

/** Puts segment `name` in R2. */
async function put(prefix: string, name: string): Promise<void> {
  await env.CONTENT.put(prefix + name, new Uint8Array([1, 2, 3]));
}

const exists = async (prefix: string, name: string) => (await env.CONTENT.head(prefix + name)) !== null;

function intern(storage: DurableObjectStorage, name: string): number {
  storage.sql.exec(`INSERT OR IGNORE INTO segments (name) VALUES (?)`, name);
  return storage.sql.exec<{ seq: number }>(`SELECT seq FROM segments WHERE name = ?`, name).one().seq;
}

/** An object index row naming segment `name`. */
function refer(storage: DurableObjectStorage, name: string, id = crypto.randomUUID()): void {
  storage.sql.exec(
    `INSERT INTO objects (id, kind, size, segment, rec_offset, rec_length, format, base, depth) VALUES (?, 'blob', 3, ?, 0, 3, 'full', NULL, 0)`,
    id,
    intern(storage, name),
  );
}

const deadRows = (storage: DurableObjectStorage) => storage.sql.exec<{ segment: string }>(`SELECT segment FROM dead_segments ORDER BY segment`).toArray().map((r) => r.segment);

describe('segment gc', () => {
  it('records an unreferenced segment on one pass and deletes it on the next; a referenced one stays', async () => {
    const { stub, prefix } = fresh();
    await put(prefix, 'dead');
    await put(prefix, 'live');
    await runInDurableObject(stub, async (_i: RepoObject, state) => {
      refer(state.storage, 'live');
      // Interned but no row names it any more (as after a relocation): still dead.
      intern(state.storage, 'dead');
      const first = await collectSegments(state.storage, env.CONTENT, prefix, NOW, Date.now());
      expect(first).toEqual({ listed: 2, recorded: 1, deleted: 0 });
      expect(deadRows(state.storage)).toEqual(['dead']);
      expect(await exists(prefix, 'dead')).toBe(true);
      const second = await collectSegments(state.storage, env.CONTENT, prefix, NOW, Date.now() + 1);
      expect(second).toEqual({ listed: 2, recorded: 0, deleted: 1 });
      expect(await exists(prefix, 'dead')).toBe(false);
      expect(await exists(prefix, 'live')).toBe(true);
      expect(deadRows(state.storage)).toEqual([]);
      for (let i = 0; i < 3; i++) await collectSegments(state.storage, env.CONTENT, prefix, NOW, Date.now() + 2 + i);
      expect(await exists(prefix, 'live')).toBe(true);
    });
  });

  it('judges a segment\'s pieces by the segment: a live one\'s stay, a dead one\'s and an unfinished writer\'s go', async () => {
    const { stub, prefix } = fresh();
    for (const n of ['live', 'live/0', 'live/1', 'dead', 'dead/0', 'unfinished/0', 'unfinished/1']) await put(prefix, n);
    await runInDurableObject(stub, async (_i: RepoObject, state) => {
      refer(state.storage, 'live');
      expect(await collectSegments(state.storage, env.CONTENT, prefix, NOW, Date.now())).toEqual({ listed: 7, recorded: 2, deleted: 0 });
      expect(deadRows(state.storage)).toEqual(['dead', 'unfinished']);
      expect(await collectSegments(state.storage, env.CONTENT, prefix, NOW, Date.now() + 1)).toEqual({ listed: 7, recorded: 0, deleted: 4 });
      expect((await env.CONTENT.list({ prefix })).objects.map((o) => o.key.slice(prefix.length))).toEqual(['live', 'live/0', 'live/1']);
      expect(deadRows(state.storage)).toEqual([]);
    });
  });

  it('goes through the listing page by page', async () => {
    const { stub, prefix } = fresh();
    const names = Array.from({ length: 7 }, (_, i) => `s${i}`);
    for (const n of names) await put(prefix, n);
    await runInDurableObject(stub, async (_i: RepoObject, state) => {
      names.forEach((n, i) => i % 2 === 0 && refer(state.storage, n));
      let pages = 0;
      const bucket = { list: (o: R2ListOptions) => (pages++, env.CONTENT.list(o)), delete: (k: string[]) => env.CONTENT.delete(k) } as unknown as R2Bucket;
      expect(await collectSegments(state.storage, bucket, prefix, NOW, Date.now(), 2)).toEqual({ listed: 7, recorded: 3, deleted: 0 });
      expect(pages).toBe(4);
      expect(await collectSegments(state.storage, bucket, prefix, NOW, Date.now() + 1, 2)).toEqual({ listed: 7, recorded: 0, deleted: 3 });
      for (const [i, n] of names.entries()) expect(await exists(prefix, n)).toBe(i % 2 === 0);
    });
  });

  it('deletes only after the grace time, and never what was uploaded less than the minimum age ago', async () => {
    const { stub, prefix } = fresh();
    await put(prefix, 'young');
    await runInDurableObject(stub, async (_i: RepoObject, state) => {
      const t = Date.now();
      const young = { minAgeMs: 3600_000, graceMs: 0 };
      for (let i = 0; i < 3; i++) expect(await collectSegments(state.storage, env.CONTENT, prefix, young, t + i)).toEqual({ listed: 1, recorded: 0, deleted: 0 });
      expect(await exists(prefix, 'young')).toBe(true);
      const grace = { minAgeMs: 0, graceMs: 1000 };
      expect((await collectSegments(state.storage, env.CONTENT, prefix, grace, t)).recorded).toBe(1);
      expect((await collectSegments(state.storage, env.CONTENT, prefix, grace, t + 999)).deleted).toBe(0);
      expect(await exists(prefix, 'young')).toBe(true);
      expect((await collectSegments(state.storage, env.CONTENT, prefix, grace, t + 1000)).deleted).toBe(1);
      expect(await exists(prefix, 'young')).toBe(false);
    });
  });

  it('keeps a segment referenced again between the passes, and forgets its record', async () => {
    const { stub, prefix } = fresh();
    await put(prefix, 'again');
    await runInDurableObject(stub, async (_i: RepoObject, state) => {
      await collectSegments(state.storage, env.CONTENT, prefix, NOW, Date.now());
      expect(deadRows(state.storage)).toEqual(['again']);
      // A push's stage row (a push in flight) counts as a reference.
      state.storage.sql.exec(
        `INSERT INTO push_stage (push, seq, id, kind, size, segment, rec_offset, rec_length, format, base, depth) VALUES (1, 0, 'x', 'blob', 3, ?, 0, 3, 'full', NULL, 0)`,
        intern(state.storage, 'again'),
      );
      expect(await collectSegments(state.storage, env.CONTENT, prefix, NOW, Date.now() + 1)).toEqual({ listed: 1, recorded: 0, deleted: 0 });
      expect(await exists(prefix, 'again')).toBe(true);
      expect(deadRows(state.storage)).toEqual([]);
    });
  });

  it('counts the fossil tables as references in a fossil repository', async () => {
    const { stub, prefix } = fresh();
    for (const n of ['blob', 'pending', 'uv', 'none']) await put(prefix, n);
    await runInDurableObject(stub, async (_i: RepoObject, state) => {
      const s = state.storage;
      migrateFossil(s);
      s.sql.exec(
        `INSERT INTO fossil_blob (hash, size, segment, rec_offset, rec_length, rec_size, base, depth, private) VALUES ('h1', 3, ?, 0, 3, 3, NULL, 0, 0)`,
        intern(s, 'blob'),
      );
      s.sql.exec(`INSERT INTO fossil_pending (hash, base, size, segment, rec_offset, rec_length, rec_size, private) VALUES ('h2', 'h1', 3, ?, 0, 3, 3, 0)`, intern(s, 'pending'));
      s.sql.exec(`INSERT INTO fossil_unversioned (name, mtime, hash, size, segment, rec_offset, rec_length) VALUES ('f', 1, 'h3', 3, ?, 0, 3)`, intern(s, 'uv'));
      await collectSegments(s, env.CONTENT, prefix, NOW, Date.now());
      expect(deadRows(s)).toEqual(['none']);
      expect((await collectSegments(s, env.CONTENT, prefix, NOW, Date.now() + 1)).deleted).toBe(1);
      for (const n of ['blob', 'pending', 'uv']) expect(await exists(prefix, n)).toBe(true);
      expect(await exists(prefix, 'none')).toBe(false);
    });
  });

  it('runs from the alarm once due, keeps fresh segments, and leaves a git repository without fossil tables', async () => {
    const { stub, repoId, prefix } = fresh();
    await put(prefix, 'fresh');
    await runInDurableObject(stub, async (_i: RepoObject, state) => {
      noteGcRepo(state.storage, repoId, 0);
      state.storage.sql.exec(`UPDATE segment_gc SET last = 0`);
      await state.storage.setAlarm(Date.now() + 3600_000);
    });
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    await runInDurableObject(stub, async (_i: RepoObject, state) => {
      expect(state.storage.sql.exec<{ last: number }>(`SELECT last FROM segment_gc`).one().last).toBeGreaterThan(0);
      // Uploaded just now: not even recorded, so nothing waits and the alarm stays off until the next request.
      expect(deadRows(state.storage)).toEqual([]);
      expect(await state.storage.getAlarm()).toBeNull();
      expect(state.storage.sql.exec(`SELECT 1 FROM sqlite_master WHERE name = 'fossil_blob'`).toArray()).toEqual([]);
    });
    expect(await exists(prefix, 'fresh')).toBe(true);
  });

  it('a request records the repository id and arms the alarm for the first pass, without moving an alarm already set', async () => {
    const { stub, repoId } = fresh();
    const t = Date.now();
    const res = await stub.fetch('https://repo/info/refs?service=git-upload-pack', { headers: { 'x-hub-repo-id': repoId } });
    await res.arrayBuffer();
    expect(res.status).toBe(200);
    await runInDurableObject(stub, async (_i: RepoObject, state) => {
      expect(state.storage.sql.exec<{ repo: string }>(`SELECT repo FROM segment_gc`).one().repo).toBe(repoId);
      const at = (await state.storage.getAlarm())!;
      expect(at).toBeGreaterThanOrEqual(t + GC_INTERVAL_MS);
      await state.storage.setAlarm(t + 5000);
    });
    await (await stub.fetch('https://repo/info/refs?service=git-upload-pack', { headers: { 'x-hub-repo-id': repoId } })).arrayBuffer();
    await runInDurableObject(stub, async (_i: RepoObject, state) => expect(await state.storage.getAlarm()).toBe(t + 5000));
  });
});
