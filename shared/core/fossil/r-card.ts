/**
 * The R card of a manifest: an md5 over the whole checked-in tree,
 *
 *     R = md5( for each file in path order: path " " size "\n" content )
 *
 * with paths unescaped, sizes in decimal, and no separator after the content
 * (an empty tree gives md5 of nothing, d41d8cd98f00b204e9800998ecf8427e).
 */
import { md5 } from '@noble/hashes/legacy.js';
import { compare, toHex, utf8Encode } from '../bytes.js';
import type { Artifact, ArtifactCards, FileCard } from './artifact.js';
import { ArtifactError } from './errors.js';

/** A file of a check-in's tree: its path and its bytes. */
export interface TreeFile {
  name: string;
  content: Uint8Array;
}

/** Looks up a file artifact's bytes by hash (undefined when absent). */
export type ContentLookup = (hash: string) => Promise<Uint8Array | undefined> | Uint8Array | undefined;

const byPath = (a: { name: string }, b: { name: string }) => compare(utf8Encode(a.name), utf8Encode(b.name));

/** The R-card value (md5 hex) of a tree; files may come in any order. */
export function computeRCard(files: readonly TreeFile[]): string {
  const h = md5.create();
  for (const f of [...files].sort(byPath)) {
    h.update(utf8Encode(`${f.name} ${f.content.length}\n`));
    h.update(f.content);
  }
  return toHex(h.digest());
}

/**
 * The full file list of a manifest in path order: its F cards, or for a delta
 * manifest (B card) its baseline's F cards overridden by its own, where an F
 * card without a hash deletes the file.
 */
export function manifestFiles(manifest: ArtifactCards, baseline?: ArtifactCards): FileCard[] {
  if (manifest.baseline === undefined) return [...(manifest.files ?? [])];
  if (!baseline) throw new ArtifactError('missing-baseline', 'a delta manifest needs its baseline', { baseline: manifest.baseline });
  if (baseline.baseline !== undefined) {
    throw new ArtifactError('bad-baseline', 'a baseline must not itself be a delta manifest');
  }
  const files = new Map<string, FileCard>();
  for (const f of baseline.files ?? []) files.set(f.name, f);
  for (const f of manifest.files ?? []) {
    if (f.hash === undefined) files.delete(f.name);
    else files.set(f.name, f);
  }
  return [...files.values()].sort(byPath);
}

/**
 * True when the manifest's R card matches the md5 of its files' contents,
 * read one at a time through `lookup`. Throws ArtifactError when the manifest
 * has no R card or a file's content is missing.
 */
export async function verifyRCard(manifest: Artifact, lookup: ContentLookup, baseline?: Artifact): Promise<boolean> {
  const expected = manifest.cards.repoChecksum;
  if (expected === undefined) throw new ArtifactError('missing-card', 'manifest has no R card');
  const h = md5.create();
  for (const f of manifestFiles(manifest.cards, baseline?.cards)) {
    // manifestFiles keeps only files with a hash.
    const hash = f.hash as string;
    const content = await lookup(hash);
    if (content === undefined) throw new ArtifactError('missing-content', `content of ${f.name} is missing`, { hash });
    h.update(utf8Encode(`${f.name} ${content.length}\n`));
    h.update(content);
  }
  return toHex(h.digest()) === expected.toLowerCase();
}
