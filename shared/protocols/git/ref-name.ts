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
