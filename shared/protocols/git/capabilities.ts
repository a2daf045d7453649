/**
 * Capabilities of git's smart protocol (gitprotocol-capabilities, gitprotocol-v2),
 * and the small vocabulary every git request parser here shares: the packet
 * union, object ids, text lines and `ProtocolError`.
 *
 *   v0 first ref line:   <id> SP <name> NUL <cap> *(SP <cap>) LF
 *   v0 first want line:  want SP <id> *(SP <cap>) LF
 *   v2 advertisement:    version 2 LF, one `<key>[=<value>]` LF per capability, flush
 *
 * The lists below are in git 2.39's order, so an advertisement built from the
 * same refs is byte-identical to `git http-backend`'s.
 */
import { HubError } from '../../core/errors.js';
import { utf8Decode, utf8Encode } from '../../core/bytes.js';
import type { Pkt } from './pkt-line.js';

/**
 * A request line or reply we refuse. `code` is stable; a route maps it to an
 * `ERR <message>` pkt-line (upload-pack) or an `ng`/`unpack` reason (receive-pack).
 */
export class ProtocolError extends HubError {}

/** One pkt-line, as pkt-line.ts decodes and encodes it. */
export type { Pkt };

/** The flush-pkt `0000`. */
export const FLUSH: Pkt = { kind: 'flush' };
/** The delim-pkt `0001` (v2). */
export const DELIM: Pkt = { kind: 'delim' };

/** A data pkt holding `text` as UTF-8 (add the `\n` yourself). */
export function textPkt(text: string): Pkt {
  return { kind: 'data', payload: utf8Encode(text) };
}

/** The only object format we serve. */
export const OBJECT_FORMAT = 'sha1';
/** The id of no object: a create's old id, a delete's new id. */
export const ZERO_ID = '0000000000000000000000000000000000000000';
/** The agent we announce unless told otherwise. */
export const DEFAULT_AGENT = 'git-hub/0.1';

/** Longest text line we accept in a request: a pkt-line's maximum payload. */
export const MAX_LINE = 65516;

/** True for a full SHA-1 object id in lowercase hex. */
export function isObjectId(s: string): boolean {
  return s.length === 40 && /^[0-9a-f]{40}$/.test(s);
}

/** `id` after checking it is an object id; `what` names the line for the error. */
export function objectId(id: string, what: string): string {
  if (!isObjectId(id)) throw new ProtocolError('bad-object-id', `${what}: expected a 40-hex object id, got '${clip(id)}'`, { line: clip(id) });
  return id;
}

/**
 * The text of a data pkt: strict UTF-8, one trailing LF removed (git 2.39
 * leaves the LF off many lines). Rejects NUL, which no text line contains.
 */
export function pktText(payload: Uint8Array): string {
  let end = payload.length;
  if (end > 0 && payload[end - 1] === 0x0a) end--;
  const text = decodeStrict(payload.subarray(0, end));
  if (text.includes('\0')) throw new ProtocolError('bad-line', 'unexpected NUL in a request line', { line: clip(text) });
  return text;
}

/** Strict UTF-8, as a ProtocolError. */
export function decodeStrict(bytes: Uint8Array): string {
  try {
    return utf8Decode(bytes, true);
  } catch {
    throw new ProtocolError('bad-utf8', 'request line is not valid UTF-8');
  }
}

/** A short form of untrusted text for error messages. */
export function clip(text: string, max = 80): string {
  return text.length <= max ? text : `${text.slice(0, max)}...`;
}

/** Compare two strings by Unicode code point (= UTF-8 byte order, git's ref order). */
export function compareNames(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.codePointAt(i)!;
    const y = b.codePointAt(i)!;
    if (x !== y) return x - y;
    if (x > 0xffff) i++;
  }
  return a.length - b.length;
}

/** What the upload-pack service offers; the same value drives the advertisement and the request checks. */
export interface UploadPackFeatures {
  /** `agent=` value. */
  agent: string;
  /** Partial clone (`filter`). */
  filter: boolean;
  /** v0 `allow-tip-sha1-in-want`. */
  allowTipSha1InWant: boolean;
  /** v0 `allow-reachable-sha1-in-want` (needed for a v0 partial clone's blob fetches). */
  allowReachableSha1InWant: boolean;
  /** v2 `ls-refs=unborn`. */
  lsRefsUnborn: boolean;
  /** v2 `fetch=... ref-in-want` (`want-ref` lines). */
  refInWant: boolean;
  /** v2 `fetch=... sideband-all`. */
  sidebandAll: boolean;
  /** v2 `server-option`. */
  serverOption: boolean;
  /** v2 `object-info`. */
  objectInfo: boolean;
}

/** What git 2.39's http-backend offers with `uploadpack.allowFilter=true`. */
export const DEFAULT_UPLOAD_FEATURES: UploadPackFeatures = {
  agent: DEFAULT_AGENT,
  filter: true,
  allowTipSha1InWant: false,
  allowReachableSha1InWant: false,
  lsRefsUnborn: true,
  refInWant: false,
  sidebandAll: false,
  serverOption: true,
  objectInfo: true,
};

/** Fixed part of upload-pack's v0 list (upload-pack.c), in git's order. */
const UPLOAD_V0_FIXED = [
  'multi_ack', 'thin-pack', 'side-band', 'side-band-64k', 'ofs-delta', 'shallow', 'deepen-since',
  'deepen-not', 'deepen-relative', 'no-progress', 'include-tag', 'multi_ack_detailed',
];

/** upload-pack's v0 capability list, as sent after the first ref's NUL. */
export function uploadPackV0Capabilities(features: UploadPackFeatures, headSymref: string | null): string[] {
  const caps = [...UPLOAD_V0_FIXED];
  if (features.allowTipSha1InWant) caps.push('allow-tip-sha1-in-want');
  if (features.allowReachableSha1InWant) caps.push('allow-reachable-sha1-in-want');
  caps.push('no-done');
  if (headSymref !== null) caps.push(`symref=HEAD:${headSymref}`);
  if (features.filter) caps.push('filter');
  caps.push(`object-format=${OBJECT_FORMAT}`, `agent=${features.agent}`);
  return caps;
}

/** The v2 capability lines (without `version 2` and the flush), in git's order. */
export function uploadPackV2Capabilities(features: UploadPackFeatures): string[] {
  const fetch = ['shallow', 'wait-for-done'];
  if (features.filter) fetch.push('filter');
  if (features.refInWant) fetch.push('ref-in-want');
  if (features.sidebandAll) fetch.push('sideband-all');
  const caps = [`agent=${features.agent}`, features.lsRefsUnborn ? 'ls-refs=unborn' : 'ls-refs', `fetch=${fetch.join(' ')}`];
  if (features.serverOption) caps.push('server-option');
  caps.push(`object-format=${OBJECT_FORMAT}`);
  if (features.objectInfo) caps.push('object-info');
  return caps;
}

/** What the receive-pack service offers. */
export interface ReceivePackFeatures {
  agent: string;
  /** `atomic`: only if all-or-nothing updates are really implemented. */
  atomic: boolean;
  /** `push-options`. */
  pushOptions: boolean;
  /** `ofs-delta` (git's receive.preferOfsDelta, default on). */
  ofsDelta: boolean;
}

/** http-backend 2.39 with `receive.advertisePushOptions=true`. */
export const DEFAULT_RECEIVE_FEATURES: ReceivePackFeatures = {
  agent: DEFAULT_AGENT,
  atomic: true,
  pushOptions: true,
  ofsDelta: true,
};

/** receive-pack's capability list (builtin/receive-pack.c), in git's order. */
export function receivePackCapabilities(features: ReceivePackFeatures): string[] {
  const caps = ['report-status', 'report-status-v2', 'delete-refs', 'side-band-64k', 'quiet'];
  if (features.atomic) caps.push('atomic');
  if (features.ofsDelta) caps.push('ofs-delta');
  if (features.pushOptions) caps.push('push-options');
  caps.push(`object-format=${OBJECT_FORMAT}`, `agent=${features.agent}`);
  return caps;
}

/** A capability list split into bare names and `key=value` pairs. */
export interface CapabilitySet {
  /** Every token in order, as sent. */
  list: string[];
  /** True if the bare capability `name` was sent. */
  has(name: string): boolean;
  /** The value of `key=value`, or undefined. */
  value(key: string): string | undefined;
}

/** Most capability tokens a client may send on one line: git knows about 25. */
export const MAX_CAPABILITIES = 64;

/** Parse a space-separated capability list (empty tokens, e.g. receive-pack's leading space, are skipped). */
export function parseCapabilities(text: string): CapabilitySet {
  const list = text.split(' ').filter((t) => t.length > 0);
  if (list.length > MAX_CAPABILITIES) {
    throw new ProtocolError('too-many-capabilities', `more than ${MAX_CAPABILITIES} capabilities`, { count: list.length });
  }
  const names = new Set<string>();
  const values = new Map<string, string>();
  for (const token of list) {
    const eq = token.indexOf('=');
    if (eq < 0) names.add(token);
    else if (!values.has(token.slice(0, eq))) values.set(token.slice(0, eq), token.slice(eq + 1));
  }
  return { list, has: (name) => names.has(name), value: (key) => values.get(key) };
}

/** Reject an `object-format=` other than ours. */
export function checkObjectFormat(caps: CapabilitySet): void {
  const format = caps.value('object-format');
  if (format !== undefined && format !== OBJECT_FORMAT) {
    throw new ProtocolError('object-format', `mismatched object format: server ${OBJECT_FORMAT}; client ${clip(format)}`, { format: clip(format) });
  }
}
