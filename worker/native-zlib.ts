/**
 * Native zlib over node:zlib (Node, and workerd with nodejs_compat).
 *
 * inflatePrefix uses `inflateSync(data, { info: true })`: the returned engine's
 * `bytesWritten` is the input the stream occupied, so trailing bytes (the next
 * pack entry) are not an error; a truncated stream fails with "unexpected end of
 * file" and becomes null. Output is capped with `maxOutputLength`. If a runtime
 * does not report `bytesWritten`, the pure decoder is used instead (detected on
 * each call, no module state). Streaming inflate stays on the pure decoder: the
 * node:zlib streaming classes are asynchronous and do not report the stream end
 * exactly.
 *
 * In workerd, though, `info: true` leaves the fast C++ path: each call builds a
 * whole JS Zlib engine (a stream object with its own output buffer and a native
 * z_stream) that V8 does not account for, so thousands of calls grow the
 * process by hundreds of MB before a GC reclaims them (measured: a 52 MB,
 * 22584-object push took workerd's RSS +640 MB through inflatePrefix alone,
 * +73 MB with the pure decoder, which was also 2.4 s faster). workerd
 * (navigator.userAgent 'Cloudflare-Workers') therefore inflates with the pure
 * decoder; Node keeps node:zlib.
 */
import * as zlib from 'node:zlib';
import { ZlibError } from '../shared/core/errors.js';
import type { InflateResult, Zlib } from '../shared/core/primitives.js';
import { pureZlib } from '../shared/core/zlib.js';

const asBytes = (b: Buffer): Uint8Array => new Uint8Array(b.buffer, b.byteOffset, b.byteLength);

/** Map a node:zlib failure to ZlibError (null for a stream that ended early). */
function mapError(e: unknown, maxSize: number): ZlibError | null {
  const err = e as { code?: string; message?: string };
  if (err.code === 'ERR_BUFFER_TOO_LARGE' || e instanceof RangeError) {
    return new ZlibError('zlib-too-large', `inflated past ${maxSize} bytes`, { limit: maxSize });
  }
  if (err.code === 'Z_BUF_ERROR' || /unexpected end/.test(err.message ?? '')) return null;
  if (/incorrect data check/.test(err.message ?? '')) return new ZlibError('zlib-checksum', 'Adler-32 mismatch');
  return new ZlibError('zlib-damaged', `damaged zlib stream: ${err.message ?? String(e)}`);
}

function outputOptions(maxSize: number): zlib.ZlibOptions {
  // maxOutputLength must be a positive safe integer no larger than buffer.kMaxLength.
  return Number.isFinite(maxSize) && maxSize < 2 ** 31 ? { maxOutputLength: Math.max(1, maxSize) } : {};
}

/** workerd, where node:zlib's `info: true` path is slower than the pure decoder and balloons memory (see above). */
const IN_WORKERD = (globalThis as { navigator?: { userAgent?: string } }).navigator?.userAgent === 'Cloudflare-Workers';

function inflatePrefix(data: Uint8Array, maxSize: number): InflateResult | null {
  if (IN_WORKERD) return pureZlib.inflatePrefix(data, maxSize);
  let res: { buffer: Buffer; engine: { bytesWritten?: number } };
  try {
    res = zlib.inflateSync(data, { ...outputOptions(maxSize), info: true }) as unknown as typeof res;
  } catch (e) {
    const mapped = mapError(e, maxSize);
    if (mapped) throw mapped;
    return null;
  }
  const consumed = res.engine?.bytesWritten;
  if (typeof consumed !== 'number') return pureZlib.inflatePrefix(data, maxSize);
  if (res.buffer.byteLength > maxSize) throw new ZlibError('zlib-too-large', `inflated past ${maxSize} bytes`, { limit: maxSize });
  return { output: asBytes(res.buffer), consumed };
}

/**
 * A whole stream in workerd: plain inflateSync stays on the fast C++ path
 * (no engine object; ~3x faster than the pure decoder on a shallow clone's
 * rebuilt objects). It does not say where the stream ended, so bytes after
 * it go unnoticed here (callers check the output size against the index).
 */
function inflateWhole(data: Uint8Array, maxSize: number): Uint8Array {
  let out: Buffer;
  try {
    out = zlib.inflateSync(data, outputOptions(maxSize));
  } catch (e) {
    // workerd refuses some outputs at or just under maxOutputLength ("Memory
    // limit exceeded": 100000 bytes with a limit of 100000 or 100001, for one),
    // which every fossil message and record, inflated to its exact size, may hit.
    if (/Memory limit exceeded/.test((e as Error).message ?? '')) return pureZlib.inflate(data, maxSize);
    throw mapError(e, maxSize) ?? new ZlibError('zlib-truncated', 'zlib stream ends early');
  }
  if (out.byteLength > maxSize) throw new ZlibError('zlib-too-large', `inflated past ${maxSize} bytes`, { limit: maxSize });
  return asBytes(out);
}

/** node:zlib for the whole-buffer paths, the pure decoder for streaming inflate. */
export const nativeZlib: Zlib = {
  deflate: (data, level = 6) => asBytes(zlib.deflateSync(data, { level })),
  inflate(data, maxSize = Infinity) {
    if (IN_WORKERD) return inflateWhole(data, maxSize);
    const r = inflatePrefix(data, maxSize);
    if (!r) throw new ZlibError('zlib-truncated', 'zlib stream ends early');
    if (r.consumed !== data.length) {
      throw new ZlibError('zlib-trailing-data', `${data.length - r.consumed} bytes after the zlib stream`, { consumed: r.consumed });
    }
    return r.output;
  },
  inflatePrefix,
  createInflater: pureZlib.createInflater,
  createDeflater: pureZlib.createDeflater,
};
