import { describe, expect, it } from 'vitest';
import { grownColumn, reservedColumn } from '../../../shared/core/columns.js';

describe('per-object columns', () => {
  it('reserves a column of zeros at its full length', () => {
    const c = reservedColumn(Uint32Array, 100_000)!;
    expect(c).toBeInstanceOf(Uint32Array);
    expect(c.length).toBe(100_000);
    expect(c[99_999]).toBe(0);
    c[99_999] = 7;
    expect(c[99_999]).toBe(7);
  });

  it('grows to the expected count at once, keeping its contents, and past it by doubling', () => {
    let c = Uint16Array.from([1, 2, 3]);
    c = grownColumn(c, 3, 50_000);
    expect(c).toBeInstanceOf(Uint16Array);
    expect(c.length).toBe(50_000);
    expect([...c.subarray(0, 4)]).toEqual([1, 2, 3, 0]);
    c[49_999] = 9;
    c = grownColumn(c, 50_000, 50_000);
    expect(c.length).toBe(100_000);
    expect([c[0], c[2], c[49_999], c[50_000]]).toEqual([1, 3, 9, 0]);
    // No count known: doubling, never shorter than 1024 or than the index asks.
    expect(grownColumn(new Float64Array(0), 0).length).toBe(1024);
    expect(grownColumn(new Int32Array(2000), 5000).length).toBe(5001);
  });
});
