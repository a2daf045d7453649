/**
 * SHA-1 (FIPS 180-4) in plain JS for the many small objects of a push: one
 * reusable hasher, nothing allocated per input but its digest. workerd's
 * native hasher is a C++-backed object per object hashed, whose JS wrapper
 * outlives the scavenge after it: a million of them (a push of a million small
 * objects) were most of what survived V8's scavenges, and V8 grows its young
 * generation by what survives (to 2 x 32 MiB of the isolate's 128 MB).
 */
export class Sha1 {
  #h0 = 0;
  #h1 = 0;
  #h2 = 0;
  #h3 = 0;
  #h4 = 0;
  /** Bytes of a block not complete yet. */
  readonly #buf = new Uint8Array(64);
  #bufLength = 0;
  /** Bytes hashed so far. */
  #total = 0;
  readonly #w = new Int32Array(80);

  constructor() {
    this.reset();
  }

  /** Starts a new hash. */
  reset(): this {
    this.#h0 = 0x67452301;
    this.#h1 = 0xefcdab89 | 0;
    this.#h2 = 0x98badcfe | 0;
    this.#h3 = 0x10325476;
    this.#h4 = 0xc3d2e1f0 | 0;
    this.#bufLength = 0;
    this.#total = 0;
    return this;
  }

  update(data: Uint8Array): this {
    const n = data.length;
    let i = 0;
    this.#total += n;
    if (this.#bufLength > 0) {
      while (i < n && this.#bufLength < 64) this.#buf[this.#bufLength++] = data[i++];
      if (this.#bufLength < 64) return this;
      this.#block(this.#buf, 0);
      this.#bufLength = 0;
    }
    for (; i + 64 <= n; i += 64) this.#block(data, i);
    while (i < n) this.#buf[this.#bufLength++] = data[i++];
    return this;
  }

  /** The digest of what was hashed since the last reset (the hasher must be reset before another). */
  digest(): Uint8Array {
    const bits = this.#total * 8;
    const buf = this.#buf;
    buf[this.#bufLength++] = 0x80;
    if (this.#bufLength > 56) {
      buf.fill(0, this.#bufLength);
      this.#block(buf, 0);
      this.#bufLength = 0;
    }
    buf.fill(0, this.#bufLength, 56);
    const hi = Math.floor(bits / 2 ** 32);
    const lo = bits >>> 0;
    for (let k = 0; k < 4; k++) {
      buf[56 + k] = hi >>> (24 - 8 * k);
      buf[60 + k] = lo >>> (24 - 8 * k);
    }
    this.#block(buf, 0);
    const out = new Uint8Array(20);
    const put = (at: number, v: number) => {
      for (let k = 0; k < 4; k++) out[at + k] = v >>> (24 - 8 * k);
    };
    put(0, this.#h0);
    put(4, this.#h1);
    put(8, this.#h2);
    put(12, this.#h3);
    put(16, this.#h4);
    return out;
  }

  #block(b: Uint8Array, o: number): void {
    const w = this.#w;
    for (let t = 0; t < 16; t++, o += 4) w[t] = (b[o] << 24) | (b[o + 1] << 16) | (b[o + 2] << 8) | b[o + 3];
    for (let t = 16; t < 80; t++) {
      const x = w[t - 3] ^ w[t - 8] ^ w[t - 14] ^ w[t - 16];
      w[t] = (x << 1) | (x >>> 31);
    }
    let a = this.#h0;
    let bb = this.#h1;
    let c = this.#h2;
    let d = this.#h3;
    let e = this.#h4;
    let t = 0;
    for (; t < 20; t++) {
      const temp = (((a << 5) | (a >>> 27)) + ((bb & c) | (~bb & d)) + e + 0x5a827999 + w[t]) | 0;
      e = d;
      d = c;
      c = (bb << 30) | (bb >>> 2);
      bb = a;
      a = temp;
    }
    for (; t < 40; t++) {
      const temp = (((a << 5) | (a >>> 27)) + (bb ^ c ^ d) + e + 0x6ed9eba1 + w[t]) | 0;
      e = d;
      d = c;
      c = (bb << 30) | (bb >>> 2);
      bb = a;
      a = temp;
    }
    for (; t < 60; t++) {
      const temp = (((a << 5) | (a >>> 27)) + ((bb & c) | (bb & d) | (c & d)) + e + 0x8f1bbcdc + w[t]) | 0;
      e = d;
      d = c;
      c = (bb << 30) | (bb >>> 2);
      bb = a;
      a = temp;
    }
    for (; t < 80; t++) {
      const temp = (((a << 5) | (a >>> 27)) + (bb ^ c ^ d) + e + 0xca62c1d6 + w[t]) | 0;
      e = d;
      d = c;
      c = (bb << 30) | (bb >>> 2);
      bb = a;
      a = temp;
    }
    this.#h0 = (this.#h0 + a) | 0;
    this.#h1 = (this.#h1 + bb) | 0;
    this.#h2 = (this.#h2 + c) | 0;
    this.#h3 = (this.#h3 + d) | 0;
    this.#h4 = (this.#h4 + e) | 0;
  }
}
