import { describe, expect, it } from 'vitest';
import { applyFossilDelta, createFossilDelta, reverseFossilDelta } from '../../../shared/delta/fossil.js';
import { DeltaError } from '../../../shared/delta/errors.js';
import { randomBytes } from '../../random-bytes.js';

const cat = (...parts: Uint8Array[]) => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) out.set(p, (at += p.length) - p.length);
  return out;
};

describe('reverseFossilDelta', () => {
  const base = randomBytes(50_000, 7);
  const cases: [string, Uint8Array][] = [
    ['same', base],
    ['an insert in the middle', cat(base.subarray(0, 20_000), randomBytes(300, 8), base.subarray(20_000))],
    ['a cut', cat(base.subarray(0, 10_000), base.subarray(30_000))],
    ['moved and repeated blocks', cat(base.subarray(40_000), base.subarray(0, 40_000), base.subarray(5_000, 6_000))],
    ['replaced', randomBytes(40_000, 9)],
    ['empty', new Uint8Array(0)],
    ['tiny edits every 100 bytes', base.map((b, i) => (i % 100 === 0 ? b ^ 1 : b))],
  ];
  for (const [name, target] of cases) {
    it(`turns the target back into the base: ${name}`, () => {
      const forward = createFossilDelta(base, target);
      const back = reverseFossilDelta(forward, base);
      expect(applyFossilDelta(target, back)).toEqual(base);
      // About as small as matching afresh when most of the base was copied.
      if (name === 'an insert in the middle' || name === 'a cut') expect(back.length).toBeLessThan(createFossilDelta(target, base).length + 64);
    });
  }

  it('refuses a delta whose copies lie outside the base it is given', () => {
    const forward = createFossilDelta(base, cat(base, base));
    expect(() => reverseFossilDelta(forward, base.subarray(0, 1000))).toThrow(DeltaError);
  });
});
