/**
 * Artifact names (src/hname.c): the lowercase hex hash of the exact artifact
 * bytes, nothing prepended. 40 hex digits = SHA1, 64 = SHA3-256; the length of
 * a claimed name says which algorithm verifies it.
 */
import { toHex } from '../bytes.js';
import type { Primitives } from '../primitives.js';
import { ArtifactError } from './errors.js';

/** The two hash algorithms fossil names artifacts with. */
export type ArtifactHashKind = 'sha1' | 'sha3-256';

/** Hex length of a SHA1 artifact name (HNAME_LEN_SHA1). */
export const SHA1_NAME_LENGTH = 40;
/** Hex length of a SHA3-256 artifact name (HNAME_LEN_K256). */
export const SHA3_NAME_LENGTH = 64;

const LOWER_HEX = /^[0-9a-f]*$/;

/** The hash kind of a well-formed artifact name (lowercase hex, 40 or 64 digits), else null. */
export function artifactNameKind(name: string): ArtifactHashKind | null {
  if (name.length !== SHA1_NAME_LENGTH && name.length !== SHA3_NAME_LENGTH) return null;
  if (!LOWER_HEX.test(name)) return null;
  return name.length === SHA1_NAME_LENGTH ? 'sha1' : 'sha3-256';
}

/** True for a well-formed artifact name: 40 or 64 lowercase hex digits. */
export function isArtifactName(name: string): boolean {
  return artifactNameKind(name) !== null;
}

/** The name of `bytes` as an artifact hashed with `kind`. */
export function artifactId(p: Primitives, bytes: Uint8Array, kind: ArtifactHashKind): string {
  return toHex(p.hash(kind).update(bytes).digest());
}

/**
 * True when `bytes` hash to `name`, the algorithm chosen by the name's length.
 * Throws ArtifactError bad-name when `name` is not a well-formed artifact name.
 */
export function verifyArtifact(p: Primitives, name: string, bytes: Uint8Array): boolean {
  const kind = artifactNameKind(name);
  if (kind === null) {
    throw new ArtifactError('bad-name', 'artifact name must be 40 or 64 lowercase hex digits', {
      name: name.slice(0, 80),
    });
  }
  return artifactId(p, bytes, kind) === name;
}

