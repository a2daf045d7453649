// The bounded base cache used by the object store view.
import { describe, expect, it } from 'vitest';
import { LruBaseCache } from '../../../shared/storage/object-store.js';

describe('LruBaseCache', () => {
  const data = (n: number) => new Uint8Array(n);

  it('evicts least recently used entries to stay within its byte budget', () => {
    const cache = new LruBaseCache(10);
    cache.set('a', data(4));
    cache.set('b', data(4));
    expect(cache.get('a')).toBeDefined(); // a is now more recent than b
    cache.set('c', data(4));
    expect(cache.get('b')).toBeUndefined();
    expect(cache.get('a')?.length).toBe(4);
    expect(cache.get('c')?.length).toBe(4);
    expect(cache.size).toBe(8);
  });

  it('does not keep an entry larger than the whole budget, nor count a replaced one twice', () => {
    const cache = new LruBaseCache(10);
    cache.set('a', data(3));
    cache.set('huge', data(11));
    expect(cache.get('huge')).toBeUndefined();
    expect(cache.get('a')).toBeDefined();
    cache.set('a', data(5));
    expect(cache.size).toBe(5);
  });
});
