/** The delta engines: Fossil and git deltas, translation between them, and streaming forms. */
export { DeltaError } from './errors.js';
export {
  FOSSIL_DELTA_MAX_OUTPUT,
  FossilChecksum,
  applyFossilDelta,
  createFossilDelta,
  decodeFossilDeltaHeader,
  decodeFossilDeltaOp,
  fossilChecksum,
  fossilDeltaChunks,
  fossilDeltaOutputSize,
  fossilInt,
  walkFossilDelta,
} from './fossil.js';
export type { FossilDeltaHeader, FossilDeltaOp } from './fossil.js';
export { GIT_DELTA_MAX_RESULT, applyGitDelta, createGitDelta, gitDeltaHeader, gitDeltaOps } from './git.js';
export type { GitDeltaHeader, GitDeltaOp } from './git.js';
export { fossilToGitDelta, gitToFossilDelta } from './translate.js';
export { applyDeltaStream, createDeltaStream } from './stream.js';
export type { ApplyDeltaStreamOptions, ByteStream, DeltaFormat } from './stream.js';
