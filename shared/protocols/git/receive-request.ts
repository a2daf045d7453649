/**
 * receive-pack request head (the body of `POST git-receive-pack`, gitprotocol-pack):
 *
 *   *(shallow SP <id>)
 *   <old> SP <new> SP <ref> NUL SP? <cap> *(SP <cap>)     first command (git puts a space after NUL)
 *   *(<old> SP <new> SP <ref>)                           LF optional everywhere
 *   flush
 *   [*(<push-option>) flush]                             only when push-options was agreed
 *   [PACK...]                                            raw bytes, absent for a delete-only push
 *
 * The parser works on the bytes seen so far and answers "need N more" or the
 * request plus `packOffset`, where the caller starts streaming the pack.
 */
import {
  MAX_LINE,
  ProtocolError,
  ZERO_ID,
  checkObjectFormat,
  clip,
  decodeStrict,
  objectId,
  parseCapabilities,
  pktText,
  type CapabilitySet,
  type ReceivePackFeatures,
} from './capabilities.js';
import { PktLineError, decodePkt, type PktStep } from './pkt-line.js';
import { refNameFromBytes } from './ref-name.js';

/** One ref update. `ref` is as sent: check it (ref-name.ts) and answer `ng` per command. */
export interface RefCommand {
  oldId: string;
  newId: string;
  ref: string;
}

/** The parsed head of a push. */
export interface ReceiveRequest {
  /** The pushing clone's shallow commits. */
  shallows: string[];
  commands: RefCommand[];
  /** Capabilities from the first command. */
  caps: CapabilitySet;
  /** Which report the client wants (v2 when it asked for both). */
  report: 'none' | 'report-status' | 'report-status-v2';
  /** Wrap the report and messages in side-band-64k. */
  sideBand: boolean;
  /** No progress messages. */
  quiet: boolean;
  /** All or nothing. */
  atomic: boolean;
  /** Push options, or null when the client did not ask for push-options. */
  pushOptions: string[] | null;
  /** A pack follows (some command creates or updates; a delete-only push has none). */
  packExpected: boolean;
}

/** Result of looking at the first bytes of a push body. */
export type ReceiveParse =
  | { kind: 'need'; bytes: number }
  | { kind: 'done'; request: ReceiveRequest; packOffset: number };

/** Most commands in one push: a mirror push of a large repository. */
export const MAX_COMMANDS = 100_000;
/** Most push options: a user types a handful. */
export const MAX_PUSH_OPTIONS = 1000;
/** Most shallow lines in a push. */
export const MAX_PUSH_SHALLOWS = 65_536;
/** Most bytes before the pack: MAX_COMMANDS lines of ~300 bytes, with room. */
export const MAX_HEAD_BYTES = 64 * 1024 * 1024;

/** decodePkt, with a bad length header reported as a ProtocolError like every other refusal here. */
function decode(buf: Uint8Array, at: number): PktStep {
  try {
    return decodePkt(buf, at);
  } catch (e) {
    if (e instanceof PktLineError) throw new ProtocolError('bad-pkt-line', e.message, { offset: at });
    throw e;
  }
}

/** The pkt at `at`: payload length (-1 for a flush) and where the next starts, or null when more bytes are needed. */
function pktAt(buf: Uint8Array, at: number): { len: number; next: number } | null {
  const step = decode(buf, at);
  if (step.kind === 'need') return null;
  if (step.kind === 'flush') return { len: -1, next: at + 4 };
  if (step.kind !== 'data') throw new ProtocolError('unexpected-packet', `unexpected ${step.kind} packet in a push request`, { offset: at });
  return { len: step.payload.length, next: at + step.consumed };
}

/**
 * Parse the head of a push body from its first bytes. `final`: `buf` is the
 * whole body (a need then means the body is truncated).
 */
export function parseReceiveRequest(buf: Uint8Array, features: ReceivePackFeatures, final = false): ReceiveParse {
  const req: ReceiveRequest = {
    shallows: [],
    commands: [],
    caps: parseCapabilities(''),
    report: 'none',
    sideBand: false,
    quiet: false,
    atomic: false,
    pushOptions: null,
    packExpected: false,
  };
  const need = (at: number): ReceiveParse => {
    if (final) throw new ProtocolError('truncated', 'push request ended early');
    if (buf.length >= MAX_HEAD_BYTES) throw new ProtocolError('too-large', `push commands longer than ${MAX_HEAD_BYTES} bytes`);
    const step = decode(buf, at);
    return { kind: 'need', bytes: step.kind === 'need' ? step.bytes : 1 };
  };
  let at = 0;
  for (;;) {
    const pkt = pktAt(buf, at);
    if (pkt === null) return need(at);
    const start = at;
    at = pkt.next;
    if (pkt.len < 0) break;
    let payload = buf.subarray(start + 4, at);
    if (payload[payload.length - 1] === 0x0a) payload = payload.subarray(0, payload.length - 1);
    const nul = payload.indexOf(0);
    // The ref of a command line may be bytes that are not UTF-8 (git takes them): refused per ref, later.
    const line = refNameFromBytes(nul < 0 ? payload : payload.subarray(0, nul));
    if (line.startsWith('shallow ') && req.commands.length === 0 && nul < 0) {
      if (req.shallows.length >= MAX_PUSH_SHALLOWS) throw new ProtocolError('too-many-shallows', `more than ${MAX_PUSH_SHALLOWS} shallow lines`);
      req.shallows.push(objectId(line.slice(8), 'shallow'));
      continue;
    }
    if (line === 'push-cert') throw new ProtocolError('unsupported', 'signed pushes (push-cert) are not supported');
    if (nul >= 0) {
      if (req.commands.length > 0) throw new ProtocolError('bad-line', 'capabilities after the first command');
      takeCaps(req, decodeStrict(payload.subarray(nul + 1)), features);
    } else if (req.commands.length === 0) {
      // git's client always sends capabilities; without them there is no report to send.
      takeCaps(req, '', features);
    }
    if (req.commands.length >= MAX_COMMANDS) throw new ProtocolError('too-many-commands', `more than ${MAX_COMMANDS} commands`);
    req.commands.push(command(line));
  }
  if (req.commands.length === 0) {
    // The `0000` probe before a chunked push, or a push with nothing to do.
    if (req.shallows.length > 0) throw new ProtocolError('bad-line', 'shallow lines without a command');
    return { kind: 'done', request: req, packOffset: at };
  }
  if (req.pushOptions !== null) {
    for (;;) {
      const pkt = pktAt(buf, at);
      if (pkt === null) return need(at);
      const start = at;
      at = pkt.next;
      if (pkt.len < 0) break;
      if (req.pushOptions.length >= MAX_PUSH_OPTIONS) throw new ProtocolError('too-many-push-options', `more than ${MAX_PUSH_OPTIONS} push options`);
      req.pushOptions.push(pktText(buf.subarray(start + 4, at)));
    }
  }
  req.packExpected = req.commands.some((c) => c.newId !== ZERO_ID);
  return { kind: 'done', request: req, packOffset: at };
}

function command(line: string): RefCommand {
  const m = /^([0-9a-f]{40}) ([0-9a-f]{40}) (.+)$/s.exec(line);
  if (!m || m[3].length > MAX_LINE) throw new ProtocolError('bad-command', `protocol error: expected old/new/ref, got '${clip(line)}'`, { line: clip(line) });
  return { oldId: m[1], newId: m[2], ref: m[3] };
}

function takeCaps(req: ReceiveRequest, text: string, features: ReceivePackFeatures): void {
  const caps = parseCapabilities(text);
  checkObjectFormat(caps);
  req.caps = caps;
  req.report = caps.has('report-status-v2') ? 'report-status-v2' : caps.has('report-status') ? 'report-status' : 'none';
  req.sideBand = caps.has('side-band-64k');
  req.quiet = caps.has('quiet');
  if (caps.has('atomic')) {
    if (!features.atomic) throw new ProtocolError('unsupported', 'the receiving end does not support --atomic push');
    req.atomic = true;
  }
  if (caps.has('push-options')) {
    if (!features.pushOptions) throw new ProtocolError('unsupported', 'the receiving end does not support push options');
    req.pushOptions = [];
  }
}
