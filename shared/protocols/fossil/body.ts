/**
 * Body framing of /xfer messages (src/http.c, src/blob.c blob_compress):
 *
 *     application/x-fossil               u32be(uncompressed length) zlib-stream
 *     application/x-fossil-uncompressed  card text
 *     application/x-fossil-debug         card text
 *
 * The declared length is checked against the limit before inflating, and the
 * inflater is bounded by it, so a zlib bomb costs at most `maxSize` bytes.
 */
import type { Primitives } from '../../core/primitives.js';
import { xferError } from './errors.js';

/** Compressed xfer bodies. */
export const CT_COMPRESSED = 'application/x-fossil';
/** Plain xfer bodies (what fossil server answers clone protocol 3 with). */
export const CT_UNCOMPRESSED = 'application/x-fossil-uncompressed';
/** Plain xfer bodies sent by `--httptrace`. */
export const CT_DEBUG = 'application/x-fossil-debug';

/** The framing a Content-Type selects, or null when it is not an xfer type. */
export type BodyEncoding = 'compressed' | 'plain';

/** Which framing `contentType` means (parameters such as `; charset=` ignored), or null for a non-fossil type. */
export function bodyEncoding(contentType: string | null | undefined): BodyEncoding | null {
  const base = (contentType ?? '').split(';')[0].trim().toLowerCase();
  if (base === CT_COMPRESSED) return 'compressed';
  if (base === CT_UNCOMPRESSED || base === CT_DEBUG) return 'plain';
  return null;
}

/** True when a request with this Content-Type is an xfer message (fossil server routes on the prefix). */
export function isXferContentType(contentType: string | null | undefined): boolean {
  return (contentType ?? '').trim().toLowerCase().startsWith(CT_COMPRESSED);
}

/**
 * The card text of a request body. Throws XferError bad-body for a damaged,
 * truncated or mis-sized body and too-large past `maxSize` decoded bytes.
 */
export function decodeBody(p: Primitives, encoding: BodyEncoding, body: Uint8Array, maxSize: number): Uint8Array {
  if (encoding === 'plain') {
    if (body.length > maxSize) throw xferError('too-large', `message too large: ${body.length} bytes (limit ${maxSize})`);
    return body;
  }
  if (body.length === 0) return body; // an empty compressed body is an empty message (fossil: blob_uncompress of nothing)
  // `fossil sync --no-http-compression` sends plain card text under this same
  // type, and fossil server keeps a body that does not uncompress as it is
  // (cgi.c, blob_uncompress): so a body without a zlib header after the length is text.
  if (!zlibHeaderAt(body, 4)) return decodeBody(p, 'plain', body, maxSize);
  const declared = ((body[0] << 24) >>> 0) + (body[1] << 16) + (body[2] << 8) + body[3];
  if (declared > maxSize) throw xferError('too-large', `message too large: ${declared} bytes (limit ${maxSize})`);
  let out: Uint8Array;
  try {
    out = p.zlib.inflate(body.subarray(4), declared);
  } catch {
    throw xferError('bad-body', 'cannot decompress the message body');
  }
  // Fossil allocates the declared size and trusts it; a shorter inflation means a damaged body.
  if (out.length !== declared) throw xferError('bad-body', `message body inflates to ${out.length} bytes, header says ${declared}`);
  return out;
}

/** True when `b[i..i+2]` is a zlib stream header (RFC 1950: deflate method, check bits). */
function zlibHeaderAt(b: Uint8Array, i: number): boolean {
  return b.length >= i + 2 && (b[i] & 0x0f) === 8 && b[i] >> 4 <= 7 && ((b[i] << 8) | b[i + 1]) % 31 === 0;
}

/** A reply body in the given framing (compressed: u32be length + zlib at the default level, as fossil server writes). */
export function encodeBody(p: Primitives, encoding: BodyEncoding, text: Uint8Array): Uint8Array {
  if (encoding === 'plain') return text;
  const z = p.zlib.deflate(text);
  const out = new Uint8Array(4 + z.length);
  new DataView(out.buffer).setUint32(0, text.length);
  out.set(z, 4);
  return out;
}

/**
 * Fewest bytes of a reply body. fossil 2.21 reads a reply's header lines
 * through a buffer it fills 1000 bytes at a time (http_transport.c
 * transport_load_buffer: recv until 1000 bytes or end of stream), so a whole
 * reply shorter than that is read until the server closes the connection:
 * fossil server does at once (HTTP/1.0), workerd keeps it open 5 s. With at
 * least this many body bytes the first fill ends within the body and the rest
 * is read by its Content-Length.
 */
export const MIN_REPLY_BYTES = 1000;

/**
 * A reply's body and Content-Type: `text` framed in `encoding`, except that a
 * body shorter than MIN_REPLY_BYTES goes out as plain text, padded (fossil
 * accepts an uncompressed reply to any request).
 */
export function replyBody(p: Primitives, encoding: BodyEncoding, text: Uint8Array): { contentType: string; body: Uint8Array } {
  const body = encodeBody(p, encoding, text);
  if (body.length >= MIN_REPLY_BYTES) return { contentType: contentTypeOf(encoding), body };
  return { contentType: CT_UNCOMPRESSED, body: padReply(text) };
}

/** A reply made at least MIN_REPLY_BYTES long: card text by a comment card of spaces after it (fossil skips `#` lines), other text (`comment` false) by spaces and a newline. */
export function padReply(text: Uint8Array, comment = true): Uint8Array {
  if (text.length >= MIN_REPLY_BYTES) return text;
  const padded = new Uint8Array(MIN_REPLY_BYTES).fill(0x20);
  padded.set(text);
  // '#' makes the padding a comment in card text; plain spaces are kept by text/plain and ignored after JSON.
  if (comment) padded[text.length] = 0x23;
  padded[MIN_REPLY_BYTES - 1] = 0x0a;
  return padded;
}

/** The Content-Type of a reply in `encoding`. */
export function contentTypeOf(encoding: BodyEncoding): string {
  return encoding === 'compressed' ? CT_COMPRESSED : CT_UNCOMPRESSED;
}
