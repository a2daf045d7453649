/**
 * The lexical layer of a structural artifact (src/manifest.c, next_card and
 * next_token), and the argument checks the card handlers share.
 *
 *     artifact = card* ;  card = LETTER ( "\n" | " " token ( " " token )* "\n" )
 *     W card   = "W " size "\n" size-bytes "\n"      (the text is raw, unescaped)
 *
 * Tokens are split on single spaces, so two spaces make an empty token, as in
 * fossil. A NUL byte in a card line is rejected here (fossil treats it as a
 * token end, which only ever leads to odd parses of hand-made input).
 */
import { ArtifactError } from './errors.js';

const NL = 0x0a;
const SP = 0x20;

/** One card as written: its letter, its space-separated tokens (raw, still escaped) and its line number. */
export interface RawCard {
  letter: string;
  tokens: Uint8Array[];
  /** 1-based card number, as fossil counts lines in its error messages. */
  line: number;
  /** W card only: the text after the size line. */
  text?: Uint8Array;
  /**
   * F card only: its arguments (the bytes after "F ") are body[start, end),
   * and `tokens` is left empty (splitTokens gives them). A manifest is mostly
   * F cards, repeated from its parent's: the parser looks them up whole
   * before splitting (artifact.ts), without a view per card.
   */
  body?: Uint8Array;
  start?: number;
  end?: number;
}

/** Split an artifact body (after any PGP wrapper) into cards; bounded by the body's length. */
export function splitCards(body: Uint8Array): RawCard[] {
  const cards: RawCard[] = [];
  let pos = 0;
  let line = 0;
  // The first NUL byte at or after the current card's arguments (-1: none): one native scan for the
  // body, not a loop over every F card's bytes (a manifest is mostly F cards).
  let nul = body.indexOf(0);
  while (pos < body.length) {
    line++;
    const letter = body[pos];
    const after = body[pos + 1];
    // fossil's next_card: a letter must be followed by a space or the line end.
    if (after !== SP && after !== NL) {
      throw new ArtifactError('bad-card', `line ${line}: extra characters at end of card`, { line });
    }
    const eol = body.indexOf(NL, pos + 1);
    // The body always ends with "\n" (checked by the caller), so eol is found.
    let card: RawCard;
    if (letter === 0x46 /* F */ && after === SP) {
      if (nul !== -1 && nul < pos + 2) nul = body.indexOf(0, pos + 2);
      if (nul !== -1 && nul < eol) throw nulByte(line);
      card = { letter: 'F', tokens: [], line, body, start: pos + 2, end: eol };
    } else {
      card = { letter: String.fromCharCode(letter), tokens: after === SP ? splitTokens(body.subarray(pos + 2, eol), line) : [], line };
    }
    pos = eol + 1;
    if (letter === 0x57 /* W */) pos = readWikiText(body, pos, card);
    cards.push(card);
  }
  return cards;
}

/** The space-separated tokens of a card's arguments (the bytes after "LETTER "); `line` names the card in errors. */
export function splitTokens(args: Uint8Array, line: number): Uint8Array[] {
  const tokens: Uint8Array[] = [];
  let start = 0;
  for (let i = 0; i <= args.length; i++) {
    if (i === args.length || args[i] === SP) {
      tokens.push(args.subarray(start, i));
      start = i + 1;
    } else if (args[i] === 0) throw nulByte(line);
  }
  return tokens;
}

function nulByte(line: number): ArtifactError {
  return new ArtifactError('bad-card', `line ${line}: NUL byte in a card`, { line });
}

// The W card's size line is followed by exactly `size` bytes and a "\n".
function readWikiText(body: Uint8Array, start: number, card: RawCard): number {
  const { tokens, line } = card;
  if (tokens.length === 0) throw new ArtifactError('missing-argument', `line ${line}: missing size on W-card`, { line });
  if (tokens.length > 1) throw new ArtifactError('extra-argument', `line ${line}: no content after W-card`, { line });
  // fossil reads the leading digits only ("12x" is 12, "x" is 0).
  let size = 0;
  for (const b of tokens[0]) {
    if (b < 0x30 || b > 0x39) break;
    size = size * 10 + (b - 0x30);
    // Bounded: a size past the body can never fit, whatever digits follow.
    if (size > body.length) break;
  }
  // fossil also wants at least one byte after the text's "\n" (the Z card).
  if (start + size + 1 >= body.length) {
    throw new ArtifactError('bad-w-card', `line ${line}: not enough content after W-card`, { line, size });
  }
  if (body[start + size] !== NL) {
    throw new ArtifactError('bad-w-card', `line ${line}: W-card content not \\n terminated`, { line, size });
  }
  card.text = body.subarray(start, start + size);
  return start + size + 1;
}

// Not bytes.ts's utf8Decode: this decoder keeps the TextDecoder default ignoreBOM: false,
// so a leading U+FEFF in a token is dropped (utf8Decode keeps it). The parse results and
// the canonical check depend on that, so the two are not interchangeable.
const decoder = new TextDecoder('utf-8');

/** Raw token bytes as a string (UTF-8; invalid sequences become U+FFFD and the artifact is then not canonical). */
export function tokenText(token: Uint8Array): string {
  // Most tokens (hashes, dates, plain names) are short ASCII, where building
  // the string directly is several times faster than a TextDecoder call.
  const n = token.length;
  if (n > 128) return decoder.decode(token);
  for (let i = 0; i < n; i++) if (token[i] >= 0x80) return decoder.decode(token);
  return String.fromCharCode.apply(null, token as unknown as number[]);
}

function isHexByte(b: number): boolean {
  return (b >= 0x30 && b <= 0x39) || (b >= 0x61 && b <= 0x66) || (b >= 0x41 && b <= 0x46);
}

/** fossil's validate16: every byte a hex digit, either case (an empty token passes). */
export function isHexToken(token: Uint8Array): boolean {
  for (let i = 0; i < token.length; i++) if (!isHexByte(token[i])) return false;
  return true;
}

/** fossil's hname_validate on a card argument: 40 or 64 hex digits (fossil accepts either case here). */
export function isCardHash(token: Uint8Array): boolean {
  return (token.length === 40 || token.length === 64) && isHexToken(token);
}

/**
 * file_is_simple_pathname_nonstrict: not empty, no leading or trailing "/",
 * no "//", no "." or ".." element. (Backslashes and any UTF-8 are allowed in
 * artifacts; only new check-ins are held to the strict rules.)
 */
export function isSimplePath(p: Uint8Array): boolean {
  const n = p.length;
  if (n === 0 || p[0] === 0x2f) return false;
  if (p[n - 1] === 0x2f) return false;
  let start = 0;
  for (let i = 0; i <= n; i++) {
    if (i === n || p[i] === 0x2f) {
      const len = i - start;
      if (len === 0) return false; // "//"
      if (p[start] === 0x2e && (len === 1 || (len === 2 && p[start + 1] === 0x2e))) return false;
      start = i + 1;
    }
  }
  return true;
}

/**
 * wiki_name_is_wellformed: 1 to 100 bytes, first byte above space, no control
 * bytes, no two spaces in a row, no trailing space.
 */
export function isWikiName(z: Uint8Array): boolean {
  const n = z.length;
  if (n < 1 || n > 100 || z[0] <= 0x20) return false;
  for (let i = 1; i < n; i++) {
    if (z[i] < 0x20) return false;
    if (z[i] === 0x20 && z[i - 1] === 0x20) return false;
  }
  return z[n - 1] !== 0x20;
}

// SQLite's date forms that fossil's julianday() check accepts, minus "now" (a
// moving target no stored artifact should carry): an ISO date with optional
// time and zone, a bare time, or a positive Julian day number.
const ISO_DATE = /^(?:(\d{4})-(\d\d)-(\d\d)(?:T(\d\d):(\d\d)(?::(\d\d)(?:\.\d+)?)?)?|(\d\d):(\d\d)(?::(\d\d)(?:\.\d+)?)?)(?:Z|[+-]\d\d:\d\d)?$/;
const JULIAN_DAY = /^(?:\d+(?:\.\d*)?|\.\d+)$/;

/** True for a D- or E-card date that SQLite's julianday() turns into a positive day. */
export function isCardDate(token: Uint8Array): boolean {
  if (token.length > 64) return false;
  const s = tokenText(token);
  if (JULIAN_DAY.test(s)) return Number(s) > 0;
  const m = ISO_DATE.exec(s);
  if (!m) return false;
  const [month, day] = [Number(m[2] ?? 1), Number(m[3] ?? 1)];
  const hour = Number(m[4] ?? m[7] ?? 0);
  const minute = Number(m[5] ?? m[8] ?? 0);
  const second = Number(m[6] ?? m[9] ?? 0);
  return month >= 1 && month <= 12 && day >= 1 && day <= 31 && hour <= 24 && minute <= 59 && second <= 59;
}
