// Minimal git and Fossil delta appliers and encoders for the storage tests, so
// they do not depend on shared/delta (written in parallel). Enough for hand-made
// deltas; no bounds beyond what the tests need.

/** Applies a git delta (varint sizes, then copy/insert opcodes). */
export function tinyApplyGit(base: Uint8Array, delta: Uint8Array): Uint8Array {
  let p = 0;
  const varint = () => {
    let n = 0;
    let shift = 0;
    for (;;) {
      const b = delta[p++];
      n += (b & 0x7f) * 2 ** shift;
      shift += 7;
      if (!(b & 0x80)) return n;
    }
  };
  if (varint() !== base.length) throw new Error('git delta: base size mismatch');
  const out = new Uint8Array(varint());
  let o = 0;
  while (p < delta.length) {
    const op = delta[p++];
    if (op & 0x80) {
      let off = 0;
      let size = 0;
      for (let i = 0; i < 4; i++) if (op & (1 << i)) off += delta[p++] * 2 ** (8 * i);
      for (let i = 0; i < 3; i++) if (op & (0x10 << i)) size += delta[p++] * 2 ** (8 * i);
      if (size === 0) size = 0x10000;
      out.set(base.subarray(off, off + size), o);
      o += size;
    } else if (op > 0) {
      out.set(delta.subarray(p, p + op), o);
      p += op;
      o += op;
    } else throw new Error('git delta: opcode 0');
  }
  if (o !== out.length) throw new Error('git delta: result size mismatch');
  return out;
}

const B64 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz~';

/** Applies a Fossil delta ("N\n", then "N@O," copies and "N:bytes" inserts, ending "C;"); the checksum is not checked. */
export function tinyApplyFossil(base: Uint8Array, delta: Uint8Array): Uint8Array {
  let p = 0;
  const int = () => {
    let n = 0;
    let i: number;
    while ((i = B64.indexOf(String.fromCharCode(delta[p]))) >= 0) {
      n = n * 64 + i;
      p++;
    }
    return n;
  };
  const size = int();
  if (delta[p++] !== 0x0a) throw new Error('fossil delta: no size line');
  const out = new Uint8Array(size);
  let o = 0;
  for (;;) {
    const n = int();
    const c = String.fromCharCode(delta[p++]);
    if (c === '@') {
      const off = int();
      if (delta[p++] !== 0x2c) throw new Error('fossil delta: no comma');
      out.set(base.subarray(off, off + n), o);
      o += n;
    } else if (c === ':') {
      out.set(delta.subarray(p, p + n), o);
      p += n;
      o += n;
    } else if (c === ';') {
      if (o !== size) throw new Error('fossil delta: size mismatch');
      return out;
    } else throw new Error(`fossil delta: bad command ${c}`);
  }
}

/** A Fossil base-64 integer. */
export function fossilInt(n: number): string {
  let s = '';
  do {
    s = B64[n % 64] + s;
    n = Math.floor(n / 64);
  } while (n > 0);
  return s;
}
