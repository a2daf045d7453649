import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { FossilChecksum, applyFossilDelta, createFossilDelta, fossilInt } from '../../../shared/delta/fossil.js';
import { applyGitDelta, createGitDelta, gitDeltaOps } from '../../../shared/delta/git.js';
import { fossilToGitDelta, gitToFossilDelta } from '../../../shared/delta/translate.js';
import { DeltaError } from '../../../shared/delta/errors.js';
import { code, editedPair } from './helpers.js';

const enc = (s: string) => new TextEncoder().encode(s);

const pair = editedPair(4000, 300, 300, 6);

describe('delta translation', () => {
  it('fossil -> git -> fossil gives deltas that all produce the target', () => {
    fc.assert(
      fc.property(pair, ({ base, target }) => {
        const fd = createFossilDelta(base, target);
        const gd = fossilToGitDelta(fd, base.length, base);
        expect(applyGitDelta(base, gd)).toEqual(target);
        const fd2 = gitToFossilDelta(gd, base);
        expect(applyFossilDelta(base, fd2)).toEqual(target);
        // Split copies and inserts are merged back: never longer than the original.
        expect(fd2.length).toBeLessThanOrEqual(fd.length);
      }),
      { numRuns: 300 },
    );
  });

  it('git -> fossil -> git gives deltas that all produce the target', () => {
    fc.assert(
      fc.property(pair, ({ base, target }) => {
        const gd = createGitDelta(base, target);
        const fd = gitToFossilDelta(gd, base);
        expect(applyFossilDelta(base, fd)).toEqual(target);
        expect(applyGitDelta(base, fossilToGitDelta(fd, base.length))).toEqual(target);
      }),
      { numRuns: 300 },
    );
  });

  it('splits long copies and inserts into git-sized instructions', () => {
    const base = new Uint8Array(0x1000000 + 100);
    for (let i = 0; i < base.length; i++) base[i] = (i * 7 + (i >>> 9)) & 0xff;
    const literal = new Uint8Array(1000).fill(0x41);
    // One copy of the whole base (more than 0xffffff bytes) and one 1000-byte insert.
    const fd = new TextEncoder().encode(`${fossilInt(base.length + 1000)}\n${fossilInt(base.length)}@0,${fossilInt(1000)}:`);
    const full = new Uint8Array(fd.length + 1000 + 8);
    full.set(fd);
    full.set(literal, fd.length);
    const sum = new FossilChecksum().update(base).update(literal).digest();
    const tail = new TextEncoder().encode(`${fossilInt(sum)};`);
    full.set(tail, fd.length + 1000);
    const delta = full.subarray(0, fd.length + 1000 + tail.length);
    const gd = fossilToGitDelta(delta, base.length, base);
    const ops = [...gitDeltaOps(gd)];
    expect(ops.filter((o) => o.op === 'copy').map((o) => (o.op === 'copy' ? o.size : 0))).toEqual([0xffffff, 101]);
    expect(ops.filter((o) => o.op === 'insert').length).toBe(Math.ceil(1000 / 127));
    const out = applyGitDelta(base, gd);
    expect(out.length).toBe(base.length + 1000);
    expect(out.subarray(base.length)).toEqual(literal);
    expect(out[0x1000000 + 5]).toBe(base[0x1000000 + 5]);
    // And back: one fossil copy and one insert again.
    expect(gitToFossilDelta(gd, base)).toEqual(delta);
  });

  it('rejects copies outside the base, a wrong base, and a bad checksum', () => {
    const base = enc('0123456789abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyz');
    const target = enc('----------0123456789abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyz!');
    const fd = createFossilDelta(base, target);
    expect(new TextDecoder().decode(fd)).toContain('@0,');
    expect(code(() => fossilToGitDelta(fd, 10))).toBe('delta-copy-out-of-range');
    expect(code(() => fossilToGitDelta(fd, base.length, enc('short')))).toBe('delta-base-size');
    const other = enc('0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ');
    expect(code(() => fossilToGitDelta(fd, base.length, other))).toBe('delta-bad-checksum');
    const gd = createGitDelta(base, target);
    expect(code(() => gitToFossilDelta(gd, enc('short')))).toBe('delta-base-size');
    // git delta: base 72, result 5, copy offset 80 size 5 -> outside the base.
    expect(code(() => gitToFossilDelta(Uint8Array.of(72, 5, 0x91, 80, 5), base))).toBe('delta-copy-out-of-range');
    expect(code(() => gitToFossilDelta(Uint8Array.of(72, 4, 0x91, 0, 5), base))).toBe('delta-result-overflow');
    expect(code(() => gitToFossilDelta(Uint8Array.of(72, 6, 0x91, 0, 5), base))).toBe('delta-result-size');
    expect(code(() => gitToFossilDelta(Uint8Array.of(72, 6, 0x91, 0, 5, 0), base))).toBe('delta-reserved-opcode');
  });

  it('throws only DeltaError on arbitrary or damaged deltas, and agrees with the appliers', () => {
    const base = enc('0123456789abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyz');
    const target = enc('----------0123456789abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJ!');
    const fd = createFossilDelta(base, target);
    const gd = createGitDelta(base, target);
    const damaged = (d: Uint8Array) =>
      fc.oneof(
        fc.uint8Array({ maxLength: 100 }),
        fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 }), fc.nat()).map(([i, v, cut]) => {
          const x = d.slice(0, d.length - (cut % 3));
          if (x.length > 0) x[i % x.length] = v;
          return x;
        }),
      );
    const verdict = (f: () => Uint8Array): Uint8Array | string => {
      try {
        return f();
      } catch (e) {
        expect(e).toBeInstanceOf(DeltaError);
        return 'error';
      }
    };
    fc.assert(
      fc.property(damaged(fd), (d) => {
        const translated = verdict(() => fossilToGitDelta(d, base.length, base));
        const applied = verdict(() => applyFossilDelta(base, d));
        // With the base given, translation checks everything the applier checks.
        if (typeof translated === 'string') expect(applied).toBe('error');
        else expect(applyGitDelta(base, translated)).toEqual(applied);
      }),
      { numRuns: 1500 },
    );
    fc.assert(
      fc.property(damaged(gd), (d) => {
        const translated = verdict(() => gitToFossilDelta(d, base));
        const applied = verdict(() => applyGitDelta(base, d));
        if (typeof translated === 'string') expect(applied).toBe('error');
        else expect(applyFossilDelta(base, translated)).toEqual(applied);
      }),
      { numRuns: 1500 },
    );
  });
});
