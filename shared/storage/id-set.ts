/**
 * Compact collections of 20-byte object ids for walks over whole histories
 * (a first clone visits every object: 300k+ on large repositories). A hex
 * string costs ~60 bytes of heap plus a Set or Map entry, and a walk holding
 * hundreds of thousands of them outgrows a 128 MB isolate; here an id costs
 * its 20 bytes in one slab plus 5-11 bytes of hash table, and nothing is
 * allocated per id (no GC pressure).
 */
import { fromHex, releaseNow, toHexAt, writeHex } from '../core/bytes.js';
import { reservedColumn } from '../core/columns.js';
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

  /** Ids expected at most: the slab is reserved at that many (more still fit, growing by half again). */
  expected = Number.POSITIVE_INFINITY;

  private reserve(): void {
    if ((this.n + 1) * ID <= this.buf.length) return;
    // A set told how many to expect reserves that many ids (reservedColumn: its pages take memory as ids fill
    // them, and it is not copied again), and past it by half again. Others grow by half: doubling left up to
    // half of a large set's slab unused.
    const told = this.expected < Number.POSITIVE_INFINITY;
    const want = told && this.n < this.expected ? this.expected * ID : Math.ceil(this.buf.length / ID / 2) * 3 * ID;
    const next = (told && reservedColumn(Uint8Array, want)) || new Uint8Array(want);
    next.set(this.buf);
    // Views of the old slab (bytes, slab) are valid only until this push: freed now, not at the next full GC.
    if (this.owned) releaseNow(this.buf);
    this.buf = next;
    this.owned = true;
  }
}

/** The byte of an id kept in its IdSet slot (see IdSet). */
const TAG = 4;

/** Most ids an IdSet holds: a slot keeps the index in its low 24 bits (16M ids are 320 MB of slab, beyond any isolate). */
export const MAX_ID_SET_SIZE = 0xffffff - 1;

/**
 * A set of binary ids: open addressing (linear probing, filled up to 3/4)
 * over a Uint32Array of slots, each the index + 1 of an id in a packed slab
 * (24 bits) and the id's fifth byte (8 bits), so a probe compares the slab's
 * 20 bytes only when that byte matches. Ids are SHA-1/SHA-256 prefixes, so
 * their first four bytes are already a uniform hash: scaled to the table's
 * size (not masked), which need not be a power of two, so a set told how
 * many ids to expect grows its table to just hold them (1M ids: 5.3 MiB, not
 * 8). Neighbouring slots then share their ids' first bytes, hence the fifth as the tag.
 */
export class IdSet {
  private ids = new PackedIds();
  private table = new Uint32Array(1024);

  /** Number of ids held. */
  get size(): number {
    return this.ids.length;
  }

  /** Tells the set it will hold about `n` ids: its id slab is then reserved at n ids (reservedColumn). */
  expect(n: number): void {
    this.ids.expected = n;
  }

  /** Adds the id at `src[off..off+20)`; true when it was not there yet. */
  addAt(src: Uint8Array, off: number): boolean {
    const slot = this.find(src, off);
    if (this.table[slot] !== 0) return false;
    if (this.ids.length >= MAX_ID_SET_SIZE) throw new RangeError(`more than ${MAX_ID_SET_SIZE} ids in one set`);
    this.ids.pushAt(src, off);
    this.table[slot] = ((src[off + TAG] << 24) | this.ids.length) >>> 0;
    if (this.ids.length * 4 > this.table.length * 3) this.grow();
    return true;
  }

  /** The insertion index of the id at `src[off..off+20)`, added first when it is not held (one probe). */
  indexOrAddAt(src: Uint8Array, off: number): number {
    const slot = this.find(src, off);
    const e = this.table[slot];
    if (e !== 0) return (e & 0xffffff) - 1;
    if (this.ids.length >= MAX_ID_SET_SIZE) throw new RangeError(`more than ${MAX_ID_SET_SIZE} ids in one set`);
    this.ids.pushAt(src, off);
    this.table[slot] = ((src[off + TAG] << 24) | this.ids.length) >>> 0;
    if (this.ids.length * 4 > this.table.length * 3) this.grow();
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
    const tag = src[off + TAG];
    const size = this.table.length;
    let h = home(src[off], src[off + 1], src[off + 2], src[off + 3], size);
    for (;;) {
      const e = this.table[h];
      if (e === 0) return h;
      if (e >>> 24 === tag) {
        const at = ((e & 0xffffff) - 1) * ID;
        let same = true;
        for (let k = 0; k < ID; k++) {
          if (slab[at + k] !== src[off + k]) {
            same = false;
            break;
          }
        }
        if (same) return h;
      }
      if (++h === size) h = 0;
    }
  }

  private grow(): void {
    const old = this.table;
    // Twice as large, or just large enough for the ids expected when that is less (filled up to 3/4 then too).
    const expected = this.ids.expected;
    const fits = Math.floor((expected * 4) / 3) + 2;
    const size = this.ids.length < expected && fits > old.length && fits < old.length * 2 ? fits : old.length * 2;
    const table = (this.table = new Uint32Array(size));
    const slab = this.ids.slab;
    // The slots move as they are (index and tag); only their place is recomputed.
    for (const e of old) {
      if (e === 0) continue;
      const at = ((e & 0xffffff) - 1) * ID;
      let h = home(slab[at], slab[at + 1], slab[at + 2], slab[at + 3], size);
      while (table[h] !== 0) if (++h === size) h = 0;
      table[h] = e;
    }
    releaseNow(old);
  }
}

/** The home slot of an id with these first four bytes in a table of `size` slots: the bytes as a fraction of 2^32, scaled. */
function home(b0: number, b1: number, b2: number, b3: number, size: number): number {
  return Math.floor(((((b0 << 24) | (b1 << 16) | (b2 << 8) | b3) >>> 0) * size) / 4294967296);
}
