/**
 * Native zlib over node:zlib (Node, and workerd with nodejs_compat).
 *
 * Inflate drives one node:zlib `Inflate` engine through its native handle:
 * `handle.writeSync(Z_FINISH, in, inOff, inLen, out, outOff, outLen)` inflates
 * straight into our output buffer and leaves [availOut, availIn] in the engine's
 * `_writeState`, so the input the stream occupied is `inLen - availIn` (bytes
 * after the stream, the next pack entry, are left alone) and `reset()` readies
 * the engine for the next stream. zlib itself checks the header, the codes and
 * the Adler-32 trailer. This is what `inflateSync(data, { info: true })` does
 * inside, minus building a whole engine per call, which in workerd is slow and
 * native memory V8 does not see (measured: a 52 MB, 22584-object push grew
 * workerd's RSS +640 MB through info:true alone). Measured in workerd on the
 * streams of the bench corpora's packs: 3.1-3.3x less CPU than the pure decoder.
 *
 * `writeSync`, `reset`, `_handle` and `_writeState` are internals that Node and
 * workerd share (workerd ports Node's zlib) but do not document. The engine is
 * therefore checked on a known stream when first made; if that fails, or the
 * runtime lacks them, everything falls back to the pure decoder.
 *
 * The engine lives in module scope, unlike the rule for caches: it holds no
 * data between calls (reset before each stream, used only synchronously, so no
 * two callers can interleave), and one engine is ~40 KB of native memory.
 * A streaming inflater (pack entries over the pack reader's window) gets an
 * engine of its own, since its pushes are awaited apart.
 */
import * as zlib from 'node:zlib';
import { releaseNow } from '../shared/core/bytes.js';
import { ZlibError } from '../shared/core/errors.js';
import type { Deflater, InflateResult, Inflater, Zlib } from '../shared/core/primitives.js';
import { pureZlib } from '../shared/core/zlib.js';

const asBytes = (b: Buffer): Uint8Array => new Uint8Array(b.buffer, b.byteOffset, b.byteLength);

const Z_NO_FLUSH = 0;
const Z_SYNC_FLUSH = 2;
const Z_FINISH = 4;

/** The parts of node:zlib's native handle used here (Node and workerd). */
interface ZlibHandle {
  writeSync(flush: number, input: Uint8Array, inOff: number, inLen: number, out: Uint8Array, outOff: number, outLen: number): void;
  reset(): void;
  /** workerd: errors reach this handler as (errno, code, message). */
  setErrorHandler?(fn: (errno: number, code: string, message: string) => void): void;
  /** Node: errors reach `onerror(message, errno, code)`. */
  onerror?: (message: string, errno: number, code: string) => void;
}

/** One node:zlib Inflate engine, driven synchronously through its handle. */
class Engine {
  /** The last error zlib reported for the current stream. */
  private error: { code: string; message: string } | null = null;
  /** streamPush's output buffer when its output goes to a sink (a large blob is hashed, not kept: no 256 KiB array per step). */
  private scratch: Uint8Array | null = null;

  private constructor(
    private readonly handle: ZlibHandle,
    private readonly state: Uint32Array,
    /** Frees the native stream (a streaming inflater's own engine, once done). */
    readonly close: () => void,
  ) {
    const onError = (code: string, message: string) => (this.error = { code, message });
    if (typeof handle.setErrorHandler === 'function') handle.setErrorHandler((_errno, code, message) => onError(code, message));
    else handle.onerror = (message, _errno, code) => onError(code, message);
  }

  /** A new engine, or null where node:zlib lacks the handle internals used here. */
  static open(): Engine | null {
    const inflate = new zlib.Inflate() as unknown as { _handle?: ZlibHandle; _writeState?: unknown; on(ev: string, fn: () => void): void; close(): void };
    inflate.on('error', () => {}); // a destroyed engine must not raise an unhandled 'error' event
    const h = inflate._handle;
    if (!h || typeof h.writeSync !== 'function' || typeof h.reset !== 'function' || !(inflate._writeState instanceof Uint32Array)) return null;
    return new Engine(h, inflate._writeState, () => inflate.close());
  }

  /** An engine that inflated a known stream right (with trailing bytes, truncated, then again), or null. */
  static checked(): Engine | null {
    try {
      const engine = Engine.open();
      if (!engine) return null;
      const data = new TextEncoder().encode('engine check engine check engine check');
      const stream = new Uint8Array([...zlib.deflateSync(data), 1, 2, 3]);
      const r = engine.inflatePrefix(stream, data.length);
      const ok = r !== null && r.consumed === stream.length - 3 && r.output.length === data.length && r.output.every((b, i) => b === data[i]);
      const truncated = engine.inflatePrefix(stream.subarray(0, 10), data.length) === null; // errors are seen, and reset clears them
      return ok && truncated && engine.inflatePrefix(stream, data.length)?.consumed === stream.length - 3 ? engine : null;
    } catch {
      return null;
    }
  }

  /**
   * Inflate the stream at data[0]: output and input used, or null when data ends
   * first. The output buffer starts at the expected size (capped by the input's
   * size, since a claimed size is not proof) and doubles up to maxSize + 1;
   * `into`, when it holds maxSize + 1 bytes, is used instead.
   */
  inflatePrefix(data: Uint8Array, maxSize: number, into?: Uint8Array): InflateResult | null {
    if (!(maxSize >= 0)) throw new ZlibError('zlib-bad-limit', `bad output limit ${maxSize}`);
    const bound = maxSize + 1; // one byte more than allowed: filling it means too large
    let out = into !== undefined && into.length >= bound ? into : new Uint8Array(Math.min(bound, Math.max(data.length * 4, 1024)));
    let op = 0;
    let ip = 0;
    this.error = null;
    this.handle.reset();
    for (;;) {
      this.handle.writeSync(Z_FINISH, data, ip, data.length - ip, out, op, out.length - op);
      if (this.error) return this.failed();
      const availOut = this.state[0];
      const availIn = this.state[1];
      ip = data.length - availIn;
      op = out.length - availOut;
      if (availOut > 0) break; // Z_FINISH left output room: the stream ended (running out of input is an error)
      if (out.length >= bound) throw new ZlibError('zlib-too-large', `inflated past ${maxSize} bytes`, { limit: maxSize });
      const grown = new Uint8Array(Math.min(bound, out.length * 2));
      grown.set(out);
      releaseNow(out); // made here (never `into`, which has room for all): freed now, not at V8's next full GC
      out = grown;
    }
    if (out === into || op * 4 >= out.length * 3) return { output: out.subarray(0, op), consumed: ip };
    const output = out.slice(0, op);
    releaseNow(out); // the oversized buffer made here, copied out of
    return { output, consumed: ip };
  }

  /**
   * One chunk of a stream fed piece by piece (Z_SYNC_FLUSH, no reset): its output,
   * and the input used once the stream has ended. zlib stops taking input at the
   * stream's end, so input left with output room means the end was reached; a
   * stream ending exactly at a chunk's end is seen on the next push (used 0).
   */
  streamPush(chunk: Uint8Array, room: number, sink?: (piece: Uint8Array) => void): { output: Uint8Array[]; done: boolean; used: number; produced: number } {
    const output: Uint8Array[] = [];
    let ip = 0;
    let produced = 0;
    for (;;) {
      // Output buffers of up to 256 KiB, and never more than one byte past the limit; for a sink, one reused.
      const size = Math.min(256 * 1024, room - produced + 1);
      const out = sink ? (this.scratch ??= new Uint8Array(256 * 1024)).subarray(0, size) : new Uint8Array(size);
      this.handle.writeSync(Z_SYNC_FLUSH, chunk, ip, chunk.length - ip, out, 0, out.length);
      // Z_BUF_ERROR (no progress possible) is not reported with Z_SYNC_FLUSH; were it, more input is what it needs.
      if (this.error && this.failed() === null) return { output, done: false, used: chunk.length, produced };
      const availOut = this.state[0];
      const availIn = this.state[1];
      ip = chunk.length - availIn;
      const n = out.length - availOut;
      produced += n;
      if (produced > room) throw new ZlibError('zlib-too-large', 'inflated past the limit');
      if (sink) {
        if (n > 0) sink(out.subarray(0, n));
      } else if (n * 4 >= out.length * 3) output.push(out.subarray(0, n));
      else {
        if (n > 0) output.push(out.slice(0, n));
        releaseNow(out); // made here for this step and copied out of
      }
      if (availOut > 0) return { output, done: availIn > 0, used: ip, produced };
    }
  }

  private failed(): null {
    const { code, message } = this.error!;
    this.error = null;
    if (code === 'Z_BUF_ERROR') return null; // "unexpected end of file": the input ended inside the stream
    if (code === 'Z_DATA_ERROR' && /data check/.test(message)) throw new ZlibError('zlib-checksum', 'Adler-32 mismatch');
    throw new ZlibError('zlib-damaged', `damaged zlib stream: ${message}`, { code });
  }
}

let engine: Engine | null | undefined;
/** The module's engine, made on first use (undefined: not yet tried; null: unavailable). */
function getEngine(): Engine | null {
  if (engine === undefined) engine = Engine.checked();
  return engine;
}

function inflatePrefix(data: Uint8Array, maxSize: number, into?: Uint8Array): InflateResult | null {
  const e = getEngine();
  return e ? e.inflatePrefix(data, maxSize, into) : pureZlib.inflatePrefix(data, maxSize, into);
}

/**
 * A streaming inflater on its own engine (a stream's pushes are awaited apart,
 * so they cannot share the module's), freed when the stream ends or fails (one
 * abandoned halfway is left to the garbage collector).
 */
function createInflater(maxSize: number): Inflater {
  const e = getEngine() ? Engine.open() : null;
  if (!e) return pureZlib.createInflater(maxSize);
  if (!(maxSize >= 0)) throw new ZlibError('zlib-bad-limit', `bad output limit ${maxSize}`);
  let total = 0;
  let ended = false;
  return {
    push(chunk, sink) {
      if (ended) return { output: [], done: true, used: 0 };
      try {
        const step = e.streamPush(chunk, maxSize - total, sink);
        total += step.produced;
        if (step.done) {
          ended = true;
          e.close();
        }
        return { output: step.output, done: step.done, used: step.done ? step.used : chunk.length };
      } catch (err) {
        ended = true;
        e.close();
        if (err instanceof ZlibError && err.code === 'zlib-too-large') throw new ZlibError('zlib-too-large', `inflated past ${maxSize} bytes`, { limit: maxSize });
        throw err;
      }
    },
  };
}

/**
 * A streaming deflater on a node:zlib Deflate engine of its own, driven through
 * its handle as the inflater's (writeSync into our buffer, [availOut, availIn]
 * in `_writeState`): a large object a fetch rebuilds is deflated as it is made,
 * not whole. Output arrays are the caller's (copied out of one reused 256 KiB
 * buffer). Where the handle internals are missing: the pure (fflate) deflater.
 */
function createDeflater(level = 6): Deflater {
  const d = getEngine() ? (new zlib.Deflate({ level }) as unknown as { _handle?: ZlibHandle; _writeState?: unknown; on(ev: string, fn: () => void): void; close(): void }) : null;
  const h = d?._handle;
  const state = d?._writeState;
  if (!d || !h || typeof h.writeSync !== 'function' || !(state instanceof Uint32Array)) return pureZlib.createDeflater(level);
  d.on('error', () => {});
  let error: string | null = null;
  if (typeof h.setErrorHandler === 'function') h.setErrorHandler((_errno, code, message) => (error = `${code}: ${message}`));
  else h.onerror = (message, _errno, code) => (error = `${code}: ${message}`);
  const buf = new Uint8Array(256 * 1024);
  let ended = false;
  return {
    push(chunk, final) {
      if (ended) throw new ZlibError('zlib-ended', 'deflate stream already finished');
      const out: Uint8Array[] = [];
      let ip = 0;
      for (;;) {
        h.writeSync(final ? Z_FINISH : Z_NO_FLUSH, chunk, ip, chunk.length - ip, buf, 0, buf.length);
        if (error) {
          ended = true;
          d.close();
          throw new ZlibError('zlib-damaged', `deflate failed: ${error}`);
        }
        const availOut = state[0];
        ip = chunk.length - state[1];
        const n = buf.length - availOut;
        if (n > 0) out.push(buf.slice(0, n));
        // Room left: all input taken (and, finishing, the stream ended).
        if (availOut > 0) {
          if (final) {
            ended = true;
            d.close();
          }
          return out;
        }
      }
    },
  };
}

/** node:zlib for deflate and inflate (streaming too), through reused or per-stream engines. */
export const nativeZlib: Zlib = {
  deflate: (data, level = 6) => asBytes(zlib.deflateSync(data, { level })),
  inflate(data, maxSize = Infinity) {
    const r = inflatePrefix(data, maxSize);
    if (!r) throw new ZlibError('zlib-truncated', 'zlib stream ends early');
    if (r.consumed !== data.length) {
      throw new ZlibError('zlib-trailing-data', `${data.length - r.consumed} bytes after the zlib stream`, { consumed: r.consumed });
    }
    return r.output;
  },
  inflatePrefix,
  createInflater,
  createDeflater,
};

/** Whether inflate runs on node:zlib here (false: the pure decoder); for tests and benches. */
export const hasNativeInflate = (): boolean => getEngine() !== null;
