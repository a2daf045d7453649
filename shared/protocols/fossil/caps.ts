/**
 * Capabilities (src/login.c, fossil's user.cap letters) the sync server uses:
 *
 *     g clone    o read (pull)    i write (push; implies o)
 *     x private artifacts          y write unversioned files
 *     a / s admin / setup (imply i and o, not x or y, as in fossil)
 *
 * Hub roles map to letters here, in one place. Decision: the hub's write role
 * also gets `y`, so members who may push check-ins may also `fossil uv push`
 * (fossil's default `developer` lacks y, but a hub has no separate setting
 * for it and unversioned files are part of what a project publishes); `x`
 * (private artifacts) goes to admins only, who must opt in explicitly by
 * having it listed: the role `admin` includes it.
 */

/** Hub roles as the fossil side sees them: no login (public repository), and the membership roles. */
export type FossilRole = 'nobody' | 'read' | 'write' | 'admin';

/** Capability letters for each hub role. */
export const ROLE_CAPS: Readonly<Record<FossilRole, string>> = {
  nobody: 'go',
  read: 'go',
  write: 'goiy',
  admin: 'goiyasx',
};

/** The capabilities a request actually has, expanded as fossil does (i, a, s imply o; a, s imply i). */
export interface Capabilities {
  clone: boolean;
  read: boolean;
  write: boolean;
  private: boolean;
  uvWrite: boolean;
  admin: boolean;
}

/** Expands capability letters. */
export function capabilities(letters: string): Capabilities {
  const has = (c: string) => letters.includes(c);
  const admin = has('a') || has('s');
  const write = has('i') || admin;
  return {
    clone: has('g') || admin,
    read: has('o') || write,
    write,
    private: has('x'),
    uvWrite: has('y'),
    admin,
  };
}

/** The capabilities of a role. */
export function roleCapabilities(role: FossilRole): Capabilities {
  return capabilities(ROLE_CAPS[role]);
}
