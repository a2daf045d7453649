/**
 * Segments: append-only blobs holding many records each (one R2 object per
 * segment keeps subrequests low). A writer streams records in; readers fetch
 * one record by range or stream a whole segment (clone).
 */
import { SegmentStateError } from './errors.js';
import type { ByteStream } from './ids.js';

/** A segment's name, chosen by the store when it is created. */
export type SegmentId = string;

/** Where one record sits in its segment. */
export interface RecordLocation {
  offset: number;
  length: number;
}

/**
 * A finished segment: its id and total size. Where its records lie is what each
 * endRecord() returned: a writer keeps no list of them (a push writes a record per
 * object, and a list of 1M location objects outgrew the isolate's heap).
 */
export interface AppendResult {
  segment: SegmentId;
  size: number;
}

/**
 * An open segment. Calls are sequential (await each write). Every byte
 * belongs to exactly one record: a write opens a record when none is open.
 */
export interface SegmentWriter {
  /** The id the segment will have once finished. */
  readonly segment: SegmentId;
  /** Appends bytes to the current record (starting one if none is open); the caller may reuse `chunk` afterwards. */
  write(chunk: Uint8Array): Promise<void>;
  /** Closes the current record (an empty one if nothing was written) and returns where it lies. */
  endRecord(): RecordLocation;
  /** Makes the segment readable; an open record is ended first. */
  finish(): Promise<AppendResult>;
  /** Drops everything written; the segment never becomes readable. */
  abort(): Promise<void>;
  /**
   * The bytes at `offset` of this open segment while the writer still holds them (written, not
   * yet uploaded), else null; a view valid until the next write. An open segment cannot be read
   * from the store, so a push re-reading a recent record reads it here instead of finishing the
   * segment (each finish cut a push into one more segment for every clone to read).
   */
  readBack?(offset: number, length: number): Uint8Array | null;
}

/** Creates segments. */
export interface SegmentCreator {
  create(): Promise<SegmentWriter>;
}

/** Reads finished segments. */
export interface SegmentReader {
  /** Exactly `length` bytes at `offset`; SegmentRangeError past the end, SegmentNotFoundError if absent. */
  readRange(segment: SegmentId, offset: number, length: number): Promise<Uint8Array>;
  /**
   * readRange into the memory of `into` (a result of an earlier call, whose whole buffer is
   * reused when large enough; it is detached after the call): for a stream of reads whose
   * bytes are copied out before the next one.
   */
  readRangeInto?(segment: SegmentId, offset: number, length: number, into: Uint8Array | null): Promise<Uint8Array>;
  /** A stream of the segment from `offset` (default 0) for `length` bytes (default: to the end). */
  readStream(segment: SegmentId, offset?: number, length?: number): ByteStream;
  /** The segment's size in bytes (SegmentNotFoundError if absent); lets a cache read whole blocks without passing the end. */
  size?(segment: SegmentId): Promise<number>;
  /**
   * One request for `length` bytes at `offset`, read forward in pieces: a clone takes its records
   * in about storage order, and one request for several of its reads keeps subrequests (capped
   * per Worker request) and their latency down. The bytes not yet read may be buffered (the local
   * R2 simulator held a whole segment's), so keep `length` to what may be held.
   */
  openForward?(segment: SegmentId, offset: number, length: number): Promise<ForwardReader>;
}

/** A segment read front to back through one request (SegmentReader.openForward). */
export interface ForwardReader {
  /** Where the next read may start: the end of the last one. */
  readonly position: number;
  /** The end of the bytes requested (offset + length at open). */
  readonly end: number;
  /** `length` bytes at `offset` (>= position; the bytes before it are read and dropped), into `into`'s memory as readRangeInto. */
  readInto(offset: number, length: number, into: Uint8Array | null): Promise<Uint8Array>;
  /** Ends the request; what was not read is dropped. */
  close(): Promise<void>;
}

/** Garbage-collection side: enumerate and delete segments. */
export interface SegmentJanitor {
  /** Every finished segment's id (order unspecified). */
  list(): Promise<SegmentId[]>;
  /** Deletes a segment; deleting an absent one is not an error. */
  delete(segment: SegmentId): Promise<void>;
}

/** A whole segment store. */
export type SegmentStore = SegmentCreator & SegmentReader & SegmentJanitor;

/** One record to append: whole bytes, or a stream of chunks. */
export type RecordSource = Uint8Array | AsyncIterable<Uint8Array> | Iterable<Uint8Array>;

/** Appends `records` (each streamed through) as one new segment, with their locations in order; aborts the segment if anything throws. */
export async function appendRecords(
  store: SegmentCreator,
  records: AsyncIterable<RecordSource> | Iterable<RecordSource>,
): Promise<AppendResult & { records: RecordLocation[] }> {
  const writer = await store.create();
  const locations: RecordLocation[] = [];
  try {
    for await (const record of records) {
      if (record instanceof Uint8Array) {
        if (record.length > 0) await writer.write(record);
      } else {
        for await (const chunk of record) if (chunk.length > 0) await writer.write(chunk);
      }
      locations.push(writer.endRecord());
    }
    return { ...(await writer.finish()), records: locations };
  } catch (e) {
    await writer.abort().catch(() => undefined);
    throw e;
  }
}

/** Checks a (offset, length) request against non-negative safe integers. */
export function checkRange(offset: number, length: number | undefined): void {
  const bad = (n: number) => !Number.isSafeInteger(n) || n < 0;
  if (bad(offset) || (length !== undefined && bad(length))) {
    throw new SegmentStateError('segment-state', `bad range offset=${offset} length=${length}`, { offset, length });
  }
}

/**
 * Bookkeeping shared by writer implementations: record boundaries and the
 * writer's lifecycle, so each backend only moves bytes.
 */
export class RecordTracker {
  private size = 0;
  private recordStart: number | null = null;
  private state: 'open' | 'finished' | 'aborted' = 'open';

  constructor(private readonly segment: SegmentId) {}

  /** Accounts `n` bytes about to be written; throws if the writer is closed. */
  wrote(n: number): void {
    this.checkOpen();
    if (this.recordStart === null) this.recordStart = this.size;
    this.size += n;
  }

  /** Ends the current record. */
  endRecord(): RecordLocation {
    this.checkOpen();
    const offset = this.recordStart ?? this.size;
    this.recordStart = null;
    return { offset, length: this.size - offset };
  }

  /** Ends an open record and marks the writer finished. */
  finish(): AppendResult {
    this.checkOpen();
    if (this.recordStart !== null) this.endRecord();
    this.state = 'finished';
    return { segment: this.segment, size: this.size };
  }

  /** Marks the writer aborted (idempotent); returns whether it was open. */
  abort(): boolean {
    const wasOpen = this.state === 'open';
    if (wasOpen) this.state = 'aborted';
    return wasOpen;
  }

  /** Bytes written so far. */
  get written(): number {
    return this.size;
  }

  private checkOpen(): void {
    if (this.state !== 'open') throw new SegmentStateError('segment-state', `segment ${this.segment} is ${this.state}`, { segment: this.segment });
  }
}
