/**
 * Ref and capability advertisements: the body of `GET info/refs?service=...`.
 *
 * v0 (gitprotocol-pack, gitprotocol-http):
 *   "# service=<service>" LF, flush
 *   <id> SP <name> NUL <caps> LF          first ref (HEAD first if it resolves)
 *   <id> SP <name> LF                     then refs in byte order
 *   <peeled-id> SP <name> "^{}" LF        after each annotated tag (upload-pack only)
 *   flush
 * An empty upload-pack repository sends no ref line at all; an empty receive-pack
 * one sends `<zero-id> capabilities^{}` NUL <caps>.
 *
 * v2 (gitprotocol-v2): "version 2" LF, one capability per line, flush; no
 * `# service=` line.
 */
import {
  FLUSH,
  ZERO_ID,
  compareNames,
  receivePackCapabilities,
  textPkt,
  uploadPackV0Capabilities,
  uploadPackV2Capabilities,
  type Pkt,
  type ReceivePackFeatures,
  type UploadPackFeatures,
} from './capabilities.js';
import { utf8Encode } from '../../core/bytes.js';

/** A ref as the store lists it. */
export interface AdvertisedRef {
  /** Full name, e.g. `refs/heads/main`. */
  name: string;
  /** Object the ref points at (for an annotated tag: the tag object). */
  id: string;
  /** For an annotated tag: the object it finally peels to. Absent otherwise. */
  peeled?: string;
}

/** What HEAD is: a symref to `target` (may be unborn: `id` null), or detached (`target` null). */
export interface HeadState {
  target: string | null;
  id: string | null;
}

/** The two services a smart-HTTP client asks for. */
export type GitService = 'git-upload-pack' | 'git-receive-pack';

function sorted(refs: readonly AdvertisedRef[]): AdvertisedRef[] {
  return [...refs].sort((a, b) => compareNames(a.name, b.name));
}

/** The HTTP-only preamble: `# service=<service>` and a flush; then `version 1` when the client asked for v1 (as git's services answer it). */
export function servicePreamble(service: GitService, version1 = false): Pkt[] {
  return [textPkt(`# service=${service}\n`), FLUSH, ...(version1 ? [textPkt('version 1\n')] : [])];
}

/**
 * v0 upload-pack advertisement including the HTTP preamble: HEAD first when it
 * resolves (with `symref=HEAD:<target>`), then refs in byte order, each annotated
 * tag followed by its `^{}` line.
 */
export function uploadPackV0Advertisement(refs: readonly AdvertisedRef[], head: HeadState | null, features: UploadPackFeatures, version1 = false): Pkt[] {
  const out = servicePreamble('git-upload-pack', version1);
  const lines: AdvertisedRef[] = [];
  let symref: string | null = null;
  if (head?.id) {
    lines.push({ name: 'HEAD', id: head.id, peeled: refs.find((r) => r.name === head.target)?.peeled });
    symref = head.target;
  }
  lines.push(...sorted(refs));
  let caps: string | null = uploadPackV0Capabilities(features, symref).join(' ');
  const text: string[] = [];
  for (const ref of lines) {
    text.push(caps === null ? `${ref.id} ${ref.name}\n` : `${ref.id} ${ref.name}\0${caps}\n`);
    caps = null;
    if (ref.peeled) text.push(`${ref.peeled} ${ref.name}^{}\n`);
  }
  return [...out, ...textPkts(text), FLUSH];
}

/**
 * v0 receive-pack advertisement including the HTTP preamble: refs in byte order,
 * no HEAD and no peeled lines; `capabilities^{}` when there is no ref.
 */
export function receivePackAdvertisement(refs: readonly AdvertisedRef[], features: ReceivePackFeatures, version1 = false): Pkt[] {
  const out = servicePreamble('git-receive-pack', version1);
  const lines = sorted(refs);
  if (lines.length === 0) lines.push({ name: 'capabilities^{}', id: ZERO_ID });
  let caps: string | null = receivePackCapabilities(features).join(' ');
  const text = lines.map((ref) => {
    const line = caps === null ? `${ref.id} ${ref.name}\n` : `${ref.id} ${ref.name}\0${caps}\n`;
    caps = null;
    return line;
  });
  return [...out, ...textPkts(text), FLUSH];
}

/**
 * Text lines as data pkts, encoded as one string, each payload a view of it: a TextEncoder call a
 * line was most of the CPU of a 40,000-ref advertisement. Lines not all ASCII are encoded one by one.
 */
export function textPkts(lines: readonly string[]): Pkt[] {
  const bytes = utf8Encode(lines.join(''));
  if (bytes.length !== lines.reduce((n, l) => n + l.length, 0)) return lines.map(textPkt);
  let at = 0;
  return lines.map((l): Pkt => ({ kind: 'data', payload: bytes.subarray(at, (at += l.length)) }));
}

/** v2 capability advertisement (upload-pack only; push is always v0). */
export function uploadPackV2Advertisement(features: UploadPackFeatures): Pkt[] {
  return [textPkt('version 2\n'), ...uploadPackV2Capabilities(features).map((c) => textPkt(`${c}\n`)), FLUSH];
}

/**
 * Protocol version a request asks for through its `Git-Protocol` header
 * (colon-separated `key=value` list): the highest `version=` of 0, 1 and 2, as
 * git's services take it; 0 when absent or unknown. v1 is v0 with a `version 1`
 * line opening the advertisement; push has no v2.
 */
export function requestedProtocolVersion(header: string | null | undefined): 0 | 1 | 2 {
  let version: 0 | 1 | 2 = 0;
  for (const item of header?.split(':') ?? []) {
    if (item === 'version=2') version = 2;
    else if (item === 'version=1' && version === 0) version = 1;
  }
  return version;
}
