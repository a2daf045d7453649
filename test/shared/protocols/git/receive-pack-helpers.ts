// Helpers for the receive-pack tests (pure: run in Node and workerd).
import { concat, fromHex, utf8Encode } from '../../../../shared/core/bytes.js';
import { gitObjectId, type GitObjectType } from '../../../../shared/core/git/object-id.js';
import { purePrimitives } from '../../../../shared/core/primitives.js';
import { collect, fromBytes, type ByteStream } from '../../../../shared/core/stream.js';
import { applyFossilDelta, applyGitDelta } from '../../../../shared/delta/index.js';
import { FLUSH, textPkt, ZERO_ID } from '../../../../shared/protocols/git/capabilities.js';
import { entriesToPackBytes, type PackWriteEntry } from '../../../../shared/protocols/git/pack-writer.js';
import { decodePkt, encodePkt, encodePkts, FLUSH_PKT } from '../../../../shared/protocols/git/pkt-line.js';
import { receivePack, type ReceivePackOptions, type ReceivePackStore } from '../../../../shared/protocols/git/receive-pack.js';
import { createMemoryStores, type MemoryRepoStore, type MemorySegmentStore } from '../../../../shared/storage/memory.js';

export const p = purePrimitives;
export { ZERO_ID };

export interface TestRepo {
  store: ReceivePackStore;
  repo: MemoryRepoStore;
  segments: MemorySegmentStore;
}

export function newRepo(): TestRepo {
  const { repo, segments } = createMemoryStores();
  const store: ReceivePackStore = {
    refs: repo,
    index: repo,
    committer: repo,
    segments,
    primitives: p,
    appliers: { git: applyGitDelta, fossil: applyFossilDelta },
  };
  return { store, repo, segments };
}

/** An object: its type, content and id. */
export interface Obj {
  type: GitObjectType;
  data: Uint8Array;
  id: string;
}

export function obj(type: GitObjectType, data: Uint8Array | string): Obj {
  const bytes = typeof data === 'string' ? utf8Encode(data) : data;
  return { type, data: bytes, id: gitObjectId(p, type, bytes) };
}

export const blob = (text: string) => obj('blob', text);

/** A tree from [mode, name, id] (sorted by the caller). */
export function tree(entries: [string, string, string][]): Obj {
  return obj('tree', concat(entries.flatMap(([mode, name, id]) => [utf8Encode(`${mode} ${name}\0`), fromHex(id)])));
}

export function commit(treeId: string, parents: string[], msg: string, time = 1700000000): Obj {
  const lines = [`tree ${treeId}`, ...parents.map((x) => `parent ${x}`), `author A <a@x> ${time} +0000`, `committer A <a@x> ${time} +0000`, '', msg, ''];
  return obj('commit', lines.join('\n'));
}

export function tag(target: Obj, name: string): Obj {
  return obj('tag', `object ${target.id}\ntype ${target.type}\ntag ${name}\ntagger A <a@x> 1700000000 +0000\n\n${name}\n`);
}

/** A small history: `n` commits on a one-file tree, each with its blob, tree and commit. */
export function history(n: number, parent: string[] = [], seed = 'x'): { objects: Obj[]; tip: Obj } {
  const objects: Obj[] = [];
  let parents = parent;
  let tip!: Obj;
  for (let i = 0; i < n; i++) {
    const b = blob(`${seed} content ${i}\n`);
    const t = tree([['100644', 'file.txt', b.id]]);
    tip = commit(t.id, parents, `${seed} ${i}`, 1700000000 + i);
    objects.push(tip, t, b);
    parents = [tip.id];
  }
  return { objects, tip };
}

export async function packBytes(entries: PackWriteEntry[]): Promise<Uint8Array> {
  return collect(entriesToPackBytes(entries, entries.length, { primitives: p }), 1 << 30);
}

export const whole = (o: Obj): PackWriteEntry => ({ kind: 'object', type: o.type, data: o.data });

export async function packOf(objects: Obj[]): Promise<Uint8Array> {
  return packBytes(objects.map(whole));
}

/** A push body: commands (first with caps), flush, optional push options, then the pack. */
export function pushBody(cmds: [string, string, string][], caps: string, pack?: Uint8Array, options?: string[]): Uint8Array {
  const parts: Uint8Array[] = cmds.map(([o, n, r], i) => encodePkt(i === 0 ? concat([utf8Encode(`${o} ${n} ${r}`), Uint8Array.of(0), utf8Encode(` ${caps}`)]) : `${o} ${n} ${r}`));
  parts.push(FLUSH_PKT);
  if (options) {
    for (const o of options) parts.push(encodePkt(o));
    parts.push(FLUSH_PKT);
  }
  if (pack) parts.push(pack);
  return concat(parts);
}

/** What a response said. */
export interface Reply {
  /** Inner report lines (without LF), flush excluded. */
  report: string[];
  /** Band-2 text. */
  progress: string;
  /** Band-3 text or ERR lines. */
  errors: string[];
  raw: Uint8Array;
}

const dec = new TextDecoder();

function pktLines(buf: Uint8Array): { kind: 'flush' | 'data'; payload: Uint8Array }[] {
  const out: { kind: 'flush' | 'data'; payload: Uint8Array }[] = [];
  let at = 0;
  while (at < buf.length) {
    const step = decodePkt(buf, at);
    if (step.kind === 'need') throw new Error(`truncated response at ${at}`);
    if (step.kind === 'flush') out.push({ kind: 'flush', payload: new Uint8Array(0) });
    else if (step.kind === 'data') out.push({ kind: 'data', payload: step.payload });
    else throw new Error(`unexpected ${step.kind}`);
    at += step.consumed;
  }
  return out;
}

/** A v0 upload-pack request for everything `tip` reaches (side-band-64k, ofs-delta). */
export function cloneRequest(tip: string): Uint8Array {
  return concat([encodePkts([textPkt(`want ${tip} side-band-64k ofs-delta\n`), FLUSH]), encodePkts([textPkt('done\n')])]);
}

/** The pack of a v0 upload-pack reply: side-band 1 after the NAK. */
export function packOfUploadReply(raw: Uint8Array): Uint8Array {
  const band1: Uint8Array[] = [];
  for (let at = 0; at + 4 <= raw.length; ) {
    const len = parseInt(dec.decode(raw.subarray(at, at + 4)), 16);
    if (len === 0) {
      at += 4;
      continue;
    }
    if (raw[at + 4] === 1) band1.push(raw.subarray(at + 5, at + len));
    at += len;
  }
  return concat(band1);
}

/** Decodes a response body, with or without side-band. */
export function decodeReply(raw: Uint8Array, sideBand: boolean): Reply {
  const reply: Reply = { report: [], progress: '', errors: [], raw };
  const outer = pktLines(raw);
  let inner: Uint8Array;
  if (sideBand) {
    const band1: Uint8Array[] = [];
    for (const pkt of outer) {
      if (pkt.kind === 'flush') continue;
      const band = pkt.payload[0];
      const data = pkt.payload.subarray(1);
      if (band === 1) band1.push(data);
      else if (band === 2) reply.progress += dec.decode(data);
      else if (band === 3) reply.errors.push(dec.decode(data));
      else if (dec.decode(pkt.payload).startsWith('ERR ')) reply.errors.push(dec.decode(pkt.payload));
      else throw new Error(`bad band ${band}`);
    }
    inner = concat(band1);
  } else inner = raw;
  for (const pkt of pktLines(inner)) {
    if (pkt.kind === 'flush') break;
    const line = dec.decode(pkt.payload).replace(/\n$/, '');
    if (line.startsWith('ERR ')) reply.errors.push(line);
    else reply.report.push(line);
  }
  return reply;
}

export const CAPS = 'report-status-v2 side-band-64k quiet object-format=sha1 agent=git/2.39.5';

/** Runs one push and decodes the reply. */
export async function push(
  r: TestRepo,
  cmds: [string, string, string][],
  pack?: Uint8Array,
  { caps = CAPS, opts = {}, chunk = 997 }: { caps?: string; opts?: ReceivePackOptions; chunk?: number } = {},
): Promise<Reply> {
  const body = pushBody(cmds, caps, pack);
  const out = await collect(receivePack(r.store, fromBytes(body, chunk), opts), 1 << 30);
  return decodeReply(out, caps.includes('side-band-64k'));
}

/** Raw body in, decoded reply out. */
export async function pushRaw(r: TestRepo, body: ByteStream, sideBand: boolean, opts: ReceivePackOptions = {}): Promise<Reply> {
  const out = await collect(receivePack(r.store, body, opts), 1 << 30);
  return decodeReply(out, sideBand);
}
