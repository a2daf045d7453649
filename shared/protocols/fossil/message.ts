/**
 * xfer messages: cards, one per "\n"-terminated line, tokens separated by
 * whitespace (src/xfer.c, www/sync.wiki). Four cards carry a payload of raw
 * bytes right after their line:
 *
 *     file HASH [BASE] SIZE \n <SIZE bytes>
 *     cfile HASH [BASE] USIZE CSIZE \n <CSIZE bytes>
 *     uvfile NAME MTIME HASH SIZE FLAGS \n <SIZE bytes, only when SIZE>0 and !(FLAGS & 5)>
 *     config NAME SIZE \n <SIZE bytes> \n
 *
 * Blank lines and `#` comments are skipped. Text arguments are fossil-escaped
 * (see core/fossil/escape.ts); this module hands tokens over as written.
 * Bounded: a line longer than MAX_CARD_LINE, more than MAX_CARD_TOKENS tokens,
 * or a payload larger than what remains (or than the caller's limit) is an
 * XferError before anything is allocated for it.
 */
import { concat, indexOfByte, utf8Decode, utf8Encode } from '../../core/bytes.js';
import { xferError } from './errors.js';

/** Longest card line accepted (fossil's cards are short; a uvfile name is the longest legitimate one). */
export const MAX_CARD_LINE = 16 * 1024;
/** Most tokens on one card (the longest card, cfile with a base, has 6). */
export const MAX_CARD_TOKENS = 8;

/** One card of a message. */
export interface XferCard {
  /** The first token (card name). */
  name: string;
  /** The remaining tokens, as written (still escaped). */
  args: string[];
  /** The payload of file/cfile/uvfile/config cards, a view into the message. */
  payload?: Uint8Array;
  /** Offset of the card's first byte in the message. */
  start: number;
  /** Offset just past the card's "\n" (where the login nonce's bytes start for a login card). */
  lineEnd: number;
}

const NL = 0x0a;

function isSpace(b: number): boolean {
  return b === 0x20 || b === 0x09 || b === 0x0d || b === 0x0b || b === 0x0c;
}

/** A decimal integer token in [0, 2^53) without sign or spaces, else null. */
export function parseDecimal(token: string | undefined): number | null {
  if (token === undefined || !/^[0-9]{1,15}$/.test(token)) return null;
  return Number(token);
}

/** How many payload bytes follow a card line, given its tokens; throws for a bad size token. */
function payloadSize(name: string, args: string[]): { size: number; skipAfter: number } | null {
  const bad = () => xferError('bad-card', `malformed ${name} line`);
  let sizeToken: string | undefined;
  switch (name) {
    case 'file':
      if (args.length !== 2 && args.length !== 3) throw bad();
      sizeToken = args[args.length - 1];
      break;
    case 'cfile':
      if (args.length !== 3 && args.length !== 4) throw bad();
      sizeToken = args[args.length - 1];
      break;
    case 'config':
      if (args.length !== 2) throw bad();
      sizeToken = args[1];
      break;
    case 'uvfile': {
      if (args.length !== 5) throw bad();
      const size = parseDecimal(args[3]);
      const flags = parseDecimal(args[4]);
      if (size === null || flags === null) throw bad();
      return { size: size > 0 && (flags & 5) === 0 ? size : 0, skipAfter: 0 };
    }
    default:
      return null;
  }
  const size = parseDecimal(sizeToken);
  if (size === null) throw bad();
  return { size, skipAfter: name === 'config' ? 1 : 0 };
}

/**
 * Reads the cards of a decoded message in order. `maxPayload` bounds any one
 * payload (the server's artifact size limit).
 */
export class XferReader {
  private pos = 0;

  constructor(
    readonly message: Uint8Array,
    private readonly maxPayload = Number.MAX_SAFE_INTEGER,
  ) {}

  /**
   * The next card, or null at the end of the message; throws XferError on malformed input.
   * With `payloadCardsOnly`, lines that cannot be file/cfile/uvfile/config cards (by their
   * first byte) are passed over unread: a scan for the file cards of a push round whose
   * other lines are tens of thousands of igots.
   */
  next(payloadCardsOnly = false): XferCard | null {
    const m = this.message;
    while (this.pos < m.length) {
      const start = this.pos;
      let nl = indexOfByte(m, NL, start, Math.min(m.length, start + MAX_CARD_LINE + 1));
      if (nl < 0) {
        if (m.length - start > MAX_CARD_LINE) throw xferError('too-large', `card longer than ${MAX_CARD_LINE} bytes`);
        nl = m.length; // last line without "\n"
      }
      const lineEnd = Math.min(nl + 1, m.length);
      this.pos = lineEnd;
      if (payloadCardsOnly && !MAY_CARRY_PAYLOAD[m[start]]) continue;
      const tokens = tokenize(m, start, nl);
      if (tokens.length === 0 || tokens[0].startsWith('#')) continue;
      const name = tokens[0];
      const args = tokens.slice(1);
      const card: XferCard = { name, args, start, lineEnd };
      const p = payloadSize(name, args);
      if (p !== null) {
        if (p.size > this.maxPayload) throw xferError('too-large', `${name} payload of ${p.size} bytes is over the limit of ${this.maxPayload}`);
        if (p.size > m.length - lineEnd) throw xferError('bad-card', `malformed ${name} line`, { size: p.size, remaining: m.length - lineEnd });
        card.payload = m.subarray(lineEnd, lineEnd + p.size);
        this.pos = Math.min(m.length, lineEnd + p.size + p.skipAfter);
      }
      return card;
    }
    return null;
  }
}

/** First bytes of a line that may be a card with a payload: file, cfile, config, uvfile, or a separator before one. */
const MAY_CARRY_PAYLOAD: readonly boolean[] = Array.from({ length: 256 }, (_, b) => b === 0x66 || b === 0x63 || b === 0x75 || isSpace(b));

/** fossil's token separators (isSpace): UTF-8 never has these bytes inside a multi-byte character. */
const SPACES = /[ \t\r\v\f]+/;

/**
 * The tokens of line `m[from, to)`: the line decoded once and split (a push round's
 * message is tens of thousands of igot lines, and a decoder call per token cost twice as much).
 */
function tokenize(m: Uint8Array, from: number, to: number): string[] {
  const tokens = utf8Decode(m.subarray(from, to)).split(SPACES);
  // Separators at either end of the line leave an empty string there.
  if (tokens[tokens.length - 1] === '') tokens.pop();
  if (tokens[0] === '') tokens.shift();
  if (tokens.length > 0 && tokens[0].startsWith('#')) return ['#']; // comment: the rest is free text
  if (tokens.length > MAX_CARD_TOKENS) throw xferError('bad-card', `card with more than ${MAX_CARD_TOKENS} tokens`);
  return tokens;
}

/** Every card of a message (tests and tools; the server reads incrementally). */
export function parseMessage(message: Uint8Array, maxPayload?: number): XferCard[] {
  const r = new XferReader(message, maxPayload);
  const out: XferCard[] = [];
  for (let c = r.next(); c !== null; c = r.next()) out.push(c);
  return out;
}

/**
 * Builds a message: cards, payloads, and its size so far (for the reply budget).
 * Card lines and small payloads are copied into a shared buffer as they come;
 * larger payloads are kept as the caller's views, not copied; result() joins it
 * all once. A clone reply is megabytes of payloads, which a growing buffer
 * copied about twice more, and thousands of cards, whose lines encoded one by
 * one (a TextEncoder call and an array each) cost more than their payloads' copy.
 *
 * A part whose bytes come later (later(): a clone round's records, still being
 * read from storage) counts in the size at once; such a message is sent with
 * chunks(), as those bytes arrive, not joined.
 */
export class XferWriter {
  private readonly parts: (Uint8Array | Later)[] = [];
  /** Lines and small payloads: bytes [from, at) of head are not in parts yet. */
  private head = new Uint8Array(HEAD_BYTES);
  private from = 0;
  private at = 0;
  private length = 0;
  private pending = 0;

  /** Bytes written so far. */
  get size(): number {
    return this.length;
  }

  /** True when every byte is here (no later() part): result() may join the message. */
  get complete(): boolean {
    return this.pending === 0;
  }

  /** Appends `name arg...\n`; arguments must already be escaped where they are text. */
  card(name: string, ...args: (string | number)[]): void {
    this.text(args.length === 0 ? `${name}\n` : `${name} ${args.join(' ')}\n`);
  }

  /**
   * Appends a card followed by its payload (and fossil's extra "\n" where one is due).
   * The payload's bytes must not change until result() is called.
   */
  cardWithPayload(name: string, args: (string | number)[], payload: Uint8Array | readonly Uint8Array[]): void {
    this.card(name, ...args);
    const parts = payload instanceof Uint8Array ? [payload] : payload;
    for (const p of parts) this.bytes(p);
    // config payloads are always followed by "\n" (the reader skips one byte); after
    // file/uvfile an extra "\n" is just a blank line, which keeps the next card on its own
    // line. After cfile always, so that a card's size is known before its payload is read
    // (a streamed clone round's Content-Length): fossil server adds it when the payload does
    // not end in "\n", and a blank line is skipped either way.
    const last = parts.length > 0 ? parts[parts.length - 1] : new Uint8Array(0);
    if (name === 'config' || name === 'cfile' || last.length === 0 || last[last.length - 1] !== NL) this.text('\n');
  }

  /**
   * Appends a cfile card from its line (`cfile HASH [BASE] USIZE CSIZE`, ASCII, without its "\n"),
   * its payload u32be(`usize`) + `record`, and the "\n" after it: cfileSize(line, record.length)
   * bytes, as cardWithPayload writes it, without building its arguments or a 4-byte array.
   */
  cfile(line: string, usize: number, record: Uint8Array): void {
    this.cfileStart(line, usize);
    this.bytes(record);
    this.cfileEnd();
  }

  /**
   * A cfile card's line and u32be(`usize`): the record's bytes then go out another way
   * (a large record in pieces, between drain() calls), and cfileEnd() writes the "\n" after them.
   */
  cfileStart(line: string, usize: number): void {
    this.text(line);
    const h = this.room(5);
    const at = this.at;
    h[at] = NL;
    h[at + 1] = usize >>> 24;
    h[at + 2] = (usize >>> 16) & 255;
    h[at + 3] = (usize >>> 8) & 255;
    h[at + 4] = usize & 255;
    this.at += 5;
    this.length += 5;
  }

  /** The "\n" after a cfile card's record. */
  cfileEnd(): void {
    this.room(1)[this.at++] = NL;
    this.length++;
  }

  /** Appends `length` bytes that `produce` yields when the message is sent (chunks()); they must be exactly that many. */
  later(length: number, produce: () => AsyncIterable<Uint8Array>): void {
    this.flush();
    this.parts.push({ length, produce });
    this.length += length;
    this.pending++;
  }

  /** The message bytes (only when complete). */
  result(): Uint8Array {
    if (!this.complete) throw new Error('XferWriter.result: the message has parts still to come; send it with chunks()');
    this.flush();
    return concat(this.parts as Uint8Array[], this.length);
  }

  /** The parts written so far, taken out of the writer (empty and at size 0 after): a producer's pieces for later(). */
  drain(): Uint8Array[] {
    if (!this.complete) throw new Error('XferWriter.drain: the message has parts still to come');
    this.flush();
    this.length = 0;
    return this.parts.splice(0) as Uint8Array[];
  }

  /** The message, piece by piece, later() parts as they are produced. Throws when one yields more or fewer bytes than it said. */
  async *chunks(): AsyncGenerator<Uint8Array> {
    this.flush();
    for (const p of this.parts) {
      if (p instanceof Uint8Array) {
        yield p;
        continue;
      }
      let n = 0;
      for await (const c of p.produce()) {
        n += c.length;
        if (n > p.length) break;
        yield c;
      }
      if (n !== p.length) throw new Error(`xfer message part of ${p.length} bytes produced ${n}`);
    }
  }

  private text(line: string): void {
    if (!ASCII.test(line)) return this.bytes(utf8Encode(line));
    const h = this.room(line.length);
    let at = this.at;
    for (let i = 0; i < line.length; i++) h[at++] = line.charCodeAt(i);
    this.at = at;
    this.length += line.length;
  }

  private bytes(b: Uint8Array): void {
    if (b.length > SMALL_PAYLOAD) {
      this.flush();
      this.parts.push(b);
    } else {
      this.room(b.length).set(b, this.at);
      this.at += b.length;
    }
    this.length += b.length;
  }

  /** The head buffer, with room for n more bytes. */
  private room(n: number): Uint8Array {
    if (this.at + n > this.head.length) {
      this.flush();
      this.head = new Uint8Array(Math.max(HEAD_BYTES, n));
      this.from = this.at = 0;
    }
    return this.head;
  }

  private flush(): void {
    if (this.at === this.from) return;
    this.parts.push(this.head.subarray(this.from, this.at));
    this.from = this.at;
  }
}

/** A part of a message whose bytes come later (XferWriter.later). */
interface Later {
  length: number;
  produce: () => AsyncIterable<Uint8Array>;
}

/** Bytes XferWriter.cfile writes for a card of this line and a record of `recordLength` bytes. */
export function cfileSize(line: string, recordLength: number): number {
  return line.length + 1 + 4 + recordLength + 1;
}

/** Bytes of the buffer card lines are copied into (a new one when full). */
const HEAD_BYTES = 16 * 1024;
/** Payloads up to this size are copied with the lines (a cfile's length prefix), larger ones kept as views. */
const SMALL_PAYLOAD = 64;

const ASCII = /^[\x00-\x7f]*$/;
