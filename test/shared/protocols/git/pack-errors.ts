/** What the pack reader tests do to damaged packs: read one for its PackError code, fix a changed pack's trailer. */
import { expect } from 'vitest';
import { purePrimitives } from '../../../../shared/core/primitives.js';
import { PackError } from '../../../../shared/protocols/git/pack.js';

/** The PackError code `read` throws ('no-error' when it does not); anything else thrown fails the test. */
export async function packErrorCode(read: () => Promise<unknown>): Promise<string> {
  try {
    await read();
  } catch (e) {
    expect(e).toBeInstanceOf(PackError);
    return (e as PackError).code;
  }
  return 'no-error';
}

/** A copy of a pack with its trailer rewritten after a change (so the change, not the checksum, is what is refused). */
export function withTrailer(bytes: Uint8Array): Uint8Array {
  const c = bytes.slice();
  c.set(purePrimitives.hash('sha1').update(c.subarray(0, c.length - 20)).digest(), c.length - 20);
  return c;
}
