/**
 * Structural artifacts (www/fileformat.wiki, src/manifest.c manifest_parse):
 * parse into typed cards, classify, serialise back.
 *
 *     artifact = [pgp-head] card* "Z " md5-hex "\n" [pgp-tail]
 *     cards in ascending order of letter, one space between tokens, text
 *     arguments fossil-escaped; Z = md5 of every byte before the Z card.
 *
 * | card | args                         | card | args                         |
 * |------|------------------------------|------|------------------------------|
 * | A    | filename target [source]     | L    | wiki-title                   |
 * | B    | baseline                     | M    | hash (cluster member)        |
 * | C    | comment                      | N    | mimetype                     |
 * | D    | date                         | P    | parent...                    |
 * | E    | technote-time technote-id    | Q    | (+|-)hash [base]             |
 * | F    | path [hash [perm [old-path]]]| R    | md5 over all files           |
 * | G    | thread-root                  | T    | (+|-|*)name (hash|*) [value] |
 * | H    | thread-title                 | U    | user                         |
 * | I    | in-reply-to                  | W    | size "\n" text "\n"          |
 * | J    | [+]field [value]             | K    | ticket-id (40 hex)           |
 *
 * A byte string that breaks any rule is an ordinary file (content) artifact:
 * parseArtifact answers null for it, parseArtifactStrict throws an
 * ArtifactError naming the rule. What fossil 2.21 accepts, this accepts, with
 * these deviations: a NUL byte in a card line and the date "now" are rejected;
 * a `\0` escape is kept as a NUL character (fossil's C strings stop there).
 */
import { md5 } from '@noble/hashes/legacy.js';
import { compare, concat, toHex, utf8Encode } from '../bytes.js';
import {
  isCardDate,
  isCardHash,
  isHexToken,
  isSimplePath,
  isWikiName,
  type RawCard,
  splitCards,
  splitTokens,
  tokenText,
} from './card.js';
import type { Primitives } from '../primitives.js';
import { ArtifactError } from './errors.js';
import { defossilizeBytes, fossilizeBytes } from './escape.js';

/** The kinds of structural artifact (fossil's CFTYPE_*; "control" is fossil's tag artifact). */
export type ArtifactType = 'manifest' | 'cluster' | 'control' | 'wiki' | 'ticket' | 'attachment' | 'technote' | 'forum';

/** An F card: a file of a check-in. `hash` is absent only in a delta manifest (the file is deleted). */
export interface FileCard {
  name: string;
  hash?: string;
  /** As written: "x" executable, "l" symlink, "w" plain (a placeholder before old-name). */
  perm?: string;
  /** The file's name in the parent when renamed. */
  oldName?: string;
}

/** A T card. `target` is a hash, or "*" for the artifact itself. */
export interface TagCard {
  /** "+" add, "-" cancel, "*" add and propagate to descendants. */
  op: '+' | '-' | '*';
  name: string;
  target: string;
  value?: string;
}

/** A Q card: a cherry-pick ("+") or backout ("-") merge. */
export interface CherryPickCard {
  op: '+' | '-';
  hash: string;
  base?: string;
}

/** A J card: a ticket field set (or appended to, `append`). */
export interface TicketFieldCard {
  name: string;
  append: boolean;
  value?: string;
}

/** An A card: attach `source` (absent = detach) as `filename` to a wiki page or ticket `target`. */
export interface AttachmentCard {
  filename: string;
  target: string;
  source?: string;
}

/** An E card: a technote's display time and its id. */
export interface TechnoteCard {
  time: string;
  id: string;
}

/** The cards of an artifact, by meaning; the letter is in each comment. Text is decoded (unescaped). */
export interface ArtifactCards {
  /** A */ attachment?: AttachmentCard;
  /** B */ baseline?: string;
  /** C */ comment?: string;
  /** D */ date?: string;
  /** E */ technote?: TechnoteCard;
  /** F, in path order */ files?: FileCard[];
  /** G */ threadRoot?: string;
  /** H */ threadTitle?: string;
  /** I */ inReplyTo?: string;
  /** J, in field-name order */ fields?: TicketFieldCard[];
  /** K */ ticket?: string;
  /** L */ title?: string;
  /** M, ascending */ members?: string[];
  /** N */ mimetype?: string;
  /** P, primary parent first */ parents?: string[];
  /** Q, in written order */ cherrypicks?: CherryPickCard[];
  /** R */ repoChecksum?: string;
  /** T, in (name, target) order */ tags?: TagCard[];
  /** U (fossil reads an empty U card as "anonymous") */ user?: string;
  /** W, raw bytes */ wiki?: Uint8Array;
}

/** The bytes around a PGP (or SSH) clearsigned artifact, kept as they were. */
export interface SignatureWrapper {
  /** From "-----BEGIN PGP SIGNED MESSAGE-----" through the blank line. */
  head: Uint8Array;
  /** From "-----BEGIN PGP SIGNATURE-----" to the end. */
  tail: Uint8Array;
}

/** A parsed structural artifact. */
export interface Artifact {
  type: ArtifactType;
  cards: ArtifactCards;
  /** The Z card's md5 (verified). */
  z: string;
  signature?: SignatureWrapper;
  /** True when serializeArtifact gives back exactly the parsed bytes (false for odd but legal spellings). */
  canonical: boolean;
}

/** Parse limits. */
export interface ParseOptions {
  /** Larger inputs are refused (too-large) before any scan. Default MAX_ARTIFACT_SIZE. */
  maxSize?: number;
  /**
   * Skip the canonical-spelling check (re-serialising every card), and leave
   * `canonical` false: a sync server receiving hundreds of manifests per round
   * only needs the cards, and that check was about a third of parsing.
   */
  skipCanonical?: boolean;
  /** For the Z card's md5 (a native one where the runtime has it); default pure. */
  primitives?: Primitives;
}

/** Default bound on an artifact's size for parsing: 64 MiB, far above any real manifest. */
export const MAX_ARTIFACT_SIZE = 64 * 1024 * 1024;

// Cards each type requires and allows (manifestCardTypes in src/manifest.c).
const CARD_RULES: Readonly<Record<ArtifactType, { name: string; required: string; allowed: string }>> = {
  manifest: { name: 'manifest', required: 'DZ', allowed: 'BCDFNPQRTUZ' },
  cluster: { name: 'cluster', required: 'MZ', allowed: 'MZ' },
  control: { name: 'tag', required: 'DTUZ', allowed: 'DTUZ' },
  wiki: { name: 'wiki', required: 'DLUWZ', allowed: 'CDLNPUWZ' },
  ticket: { name: 'ticket', required: 'DJKUZ', allowed: 'DJKUZ' },
  attachment: { name: 'attachment', required: 'ADZ', allowed: 'ACDNUZ' },
  technote: { name: 'technote', required: 'DEWZ', allowed: 'CDENPTUWZ' },
  forum: { name: 'forum', required: 'DUWZ', allowed: 'DGHINPUWZ' },
};

// The cards that decide an artifact's type; the last one seen wins, as in fossil.
const TYPE_OF_CARD: Readonly<Record<string, ArtifactType>> = {
  A: 'attachment',
  B: 'manifest',
  E: 'technote',
  F: 'manifest',
  G: 'forum',
  H: 'forum',
  I: 'forum',
  J: 'ticket',
  K: 'ticket',
  L: 'wiki',
  M: 'cluster',
  Q: 'manifest',
  R: 'manifest',
};

const SIGNED_HEADS = ['-----BEGIN PGP SIGNED MESSAGE-----', '-----BEGIN SSH SIGNED MESSAGE-----'].map(utf8Encode);
// fossil compares 29 bytes: "\n" and the first 28 of the marker.
const SIGNATURE_MARKS = ['\n-----BEGIN PGP SIGNATURE----', '\n-----BEGIN SSH SIGNATURE----'].map(utf8Encode);
const Z_CARD_SIZE = 35; // "Z " + 32 hex + "\n"

/** Parse a structural artifact, or null when the bytes are an ordinary file (content) artifact. */
export function parseArtifact(bytes: Uint8Array, options: ParseOptions = {}): Artifact | null {
  // Most files fail the first two rules: answered here, without making an ArtifactError (a stack trace
  // each: a push calls this for every artifact it receives, three in four of them plain files).
  if (!mayBeArtifact(bytes)) return null;
  try {
    return parseArtifactStrict(bytes, options);
  } catch (e) {
    if (e instanceof ArtifactError) return null;
    throw e;
  }
}

// parseArtifactStrict's first rules, not-terminated and (for an unsigned artifact, whose body is all of it) bad-first-line.
function mayBeArtifact(bytes: Uint8Array): boolean {
  if (bytes.length === 0 || bytes[bytes.length - 1] !== 0x0a) return false;
  return bytes[0] === 0x2d /* "-": maybe signed */ || (bytes.length >= 10 && bytes[0] >= 0x41 && bytes[0] <= 0x5a && bytes[1] === 0x20);
}

/** Parse a structural artifact; throws ArtifactError naming the first rule it breaks. */
export function parseArtifactStrict(bytes: Uint8Array, options: ParseOptions = {}): Artifact {
  const maxSize = options.maxSize ?? MAX_ARTIFACT_SIZE;
  if (bytes.length > maxSize) {
    throw new ArtifactError('too-large', `artifact larger than ${maxSize} bytes`, { size: bytes.length, maxSize });
  }
  if (bytes.length === 0 || bytes[bytes.length - 1] !== 0x0a) {
    throw new ArtifactError('not-terminated', bytes.length === 0 ? 'zero-length' : 'not terminated with \\n');
  }
  const { head, body, tail } = unwrapSignature(bytes);
  if (body.length < 10 || body[0] < 0x41 || body[0] > 0x5a || body[1] !== 0x20) {
    throw new ArtifactError('bad-first-line', 'line 1 not recognized');
  }
  const z = checkZCard(body, options.primitives?.md5 ?? md5);
  const cards = splitCards(body);
  let interpreted: ReturnType<typeof interpret>;
  try {
    interpreted = interpret(cards);
  } finally {
    textView = null;
  }
  const { parsed, type, spellable } = interpreted;
  // Unreachable in practice: Z is required and sorts last, so a parsed artifact ends in a well-formed Z card.
  if (z === null) throw new ArtifactError('missing-z-card', 'Z-card missing');
  const artifact: Artifact = { type, cards: parsed, z, canonical: false };
  if (head.length > 0) artifact.signature = { head, tail };
  // Canonical = our serialisation of the typed cards is the very body fossil hashed.
  if (options.skipCanonical) return artifact;
  const ours = serializeCards(parsed);
  artifact.canonical = spellable && compare(ours, body.subarray(0, body.length - Z_CARD_SIZE)) === 0;
  return artifact;
}

/** True when `bytes` are a structural artifact (fossil would parse them as one). */
export function isStructuralArtifact(bytes: Uint8Array, options: ParseOptions = {}): boolean {
  return parseArtifact(bytes, options) !== null;
}

// remove_pgp_signature: the signed part starts after the first blank line and
// ends before the last "\n-----BEGIN PGP SIGNATURE"; without a blank line the
// artifact is taken whole (and will then fail the first-line check).
function unwrapSignature(bytes: Uint8Array): { head: Uint8Array; body: Uint8Array; tail: Uint8Array } {
  const none = { head: bytes.subarray(0, 0), body: bytes, tail: bytes.subarray(bytes.length) };
  const n = bytes.length;
  if (!SIGNED_HEADS.some((h) => startsWithAt(bytes, h, 0))) return none;
  let i = 34;
  while (i < n && !afterBlankLine(bytes, i)) i++;
  if (i >= n) return none;
  let end = n;
  for (let j = n - 1; j >= i; j--) {
    if (bytes[j] === 0x0a && SIGNATURE_MARKS.some((m) => startsWithAt(bytes, m, j))) {
      end = j + 1;
      break;
    }
  }
  return { head: bytes.subarray(0, i), body: bytes.subarray(i, end), tail: bytes.subarray(end) };
}

function afterBlankLine(z: Uint8Array, i: number): boolean {
  if (z[i - 1] !== 0x0a) return false;
  return z[i - 2] === 0x0a || (z[i - 2] === 0x0d && z[i - 3] === 0x0a);
}

function startsWithAt(bytes: Uint8Array, prefix: Uint8Array, at: number): boolean {
  if (at + prefix.length > bytes.length) return false;
  for (let k = 0; k < prefix.length; k++) if (bytes[at + k] !== prefix[k]) return false;
  return true;
}

// verify_z_card: when the last 35 bytes look like a Z card its md5 must match;
// when they do not, the missing Z card is reported later.
function checkZCard(body: Uint8Array, md5: (data: Uint8Array) => Uint8Array): string | null {
  const n = body.length;
  if (n < Z_CARD_SIZE || body[n - 35] !== 0x5a || body[n - 34] !== 0x20) return null;
  const expected = toHex(md5(body.subarray(0, n - Z_CARD_SIZE)));
  const written = tokenText(body.subarray(n - 33, n - 1));
  if (written !== expected) {
    throw new ArtifactError('bad-z-card', `incorrect Z-card cksum: expected ${expected}`, { expected, written });
  }
  return expected;
}

// The per-card checks, as plain functions: closures made per card cost more
// than the checks (hundreds of F cards per manifest; the bundler names each).
function fail(card: RawCard, code: string, why: string): never {
  throw new ArtifactError(code, `line ${card.line}: ${why}`, { line: card.line, card: card.letter });
}

function arity(card: RawCard, min: number, max: number): void {
  if (card.tokens.length < min) fail(card, 'missing-argument', `missing argument on ${card.letter}-card`);
  if (card.tokens.length > max) fail(card, 'extra-argument', 'extra characters at end of card');
}

function once(card: RawCard, present: boolean): void {
  if (present) fail(card, 'duplicate-card', `more than one ${card.letter}-card`);
}

function cardHash(card: RawCard, token: Uint8Array, what: string): string {
  if (!isCardHash(token)) fail(card, 'bad-argument', `invalid hash on ${what}`);
  return tokenText(token);
}

function cardText(token: Uint8Array): string {
  return tokenText(defossilizeBytes(token));
}

/**
 * F cards parsed lately, by their argument bytes (pure ASCII lines only). A
 * manifest repeats most of its parent's F cards, so a push of many check-ins
 * parses each file line about once, and the parsed manifests of a batch share
 * their FileCards instead of holding a copy each (those copies were most of a
 * push's memory). Looked up by a hash of the bytes, then compared with the
 * line kept in an arena, both four bytes a step: a hit allocates nothing. The
 * cards are shared: never mutated. Cleared whole when full (a bound, not an LRU).
 */
const fileCards = new Map<number, { at: number; card: FileCard }>();
const FILE_CARD_CACHE_SIZE = 16384;
const MAX_CACHED_LINE = 512;
/** The cached lines' bytes, one after the other (allocated at first use). */
const ARENA_BYTES = 2 * 1024 * 1024;
let arena = new Uint8Array(0);
let arenaView = new DataView(arena.buffer);
let arenaUsed = 0;
// A view of the buffer of the artifact being parsed (dropped after each parse: it may be a whole request's).
let textView: DataView | null = null;
// The name bytes of a non-ASCII F card (for the sort-order check); an ASCII card's name string compares as its bytes.
const rawNames = new WeakMap<FileCard, Uint8Array>();

function fileCard(card: RawCard): FileCard {
  const { body, start = 0, end = 0 } = card;
  if (body === undefined) return parseFileCard(card, [], false); // "F" alone
  const n = end - start;
  if (n === 0 || n > MAX_CACHED_LINE) return parseFileCard(card, splitTokens(body.subarray(start, end), card.line), false);
  if (textView === null || textView.buffer !== body.buffer) textView = new DataView(body.buffer);
  const v = textView;
  const o = body.byteOffset + start;
  let h = 0x811c9dc5 ^ n;
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    h = Math.imul(h ^ v.getUint32(o + i, true), 0x01000193);
    h ^= h >>> 15; // the multiply only carries upwards: fold the high bits back
  }
  for (; i < n; i++) h = Math.imul(h ^ body[start + i], 0x01000193);
  h ^= h >>> 16;
  const key = h & 0x3fffffff; // a small integer: no heap number per lookup
  const hit = fileCards.get(key);
  if (hit !== undefined && sameLine(v, o, hit.at, n)) return hit.card;
  const args = body.subarray(start, end);
  for (let j = 0; j < n; j++) if (args[j] >= 0x80) return parseFileCard(card, splitTokens(args, card.line), false);
  const f = parseFileCard(card, splitTokens(args, card.line), true);
  if (fileCards.size >= FILE_CARD_CACHE_SIZE || arenaUsed + n + 2 > arena.length) {
    fileCards.clear();
    arenaUsed = 0;
    if (arena.length === 0) {
      arena = new Uint8Array(ARENA_BYTES);
      arenaView = new DataView(arena.buffer);
    }
  }
  // A line is stored as its length (2 bytes) and its bytes.
  arenaView.setUint16(arenaUsed, n);
  arena.set(args, arenaUsed + 2);
  fileCards.set(key, { at: arenaUsed, card: f });
  arenaUsed += n + 2;
  return f;
}

function sameLine(v: DataView, o: number, at: number, n: number): boolean {
  if (arenaView.getUint16(at) !== n) return false;
  const a = at + 2;
  let i = 0;
  for (; i + 4 <= n; i += 4) if (v.getUint32(o + i, true) !== arenaView.getUint32(a + i, true)) return false;
  for (; i < n; i++) if (v.getUint8(o + i) !== arena[a + i]) return false;
  return true;
}

// An F card's own rules (those that depend on nothing but its line).
function parseFileCard(card: RawCard, tokens: Uint8Array[], ascii: boolean): FileCard {
  if (tokens.length < 1) fail(card, 'missing-argument', 'missing argument on F-card');
  if (tokens.length > 4) fail(card, 'extra-argument', 'extra characters at end of card');
  const name = defossilizeBytes(tokens[0]);
  if (!isSimplePath(name)) fail(card, 'bad-argument', 'F-card filename is not a simple path');
  const f: FileCard = { name: tokenText(name) };
  if (tokens.length >= 2) f.hash = cardHash(card, tokens[1], 'F-card');
  if (tokens.length >= 3) f.perm = tokenText(tokens[2]);
  if (tokens.length === 4) {
    const old = defossilizeBytes(tokens[3]);
    if (!isSimplePath(old)) fail(card, 'bad-argument', 'F-card old filename is not a simple path');
    f.oldName = tokenText(old);
  }
  if (!ascii) rawNames.set(f, name.slice());
  return f;
}

/** fossil's F-card order: by the names' bytes (the order of a parsed artifact's `files`). */
export function compareFileNames(a: FileCard, b: FileCard): number {
  const ra = rawNames.get(a);
  const rb = rawNames.get(b);
  if (ra === undefined && rb === undefined) return a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
  return compare(ra ?? utf8Encode(a.name), rb ?? utf8Encode(b.name));
}

// One pass over the cards applying each card's rules, then the type's rules.
function interpret(cards: RawCard[]): { parsed: ArtifactCards; type: ArtifactType; spellable: boolean } {
  const c: ArtifactCards = {};
  const seen = new Set<string>();
  let prev = '';
  let decided: ArtifactType | null = null;
  let zCount = 0;
  // Raw sort keys of the previous repeated card, for fossil's order checks.
  let prevFile: FileCard | null = null;
  let prevField: Uint8Array | null = null;
  let prevMember: Uint8Array | null = null;
  let prevTag: { name: Uint8Array; target: Uint8Array | null } | null = null;
  let sawEmptyParents = false;

  for (const card of cards) {
    const { letter, tokens } = card;
    if (letter < prev) fail(card, 'card-order', 'cards not in lexicographical order');
    if (letter < 'A' || letter > 'Z') fail(card, 'bad-card', 'bad card type');
    prev = letter;
    seen.add(letter);
    decided = TYPE_OF_CARD[letter] ?? decided;

    switch (letter) {
      case 'A': {
        arity(card, 2, 3);
        once(card, c.attachment !== undefined);
        const [name, target, source] = tokens.map((t, i) => (i < 2 ? defossilizeBytes(t) : t));
        if (!isSimplePath(name)) fail(card, 'bad-argument', 'invalid filename on A-card');
        if (!isCardHash(target) && !isWikiName(target)) fail(card, 'bad-argument', 'invalid target on A-card');
        c.attachment = { filename: tokenText(name), target: tokenText(target) };
        if (source !== undefined) c.attachment.source = cardHash(card, source, 'A-card source');
        break;
      }
      case 'B':
        arity(card, 1, 1);
        once(card, c.baseline !== undefined);
        c.baseline = cardHash(card, tokens[0], 'B-card');
        break;
      case 'C':
        arity(card, 1, 1);
        once(card, c.comment !== undefined);
        c.comment = cardText(tokens[0]);
        break;
      case 'D':
        arity(card, 1, 1);
        once(card, c.date !== undefined);
        if (!isCardDate(tokens[0])) fail(card, 'bad-argument', 'cannot parse date on D-card');
        c.date = tokenText(tokens[0]);
        break;
      case 'E':
        arity(card, 2, 2);
        once(card, c.technote !== undefined);
        if (!isCardDate(tokens[0])) fail(card, 'bad-argument', 'malformed date on E-card');
        c.technote = { time: tokenText(tokens[0]), id: cardHash(card, tokens[1], 'E-card') };
        break;
      case 'F': {
        const f = fileCard(card);
        // Only a delta manifest (B card, which sorts first) may omit the hash.
        if (f.hash === undefined && c.baseline === undefined) fail(card, 'missing-argument', 'missing hash on F-card');
        if (prevFile !== null && compareFileNames(prevFile, f) >= 0) fail(card, 'card-order', 'incorrect F-card sort order');
        prevFile = f;
        (c.files ??= []).push(f);
        break;
      }
      case 'G':
        arity(card, 1, 1);
        once(card, c.threadRoot !== undefined);
        c.threadRoot = cardHash(card, tokens[0], 'G-card');
        break;
      case 'H':
        arity(card, 1, 1);
        once(card, c.threadTitle !== undefined);
        c.threadTitle = cardText(tokens[0]);
        break;
      case 'I':
        arity(card, 1, 1);
        once(card, c.inReplyTo !== undefined);
        c.inReplyTo = cardHash(card, tokens[0], 'I-card');
        break;
      case 'J': {
        arity(card, 1, 2);
        // The field name is not escaped (fossil does not defossilize it).
        const raw = tokens[0];
        if (prevField && compare(prevField, raw) >= 0) fail(card, 'card-order', 'incorrect J-card sort order');
        prevField = raw;
        const append = raw[0] === 0x2b;
        const field: TicketFieldCard = { name: tokenText(append ? raw.subarray(1) : raw), append };
        if (tokens.length === 2) field.value = cardText(tokens[1]);
        (c.fields ??= []).push(field);
        break;
      }
      case 'K':
        arity(card, 1, 1);
        once(card, c.ticket !== undefined);
        if (tokens[0].length !== 40) fail(card, 'bad-argument', 'K-card UUID is the wrong size');
        if (!isHexToken(tokens[0])) fail(card, 'bad-argument', 'invalid K-card UUID');
        c.ticket = tokenText(tokens[0]);
        break;
      case 'L': {
        arity(card, 1, 1);
        once(card, c.title !== undefined);
        const title = defossilizeBytes(tokens[0]);
        if (!isWikiName(title)) fail(card, 'bad-argument', 'L-card has malformed wiki name');
        c.title = tokenText(title);
        break;
      }
      case 'M': {
        arity(card, 1, 1);
        const m = cardHash(card, tokens[0], 'M-card');
        if (prevMember && compare(prevMember, tokens[0]) >= 0) fail(card, 'card-order', 'M-card in the wrong order');
        prevMember = tokens[0];
        (c.members ??= []).push(m);
        break;
      }
      case 'N':
        arity(card, 1, 1);
        once(card, c.mimetype !== undefined);
        c.mimetype = cardText(tokens[0]);
        break;
      case 'P': {
        // fossil only refuses a P card after one that named parents.
        once(card, (c.parents?.length ?? 0) > 0);
        if (c.parents !== undefined) sawEmptyParents = true;
        c.parents = tokens.map((t) => {
          if (t.length === 0) fail(card, 'missing-argument', 'missing hash on P-card');
          return cardHash(card, t, 'P-card');
        });
        break;
      }
      case 'Q': {
        arity(card, 1, 2);
        const t = tokens[0];
        if (t[0] !== 0x2b && t[0] !== 0x2d) fail(card, 'bad-argument', "Q-card does not begin with '+' or '-'");
        const q: CherryPickCard = { op: t[0] === 0x2b ? '+' : '-', hash: cardHash(card, t.subarray(1), 'Q-card') };
        if (tokens.length === 2) q.base = cardHash(card, tokens[1], 'Q-card base');
        (c.cherrypicks ??= []).push(q);
        break;
      }
      case 'R':
        arity(card, 1, 1);
        once(card, c.repoChecksum !== undefined);
        if (tokens[0].length !== 32) fail(card, 'bad-argument', 'wrong size cksum on R-card');
        if (!isHexToken(tokens[0])) fail(card, 'bad-argument', 'malformed R-card cksum');
        c.repoChecksum = tokenText(tokens[0]);
        break;
      case 'T': {
        arity(card, 2, 3);
        const name = defossilizeBytes(tokens[0]);
        const rawTarget = tokens[1];
        const self = rawTarget.length === 1 && rawTarget[0] === 0x2a;
        if (!self && !isCardHash(rawTarget)) fail(card, 'bad-argument', 'malformed artifact hash on T-card');
        const op = name[0];
        if (op !== 0x2b && op !== 0x2d && op !== 0x2a) {
          fail(card, 'bad-argument', "T-card name does not begin with '-', '+', or '*'");
        }
        if (isHexToken(name.subarray(1))) fail(card, 'bad-argument', 'T-card name looks like a hexadecimal hash');
        const target = self ? null : rawTarget;
        if (prevTag) {
          const order = compare(prevTag.name, name);
          // Self ("*") targets sort before hashes, as fossil_strcmp(NULL, x) < 0.
          const byTarget =
            prevTag.target === null ? (target === null ? 0 : -1) : target === null ? 1 : compare(prevTag.target, target);
          if (order > 0 || (order === 0 && byTarget >= 0)) fail(card, 'card-order', 'T-card in the wrong order');
        }
        prevTag = { name, target };
        const tag: TagCard = {
          op: op === 0x2b ? '+' : op === 0x2d ? '-' : '*',
          name: tokenText(name.subarray(1)),
          target: tokenText(rawTarget),
        };
        if (tokens.length === 3) tag.value = cardText(tokens[2]);
        (c.tags ??= []).push(tag);
        break;
      }
      case 'U':
        arity(card, 0, 1);
        once(card, c.user !== undefined);
        c.user = tokens.length === 0 || tokens[0].length === 0 ? 'anonymous' : cardText(tokens[0]);
        break;
      case 'W':
        once(card, c.wiki !== undefined);
        c.wiki = card.text ?? new Uint8Array(0);
        break;
      case 'Z':
        // Only the last Z card is the checksum (verified already); fossil lets earlier ones pass if well-formed.
        arity(card, 1, 1);
        if (tokens[0].length !== 32) fail(card, 'bad-argument', 'wrong size for Z-card cksum');
        if (!isHexToken(tokens[0])) fail(card, 'bad-argument', 'malformed Z-card cksum');
        zCount++;
        break;
      default:
        fail(card, 'unknown-card', 'unrecognized card');
    }
  }

  const last = cards[cards.length - 1]?.line ?? 0;
  const rule = (code: string, why: string): never => {
    throw new ArtifactError(code, `line ${last}: ${why}`, { line: last });
  };
  // With no deciding card, a comment or parents make a check-in; anything else is a tag artifact.
  const type: ArtifactType = decided ?? (c.comment !== undefined || c.parents !== undefined ? 'manifest' : 'control');
  const { name, required, allowed } = CARD_RULES[type];
  for (const letter of seen) if (!allowed.includes(letter)) rule('card-not-allowed', `${letter}-card in ${name}`);
  for (const letter of required) if (!seen.has(letter)) rule('missing-card', `${letter}-card missing in ${name}`);
  const tags = c.tags ?? [];
  if (type === 'control' && tags.some((t) => t.target === '*')) {
    rule('type-rule', 'self-referential T-card in control artifact');
  }
  if (type === 'technote') {
    if (tags.some((t) => t.target !== '*')) rule('type-rule', 'non-self-referential T-card in technote');
    if (tags.some((t) => t.op !== '+')) rule('type-rule', "T-card with '*' or '-' in technote");
  }
  if (type === 'forum') {
    if (c.threadTitle !== undefined && c.inReplyTo !== undefined) {
      rule('type-rule', 'cannot have I-card and H-card in a forum post');
    }
    if ((c.parents?.length ?? 0) > 1) rule('type-rule', 'too many arguments to P-card');
  }
  // Extra Z cards, or a P card after an empty one, are legal but have no canonical spelling.
  return { parsed: c, type, spellable: zCount === 1 && !sawEmptyParents };
}

const LETTER_SP = (letter: string) => utf8Encode(`${letter} `);

/** The card lines of `cards` in canonical order, without the Z card. */
export function serializeCards(cards: ArtifactCards): Uint8Array {
  const parts: Uint8Array[] = [];
  const esc = (s: string) => fossilizeBytes(utf8Encode(s));
  const raw = (s: string) => utf8Encode(s);
  const SP = utf8Encode(' ');
  const NL = utf8Encode('\n');
  const line = (letter: string, args: Uint8Array[]) => {
    parts.push(LETTER_SP(letter));
    args.forEach((a, i) => {
      if (i > 0) parts.push(SP);
      parts.push(a);
    });
    parts.push(NL);
  };
  const a = cards.attachment;
  if (a) line('A', [esc(a.filename), esc(a.target), ...(a.source !== undefined ? [raw(a.source)] : [])]);
  if (cards.baseline !== undefined) line('B', [raw(cards.baseline)]);
  if (cards.comment !== undefined) line('C', [esc(cards.comment)]);
  if (cards.date !== undefined) line('D', [raw(cards.date)]);
  if (cards.technote) line('E', [raw(cards.technote.time), raw(cards.technote.id)]);
  for (const f of cards.files ?? []) {
    const args = [esc(f.name)];
    if (f.hash !== undefined) args.push(raw(f.hash));
    // A rename without a permission gets fossil's placeholder "w" (else the old name would read as the permission).
    if (f.perm !== undefined || f.oldName !== undefined) args.push(raw(f.perm ?? 'w'));
    if (f.oldName !== undefined) args.push(esc(f.oldName));
    line('F', args);
  }
  if (cards.threadRoot !== undefined) line('G', [raw(cards.threadRoot)]);
  if (cards.threadTitle !== undefined) line('H', [esc(cards.threadTitle)]);
  if (cards.inReplyTo !== undefined) line('I', [raw(cards.inReplyTo)]);
  for (const j of cards.fields ?? []) {
    const name = raw((j.append ? '+' : '') + j.name);
    line('J', j.value !== undefined ? [name, esc(j.value)] : [name]);
  }
  if (cards.ticket !== undefined) line('K', [raw(cards.ticket)]);
  if (cards.title !== undefined) line('L', [esc(cards.title)]);
  for (const m of cards.members ?? []) line('M', [raw(m)]);
  if (cards.mimetype !== undefined) line('N', [esc(cards.mimetype)]);
  if (cards.parents !== undefined) {
    if (cards.parents.length === 0) parts.push(utf8Encode('P\n'));
    else line('P', cards.parents.map(raw));
  }
  for (const q of cards.cherrypicks ?? []) line('Q', [raw(q.op + q.hash), ...(q.base !== undefined ? [raw(q.base)] : [])]);
  if (cards.repoChecksum !== undefined) line('R', [raw(cards.repoChecksum)]);
  for (const t of cards.tags ?? []) {
    line('T', [esc(t.op + t.name), raw(t.target), ...(t.value !== undefined ? [esc(t.value)] : [])]);
  }
  if (cards.user !== undefined) line('U', [esc(cards.user)]);
  if (cards.wiki !== undefined) {
    line('W', [raw(String(cards.wiki.length))]);
    parts.push(cards.wiki, NL);
  }
  return concat(parts);
}

/**
 * The artifact bytes for `cards`: the card lines in canonical order, the Z card
 * computed over them, inside `signature`'s wrapper when given. Does not check
 * the cards against the type rules (the builders in build.ts do).
 */
export function serializeArtifact(cards: ArtifactCards, signature?: SignatureWrapper): Uint8Array {
  const body = serializeCards(cards);
  const z = utf8Encode(`Z ${toHex(md5(body))}\n`);
  return concat(signature ? [signature.head, body, z, signature.tail] : [body, z]);
}
