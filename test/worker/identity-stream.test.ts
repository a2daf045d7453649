// What git-http's written() relies on to use a clone's output chunks again: a write to an
// IdentityTransformStream completes only once the reader has taken its bytes, and what the
// reader got is its own copy (changing the written chunk afterwards changes nothing read).
import { describe, expect, it } from 'vitest';

describe('IdentityTransformStream as the answer of an upload-pack', () => {
  it('a write completes only after a read took all its bytes, and the bytes read are a copy', async () => {
    const { readable, writable } = new IdentityTransformStream();
    const writer = writable.getWriter();
    const chunk = new Uint8Array(64 * 1024).map((_, i) => i & 0xff);
    let done = false;
    const write = writer.write(chunk).then(() => (done = true));
    await new Promise((r) => setTimeout(r, 20));
    expect(done).toBe(false);
    const reader = readable.getReader();
    const got: Uint8Array[] = [];
    let n = 0;
    while (n < chunk.length) {
      const { value } = await reader.read();
      got.push(value!);
      n += value!.length;
    }
    await write;
    expect(done).toBe(true);
    expect(got.every((g) => g.buffer !== chunk.buffer)).toBe(true);
    chunk.fill(0);
    const all = new Uint8Array(n);
    got.reduce((at, g) => (all.set(g, at), at + g.length), 0);
    expect(all.every((b, i) => b === (i & 0xff))).toBe(true);
  });
});
