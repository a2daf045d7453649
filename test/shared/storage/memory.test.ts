// The storage contract against the in-memory implementation (runs in Node and workerd).
import { createMemoryStores } from '../../../shared/storage/memory.js';
import { describeStorageContract } from './contract.js';

describeStorageContract('memory', async () => {
  const { repo, segments } = createMemoryStores();
  return { refs: repo, index: repo, committer: repo, segments };
});
