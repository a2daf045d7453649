/**
 * upload-pack requests (the body of `POST git-upload-pack`).
 *
 * v0 (gitprotocol-pack; one stateless POST per round):
 *   want <id> [SP <cap>]* LF          first want carries the client's capabilities
 *   want <id> LF ...
 *   shallow <id> | deepen <n> | deepen-since <t> | deepen-not <ref> | filter <spec>
 *   flush
 *   [ have <id> LF ... (flush | done) ]   absent in a shallow fetch's first round
 *
 * v2 (gitprotocol-v2; one command per POST):
 *   command=<name> LF, capability lines (agent=, object-format=, server-option=)
 *   [delim, argument lines]
 *   flush                             a body of just `0000` is an empty request
 *
 * Parsers are push-based (`feed` each pkt, then `finish`) so limits apply while
 * the body streams in; `parse*` wrap them for an iterable of pkts.
 */
import {
  MAX_LINE,
  ProtocolError,
  checkObjectFormat,
  clip,
  objectId,
  parseCapabilities,
  pktText,
  type CapabilitySet,
  type Pkt,
  type UploadPackFeatures,
} from './capabilities.js';
import { parseFilterSpec, type FilterSpec } from './filter.js';
import { parseLsRefsArgs, type LsRefsArgs } from './ls-refs.js';
import { refNameFromBytes } from './ref-name.js';
import { writeHex } from '../../core/bytes.js';
import { IdSet } from '../../storage/id-set.js';

/**
 * Most distinct wants. A partial clone's checkout asks for every blob it lacks
 * in one request (git 2.39: one want per file of the commit), so a monorepo's
 * tree is the measure, not its refs. What a 128 MB isolate allows: the wants
 * (IdSet, ~30 bytes each) and the pack's plan (~100 bytes an object) of one
 * such request peaked at 102 MiB for 500,000 blobs and 161 MiB for 1,000,000
 * (bench/git-wide.ts raw).
 */
export const MAX_WANTS = 500_000;
/** Most `oid` lines of object-info (answered in one reply held whole; git 2.39 never sends it). */
export const MAX_OBJECT_INFO_OIDS = 100_000;
/** Most `want-ref` lines (names, held as strings). */
export const MAX_WANT_REFS = 100_000;
/** Most haves in one request: git doubles its window per round up to a few thousand. */
export const MAX_HAVES = 65_536;
/** Most `shallow` lines: one per shallow boundary commit of the client. */
export const MAX_SHALLOWS = 65_536;
/** Most `deepen-not` refs: a user names a handful. */
export const MAX_DEEPEN_NOT = 256;
/** Most `server-option` lines: a user passes a handful. */
export const MAX_SERVER_OPTIONS = 256;
/** git's INFINITE_DEPTH: `deepen 2147483647` is `--unshallow`. */
export const INFINITE_DEPTH = 0x7fffffff;

/** Shallow-related arguments, the same in v0 and v2. */
export interface ShallowArgs {
  /** The client's current shallow commits. */
  shallows: string[];
  /** `deepen <n>`; null if absent. */
  depth: number | null;
  /** `deepen-since <unix-time>`; null if absent. */
  deepenSince: number | null;
  /** `deepen-not <ref>` names, unresolved. */
  deepenNot: string[];
  /** `deepen-relative`: depth counts from the client's shallow commits. */
  deepenRelative: boolean;
}

/** True if the request asks for any shallow processing. */
export function isShallowRequest(args: ShallowArgs): boolean {
  return args.depth !== null || args.deepenSince !== null || args.deepenNot.length > 0 || args.shallows.length > 0;
}

/** Multi-ack mode chosen by a v0 client. */
export type MultiAck = 'none' | 'multi_ack' | 'multi_ack_detailed';
/** Side-band mode chosen by a v0 client. */
export type SideBand = 'none' | 'side-band' | 'side-band-64k';

/** A v0 upload-pack request. */
export interface UploadRequestV0 extends ShallowArgs {
  /** Distinct wants, first-seen order (binary: a lazy fetch sends one per missing blob). Empty for the empty request `0000`. */
  wants: IdSet;
  /** Capabilities from the first want line. */
  caps: CapabilitySet;
  multiAck: MultiAck;
  noDone: boolean;
  sideBand: SideBand;
  thinPack: boolean;
  ofsDelta: boolean;
  noProgress: boolean;
  includeTag: boolean;
  filter: FilterSpec | null;
  /** Haves in the order sent. */
  haves: string[];
  /**
   * How the body ended: `wants-only` right after the want section (a shallow
   * fetch's first round: answer with the shallow lines only), `flush` after the
   * haves (a negotiation round), `done` (send the pack).
   */
  end: 'wants-only' | 'flush' | 'done';
}

/** Shared handling of shallow/deepen lines; returns false if `line` is not one. */
function shallowLine(line: string, args: ShallowArgs): boolean {
  if (line.startsWith('shallow ')) {
    if (args.shallows.length >= MAX_SHALLOWS) throw new ProtocolError('too-many-shallows', `more than ${MAX_SHALLOWS} shallow lines`);
    args.shallows.push(objectId(line.slice(8), 'shallow'));
    return true;
  }
  if (line.startsWith('deepen ')) {
    const n = line.slice(7);
    if (!/^[1-9][0-9]{0,9}$/.test(n) || Number(n) > INFINITE_DEPTH) throw new ProtocolError('bad-deepen', `Invalid deepen: ${clip(line)}`);
    args.depth = Number(n);
    return true;
  }
  if (line.startsWith('deepen-since ')) {
    const t = line.slice(13);
    if (!/^[1-9][0-9]{0,15}$/.test(t) || !Number.isSafeInteger(Number(t))) throw new ProtocolError('bad-deepen', `Invalid deepen-since: ${clip(line)}`);
    args.deepenSince = Number(t);
    return true;
  }
  if (line.startsWith('deepen-not ')) {
    const ref = line.slice(11);
    if (ref.length === 0 || /[\s]/.test(ref)) throw new ProtocolError('bad-deepen', `Invalid deepen-not: ${clip(line)}`);
    if (args.deepenNot.length >= MAX_DEEPEN_NOT) throw new ProtocolError('too-many-deepen-not', `more than ${MAX_DEEPEN_NOT} deepen-not lines`);
    args.deepenNot.push(ref);
    return true;
  }
  return false;
}

function checkShallowArgs(args: ShallowArgs): void {
  if (args.depth !== null && (args.deepenSince !== null || args.deepenNot.length > 0)) {
    throw new ProtocolError('bad-deepen', 'deepen and deepen-since (or deepen-not) cannot be used together');
  }
}

function filterLine(line: string, current: FilterSpec | null): FilterSpec {
  if (current !== null) throw new ProtocolError('bad-filter', 'multiple filter lines');
  return parseFilterSpec(line.slice(7));
}

const wantId = new Uint8Array(20);

/** Adds a checked hex want to `wants` (a repeat is dropped, as git does); past MAX_WANTS distinct, git's kind of refusal. */
function addWant(wants: IdSet, id: string): void {
  writeHex(id, wantId, 0);
  addWantId(wants);
}

/** addWant of the id in `wantId`. */
function addWantId(wants: IdSet): void {
  if (wants.hasAt(wantId, 0)) return;
  if (wants.size >= MAX_WANTS) throw new ProtocolError('too-many-wants', `more than ${MAX_WANTS} distinct wants`);
  wants.addAt(wantId, 0);
}

const WANT_SP = [0x77, 0x61, 0x6e, 0x74, 0x20];

/**
 * Whether `payload` is exactly `want <40 lowercase hex>` (LF or not), its id then in `wantId`: a
 * mirror clone sends a want per ref, and each line read as text was a string and a regex test
 * more. Anything else (odd case, trailing bytes) is left to the text path and its errors.
 */
function wantBytes(payload: Uint8Array): boolean {
  const n = payload.length;
  if (n !== 45 && !(n === 46 && payload[45] === 0x0a)) return false;
  for (let k = 0; k < 5; k++) if (payload[k] !== WANT_SP[k]) return false;
  for (let k = 0; k < 20; k++) {
    const hi = lowerHex(payload[5 + 2 * k]);
    const lo = lowerHex(payload[6 + 2 * k]);
    if (hi < 0 || lo < 0) return false;
    wantId[k] = (hi << 4) | lo;
  }
  return true;
}

/** The value of a lowercase hex digit, -1 for anything else. */
function lowerHex(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x61 && c <= 0x66) return c - 0x57;
  return -1;
}

function dataText(pkt: Pkt): string | null {
  return pkt.kind === 'data' ? pktText(pkt.payload) : null;
}

/** Push parser for a v0 upload-pack request. */
export class UploadRequestV0Parser {
  private state: 'wants' | 'haves' | 'end' = 'wants';
  private readonly req: UploadRequestV0 = {
    wants: new IdSet(),
    caps: parseCapabilities(''),
    multiAck: 'none',
    noDone: false,
    sideBand: 'none',
    thinPack: false,
    ofsDelta: false,
    noProgress: false,
    includeTag: false,
    filter: null,
    haves: [],
    end: 'wants-only',
    shallows: [],
    depth: null,
    deepenSince: null,
    deepenNot: [],
    deepenRelative: false,
  };
  private otherLines = false;

  constructor(private readonly features: UploadPackFeatures) {}

  /** Take the next pkt of the body. */
  feed(pkt: Pkt): void {
    const text = dataText(pkt);
    if (this.state === 'end') throw new ProtocolError('trailing-data', 'data after the end of the request');
    if (pkt.kind === 'delim' || pkt.kind === 'response-end') {
      throw new ProtocolError('unexpected-packet', `unexpected ${pkt.kind} packet in a v0 request`);
    }
    if (this.state === 'wants') {
      if (text === null) {
        if (this.req.wants.size === 0 && this.otherLines) throw new ProtocolError('no-wants', 'request has no want line');
        checkShallowArgs(this.req);
        this.state = this.req.wants.size === 0 ? 'end' : 'haves';
        return;
      }
      this.wantSectionLine(text);
      return;
    }
    // haves
    if (text === null) {
      this.req.end = 'flush';
      this.state = 'end';
    } else if (text === 'done') {
      this.req.end = 'done';
      this.state = 'end';
    } else if (text.startsWith('have ')) {
      if (this.req.haves.length >= MAX_HAVES) throw new ProtocolError('too-many-haves', `more than ${MAX_HAVES} have lines`);
      this.req.haves.push(objectId(text.slice(5), 'have'));
    } else {
      throw new ProtocolError('unexpected-line', `git upload-pack: expected SHA1 list, got '${clip(text)}'`, { line: clip(text) });
    }
  }

  private wantSectionLine(text: string): void {
    const req = this.req;
    if (text.startsWith('want ')) {
      const rest = text.slice(5);
      const id = objectId(rest.slice(0, 40), 'want');
      if (req.wants.size === 0 && !this.otherLines) {
        if (rest.length > 40 && rest[40] !== ' ') objectId(rest, 'want');
        this.takeCaps(parseCapabilities(rest.slice(40)));
      } else if (rest.length !== 40) {
        objectId(rest, 'want');
      }
      addWant(req.wants, id);
      return;
    }
    this.otherLines = true;
    if (shallowLine(text, req)) return;
    if (text.startsWith('filter ')) {
      if (!req.caps.has('filter') || !this.features.filter) throw new ProtocolError('filter-not-negotiated', 'git upload-pack: filtering capability not negotiated');
      req.filter = filterLine(text, req.filter);
      return;
    }
    throw new ProtocolError('unexpected-line', `git upload-pack: protocol error, expected to get object ID, not '${clip(text)}'`, { line: clip(text) });
  }

  private takeCaps(caps: CapabilitySet): void {
    checkObjectFormat(caps);
    const req = this.req;
    req.caps = caps;
    req.multiAck = caps.has('multi_ack_detailed') ? 'multi_ack_detailed' : caps.has('multi_ack') ? 'multi_ack' : 'none';
    req.noDone = caps.has('no-done');
    req.sideBand = caps.has('side-band-64k') ? 'side-band-64k' : caps.has('side-band') ? 'side-band' : 'none';
    req.thinPack = caps.has('thin-pack');
    req.ofsDelta = caps.has('ofs-delta');
    req.noProgress = caps.has('no-progress');
    req.includeTag = caps.has('include-tag');
    req.deepenRelative = caps.has('deepen-relative');
  }

  /** The request, once the body has ended. */
  finish(): UploadRequestV0 {
    if (this.state === 'wants') throw new ProtocolError('truncated', 'request ended inside the want section');
    if (this.state === 'haves' && this.req.haves.length > 0) throw new ProtocolError('truncated', 'request ended inside the have section');
    return this.req;
  }
}

/** Parse a whole v0 upload-pack request. */
export function parseUploadRequestV0(pkts: Iterable<Pkt>, features: UploadPackFeatures): UploadRequestV0 {
  const p = new UploadRequestV0Parser(features);
  for (const pkt of pkts) p.feed(pkt);
  return p.finish();
}

/** v2 capability lines a client sent with its command. */
export interface V2ClientCaps {
  agent: string | null;
  objectFormat: string | null;
  serverOptions: string[];
}

/** v2 `fetch` arguments. */
export interface FetchArgs extends ShallowArgs {
  /** Distinct wants, first-seen order (any object id in v2; binary, as in v0). */
  wants: IdSet;
  /** `want-ref` names (only with `ref-in-want`). */
  wantRefs: string[];
  /** Haves in the order sent. */
  haves: string[];
  done: boolean;
  thinPack: boolean;
  ofsDelta: boolean;
  noProgress: boolean;
  includeTag: boolean;
  sidebandAll: boolean;
  waitForDone: boolean;
  filter: FilterSpec | null;
}

/** v2 `object-info` arguments. */
export interface ObjectInfoArgs {
  size: boolean;
  oids: string[];
}

/** A v2 request: one command, or the empty request (`command: null`). */
export type V2Request =
  | { command: null }
  | { command: 'ls-refs'; caps: V2ClientCaps; args: LsRefsArgs }
  | { command: 'fetch'; caps: V2ClientCaps; args: FetchArgs }
  | { command: 'object-info'; caps: V2ClientCaps; args: ObjectInfoArgs };

/** Most ls-refs argument lines: prefixes past MAX_REF_PREFIXES are dropped anyway. */
const MAX_LS_REFS_LINES = 4096;
/** Most capability lines before the delim. */
const MAX_CAP_LINES = MAX_SERVER_OPTIONS + 16;

/** Push parser for a v2 upload-pack request. */
export class V2RequestParser {
  private state: 'caps' | 'args' | 'end' = 'caps';
  private command: 'ls-refs' | 'fetch' | 'object-info' | null = null;
  private capLines = 0;
  private readonly caps: V2ClientCaps = { agent: null, objectFormat: null, serverOptions: [] };
  private readonly lsRefsLines: string[] = [];
  private fetch: FetchArgs | null = null;
  private readonly info: ObjectInfoArgs = { size: false, oids: [] };

  constructor(private readonly features: UploadPackFeatures) {}

  /** Take the next pkt of the body. */
  feed(pkt: Pkt): void {
    if (this.state === 'end') throw new ProtocolError('trailing-data', 'data after the end of the request');
    if (pkt.kind === 'response-end') throw new ProtocolError('unexpected-packet', 'unexpected response-end packet in a request');
    if (this.state === 'caps') {
      if (pkt.kind === 'data') return this.capLine(pktText(pkt.payload));
      if (pkt.kind === 'flush' && this.capLines === 0) {
        this.state = 'end';
        return;
      }
      if (this.command === null) throw new ProtocolError('no-command', 'no command requested');
      this.state = pkt.kind === 'delim' ? 'args' : 'end';
      return;
    }
    if (pkt.kind === 'delim') throw new ProtocolError('unexpected-packet', 'unexpected delim packet in the arguments');
    if (pkt.kind === 'flush') {
      this.state = 'end';
      return;
    }
    if (this.command === 'fetch' && wantBytes(pkt.payload)) return addWantId(this.fetch!.wants);
    this.argLine(argText(pkt.payload));
  }

  private capLine(line: string): void {
    if (++this.capLines > MAX_CAP_LINES) throw new ProtocolError('too-many-capabilities', 'too many capability lines');
    if (line.startsWith('command=')) {
      if (this.command !== null) throw new ProtocolError('bad-command', 'command already requested');
      const name = line.slice(8);
      if (name === 'ls-refs' || name === 'fetch' || (name === 'object-info' && this.features.objectInfo)) this.command = name;
      else throw new ProtocolError('unknown-command', `invalid command '${clip(name)}'`, { command: clip(name) });
      if (name === 'fetch') this.fetch = newFetchArgs();
      return;
    }
    if (line.startsWith('agent=')) {
      this.caps.agent = line.slice(6);
      return;
    }
    if (line.startsWith('object-format=')) {
      this.caps.objectFormat = line.slice(14);
      checkObjectFormat(parseCapabilities(line));
      return;
    }
    if (line.startsWith('server-option=') && this.features.serverOption) {
      if (this.caps.serverOptions.length >= MAX_SERVER_OPTIONS) throw new ProtocolError('too-many-capabilities', 'too many server options');
      this.caps.serverOptions.push(line.slice(14));
      return;
    }
    throw new ProtocolError('unknown-capability', `unknown capability '${clip(line)}'`, { capability: clip(line) });
  }

  private argLine(line: string): void {
    switch (this.command) {
      case 'ls-refs':
        if (this.lsRefsLines.length >= MAX_LS_REFS_LINES) {
          // Past the limit: more prefixes change nothing (we list every ref already), flags are idempotent.
          if (line.startsWith('ref-prefix ')) return;
          parseLsRefsArgs([line], false);
          if (this.lsRefsLines.includes(line)) return;
        }
        if (line.length > MAX_LINE) throw new ProtocolError('bad-line', 'line too long');
        this.lsRefsLines.push(line);
        return;
      case 'object-info':
        if (line === 'size') this.info.size = true;
        else if (line.startsWith('oid ')) {
          if (this.info.oids.length >= MAX_OBJECT_INFO_OIDS) throw new ProtocolError('too-many-wants', `more than ${MAX_OBJECT_INFO_OIDS} oid lines`);
          this.info.oids.push(objectId(line.slice(4), 'oid'));
        } else throw new ProtocolError('unexpected-line', `object-info: unexpected line: '${clip(line)}'`, { line: clip(line) });
        return;
      case 'fetch':
        return this.fetchLine(line, this.fetch!);
      default:
        throw new ProtocolError('no-command', 'no command requested');
    }
  }

  private fetchLine(line: string, args: FetchArgs): void {
    const f = this.features;
    if (line.startsWith('want ')) {
      addWant(args.wants, objectId(line.slice(5), 'want'));
      return;
    }
    if (line.startsWith('have ')) {
      if (args.haves.length >= MAX_HAVES) throw new ProtocolError('too-many-haves', `more than ${MAX_HAVES} have lines`);
      args.haves.push(objectId(line.slice(5), 'have'));
      return;
    }
    if (f.refInWant && line.startsWith('want-ref ')) {
      if (args.wantRefs.length >= MAX_WANT_REFS) throw new ProtocolError('too-many-wants', `more than ${MAX_WANT_REFS} want-ref lines`);
      const ref = line.slice(9);
      if (ref.length === 0) throw new ProtocolError('bad-line', 'empty want-ref');
      args.wantRefs.push(ref);
      return;
    }
    if (shallowLine(line, args)) return;
    if (f.filter && line.startsWith('filter ')) {
      args.filter = filterLine(line, args.filter);
      return;
    }
    const flag = FETCH_FLAGS[line];
    if (flag !== undefined && (flag !== 'sidebandAll' || f.sidebandAll)) {
      args[flag] = true;
      return;
    }
    throw new ProtocolError('unexpected-line', `unexpected line: '${clip(line)}'`, { line: clip(line) });
  }

  /** The request, once the body has ended. */
  finish(): V2Request {
    if (this.state !== 'end') throw new ProtocolError('truncated', 'request ended before its flush');
    switch (this.command) {
      case null:
        return { command: null };
      case 'ls-refs':
        return { command: 'ls-refs', caps: this.caps, args: parseLsRefsArgs(this.lsRefsLines, this.features.lsRefsUnborn) };
      case 'object-info':
        return { command: 'object-info', caps: this.caps, args: this.info };
      case 'fetch':
        checkShallowArgs(this.fetch!);
        return { command: 'fetch', caps: this.caps, args: this.fetch! };
    }
  }
}

const FETCH_FLAGS: Record<string, 'done' | 'thinPack' | 'ofsDelta' | 'noProgress' | 'includeTag' | 'sidebandAll' | 'waitForDone' | 'deepenRelative'> = {
  __proto__: null,
  done: 'done',
  'thin-pack': 'thinPack',
  'ofs-delta': 'ofsDelta',
  'no-progress': 'noProgress',
  'include-tag': 'includeTag',
  'sideband-all': 'sidebandAll',
  'wait-for-done': 'waitForDone',
  'deepen-relative': 'deepenRelative',
} as never;

function newFetchArgs(): FetchArgs {
  return {
    wants: new IdSet(),
    wantRefs: [],
    haves: [],
    done: false,
    thinPack: false,
    ofsDelta: false,
    noProgress: false,
    includeTag: false,
    sidebandAll: false,
    waitForDone: false,
    filter: null,
    shallows: [],
    depth: null,
    deepenSince: null,
    deepenNot: [],
    deepenRelative: false,
  };
}

/** Parse a whole v2 upload-pack request. */
export function parseV2Request(pkts: Iterable<Pkt>, features: UploadPackFeatures): V2Request {
  const p = new V2RequestParser(features);
  for (const pkt of pkts) p.feed(pkt);
  return p.finish();
}

/**
 * The object-info reply: `size`, then `<oid> <size>` per requested id (`<oid> `
 * when we lack it), flush. Nothing but the flush when no oid was asked.
 */
export function objectInfoResponse(args: ObjectInfoArgs, sizes: ReadonlyMap<string, number>): Pkt[] {
  const enc = new TextEncoder();
  const out: Pkt[] = [];
  if (args.oids.length > 0) {
    if (args.size) out.push({ kind: 'data', payload: enc.encode('size') });
    for (const oid of args.oids) {
      const size = sizes.get(oid);
      const line = args.size ? `${oid} ${size === undefined ? '' : size}` : oid;
      out.push({ kind: 'data', payload: enc.encode(line) });
    }
  }
  out.push({ kind: 'flush' });
  return out;
}

/**
 * A v2 argument line. A ref-prefix is the name the user typed, which git
 * takes in any bytes (git fetch URL refs/heads/caf\xe9): one that is not UTF-8
 * is read as refNameFromBytes reads push commands, so it matches no ref here
 * and git says "couldn't find remote ref", as against git's upload-pack.
 */
function argText(payload: Uint8Array): string {
  try {
    return pktText(payload);
  } catch (e) {
    if (!(e instanceof ProtocolError && e.code === 'bad-utf8')) throw e;
  }
  const end = payload[payload.length - 1] === 0x0a ? payload.length - 1 : payload.length;
  const text = refNameFromBytes(payload.subarray(0, end));
  if (text.includes('\0')) throw new ProtocolError('bad-line', 'unexpected NUL in a request line', { line: clip(text) });
  return text;
}
