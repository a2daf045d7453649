// A push whose body chunks are handed back (releaseChunk) and overwritten at once, as a ChunkPool's
// next read does: nothing may be read from a chunk after its release.
import { describe, expect, it } from 'vitest';
import { utf8Encode } from '../../../../shared/core/bytes.js';
import { ByteReader, type ByteStream } from '../../../../shared/core/stream.js';
import { readObject } from '../../../../shared/storage/object-store.js';
import { blob, CAPS, commit, history, newRepo, packBytes, pushBody, pushRaw, tree, whole, ZERO_ID } from './receive-pack-helpers.js';

/** `body` in chunks of `size` bytes, each in its own buffer; a released buffer is scribbled over. */
function scribbled(body: Uint8Array, size: number): { stream: ByteStream; release: (c: Uint8Array) => void; released: () => number } {
  const mine = new Set<ArrayBufferLike>();
  let released = 0;
  async function* stream() {
    for (let i = 0; i < body.length; i += size) {
      const c = body.slice(i, i + size);
      mine.add(c.buffer);
      yield c;
    }
  }
  const release = (c: Uint8Array) => {
    expect(mine.delete(c.buffer)).toBe(true); // ours, and once
    new Uint8Array(c.buffer).fill(0xaa);
    released++;
  };
  return { stream: stream(), release, released: () => released };
}

describe('receive-pack with released body chunks', () => {
  it('stores every object intact though each chunk is overwritten as soon as it is released', async () => {
    const r = newRepo();
    const { objects, tip } = history(100);
    // Larger blobs than a chunk, and a delta whose base is read back from the pack.
    let x = 7;
    const noise = (n: number) => Array.from({ length: n }, () => String.fromCharCode(97 + ((x = (x * 1103515245 + 12345) >>> 0) >>> 27))).join('');
    const big = blob(noise(30000));
    const bigger = blob(`${big.data.length}${noise(20000)}`);
    const t = tree([
      ['100644', 'a', big.id],
      ['100644', 'b', bigger.id],
    ]);
    const c = commit(t.id, [tip.id], 'big');
    const pack = await packBytes([...[...objects, big, bigger, t, c].map(whole)]);
    const body = pushBody([[ZERO_ID, c.id, 'refs/heads/main']], CAPS, pack);
    const src = scribbled(body, 256);
    const reply = await pushRaw(r, src.stream, true, { releaseChunk: src.release });
    expect(reply.errors).toEqual([]);
    expect(reply.report).toEqual(['unpack ok', 'ok refs/heads/main']);
    expect(src.released()).toBeGreaterThan(10);
    for (const o of [...objects, big, bigger, t, c]) {
      const got = await readObject({ index: r.repo, segments: r.segments, primitives: r.store.primitives, appliers: r.store.appliers }, o.id);
      expect(got?.data).toEqual(o.data);
    }
  });

  it('a ByteReader releases a chunk once read past, when it next pulls', async () => {
    const released: string[] = [];
    async function* src() {
      for (const s of ['ab', 'cd', 'ef']) yield utf8Encode(s);
    }
    const reader = new ByteReader(src(), { onRelease: (c) => released.push(new TextDecoder().decode(c)) });
    expect(new TextDecoder().decode(await reader.readExactly(2))).toBe('ab');
    expect(released).toEqual([]); // the view just returned is still the caller's
    await reader.readExactly(3);
    expect(released).toEqual(['ab']);
    await reader.readExactly(1); // 'f', buffered already: no pull, no release
    expect(released).toEqual(['ab']);
    expect(await reader.atEnd()).toBe(true);
    expect(released).toEqual(['ab', 'cd', 'ef']);
  });
});
