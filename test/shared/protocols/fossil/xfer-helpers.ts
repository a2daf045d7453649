// Pure helpers for driving xfer() directly (Node and workerd): a fresh
// repository, signed request messages, reply parsing, store snapshots.
import { concat, utf8Decode, utf8Encode } from '../../../../shared/core/bytes.js';
import { artifactId } from '../../../../shared/core/fossil/name.js';
import { purePrimitives } from '../../../../shared/core/primitives.js';
import { createFossilDelta } from '../../../../shared/delta/fossil.js';
import { encodeBody } from '../../../../shared/protocols/fossil/body.js';
import { newRepository, ROLE_CAPS, sharedSecret, xfer, type ReceivedArtifact, type XferLimits } from '../../../../shared/protocols/fossil/index.js';
import { loginNonce, loginSignature } from '../../../../shared/protocols/fossil/login.js';
import { parseMessage, type XferCard } from '../../../../shared/protocols/fossil/message.js';
import type { FossilRepo } from '../../../../shared/protocols/fossil/repo.js';
import { MemoryFossilStore } from '../../../../shared/storage/fossil-memory.js';
import { MemorySegmentStore } from '../../../../shared/storage/memory.js';

export const p = purePrimitives;
export const enc = (s: string) => utf8Encode(s);

export interface Harness {
  repo: FossilRepo;
  store: MemoryFossilStore;
  projectCode: string;
  serverCode: string;
  received: ReceivedArtifact[];
  /** Sends `body` (card text or bytes) as user (or anonymously); returns the reply's cards. */
  send(body: string | Uint8Array, opts?: SendOptions): Promise<Reply>;
  /** Everything visible in the store, for "nothing changed" checks. */
  snapshot(): Promise<string>;
}

export interface SendOptions {
  user?: string;
  password?: string;
  contentType?: string;
  /** Send `body` as the raw request body (no framing, no login). */
  raw?: boolean;
}

export interface Reply {
  contentType: string;
  body: Uint8Array;
  cards: XferCard[];
  /** Card lines without payloads and without the timestamp comment. */
  lines: string[];
}

export const USERS: Record<string, { password: string; caps: string }> = {
  alice: { password: 'secret', caps: ROLE_CAPS.write },
  rita: { password: 'r', caps: ROLE_CAPS.read },
};

/** A fresh public repository (as fossil new) with users alice (write) and rita (read). */
export async function harness(opts: { public?: boolean; limits?: Partial<XferLimits>; randomBytes?: (n: number) => Uint8Array } = {}): Promise<Harness> {
  const store = new MemoryFossilStore();
  const repo: FossilRepo = { store, segments: new MemorySegmentStore(), primitives: p };
  const init = await newRepository(repo, { creator: 'admin', projectName: 'demo', now: new Date('2024-01-02T03:04:05Z'), randomBytes: opts.randomBytes });
  const [sc] = await store.getConfig(['server-code']);
  const received: ReceivedArtifact[] = [];
  const h: Harness = {
    repo,
    store,
    projectCode: init.projectCode,
    serverCode: sc!.value,
    received,
    async send(body, o = {}) {
      let message = typeof body === 'string' ? enc(body) : body;
      if (!o.raw && o.user) {
        const pw = o.password ?? USERS[o.user]?.password ?? '';
        const nonce = loginNonce(p, message);
        const sig = loginSignature(p, nonce, sharedSecret(p, init.projectCode, o.user, pw));
        message = concat([enc(`login ${o.user} ${nonce} ${sig}\n`), message]);
      }
      const contentType = o.contentType ?? 'application/x-fossil';
      const reqBody = o.raw ? message : encodeBody(p, contentType === 'application/x-fossil' ? 'compressed' : 'plain', message);
      const reply = await xfer(
        repo,
        { contentType, body: reqBody },
        {
          anonymousCaps: opts.public === false ? '' : ROLE_CAPS.nobody,
          user: async (login, pc) => {
            const u = USERS[login];
            return u ? { caps: u.caps, secrets: [sharedSecret(p, pc, login, u.password)] } : null;
          },
          onArtifacts: (items) => {
            received.push(...items);
          },
          limits: opts.limits,
        },
      );
      return parseReply(reply.contentType, reply.body);
    },
    async snapshot() {
      const rows = await store.listFrom(1, 1e6);
      return JSON.stringify({
        rows: rows.map((r) => [r.hash, r.seq, r.format, r.base, r.private]),
        phantoms: await store.listPhantoms(1e6),
        uncl: await store.listUnclustered(1e6),
        uv: await store.listUnversioned(),
      });
    },
  };
  return h;
}

/** Decodes a reply body per its content type and lists its cards. */
export function parseReply(contentType: string, body: Uint8Array): Reply {
  let text = body;
  if (contentType === 'application/x-fossil') {
    const n = new DataView(body.buffer, body.byteOffset, 4).getUint32(0);
    text = p.zlib.inflate(body.subarray(4), n);
  }
  const cards = parseMessage(text);
  const lines = cards.map((c) => [c.name, ...c.args].join(' '));
  // parseMessage drops comments; keep it simple for assertions.
  return { contentType, body: text, cards, lines };
}

/** A file card (full text) for `content`, named with SHA3-256 (or `name` to lie). */
export function fileCard(content: Uint8Array, name?: string): { hash: string; card: Uint8Array } {
  const hash = name ?? artifactId(p, content, 'sha3-256');
  return { hash, card: concat([enc(`file ${hash} ${content.length}\n`), content]) };
}

/** A file card carrying a fossil delta of `target` against `base`. */
export function deltaCard(base: Uint8Array, target: Uint8Array): { hash: string; baseHash: string; card: Uint8Array } {
  const hash = artifactId(p, target, 'sha3-256');
  const baseHash = artifactId(p, base, 'sha3-256');
  const delta = createFossilDelta(base, target);
  return { hash, baseHash, card: concat([enc(`file ${hash} ${baseHash} ${delta.length}\n`), delta]) };
}

/** The text of a message built from parts. */
export function msg(...parts: (string | Uint8Array)[]): Uint8Array {
  return concat(parts.map((x) => (typeof x === 'string' ? enc(x) : x)));
}

export { utf8Decode };

/** Counts the segment reads of the harness's repository from now on. */
export function countReads(h: Harness): { reads: number } {
  const counter = { reads: 0 };
  const segments = h.repo.segments;
  const readRange = segments.readRange.bind(segments);
  segments.readRange = (...args: Parameters<typeof readRange>) => {
    counter.reads++;
    return readRange(...args);
  };
  return counter;
}
