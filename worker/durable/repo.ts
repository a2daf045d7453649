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
import type { CommitResult, IndexRow, IndexRowInput, RepoCommit } from '../../shared/storage/object-index.js';
import type { Ref, RefUpdate, RefUpdateOptions, RefUpdateResult, SymbolicRef } from '../../shared/storage/refs.js';
import type { Env } from '../env.js';
import { capture, type RpcResult } from './rpc-result.js';
import { migrate, SqlRepoStore } from './repo-store.js';

export class RepoObject extends DurableObject<Env> {
  private readonly store: SqlRepoStore;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.store = new SqlRepoStore(ctx.storage);
    // Migrations run before any request is delivered; they are synchronous SQL.
    void ctx.blockConcurrencyWhile(async () => {
      migrate(ctx.storage);
    });
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
