/**
 * SegmentStore on R2: one R2 object per segment under
 * `repos/<repoId>/segments/<segmentId>`. A segment up to one part in size is a
 * single put; a bigger one is a multipart upload streamed part by part, so a
 * writer holds at most one part in memory. Records are read by range.
 */
import { fromReadableStream, type ByteStream } from '../../shared/core/stream.js';
import { SegmentNotFoundError, SegmentRangeError, SegmentStateError, StorageError } from '../../shared/storage/errors.js';
import {
  checkRange,
  RecordTracker,
  type AppendResult,
  type ForwardReader,
  type SegmentId,
  type SegmentStore,
  type SegmentWriter,
} from '../../shared/storage/segments.js';

/** R2's smallest multipart part (all parts but the last; R2 also wants them all the same size). */
export const R2_MIN_PART_SIZE = 5 * 1024 * 1024;

/** Options of R2SegmentStore. */
export interface R2SegmentStoreOptions {
  /** Bytes per multipart part (>= R2_MIN_PART_SIZE); also the most a writer buffers. */
  partSize?: number;
}

const REPO_ID_RE = /^[A-Za-z0-9._-]{1,128}$/;

/** The SegmentStore of one repository in an R2 bucket. */
export class R2SegmentStore implements SegmentStore {
  private readonly partSize: number;
  private readonly prefix: string;

  constructor(
    private readonly bucket: R2Bucket,
    repoId: string,
    opts: R2SegmentStoreOptions = {},
  ) {
    // The id becomes part of every key: keep it to characters that cannot climb out of the prefix.
    if (!REPO_ID_RE.test(repoId)) throw new StorageError('invalid-repo-id', `invalid repository id for R2 keys: ${repoId}`, { repoId });
    this.partSize = opts.partSize ?? R2_MIN_PART_SIZE;
    if (!Number.isSafeInteger(this.partSize) || this.partSize < R2_MIN_PART_SIZE) {
      throw new StorageError('invalid-part-size', `part size ${this.partSize} is below R2's ${R2_MIN_PART_SIZE}`, { partSize: this.partSize });
    }
    this.prefix = `repos/${repoId}/segments/`;
  }

  /** The R2 key of a segment. */
  key(segment: SegmentId): string {
    return this.prefix + segment;
  }

  async create(): Promise<SegmentWriter> {
    // Time first, so ids (and keys) sort by creation and a collector can spare young segments.
    const segment = `${Date.now().toString(36).padStart(9, '0')}-${crypto.randomUUID()}`;
    return new R2SegmentWriter(this.bucket, this.key(segment), segment, this.partSize);
  }

  async readRange(segment: SegmentId, offset: number, length: number): Promise<Uint8Array> {
    checkRange(offset, length);
    if (length === 0) {
      await this.checkBounds(segment, offset, 0);
      return new Uint8Array(0);
    }
    const obj = await this.getRange(segment, offset, length);
    const data = new Uint8Array(await obj.arrayBuffer());
    if (data.length !== length) throw rangeError(segment, offset, length, obj.size);
    return data;
  }

  /**
   * readRange into `into`'s memory when it holds `length` bytes: the body is read with a BYOB
   * reader, so a stream of range reads (a clone's records) reuses one buffer instead of
   * allocating each range anew (arrayBuffer()) and leaving it all to the collector.
   */
  async readRangeInto(segment: SegmentId, offset: number, length: number, into: Uint8Array | null): Promise<Uint8Array> {
    checkRange(offset, length);
    if (length === 0) return this.readRange(segment, offset, 0);
    const fwd = await this.openForward(segment, offset, length);
    try {
      return await fwd.readInto(offset, length, into);
    } finally {
      await fwd.close();
    }
  }

  async openForward(segment: SegmentId, offset: number, length: number): Promise<ForwardReader> {
    checkRange(offset, length);
    return new R2ForwardReader(segment, await this.getRange(segment, offset, length), offset, offset + length);
  }

  readStream(segment: SegmentId, offset = 0, length?: number): ByteStream {
    const self = this;
    return (async function* () {
      checkRange(offset, length);
      const size = await self.checkBounds(segment, offset, length ?? 0);
      const want = length ?? size - offset;
      if (want === 0) return;
      const obj = await self.getRange(segment, offset, want);
      yield* fromReadableStream(obj.body);
    })();
  }

  async size(segment: SegmentId): Promise<number> {
    return this.checkBounds(segment, 0, 0);
  }

  async list(): Promise<SegmentId[]> {
    const out: SegmentId[] = [];
    let cursor: string | undefined;
    for (;;) {
      const page = await this.bucket.list({ prefix: this.prefix, cursor });
      for (const o of page.objects) out.push(o.key.slice(this.prefix.length));
      if (!page.truncated) return out;
      cursor = page.cursor;
    }
  }

  async delete(segment: SegmentId): Promise<void> {
    await this.bucket.delete(this.key(segment));
  }

  /** Checks that the segment exists and holds offset+length bytes; returns its size. */
  private async checkBounds(segment: SegmentId, offset: number, length: number): Promise<number> {
    const head = await this.bucket.head(this.key(segment));
    if (head === null) throw notFound(segment);
    if (offset + length > head.size) throw rangeError(segment, offset, length, head.size);
    return head.size;
  }

  private async getRange(segment: SegmentId, offset: number, length: number): Promise<R2ObjectBody> {
    let obj: R2ObjectBody | null;
    try {
      obj = await this.bucket.get(this.key(segment), { range: { offset, length } });
    } catch (e) {
      // R2 refuses unsatisfiable ranges with an error of its own; report ours.
      await this.checkBounds(segment, offset, length);
      throw e;
    }
    if (obj === null) throw notFound(segment);
    return obj;
  }
}

function notFound(segment: SegmentId): SegmentNotFoundError {
  return new SegmentNotFoundError('segment-not-found', `no segment ${segment}`, { segment });
}

function rangeError(segment: SegmentId, offset: number, length: number, size: number): SegmentRangeError {
  return new SegmentRangeError('segment-range', `range ${offset}+${length} outside segment ${segment} of ${size} bytes`, {
    segment,
    offset,
    length,
    size,
  });
}

/** One ranged get's body read with a BYOB reader in pieces (as readRangeInto reads a whole range). */
class R2ForwardReader implements ForwardReader {
  private readonly reader: ReadableStreamBYOBReader;

  constructor(
    private readonly segment: SegmentId,
    private readonly obj: R2ObjectBody,
    public position: number,
    readonly end: number,
  ) {
    this.reader = obj.body.getReader({ mode: 'byob' });
  }

  async readInto(offset: number, length: number, into: Uint8Array | null): Promise<Uint8Array> {
    checkRange(offset, length);
    if (offset < this.position || offset + length > this.end) {
      throw new SegmentStateError('segment-state', `forward read ${offset}+${length} outside ${this.position}..${this.end}`, { offset, length });
    }
    // Bytes skipped to reach `offset` are read through the same buffer: at least 64 KiB of it then.
    const size = offset > this.position ? Math.max(length, 64 * 1024) : length;
    let buffer = into !== null && into.buffer.byteLength >= size ? (into.buffer as ArrayBuffer) : new ArrayBuffer(size);
    while (this.position < offset) buffer = await this.fill(buffer, Math.min(offset - this.position, buffer.byteLength));
    buffer = await this.fill(buffer, length);
    return new Uint8Array(buffer, 0, length);
  }

  async close(): Promise<void> {
    await this.reader.cancel().catch(() => undefined);
    this.reader.releaseLock();
  }

  /** Reads exactly `n` bytes into the start of `buffer` (which each read takes over and hands back). */
  private async fill(buffer: ArrayBuffer, n: number): Promise<ArrayBuffer> {
    let got = 0;
    while (got < n) {
      // Each read takes the buffer over (transfers it) and hands it back in `value`. workerd's
      // readAtLeast fills it in one call: read() hands back one small chunk per turn, which cost
      // a large clone ~1 s more CPU than arrayBuffer() did.
      const { done, value } = await this.reader.readAtLeast(n - got, new Uint8Array(buffer, got, n - got));
      if (value !== undefined) buffer = value.buffer as ArrayBuffer;
      if (done) break;
      got += value.length;
    }
    if (got < n) throw rangeError(this.segment, this.position, n, this.obj.size);
    this.position += n;
    return buffer;
  }
}

/** Writes one segment: buffers up to a part, then switches to multipart upload. */
class R2SegmentWriter implements SegmentWriter {
  private readonly tracker: RecordTracker;
  private buffer: Uint8Array | null = null;
  private filled = 0;
  private upload: R2MultipartUpload | null = null;
  private readonly parts: R2UploadedPart[] = [];

  constructor(
    private readonly bucket: R2Bucket,
    private readonly key: string,
    readonly segment: SegmentId,
    private readonly partSize: number,
  ) {
    this.tracker = new RecordTracker(segment);
  }

  async write(chunk: Uint8Array): Promise<void> {
    this.tracker.wrote(chunk.length);
    let at = 0;
    while (at < chunk.length) {
      // Allocated on first write, so a writer that only ever puts small records stays small.
      this.buffer ??= new Uint8Array(Math.min(this.partSize, Math.max(chunk.length, 64 * 1024)));
      if (this.filled === this.buffer.length && this.buffer.length < this.partSize) this.grow(chunk.length - at);
      const n = Math.min(chunk.length - at, this.buffer.length - this.filled);
      this.buffer.set(chunk.subarray(at, at + n), this.filled);
      this.filled += n;
      at += n;
      if (this.filled === this.partSize) await this.flushPart();
    }
  }

  endRecord() {
    return this.tracker.endRecord();
  }

  async finish(): Promise<AppendResult> {
    const result = this.tracker.finish();
    const rest = (this.buffer ?? new Uint8Array(0)).subarray(0, this.filled);
    this.buffer = null;
    if (this.upload === null) {
      await this.bucket.put(this.key, rest);
      return result;
    }
    try {
      if (rest.length > 0) this.parts.push(await this.upload.uploadPart(this.parts.length + 1, rest));
      await this.upload.complete(this.parts);
    } catch (e) {
      // The tracker already says finished, so abort() would not reach the upload: drop it here.
      await this.upload.abort().catch(() => undefined);
      throw e;
    }
    return result;
  }

  /** Only the bytes since the last part went up (at most a part): uploaded parts cannot be read before complete(). */
  readBack(offset: number, length: number): Uint8Array | null {
    const start = this.tracker.written - this.filled;
    if (this.buffer === null || offset < start || offset + length > this.tracker.written) return null;
    return this.buffer.subarray(offset - start, offset - start + length);
  }

  async abort(): Promise<void> {
    this.buffer = null;
    if (this.tracker.abort() && this.upload !== null) await this.upload.abort();
  }

  /** Doubles the buffer (up to a part) so small segments never allocate a whole part. */
  private grow(need: number): void {
    const next = new Uint8Array(Math.min(this.partSize, Math.max(this.buffer!.length * 2, this.filled + need)));
    next.set(this.buffer!.subarray(0, this.filled));
    this.buffer = next;
  }

  private async flushPart(): Promise<void> {
    this.upload ??= await this.bucket.createMultipartUpload(this.key);
    this.parts.push(await this.upload.uploadPart(this.parts.length + 1, this.buffer!));
    this.filled = 0;
  }
}
