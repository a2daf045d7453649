/**
 * Streaming forms of the delta engines: a target produced in bounded chunks
 * from a delta that itself arrives as a stream, and a Fossil delta produced
 * in chunks. Memory beyond the base is one output chunk plus the few bytes of
 * an instruction header split across input chunks (insert payloads are passed
 * through as they arrive, never gathered).
 *
 *     fossil: INT(size) "\n" (INT "@" INT "," | INT ":" bytes)* INT(checksum) ";"
 *     git:    varint(base-size) varint(result-size) (copy | insert)*
 *
 * Sizes, the git base size and the Fossil checksum are verified at the end:
 * the error is thrown before the last chunk is handed out, so a stream that
 * ends normally always carried the exact target.
 */
import type { ByteStream } from '../core/stream.js';
import { DeltaError } from './errors.js';
import { FOSSIL_DELTA_MAX_OUTPUT, FossilChecksum, decodeFossilDeltaHeader, decodeFossilDeltaOp, fossilDeltaChunks } from './fossil.js';
import { GIT_DELTA_MAX_RESULT } from './git.js';

export type { ByteStream };

/** The two delta formats the hub stores. */
export type DeltaFormat = 'fossil' | 'git';

/** Options of applyDeltaStream. */
export interface ApplyDeltaStreamOptions {
  /** Largest target accepted (bytes); the declared size is checked against it first. */
  maxSize?: number;
  /** Size of the chunks yielded (the last one may be shorter). */
  chunkSize?: number;
}

const DEFAULT_CHUNK = 64 * 1024;
// A git size varint longer than this cannot be a real size (49 bits).
const GIT_MAX_VARINT = 7;

/** Output side: fills fixed-size chunks and checksums each as it is handed out. */
class Chunker {
  buf: Uint8Array;
  n = 0;
  total = 0;
  readonly sum = new FossilChecksum();
  constructor(readonly size: number) {
    this.buf = new Uint8Array(size);
  }
  take(): Uint8Array {
    const out = this.n === this.buf.length ? this.buf : this.buf.slice(0, this.n);
    this.sum.update(out);
    this.buf = new Uint8Array(this.size);
    this.n = 0;
    return out;
  }
  /** Copy src[start, end) in; yields each chunk that fills up. */
  *emit(src: Uint8Array, start: number, end: number): Generator<Uint8Array> {
    this.total += end - start;
    while (start < end) {
      const k = Math.min(end - start, this.buf.length - this.n);
      this.buf.set(src.subarray(start, start + k), this.n);
      this.n += k;
      start += k;
      if (this.n === this.buf.length) yield this.take();
    }
  }
}

/** Input side: the unread bytes of the delta, refilled from the stream on demand. */
class Input {
  bytes: Uint8Array = new Uint8Array(0);
  pos = 0;
  private readonly it: AsyncIterator<Uint8Array>;
  constructor(src: ByteStream | Uint8Array) {
    this.it = (src instanceof Uint8Array ? once(src) : src)[Symbol.asyncIterator]();
  }
  /** Append the next chunk after the unread bytes; false at the end of the stream. */
  async more(): Promise<boolean> {
    for (;;) {
      const r = await this.it.next();
      if (r.done) return false;
      if (r.value.length === 0) continue;
      const rest = this.bytes.subarray(this.pos);
      // Only an instruction header (a few bytes) is ever carried over.
      if (rest.length === 0) this.bytes = r.value;
      else {
        const joined = new Uint8Array(rest.length + r.value.length);
        joined.set(rest);
        joined.set(r.value, rest.length);
        this.bytes = joined;
      }
      this.pos = 0;
      return true;
    }
  }
  /** Whether anything is left, in the buffer or the stream. */
  async atEnd(): Promise<boolean> {
    return this.pos >= this.bytes.length && !(await this.more());
  }
  /** Pass `size` payload bytes through to `out`, pulling chunks as needed. */
  async *payload(out: Chunker, size: number): AsyncGenerator<Uint8Array> {
    while (size > 0) {
      if (this.pos >= this.bytes.length && !(await this.more())) {
        throw new DeltaError('delta-truncated', 'insert runs past the end of the delta', { missing: size });
      }
      const k = Math.min(size, this.bytes.length - this.pos);
      yield* out.emit(this.bytes, this.pos, this.pos + k);
      this.pos += k;
      size -= k;
    }
  }
}

async function* once(data: Uint8Array): ByteStream {
  yield data;
}

/**
 * Apply a delta (whole or streamed) to `base`, yielding the target in chunks.
 * Throws DeltaError on malformed deltas, copies outside the base, a wrong
 * size or (fossil) checksum; end-of-delta checks throw before the last chunk.
 */
export async function* applyDeltaStream(
  base: Uint8Array,
  delta: ByteStream | Uint8Array,
  format: DeltaFormat,
  options: ApplyDeltaStreamOptions = {},
): ByteStream {
  const input = new Input(delta);
  const out = new Chunker(options.chunkSize ?? DEFAULT_CHUNK);
  if (format === 'fossil') yield* applyFossil(base, input, out, options.maxSize ?? FOSSIL_DELTA_MAX_OUTPUT);
  else yield* applyGit(base, input, out, options.maxSize ?? GIT_DELTA_MAX_RESULT);
}

function copyChecks(base: Uint8Array, out: Chunker, offset: number, size: number, limit: number): void {
  if (offset + size > base.length) {
    throw new DeltaError('delta-copy-out-of-range', `copy [${offset}, +${size}) outside base of ${base.length} bytes`, { offset, size });
  }
  if (out.total + size > limit) throw new DeltaError('delta-result-overflow', 'delta writes past its declared size', { at: out.total });
}

async function* applyFossil(base: Uint8Array, input: Input, out: Chunker, maxSize: number): AsyncGenerator<Uint8Array> {
  let header = decodeFossilDeltaHeader(input.bytes, input.pos);
  while (header.kind === 'need') {
    if (!(await input.more())) throw new DeltaError('delta-truncated', 'delta ends inside its target size', {});
    header = decodeFossilDeltaHeader(input.bytes, input.pos);
  }
  const limit = header.size;
  if (limit > maxSize) throw new DeltaError('delta-too-large', `delta target of ${limit} bytes exceeds limit ${maxSize}`, { size: limit, limit: maxSize });
  input.pos = header.next;
  for (;;) {
    const op = decodeFossilDeltaOp(input.bytes, input.pos);
    switch (op.kind) {
      case 'need':
        if (!(await input.more())) throw new DeltaError('delta-truncated', 'delta ends without its checksum', {});
        break;
      case 'copy':
        copyChecks(base, out, op.offset, op.size, limit);
        input.pos = op.next;
        yield* out.emit(base, op.offset, op.offset + op.size);
        break;
      case 'insert':
        if (out.total + op.size > limit) throw new DeltaError('delta-result-overflow', 'insert writes past the declared target size', { at: out.total });
        input.pos = op.start;
        yield* input.payload(out, op.size);
        break;
      case 'checksum': {
        input.pos = op.next;
        if (!(await input.atEnd())) throw new DeltaError('delta-trailing-data', 'bytes after the checksum', {});
        if (out.total !== limit) {
          throw new DeltaError('delta-result-size', `delta produced ${out.total} bytes, declared ${limit}`, { expected: limit, actual: out.total });
        }
        const last = out.take();
        const actual = out.sum.digest();
        if (actual !== op.value) {
          throw new DeltaError('delta-bad-checksum', `target checksum ${actual} differs from the delta's ${op.value}`, { expected: op.value, actual });
        }
        if (last.length > 0) yield last;
        return;
      }
    }
  }
}

// One git instruction decoded from a partial buffer (insert payload may still be coming).
type GitStep = { kind: 'copy'; offset: number; size: number; next: number } | { kind: 'insert'; size: number; start: number } | { kind: 'need' };

function gitVarint(buf: Uint8Array, pos: number): { value: number; next: number } | undefined {
  let value = 0;
  let scale = 1;
  for (let i = 0; i < GIT_MAX_VARINT; i++) {
    if (pos + i >= buf.length) return undefined;
    const b = buf[pos + i];
    value += (b & 0x7f) * scale;
    if ((b & 0x80) === 0) return { value, next: pos + i + 1 };
    scale *= 128;
  }
  throw new DeltaError('delta-bad-header', 'delta header size too long', { at: pos });
}

function gitStep(buf: Uint8Array, pos: number): GitStep {
  if (pos >= buf.length) return { kind: 'need' };
  const cmd = buf[pos];
  if (cmd === 0) throw new DeltaError('delta-reserved-opcode', 'reserved delta opcode 0x00', {});
  if ((cmd & 0x80) === 0) return { kind: 'insert', size: cmd, start: pos + 1 };
  let need = 0;
  for (let m = cmd & 0x7f; m; m >>= 1) need += m & 1;
  if (pos + 1 + need > buf.length) return { kind: 'need' };
  let p = pos + 1;
  let offset = 0;
  let size = 0;
  if (cmd & 0x01) offset = buf[p++];
  if (cmd & 0x02) offset |= buf[p++] << 8;
  if (cmd & 0x04) offset |= buf[p++] << 16;
  if (cmd & 0x08) offset = (offset | (buf[p++] << 24)) >>> 0;
  if (cmd & 0x10) size = buf[p++];
  if (cmd & 0x20) size |= buf[p++] << 8;
  if (cmd & 0x40) size |= buf[p++] << 16;
  return { kind: 'copy', offset, size: size === 0 ? 0x10000 : size, next: p };
}

async function* applyGit(base: Uint8Array, input: Input, out: Chunker, maxSize: number): AsyncGenerator<Uint8Array> {
  const sizes: number[] = [];
  while (sizes.length < 2) {
    const v = gitVarint(input.bytes, input.pos);
    if (v) {
      sizes.push(v.value);
      input.pos = v.next;
    } else if (!(await input.more())) throw new DeltaError('delta-truncated', 'delta ends inside its header', {});
  }
  const [baseSize, limit] = sizes;
  if (baseSize !== base.length) {
    throw new DeltaError('delta-base-size', `delta expects a base of ${baseSize} bytes, got ${base.length}`, { expected: baseSize, actual: base.length });
  }
  if (limit > maxSize) throw new DeltaError('delta-too-large', `delta result of ${limit} bytes exceeds limit ${maxSize}`, { size: limit, limit: maxSize });
  for (;;) {
    const op = gitStep(input.bytes, input.pos);
    if (op.kind === 'copy') {
      copyChecks(base, out, op.offset, op.size, limit);
      input.pos = op.next;
      yield* out.emit(base, op.offset, op.offset + op.size);
    } else if (op.kind === 'insert') {
      if (out.total + op.size > limit) throw new DeltaError('delta-result-overflow', 'insert writes past the declared result size', { at: out.total });
      input.pos = op.start;
      yield* input.payload(out, op.size);
    } else if (!(await input.more())) {
      // The instructions simply stop: fine between instructions, not inside one.
      if (input.pos < input.bytes.length) throw new DeltaError('delta-truncated', 'delta ends inside an instruction', {});
      if (out.total !== limit) {
        throw new DeltaError('delta-result-size', `delta produced ${out.total} bytes, declared ${limit}`, { expected: limit, actual: out.total });
      }
      const last = out.take();
      if (last.length > 0) yield last;
      return;
    }
  }
}

/** A Fossil delta of `target` against `base`, produced in chunks of about `chunkSize` bytes. */
export async function* createDeltaStream(base: Uint8Array, target: Uint8Array, chunkSize = DEFAULT_CHUNK): ByteStream {
  for (const chunk of fossilDeltaChunks(base, target, chunkSize)) yield chunk;
}
