import { utf8Decode, utf8Encode } from '../../core/bytes.js';

/**
 * Ref names, as `git check-ref-format` defines them (man git-check-ref-format):
 *
 *   1. no component begins with "." or ends with ".lock"
 *   2. at least one "/" (we require the full "refs/..." form for updates)
 *   3. no ".."
 *   4. no control characters (< 0x20, 0x7f), space, "~", "^", ":"
 *   5. no "?", "*", "["
 *   6. does not begin or end with "/", no "//"
 *   7. does not end with "."
 *   8. no "@{"
 *   9. is not "@"
 *  10. no "\"
 */

/** Why a ref name is invalid, or null if it is valid. */
export function refNameProblem(name: string): string | null {
  if (name.length === 0) return 'empty';
  if (name.length > 4096) return 'too long';
  if (name === '@') return 'is "@"';
  if (!name.startsWith('refs/')) return 'not under refs/';
  if (name.endsWith('/')) return 'ends with "/"';
  if (name.endsWith('.')) return 'ends with "."';
  if (name.includes('//')) return 'contains "//"';
  if (name.includes('..')) return 'contains ".."';
  if (name.includes('@{')) return 'contains "@{"';
  for (let i = 0; i < name.length; i++) {
    const c = name.charCodeAt(i);
    if (c < 0x20 || c === 0x7f) return 'contains a control character';
    if (' ~^:?*[\\'.includes(name[i])) return `contains "${name[i]}"`;
  }
  for (const component of name.split('/')) {
    if (component.startsWith('.')) return 'a component begins with "."';
    if (component.endsWith('.lock')) return 'a component ends with ".lock"';
  }
  return null;
}

/** True if `name` is a well-formed full ref name ("refs/..."). */
export function isValidRefName(name: string): boolean {
  return refNameProblem(name) === null;
}

/**
 * A push command's ref name from its bytes. git takes names that are not
 * UTF-8 (check-ref-format only refuses ASCII bytes); the hub keeps names as
 * UTF-8 text, so it refuses such a ref on its own (refNameIsUtf8) and not the
 * whole push. A name that is not UTF-8 gets its bytes over 0x7f as U+DC80..U+DCFF,
 * code points no strict decoding yields, so refNameBytes gives git its bytes
 * back in the report (git matches report lines to its refs byte for byte).
 */
export function refNameFromBytes(bytes: Uint8Array): string {
  try {
    return utf8Decode(bytes, true);
  } catch {
    let name = '';
    for (const b of bytes) name += String.fromCharCode(b < 0x80 ? b : 0xdc00 + b);
    return name;
  }
}

/** False for a name refNameFromBytes made of bytes that are not UTF-8. */
export function refNameIsUtf8(name: string): boolean {
  return !/[\udc80-\udcff]/.test(name);
}

/** The bytes of a name from refNameFromBytes. */
export function refNameBytes(name: string): Uint8Array {
  if (refNameIsUtf8(name)) return utf8Encode(name);
  const out = new Uint8Array(name.length);
  for (let i = 0; i < name.length; i++) out[i] = name.charCodeAt(i) & 0xff;
  return out;
}
