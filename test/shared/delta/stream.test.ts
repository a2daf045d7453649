import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { ByteStream } from '../../../shared/core/stream.js';
import { DeltaError } from '../../../shared/delta/errors.js';
import { applyFossilDelta, createFossilDelta } from '../../../shared/delta/fossil.js';
import { applyGitDelta, createGitDelta } from '../../../shared/delta/git.js';
import { applyDeltaStream, createDeltaStream } from '../../../shared/delta/stream.js';
import { editedPair } from './helpers.js';

async function* chunked(data: Uint8Array, cuts: number[]): ByteStream {
  let at = 0;
  for (const c of [...cuts.map((x) => x % (data.length + 1))].sort((a, b) => a - b)) {
    yield data.subarray(at, Math.max(at, c));
    at = Math.max(at, c);
  }
  yield data.subarray(at);
}

async function gather(s: ByteStream): Promise<{ bytes: Uint8Array; chunks: number[] }> {
  const parts: Uint8Array[] = [];
  for await (const c of s) parts.push(c);
  const bytes = new Uint8Array(parts.reduce((n, c) => n + c.length, 0));
  let o = 0;
  for (const c of parts) {
    bytes.set(c, o);
    o += c.length;
  }
  return { bytes, chunks: parts.map((c) => c.length) };
}

async function code(s: ByteStream): Promise<string> {
  try {
    await gather(s);
  } catch (e) {
    if (e instanceof DeltaError) return e.code;
    throw e;
  }
  return 'no error';
}

const pair = editedPair(3000, 200, 400, 5);

describe('streaming delta apply', () => {
  it('yields the target in bounded chunks for any split of a fossil or git delta', async () => {
    await fc.assert(
      fc.asyncProperty(pair, fc.array(fc.nat(), { maxLength: 8 }), fc.integer({ min: 1, max: 700 }), async ({ base, target }, cuts, chunkSize) => {
        for (const [format, delta] of [
          ['fossil', createFossilDelta(base, target)],
          ['git', createGitDelta(base, target)],
        ] as const) {
          const { bytes, chunks } = await gather(applyDeltaStream(base, chunked(delta, cuts), format, { chunkSize }));
          expect(bytes).toEqual(target);
          expect(Math.max(0, ...chunks)).toBeLessThanOrEqual(chunkSize);
        }
      }),
      { numRuns: 150 },
    );
  });

  it('accepts a whole delta as bytes', async () => {
    const base = new TextEncoder().encode('a base text that is long enough to be copied from');
    const target = new TextEncoder().encode('a base text that is long enough to be copied from, and more');
    expect((await gather(applyDeltaStream(base, createFossilDelta(base, target), 'fossil'))).bytes).toEqual(target);
  });

  // The order of checks differs (a stream cannot see truncation before the end), so only
  // the verdict must agree: the same target, or a DeltaError.
  it('fails exactly when the whole-delta appliers fail, on any split', async () => {
    const base = new TextEncoder().encode('0123456789abcdefghijklmnopqrstuvwxyz0123456789');
    const target = new TextEncoder().encode('abcdefghijklmnopqrst0123456789 and an insert');
    const fd = createFossilDelta(base, target);
    const gd = createGitDelta(base, target);
    await fc.assert(
      fc.asyncProperty(fc.nat(), fc.integer({ min: 0, max: 255 }), fc.array(fc.nat(), { maxLength: 4 }), fc.boolean(), async (i, v, cuts, git) => {
        const d = (git ? gd : fd).slice();
        d[i % d.length] = v;
        let whole: Uint8Array | undefined;
        try {
          whole = git ? applyGitDelta(base, d) : applyFossilDelta(base, d);
        } catch (e) {
          expect(e).toBeInstanceOf(DeltaError);
        }
        const s = applyDeltaStream(base, chunked(d, cuts), git ? 'git' : 'fossil', { chunkSize: 7 });
        if (whole) expect((await gather(s)).bytes).toEqual(whole);
        else expect(await code(s)).toMatch(/^delta-/);
      }),
      { numRuns: 500 },
    );
  });

  it('checks the checksum before handing out the last chunk', async () => {
    const base = new TextEncoder().encode('0123456789abcdefghijklmnopqrstuvwxyz');
    const bad = new TextEncoder().encode('E\nA@A,4:01230;');
    const seen: number[] = [];
    let error: unknown;
    try {
      for await (const c of applyDeltaStream(base, bad, 'fossil', { chunkSize: 4 })) seen.push(c.length);
    } catch (e) {
      error = e;
    }
    expect((error as DeltaError).code).toBe('delta-bad-checksum');
    expect(seen.reduce((a, b) => a + b, 0)).toBeLessThan(14);
  });

  it('rejects a declared size over the limit before producing anything', async () => {
    const base = new Uint8Array(10);
    expect(await code(applyDeltaStream(base, new TextEncoder().encode('~~~~~\n'), 'fossil'))).toBe('delta-too-large');
    expect(await code(applyDeltaStream(base, Uint8Array.of(10, 0xff, 0xff, 0xff, 0x7f), 'git', { maxSize: 1000 }))).toBe('delta-too-large');
    expect(await code(applyDeltaStream(base, Uint8Array.of(11, 0), 'git'))).toBe('delta-base-size');
  });
});

describe('streaming delta create', () => {
  it('produces the same bytes as createFossilDelta, in chunks', async () => {
    const base = new Uint8Array(100_000).map((_, i) => (i * 31 + (i >> 7)) & 0xff);
    const target = base.slice(500);
    target.set([1, 2, 3], 40_000);
    const { bytes } = await gather(createDeltaStream(base, target, 16));
    expect(bytes).toEqual(createFossilDelta(base, target));
    expect(applyFossilDelta(base, bytes)).toEqual(target);
  });
});
