/**
 * pkt-line framing (gitprotocol-common "pkt-line Format", gitprotocol-v2).
 *
 *     pkt-line     =  data-pkt / flush-pkt / delim-pkt / response-end-pkt
 *     data-pkt     =  pkt-len pkt-payload
 *     pkt-len      =  4*(HEXDIG)          ; total length, these 4 bytes included
 *     pkt-payload  =  (pkt-len - 4)*(OCTET)
 *     flush-pkt    = "0000"
 *     delim-pkt    = "0001"
 *     response-end-pkt = "0002"
 *
 * "The maximum length of a pkt-line's data component is 65516 bytes"
 * (LARGE_PACKET_MAX 65520 with the header). 0003 is invalid; 0004 (empty
 * payload) is accepted but never sent.
 */
import { concat, utf8Decode } from '../../core/bytes.js';
import { HubError } from '../../core/errors.js';
import { ByteReader, type ByteStream } from '../../core/stream.js';

/** A malformed pkt-line (bad length, too long, cut off) or side-band packet. */
export class PktLineError extends HubError {}

/** LARGE_PACKET_MAX: the longest pkt-line, header included. */
export const PKT_MAX = 65520;
/** LARGE_PACKET_DATA_MAX: the longest payload. */
export const PKT_DATA_MAX = PKT_MAX - 4;
/** Length of the hex length header. */
export const PKT_HEADER = 4;

/** One pkt-line. */
export type Pkt =
  | { kind: 'data'; payload: Uint8Array }
  | { kind: 'flush' }
  | { kind: 'delim' }
  | { kind: 'response-end' };

/** What decodePkt found at a position: a packet and its size, or how many more bytes it needs. */
export type PktStep = (Pkt & { consumed: number }) | { kind: 'need'; bytes: number };

/** The flush-pkt bytes `0000`. */
export const FLUSH_PKT = Uint8Array.of(0x30, 0x30, 0x30, 0x30);
/** The delim-pkt bytes `0001`. */
export const DELIM_PKT = Uint8Array.of(0x30, 0x30, 0x30, 0x31);
/** The response-end-pkt bytes `0002`. */
export const RESPONSE_END_PKT = Uint8Array.of(0x30, 0x30, 0x30, 0x32);

const HEX = '0123456789abcdef';

function hexVal(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 97 && c <= 102) return c - 87;
  if (c >= 65 && c <= 70) return c - 55;
  return -1;
}

/** The value of the 4-hex pkt-len at buf[at]; a PktLineError for non-hex, 0003 or > PKT_MAX. */
export function pktLength(buf: Uint8Array, at = 0): number {
  let n = 0;
  for (let i = 0; i < 4; i++) {
    const d = hexVal(buf[at + i]);
    if (d < 0) throw new PktLineError('pkt-bad-length', 'pkt-line length is not 4 hex digits', { offset: at });
    n = (n << 4) | d;
  }
  if (n === 3) throw new PktLineError('pkt-bad-length', 'pkt-line length 0003 is invalid', { offset: at });
  if (n > PKT_MAX) throw new PktLineError('pkt-too-long', `pkt-line length ${n} exceeds ${PKT_MAX}`, { offset: at, length: n });
  return n;
}

/** Decode the pkt-line at buf[at] (no I/O): the packet (payload is a view) or `need`. */
export function decodePkt(buf: Uint8Array, at = 0): PktStep {
  const avail = buf.length - at;
  if (avail < PKT_HEADER) return { kind: 'need', bytes: PKT_HEADER - avail };
  const n = pktLength(buf, at);
  if (n === 0) return { kind: 'flush', consumed: 4 };
  if (n === 1) return { kind: 'delim', consumed: 4 };
  if (n === 2) return { kind: 'response-end', consumed: 4 };
  if (avail < n) return { kind: 'need', bytes: n - avail };
  return { kind: 'data', payload: buf.subarray(at + 4, at + n), consumed: n };
}

function header(out: Uint8Array, at: number, n: number): void {
  out[at] = HEX.charCodeAt((n >> 12) & 15);
  out[at + 1] = HEX.charCodeAt((n >> 8) & 15);
  out[at + 2] = HEX.charCodeAt((n >> 4) & 15);
  out[at + 3] = HEX.charCodeAt(n & 15);
}

/** One data-pkt holding `payload` (a string is UTF-8; add its `\n` yourself). */
export function encodePkt(payload: Uint8Array | string): Uint8Array {
  const bytes = typeof payload === 'string' ? new TextEncoder().encode(payload) : payload;
  if (bytes.length > PKT_DATA_MAX) {
    throw new PktLineError('pkt-too-long', `pkt-line payload of ${bytes.length} bytes exceeds ${PKT_DATA_MAX}`, { length: bytes.length });
  }
  const out = new Uint8Array(bytes.length + 4);
  header(out, 0, bytes.length + 4);
  out.set(bytes, 4);
  return out;
}

/**
 * The bytes of a sequence of packets, concatenated: sized first, then written into one buffer (an
 * array a packet besides the output made a 40,000-ref advertisement's every line twice).
 */
export function encodePkts(pkts: Iterable<Pkt>): Uint8Array {
  const list = Array.isArray(pkts) ? (pkts as readonly Pkt[]) : [...pkts];
  let total = 0;
  for (const p of list) {
    const n = p.kind === 'data' ? p.payload.length : 0;
    if (n > PKT_DATA_MAX) throw new PktLineError('pkt-too-long', `pkt-line payload of ${n} bytes exceeds ${PKT_DATA_MAX}`, { length: n });
    total += n + 4;
  }
  const out = new Uint8Array(total);
  let at = 0;
  for (const p of list) {
    if (p.kind === 'data') {
      header(out, at, p.payload.length + 4);
      out.set(p.payload, at + 4);
      at += p.payload.length + 4;
    } else {
      out.set(p.kind === 'flush' ? FLUSH_PKT : p.kind === 'delim' ? DELIM_PKT : RESPONSE_END_PKT, at);
      at += 4;
    }
  }
  return out;
}

/**
 * Read one pkt-line from `reader`; null at a clean end of stream (between
 * packets). A PktLineError ('pkt-truncated') if the stream ends inside one.
 * The reader stays positioned after it, so a pack may follow.
 */
export async function readPkt(reader: ByteReader): Promise<Pkt | null> {
  const head = await reader.readUpTo(PKT_HEADER);
  if (head.length === 0) return null;
  if (head.length < PKT_HEADER) throw new PktLineError('pkt-truncated', 'stream ends inside a pkt-line header', { position: reader.position });
  const n = pktLength(head);
  if (n === 0) return { kind: 'flush' };
  if (n === 1) return { kind: 'delim' };
  if (n === 2) return { kind: 'response-end' };
  const payload = await reader.readUpTo(n - 4);
  if (payload.length < n - 4) throw new PktLineError('pkt-truncated', 'stream ends inside a pkt-line', { position: reader.position });
  return { kind: 'data', payload: payload.slice() };
}

/** The pkt-lines of a byte stream, until it ends (a PktLineError if it ends inside one). */
export async function* bytesToPktLines(stream: ByteStream): AsyncGenerator<Pkt> {
  const reader = new ByteReader(stream);
  for (;;) {
    const p = await readPkt(reader);
    if (p === null) return;
    yield p;
  }
}

/**
 * The pkt-lines of a byte stream as they arrive, a batch per chunk: each chunk
 * is cut synchronously (decodePkt), a pkt split across chunks is joined, so a
 * request of 40,000 want lines costs a step per chunk, not a few awaits per
 * line. Payloads are views, valid until the next batch is asked for. The same
 * errors as bytesToPktLines, after the batch of the pkts before them.
 */
export async function* pktLineBatches(stream: ByteStream): AsyncGenerator<Pkt[]> {
  // Bytes of a pkt cut by a chunk's end, kept until `want` bytes are there (joined once: a
  // pkt sent a byte per chunk is not copied again with each byte).
  let held: Uint8Array[] = [];
  let heldBytes = 0;
  let want = 0;
  let position = 0;
  for await (const chunk of stream) {
    if (chunk.length === 0) continue;
    held.push(chunk);
    heldBytes += chunk.length;
    if (heldBytes < want) continue;
    const buf = held.length === 1 ? chunk : concat(held, heldBytes);
    const batch: Pkt[] = [];
    let at = 0;
    let error: unknown = null;
    try {
      for (;;) {
        const step = decodePkt(buf, at);
        if (step.kind === 'need') {
          want = buf.length - at + step.bytes;
          break;
        }
        batch.push(step.kind === 'data' ? { kind: 'data', payload: step.payload } : { kind: step.kind });
        at += step.consumed;
      }
    } catch (e) {
      error = e;
    }
    position += at;
    // What is left is part of one pkt (under 64 KiB): copied, as the chunk may be reused.
    held = at < buf.length ? [buf.slice(at)] : [];
    heldBytes = buf.length - at;
    if (batch.length > 0) yield batch;
    if (error !== null) throw error;
  }
  if (heldBytes === 0) return;
  const where = { position: position + heldBytes };
  if (heldBytes < PKT_HEADER) throw new PktLineError('pkt-truncated', 'stream ends inside a pkt-line header', where);
  throw new PktLineError('pkt-truncated', 'stream ends inside a pkt-line', where);
}

/** The text of a data pkt: UTF-8 with one trailing LF removed (git often omits it). */
export function pktLineText(payload: Uint8Array): string {
  const end = payload.length > 0 && payload[payload.length - 1] === 0x0a ? payload.length - 1 : payload.length;
  try {
    return utf8Decode(payload.subarray(0, end), true);
  } catch {
    throw new PktLineError('pkt-bad-utf8', 'pkt-line text is not valid UTF-8');
  }
}
