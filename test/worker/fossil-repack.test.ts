// The repack of a fossil repository in its Durable Object (fossil-repack.ts):
// slices bounded in time that resume where they stopped, a failing step that
// is logged and changes nothing stored, and the alarm that runs it.
import { env, runDurableObjectAlarm, runInDurableObject } from 'cloudflare:test';
import { describe, expect, it, vi } from 'vitest';
import { purePrimitives } from '../../shared/core/primitives.js';
import { createFossilDelta } from '../../shared/delta/fossil.js';
import { ArtifactReader, RecordSink, type FossilRepo } from '../../shared/protocols/fossil/repo.js';
import type { FossilRowInput } from '../../shared/storage/fossil.js';
import { MemorySegmentStore } from '../../shared/storage/memory.js';
import { localFossilStore, migrateFossil, SqlFossilStore } from '../../worker/durable/fossil-store.js';
import { QUIET_MS, RELEASE_MS, repackDue, repackFossil, runRepackAlarm, scheduleRepack } from '../../worker/durable/fossil-repack.js';
import type { RepoObject } from '../../worker/durable/repo.js';
import { nativePrimitives } from '../../worker/primitives.js';

const hashOf = (n: number) => n.toString(16).padStart(40, '0');
const version = (i: number) => new TextEncoder().encode(`${'a line of a file that changes a little\n'.repeat(50)}version ${i}\n`);
const N = 30;

/** N versions as a push leaves them (each a delta of the previous), linked as check-ins (plink). */
async function pushed(storage: DurableObjectStorage, segments: MemorySegmentStore, primitives = purePrimitives): Promise<FossilRepo> {
  const repo: FossilRepo = { store: localFossilStore(new SqlFossilStore(storage)), segments, primitives };
  const sink = new RecordSink(repo);
  const rows: FossilRowInput[] = [];
  for (let i = 0; i < N; i++) {
    const text = version(i);
    const rec = i === 0 ? text : createFossilDelta(version(i - 1), text);
    const at = await sink.appendDeflated(rec);
    rows.push({ hash: hashOf(i), size: text.length, ...at, recordSize: rec.length, format: i === 0 ? 'full' : 'fossil-delta', base: i === 0 ? null : hashOf(i - 1), private: false });
  }
  await sink.finish();
  await repo.store.commit({ rows });
  for (let i = 1; i < N; i++) storage.sql.exec(`INSERT INTO fossil_plink (pid, cid, isprim, mtime) VALUES (?, ?, 1, ?)`, hashOf(i - 1), hashOf(i), i);
  return repo;
}

async function expectTexts(repo: FossilRepo): Promise<void> {
  const reader = new ArtifactReader(repo, 1 << 20);
  for (let i = 0; i < N; i++) expect(await reader.read(hashOf(i))).toEqual(version(i));
}

/** A new DO with the fossil tables (created on a fossil repository's first fossil call). */
async function fresh(): Promise<DurableObjectStub<RepoObject>> {
  const stub = env.REPO.get(env.REPO.newUniqueId());
  await runInDurableObject(stub, (_i: RepoObject, state) => migrateFossil(state.storage));
  return stub;
}

describe('fossil repack', () => {
  it('works in time-bounded slices that resume where they stopped, to the same result', async () => {
    await runInDurableObject(await fresh(), async (_i: RepoObject, state) => {
      const repo = await pushed(state.storage, new MemorySegmentStore());
      // A clock that moves 10 ms per reading: a 25 ms slice gets through a few pairs only.
      let t = 0;
      const now = () => (t += 10);
      let slices = 0;
      for (let more = true; more; slices++) {
        const r = await repackFossil(state.storage, repo, 25, now);
        more = r.more;
        expect(slices).toBeLessThan(N);
      }
      expect(slices).toBeGreaterThan(2);
      expect(repackDue(state.storage)).toBe(false);
      const rows = await repo.store.rows(Array.from({ length: N }, (_, i) => hashOf(i)));
      // Older versions are deltas of the next newer one; the newest is full.
      for (let i = 0; i < N - 1; i++) expect(rows[i]).toMatchObject({ format: 'fossil-delta', base: hashOf(i + 1) });
      expect(rows[N - 1]).toMatchObject({ format: 'full', depth: 0 });
      // Then compacted: every record in one segment, in seq order (a clone reads them as one range).
      const listed = await repo.store.listFrom(1, 100);
      expect(new Set(listed.map((r) => r.segment)).size).toBe(1);
      listed.slice(1).forEach((r, i) => expect(r.offset).toBe(listed[i].offset + listed[i].length));
      await expectTexts(repo);
    });
  });

  it('on node:zlib, as the Worker runs it (records freed once written, deltas once applied), leaves every text whole', async () => {
    await runInDurableObject(await fresh(), async (_i: RepoObject, state) => {
      const repo = await pushed(state.storage, new MemorySegmentStore(), nativePrimitives);
      for (let more = true; more; ) more = (await repackFossil(state.storage, repo, 60_000)).more;
      const rows = await repo.store.rows(Array.from({ length: N }, (_, i) => hashOf(i)));
      for (let i = 0; i < N - 1; i++) expect(rows[i]).toMatchObject({ format: 'fossil-delta', base: hashOf(i + 1) });
      expect(rows[N - 1]).toMatchObject({ format: 'full', depth: 0 });
      await expectTexts(repo);
    });
  });

  it('goes on past pairs it keeps as they are (a slice cut short resumes with the older artifacts)', async () => {
    await runInDurableObject(await fresh(), async (_i: RepoObject, state) => {
      const repo: FossilRepo = { store: localFossilStore(new SqlFossilStore(state.storage)), segments: new MemorySegmentStore(), primitives: purePrimitives };
      const sink = new RecordSink(repo);
      // Unrelated texts: every pair is taken up, and its delta refused (not a quarter smaller).
      const texts = Array.from({ length: 6 }, () => crypto.getRandomValues(new Uint8Array(400)));
      const rows: FossilRowInput[] = [];
      for (let i = 0; i < texts.length; i++) rows.push({ hash: hashOf(i), size: 400, ...(await sink.appendDeflated(texts[i])), recordSize: 400, format: 'full', base: null, private: false });
      await sink.finish();
      await repo.store.commit({ rows });
      for (let i = 1; i < texts.length; i++) state.storage.sql.exec(`INSERT INTO fossil_plink (pid, cid, isprim, mtime) VALUES (?, ?, 1, ?)`, hashOf(i - 1), hashOf(i), i);
      let t = 0;
      const now = () => (t += 10);
      let slices = 0;
      for (let more = true; more; slices++) {
        more = (await repackFossil(state.storage, repo, 25, now)).more;
        expect(slices).toBeLessThan(texts.length);
      }
      expect(repackDue(state.storage)).toBe(false);
      const after = await repo.store.rows(texts.map((_, i) => hashOf(i)));
      expect(after.every((r) => r!.format === 'full')).toBe(true);
      // Nothing changed, so nothing was copied: the records already read as one range.
      expect(after.map((r) => r!.segment)).toEqual(rows.map((r) => r.segment));
    });
  });

  it('logs a failing step and moves on; nothing stored changes', async () => {
    await runInDurableObject(await fresh(), async (_i: RepoObject, state) => {
      const segments = new MemorySegmentStore();
      const repo = await pushed(state.storage, segments);
      const before = await repo.store.listFrom(1, 100);
      const broken: FossilRepo = { ...repo, segments: Object.assign(Object.create(segments), { readRange: () => Promise.reject(new Error('R2 is down')) }) };
      const logged = vi.spyOn(console, 'error').mockImplementation(() => undefined);
      try {
        const r = await repackFossil(state.storage, broken, 10_000);
        expect(r).toMatchObject({ deltified: 0, more: false });
        expect(logged).toHaveBeenCalled();
      } finally {
        logged.mockRestore();
      }
      expect(await repo.store.listFrom(1, 100)).toEqual(before);
      expect(repackDue(state.storage)).toBe(false);
      await expectTexts(repo);
    });
  });

  it('is armed only when work waits, and an alarm with nothing (or an unknown repository) to do ends quietly', async () => {
    const stub = await fresh();
    await runInDurableObject(stub, async (_i: RepoObject, state) => {
      await scheduleRepack(state.storage, 'nothing-here');
      expect(await state.storage.getAlarm()).toBeNull();
      await pushed(state.storage, new MemorySegmentStore());
      await scheduleRepack(state.storage, `test-${crypto.randomUUID()}`);
      expect(await state.storage.getAlarm()).not.toBeNull();
    });
    // Right after a request the alarm gives way: it re-arms itself for QUIET_MS later and does nothing.
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    await runInDurableObject(stub, async (_i: RepoObject, state) => {
      expect(repackDue(state.storage)).toBe(true);
      expect(await state.storage.getAlarm()).not.toBeNull();
    });
    // The R2 prefix holds none of these records (they are in memory): every step fails, is logged and skipped.
    const logged = vi.spyOn(console, 'error').mockImplementation(() => undefined);
    try {
      // Once quiet, the alarm (fired by the runtime meanwhile, or here) does the work.
      await new Promise((r) => setTimeout(r, QUIET_MS + 50));
      await runDurableObjectAlarm(stub);
      expect(logged).toHaveBeenCalled();
    } finally {
      logged.mockRestore();
    }
    await runInDurableObject(stub, (_i: RepoObject, state) => expect(repackDue(state.storage)).toBe(false));
  });

  it('never moves the alarm while its handler runs (workerd would cancel the handler mid-slice)', async () => {
    await runInDurableObject(await fresh(), async (_i: RepoObject, state) => {
      const repo = await pushed(state.storage, new MemorySegmentStore());
      const setAlarm = vi.fn();
      const host = { sql: state.storage.sql, transactionSync: state.storage.transactionSync.bind(state.storage), setAlarm };
      const repoId = `test-${crypto.randomUUID()}`;
      host.sql.exec(`INSERT INTO fossil_repack_repo (id) VALUES (?)`, repoId);
      let during = -1;
      const t = Date.now();
      await runRepackAlarm(host, () => repo, async () => {
        // A sync request ends while a slice runs (one that leaves work): it must not touch the alarm.
        await scheduleRepack(host, repoId);
        during = setAlarm.mock.calls.length;
        return { artifacts: 0, deltified: 0, more: true } as never;
      });
      expect(during).toBe(0);
      // The alarm saw that request and re-armed itself for QUIET_MS after it, instead of working on.
      expect(setAlarm).toHaveBeenCalledTimes(1);
      expect(setAlarm.mock.calls[0][0]).toBeGreaterThanOrEqual(t + QUIET_MS);
      expect(repackDue(host)).toBe(true);
      // Once the alarm has returned, a request arms it again.
      await scheduleRepack(host, repoId);
      expect(setAlarm).toHaveBeenCalledTimes(2);
    });
  });

  it('lets go of what the host kept for the push only once RELEASE_MS have passed since the last request', async () => {
    await runInDurableObject(await fresh(), async (_i: RepoObject, state) => {
      const repo = await pushed(state.storage, new MemorySegmentStore());
      const host = { sql: state.storage.sql, transactionSync: state.storage.transactionSync.bind(state.storage), setAlarm: vi.fn() };
      const repoId = `test-${crypto.randomUUID()}`;
      await scheduleRepack(host, repoId);
      const release = vi.fn();
      const slice = vi.fn(async () => ({ artifacts: 0, deltified: 0, compacted: 0, more: false }) as never);
      const t = Date.now();
      const clock = vi.spyOn(Date, 'now');
      try {
        // Quiet, but the push may go on: a slice runs, the memo stays.
        clock.mockReturnValue(t + QUIET_MS + 10);
        await runRepackAlarm(host, () => repo, slice, release);
        expect(slice).toHaveBeenCalledTimes(1);
        expect(release).not.toHaveBeenCalled();
        clock.mockReturnValue(t + RELEASE_MS + 10);
        await runRepackAlarm(host, () => repo, slice, release);
        expect(slice).toHaveBeenCalledTimes(2);
        expect(release).toHaveBeenCalledTimes(1);
      } finally {
        clock.mockRestore();
      }
    });
  });
  it('goes on with the same repo (and its caches) in the next alarm only when the last one ran out of time', async () => {
    await runInDurableObject(await fresh(), async (_i: RepoObject, state) => {
      const repo = await pushed(state.storage, new MemorySegmentStore());
      const host = { sql: state.storage.sql, transactionSync: state.storage.transactionSync.bind(state.storage), setAlarm: vi.fn() };
      const repoId = `test-${crypto.randomUUID()}`;
      await scheduleRepack(host, repoId);
      const repoOf = vi.fn(() => ({ ...repo }));
      const used: FossilRepo[] = [];
      const t = Date.now();
      const clock = vi.spyOn(Date, 'now').mockReturnValue(t + QUIET_MS + 10);
      // Each slice notes the repo it was given (fossilRepackAlarm's repoOf makes a new one per call).
      const slice = (after: () => void, more: boolean) => async () => {
        used.push(repoOf.mock.results.at(-1)!.value);
        after();
        return { artifacts: 0, deltified: 0, compacted: 0, more } as never;
      };
      try {
        // Out of time (a minute later): the next alarm gets the same repo.
        await runRepackAlarm(host, repoOf, slice(() => clock.mockReturnValue(t + 60_000), true));
        await runRepackAlarm(host, repoOf, slice(() => scheduleRepack(host, repoId), true));
        expect(repoOf).toHaveBeenCalledTimes(1);
        // Stopped by a request: a new one (the old one's caches are not kept beside a push).
        clock.mockReturnValue(t + 60_000 + QUIET_MS + 10);
        await runRepackAlarm(host, repoOf, slice(() => undefined, false));
        expect(repoOf).toHaveBeenCalledTimes(2);
        // Done: let go too.
        await runRepackAlarm(host, repoOf, slice(() => undefined, false));
        expect(repoOf).toHaveBeenCalledTimes(3);
        expect(used[0]).toBe(used[1]);
        expect(used[2]).not.toBe(used[1]);
      } finally {
        clock.mockRestore();
      }
    });
  });
});
