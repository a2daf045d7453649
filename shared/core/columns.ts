/**
 * Per-object columns: typed arrays indexed by an object's number, sized from
 * a count known ahead (a pack header's). Such a column is made once at that
 * length in a resizable ArrayBuffer, whose memory V8 reserves as address
 * space and the OS commits page by page as it is first written: the column
 * never grows by copying, and a header that declares more objects than
 * arrive costs only the pages of those that do. Grown by doubling instead,
 * every copy a column outgrew stayed in workerd's allocator (tcmalloc keeps
 * what it is given back): a 1M-object push's columns (~65 bytes an object)
 * held ~27 MiB more of workerd's RSS than their contents.
 */
import { releaseNow } from './bytes.js';

export type Column = Uint8Array | Uint16Array | Int32Array | Uint32Array | Float64Array;
type ColumnType<T extends Column> = { new (buffer: ArrayBuffer): T; new (length: number): T; readonly BYTES_PER_ELEMENT: number };
const Resizable = ArrayBuffer as unknown as new (length: number, options: { maxByteLength: number }) => ArrayBuffer;

/** A column of `n` zeros whose pages take memory once written; null when no address space is left to reserve. */
export function reservedColumn<T extends Column>(type: ColumnType<T>, n: number): T | null {
  const bytes = n * type.BYTES_PER_ELEMENT;
  try {
    return new type(new Resizable(bytes, { maxByteLength: bytes }));
  } catch {
    return null;
  }
}

/**
 * `a`'s contents in a column that holds index `i`: `expected` long (the count known ahead) while `i` is
 * under it, else (past it, or none known) twice as long as `a`; reserved, so what is not written yet
 * takes no memory.
 */
export function grownColumn<T extends Column>(a: T, i: number, expected = Number.POSITIVE_INFINITY): T {
  const type = a.constructor as ColumnType<T>;
  const n = i < expected && expected < Number.POSITIVE_INFINITY ? expected : Math.max(i + 1, a.length * 2, 1024);
  const next = reservedColumn(type, n) ?? new type(n);
  next.set(a);
  releaseNow(a); // the caller's own column: freed now, not at the next full GC
  return next;
}
