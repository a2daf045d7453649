/**
 * Compact collections of 20-byte object ids for walks over whole histories
 * (a first clone visits every object: 300k+ on large repositories). A hex
 * string costs ~60 bytes of heap plus a Set or Map entry, and a walk holding
 * hundreds of thousands of them outgrows a 128 MB isolate; here an id costs
 * its 20 bytes in one slab plus 5-11 bytes of hash table, and nothing is
 * allocated per id (no GC pressure).
 */
import { fromHex, releaseNow, toHexAt, writeHex } from '../core/bytes.js';
import type { ObjectId } from './ids.js';

const ID = 20;

/** A growable list of binary ids packed in one buffer; `length`, `at` and iteration give hex ids back. */
export class PackedIds implements Iterable<ObjectId> {
  private buf: Uint8Array;
  private n = 0;
  /** Whether `buf` is this list's own (else a caller's: over()). */
  private owned = true;

  constructor(capacity = 1024) {
    this.buf = new Uint8Array(Math.max(16, capacity) * ID);
  }

  /** A list of the whole ids in `bytes`, sharing them (no copy; a push copies them out first). */
  static over(bytes: Uint8Array): PackedIds {
    const list = new PackedIds(0);
    list.buf = bytes;
    list.owned = false;
    list.n = Math.floor(bytes.length / ID);
    return list;
  }

  /** Number of ids. */
  get length(): number {
    return this.n;
  }

  /** The packed bytes (id i at i * 20); valid until the next push. */
  get bytes(): Uint8Array {
    return this.buf.subarray(0, this.n * ID);
  }

  /** Appends the id at `src[off..off+20)`. */
  pushAt(src: Uint8Array, off: number): void {
    this.reserve();
    this.buf.set(src.subarray(off, off + ID), this.n * ID);
    this.n++;
  }

  /** Appends a hex id. */
  push(id: ObjectId): void {
    this.reserve();
    writeHex(id, this.buf, this.n * ID);
    this.n++;
  }

  /** The whole backing buffer (ids then spare room), without a subarray per call: for IdSet's probes. */
  get slab(): Uint8Array {
    return this.buf;
  }

  /** Removes the last id, copying it into `out` at `outOff`; false when empty. */
  popInto(out: Uint8Array, outOff: number): boolean {
    if (this.n === 0) return false;
    this.n--;
    out.set(this.buf.subarray(this.n * ID, this.n * ID + ID), outOff);
    return true;
  }

  /** The i-th id as hex. */
  at(i: number): ObjectId {
    if (i < 0 || i >= this.n) throw new RangeError(`id index ${i} out of range`);
    return toHexAt(this.buf, i * ID, ID);
  }

  *[Symbol.iterator](): Iterator<ObjectId> {
    for (let i = 0; i < this.n; i++) yield toHexAt(this.buf, i * ID, ID);
  }

  /** Ids expected at most: growth stops doubling there (more still fit, doubling again). */
  expected = Number.POSITIVE_INFINITY;

  private reserve(): void {
    if ((this.n + 1) * ID <= this.buf.length) return;
    // By half: doubling left up to half of a large set's slab unused, and the old and new slabs are both live while copying.
    const want = Math.ceil(this.buf.length / ID / 2) * 3 * ID;
    const cap = this.expected * ID;
    const next = new Uint8Array(cap > this.buf.length && cap < want ? cap : want);
    next.set(this.buf);
    // Views of the old slab (bytes, slab) are valid only until this push: freed now, not at the next full GC.
    if (this.owned) releaseNow(this.buf);
    this.buf = next;
    this.owned = true;
  }
}

/** Most ids an IdSet holds: a slot keeps the index in its low 24 bits (16M ids are 320 MB of slab, beyond any isolate). */
export const MAX_ID_SET_SIZE = 0xffffff - 1;

/**
 * A set of binary ids: open addressing (linear probing, filled up to 3/4)
 * over a Uint32Array of slots, each the index + 1 of an id in a packed slab
 * (24 bits) and the id's first byte (8 bits), so a probe compares the slab's
 * 20 bytes only when that byte matches. Ids are SHA-1/SHA-256 prefixes, so
 * their first four bytes are already a uniform hash.
 */
export class IdSet {
  private ids = new PackedIds();
  private table = new Uint32Array(1024);
  private mask = 1023;

  /** Number of ids held. */
  get size(): number {
    return this.ids.length;
  }

  /** Tells the set it will hold about `n` ids (its id slab then grows to n, not past it by up to 2x). */
  expect(n: number): void {
    this.ids.expected = n;
  }

  /** Adds the id at `src[off..off+20)`; true when it was not there yet. */
  addAt(src: Uint8Array, off: number): boolean {
    const slot = this.find(src, off);
    if (this.table[slot] !== 0) return false;
    if (this.ids.length >= MAX_ID_SET_SIZE) throw new RangeError(`more than ${MAX_ID_SET_SIZE} ids in one set`);
    this.ids.pushAt(src, off);
    this.table[slot] = ((src[off] << 24) | this.ids.length) >>> 0;
    if (this.ids.length * 4 > this.mask * 3) this.grow();
    return true;
  }

  /** The insertion index of the id at `src[off..off+20)`, added first when it is not held (one probe). */
  indexOrAddAt(src: Uint8Array, off: number): number {
    const slot = this.find(src, off);
    const e = this.table[slot];
    if (e !== 0) return (e & 0xffffff) - 1;
    if (this.ids.length >= MAX_ID_SET_SIZE) throw new RangeError(`more than ${MAX_ID_SET_SIZE} ids in one set`);
    this.ids.pushAt(src, off);
    this.table[slot] = ((src[off] << 24) | this.ids.length) >>> 0;
    if (this.ids.length * 4 > this.mask * 3) this.grow();
    return this.ids.length - 1;
  }

  /** Whether the id at `src[off..off+20)` is held. */
  hasAt(src: Uint8Array, off: number): boolean {
    return this.table[this.find(src, off)] !== 0;
  }

  /** Insertion index of the id at `src[off..off+20)`, or -1 when it is not held. */
  indexOfAt(src: Uint8Array, off: number): number {
    return (this.table[this.find(src, off)] & 0xffffff) - 1;
  }

  /** Adds a hex id; true when it was new. */
  add(id: ObjectId): boolean {
    return this.addAt(fromHex(id), 0);
  }

  /** Whether a hex id is held. */
  has(id: ObjectId): boolean {
    return this.hasAt(fromHex(id), 0);
  }

  /** The packed ids (id i at i * 20, in insertion order); valid until the next add. */
  get bytes(): Uint8Array {
    return this.ids.bytes;
  }

  /** The id at insertion index `i`, as hex. */
  at(i: number): ObjectId {
    return this.ids.at(i);
  }

  /** Ids in insertion order, as hex. */
  [Symbol.iterator](): Iterator<ObjectId> {
    return this.ids[Symbol.iterator]();
  }

  /** The slot holding the id, or the empty slot where it would go. */
  private find(src: Uint8Array, off: number): number {
    const slab = this.ids.slab;
    const first = src[off];
    let h = ((first << 24) | (src[off + 1] << 16) | (src[off + 2] << 8) | src[off + 3]) & this.mask;
    for (;;) {
      const e = this.table[h];
      if (e === 0) return h;
      if (e >>> 24 === first) {
        const at = ((e & 0xffffff) - 1) * ID;
        let same = true;
        for (let k = 1; k < ID; k++) {
          if (slab[at + k] !== src[off + k]) {
            same = false;
            break;
          }
        }
        if (same) return h;
      }
      h = (h + 1) & this.mask;
    }
  }

  private grow(): void {
    const old = this.table;
    const size = old.length * 2;
    this.table = new Uint32Array(size);
    this.mask = size - 1;
    const slab = this.ids.slab;
    // The slots move as they are (index and first byte); only their place is recomputed.
    for (const e of old) {
      if (e === 0) continue;
      const at = ((e & 0xffffff) - 1) * ID;
      let h = ((slab[at] << 24) | (slab[at + 1] << 16) | (slab[at + 2] << 8) | slab[at + 3]) & this.mask;
      while (this.table[h] !== 0) h = (h + 1) & this.mask;
      this.table[h] = e;
    }
    releaseNow(old);
  }
}
