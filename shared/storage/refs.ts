/**
 * Refs: a name -> object id map changed only by compare-and-swap of a set of
 * refs (atomic by default, like `git push --atomic`; per ref otherwise, like a
 * plain push), plus symbolic refs (HEAD -> refs/heads/main).
 */
import { RefKindError } from './errors.js';
import { checkObjectId, checkRefName, type ObjectId } from './ids.js';

/** One ref and the id it points at. */
export interface Ref {
  name: string;
  id: ObjectId;
}

/** One symbolic ref and the ref name it points at. */
export interface SymbolicRef {
  name: string;
  target: string;
}

/** A compare-and-swap of one ref: `old` null = must not exist (create); `new` null = delete. */
export interface RefUpdate {
  name: string;
  old: ObjectId | null;
  new: ObjectId | null;
}

/** Options of RefWriter.update. */
export interface RefUpdateOptions {
  /** All or nothing (default true). False applies each ref that matches on its own. */
  atomic?: boolean;
}

/** What happened to one ref of an update. */
export type RefStatus =
  | { name: string; status: 'ok' }
  /** The ref's current value is not `expected` (the update's `old`). */
  | { name: string; status: 'stale'; expected: ObjectId | null; actual: ObjectId | null }
  /** The name is a symbolic ref; update its target instead. */
  | { name: string; status: 'symbolic' }
  /** The same name appears more than once in one update. */
  | { name: string; status: 'duplicate' }
  /** Matched, but not applied because another ref of the atomic set failed. */
  | { name: string; status: 'aborted' };

/** Result of an update: `ok` when every ref was applied; `refs` in the order given. */
export interface RefUpdateResult {
  ok: boolean;
  refs: RefStatus[];
}

/** Read side of refs (enough for upload-pack and ls-refs). */
export interface RefReader {
  /** Direct refs whose name starts with `prefix` (all when omitted), sorted by name (code point order). */
  list(prefix?: string): Promise<Ref[]>;
  /** The id a direct ref points at, or null (symbolic refs are not followed: see resolveRef). */
  read(name: string): Promise<ObjectId | null>;
  /** The target of a symbolic ref, or null when `name` is not one. */
  readSymbolic(name: string): Promise<string | null>;
  /** Every symbolic ref, sorted by name. */
  listSymbolic(): Promise<SymbolicRef[]>;
}

/** Write side of refs (receive-pack, fossil sync). */
export interface RefWriter {
  /** Compare-and-swap a set of refs; a mismatch is a result, never a partial write when atomic. */
  update(updates: RefUpdate[], opts?: RefUpdateOptions): Promise<RefUpdateResult>;
  /** Points symbolic ref `name` at `target` (null removes it); RefKindError if `name` is a direct ref. */
  setSymbolic(name: string, target: string | null): Promise<void>;
}

/** A whole ref store. */
export type RefStore = RefReader & RefWriter;

/** Symbolic refs followed before giving up, as git's SYMREF_MAXDEPTH. */
export const MAX_SYMREF_DEPTH = 5;

/** Follows symbolic refs from `name` to a direct ref; null when unborn, dangling, looping or too deep. */
export async function resolveRef(refs: RefReader, name: string): Promise<{ name: string; id: ObjectId } | null> {
  let current = name;
  for (let i = 0; i <= MAX_SYMREF_DEPTH; i++) {
    const target = await refs.readSymbolic(current);
    if (target === null) {
      const id = await refs.read(current);
      return id === null ? null : { name: current, id };
    }
    current = target;
  }
  return null;
}

/** Checks the shape of every update before anything is looked up; throws on malformed names or ids. */
export function checkRefUpdates(updates: readonly RefUpdate[]): void {
  for (const u of updates) {
    checkRefName(u.name);
    if (u.old !== null) checkObjectId(u.old);
    if (u.new !== null) checkObjectId(u.new);
  }
}

/** Synchronous view of current refs, so the decision runs inside one transaction. */
export interface RefSnapshot {
  read(name: string): ObjectId | null;
  isSymbolic(name: string): boolean;
}

/**
 * Decides a compare-and-swap set against `current` without changing anything:
 * the statuses to report and the writes to make (none unless allowed). Shared
 * by every implementation so they agree on every edge case.
 */
export function planRefUpdates(
  updates: readonly RefUpdate[],
  current: RefSnapshot,
  opts: RefUpdateOptions = {},
): { result: RefUpdateResult; writes: RefUpdate[] } {
  checkRefUpdates(updates);
  const atomic = opts.atomic ?? true;
  const seen = new Map<string, number>();
  for (const u of updates) seen.set(u.name, (seen.get(u.name) ?? 0) + 1);
  const refs: RefStatus[] = updates.map((u): RefStatus => {
    if (seen.get(u.name)! > 1) return { name: u.name, status: 'duplicate' };
    if (current.isSymbolic(u.name)) return { name: u.name, status: 'symbolic' };
    const actual = current.read(u.name);
    if (actual !== u.old) return { name: u.name, status: 'stale', expected: u.old, actual };
    return { name: u.name, status: 'ok' };
  });
  const ok = refs.every((r) => r.status === 'ok');
  if (atomic && !ok) {
    return { result: { ok, refs: refs.map((r) => (r.status === 'ok' ? { name: r.name, status: 'aborted' } : r)) }, writes: [] };
  }
  return { result: { ok, refs }, writes: updates.filter((_, i) => refs[i].status === 'ok') };
}

/** Checks a setSymbolic call against the current refs; throws RefKindError when `name` is a direct ref. */
export function checkSetSymbolic(name: string, target: string | null, current: RefSnapshot): void {
  checkRefName(name);
  if (target !== null) checkRefName(target);
  if (current.read(name) !== null) throw new RefKindError('ref-kind', `${name} is a direct ref, not a symbolic one`, { name });
}
