/**
 * Errors of the Fossil artifact layer. `code` is stable (the xfer server maps it
 * to an `error` card); `data` says where (line, card letter) and why.
 */
import { HubError } from '../errors.js';

/**
 * A byte string broke a rule of a structural artifact (src/manifest.c), or a
 * name or field given to a builder was malformed. Codes: not-terminated,
 * bad-first-line, bad-z-card, missing-z-card, card-order, bad-card,
 * unknown-card, duplicate-card, bad-argument, extra-argument,
 * missing-argument, bad-w-card, card-not-allowed, missing-card, type-rule,
 * too-large, bad-name, bad-field.
 */
export class ArtifactError extends HubError {}
