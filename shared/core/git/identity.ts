/**
 * Identity lines of commits and tags (author, committer, tagger):
 *
 *     <name> SP "<" <email> ">" SP <seconds since epoch> SP <+|-><hhmm>
 *
 * The raw bytes are kept and written back as they came, so odd spacing or a
 * name that is not UTF-8 still round-trips; name/email/timestamp/tz are the
 * parsed view of them.
 */
import { utf8Decode, utf8Encode } from '../bytes.js';
import { GitObjectError } from './errors.js';

/** A parsed identity with its exact original bytes. */
export interface Identity {
  /** The line's value exactly as in the object (without the key and newline). */
  readonly raw: Uint8Array;
  readonly name: string;
  readonly email: string;
  /** Seconds since the Unix epoch. */
  readonly timestamp: number;
  /** Timezone offset as written, e.g. "+0200". */
  readonly tz: string;
}

const LT = 0x3c;
const GT = 0x3e;
const LF = 0x0a;
const SP = 0x20;

/** Parse an identity value; a GitObjectError ('bad-identity') if it lacks the `<email> time tz` shape. */
export function parseIdentity(raw: Uint8Array): Identity {
  const lt = raw.indexOf(LT);
  const gt = lt < 0 ? -1 : raw.indexOf(GT, lt);
  if (lt < 0 || gt < 0) throw bad('no <email>');
  if (raw.indexOf(LF) >= 0) throw bad('newline in identity');
  // The name is everything before '<' without the separating space(s), as git's split_ident_line reads it.
  let nameEnd = lt;
  while (nameEnd > 0 && raw[nameEnd - 1] === SP) nameEnd--;
  // git's fsck_ident: no '>' in the name, no '<' in the email.
  if (raw.subarray(0, lt).indexOf(GT) >= 0 || raw.subarray(lt + 1, gt).indexOf(LT) >= 0) throw bad('stray angle bracket');
  // After '>': SP digits SP [+-]digits, and nothing else.
  let i = gt + 1;
  if (raw[i++] !== SP) throw bad('no space after email');
  const tsStart = i;
  while (i < raw.length && raw[i] >= 0x30 && raw[i] <= 0x39) i++;
  const tsDigits = i - tsStart;
  if (tsDigits === 0 || tsDigits > 15) throw bad('bad timestamp');
  const timestamp = Number(String.fromCharCode(...raw.subarray(tsStart, i)));
  if (raw[i++] !== SP) throw bad('no space before timezone');
  const tzStart = i;
  if (raw[i] !== 0x2b && raw[i] !== 0x2d) throw bad('timezone has no sign');
  i++;
  while (i < raw.length && raw[i] >= 0x30 && raw[i] <= 0x39) i++;
  if (i !== raw.length || i - tzStart < 2 || i - tzStart > 9) throw bad('bad timezone');
  return {
    raw,
    name: utf8Decode(raw.subarray(0, nameEnd)),
    email: utf8Decode(raw.subarray(lt + 1, gt)),
    timestamp,
    tz: String.fromCharCode(...raw.subarray(tzStart, i)),
  };
}

/**
 * An identity as git reads one from a commit or tag it already has (ident.c's
 * split_ident_line; fsck alone is strict): the strict parse when it fits, else
 * the name and email found around "<" and ">", and the date and zone when
 * digits follow the last ">" (0 and "+0000" otherwise). Never throws: old
 * tools wrote commits with no email, a missing space, odd zones or no date,
 * and git's receive-pack (without fsck) accepts and serves them.
 */
export function readIdentity(raw: Uint8Array): Identity {
  try {
    return parseIdentity(raw);
  } catch {
    // lenient reading below
  }
  const lt = raw.indexOf(LT);
  const gt = lt < 0 ? -1 : raw.indexOf(GT, lt);
  let nameEnd = lt < 0 ? raw.length : lt;
  while (nameEnd > 0 && isSpace(raw[nameEnd - 1])) nameEnd--;
  const email = gt < 0 ? '' : utf8Decode(raw.subarray(lt + 1, gt));
  let timestamp = 0;
  let tz = '+0000';
  const last = raw.lastIndexOf(GT);
  if (last >= 0) {
    let i = last + 1;
    while (i < raw.length && isSpace(raw[i])) i++;
    const tsStart = i;
    while (i < raw.length && raw[i] >= 0x30 && raw[i] <= 0x39) i++;
    if (i > tsStart) {
      // Clamped like git's parse_timestamp on overflow: a number, never Infinity.
      timestamp = Math.min(Number(String.fromCharCode(...raw.subarray(tsStart, Math.min(i, tsStart + 20)))), Number.MAX_SAFE_INTEGER);
      while (i < raw.length && isSpace(raw[i])) i++;
      const tzStart = i;
      if (raw[i] === 0x2b || raw[i] === 0x2d) {
        i++;
        while (i < raw.length && raw[i] >= 0x30 && raw[i] <= 0x39) i++;
        if (i - tzStart >= 2) tz = String.fromCharCode(...raw.subarray(tzStart, Math.min(i, tzStart + 9)));
      }
    }
  }
  return { raw, name: utf8Decode(raw.subarray(0, nameEnd)), email, timestamp, tz };
}

function isSpace(b: number): boolean {
  return b === SP || b === 0x09 || b === LF || b === 0x0d;
}

/** A new identity from its parts (its raw form is the canonical `name <email> ts tz`). */
export function makeIdentity(name: string, email: string, timestamp: number, tz: string): Identity {
  if (/[<>\n]/.test(name) || /[<>\n]/.test(email)) throw bad('name or email contains <, > or a newline');
  if (!Number.isSafeInteger(timestamp) || timestamp < 0) throw bad(`bad timestamp ${timestamp}`);
  if (!/^[+-]\d{4}$/.test(tz)) throw bad(`bad timezone ${JSON.stringify(tz)}`);
  return parseIdentity(utf8Encode(`${name} <${email}> ${timestamp} ${tz}`));
}

/** Minutes east of UTC for a `+hhmm` / `-hhmm` timezone. */
export function tzOffsetMinutes(tz: string): number {
  const m = /^([+-])(\d\d)(\d\d)$/.exec(tz);
  if (!m) throw bad(`bad timezone ${JSON.stringify(tz)}`);
  const minutes = Number(m[2]) * 60 + Number(m[3]);
  return m[1] === '-' ? -minutes : minutes;
}

function bad(why: string): GitObjectError {
  return new GitObjectError('bad-identity', `malformed identity: ${why}`);
}
