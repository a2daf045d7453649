// Joined output of the fetch path: the pack writer's chunkSize and side-band
// packets framed into one buffer must be the same bytes as unjoined.
import { describe, expect, it } from 'vitest';
import { purePrimitives } from '../../../../shared/core/primitives.js';
import { entriesToPackBytes, OutputBuffers, type PackWriteEntry } from '../../../../shared/protocols/git/pack-writer.js';
import { encodeSideband, encodeSidebandJoined, SIDEBAND_64K_MAX } from '../../../../shared/protocols/git/sideband.js';

const p = purePrimitives;
const concat = (parts: Uint8Array[]) => {
  const out = new Uint8Array(parts.reduce((n, c) => n + c.length, 0));
  let at = 0;
  for (const c of parts) (out.set(c, at), (at += c.length));
  return out;
};
async function chunksOf(s: AsyncIterable<Uint8Array>): Promise<Uint8Array[]> {
  const out: Uint8Array[] = [];
  for await (const c of s) out.push(c.slice());
  return out;
}

describe('joined fetch output', () => {
  const big = new Uint8Array(5000).map((_, i) => (i * 7919) & 0xff);
  const entries: PackWriteEntry[] = [
    ...Array.from({ length: 40 }, (_, i): PackWriteEntry => ({ kind: 'object', type: 'blob', data: new TextEncoder().encode(`blob ${i}\n`) })),
    { kind: 'raw', type: 'blob', size: big.length, compressed: p.zlib.deflate(big, 0) },
  ];

  it('chunkSize joins the pack into whole chunks with the same bytes and trailer', async () => {
    const plain = await chunksOf(entriesToPackBytes(entries, entries.length, { primitives: p }));
    const joined = await chunksOf(entriesToPackBytes(entries, entries.length, { primitives: p, chunkSize: 1000 }));
    expect(concat(joined)).toEqual(concat(plain));
    // Every chunk but the last two (the rest, the SHA-1 trailer) is exactly 1000 bytes.
    expect(joined.slice(0, -2).every((c) => c.length === 1000)).toBe(true);
    expect(joined.at(-1)!.length).toBe(20);
    expect(joined.length).toBeLessThan(plain.length / 10);
  });

  it('sideband frames the joined chunks as band-1 pkt-lines carrying the same pack', async () => {
    const plain = concat(await chunksOf(entriesToPackBytes(entries, entries.length, { primitives: p })));
    for (const [chunkSize, sideband] of [[900, 300], [1000, 300], [65515 * 4, 65515]] as const) {
      const framed = await chunksOf(entriesToPackBytes(entries, entries.length, { primitives: p, chunkSize, sideband }));
      const data: Uint8Array[] = [];
      for (const chunk of framed) {
        // Each chunk is whole pkt-lines: length, band 1, at most `sideband` data bytes.
        for (let at = 0; at < chunk.length; ) {
          const len = parseInt(new TextDecoder().decode(chunk.subarray(at, at + 4)), 16);
          expect(len).toBeGreaterThan(5);
          expect(len - 5).toBeLessThanOrEqual(sideband);
          expect(chunk[at + 4]).toBe(1);
          expect(at + len).toBeLessThanOrEqual(chunk.length);
          data.push(chunk.subarray(at + 5, at + len));
          at += len;
        }
      }
      expect(concat(data)).toEqual(plain);
      // The trailer is a packet of its own, and a full chunk carries chunkSize data bytes.
      expect(framed.at(-1)!.length).toBe(25);
      if (plain.length > chunkSize + 20) expect(framed[0].length).toBe(chunkSize + 5 * Math.ceil(chunkSize / sideband));
    }
  });

  it('entries given in batches make the same pack, and the count is still checked', async () => {
    async function* batches(list: PackWriteEntry[], size: number) {
      for (let i = 0; i < list.length; i += size) yield list.slice(i, i + size);
    }
    const plain = concat(await chunksOf(entriesToPackBytes(entries, entries.length, { primitives: p })));
    expect(concat(await chunksOf(entriesToPackBytes(batches(entries, 7), entries.length, { primitives: p, chunkSize: 500 })))).toEqual(plain);
    await expect(chunksOf(entriesToPackBytes(batches(entries, 7), entries.length - 1, { primitives: p }))).rejects.toMatchObject({ code: 'pack-count-mismatch' });
  });

  it('encodeSidebandJoined is encodeSideband in one buffer', () => {
    for (const [len, max] of [[0, 10], [1, 10], [25, 10], [70000, SIDEBAND_64K_MAX], [131030, SIDEBAND_64K_MAX]] as const) {
      const data = new Uint8Array(len).map((_, i) => i & 0xff);
      expect(encodeSidebandJoined(1, data, max)).toEqual(concat(encodeSideband(1, data, max)));
    }
  });
});

describe('output chunk memory used again (OutputBuffers)', () => {
  const entries: PackWriteEntry[] = Array.from({ length: 300 }, (_, i): PackWriteEntry => ({ kind: 'object', type: 'blob', data: new TextEncoder().encode(`blob ${i}\n`.repeat(i % 7)) }));

  it('chunks released after they are copied come back as later chunks, and the pack is the same bytes', async () => {
    const plain = concat(await chunksOf(entriesToPackBytes(entries, entries.length, { primitives: p, chunkSize: 500, sideband: 100 })));
    const buffers = new OutputBuffers();
    const seen = new Set<ArrayBufferLike>();
    const parts: Uint8Array[] = [];
    for await (const c of entriesToPackBytes(entries, entries.length, { primitives: p, chunkSize: 500, sideband: 100, buffers })) {
      parts.push(c.slice());
      seen.add(c.buffer);
      // Scribbled over once given back: a chunk still in use would show it.
      buffers.release(c);
      c.fill(0xee);
    }
    expect(concat(parts)).toEqual(plain);
    expect(parts.length).toBeGreaterThan(10);
    expect(buffers.reused).toBeGreaterThan(parts.length - 5);
    expect(seen.size).toBeLessThanOrEqual(3);
  });

  it('takes back only its own buffers, each once, and never one of another size', () => {
    const buffers = new OutputBuffers();
    const a = buffers.take(100);
    buffers.release(new Uint8Array(100));
    buffers.release(a.subarray(0, 10));
    buffers.release(a);
    expect(buffers.take(100).buffer).toBe(a.buffer);
    expect(buffers.take(100).buffer).not.toBe(a.buffer);
    // One of another size (or detached by a consumer that took it over) is dropped, not handed out.
    buffers.release(a);
    expect(buffers.take(50).buffer).not.toBe(a.buffer);
    expect(buffers.take(100).buffer).not.toBe(a.buffer);
  });
});
