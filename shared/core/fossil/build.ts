/**
 * Builders for the artifacts the hub writes itself: clusters (sync bookkeeping)
 * and control (tag) artifacts. Each returns canonical bytes with the Z card
 * computed, and re-parses its own output so it can never emit an artifact
 * fossil would read as a plain file.
 *
 *     cluster = ("M " hash "\n")+ "Z " md5 "\n"           (hashes ascending)
 *     control = "D " date "\n" ("T " tag " " hash [" " value] "\n")+ "U " user "\n" "Z " md5 "\n"
 */
import { compare, utf8Encode } from '../bytes.js';
import { type ArtifactCards, type ArtifactType, parseArtifactStrict, serializeArtifact, type TagCard } from './artifact.js';
import { ArtifactError } from './errors.js';
import { isArtifactName } from './name.js';

/** A date as fossil writes it in D cards: UTC `YYYY-MM-DDTHH:MM:SS.SSS`. */
export function formatArtifactDate(date: Date): string {
  if (Number.isNaN(date.getTime())) throw new ArtifactError('bad-field', 'invalid date');
  return date.toISOString().slice(0, 23);
}

/** Serialise `cards` and check the result parses back, canonically, as `type`. */
export function buildArtifact(cards: ArtifactCards, type: ArtifactType): Uint8Array {
  const bytes = serializeArtifact(cards);
  let parsed;
  try {
    parsed = parseArtifactStrict(bytes);
  } catch (e) {
    if (e instanceof ArtifactError) throw new ArtifactError('bad-field', `not a valid ${type}: ${e.message}`, e.data);
    throw e;
  }
  if (parsed.type !== type || !parsed.canonical) {
    throw new ArtifactError('bad-field', `fields do not make a canonical ${type} artifact`, { type: parsed.type });
  }
  return bytes;
}

/** A cluster artifact listing `hashes` (sorted and de-duplicated here; at least one). */
export function makeCluster(hashes: readonly string[]): Uint8Array {
  for (const h of hashes) {
    if (!isArtifactName(h)) throw new ArtifactError('bad-name', 'cluster member is not an artifact name', { hash: h.slice(0, 80) });
  }
  const members = [...new Set(hashes)].sort();
  if (members.length === 0) throw new ArtifactError('bad-field', 'a cluster needs at least one member');
  return buildArtifact({ members }, 'cluster');
}

/** Fields of a control (tag) artifact. */
export interface ControlFields {
  /** When the tags apply (a Date, or a D-card string). */
  date: Date | string;
  user: string;
  /** Each tag's target must be an artifact name (control artifacts never tag themselves). */
  tags: readonly TagCard[];
}

/** A control artifact setting or cancelling `tags`; tags are put in fossil's order here. */
export function makeControl(fields: ControlFields): Uint8Array {
  for (const t of fields.tags) {
    if (!isArtifactName(t.target)) throw new ArtifactError('bad-name', 'tag target is not an artifact name', { tag: t.name });
  }
  const key = (t: TagCard) => utf8Encode(t.op + t.name);
  const tags = [...fields.tags].sort(
    (a, b) => compare(key(a), key(b)) || compare(utf8Encode(a.target), utf8Encode(b.target)),
  );
  const date = typeof fields.date === 'string' ? fields.date : formatArtifactDate(fields.date);
  return buildArtifact({ date, tags, user: fields.user }, 'control');
}
