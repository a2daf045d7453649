import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { applyGitDelta, createGitDelta, gitDeltaHeader, gitDeltaOps } from '../../../shared/delta/git.js';
import { DeltaError } from '../../../shared/delta/errors.js';

const enc = (s: string) => new TextEncoder().encode(s);
const code = (f: () => unknown) => {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(DeltaError);
    return (e as DeltaError).code;
  }
  throw new Error('did not throw');
};

describe('git delta', () => {
  it('applies a hand-written delta (copy, insert, size-0 copy = 0x10000)', () => {
    const base = new Uint8Array(0x10010).map((_, i) => i & 0xff);
    // base size 0x10010 = 0x90 0x80 0x04; result size 0x10000 + 3 = 0x83 0x80 0x04
    const delta = Uint8Array.of(0x90, 0x80, 0x04, 0x83, 0x80, 0x04, 0x02, 0x41, 0x42, 0x80, 0x01, 0x63);
    const out = applyGitDelta(base, delta);
    expect(out.length).toBe(0x10003);
    expect(Array.from(out.subarray(0, 3))).toEqual([0x41, 0x42, 0]);
    expect(out[0x10002]).toBe(0x63);
    expect(gitDeltaHeader(delta)).toEqual({ baseSize: 0x10010, resultSize: 0x10003, offset: 6 });
    expect([...gitDeltaOps(delta)]).toEqual([
      { op: 'insert', start: 7, end: 9 },
      { op: 'copy', offset: 0, size: 0x10000 },
      { op: 'insert', start: 11, end: 12 },
    ]);
  });

  it('round-trips arbitrary base/target pairs', () => {
    const related = fc
      .tuple(fc.uint8Array({ maxLength: 3000 }), fc.array(fc.tuple(fc.nat(3000), fc.nat(200), fc.uint8Array({ maxLength: 40 })), { maxLength: 8 }))
      .map(([base, edits]) => {
        let t = base;
        for (const [at, del, ins] of edits) {
          const p = Math.min(at, t.length);
          const n = new Uint8Array(t.length - Math.min(del, t.length - p) + ins.length);
          n.set(t.subarray(0, p));
          n.set(ins, p);
          n.set(t.subarray(p + Math.min(del, t.length - p)), p + ins.length);
          t = n;
        }
        return [base, t] as const;
      });
    fc.assert(
      fc.property(fc.oneof(related, fc.tuple(fc.uint8Array({ maxLength: 500 }), fc.uint8Array({ maxLength: 500 }))), ([base, target]) => {
        const d = createGitDelta(base, target);
        expect(applyGitDelta(base, d)).toEqual(target);
        for (const op of gitDeltaOps(d)) {
          if (op.op === 'insert') expect(op.end - op.start).toBeLessThanOrEqual(127);
          else expect(op.size).toBeLessThanOrEqual(0xffffff);
        }
      }),
      { numRuns: 300 },
    );
  });

  it('encodes a small edit of a large text compactly', () => {
    const base = enc(Array.from({ length: 5000 }, (_, i) => `line ${i} of some text\n`).join(''));
    const target = new Uint8Array(base.length + 5);
    target.set(base.subarray(0, 40000));
    target.set(enc('HELLO'), 40000);
    target.set(base.subarray(40000), 40005);
    const d = createGitDelta(base, target);
    expect(d.length).toBeLessThan(40);
    expect(applyGitDelta(base, d)).toEqual(target);
  });

  it('splits copies longer than 0xffffff', () => {
    let s = 12345;
    const base = new Uint8Array(0x1000010).map(() => ((s = (Math.imul(s, 1103515245) + 12345) | 0), s >>> 24));
    const d = createGitDelta(base, base);
    const ops = [...gitDeltaOps(d)];
    expect(ops.every((o) => o.op === 'copy')).toBe(true);
    expect(ops.length).toBe(2);
    const out = applyGitDelta(base, d);
    expect(out.length === base.length && out.every((b, i) => b === base[i])).toBe(true);
  });

  it('rejects malformed deltas with typed errors', () => {
    const base = enc('0123456789');
    expect(code(() => applyGitDelta(base, Uint8Array.of(9, 1, 1, 0x41)))).toBe('delta-base-size');
    expect(code(() => applyGitDelta(base, Uint8Array.of(10)))).toBe('delta-truncated');
    expect(code(() => applyGitDelta(base, Uint8Array.of(0x8a)))).toBe('delta-truncated');
    expect(code(() => applyGitDelta(base, Uint8Array.of(0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01)))).toBe('delta-bad-header');
    expect(code(() => applyGitDelta(base, Uint8Array.of(10, 1, 0)))).toBe('delta-reserved-opcode');
    expect(code(() => applyGitDelta(base, Uint8Array.of(10, 3, 5, 0x41)))).toBe('delta-truncated');
    expect(code(() => applyGitDelta(base, Uint8Array.of(10, 3, 0x91, 8, 3)))).toBe('delta-copy-out-of-range');
    expect(code(() => applyGitDelta(base, Uint8Array.of(10, 3, 0x91)))).toBe('delta-truncated');
    expect(code(() => applyGitDelta(base, Uint8Array.of(10, 2, 0x90, 3)))).toBe('delta-result-overflow');
    expect(code(() => applyGitDelta(base, Uint8Array.of(10, 2, 3, 1, 2, 3)))).toBe('delta-result-overflow');
    expect(code(() => applyGitDelta(base, Uint8Array.of(10, 4, 0x90, 3)))).toBe('delta-result-size');
    // Declared result above the limit is refused before allocation.
    expect(code(() => applyGitDelta(base, Uint8Array.of(10, 0xff, 0xff, 0xff, 0xff, 0x0f), 1 << 20))).toBe('delta-too-large');
    expect(code(() => [...gitDeltaOps(Uint8Array.of(10, 1, 0))])).toBe('delta-reserved-opcode');
  });

  it('never throws anything but DeltaError on random deltas', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), fc.uint8Array({ maxLength: 40 }), (base, delta) => {
        try {
          const out = applyGitDelta(base, delta, 1 << 16);
          expect(out.length).toBe(gitDeltaHeader(delta).resultSize);
        } catch (e) {
          expect(e).toBeInstanceOf(DeltaError);
        }
      }),
      { numRuns: 2000 },
    );
  });
});
