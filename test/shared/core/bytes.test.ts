import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { compare, concat, equal, fromHex, indexOfByte, toHex, toHexAt, utf8Decode, utf8Encode, writeHex, writeSha1Hex } from '../../../shared/core/bytes.js';
import { HubError } from '../../../shared/core/errors.js';

describe('bytes', () => {
  it('concat joins in order', () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 40 }), { maxLength: 6 }), (parts) => {
        const joined = concat(parts);
        expect(Array.from(joined)).toEqual(parts.flatMap((p) => Array.from(p)));
      }),
      { numRuns: 100 },
    );
  });

  it('equal and compare agree with a reference', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 8 }), fc.uint8Array({ maxLength: 8 }), (a, b) => {
        const ref = referenceCompare(a, b);
        expect(Math.sign(compare(a, b))).toBe(ref);
        expect(equal(a, b)).toBe(ref === 0);
      }),
      { numRuns: 300 },
    );
  });

  it('hex round-trips and matches toString(16)', () => {
    fc.assert(
      // Past 64 bytes toHexAt builds its string another way.
      fc.property(fc.uint8Array({ maxLength: 100 }), (b) => {
        const hex = toHex(b);
        expect(hex).toBe(Array.from(b, (x) => x.toString(16).padStart(2, '0')).join(''));
        expect(fromHex(hex)).toEqual(b);
        expect(fromHex(hex.toUpperCase())).toEqual(b);
        const out = new Uint8Array(b.length + 2);
        writeHex(hex, out, 1);
        expect(out.subarray(1, 1 + b.length)).toEqual(b);
        expect(toHexAt(out, 1, b.length)).toBe(hex);
        writeHex(hex.toUpperCase(), out, 1);
        expect(out.subarray(1, 1 + b.length)).toEqual(b);
      }),
      { numRuns: 200 },
    );
  });

  it('writeSha1Hex decodes 40 lowercase hex digits and refuses anything else', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 20, maxLength: 20 }), fc.nat(39), fc.integer({ min: 0, max: 0xffff }), (b, at, c) => {
        const hex = toHex(b);
        const out = new Uint8Array(21);
        expect(writeSha1Hex(hex, out, 1)).toBe(true);
        expect(out.subarray(1)).toEqual(b);
        const ch = String.fromCharCode(c);
        const changed = hex.slice(0, at) + ch + hex.slice(at + 1);
        expect(writeSha1Hex(changed, out, 1)).toBe(/^[0-9a-f]$/.test(ch));
      }),
      { numRuns: 300 },
    );
    const id = 'a'.repeat(40);
    for (const bad of ['A'.repeat(40), id.slice(1), `${id}0`, `${id.slice(1)}\u0130`, `${id.slice(1)}\u0061\u0301`.slice(0, 40)]) {
      expect(writeSha1Hex(bad, new Uint8Array(20), 0)).toBe(/^[0-9a-f]{40}$/.test(bad));
    }
    expect(writeSha1Hex(undefined as unknown as string, new Uint8Array(20), 0)).toBe(false);
  });

  it('fromHex rejects odd lengths and non-hex characters with a typed error', () => {
    for (const bad of ['a', 'abc', 'zz', '0g', ' 0', '-1', '０１']) {
      expect(() => fromHex(bad)).toThrow(HubError);
    }
    try {
      fromHex('00x0');
    } catch (e) {
      expect((e as HubError).code).toBe('bad-hex');
      expect((e as HubError).data.offset).toBe(2);
    }
  });

  it('utf8 round-trips strings; strict decoding refuses invalid bytes', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme', maxLength: 30 }), (s) => {
        expect(utf8Decode(utf8Encode(s), true)).toBe(s);
      }),
      { numRuns: 100 },
    );
    expect(utf8Encode(utf8Decode(utf8Encode('\ufeffx'), true))).toEqual(utf8Encode('\ufeffx'));
    const bad = new Uint8Array([0x61, 0xff, 0x62]);
    expect(utf8Decode(bad)).toBe('a\ufffdb');
    expect(() => utf8Decode(bad, true)).toThrow(HubError);
  });

  it('indexOfByte respects its bounds', () => {
    const b = utf8Encode('abcabc');
    expect(indexOfByte(b, 0x63)).toBe(2);
    expect(indexOfByte(b, 0x63, 3)).toBe(5);
    expect(indexOfByte(b, 0x63, 3, 5)).toBe(-1);
    expect(indexOfByte(b, 0x61, 1, 4)).toBe(3);
  });
});

function referenceCompare(a: Uint8Array, b: Uint8Array): number {
  const sa = Array.from(a, (x) => String.fromCharCode(x)).join('');
  const sb = Array.from(b, (x) => String.fromCharCode(x)).join('');
  return sa < sb ? -1 : sa > sb ? 1 : 0;
}
