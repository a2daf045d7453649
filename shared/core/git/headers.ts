/**
 * The header block shared by commits and tags (git's commit.c / tag.c):
 *
 *     header    = key SP value LF *( SP continuation LF )
 *     object    = *header LF message
 *
 * A value spanning several lines (gpgsig, mergetag) continues on lines that
 * begin with one space; the value keeps those lines joined by LF with that
 * space removed, which is exactly reversible.
 *
 * git reads past lines that are not headers (no key, no newline at the end
 * of the object: only its fsck complains, and its receive-pack takes them),
 * so such a line and everything after it are kept as they are, not refused.
 */
import { concat, utf8Decode, utf8Encode } from '../bytes.js';
import { GitObjectError } from './errors.js';

/** One header: its key and its value (continuation lines joined by LF). */
export interface Header {
  key: string;
  value: Uint8Array;
}

/** A header with where it started, for error positions. */
export interface ParsedHeader extends Header {
  offset: number;
}

/** The headers and message of a commit or tag. `message` is null when the object ends without the blank line. */
export interface HeaderBlock {
  headers: ParsedHeader[];
  message: Uint8Array | null;
  /** From the first line that is no header (see above) to the end, as it is; `message` is null then. */
  unparsed?: Uint8Array;
}

export const LF = 0x0a;
const SP = 0x20;

/** Whether `bytes` at `pos` hold the ASCII `text`. */
export function startsWith(bytes: Uint8Array, pos: number, text: string): boolean {
  for (let i = 0; i < text.length; i++) if (bytes[pos + i] !== text.charCodeAt(i)) return false;
  return true;
}

/** Split an object (or what follows its first lines) into headers, message and anything unparsed. */
export function parseHeaderBlock(bytes: Uint8Array): HeaderBlock {
  const headers: ParsedHeader[] = [];
  let pos = 0;
  // Each pass consumes at least one byte (a line and its LF), so the loop is bounded by the length.
  while (pos < bytes.length) {
    if (bytes[pos] === LF) return { headers, message: bytes.subarray(pos + 1) };
    const start = pos;
    const eol = bytes.indexOf(LF, pos);
    if (eol < 0) return unparsedFrom(bytes, start, headers);
    const sp = bytes.subarray(pos, eol).indexOf(SP);
    if (sp <= 0) return unparsedFrom(bytes, start, headers);
    let key: string;
    try {
      key = utf8Decode(bytes.subarray(pos, pos + sp), true);
    } catch {
      return unparsedFrom(bytes, start, headers);
    }
    const lines = [bytes.subarray(pos + sp + 1, eol)];
    pos = eol + 1;
    while (pos < bytes.length && bytes[pos] === SP) {
      const end = bytes.indexOf(LF, pos);
      if (end < 0) return unparsedFrom(bytes, start, headers);
      lines.push(bytes.subarray(pos + 1, end));
      pos = end + 1;
    }
    headers.push({ key, value: lines.length === 1 ? lines[0] : joinLines(lines), offset: start });
  }
  return { headers, message: null };
}

function unparsedFrom(bytes: Uint8Array, start: number, headers: ParsedHeader[]): HeaderBlock {
  return { headers, message: null, unparsed: bytes.subarray(start) };
}

/** Serialise headers and message, or what was unparsed (the inverse of parseHeaderBlock). */
export function serialiseHeaderBlock(headers: readonly Header[], message: Uint8Array | null, unparsed?: Uint8Array): Uint8Array {
  const parts: Uint8Array[] = [];
  for (const h of headers) {
    if (h.key.length === 0 || /[ \n]/.test(h.key)) throw new GitObjectError('bad-header', `bad header key ${JSON.stringify(h.key)}`);
    parts.push(utf8Encode(`${h.key} `), continued(h.value), LINE_END);
  }
  if (unparsed) parts.push(unparsed);
  else if (message !== null) parts.push(LINE_END, message);
  return concat(parts);
}

const LINE_END = new Uint8Array([LF]);

function joinLines(lines: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(lines.reduce((n, l) => n + l.length + 1, -1));
  let at = 0;
  for (const [i, l] of lines.entries()) {
    if (i > 0) out[at++] = LF;
    out.set(l, at);
    at += l.length;
  }
  return out;
}

/** The value with a space after each LF, i.e. as continuation lines. */
function continued(value: Uint8Array): Uint8Array {
  let n = 0;
  for (const b of value) if (b === LF) n++;
  if (n === 0) return value;
  const out = new Uint8Array(value.length + n);
  let at = 0;
  for (const b of value) {
    out[at++] = b;
    if (b === LF) out[at++] = SP;
  }
  return out;
}
