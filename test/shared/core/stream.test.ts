import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { concat } from '../../../shared/core/bytes.js';
import { HubError } from '../../../shared/core/errors.js';
import { ByteReader, collect, fromBytes, fromReadableStream, toReadableStream, type ByteStream } from '../../../shared/core/stream.js';

/** Cut `data` at the given points (sorted, deduplicated) into chunks, empty ones included. */
function chunked(data: Uint8Array, cuts: number[]): Uint8Array[] {
  const points = cuts.map((c) => c % (data.length + 1)).sort((a, b) => a - b);
  const parts: Uint8Array[] = [];
  let prev = 0;
  for (const p of [...points, data.length]) {
    parts.push(data.subarray(prev, p));
    prev = p;
  }
  return parts;
}

async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'no error';
  } catch (e) {
    expect(e).toBeInstanceOf(HubError);
    return (e as HubError).code;
  }
}

type Op =
  | { op: 'exactly'; n: number }
  | { op: 'upTo'; n: number }
  | { op: 'peek'; n: number }
  | { op: 'until'; byte: number; limit: number }
  | { op: 'byte' }
  | { op: 'skip'; n: number }
  | { op: 'chunk'; take: number }
  | { op: 'peekBuffered'; n: number }
  | { op: 'skipBuffered'; n: number };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ op: fc.constant('exactly' as const), n: fc.nat(40) }),
  fc.record({ op: fc.constant('upTo' as const), n: fc.nat(40) }),
  fc.record({ op: fc.constant('peek' as const), n: fc.nat(40) }),
  fc.record({ op: fc.constant('until' as const), byte: fc.integer({ min: 0, max: 3 }), limit: fc.integer({ min: 1, max: 40 }) }),
  fc.record({ op: fc.constant('byte' as const) }),
  fc.record({ op: fc.constant('skip' as const), n: fc.nat(40) }),
  fc.record({ op: fc.constant('chunk' as const), take: fc.nat(40) }),
  fc.record({ op: fc.constant('peekBuffered' as const), n: fc.nat(40) }),
  fc.record({ op: fc.constant('skipBuffered' as const), n: fc.nat(40) }),
);

describe('ByteReader', () => {
  it('behaves like slicing one array, whatever the chunking', async () => {
    await fc.assert(
      fc.asyncProperty(
        // Small alphabet so readUntil finds its delimiter sometimes and not others.
        fc.uint8Array({ maxLength: 120, max: 5 }),
        fc.array(fc.nat(200), { maxLength: 12 }),
        fc.array(opArb, { maxLength: 20 }),
        async (data, cuts, ops) => {
          const consumed: Uint8Array[] = [];
          const r = new ByteReader(fromBytes(chunked(data, cuts)), { onConsume: (b) => consumed.push(b.slice()) });
          let pos = 0;
          for (const o of ops) {
            const left = data.length - pos;
            switch (o.op) {
              case 'exactly':
                if (o.n <= left) {
                  expect(await r.readExactly(o.n)).toEqual(data.subarray(pos, pos + o.n));
                  pos += o.n;
                } else {
                  expect(await codeOf(r.readExactly(o.n))).toBe('unexpected-end');
                }
                break;
              case 'upTo': {
                const k = Math.min(o.n, left);
                expect(await r.readUpTo(o.n)).toEqual(data.subarray(pos, pos + k));
                pos += k;
                break;
              }
              case 'peek':
                expect(await r.peek(o.n)).toEqual(data.subarray(pos, pos + Math.min(o.n, left)));
                break;
              case 'until': {
                const i = data.subarray(pos).indexOf(o.byte);
                if (i >= 0 && i < o.limit) {
                  expect(await r.readUntil(o.byte, o.limit)).toEqual(data.subarray(pos, pos + i + 1));
                  pos += i + 1;
                } else {
                  const expected = i < 0 && left < o.limit ? 'unexpected-end' : 'too-long';
                  expect(await codeOf(r.readUntil(o.byte, o.limit))).toBe(expected);
                }
                break;
              }
              case 'byte':
                if (left > 0) expect(await r.readByte()).toBe(data[pos++]);
                else expect(await codeOf(r.readByte())).toBe('unexpected-end');
                break;
              case 'skip':
                if (o.n <= left) {
                  await r.skip(o.n);
                  pos += o.n;
                } else {
                  expect(await codeOf(r.skip(o.n))).toBe('unexpected-end');
                  pos = data.length; // a failed skip consumes what there was
                }
                break;
              // Without waiting: the bytes when buffered (never more than the source has), else null / nothing consumed.
              case 'peekBuffered': {
                const got = r.peekBuffered(o.n);
                if (o.n > 0 && o.n <= r.buffered) expect(got).toEqual(data.subarray(pos, pos + o.n));
                else expect(got).toBeNull();
                break;
              }
              case 'skipBuffered': {
                const buffered = r.buffered;
                expect(r.skipBuffered(o.n)).toBe(o.n <= buffered);
                if (o.n <= buffered) pos += o.n;
                expect(r.buffered).toBe(o.n <= buffered ? buffered - o.n : buffered);
                break;
              }
              case 'chunk': {
                const c = await r.peekChunk();
                if (left === 0) expect(c).toBeNull();
                else {
                  expect(c!.length).toBeGreaterThan(0);
                  expect(c).toEqual(data.subarray(pos, pos + c!.length));
                  const k = Math.min(o.take, c!.length);
                  await r.skip(k);
                  pos += k;
                }
                break;
              }
            }
            expect(r.position).toBe(pos);
          }
          expect(await r.atEnd()).toBe(pos === data.length);
          expect(await r.readAll(1000)).toEqual(data.subarray(pos));
          expect(concat(consumed)).toEqual(data);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('readAll fails past its limit without reading the rest', async () => {
    let pulled = 0;
    async function* endless(): ByteStream {
      for (;;) {
        pulled++;
        yield new Uint8Array(1000);
      }
    }
    const r = new ByteReader(endless());
    expect(await codeOf(r.readAll(4500))).toBe('too-large');
    expect(pulled).toBeLessThanOrEqual(5);
  });

  it('rejects negative and fractional counts', async () => {
    const r = new ByteReader(fromBytes(new Uint8Array(10)));
    expect(await codeOf(r.readExactly(-1))).toBe('bad-count');
    expect(await codeOf(r.readExactly(1.5))).toBe('bad-count');
  });

  it('reads inside one chunk without copying, across chunks with one copy', async () => {
    const a = new Uint8Array([1, 2, 3, 4]);
    const b = new Uint8Array([5, 6]);
    const r = new ByteReader(fromBytes([a, b]));
    const first = await r.readExactly(2);
    expect(first.buffer).toBe(a.buffer);
    const spanning = await r.readExactly(3);
    expect(Array.from(spanning)).toEqual([3, 4, 5]);
    expect(spanning.buffer).not.toBe(a.buffer);
  });

  it('is linear in the number of chunks (many one-byte chunks)', async () => {
    const n = 200_000;
    async function* ones(): ByteStream {
      for (let i = 0; i < n; i++) yield new Uint8Array([i & 0xff]);
    }
    const r = new ByteReader(ones());
    const t = performance.now();
    const all = await r.readExactly(n);
    expect(all.length).toBe(n);
    expect(all[n - 1]).toBe((n - 1) & 0xff);
    // Quadratic concatenation would take minutes here.
    expect(performance.now() - t).toBeLessThan(10_000);
  });

  it('cancel stops the source', async () => {
    let finished = false;
    async function* src(): ByteStream {
      try {
        for (;;) yield new Uint8Array(8);
      } finally {
        finished = true;
      }
    }
    const r = new ByteReader(src());
    await r.readExactly(4);
    await r.cancel();
    expect(finished).toBe(true);
  });
});

describe('collect and web streams', () => {
  it('collects within the limit and fails past it', async () => {
    const data = new Uint8Array(100).map((_, i) => i);
    expect(await collect(fromBytes(data, 7), 100)).toEqual(data);
    expect(await codeOf(collect(fromBytes(data, 7), 99))).toBe('too-large');
  });

  it('round-trips through ReadableStream', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.uint8Array({ maxLength: 50 }), { maxLength: 8 }), async (parts) => {
        const back = await collect(fromReadableStream(toReadableStream(fromBytes(parts))), 1e6);
        expect(back).toEqual(concat(parts));
      }),
      { numRuns: 50 },
    );
  });

  it('leaving a fromReadableStream loop early cancels the web stream', async () => {
    let cancelled = false;
    const rs = new ReadableStream<Uint8Array>({
      pull: (c) => c.enqueue(new Uint8Array(4)),
      cancel: () => {
        cancelled = true;
      },
    });
    for await (const chunk of fromReadableStream(rs)) {
      expect(chunk.length).toBe(4);
      break;
    }
    expect(cancelled).toBe(true);
  });

  // toEqual is slow on arrays of MBs.
  const sameBytes = (a: Uint8Array, b: Uint8Array) => a.length === b.length && a.every((x, i) => x === b[i]);

  it('reads a byte stream (request and R2 bodies) into large chunks, exact bytes whatever the source chunking', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.integer({ min: 0, max: 300_000 }), { maxLength: 6 }), async (sizes) => {
        let k = 0;
        const parts = sizes.map((n) => new Uint8Array(n).map(() => k++ & 0xff));
        const queue = parts.slice();
        const rs = new ReadableStream({
          type: 'bytes',
          pull(c) {
            let p = queue.shift();
            while (p && p.length === 0) p = queue.shift(); // a pull that enqueues nothing is not called again
            if (p) return c.enqueue(p.slice()); // enqueue transfers the buffer: keep `parts` readable
            c.close();
            c.byobRequest?.respond(0); // a byte source ends a pending BYOB read this way
          },
        });
        const chunks: Uint8Array[] = [];
        for await (const chunk of fromReadableStream(rs as ReadableStream<Uint8Array>)) chunks.push(chunk);
        expect(sameBytes(concat(chunks), concat(parts))).toBe(true);
        // A small chunk is a copy, never a view pinning a large read buffer.
        for (const c of chunks) expect(c.buffer.byteLength).toBeLessThanOrEqual(Math.max(4 * c.length, 256 * 1024));
      }),
      { numRuns: 30 },
    );
    const body = new Uint8Array(1_000_000).map((_, i) => (i * 13) & 0xff);
    const chunks: Uint8Array[] = [];
    for await (const chunk of fromReadableStream(new Response(body).body!)) chunks.push(chunk);
    expect(sameBytes(concat(chunks), body)).toBe(true);
  });

  it('leaving a byte-stream loop early cancels it', async () => {
    let cancelled = false;
    const rs = new ReadableStream({
      type: 'bytes',
      pull: (c) => c.enqueue(new Uint8Array(4)),
      cancel: () => {
        cancelled = true;
      },
    });
    for await (const chunk of fromReadableStream(rs as ReadableStream<Uint8Array>)) {
      // 4 bytes, or (workerd's readAtLeast) as many 4-byte pulls as fill the read's minimum.
      expect(chunk.length > 0 && chunk.length % 4 === 0).toBe(true);
      break;
    }
    expect(cancelled).toBe(true);
  });

  it('cancelling the ReadableStream returns the source iterator', async () => {
    let finished = false;
    async function* src(): ByteStream {
      try {
        for (;;) yield new Uint8Array(2);
      } finally {
        finished = true;
      }
    }
    const reader = toReadableStream(src()).getReader();
    await reader.read();
    await reader.cancel();
    expect(finished).toBe(true);
  });
});
