/**
 * The Worker's side of a repository's Durable Object: its RPC stub seen as the
 * shared/storage interfaces, with typed errors restored.
 */
import type { ObjectIndex, RepoCommitter } from '../../shared/storage/object-index.js';
import type { RefStore } from '../../shared/storage/refs.js';
import type { RepoObject } from './repo.js';
import { unwrap } from './rpc-result.js';

/** Refs, object index and commit of one repository, over its DO stub. */
export type RepoStore = RefStore & ObjectIndex & RepoCommitter;

/** Adapts a RepoObject stub to the storage interfaces (every call is one RPC). */
export function repoStoreFromStub(stub: DurableObjectStub<RepoObject>): RepoStore {
  return {
    list: (prefix) => unwrap(stub.listRefs(prefix)),
    read: (name) => unwrap(stub.readRef(name)),
    readSymbolic: (name) => unwrap(stub.readSymbolicRef(name)),
    listSymbolic: () => unwrap(stub.listSymbolicRefs()),
    update: (updates, opts) => unwrap(stub.updateRefs(updates, opts)),
    setSymbolic: (name, target) => unwrap(stub.setSymbolicRef(name, target)),
    has: (ids) => unwrap(stub.hasObjects(ids)),
    get: (id) => unwrap(stub.getObject(id)),
    chain: (id) => unwrap(stub.getObjectChain(id)),
    putBatch: (rows) => unwrap(stub.putObjects(rows)),
    commit: (c) => unwrap(stub.commit(c)),
  };
}
