/**
 * The sync server (src/xfer.c page_xfer): one request message in, one reply
 * out. Cards are read in order; permissions come from login cards (checked
 * when read) and apply to the pull/push/clone cards after them. Any error
 * drops the reply built so far and answers with just fossil's `error` card,
 * and nothing the request sent is made visible (received records stay in an
 * unreferenced segment). Reply layout:
 *
 *     pragma server-version ...
 *     [clone: cfile..., clone_seqno N, push SERVER PROJECT]
 *     [message pull\sonly...]     [uv: pragma uv-push-ok|uv-pull-only, uvigot...]
 *     [file answers to gimme]     [uvfile answers]     [config answers]
 *     [push: gimme per phantom]   [pull: igot per unclustered artifact]
 *     # timestamp YYYY-MM-DDTHH:MM:SS errors N
 */
import { concat, releaseNow } from '../../core/bytes.js';
import { fossilize, defossilize } from '../../core/fossil/escape.js';
import { HubError } from '../../core/errors.js';
import { parseArtifact } from '../../core/fossil/artifact.js';
import { verifyArtifact } from '../../core/fossil/name.js';
import type { UnversionedEntry } from '../../storage/fossil.js';
import { RangePrefetcher } from '../../storage/range-prefetch.js';
import type { Primitives } from '../../core/primitives.js';
import { bodyEncoding, CT_COMPRESSED, CT_UNCOMPRESSED, decodeBody, MIN_REPLY_BYTES, replyBody, type BodyEncoding } from './body.js';
import { capabilities, type Capabilities } from './caps.js';
import { ciLock, ciUnlock } from './ci-lock.js';
import { createClusters, CLUSTER_THRESHOLD } from './cluster.js';
import { ConfigReceiver, configGroupMask, sendConfig } from './config.js';
import { XferError, xferError } from './errors.js';
import { verifyLogin } from './login.js';
import { parseDecimal, XferReader, XferWriter, type XferCard } from './message.js';
import { BaseReader, Ingest, isHash, type IngestResult, type ReceivedArtifact } from './receive.js';
import { ArtifactReader, RecordSink, type FossilRepo } from './repo.js';
import { sendCloneBatch, sendFiles, type SendContext } from './send.js';
import { isUvName, parseInt64, uvCatalogHash, uvStatus } from './uv.js';

/** A hub user as the xfer server needs it. */
export interface XferUser {
  /** Capability letters (see caps.ts ROLE_CAPS). */
  caps: string;
  /** Candidate secrets: sha1(projectCode/login/password), and the cleartext password if known. */
  secrets: string[];
  /** Who the audit log names for this login (default: the login name). */
  actor?: string | null;
}

/** What one request's push stored, for the audit log. */
export interface XferPush {
  /** The logged-in user's actor (XferUser.actor), null without a login. */
  actor: string | null;
  /** File cards accepted (fossil's "artifacts received"). */
  files: number;
  /** Check-ins (manifests) that became visible. */
  checkins: string[];
}

/** The caller's side: accounts, hooks and limits. */
export interface XferContext {
  /** Capability letters of a request without a (non-anonymous) login: '' for private repositories. */
  anonymousCaps: string;
  /** The user behind a login name, or null when there is none (the login then fails). */
  user(login: string, projectCode: string): Promise<XferUser | null>;
  /** Told whether a (non-anonymous) login card passed, before the request goes on: failed-login limits count here. */
  onLogin?(login: string, ok: boolean): Promise<void> | void;
  /**
   * Called after a commit with the structural artifacts (manifests, clusters,
   * ...) it stored, in bounded batches (receive.ts ARTIFACT_BATCH_COUNT /
   * ARTIFACT_BATCH_BYTES), each once it is committed: one request can store
   * thousands of manifests, never held parsed all at once.
   */
  onArtifacts?(received: ReceivedArtifact[]): Promise<void> | void;
  /** Called after a commit of a request that sent file cards (pushes only: a pull stores none). */
  onPush?(push: XferPush): Promise<void> | void;
  /** Clock for `# timestamp` (default: now). */
  now?(): Date;
  limits?: Partial<XferLimits>;
}

/** Bounds of one request. */
export interface XferLimits {
  /** Largest decoded request message. */
  maxMessageBytes: number;
  /** Largest artifact or unversioned file accepted. */
  maxArtifactBytes: number;
  /** Reply size after which no more content is added (fossil's max-download, 5 MB). */
  replyBudget: number;
  /** Most gimme cards per reply (fossil: 500). */
  maxGimme: number;
  /** Unclustered public artifacts that trigger cluster creation (fossil: 100). */
  clusterThreshold: number;
  /** Bytes of delta bases cached per request. */
  cacheBytes: number;
  /** A stored record longer than this (or inflating past it, in a gimme answer) goes out in reads of at most this many bytes, never held whole. */
  recordPiece: number;
  /** Hashes listed and looked up at once for a pull's igot cards. */
  igotPage: number;
}

/** Defaults: fossil's numbers, and sizes that fit a 128 MB isolate. */
export const DEFAULT_XFER_LIMITS: XferLimits = {
  // A file of the artifact limit comes in a message with its card line and the
  // round's other cards (fossil adds files up to ~250 kB, then one more): 1 MiB over.
  maxMessageBytes: 33 * 1024 * 1024,
  maxArtifactBytes: 32 * 1024 * 1024,
  replyBudget: 5_000_000,
  maxGimme: 500,
  clusterThreshold: CLUSTER_THRESHOLD,
  cacheBytes: 8 * 1024 * 1024,
  // As a git clone's (53fa7b4): a 32 MiB incompressible file was one read, then one join.
  recordPiece: 4 * 1024 * 1024,
  igotPage: 1000,
};

/** A reply: always HTTP 200 for fossil; errors are `error` cards inside. */
export interface XferReply {
  contentType: string;
  body: Uint8Array;
}

/** The version this server announces (fossil 2.21's, so clients send SHA3 artifacts). */
const SERVER_VERSION = '22100 20230226 192424';

/**
 * A reply sent as it is produced (a clone round: its records are read from storage as it
 * goes out), `length` bytes in all. A storage failure while producing it makes `chunks` throw
 * (the reply is cut short); everything that can be refused was checked before.
 */
export interface StreamedXferReply {
  contentType: string;
  length: number;
  chunks: AsyncIterable<Uint8Array>;
}

/** Handles one /xfer request. Never throws for bad input (it answers with an error card); storage failures propagate. */
export async function xfer(repo: FossilRepo, request: { contentType: string; body: Uint8Array }, ctx: XferContext): Promise<XferReply> {
  const reply = await xferStreamed(repo, request, ctx);
  if ('body' in reply) return reply;
  return { contentType: reply.contentType, body: concat(await collect(reply.chunks), reply.length) };
}

/** As xfer(), but a clone round's reply comes as a stream of known length. */
export async function xferStreamed(repo: FossilRepo, request: { contentType: string; body: Uint8Array }, ctx: XferContext): Promise<XferReply | StreamedXferReply> {
  const limits = { ...DEFAULT_XFER_LIMITS, ...ctx.limits };
  const encoding: BodyEncoding = bodyEncoding(request.contentType) ?? 'plain';
  const now = ctx.now ?? (() => new Date());
  const session = new Session(repo, ctx, limits);
  try {
    const message = decodeBody(repo.primitives, encoding, request.body, limits.maxMessageBytes);
    const reply = await session.run(message);
    reply.card('#', 'timestamp', timestamp(now()), 'errors', 0);
    // A reply with parts still to come (a clone round's records, a large gimme answer) goes out
    // plain as they arrive (fossil takes a plain reply to any request); a short one is padded whole.
    const replyEncoding = session.cloneVersion >= 3 || !reply.complete ? 'plain' : encoding;
    if (!reply.complete && reply.size >= MIN_REPLY_BYTES) return { contentType: CT_UNCOMPRESSED, length: reply.size, chunks: reply.chunks() };
    const out = !reply.complete
      ? replyBody(repo.primitives, replyEncoding, concat(await collect(reply.chunks())))
      : replyEncoding === 'compressed' && reply.size >= DEFLATE_APART_BYTES
        ? deflatedApart(repo.primitives, reply)
        : replyBody(repo.primitives, replyEncoding, reply.result());
    // The reply is made and nothing keeps a view of the inflated message (the memo keeps copies):
    // freed now, not at V8's next full GC (a push inflates ~1 MiB a round, live through the round).
    if (message.buffer !== request.body.buffer) releaseNow(message);
    return out;
  } catch (e) {
    await session.abort();
    if (!(e instanceof XferError) && !isClientFault(e)) throw e;
    const err: HubError = e;
    const out = new XferWriter();
    const prefix = Array.isArray(err.data.prefix) ? (err.data.prefix as string[]) : [];
    for (const line of prefix) out.card(line);
    out.card('error', fossilize(err.message));
    out.card('#', 'timestamp', timestamp(now()), 'errors', 1);
    return replyBody(repo.primitives, encoding, out.result());
  }
}

/**
 * Compressed replies from this size on go out as their 4-byte size and deflated text
 * (deflatedApart): gimme answers carry files of up to XferLimits.recordPiece whole (larger
 * ones make the reply a plain stream, send.ts), and such a reply joined, deflated and framed
 * again (a copy only to put 4 bytes in front) was several copies of it at once. deflate makes
 * at most ~1032:1, so such a reply is never under MIN_REPLY_BYTES once deflated (no padding).
 */
const DEFLATE_APART_BYTES = 1024 * 1024;

/**
 * A compressed reply (u32be(size) + zlib, as encodeBody makes it) as two chunks of a known
 * length, streamed by the DO as a clone round is: the deflated text is not copied behind its
 * size, and the message's parts are let go once joined. (A streaming deflater over the parts,
 * which would not join them, cost a 30 MB pull 1.1 -> 1.3-1.5 s of workerd CPU.)
 */
function deflatedApart(p: Primitives, reply: XferWriter): StreamedXferReply {
  const size = reply.size;
  const head = new Uint8Array(4);
  new DataView(head.buffer).setUint32(0, size);
  let text: Uint8Array | null = reply.result();
  reply.drain();
  const z = p.zlib.deflate(text);
  text = null;
  return {
    contentType: CT_COMPRESSED,
    length: 4 + z.length,
    chunks: (async function* () {
      yield head;
      yield z;
    })(),
  };
}

async function collect(chunks: AsyncIterable<Uint8Array>): Promise<Uint8Array[]> {
  const parts: Uint8Array[] = [];
  for await (const c of chunks) parts.push(c);
  return parts;
}

/** Errors from lower layers that a client's bytes caused (bad ids, bad deltas): answered, not 5xx. */
function isClientFault(e: unknown): e is HubError {
  return e instanceof HubError && ['invalid-id', 'bad-utf8', 'invalid-row'].includes(e.code);
}

/** A client id of a ci-lock pragma: one token, bounded (fossil makes it from a hash). */
function isClientId(s: string | undefined): s is string {
  return s !== undefined && s.length > 0 && s.length <= 100;
}

/** A boolean setting's value as fossil reads one (is_truth): a non-zero number, on, yes or true. */
function isTruth(v: string | undefined): boolean {
  if (v === undefined) return false;
  if (/^[0-9]/.test(v)) return parseInt(v, 10) !== 0;
  return ['on', 'yes', 'true'].includes(v.toLowerCase());
}

function timestamp(d: Date): string {
  return d.toISOString().slice(0, 19);
}

/** config `hash-policy` of fossil's shun-sha1 (HPOLICY_SHUN_SHA1). */
const HASH_POLICY_SHUN_SHA1 = '4';

/** The state of one request. */
class Session {
  private caps: Capabilities;
  private isPull = false;
  private isPush = false;
  private syncPrivate = false;
  private sendCatalog = false;
  private nextIsPrivate = false;
  private pullOnly = false;
  private softError: string | null = null;
  /** Who holds the check-in lock a `pragma ci-lock` asked for, answered with `pragma ci-lock-fail`. */
  private lockFail: { login: string; mtime: number } | null = null;
  /** A ci-lock was asked: the reply says `pragma avoid-delta-manifests` if the repository forbids them. */
  private lockAsked = false;
  /** The last login card's user name (fossil's g.zLogin), for the lock. */
  private loginName = 'anonymous';
  private uvHash: string | null = null;
  private cloneSeq: number | null = null;
  private cloneAll = false;
  cloneVersion = 0;
  /** Hashes asked by gimme cards, answered in the reply (a Set: asked twice, sent once). */
  private readonly gimmes = new Set<string>();
  private readonly uvGimmes: string[] = [];
  /**
   * Hash policy shun-sha1 (`fossil hash-policy shun-sha1`, pushed with `configuration push
   * project`): SHA1-named artifacts a push sends or announces are dropped, as shunned ones are
   * (fossil's uuid_is_shunned); those already stored are still served.
   */
  private shunSha1 = false;
  private configMask = 0;
  private readonly configIn = new ConfigReceiver();
  private readonly onremote = new Set<string>();
  private readonly sink: RecordSink;
  private readonly reader: ArtifactReader;
  private readonly ingest: Ingest;
  private projectCode = '';
  private serverCode = '';
  private actor: string | null = null;
  private filesReceived = 0;

  constructor(
    private readonly repo: FossilRepo,
    private readonly ctx: XferContext,
    private readonly limits: XferLimits,
  ) {
    this.caps = capabilities(ctx.anonymousCaps);
    this.sink = new RecordSink(repo);
    this.reader = new ArtifactReader(repo, limits.cacheBytes);
    this.ingest = new Ingest(repo, this.sink, new BaseReader(repo), {
      maxArtifactBytes: limits.maxArtifactBytes,
      contentCacheBytes: limits.cacheBytes,
    });
  }

  async abort(): Promise<void> {
    await this.sink.abort();
  }

  async run(message: Uint8Array): Promise<XferWriter> {
    const [pc, sc, policy] = await this.repo.store.getConfig(['project-code', 'server-code', 'hash-policy']);
    if (pc === null || sc === null) throw xferError('not-found', 'repository not initialised');
    this.projectCode = pc.value;
    this.serverCode = sc.value;
    this.shunSha1 = policy?.value === HASH_POLICY_SHUN_SHA1;
    await this.prefetchStates(message);
    const reader = new XferReader(message, this.limits.maxArtifactBytes);
    const head = new XferWriter();
    head.card('pragma', 'server-version', SERVER_VERSION);
    for (let card = reader.next(); card !== null; card = reader.next()) {
      await this.card(card, message);
    }
    // Everything received becomes visible here, in one commit (then pending
    // deltas it completes, in batches); crosslinked batch by batch.
    // As before batching: a storage error leaves config unapplied; a hook's
    // error (thrown once everything is stored) comes after it is applied.
    const hook = this.ctx.onArtifacts?.bind(this.ctx);
    let hookFailed = false;
    const onArtifacts = hook
      ? async (batch: ReceivedArtifact[]) => {
          try {
            await hook(batch);
          } catch (e) {
            hookFailed = true;
            throw e;
          }
        }
      : undefined;
    let received: IngestResult;
    try {
      received = await this.ingest.commit(onArtifacts);
    } catch (e) {
      if (hookFailed) await this.configIn.apply(this.repo.store);
      throw e;
    }
    await this.configIn.apply(this.repo.store);
    if (this.filesReceived > 0) {
      // Private check-ins stay out of the audit log: every reader of the repository sees it.
      const states = received.checkins.length > 0 ? await this.repo.store.states(received.checkins) : [];
      const checkins = received.checkins.filter((_, i) => states[i] === 'public');
      await this.ctx.onPush?.({ actor: this.actor, files: this.filesReceived, checkins });
    }
    return this.reply(head);
  }

  /** The stored states of every file card's artifact and base, looked up in a few queries (a push round has hundreds). */
  private async prefetchStates(message: Uint8Array): Promise<void> {
    const names: string[] = [];
    try {
      const scan = new XferReader(message, this.limits.maxArtifactBytes);
      for (let c = scan.next(true); c !== null; c = scan.next(true)) {
        if (c.name !== 'file' && c.name !== 'cfile') continue;
        names.push(c.args[0]);
        if (c.args.length === (c.name === 'file' ? 3 : 4)) names.push(c.args[1]);
      }
    } catch {
      // A malformed message: the cards read in order report it, after what comes before it.
    }
    await this.ingest.prefetchStates(names.filter((h) => isHash(h)));
  }

  private async card(card: XferCard, message: Uint8Array): Promise<void> {
    const { name, args } = card;
    switch (name) {
      case 'login':
        if (args.length !== 3) return this.badCommand(card, message);
        return this.login(args, message.subarray(card.lineEnd));
      case 'pragma':
        if (args.length < 1) return this.badCommand(card, message);
        return this.pragma(args);
      case 'pull':
      case 'push':
        if (args.length !== 2 || !isHash(args[1])) return this.badCommand(card, message);
        if (args[1] !== this.projectCode) throw xferError('wrong-project', 'wrong project');
        return name === 'pull' ? this.pull() : this.push();
      case 'clone':
        return this.clone(args);
      case 'igot':
        if (args.length < 1 || args.length > 2 || !isHash(args[0])) return this.badCommand(card, message);
        // fossil 2.21's client gimmes its private phantoms, then igots them with its private
        // artifacts (`igot HASH 1`); fossil server has sent each gimme's file by then.
        if (!this.gimmes.has(args[0])) this.onremote.add(args[0]);
        if (this.isPush) {
          if (args[1] === '1' && !this.caps.private) this.notPrivate();
          else if (this.shunned(args[0])) return;
          else this.ingest.igot(args[0], args[1] === '1');
        }
        return;
      case 'gimme':
        if (args.length !== 1 || !isHash(args[0])) return this.badCommand(card, message);
        if (this.isPull && this.gimmes.size < 100_000) this.gimmes.add(args[0]);
        return;
      case 'file':
      case 'cfile':
        return this.file(card);
      case 'private':
        // Without x the next file is dropped (file() checks the capability again).
        if (!this.caps.private) this.notPrivate();
        this.nextIsPrivate = true;
        return;
      case 'uvfile':
        return this.uvfile(card);
      case 'uvgimme':
        if (args.length !== 1 || !isUvName(args[0])) return this.badCommand(card, message);
        if (this.caps.read && this.uvGimmes.length < 100_000) this.uvGimmes.push(args[0]);
        return;
      case 'reqconfig':
        if (args.length !== 1) return this.badCommand(card, message);
        if (this.caps.read) this.configMask |= configGroupMask(args[0], this.caps.admin);
        return;
      case 'config':
        if (!this.caps.admin) throw xferError('not-authorized', 'not authorized to push configuration');
        if (args.length === 2 && card.payload) this.configIn.receive(args[0], card.payload);
        return;
      case 'cookie':
        return;
      default:
        return this.badCommand(card, message);
    }
  }

  /**
   * fossil answers a private transfer without x with an error card but goes on
   * with the request (a clone's first round still needs its push card).
   */
  private notPrivate(): void {
    this.softError = 'not authorized to sync private content';
  }

  private badCommand(card: XferCard, message: Uint8Array): never {
    const nl = message.indexOf(0x0a, card.start);
    const line = new TextDecoder().decode(message.subarray(card.start, Math.min(nl < 0 ? message.length : nl, card.start + 200)));
    throw xferError('bad-command', `bad command: ${line}`);
  }

  private async login(args: string[], rest: Uint8Array): Promise<void> {
    const login = defossilize(args[0]);
    // fossil lets anybody sync as nobody/anonymous without checking the signature.
    if (login === 'nobody' || login === 'anonymous') return;
    const user = await this.ctx.user(login, this.projectCode);
    const ok = user !== null && verifyLogin(this.repo.primitives, rest, args[1], args[2], user.secrets);
    await this.ctx.onLogin?.(login, ok);
    if (!ok) throw xferError('login-failed', 'login failed');
    this.loginName = login;
    this.actor = user.actor === undefined ? login : user.actor;
    // Several login cards are allowed; their permissions add up.
    const more = capabilities(user.caps);
    const c = this.caps;
    this.caps = {
      clone: c.clone || more.clone,
      read: c.read || more.read,
      write: c.write || more.write,
      private: c.private || more.private,
      uvWrite: c.uvWrite || more.uvWrite,
      admin: c.admin || more.admin,
    };
  }

  private pragma(args: string[]): void {
    switch (args[0]) {
      case 'send-private':
        if (!this.caps.private) this.notPrivate();
        else this.syncPrivate = true;
        return;
      case 'send-catalog':
        this.sendCatalog = true;
        return;
      case 'uv-hash':
        if (isHash(args[1]) && this.uvHash === null) this.uvHash = args[1];
        return;
      // Check-in locks (ci-lock.ts), for callers who may push: only they can commit here.
      case 'ci-lock':
        if (this.caps.write && isHash(args[1]) && isClientId(args[2])) {
          const held = ciLock(this.serverCode, args[1], args[2], this.loginName);
          if (held) this.lockFail = held;
          this.lockAsked = true;
        }
        return;
      case 'ci-unlock':
        if (this.caps.write && isClientId(args[1])) ciUnlock(this.serverCode, args[1]);
        return;
      default:
        return; // unknown pragmas are ignored, as fossil does
    }
  }

  private pull(): void {
    if (!this.caps.read) throw xferError('not-authorized', 'not authorized to read');
    this.isPull = true;
  }

  private push(): void {
    if (!this.caps.write) {
      if (!this.isPull) throw xferError('not-authorized', 'not authorized to write');
      this.pullOnly = true;
      return;
    }
    this.isPush = true;
  }

  private clone(args: string[]): void {
    if (!this.caps.clone) {
      // The push card tells the client the project code so it can log in next round.
      throw xferError('not-authorized', 'not authorized to clone', { prefix: [`push ${this.serverCode} ${this.projectCode}`] });
    }
    const version = parseDecimal(args[0]);
    const seq = parseDecimal(args[1]);
    if (args.length === 2 && version !== null && version >= 2 && seq !== null) {
      this.cloneVersion = version;
      this.cloneSeq = seq;
    } else {
      // The original clone protocol: igot everything, the client gimmes it.
      this.cloneAll = true;
      this.isPull = true;
    }
  }

  private async file(card: XferCard): Promise<void> {
    const isPrivate = this.nextIsPrivate;
    this.nextIsPrivate = false;
    if (!this.isPush) throw xferError('not-authorized', 'not authorized to write');
    const { name, args } = card;
    let payload = card.payload!;
    const hash = args[0];
    const base = (name === 'file' ? args.length === 3 : args.length === 4) ? args[1] : null;
    if (!isHash(hash) || (base !== null && (!isHash(base) || base === hash))) throw xferError('bad-card', `malformed ${name} line`);
    if (name === 'cfile') {
      // cfile payload: u32be(size) + zlib, as fossil stores content.
      const usize = parseDecimal(args[args.length - 2]);
      if (usize === null || payload.length < 4) throw xferError('bad-card', 'malformed cfile line');
      const declared = new DataView(payload.buffer, payload.byteOffset, 4).getUint32(0);
      if (declared > this.limits.maxArtifactBytes) throw xferError('too-large', `artifact ${hash} is over the size limit`);
      try {
        payload = this.repo.primitives.zlib.inflate(payload.subarray(4), declared);
      } catch {
        throw xferError('bad-card', 'malformed cfile line');
      }
    }
    this.onremote.add(hash);
    // Private files from users without x are dropped, as fossil does.
    if ((isPrivate && !this.caps.private) || this.shunned(hash)) return;
    await this.ingest.file(hash, base, payload, isPrivate);
    this.filesReceived++;
  }

  /** A name the hash policy shuns (stored shun entries are checked by the ingest). */
  private shunned(hash: string): boolean {
    return this.shunSha1 && hash.length === 40;
  }

  private async uvfile(card: XferCard): Promise<void> {
    const [name, mtimeToken, hash, sizeToken, flagsToken] = card.args;
    const mtime = parseInt64(mtimeToken);
    const size = parseDecimal(sizeToken);
    const flags = parseDecimal(flagsToken);
    if (!isUvName(name) || mtime === null || size === null || flags === null || (hash !== '-' && !isHash(hash))) {
      throw xferError('bad-card', 'malformed uvfile line');
    }
    // Flags 1 (deleted) and 4 (content omitted) come without content; otherwise SIZE bytes follow, none for an empty file.
    const content = (flags & 5) === 0 ? (card.payload ?? new Uint8Array(0)) : null;
    if (content !== null && hash !== '-') {
      if (!verifyArtifact(this.repo.primitives, hash, content)) throw xferError('bad-card', 'in uvfile line, HASH does not match CONTENT');
    }
    if (!this.caps.uvWrite) return; // fossil ignores uvfile from users without y
    if (size > this.limits.maxArtifactBytes) throw xferError('too-large', `unversioned file ${name} is over the size limit`);
    const stored = this.ingest.unversioned(name) ?? (await this.repo.store.getUnversioned(name));
    const status = uvStatus(stored, mtime, hash);
    if (status >= 3) return;
    let entry: UnversionedEntry | null = null;
    if (hash === '-') {
      // A deletion only updates an existing entry.
      if (stored !== null) entry = { name, mtime, hash: null, size: 0, record: null };
    } else if (status === 2 && stored !== null) {
      entry = { ...stored, mtime };
    } else if (content !== null) {
      const rec = await this.sink.appendDeflated(content);
      entry = { name, mtime, hash, size: content.length, record: rec };
    }
    if (entry) this.ingest.setUnversioned(entry);
  }

  private async reply(head: XferWriter): Promise<XferWriter> {
    const out = head;
    const send: SendContext = {
      repo: this.repo,
      reader: this.reader,
      out,
      budget: this.limits.replyBudget,
      syncPrivate: this.syncPrivate,
      onremote: this.onremote,
      recordPiece: this.limits.recordPiece,
    };
    if (this.cloneSeq !== null) {
      const next = await sendCloneBatch(send, this.cloneSeq, this.cloneVersion);
      out.card('clone_seqno', next);
    }
    if (this.cloneSeq !== null || this.cloneAll) out.card('push', this.serverCode, this.projectCode);
    if (this.pullOnly) out.card('message', fossilize('pull only - not authorized to push'));
    if (this.softError !== null) out.card('error', fossilize(this.softError));
    if (this.lockFail !== null) out.card('pragma', 'ci-lock-fail', fossilize(this.lockFail.login), this.lockFail.mtime);
    // As fossil server: the client about to commit then writes a baseline manifest, not a delta one.
    if (this.lockAsked && isTruth((await this.repo.store.getConfig(['forbid-delta-manifests']))[0]?.value)) out.card('pragma', 'avoid-delta-manifests');
    if (this.uvHash !== null && this.caps.read) await this.uvCatalog(out);
    await sendFiles(send, [...this.gimmes]);
    await this.sendUvFiles(out, this.uvGimmes);
    if (this.configMask !== 0) await sendConfig(this.repo.store, this.configMask, out);
    if (this.isPush) {
      // From a random point, as fossil server asks ORDER BY random(): otherwise a full page of
      // phantoms that no client has would be asked for forever and the rest never.
      const from = [...crypto.getRandomValues(new Uint8Array(4))].map((b) => b.toString(16).padStart(2, '0')).join('');
      // Private phantoms only of x users syncing private (fossil's request_phantoms).
      for (const h of await this.repo.store.listPhantoms(this.limits.maxGimme, from, this.syncPrivate)) out.card('gimme', h);
    }
    if (this.cloneAll || this.sendCatalog) {
      await this.igotAll(out);
    } else if (this.isPull) {
      const clusters = await createClusters(this.repo, this.limits.clusterThreshold);
      if (clusters.length > 0 && this.ctx.onArtifacts) {
        const rows = await this.repo.store.rows(clusters);
        const items: ReceivedArtifact[] = [];
        for (const r of rows) {
          const text = r ? await this.reader.read(r.hash) : null;
          const a = text ? parseArtifact(text) : null;
          if (r && a) items.push({ hash: r.hash, seq: r.seq, artifact: a });
        }
        await this.ctx.onArtifacts(items);
      }
      await this.igotUnclustered(out);
    }
    return out;
  }

  /**
   * igot per unclustered public artifact, and with send-private per private one (xfer.c
   * send_unclustered, send_private), listed and looked up a page at a time: a repository's
   * private rows are not bounded by clustering, and whole lists of them (and one lookup of
   * all their states) grew with the repository.
   */
  private async igotUnclustered(out: XferWriter): Promise<void> {
    const store = this.repo.store;
    const lists = [store.listUnclustered.bind(store), ...(this.syncPrivate ? [store.listPrivate.bind(store)] : [])];
    for (const list of lists) {
      for (let after: string | undefined; ; ) {
        const page = await list(this.limits.igotPage, after);
        const hashes = page.filter((h) => !this.onremote.has(h));
        const states = hashes.length > 0 ? await store.states(hashes) : [];
        hashes.forEach((h, i) => {
          if (states[i] === 'public') out.card('igot', h);
          else if (states[i] === 'private' && this.syncPrivate) out.card('igot', h, 1);
        });
        if (page.length < this.limits.igotPage) break;
        after = page[page.length - 1];
      }
    }
  }

  private async igotAll(out: XferWriter): Promise<void> {
    for (let seq = 1; ; ) {
      const page = await this.repo.store.listFrom(seq, 1000);
      for (const r of page) {
        if (this.onremote.has(r.hash)) continue;
        if (!r.private) out.card('igot', r.hash);
        else if (this.syncPrivate) out.card('igot', r.hash, 1);
      }
      if (page.length < 1000) return;
      seq = page[page.length - 1].seq + 1;
    }
  }

  private async uvCatalog(out: XferWriter): Promise<void> {
    const entries = await this.repo.store.listUnversioned();
    if (uvCatalogHash(this.repo.primitives, entries) === this.uvHash) return;
    out.card('pragma', this.caps.uvWrite ? 'uv-push-ok' : 'uv-pull-only');
    for (const e of entries) out.card('uvigot', e.name, e.mtime, e.hash ?? '-', e.size);
  }

  /**
   * uvfile answers to uvgimme cards. The contents that fit the reply are read
   * ahead in coalesced ranges: a clone -u asks for every file at once, and a
   * range read per file was ~2.6 ms each (4 s for 1500 small files, which
   * fossil server answers in 0.1 s) and one subrequest each on Workers.
   */
  private async sendUvFiles(out: XferWriter, names: string[]): Promise<void> {
    const entries: UnversionedEntry[] = [];
    for (const name of names) {
      const e = await this.repo.store.getUnversioned(name);
      if (e !== null) entries.push(e);
    }
    // Over the reply budget a file is only announced (uvigot): the client asks again next round.
    let planned = out.size;
    const send = entries.map((e) => {
      if (e.hash === null || e.record === null || planned >= this.limits.replyBudget) return false;
      planned += e.size;
      return true;
    });
    const prefetch = new RangePrefetcher(
      this.repo.segments,
      entries.filter((_, i) => send[i]).map((e) => e.record!),
    );
    let taken = 0;
    for (const [i, e] of entries.entries()) {
      if (e.hash === null) out.card('uvfile', e.name, e.mtime, '-', 0, 1);
      else if (!send[i]) out.card('uvigot', e.name, e.mtime, e.hash, e.size);
      else {
        const content = this.repo.primitives.zlib.inflate(await prefetch.take(taken++), e.size);
        out.cardWithPayload('uvfile', [e.name, e.mtime, e.hash, content.length, 0], content);
      }
    }
  }
}


