// The FossilStore contract against the in-memory implementation (runs in Node and workerd).
import { MemoryFossilStore } from '../../../shared/storage/fossil-memory.js';
import { MemorySegmentStore } from '../../../shared/storage/memory.js';
import { describeFossilStoreContract } from './fossil-contract.js';

describeFossilStoreContract('memory', async () => ({ store: new MemoryFossilStore(), segments: new MemorySegmentStore() }));
