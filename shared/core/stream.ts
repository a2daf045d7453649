/**
 * Byte streams: the pull-based `AsyncIterable<Uint8Array>` every stage of the
 * core consumes and produces, converted to a web ReadableStream only at the
 * route. `ByteReader` pulls from one incrementally for decoders that need
 * "exactly n bytes" or "up to this delimiter" without buffering a whole body.
 */
import { concat } from './bytes.js';
import { StreamError } from './errors.js';

/** A stream of byte chunks, pulled with `for await`. Chunks may be any size, including empty. */
export type ByteStream = AsyncIterable<Uint8Array>;

/** A web ReadableStream that pulls from `s` one chunk per pull, and stops it on cancel. */
export function toReadableStream(s: ByteStream): ReadableStream<Uint8Array> {
  const it = s[Symbol.asyncIterator]();
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      const r = await it.next();
      if (r.done) controller.close();
      else controller.enqueue(r.value);
    },
    async cancel() {
      await it.return?.();
    },
  });
}

/** Bytes asked for per read of a byte stream (workerd's default reader hands out 4 KiB chunks). */
const BYOB_CHUNK = 256 * 1024;
/**
 * Bytes a read waits for (fewer only at the end), where the runtime can
 * (workerd's readAtLeast): a request body otherwise arrives as the network
 * hands it over, mostly a few KiB per read, and every read is a promise and
 * a copy here plus a step of each stage after it.
 */
const BYOB_MIN = 128 * 1024;

/**
 * Buffers fromReadableStream reads into again once their reader is done with
 * them (release), instead of a new one per read: a 392 MiB push otherwise left
 * 392 MiB of 256 KiB buffers for the garbage collector, up to ~60 MiB of them
 * uncollected at a time in an isolate's peak. Only buffers this pool's stream
 * handed out are taken back; the next read transfers (detaches) a released
 * buffer, so a view kept past its release reads as empty instead of as other bytes.
 */
export class ChunkPool {
  readonly #mine = new WeakSet<ArrayBufferLike>();
  readonly #free: ArrayBuffer[] = [];

  /** Gives back the buffer under `chunk` (a view of a chunk this pool's stream yielded, nothing else keeps). */
  readonly release = (chunk: Uint8Array): void => {
    const b = chunk.buffer;
    if (!this.#mine.has(b) || this.#free.length >= 64) return;
    this.#mine.delete(b);
    this.#free.push(b as ArrayBuffer);
  };

  /** @internal A buffer to read into. */
  take(): Uint8Array {
    const b = this.#free.pop();
    return b !== undefined && b.byteLength === BYOB_CHUNK ? new Uint8Array(b) : new Uint8Array(BYOB_CHUNK);
  }

  /** @internal Marks a yielded chunk's buffer as this pool's. */
  own(chunk: Uint8Array): void {
    this.#mine.add(chunk.buffer);
  }
}

/** workerd's BYOB reader extension: resolves once `min` bytes are in `view` (or the stream ended). */
type AtLeastReader = ReadableStreamBYOBReader & { readAtLeast?: <T extends ArrayBufferView>(min: number, view: T) => Promise<ReadableStreamReadResult<T>> };

/**
 * A ByteStream over a web ReadableStream; leaving the loop early cancels the stream.
 * A byte stream (a request or R2 body) is read into our own 256 KiB buffers:
 * workerd's default reader gives 4 KiB chunks, and a 44 MB body then cost
 * 10.7k reads and 0.22 s of CPU instead of ~210 reads and 0.09 s (measured in
 * a bare workerd), besides the per-chunk work of every stage after it.
 */
export async function* fromReadableStream(r: ReadableStream<Uint8Array>, pool?: ChunkPool): ByteStream {
  let byob: AtLeastReader | null = null;
  try {
    byob = r.getReader({ mode: 'byob' });
  } catch {
    // not a byte stream: the default reader below
  }
  const reader = byob ?? r.getReader();
  let finished = false;
  try {
    let buf = pool ? pool.take() : new Uint8Array(BYOB_CHUNK);
    for (;;) {
      const { done, value } = !byob
        ? await (reader as ReadableStreamDefaultReader<Uint8Array>).read()
        : byob.readAtLeast
          ? await byob.readAtLeast(BYOB_MIN, buf)
          : await byob.read(buf);
      if (done) {
        finished = true;
        return;
      }
      if (!byob) {
        yield value;
        continue;
      }
      // The read took `buf` over (transferred); `value` views it. A small chunk is
      // copied out and the buffer read into again, so a kept chunk never pins a
      // buffer more than 4x its size; a large one is handed on and a new buffer made.
      if (value.length * 4 < value.buffer.byteLength) {
        buf = new Uint8Array(value.buffer as ArrayBuffer);
        yield value.slice();
      } else {
        buf = pool ? pool.take() : new Uint8Array(BYOB_CHUNK);
        pool?.own(value);
        yield value;
      }
    }
  } finally {
    if (!finished) await reader.cancel().catch(() => undefined);
    reader.releaseLock();
  }
}

/** A ByteStream of the given chunks (or of one array cut into `chunkSize` pieces). */
export async function* fromBytes(data: Uint8Array | readonly Uint8Array[], chunkSize = 65536): ByteStream {
  if (Array.isArray(data)) {
    for (const c of data as readonly Uint8Array[]) yield c;
    return;
  }
  const bytes = data as Uint8Array;
  const step = Math.max(1, chunkSize);
  for (let i = 0; i < bytes.length; i += step) yield bytes.subarray(i, i + step);
}

/** All bytes of `s` in one array; a StreamError ('too-large') as soon as more than `limit` arrive. */
export async function collect(s: ByteStream, limit: number): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  let total = 0;
  for await (const chunk of s) {
    total += chunk.length;
    // Checked before keeping the chunk: a body past the limit is never held whole.
    if (total > limit) throw new StreamError('too-large', `stream longer than ${limit} bytes`, { limit });
    parts.push(chunk);
  }
  return parts.length === 1 ? parts[0] : concat(parts, total);
}

/** Options for ByteReader. */
export interface ByteReaderOptions {
  /** Called with every consumed slice, in order (e.g. to hash a pack as it is read). */
  onConsume?: (bytes: Uint8Array) => void;
  /**
   * Called with each source chunk once it is wholly consumed, when the reader
   * next pulls from its source (e.g. ChunkPool.release). Only for callers done
   * with every view the reader handed out by the time they read again.
   */
  onRelease?: (chunk: Uint8Array) => void;
}

/**
 * Pulls bytes from a ByteStream on demand. Buffered data is a queue of the
 * source's chunks plus an offset into the first one, so reads cost O(bytes read)
 * and never re-concatenate what is waiting. Returned arrays are views of the
 * source chunks when a read falls inside one chunk (no copy): do not mutate them.
 * A read of n bytes buffers n bytes, so callers bound n (a declared length from
 * the wire) before asking; readUntil and readAll take the bound as an argument.
 */
export class ByteReader {
  readonly #it: AsyncIterator<Uint8Array>;
  readonly #onConsume: ((bytes: Uint8Array) => void) | undefined;
  readonly #onRelease: ((chunk: Uint8Array) => void) | undefined;
  /** Chunks wholly consumed since the last pull (for onRelease). */
  #consumedChunks: Uint8Array[] = [];
  /** Buffered chunks; #chunks[#head] is the first, read from #offset on. */
  #chunks: Uint8Array[] = [];
  #head = 0;
  #offset = 0;
  #buffered = 0;
  #consumed = 0;
  #ended = false;

  constructor(source: ByteStream, options: ByteReaderOptions = {}) {
    this.#it = source[Symbol.asyncIterator]();
    this.#onConsume = options.onConsume;
    this.#onRelease = options.onRelease;
  }

  /** Bytes consumed so far (the stream position of the next byte read). */
  get position(): number {
    return this.#consumed;
  }

  /** Bytes pulled from the source but not yet consumed. */
  get buffered(): number {
    return this.#buffered;
  }

  /** Pull chunks until at least `n` bytes are buffered or the source ends; true if `n` are there. */
  async fill(n: number): Promise<boolean> {
    while (this.#buffered < n && !this.#ended) {
      if (this.#consumedChunks.length > 0) {
        for (const c of this.#consumedChunks) this.#onRelease!(c);
        this.#consumedChunks = [];
      }
      const r = await this.#it.next();
      if (r.done) {
        this.#ended = true;
        break;
      }
      if (r.value.length === 0) continue;
      this.#chunks.push(r.value);
      this.#buffered += r.value.length;
    }
    return this.#buffered >= n;
  }

  /** True when every byte of the source has been consumed. */
  async atEnd(): Promise<boolean> {
    return !(await this.fill(1));
  }

  /** Exactly `n` bytes; a StreamError ('unexpected-end') if the source ends first. */
  async readExactly(n: number): Promise<Uint8Array> {
    checkCount(n);
    if (!(await this.fill(n))) {
      throw new StreamError('unexpected-end', `stream ended ${n - this.#buffered} bytes early`, {
        position: this.#consumed + this.#buffered,
        wanted: n,
      });
    }
    return this.#take(n);
  }

  /** Up to `n` bytes: exactly `n` unless the source ends first (then what is left, possibly none). */
  async readUpTo(n: number): Promise<Uint8Array> {
    checkCount(n);
    await this.fill(n);
    return this.#take(Math.min(n, this.#buffered));
  }

  /** Everything left in the source; a StreamError ('too-large') if more than `limit` bytes remain. */
  async readAll(limit: number): Promise<Uint8Array> {
    // Fill to limit+1 only: one byte past the limit proves it is exceeded without holding more.
    if (await this.fill(limit + 1)) {
      throw new StreamError('too-large', `stream longer than ${limit} bytes`, { limit, position: this.#consumed });
    }
    return this.#take(this.#buffered);
  }

  /**
   * The next `n` bytes without consuming them (fewer only at the end of the
   * source). Bytes spanning chunks are copied into `scratch` when it is large
   * enough (then valid until the caller reuses it), else into a new array.
   */
  async peek(n: number, scratch?: Uint8Array<ArrayBuffer>): Promise<Uint8Array> {
    checkCount(n);
    await this.fill(n);
    const k = Math.min(n, this.#buffered);
    const first = this.#chunks[this.#head];
    if (k === 0) return new Uint8Array(0);
    if (first.length - this.#offset >= k) return first.subarray(this.#offset, this.#offset + k);
    return this.#copy(k, scratch !== undefined && scratch.length >= k ? scratch.subarray(0, k) : undefined);
  }

  /**
   * peek() without waiting, for parsers' fast paths: the next `n` (> 0) bytes
   * when they are buffered already, else null (then peek() pulls more).
   */
  peekBuffered(n: number, scratch?: Uint8Array<ArrayBuffer>): Uint8Array | null {
    if (n <= 0 || this.#buffered < n) return null;
    const first = this.#chunks[this.#head];
    if (first.length - this.#offset >= n) return first.subarray(this.#offset, this.#offset + n);
    return this.#copy(n, scratch !== undefined && scratch.length >= n ? scratch.subarray(0, n) : undefined);
  }

  /** skip() without waiting: consumes `n` bytes and returns true when they are buffered, else consumes nothing and returns false. */
  skipBuffered(n: number): boolean {
    checkCount(n);
    if (this.#buffered < n) return false;
    if (n > 0) this.#drop(n);
    return true;
  }

  /** The next byte, or a StreamError ('unexpected-end'). */
  async readByte(): Promise<number> {
    if (this.#buffered === 0 && !(await this.fill(1))) {
      throw new StreamError('unexpected-end', 'stream ended', { position: this.#consumed, wanted: 1 });
    }
    const first = this.#chunks[this.#head];
    const b = first[this.#offset];
    this.#take(1);
    return b;
  }

  /**
   * Bytes up to and including the first `byte`. A StreamError if it does not
   * occur within `limit` bytes ('too-long') or before the end ('unexpected-end').
   */
  async readUntil(byte: number, limit: number): Promise<Uint8Array> {
    let scanned = 0; // bytes already searched, counted from the read position
    for (;;) {
      const found = this.#find(byte, scanned, limit);
      if (found >= 0) return this.#take(found + 1);
      scanned = this.#buffered;
      if (scanned >= limit) {
        throw new StreamError('too-long', `no delimiter within ${limit} bytes`, { limit, position: this.#consumed });
      }
      if (!(await this.fill(scanned + 1))) {
        throw new StreamError('unexpected-end', 'stream ended before the delimiter', { position: this.#consumed + scanned });
      }
    }
  }

  /**
   * The buffered bytes of the current chunk (pulling one if none is buffered),
   * without consuming them; null at the end. With `skip`, this lets a consumer
   * such as an inflater take what it needs from a chunk and leave the rest.
   */
  async peekChunk(): Promise<Uint8Array | null> {
    if (this.#buffered === 0 && !(await this.fill(1))) return null;
    return this.#chunks[this.#head].subarray(this.#offset);
  }

  /** Consume `n` bytes without returning them; a StreamError ('unexpected-end') if fewer remain. */
  async skip(n: number): Promise<void> {
    checkCount(n);
    let left = n;
    while (left > 0) {
      if (this.#buffered === 0 && !(await this.fill(1))) {
        throw new StreamError('unexpected-end', `stream ended ${left} bytes early`, { position: this.#consumed, wanted: left });
      }
      const k = Math.min(left, this.#buffered);
      this.#drop(k);
      left -= k;
    }
  }

  /** Stop the source early (e.g. after an error); further reads see only what was buffered. */
  async cancel(): Promise<void> {
    if (!this.#ended) {
      this.#ended = true;
      await this.#it.return?.();
    }
  }

  /** Index (from the read position) of `byte` in the buffered bytes [from, min(buffered, limit)), or -1. */
  #find(byte: number, from: number, limit: number): number {
    const end = Math.min(this.#buffered, limit);
    let base = 0; // position of the chunk's first unread byte, counted from the read position
    for (let c = this.#head; c < this.#chunks.length && base < end; c++) {
      const start = c === this.#head ? this.#offset : 0;
      const chunk = this.#chunks[c];
      const len = chunk.length - start;
      if (base + len > from) {
        const lo = start + Math.max(0, from - base);
        const hi = start + Math.min(len, end - base);
        const i = chunk.subarray(0, hi).indexOf(byte, lo);
        if (i >= 0) return base + (i - start);
      }
      base += len;
    }
    return -1;
  }

  /** Consume and return `n` buffered bytes (a view when they lie in one chunk). */
  #take(n: number): Uint8Array {
    if (n === 0) return new Uint8Array(0);
    const first = this.#chunks[this.#head];
    const out = first.length - this.#offset >= n ? first.subarray(this.#offset, this.#offset + n) : this.#copy(n);
    this.#drop(n);
    return out;
  }

  /** Copy the first `n` buffered bytes (spanning chunks) into `out` or a new array, without consuming. */
  #copy(n: number, out = new Uint8Array(n)): Uint8Array {
    let at = 0;
    for (let c = this.#head; at < n; c++) {
      const chunk = this.#chunks[c];
      const start = c === this.#head ? this.#offset : 0;
      const k = Math.min(n - at, chunk.length - start);
      out.set(chunk.subarray(start, start + k), at);
      at += k;
    }
    return out;
  }

  /** Consume `n` buffered bytes, reporting each consumed slice to onConsume. */
  #drop(n: number): void {
    this.#buffered -= n;
    this.#consumed += n;
    while (n > 0) {
      const chunk = this.#chunks[this.#head];
      const k = Math.min(n, chunk.length - this.#offset);
      this.#onConsume?.(chunk.subarray(this.#offset, this.#offset + k));
      this.#offset += k;
      n -= k;
      if (this.#offset === chunk.length) {
        if (this.#onRelease) this.#consumedChunks.push(chunk);
        this.#head++;
        this.#offset = 0;
      }
    }
    // Drop consumed chunks: all of them when the buffer is empty, else once the
    // consumed prefix dominates, so the queue stays O(chunks buffered).
    if (this.#buffered === 0) {
      this.#chunks = [];
      this.#head = 0;
      this.#offset = 0;
    } else if (this.#head > 32 && this.#head * 2 > this.#chunks.length) {
      this.#chunks = this.#chunks.slice(this.#head);
      this.#head = 0;
    }
  }
}

function checkCount(n: number): void {
  if (!Number.isSafeInteger(n) || n < 0) throw new StreamError('bad-count', `bad byte count ${n}`, { count: n });
}
