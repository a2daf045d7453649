import { describe, expect, it } from 'vitest';
import { purePrimitives } from '../../../shared/core/primitives.js';

const hex = (b: Uint8Array) => Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');

describe('pure primitives', () => {
  it('hashes a git blob header + content to the id git gives', () => {
    const data = new TextEncoder().encode('blob 10\0hello git\n');
    expect(hex(purePrimitives.hash('sha1').update(data).digest())).toBe('8d0e41234f24b6da002d962a26c2495ea16a425f');
  });
  it('round-trips zlib', () => {
    const data = new TextEncoder().encode('hello hello hello hello');
    const z = purePrimitives.zlib;
    expect(z.inflate(z.deflate(data))).toEqual(data);
  });
});
