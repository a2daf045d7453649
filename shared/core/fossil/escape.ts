/**
 * Fossil text escaping ("fossilize", src/encode.c), used for every text argument
 * of a card (comments, user names, file names, tag values...):
 *
 *     NUL -> \0   space -> \s   \n -> \n   \t -> \t   \r -> \r
 *     \v -> \v    \f -> \f      \ -> \\    every other byte as is
 *
 * Decoding (defossilize) maps those back, turns `\X` for any other X into X, and
 * keeps a lone trailing backslash. So decode(encode(s)) == s always, while
 * encode(decode(t)) == t only for canonically escaped t (see isCanonicalEscape).
 */

const BACKSLASH = 0x5c;

// Escape letter for each byte that must be escaped, indexed by byte value.
const ESCAPE: Readonly<Record<number, number>> = {
  0x00: 0x30, // NUL -> 0
  0x20: 0x73, // space -> s
  0x0a: 0x6e, // newline -> n
  0x09: 0x74, // tab -> t
  0x0d: 0x72, // CR -> r
  0x0b: 0x76, // VT -> v
  0x0c: 0x66, // FF -> f
  0x5c: 0x5c, // backslash -> backslash
};

// The byte each escape letter stands for (defossilize's switch).
const UNESCAPE: Readonly<Record<number, number>> = {
  0x30: 0x00,
  0x73: 0x20,
  0x6e: 0x0a,
  0x74: 0x09,
  0x72: 0x0d,
  0x76: 0x0b,
  0x66: 0x0c,
  0x5c: 0x5c,
};

/** Fossil-escape raw bytes (the escaped form has no space, newline or NUL). */
export function fossilizeBytes(raw: Uint8Array): Uint8Array {
  let extra = 0;
  for (const b of raw) if (ESCAPE[b] !== undefined) extra++;
  if (extra === 0) return raw;
  const out = new Uint8Array(raw.length + extra);
  let j = 0;
  for (const b of raw) {
    const e = ESCAPE[b];
    if (e === undefined) out[j++] = b;
    else {
      out[j++] = BACKSLASH;
      out[j++] = e;
    }
  }
  return out;
}

/** Undo fossil escaping on bytes, exactly as fossil's defossilize() does. */
export function defossilizeBytes(escaped: Uint8Array): Uint8Array {
  if (!escaped.includes(BACKSLASH)) return escaped;
  const out = new Uint8Array(escaped.length); // decoding never grows
  let j = 0;
  for (let i = 0; i < escaped.length; i++) {
    let b = escaped[i];
    // A backslash followed by anything escapes it; a trailing one stays itself.
    if (b === BACKSLASH && i + 1 < escaped.length) {
      i++;
      b = UNESCAPE[escaped[i]] ?? escaped[i];
    }
    out[j++] = b;
  }
  return out.subarray(0, j);
}

/** True when `escaped` is exactly what fossilize would write for its decoding. */
export function isCanonicalEscape(escaped: Uint8Array): boolean {
  for (let i = 0; i < escaped.length; i++) {
    const b = escaped[i];
    if (b === BACKSLASH) {
      if (i + 1 >= escaped.length || UNESCAPE[escaped[i + 1]] === undefined) return false;
      i++;
    } else if (ESCAPE[b] !== undefined) return false;
  }
  return true;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8');

/** Fossil-escape a string (as its UTF-8 bytes) and return the escaped string. */
export function fossilize(text: string): string {
  return decoder.decode(fossilizeBytes(encoder.encode(text)));
}

/** Undo fossil escaping of a string. */
export function defossilize(escaped: string): string {
  return decoder.decode(defossilizeBytes(encoder.encode(escaped)));
}
