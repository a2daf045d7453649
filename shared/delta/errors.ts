/** Errors shared by the delta engines (git and Fossil delta formats). */
import { HubError } from '../core/errors.js';

/**
 * A delta was malformed or did not fit its base: every bound checked while
 * decoding or applying a delta throws this with its own stable `code`
 * (e.g. `delta-copy-out-of-range`) and the position in `data.at`.
 */
export class DeltaError extends HubError {}
