/**
 * One Durable Object per repository: the single writer for its refs and object
 * index (SQLite-backed, so ref updates are transactions). Protocol logic lives
 * in shared/; this class adapts its storage. The RPC methods below are thin
 * wrappers over SqlRepoStore returning RpcResult (typed errors as data);
 * Workers call them through `repoStoreFromStub` (client.ts), which gives back
 * the shared/storage interfaces.
 */
import { DurableObject } from 'cloudflare:workers';
import type { ObjectId } from '../../shared/storage/ids.js';
import type { CommitResult, IndexRow, IndexRowInput, ObjectKindReader, ObjectRowsAfterReader, ObjectRowsReader, RepoCommit, RowStager } from '../../shared/storage/object-index.js';
import type { Ref, RefUpdate, RefUpdateOptions, RefUpdateResult, SymbolicRef } from '../../shared/storage/refs.js';
import type { ReachIndex } from '../../shared/storage/reach.js';
import type { Env } from '../env.js';
import { nativePrimitives } from '../primitives.js';
import { R2SegmentStore } from '../storage-r2/segments.js';
import type { RepoStore } from './client.js';
import { DELTA_APPLIERS, handleGitRequest, PeelCache, type GitRepo } from './git-http.js';
import { capture, type RpcResult } from './rpc-result.js';
import { pushActor, receiveHooks } from '../protections.js';
import { migrate, PREBUILD_MIN_ROWS, SCHEMA_VERSION, SqlRepoStore, type SqlHost } from './repo-store.js';
import { migrateFossil } from './fossil-store.js';
import type { RepackHost } from './fossil-repack.js';
import { fossilRepackAlarm, handleFossilRequest, initFossilRepository } from './fossil-xfer.js';
import { noteGcRepo, segmentGcAlarm } from './segment-gc.js';
import { COMPACT_DELAY_MS, compactAfter, compactionPossible, gitCompactAlarm } from './git-compact.js';
import { CACHED_ACCESS_HEADER, RepoAccessCache } from './access.js';
import { addGitEvents, closeOpenEvents, hasEvents, keepEvents, retryDelay, sendEvents, takeEvents } from './push-outbox.js';
import { ContentGuard } from './content-guard.js';
import { fossilErrorReply } from '../routes/fossil.js';

/** R2 keys of a repository's content all start with this (see R2SegmentStore). */
export function repoContentPrefix(repoId: string): string {
  return `repos/${repoId}/`;
}

/** The synchronous SQLite store seen through the async storage interfaces, for code running in the DO. */
export function localRepoStore(s: SqlRepoStore): RepoStore & ReachIndex & RowStager & ObjectKindReader & ObjectRowsReader & ObjectRowsAfterReader {
  return {
    list: async (prefix) => s.listRefs(prefix),
    read: async (name) => s.readRef(name),
    readSymbolic: async (name) => s.readSymbolic(name),
    listSymbolic: async () => s.listSymbolic(),
    update: async (updates, opts) => s.updateRefs(updates, opts),
    setSymbolic: async (name, target) => s.setSymbolic(name, target),
    has: async (ids) => s.has(ids),
    kinds: async (ids) => s.kinds(ids),
    get: async (id) => s.get(id),
    rows: async (ids) => s.rows(ids),
    rowsAfter: async (row, n) => s.rowsAfter(row, n),
    chain: async (id) => s.chain(id),
    putBatch: async (rows) => s.putBatch(rows),
    commit: async (c) => s.commit(c),
    // Stages only inside the DO: a push's rows are written where they are committed.
    openStage: async () => {
      const id = s.openStage();
      return { id, append: async (rows) => s.appendStage(id, rows), row: async (n) => s.stageRow(id, n), drop: async () => s.dropStage(id) };
    },
    // The full-clone shortcut's closure (shared/storage/reach.ts); only served inside the DO.
    reachState: async () => s.reachState(),
    reachStatus: async (ids) => s.reachStatus(ids),
    reachRows: async (ids) => s.reachRows(ids),
    reachMark: async (expect, tips, ids, reset) => s.reachMark(expect, tips, ids, reset),
    // A plan the alarm is building is waited for, not built a second time beside it.
    reachPlan: async (version, blobs) => {
      await s.planSettled();
      return s.reachPlan(version, blobs);
    },
    reachPackDigest: async (key, ofsDelta) => s.reachPackDigest(key, ofsDelta),
    keepReachPackDigest: async (key, ofsDelta, digest) => s.keepReachPackDigest(key, ofsDelta, digest),
    reachOldestCommit: async (key) => s.reachOldestCommit(key),
    keepReachOldestCommit: async (key, time) => s.keepReachOldestCommit(key, time),
  };
}

/**
 * Brings the git schema up to date, at the cost of one SELECT when it already
 * is (every start of an existing repository). A new repository's migrations
 * run in one transaction.
 */
export function ensureGitSchema(host: SqlHost): void {
  try {
    const row = host.sql.exec<{ version: number }>(`SELECT version FROM hub_schema`).toArray()[0];
    if (row?.version === SCHEMA_VERSION) return;
  } catch {
    // no hub_schema yet: a new repository
  }
  host.transactionSync(() => migrate(host));
}

/** Whether this DO holds the fossil tables (a fossil repository's). */
function hasFossilSchema(host: SqlHost): boolean {
  return host.sql.exec(`SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'fossil_schema'`).toArray().length > 0;
}

export class RepoObject extends DurableObject<Env> {
  private readonly store: SqlRepoStore;
  /** Peeled tags of this repository: immutable facts, kept in the DO's SQLite (git_peeled). */
  private readonly peeled = new PeelCache(this.ctx.storage);
  /** Whether the fossil tables were brought up to date since this instance started. */
  private fossilReady = false;
  /** Whether this instance armed the segment collector's alarm (once per instance is enough: the alarm re-arms itself while work waits). */
  private gcArmed = false;
  /** Whether the alarm handler runs: a request must not move the alarm then (workerd would cancel the handler). */
  private inAlarm = false;
  /** A push moved refs since the alarm last looked at git compaction (git-compact.ts) and the kept reach plan. */
  private compactWanted = false;
  /** The repository's D1 row (existence, visibility) for requests the Worker routed on its cache (access.ts). */
  private readonly access: RepoAccessCache;
  /** The last send of the audit outbox to D1 (push-outbox.ts): sends run one after another; true when it emptied the outbox. */
  private sending: Promise<boolean> = Promise.resolve(true);
  /** The alarm's sends of the audit outbox D1 refused in a row (its retries back off: retryDelay). */
  private auditRefused = 0;
  /** The content bucket, its puts refused once the repository is deleted (content-guard.ts). */
  private readonly content: ContentGuard;
  /** The env handed to fossil's code: CONTENT is the guarded bucket. */
  private readonly contentEnv: Env;
  /** The storage handed to fossil's code: its transactions (a round's commits) refused once the repository is deleted. */
  private readonly fossilHost: RepackHost;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.content = new ContentGuard(env.CONTENT);
    this.contentEnv = { ...env, CONTENT: this.content.bucket };
    this.fossilHost = {
      sql: ctx.storage.sql,
      transactionSync: (f) => {
        this.content.assertOpen();
        return ctx.storage.transactionSync(f);
      },
      setAlarm: (at) => ctx.storage.setAlarm(at),
    };
    this.store = new SqlRepoStore(ctx.storage);
    this.access = new RepoAccessCache(env.DB);
    // The git schema is migrated before any request is delivered (synchronous SQL).
    // The fossil tables only for fossil repositories, on their first fossil call (ensureFossil).
    // Stages left in SQLite belong to pushes that died with the previous instance.
    void ctx.blockConcurrencyWhile(async () => {
      ensureGitSchema(ctx.storage);
      this.store.sweepStages();
      // A fossil round's event left open: its round died with the previous instance.
      closeOpenEvents(ctx.storage.sql);
      // Audit events the previous instance did not get into D1: the alarm sends them now.
      if (hasEvents(ctx.storage.sql)) await this.alarmBy(Date.now());
    });
  }

  /**
   * Creates or migrates the fossil tables, once per instance, before any
   * fossil work (sync, init, repack alarm): git repositories never get them.
   * Synchronous, so it completes before the caller's first await.
   */
  private ensureFossil(): void {
    if (this.fossilReady) return;
    migrateFossil(this.ctx.storage);
    this.fossilReady = true;
  }

  /** A fossil request across the repository's delete (its puts refused: content-guard.ts) gets fossil's error card, not a 500. */
  private fossilDeleted(e: unknown): Response {
    if (this.content.closed) return fossilErrorReply('the repository was deleted');
    throw e;
  }

  /**
   * Git smart HTTP, forwarded by the Worker's git route once it has
   * authorized the caller (see git-http.ts for the request shape).
   */
  override async fetch(request: Request): Promise<Response> {
    const repoId = request.headers.get('x-hub-repo-id');
    if (!repoId) return new Response('missing repository id\n', { status: 400 });
    // The Worker routed on its name -> id cache: existence (and for anonymous reads, visibility) is checked here.
    const checking = request.headers.get(CACHED_ACCESS_HEADER);
    const checked = checking === null ? null : await this.access.check(repoId, checking);
    if (checked?.refused) return checked.refused;
    await this.armSegmentGc(repoId);
    if (new URL(request.url).pathname.startsWith('/fossil/')) {
      this.ensureFossil();
      // A streamed reply (a clone round) under way when the repository is deleted is let finish (content-guard.ts).
      const streaming = (sent: Promise<void>) => void sent.finally(this.content.hold());
      try {
        return await handleFossilRequest(request, this.fossilHost, this.contentEnv, undefined, checked?.access, streaming).catch((e: unknown) => this.fossilDeleted(e));
      } finally {
        // A round that stored artifacts wrote its audit event (fossil-xfer.ts).
        if (hasEvents(this.ctx.storage.sql)) this.sendAuditSoon();
      }
    }
    const local = localRepoStore(this.store);
    const hooks = receiveHooks(request);
    const repo: GitRepo = {
      refs: local,
      index: local,
      // A push's audit events go into the outbox in the transaction that moves its refs; none once the repository is deleted.
      committer: hooks
        ? {
            ...local,
            commit: async (c: RepoCommit) => {
              this.content.assertOpen();
              return this.store.commit(c, this.auditOf(c, repoId, pushActor(request)));
            },
          }
        : local,
      segments: new R2SegmentStore(this.content.bucket, repoId),
      primitives: nativePrimitives,
      appliers: DELTA_APPLIERS,
    };
    // Pushes carry the hub's branch protection rules (worker/protections.ts).
    return handleGitRequest(request, repo, this.peeled, hooks && { ...hooks, onApplied: (updates: RefUpdate[]) => this.afterPush(updates) });
  }

  /** What a push's commit tells SqlRepoStore.commit: the outbox gets an event for each ref it moved. */
  private auditOf(c: RepoCommit, repoId: string, actor: string | null): (r: CommitResult) => void {
    return (r) => addGitEvents(this.ctx.storage.sql, repoId, actor, c.refs.filter((_, k) => r.refs[k].status === 'ok'));
  }

  /** After a push's commit, without delaying git's report: its audit events to D1, and compaction. */
  private afterPush(updates: RefUpdate[]): void {
    if (updates.length > 0) this.sendAuditSoon();
    // The push's segments are indexed now: the alarm counts them and compacts if due.
    this.ctx.waitUntil(this.armCompaction().catch((e) => console.error(`git compaction not scheduled: ${(e as Error).message}`)));
  }

  /**
   * Sends the audit outbox to D1 once the send under way (if any) ends: each
   * send takes what waits when it starts. Resolves to whether the outbox is
   * empty after it; never rejects (D1's failure is logged, the events stay).
   */
  private sendAudit(): Promise<boolean> {
    const send = async (): Promise<boolean> => {
      try {
        await sendEvents(this.ctx.storage.sql, this.env.DB);
        return true;
      } catch (e) {
        console.error(`audit log not sent to D1, kept for the alarm: ${(e as Error).message}`);
        return false;
      }
    };
    this.sending = this.sending.then(send);
    return this.sending;
  }

  /** sendAudit after the reply (waitUntil); what D1 refused waits for the alarm (a running alarm looks when it ends). */
  private sendAuditSoon(): void {
    const retry = async () => {
      if (!(await this.sendAudit())) await this.alarmBy(Date.now() + retryDelay(this.auditRefused), true);
    };
    this.ctx.waitUntil(retry().catch((e) => console.error(`audit log retry not scheduled: ${(e as Error).message}`)));
  }

  /**
   * Sets the alarm for `at` unless it is set sooner. `request`: not while the alarm handler runs
   * (workerd would cancel it; it looks at its work again when it ends).
   */
  private async alarmBy(at: number, request = false): Promise<void> {
    if (request && this.inAlarm) return;
    const set = await this.ctx.storage.getAlarm();
    if (request && this.inAlarm) return;
    if (set === null || set > at) await this.ctx.storage.setAlarm(at);
  }

  /** Sends the audit outbox to D1 now (the events API, so a push it lists is never missing); whether it is empty after. */
  async flushAudit(): Promise<boolean> {
    return this.sendAudit();
  }

  /**
   * Remembers the repository id for the segment collector and, once per
   * instance, arms the alarm for its next pass unless an alarm is already set.
   * Its read of the one-row segment_gc table on every request costs ~7 us of
   * workerd CPU (measured with 100 more per request: a no-op fetch's two
   * requests went from 3.7 to 5.0 ms), 0.4% of a no-op fetch: not worth a
   * per-instance flag to skip it.
   */
  private async armSegmentGc(repoId: string): Promise<void> {
    const due = noteGcRepo(this.ctx.storage, repoId);
    if (this.gcArmed || this.inAlarm) return;
    this.gcArmed = true;
    if ((await this.ctx.storage.getAlarm()) === null) await this.ctx.storage.setAlarm(due);
  }

  /**
   * Arms the alarm for a compaction check and the clone's reach plan soon after a push, unless it is
   * set sooner (or running: it looks again when it ends), or no compaction can be due yet (few
   * segments) and a clone would find its plan kept or cheap to build (no alarm write).
   */
  private async armCompaction(): Promise<void> {
    const compact = compactionPossible(this.ctx.storage, compactAfter(this.env.HUB_GIT_COMPACT_AFTER));
    if (!compact && !this.store.reachPlanWanted(this.prebuildRows())) return;
    this.compactWanted = true;
    await this.alarmBy(Date.now() + COMPACT_DELAY_MS, true);
  }

  /**
   * The alarm serves the audit outbox (push-outbox.ts: events D1 refused,
   * after 1, 2, 4 ... at most 60 minutes until it takes them: retryDelay), fossil repacking
   * (fossil-repack.ts, which re-arms it while work waits) and the segment
   * collector (segment-gc.ts, at most once per interval), and git compaction
   * (git-compact.ts, after pushes, re-armed while work waits) followed by the
   * next clone's reach plan when none is kept; the earliest of their times wins
   * and each checks whether it is due.
   */
  override async alarm(): Promise<void> {
    this.inAlarm = true;
    try {
      this.auditRefused = (await this.sendAudit()) ? 0 : this.auditRefused + 1;
      let again: number | null = null;
      // Git repositories never get the fossil tables.
      if (this.fossilReady || hasFossilSchema(this.ctx.storage)) {
        this.ensureFossil();
        await fossilRepackAlarm(this.fossilHost, this.contentEnv);
      } else {
        this.compactWanted = false;
        const storage = this.ctx.storage;
        const host = { sql: storage.sql, transactionSync: <T>(f: () => T) => storage.transactionSync(f), forgetReachPlans: () => this.store.forgetReachPlans() };
        const opts = { after: compactAfter(this.env.HUB_GIT_COMPACT_AFTER) };
        if (await gitCompactAlarm(host, (id) => new R2SegmentStore(this.content.bucket, id), opts)) again = Date.now();
        else {
          // Rows stay where they are now: the next clone's plan, built here rather than while it waits.
          await this.prebuildReachPlan();
          if (this.compactWanted) again = Date.now() + COMPACT_DELAY_MS;
        }
      }
      const next = await segmentGcAlarm(this.ctx.storage, this.env.CONTENT, (id) => new R2SegmentStore(this.env.CONTENT, id).key(''));
      if (next === null) this.gcArmed = false;
      const at = again === null ? next : next === null ? again : Math.min(again, next);
      if (at !== null && (await this.ctx.storage.getAlarm()) === null) await this.ctx.storage.setAlarm(at);
      // Events D1 refused (now, or in a push's send while this ran) wait for the next try.
      if (hasEvents(this.ctx.storage.sql)) await this.alarmBy(Date.now() + retryDelay(this.auditRefused));
    } finally {
      this.inAlarm = false;
    }
  }

  /** HUB_REACH_PREBUILD_ROWS, or PREBUILD_MIN_ROWS when unset or not a non-negative integer. */
  private prebuildRows(): number {
    const v = this.env.HUB_REACH_PREBUILD_ROWS;
    const n = Number(v);
    return v !== undefined && v !== '' && Number.isSafeInteger(n) && n >= 0 ? n : PREBUILD_MIN_ROWS;
  }

  /**
   * The alarm's reach plan (SqlRepoStore.prebuildReachPlan), built in slices between which the
   * repository's requests run (~1 s of CPU on 300k rows). Never throws: it is only an
   * optimisation, and the next clone builds the plan itself.
   */
  private async prebuildReachPlan(): Promise<void> {
    try {
      await this.store.prebuildReachPlan(() => new Promise((resolve) => setTimeout(resolve, 0)), this.prebuildRows());
    } catch (e) {
      console.error('reach plan not built', e);
    }
  }

  /**
   * Deletes the repository's content: every R2 object under its prefix, then
   * all of this DO's storage (the schema is recreated, the fossil tables too
   * for a fossil repository, so a stray later call sees an empty repository
   * rather than missing tables).
   */
  async destroy(repoId: string): Promise<{ objects: number }> {
    // Requests routed on a Worker's stale cache are refused from now on.
    this.access.destroyed();
    // No put from now on (a push, compaction or repack under way fails), and those under way end before the listing.
    await this.content.close();
    const prefix = repoContentPrefix(repoId);
    let objects = 0;
    let cursor: string | undefined;
    do {
      const page = await this.env.CONTENT.list({ prefix, cursor });
      if (page.objects.length > 0) await this.env.CONTENT.delete(page.objects.map((o) => o.key));
      objects += page.objects.length;
      cursor = page.truncated ? page.cursor : undefined;
    } while (cursor !== undefined);
    const fossil = this.fossilReady || hasFossilSchema(this.ctx.storage);
    // The log outlives the repository: its last events go to D1, and what D1 refused is written
    // back after the storage goes, for the alarm (nothing else reaches this DO again).
    closeOpenEvents(this.ctx.storage.sql);
    await this.sendAudit();
    const unsent = takeEvents(this.ctx.storage.sql);
    await this.ctx.storage.deleteAll();
    ensureGitSchema(this.ctx.storage);
    if (unsent.length > 0) {
      keepEvents(this.ctx.storage.sql, unsent);
      await this.alarmBy(Date.now() + retryDelay(this.auditRefused));
    }
    this.fossilReady = false;
    this.gcArmed = false;
    if (fossil) this.ensureFossil();
    return { objects };
  }

  /**
   * Makes the storage of a new git repository when the API creates it, as `git init --bare` does
   * before anyone pushes: the SQLite database and its git schema (the constructor's migration) and
   * the segment collector's alarm, which its first request would otherwise make (~4 ms of workerd
   * CPU and a database file's creation, with its syncs, inside the first push's info/refs).
   */
  async initGit(repoId: string): Promise<void> {
    await this.armSegmentGc(repoId);
  }

  /** Makes this a fossil repository as `fossil new` would (once; later calls keep it); its project code. */
  async initFossil(repoId: string, opts: { creator: string; projectName?: string; projectCode?: string }): Promise<{ projectCode: string }> {
    this.ensureFossil();
    return initFossilRepository(this.fossilHost, this.contentEnv, repoId, opts);
  }

  /** The API changed the repository's D1 row (visibility): the next request reads it again (access.ts). */
  forgetAccess(): void {
    this.access.forget();
  }

  /** Liveness probe for /healthz: proves the DO and its SQLite answer. */
  async ping(): Promise<number> {
    const row = this.ctx.storage.sql.exec<{ one: number }>('SELECT 1 AS one').one();
    return row.one;
  }

  /** RefReader.list */
  listRefs(prefix?: string): RpcResult<Ref[]> {
    return capture(() => this.store.listRefs(prefix));
  }

  /** RefReader.read */
  readRef(name: string): RpcResult<ObjectId | null> {
    return capture(() => this.store.readRef(name));
  }

  /** RefReader.readSymbolic */
  readSymbolicRef(name: string): RpcResult<string | null> {
    return capture(() => this.store.readSymbolic(name));
  }

  /** RefReader.listSymbolic */
  listSymbolicRefs(): RpcResult<SymbolicRef[]> {
    return capture(() => this.store.listSymbolic());
  }

  /** RefWriter.update */
  updateRefs(updates: RefUpdate[], opts?: RefUpdateOptions): RpcResult<RefUpdateResult> {
    return capture(() => this.store.updateRefs(updates, opts));
  }

  /** RefWriter.setSymbolic */
  setSymbolicRef(name: string, target: string | null): RpcResult<void> {
    return capture(() => this.store.setSymbolic(name, target));
  }

  /** ObjectIndexReader.has */
  hasObjects(ids: ObjectId[]): RpcResult<boolean[]> {
    return capture(() => this.store.has(ids));
  }

  /** ObjectIndexReader.get */
  getObject(id: ObjectId): RpcResult<IndexRow | null> {
    return capture(() => this.store.get(id));
  }

  /** ObjectChainReader.chain */
  getObjectChain(id: ObjectId): RpcResult<IndexRow[]> {
    return capture(() => this.store.chain(id));
  }

  /** ObjectIndexWriter.putBatch */
  putObjects(rows: IndexRowInput[]): RpcResult<{ inserted: number }> {
    return capture(() => this.store.putBatch(rows));
  }

  /** RepoCommitter.commit: index rows and ref compare-and-swaps in one transaction. */
  commit(c: RepoCommit): RpcResult<CommitResult> {
    return capture(() => this.store.commit(c));
  }
}
