/** node:zlib inside workerd (nodejs_compat): the native zlib must work there, exactly as in Node. */
import { describe, expect, it } from 'vitest';
import { ZlibError } from '../../shared/core/errors.js';
import { pureZlib } from '../../shared/core/zlib.js';
import { hasNativeInflate, nativeZlib } from '../../worker/native-zlib.js';

const text = (n: number) => new TextEncoder().encode(Array.from({ length: n }, (_, i) => `row ${i}\n`).join(''));

describe('native zlib in workerd', () => {
  it('inflates on node:zlib through its native handle (the engine check passed, not the pure fallback)', () => {
    expect((globalThis as { navigator?: { userAgent?: string } }).navigator?.userAgent).toBe('Cloudflare-Workers');
    expect(hasNativeInflate()).toBe(true);
  });

  it('the engine keeps working after every kind of error (truncated, damaged, bad checksum, too large)', () => {
    const d = text(400);
    const s = nativeZlib.deflate(d);
    const bad = s.slice();
    bad[bad.length - 1] ^= 1;
    const garbage = s.slice();
    garbage[2] ^= 0xff;
    for (let round = 0; round < 3; round++) {
      expect(nativeZlib.inflatePrefix(s.subarray(0, 9), 1 << 20)).toBeNull();
      expect(() => nativeZlib.inflatePrefix(bad, 1 << 20)).toThrow(ZlibError);
      expect(() => nativeZlib.inflatePrefix(garbage, 1 << 20)).toThrow(ZlibError);
      expect(() => nativeZlib.inflatePrefix(s, d.length - 1)).toThrow(ZlibError);
      const r = nativeZlib.inflatePrefix(new Uint8Array([...s, 9, 9]), d.length)!;
      expect(r.consumed).toBe(s.length);
      expect(r.output).toEqual(d);
    }
  });

  it('the streaming inflater (an engine per stream) agrees with pure on output and stream end at any split', () => {
    const d = text(5000);
    const s = nativeZlib.deflate(d, 6);
    const tailed = new Uint8Array([...s, 1, 2, 3]);
    const run = (z: typeof pureZlib, cut: number) => {
      const inf = z.createInflater(d.length);
      const out: number[] = [];
      for (const [from, to] of [[0, cut], [cut, tailed.length], [tailed.length, tailed.length]]) {
        const step = inf.push(tailed.subarray(from, to));
        for (const o of step.output) out.push(...o);
        if (step.done) return `${from + step.used}:${out.length}:${out.every((b, i) => b === d[i])}`;
      }
      return 'open';
    };
    for (let cut = 0; cut <= tailed.length; cut += 97) expect(run(nativeZlib, cut)).toBe(run(pureZlib, cut));
    expect(run(nativeZlib, s.length)).toBe(`${s.length}:${d.length}:true`);
    const inf = nativeZlib.createInflater(d.length - 1);
    expect(() => inf.push(s)).toThrow(ZlibError);
  });

  it('the streaming deflater (node:zlib, not fflate) makes one zlib stream of its input at any split, as deflateSync does', () => {
    const d = text(20000);
    const whole = nativeZlib.deflate(d, 6);
    for (const cut of [0, 1, 4096, 100_000, d.length]) {
      const def = nativeZlib.createDeflater(6);
      const out = [...def.push(d.subarray(0, cut), false), ...def.push(d.subarray(cut), false), ...def.push(new Uint8Array(0), true)];
      const bytes = new Uint8Array(out.reduce((n, o) => n + o.length, 0));
      let at = 0;
      for (const o of out) (bytes.set(o, at), (at += o.length));
      const same = (a: Uint8Array, b: Uint8Array) => a.length === b.length && a.every((x, i) => x === b[i]); // toEqual is slow on MBs
      expect(same(bytes, whole)).toBe(true); // the same engine and level: the same bytes (fflate's differ)
      expect(same(pureZlib.inflate(bytes), d)).toBe(true);
      expect(() => def.push(d, true)).toThrow(ZlibError);
    }
  });

  it('output grows past the first guess up to the limit (a stream that inflates 1000:1)', () => {
    const d = new Uint8Array(3_000_000).fill(7);
    const s = nativeZlib.deflate(d, 9);
    const all7 = (out: Uint8Array) => out.length === d.length && out.every((b) => b === 7); // toEqual is slow on MBs
    expect(all7(nativeZlib.inflate(s))).toBe(true);
    expect(all7(nativeZlib.inflate(s, d.length))).toBe(true);
    expect(() => nativeZlib.inflate(s, d.length - 1)).toThrow(ZlibError);
  });

  it('outputs stay whole while the buffers the engine outgrew or cut them from are freed (releaseNow: a freed buffer reads as empty)', () => {
    expect('transfer' in ArrayBuffer.prototype).toBe(true); // workerd frees: a wrong release shows as a length 0 below
    const same = (a: Uint8Array, b: Uint8Array) => a.length === b.length && a.every((x, i) => x === b[i]);
    // 1000:1 (the output doubles from 4x its input), ~1:1 (cut out of a 4x buffer), and in between.
    const datas = [new Uint8Array(400_000).fill(3), new Uint8Array(50_000).map((_, i) => (i * 2654435761) >>> 24), text(20_000)];
    const kept = datas.map((d) => {
      const out = nativeZlib.inflatePrefix(nativeZlib.deflate(d), 1 << 24)!.output;
      expect(same(out, d)).toBe(true);
      return out;
    });
    // Later inflates reuse nothing of theirs: each output is still whole.
    for (const d of datas) expect(same(nativeZlib.inflate(nativeZlib.deflate(d), 1 << 24), d)).toBe(true);
    kept.forEach((out, i) => expect(same(out, datas[i])).toBe(true));
    // The streaming inflater's pieces (each cut out of a step's 256 KiB buffer when small), kept across pushes.
    const d = text(30_000);
    const s = nativeZlib.deflate(d);
    const inf = nativeZlib.createInflater(d.length);
    const pieces: Uint8Array[] = [];
    for (let at = 0; at < s.length; at += 1000) pieces.push(...inf.push(s.subarray(at, at + 1000)).output);
    expect(pieces.length).toBeGreaterThan(10);
    expect(same(new Uint8Array(pieces.flatMap((p) => [...p])), d)).toBe(true);
  });

  it('inflatePrefix gives the exact end of each of many streams back to back', () => {
    const datas = Array.from({ length: 50 }, (_, i) => text(i * 20));
    const streams = datas.map((d, i) => nativeZlib.deflate(d, i % 10));
    const all = new Uint8Array(streams.reduce((n, s) => n + s.length, 0));
    streams.reduce((at, s) => (all.set(s, at), at + s.length), 0);
    let at = 0;
    for (const [i, d] of datas.entries()) {
      const r = nativeZlib.inflatePrefix(all.subarray(at), d.length)!;
      expect(r.consumed).toBe(streams[i].length);
      expect(r.output).toEqual(d);
      at += r.consumed;
    }
  });

  it('null when truncated, typed errors for limits and damage; agrees with pure', () => {
    const d = text(300);
    const s = nativeZlib.deflate(d);
    expect(nativeZlib.inflatePrefix(s.subarray(0, s.length - 3), 1 << 20)).toBeNull();
    expect(() => nativeZlib.inflatePrefix(s, 10)).toThrow(ZlibError);
    const bad = s.slice();
    bad[bad.length - 1] ^= 1;
    expect(() => nativeZlib.inflate(bad)).toThrow(ZlibError);
    expect(pureZlib.inflate(s)).toEqual(nativeZlib.inflate(s));
    expect(nativeZlib.inflate(pureZlib.deflate(d))).toEqual(d);
  });

  it('inflate to exactly the limit, whatever the size (workerd refuses some with "Memory limit exceeded")', () => {
    for (const n of [12, 1000, 65536, 100000, 100001, 300000]) {
      const d = new Uint8Array(n).map((_, i) => (i * 7) % 251);
      const s = nativeZlib.deflate(d);
      expect(nativeZlib.inflate(s, n)).toEqual(d);
      expect(nativeZlib.inflate(s, n + 1)).toEqual(d);
      expect(() => nativeZlib.inflate(s, n - 1)).toThrow(ZlibError);
    }
  });

  it('inflate of a whole stream (the native path in workerd): exact output, typed errors for truncation, limits and damage', () => {
    const d = text(3000);
    const s = nativeZlib.deflate(d, 1);
    expect(nativeZlib.inflate(s, d.length)).toEqual(d);
    const code = (f: () => unknown) => {
      try {
        f();
      } catch (e) {
        return (e as ZlibError).code;
      }
      return 'ok';
    };
    expect(code(() => nativeZlib.inflate(s.subarray(0, s.length - 5)))).toBe('zlib-truncated');
    // Under an output cap workerd reports a truncated stream as going past it: a typed error all the same.
    expect(code(() => nativeZlib.inflate(s.subarray(0, s.length - 5), d.length))).toMatch(/^zlib-(truncated|too-large)$/);
    expect(code(() => nativeZlib.inflate(s, d.length - 1))).toBe('zlib-too-large');
    const bad = s.slice();
    bad[10] ^= 0xff;
    expect(code(() => nativeZlib.inflate(bad, d.length))).toMatch(/^zlib-(damaged|checksum|truncated)$/);
  });
});
