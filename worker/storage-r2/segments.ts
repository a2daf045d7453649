/**
 * SegmentStore on R2: a segment is a run of single-put objects under
 * `repos/<repoId>/segments/`, its pieces of `pieceSize` bytes (the last one
 * shorter) at `<segmentId>/0`, `<segmentId>/1`, ...: a writer puts each piece
 * as it fills and the last at finish, so it holds at most one piece in memory.
 * The id ends in `.p<pieceSize>`, so a read knows which pieces hold a range
 * without asking R2: one get per piece it spans, as many requests as a
 * segment of one object for a range within a piece.
 *
 * Segments were one multipart upload at `<segmentId>` before (an id without
 * `.p`; those still read as one object). Pieces cost Cloudflare's R2 the same
 * puts (a piece is a put where a part was an uploadPart, both class A, without
 * the upload's create and complete) and a clone a get per piece it reads
 * instead of one per 16 MiB (class B, and subrequests). miniflare's local R2
 * pipes every part of a multipart object through a JS stream on each read:
 * ~2.3 s of workerd CPU per 391 MiB, ~0.15 s in pieces (bench/r2-layout.ts).
 */
import { releaseNow } from '../../shared/core/bytes.js';
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

/**
 * Bytes per piece by default, also the most a writer buffers: the multipart part size segments
 * had (R2's smallest part), so a push holds and puts as much at a time as it did.
 */
export const R2_PIECE_SIZE = 5 * 1024 * 1024;

/** Options of R2SegmentStore. */
export interface R2SegmentStoreOptions {
  /** Bytes per piece of the segments it writes; also the most a writer buffers. */
  pieceSize?: number;
}

const REPO_ID_RE = /^[A-Za-z0-9._-]{1,128}$/;
/** The piece size a segment id ends in (none: one object, as written before pieces). */
const PIECED_RE = /\.p([1-9][0-9]{0,14})$/;

/** Bytes of one object: `length` at `offset` of the object at `key`, which are the segment's at `at`. */
interface Span {
  key: string;
  offset: number;
  length: number;
  at: number;
}

/** The SegmentStore of one repository in an R2 bucket. */
export class R2SegmentStore implements SegmentStore {
  private readonly pieceSize: number;
  private readonly prefix: string;

  constructor(
    private readonly bucket: R2Bucket,
    repoId: string,
    opts: R2SegmentStoreOptions = {},
  ) {
    // The id becomes part of every key: keep it to characters that cannot climb out of the prefix.
    if (!REPO_ID_RE.test(repoId)) throw new StorageError('invalid-repo-id', `invalid repository id for R2 keys: ${repoId}`, { repoId });
    this.pieceSize = opts.pieceSize ?? R2_PIECE_SIZE;
    if (!Number.isSafeInteger(this.pieceSize) || this.pieceSize < 1) {
      throw new StorageError('invalid-piece-size', `bad piece size ${this.pieceSize}`, { pieceSize: this.pieceSize });
    }
    this.prefix = `repos/${repoId}/segments/`;
  }

  /** The R2 key of a segment of one object; a segment of pieces has its pieces at `<key>/<n>`. */
  key(segment: SegmentId): string {
    return this.prefix + segment;
  }

  async create(): Promise<SegmentWriter> {
    // Time first, so ids (and keys) sort by creation and a collector can spare young segments.
    const segment = `${Date.now().toString(36).padStart(9, '0')}-${crypto.randomUUID()}.p${this.pieceSize}`;
    return new R2SegmentWriter(this.bucket, this.key(segment), segment, this.pieceSize);
  }

  async readRange(segment: SegmentId, offset: number, length: number): Promise<Uint8Array> {
    checkRange(offset, length);
    const spans = this.spans(segment, offset, length);
    if (spans.length !== 1) return this.readRangeInto(segment, offset, length, null);
    // Within one object (most reads): its body whole, with less per-call work than a BYOB reader.
    const data = new Uint8Array(await (await this.get(segment, spans[0])).arrayBuffer());
    if (data.length < length) throw rangeError(segment, offset, length, await this.checkBounds(segment, 0, 0));
    return data;
  }

  /**
   * readRange into `into`'s memory when it holds `length` bytes: the body is read with a BYOB
   * reader, so a stream of range reads (a clone's records) reuses one buffer instead of
   * allocating each range anew (arrayBuffer()) and leaving it all to the collector.
   */
  async readRangeInto(segment: SegmentId, offset: number, length: number, into: Uint8Array | null): Promise<Uint8Array> {
    checkRange(offset, length);
    if (length === 0) {
      await this.checkBounds(segment, offset, 0);
      return new Uint8Array(0);
    }
    const fwd = await this.openForward(segment, offset, length);
    try {
      return await fwd.readInto(offset, length, into);
    } finally {
      await fwd.close();
    }
  }

  async openForward(segment: SegmentId, offset: number, length: number): Promise<ForwardReader> {
    checkRange(offset, length);
    const fwd = new R2ForwardReader(segment, this.spans(segment, offset, length), (span) => this.get(segment, span), offset, offset + length);
    await fwd.open();
    return fwd;
  }

  readStream(segment: SegmentId, offset = 0, length?: number): ByteStream {
    const self = this;
    return (async function* () {
      checkRange(offset, length);
      // With a length nothing is asked first: a range past the end shows as a short or missing piece.
      const want = length ?? (await self.checkBounds(segment, offset, 0)) - offset;
      let got = 0;
      for (const span of self.spans(segment, offset, want)) {
        for await (const chunk of fromReadableStream((await self.get(segment, span)).body)) {
          got += chunk.length;
          yield chunk;
        }
      }
      if (got < want) {
        await self.checkBounds(segment, offset, want);
        throw rangeError(segment, offset, want, offset + got); // in bounds, yet short: a piece lacks bytes
      }
    })();
  }

  /** Its object's size, or its first piece's when shorter than a piece (one head); else its pieces' sum (a list). */
  async size(segment: SegmentId): Promise<number> {
    const m = PIECED_RE.exec(segment);
    const head = await this.bucket.head(m === null ? this.key(segment) : `${this.key(segment)}/0`);
    if (m === null || (head !== null && head.size < Number(m[1]))) {
      if (head === null) throw notFound(segment);
      return head.size;
    }
    const pieces = await this.objects(`${this.key(segment)}/`);
    if (pieces.length === 0) throw notFound(segment);
    return pieces.reduce((n, o) => n + o.size, 0);
  }

  /** Every segment with an object in R2 (a writer that died before finish or abort may have left pieces). */
  async list(): Promise<SegmentId[]> {
    const names = (await this.objects(this.prefix)).map((o) => o.key.slice(this.prefix.length).split('/', 1)[0]);
    return [...new Set(names)];
  }

  async delete(segment: SegmentId): Promise<void> {
    const keys = PIECED_RE.test(segment) ? (await this.objects(`${this.key(segment)}/`)).map((o) => o.key) : [this.key(segment)];
    await deleteKeys(this.bucket, keys);
  }

  private async objects(prefix: string): Promise<R2Object[]> {
    const out: R2Object[] = [];
    let cursor: string | undefined;
    do {
      const page = await this.bucket.list({ prefix, cursor });
      out.push(...page.objects);
      cursor = page.truncated ? page.cursor : undefined;
    } while (cursor !== undefined);
    return out;
  }

  /** Checks that the segment exists and holds offset+length bytes; returns its size. */
  private async checkBounds(segment: SegmentId, offset: number, length: number): Promise<number> {
    const size = await this.size(segment);
    if (offset + length > size) throw rangeError(segment, offset, length, size);
    return size;
  }

  /** The objects' bytes that hold the segment's offset..offset+length, were it that long. */
  private spans(segment: SegmentId, offset: number, length: number): Span[] {
    const key = this.key(segment);
    const m = PIECED_RE.exec(segment);
    if (m === null) return length > 0 ? [{ key, offset, length, at: offset }] : [];
    const piece = Number(m[1]);
    const out: Span[] = [];
    for (let at = offset, end = offset + length; at < end; ) {
      const n = Math.floor(at / piece);
      const next = Math.min(end, (n + 1) * piece);
      out.push({ key: `${key}/${n}`, offset: at - n * piece, length: next - at, at });
      at = next;
    }
    return out;
  }

  /** A span's get; a missing piece or a range past the end is the segment's error (typed). */
  private async get(segment: SegmentId, span: Span): Promise<R2ObjectBody> {
    let obj: R2ObjectBody | null = null;
    let error: unknown = null;
    try {
      obj = await this.bucket.get(span.key, { range: { offset: span.offset, length: span.length } });
    } catch (e) {
      error = e; // R2 refuses a range starting past an object's end with an error of its own
    }
    if (obj !== null) return obj;
    await this.checkBounds(segment, span.at, span.length);
    throw error ?? notFound(segment);
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

/** Deletes keys, a thousand (R2's most per call) at a time. */
async function deleteKeys(bucket: R2Bucket, keys: string[]): Promise<void> {
  for (let at = 0; at < keys.length; at += 1000) await bucket.delete(keys.slice(at, at + 1000));
}

/**
 * A range read forward, one ranged get per object it spans (the next one asked for while the
 * one before is read, so its latency hides behind the reading), each body read with a BYOB reader.
 */
class R2ForwardReader implements ForwardReader {
  private reader: ReadableStreamBYOBReader | null = null;
  /** Bytes of the open get not read yet. */
  private left = 0;
  /** The next span's get, when there is one. */
  private ahead: Promise<R2ObjectBody> | null = null;
  private next = 0;

  constructor(
    private readonly segment: SegmentId,
    private readonly spans: Span[],
    private readonly get: (span: Span) => Promise<R2ObjectBody>,
    public position: number,
    readonly end: number,
  ) {}

  /** Opens the first get (so an unknown segment fails here). */
  async open(): Promise<void> {
    if (this.spans.length > 0) await this.advance();
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
    this.next = this.spans.length;
    await this.drop();
    const ahead = this.ahead;
    this.ahead = null;
    await ahead?.then((o) => o.body.cancel()).catch(() => undefined);
  }

  /** Ends the open get. */
  private async drop(): Promise<void> {
    const reader = this.reader;
    this.reader = null;
    if (reader === null) return;
    await reader.cancel().catch(() => undefined);
    reader.releaseLock();
  }

  /** Opens the next span's get; false when none is left. */
  private async advance(): Promise<boolean> {
    await this.drop();
    const span = this.spans[this.next];
    if (span === undefined) return false;
    const obj = this.ahead ?? this.get(span);
    this.ahead = ++this.next < this.spans.length ? this.get(this.spans[this.next]) : null;
    this.ahead?.catch(() => undefined); // awaited once reached, or dropped by close()
    this.reader = (await obj).body.getReader({ mode: 'byob' });
    this.left = span.length;
    return true;
  }

  /** Reads exactly `n` bytes into the start of `buffer` (which each read takes over and hands back). */
  private async fill(buffer: ArrayBuffer, n: number): Promise<ArrayBuffer> {
    let got = 0;
    while (got < n) {
      if ((this.left === 0 || this.reader === null) && !(await this.advance())) break;
      // Each read takes the buffer over (transfers it) and hands it back in `value`. workerd's
      // readAtLeast fills it in one call: read() hands back one small chunk per turn, which cost
      // a large clone ~1 s more CPU than arrayBuffer() did.
      const want = Math.min(n - got, this.left);
      const { done, value } = await this.reader!.readAtLeast(want, new Uint8Array(buffer, got, want));
      if (value !== undefined) buffer = value.buffer as ArrayBuffer;
      got += value?.length ?? 0;
      this.left -= value?.length ?? 0;
      if (done && this.left > 0) break; // an object shorter than the range: past the segment's end
    }
    if (got < n) throw rangeError(this.segment, this.position, n, this.position + got);
    this.position += n;
    return buffer;
  }
}

/** Writes one segment: buffers up to a piece and puts each piece as it fills, the last at finish. */
class R2SegmentWriter implements SegmentWriter {
  private readonly tracker: RecordTracker;
  private buffer: Uint8Array | null = null;
  private filled = 0;
  /** Pieces put so far (at `<key>/0` ...). */
  private pieces = 0;

  constructor(
    private readonly bucket: R2Bucket,
    private readonly key: string,
    readonly segment: SegmentId,
    private readonly pieceSize: number,
  ) {
    this.tracker = new RecordTracker(segment);
  }

  async write(chunk: Uint8Array): Promise<void> {
    this.tracker.wrote(chunk.length);
    let at = 0;
    while (at < chunk.length) {
      // Allocated on first write, so a writer that only ever puts small records stays small.
      this.buffer ??= new Uint8Array(Math.min(this.pieceSize, Math.max(chunk.length, 64 * 1024)));
      if (this.filled === this.buffer.length && this.buffer.length < this.pieceSize) this.grow(chunk.length - at);
      const n = Math.min(chunk.length - at, this.buffer.length - this.filled);
      this.buffer.set(chunk.subarray(at, at + n), this.filled);
      this.filled += n;
      at += n;
      if (this.filled === this.pieceSize) await this.putPiece(this.buffer);
    }
  }

  endRecord() {
    return this.tracker.endRecord();
  }

  async finish(): Promise<AppendResult> {
    const result = this.tracker.finish();
    const buffer = this.buffer ?? new Uint8Array(0);
    this.buffer = null;
    try {
      // The last piece; an empty segment has one empty piece, so that it exists.
      if (this.filled > 0 || this.pieces === 0) await this.putPiece(buffer.subarray(0, this.filled));
    } catch (e) {
      // The tracker already says finished, so abort() would not reach the pieces: drop them here.
      await this.dropPieces().catch(() => undefined);
      throw e;
    } finally {
      releaseNow(buffer); // up to a piece (5 MiB) a segment, garbage till a full GC otherwise
    }
    return result;
  }

  /** Only the bytes since the last piece went up (at most a piece). */
  readBack(offset: number, length: number): Uint8Array | null {
    const start = this.tracker.written - this.filled;
    if (this.buffer === null || offset < start || offset + length > this.tracker.written) return null;
    return this.buffer.subarray(offset - start, offset - start + length);
  }

  async abort(): Promise<void> {
    this.buffer = null;
    if (this.tracker.abort()) await this.dropPieces();
  }

  private async putPiece(bytes: Uint8Array): Promise<void> {
    await this.bucket.put(`${this.key}/${this.pieces}`, bytes);
    this.pieces++;
    this.filled = 0;
  }

  private dropPieces(): Promise<void> {
    return deleteKeys(this.bucket, Array.from({ length: this.pieces }, (_, n) => `${this.key}/${n}`));
  }

  /** Doubles the buffer (up to a piece) so small segments never allocate a whole piece. */
  private grow(need: number): void {
    const next = new Uint8Array(Math.min(this.pieceSize, Math.max(this.buffer!.length * 2, this.filled + need)));
    next.set(this.buffer!.subarray(0, this.filled));
    releaseNow(this.buffer!); // no view of it outlives a write (readBack's are valid until the next)
    this.buffer = next;
  }
}
