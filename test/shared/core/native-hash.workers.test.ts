import { describe, expect, it } from 'vitest';
import { isNativeHash, usesHashHandle } from '../../../worker/native-hash.js';
import { nativeAgreesWithPure } from './native-hash.shared.js';

describe('native hashers in workerd', () => {
  it('are native at least for SHA-1 and SHA-256', () => {
    expect(isNativeHash('sha1') && isNativeHash('sha256')).toBe(true);
  });
  it("hash straight on node:crypto's HashHandle (no stream object per hash), so the agreement tests below cover that path", () => {
    expect(usesHashHandle()).toBe(true);
  });
  nativeAgreesWithPure();
});
