/** Errors for malformed git objects. */
import { HubError } from '../errors.js';

/**
 * A git object (or its header or id) that is malformed. `code` is stable, e.g.
 * 'bad-object-id', 'bad-tree-mode', 'tree-not-sorted', 'missing-header';
 * `data.offset` is the byte position in the object where one applies.
 */
export class GitObjectError extends HubError {}
