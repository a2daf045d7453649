/**
 * Offset columns (the pack reader's entry offsets, receive-pack's record
 * offsets): 4 bytes an offset until one passes 4 GiB, then 8, keeping what
 * was set before.
 */
import { describe, expect, it } from 'vitest';
import { offsetColumn, setOffset, type OffsetColumn } from '../../../../shared/protocols/git/pack-reader.js';

describe('offset column', () => {
  it('stays 4 bytes an offset up to 4 GiB - 1', () => {
    let col: OffsetColumn = new Uint32Array(3);
    col = setOffset(col, 0, 0);
    col = setOffset(col, 1, 12345);
    col = setOffset(col, 2, 2 ** 32 - 1);
    expect(col).toBeInstanceOf(Uint32Array);
    expect([...col]).toEqual([0, 12345, 2 ** 32 - 1]);
    expect(offsetColumn(col, 5)).toBeInstanceOf(Uint32Array);
  });

  it('widens to 8 bytes at the first offset past 4 GiB, keeping the earlier ones', () => {
    let col: OffsetColumn = new Uint32Array(4);
    col = setOffset(col, 0, 7);
    col = setOffset(col, 1, 2 ** 32 - 1);
    col = setOffset(col, 2, 2 ** 32);
    col = setOffset(col, 3, 5 * 2 ** 32 + 3);
    expect(col).toBeInstanceOf(Float64Array);
    expect([...col]).toEqual([7, 2 ** 32 - 1, 2 ** 32, 5 * 2 ** 32 + 3]);
    const longer = offsetColumn(col, 8);
    expect(longer).toBeInstanceOf(Float64Array);
    expect(longer.length).toBe(8);
  });
});
