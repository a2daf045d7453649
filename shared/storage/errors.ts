/**
 * Typed storage errors. Each has a stable `code` so callers (and the Durable
 * Object RPC boundary, which drops classes) can map it back with
 * `storageErrorFromCode`.
 */
import { HubError } from '../core/errors.js';

/** Base of every error a storage implementation throws for bad input or missing data. */
export class StorageError extends HubError {}

/** An object id that is not lowercase hex of 40 (SHA-1) or 64 (SHA-256 / SHA3-256) digits. */
export class InvalidIdError extends StorageError {
  constructor(id: unknown) {
    super('invalid-id', `invalid object id: ${JSON.stringify(String(id)).slice(0, 80)}`, { id: String(id).slice(0, 80) });
  }
}

/** A ref name storage refuses to hold (empty, too long, or containing control bytes). */
export class InvalidRefNameError extends StorageError {
  constructor(name: unknown) {
    super('invalid-ref-name', `invalid ref name: ${JSON.stringify(String(name)).slice(0, 80)}`, { name: String(name).slice(0, 300) });
  }
}

/** A symbolic-ref operation on a name that holds a direct ref (or the reverse). */
export class RefKindError extends StorageError {}

/** An index row that is malformed (format/base mismatch, negative sizes, unknown kind). */
export class InvalidRowError extends StorageError {}

/** A delta row whose base is neither indexed nor in the same batch. */
export class MissingBaseError extends StorageError {}

/** A delta row that would make a chain deeper than MAX_CHAIN_DEPTH: store a full text instead. */
export class ChainTooDeepError extends StorageError {}

/** A delta chain that loops back on itself. */
export class ChainCycleError extends StorageError {}

/** An object id that is not in the index. */
export class ObjectNotFoundError extends StorageError {}

/** A segment that does not exist (never written, aborted, or collected). */
export class SegmentNotFoundError extends StorageError {}

/** A read outside a segment's bytes. */
export class SegmentRangeError extends StorageError {}

/** A segment writer used after finish/abort, or in a way its contract forbids. */
export class SegmentStateError extends StorageError {}

/** A record whose resolved content disagrees with its index row (wrong size, bad delta). */
export class CorruptRecordError extends StorageError {}

type StorageErrorClass = new (code: string, message: string, data?: Record<string, unknown>) => StorageError;

/** Error classes by code, for errors that cross a boundary as plain data. */
const BY_CODE: Record<string, StorageErrorClass> = {
  'ref-kind': RefKindError,
  'invalid-row': InvalidRowError,
  'delta-base-missing': MissingBaseError,
  'chain-too-deep': ChainTooDeepError,
  'chain-cycle': ChainCycleError,
  'object-not-found': ObjectNotFoundError,
  'segment-not-found': SegmentNotFoundError,
  'segment-range': SegmentRangeError,
  'segment-state': SegmentStateError,
  'corrupt-record': CorruptRecordError,
};

/** Rebuilds the typed error for a `code` (e.g. after a Durable Object RPC); unknown codes give a plain StorageError. */
export function storageErrorFromCode(code: string, message: string, data: Record<string, unknown> = {}): StorageError {
  if (code === 'invalid-id') return Object.assign(new InvalidIdError(data.id), { message });
  if (code === 'invalid-ref-name') return Object.assign(new InvalidRefNameError(data.name), { message });
  const Cls = BY_CODE[code] ?? StorageError;
  return new Cls(code, message, data);
}
