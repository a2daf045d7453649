/**
 * Side-band multiplexing (gitprotocol-pack "side-band, side-band-64k";
 * gitprotocol-v2 "packfile" section).
 *
 *     sideband-pkt = pkt-len band data
 *     band         = %x01 (pack data) / %x02 (progress text) / %x03 (fatal error text)
 *
 * side-band-64k allows 65515 data bytes per packet (65520 - 4 length - 1 band),
 * plain side-band 995 (1000 - 5). The stream ends with a flush-pkt.
 */
import type { ByteStream } from '../../core/stream.js';
import { FLUSH_PKT, PKT_MAX, PktLineError, encodePkt, type Pkt } from './pkt-line.js';

/** Band 1: pack data. */
export const BAND_DATA = 1;
/** Band 2: progress messages for the user's terminal. */
export const BAND_PROGRESS = 2;
/** Band 3: a fatal error message; the stream ends after it. */
export const BAND_ERROR = 3;
/** The side-band channels. */
export type Band = 1 | 2 | 3;

/** side-band-64k: largest data per packet. */
export const SIDEBAND_64K_MAX = PKT_MAX - 5;
/** side-band (without 64k): largest data per packet. */
export const SIDEBAND_MAX = 1000 - 5;

/** One demultiplexed side-band packet. */
export interface SidebandPacket {
  band: Band;
  data: Uint8Array;
}

/** `data` on `band` as pkt-lines of at most `max` data bytes each (none for empty data). */
export function encodeSideband(band: Band, data: Uint8Array | string, max = SIDEBAND_64K_MAX): Uint8Array[] {
  const bytes = typeof data === 'string' ? new TextEncoder().encode(data) : data;
  if (!(max >= 1 && max <= SIDEBAND_64K_MAX)) throw new PktLineError('sideband-bad-size', `side-band packet size ${max} out of range`);
  const out: Uint8Array[] = [];
  for (let at = 0; at < bytes.length; at += max) {
    const piece = bytes.subarray(at, at + max);
    const payload = new Uint8Array(piece.length + 1);
    payload[0] = band;
    payload.set(piece, 1);
    out.push(encodePkt(payload));
  }
  return out;
}

/** `data` on `band` as consecutive pkt-lines of at most `max` data bytes each, in one buffer (one copy). */
export function encodeSidebandJoined(band: Band, data: Uint8Array, max = SIDEBAND_64K_MAX): Uint8Array {
  if (!(max >= 1 && max <= SIDEBAND_64K_MAX)) throw new PktLineError('sideband-bad-size', `side-band packet size ${max} out of range`);
  const pkts = Math.ceil(data.length / max);
  const out = new Uint8Array(data.length + pkts * 5);
  let o = 0;
  for (let at = 0; at < data.length; at += max) {
    const piece = data.subarray(at, at + max);
    writeSidebandHeader(out, o, band, piece.length);
    out.set(piece, o + 5);
    o += piece.length + 5;
  }
  return out;
}

const HEX = new TextEncoder().encode('0123456789abcdef');

/** Writes the 5-byte head of a side-band pkt-line (length, band) carrying `dataLength` bytes at `out[at]`. */
export function writeSidebandHeader(out: Uint8Array, at: number, band: Band, dataLength: number): void {
  const len = dataLength + 5;
  for (let k = 3; k >= 0; k--) out[at + 3 - k] = HEX[(len >> (k * 4)) & 15];
  out[at + 4] = band;
}

/**
 * Wrap a byte stream (e.g. a pack) into side-band pkt-lines on `band`, then a
 * flush-pkt. Each output chunk is one pkt-line.
 */
export async function* bytesToSideband(stream: ByteStream, band: Band = BAND_DATA, max = SIDEBAND_64K_MAX, flush = true): AsyncGenerator<Uint8Array> {
  for await (const chunk of stream) yield* encodeSideband(band, chunk, max);
  if (flush) yield FLUSH_PKT;
}

/** The band and data of one side-band data pkt's payload; a PktLineError for an empty or unknown band. */
export function decodeSideband(payload: Uint8Array): SidebandPacket {
  if (payload.length === 0) throw new PktLineError('sideband-empty', 'side-band packet without a band byte');
  const band = payload[0];
  if (band !== 1 && band !== 2 && band !== 3) throw new PktLineError('sideband-bad-band', `unknown side-band ${band}`, { band });
  return { band, data: payload.subarray(1) };
}

/**
 * Demultiplex side-band pkt-lines until the flush-pkt: yields each packet's band
 * and data. A non-data pkt other than flush is a PktLineError, as is an end
 * without flush.
 */
export async function* sidebandToBands(pkts: AsyncIterable<Pkt>): AsyncGenerator<SidebandPacket> {
  for await (const p of pkts) {
    if (p.kind === 'flush') return;
    if (p.kind !== 'data') throw new PktLineError('sideband-unexpected-pkt', `unexpected ${p.kind} pkt in side-band data`);
    yield decodeSideband(p.payload);
  }
  throw new PktLineError('pkt-truncated', 'side-band stream ended without a flush-pkt');
}
