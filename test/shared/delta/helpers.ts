// Helpers shared by the delta tests (pure: they run in Node and in workerd).
import fc from 'fast-check';
import { DeltaError } from '../../../shared/delta/errors.js';

/** The DeltaError code `f` throws, or 'no error'; anything else is rethrown. */
export function code(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    if (e instanceof DeltaError) return e.code;
    throw e;
  }
  return 'no error';
}

/** A base and a target made from it by a few edits, so deltas hold both copies and inserts. */
export function editedPair(maxBase: number, maxDelete: number, maxInsert: number, maxEdits: number) {
  return fc
    .tuple(fc.uint8Array({ maxLength: maxBase }), fc.array(fc.tuple(fc.nat(), fc.nat(maxDelete), fc.uint8Array({ maxLength: maxInsert })), { maxLength: maxEdits }))
    .map(([base, edits]) => {
      let t = base;
      for (const [pos, del, ins] of edits) {
        const p = pos % (t.length + 1);
        t = Uint8Array.from([...t.subarray(0, p), ...ins, ...t.subarray(p + del)]);
      }
      return { base, target: t };
    });
}
