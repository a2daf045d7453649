import { describe, expect, it } from 'vitest';
import { isNativeHash, usesHashHandle } from '../../../worker/native-hash.js';
import { nativeAgreesWithPure } from './native-hash.shared.js';

describe('native hashers in Node', () => {
  it('are native for all three algorithms', () => {
    expect(['sha1', 'sha256', 'sha3-256'].map((a) => isNativeHash(a as 'sha1'))).toEqual([true, true, true]);
  });
  it("use node:crypto's createHash (Node's own handle class is never constructed: it aborts on unexpected arguments)", () => {
    expect(usesHashHandle()).toBe(false);
  });
  nativeAgreesWithPure();
});
