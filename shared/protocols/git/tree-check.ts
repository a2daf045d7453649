/**
 * checkTree: parseTree's checks of a raw SHA-1 tree (modes, names, ids, git's
 * order, no duplicate names; the same GitObjectError codes and messages),
 * with each entry handed to a callback as its kind and the offset of its
 * binary id, and nothing allocated per entry. receive-pack checks every tree
 * of a push: parseTree's entry objects, mode strings and hex ids were a
 * quarter of a 300k-object push's CPU.
 */
import { utf8Decode } from '../../core/bytes.js';
import { GitObjectError } from '../../core/git/errors.js';
import { isValidMode, noModeError, type TreeOptions } from '../../core/git/tree.js';

/** Entry kinds handed to checkTree's callback (git's canon_mode: directory, file or link, anything else a gitlink). */
export const ENTRY_TREE = 0;
export const ENTRY_BLOB = 1;
export const ENTRY_GITLINK = 2;

const ID = 20;
const SP = 0x20;
const SLASH = 0x2f;

/** Throws what parseTree(bytes, options) throws (SHA-1 trees); else calls `fn(kind, bytes, idOffset)` per entry, in order. */
export function checkTree(bytes: Uint8Array, options: Pick<TreeOptions, 'legacyModes' | 'anyOrder'>, fn: (kind: number, bytes: Uint8Array, idOffset: number) => void): void {
  const legacy = options.legacyModes ?? false;
  const anyOrder = options.anyOrder ?? false;
  // Files (name start, end) that a later directory of the same name could duplicate (see parseTree).
  const files: number[] = [];
  let prevStart = -1;
  let prevEnd = -1;
  let prevDir = false;
  let pos = 0;
  while (pos < bytes.length) {
    const start = pos;
    // parseTree looks for the space in the first 8 bytes (7 mode digits at most).
    let sp = -1;
    for (let i = pos; i < Math.min(bytes.length, pos + 8); i++) {
      if (bytes[i] === SP) {
        sp = i - pos;
        break;
      }
    }
    if (sp <= 0) throw noModeError(bytes, start);
    let mode = 0;
    let octal = true;
    for (let i = pos; i < pos + sp; i++) {
      const d = bytes[i] - 0x30;
      if (d < 0 || d > 7) octal = false;
      mode = mode * 8 + d;
    }
    const strict = (sp === 6 && (mode === 0o100644 || mode === 0o100755 || mode === 0o120000 || mode === 0o160000)) || (sp === 5 && mode === 0o40000);
    if (!octal || !(strict || legacy)) {
      const text = String.fromCharCode(...bytes.subarray(pos, pos + sp));
      if (!isValidMode(text, legacy)) throw new GitObjectError('bad-tree-mode', `bad tree entry mode ${JSON.stringify(text)}`, { offset: start, mode: text });
    }
    pos += sp + 1;
    const nul = bytes.indexOf(0, pos);
    if (nul < 0) throw new GitObjectError('truncated-tree-entry', 'tree entry name has no NUL', { offset: start });
    if (nul === pos) throw new GitObjectError('bad-tree-name', 'tree entry has an empty name', { offset: start });
    for (let i = pos; i < nul; i++) if (bytes[i] === SLASH) throw new GitObjectError('bad-tree-name', 'tree entry name contains "/"', { offset: start });
    const nameStart = pos;
    const nameEnd = nul;
    pos = nul + 1;
    if (pos + ID > bytes.length) throw new GitObjectError('truncated-tree-entry', 'tree entry id is truncated', { offset: start });
    const bits = mode & 0o170000;
    const dir = bits === 0o040000;
    fn(dir ? ENTRY_TREE : bits === 0o100000 || bits === 0o120000 ? ENTRY_BLOB : ENTRY_GITLINK, bytes, pos);
    pos += ID;
    if (anyOrder) continue;
    const name = () => utf8Decode(bytes.subarray(nameStart, nameEnd));
    if (prevStart >= 0) {
      const c = compareNames(bytes, prevStart, prevEnd, prevDir, nameStart, nameEnd, dir);
      if (c >= 0) {
        throw new GitObjectError(c === 0 ? 'duplicate-tree-entry' : 'tree-not-sorted', c === 0 ? 'duplicate tree entry' : 'tree entries are not sorted', { offset: start, name: name() });
      }
    }
    while (files.length > 0) {
      const fs = files[files.length - 2];
      const fe = files[files.length - 1];
      const fl = fe - fs;
      if (dir && fl === nameEnd - nameStart && same(bytes, fs, nameStart, fl)) throw new GitObjectError('duplicate-tree-entry', 'duplicate tree entry', { offset: start, name: name() });
      if (nameEnd - nameStart > fl && bytes[nameStart + fl] < SLASH && same(bytes, fs, nameStart, fl)) break;
      files.length -= 2;
    }
    if (!dir) files.push(nameStart, nameEnd);
    prevStart = nameStart;
    prevEnd = nameEnd;
    prevDir = dir;
  }
}

/** git's base_name_compare over two names in `b` (a directory's name compared as if it ended in "/"). */
function compareNames(b: Uint8Array, as: number, ae: number, aDir: boolean, bs: number, be: number, bDir: boolean): number {
  const al = ae - as;
  const bl = be - bs;
  const n = Math.min(al, bl);
  for (let i = 0; i < n; i++) if (b[as + i] !== b[bs + i]) return b[as + i] - b[bs + i];
  const ca = al > n ? b[as + n] : aDir ? SLASH : 0;
  const cb = bl > n ? b[bs + n] : bDir ? SLASH : 0;
  return ca - cb;
}

function same(b: Uint8Array, x: number, y: number, n: number): boolean {
  for (let i = 0; i < n; i++) if (b[x + i] !== b[y + i]) return false;
  return true;
}

/**
 * Which entries of a tree rebuilt from a git delta on another tree are byte
 * copies of whole entries of that base: the entry lies inside one copy
 * instruction, and the bytes it was copied from start at an entry of the
 * base (parsing equal bytes from an entry start gives the same mode, name and
 * id). A push's trees are mostly deltas on the previous version of the same
 * directory, so most of their entries name what the base's entries named,
 * already checked (the large corpus's 176k trees hold 10.7M entries). The
 * base must be a valid tree and the delta one that applied to it.
 */
export class CopiedEntries {
  /** Copy instructions in target order: target start, source start, length (`ops[0..opCount * 3)`). */
  private ops = new Float64Array(96);
  private opCount = 0;
  /** Entry starts of the base, ascending (`starts[0..startCount)`). */
  private starts = new Int32Array(256);
  private startCount = 0;
  private op = 0;

  constructor(base?: Uint8Array, delta?: Uint8Array) {
    if (base !== undefined && delta !== undefined) this.of(base, delta);
  }

  /**
   * This object made over another base and delta (its arrays reused: a push asks for every
   * tree that is a delta on a tree, and the arrays and op objects made per tree were ~0.5 KB
   * of garbage each).
   */
  of(base: Uint8Array, delta: Uint8Array): this {
    this.op = 0;
    let n = 0;
    for (let pos = 0; pos < base.length; ) {
      if (n === this.starts.length) this.starts = grown(this.starts, new Int32Array(2 * n));
      this.starts[n++] = pos;
      const nul = base.indexOf(0, pos);
      if (nul < 0) break;
      pos = nul + 1 + ID;
    }
    this.startCount = n;
    // The delta applied to the base already: its header and instructions are well formed.
    let pos = 0;
    while (pos < delta.length && delta[pos++] & 0x80); // base size
    while (pos < delta.length && delta[pos++] & 0x80); // result size
    let t = 0;
    let k = 0;
    while (pos < delta.length) {
      const cmd = delta[pos++];
      if (!(cmd & 0x80)) {
        t += cmd;
        pos += cmd;
        continue;
      }
      let offset = 0;
      let size = 0;
      if (cmd & 0x01) offset = delta[pos++];
      if (cmd & 0x02) offset |= delta[pos++] << 8;
      if (cmd & 0x04) offset |= delta[pos++] << 16;
      if (cmd & 0x08) offset = (offset | (delta[pos++] << 24)) >>> 0;
      if (cmd & 0x10) size = delta[pos++];
      if (cmd & 0x20) size |= delta[pos++] << 8;
      if (cmd & 0x40) size |= delta[pos++] << 16;
      if (size === 0) size = 0x10000;
      if (k + 3 > this.ops.length) this.ops = grown(this.ops, new Float64Array(2 * this.ops.length));
      this.ops[k++] = t;
      this.ops[k++] = offset;
      this.ops[k++] = size;
      t += size;
    }
    this.opCount = k / 3;
    return this;
  }

  /** Whether target bytes [start, end) are a copy of a whole entry of the base. Ask in ascending order of `start`. */
  copied(start: number, end: number): boolean {
    const ops = this.ops;
    const stop = this.opCount * 3;
    while (this.op < stop && ops[this.op] + ops[this.op + 2] <= start) this.op += 3;
    if (this.op >= stop) return false;
    const t = ops[this.op];
    if (t > start || end > t + ops[this.op + 2]) return false;
    const s = start - t + ops[this.op + 1];
    const starts = this.starts;
    let lo = 0;
    let hi = this.startCount;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (starts[mid] < s) lo = mid + 1;
      else hi = mid;
    }
    return lo < this.startCount && starts[lo] === s;
  }
}

/** `next` holding `a` at its front. */
function grown<T extends Int32Array | Float64Array>(a: T, next: T): T {
  next.set(a);
  return next;
}
