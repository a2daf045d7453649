/**
 * Sending artifacts (xfer.c send_file, send_compressed_file):
 *
 *     file HASH SIZE \n <full text>              gimme answers (pull, sync)
 *     file HASH BASE SIZE \n <fossil delta>       when the stored record is a delta
 *     cfile HASH [BASE] USIZE CSIZE \n <u32be(record size) + stored zlib bytes>
 *                                                 clone protocol 3: a byte copy
 *
 * Private artifacts go out only when the client asked (`pragma send-private`)
 * and may (cap x), each preceded by a `private` card; a delta whose base may
 * not be sent goes out as a full text instead. Shunned artifacts never go out.
 * Past the reply budget a gimme is answered with `igot` (the client asks again).
 */
import { concat } from '../../core/bytes.js';
import type { FossilRow } from '../../storage/fossil.js';
import { RangePrefetcher } from '../../storage/range-prefetch.js';
import type { SegmentReader } from '../../storage/segments.js';
import { xferError } from './errors.js';
import { cfileSize, XferWriter } from './message.js';
import type { ArtifactReader, FossilRepo } from './repo.js';

/** What sending needs from the request. */
export interface SendContext {
  repo: FossilRepo;
  reader: ArtifactReader;
  out: XferWriter;
  /** Stop adding content once the reply is this large. */
  budget: number;
  /** The client asked for private artifacts and may have them. */
  syncPrivate: boolean;
  /** Hashes the client has or was sent in this reply. */
  onremote: Set<string>;
  /** Longest read of one stored record in a clone round: a longer one goes out in pieces (XferLimits.recordPiece). */
  recordPiece: number;
}

/**
 * Rows fetched by a clone round's first listFrom call; each further call fetches about what
 * the room left needs at the rows' average size so far (at most CLONE_PAGE). A round's budget
 * takes a few hundred records (about 280 of the small bench corpus), so a fixed page of 1024
 * turned most rows listed into objects for nothing.
 */
const CLONE_FIRST_PAGE = 256;
const CLONE_PAGE = 1024;
/** Range reads one clone round keeps in flight. */
const CLONE_READS = 8;
/** Bytes of records one clone round reads ahead. */
const CLONE_READ_BYTES = 8 * 1024 * 1024;
/**
 * Records of one segment this far apart are read as one range: a push's segments hold the
 * records the repack replaced, and a subrequest costs more than reading past such a gap.
 */
const CLONE_READ_GAP = 256 * 1024;
/**
 * Longest range one read of a clone round takes: the round's reply streams as its records
 * arrive, so its first bytes wait for the first read only (the small corpus's round was one
 * 2.2 MB read), and the next reads are in flight meanwhile.
 */
const CLONE_READ_SPAN = 4 * 1024 * 1024;
const PRIVATE_CARD = 'private';
/** Bytes of a streamed clone round handed on at once. */
const CLONE_CHUNK = 256 * 1024;

/**
 * Bases that may go out with their deltas: stored, not shunned, not private unless syncing
 * private. `listed` rows are known stored and not shunned (listFrom leaves shunned rows out),
 * so only bases outside them are looked up: a clone round lists most of its bases itself, and
 * the states of ~1700 bases (four queries) took 13-39 ms of the small clone's first round.
 */
async function sendableBases(ctx: SendContext, rows: readonly FossilRow[], listed = false): Promise<Set<string>> {
  const ok = new Set<string>();
  const known = listed ? new Map(rows.map((r) => [r.hash, r.private])) : new Map<string, boolean>();
  const unknown = new Set<string>();
  for (const r of rows) {
    if (r.base === null) continue;
    const priv = known.get(r.base);
    if (priv === undefined) unknown.add(r.base);
    else if (!priv || ctx.syncPrivate) ok.add(r.base);
  }
  if (unknown.size === 0) return ok;
  const bases = [...unknown];
  const states = await ctx.repo.store.states(bases);
  bases.forEach((b, i) => (states[i] === 'public' || (states[i] === 'private' && ctx.syncPrivate)) && ok.add(b));
  return ok;
}

async function fullText(ctx: SendContext, hash: string): Promise<Uint8Array> {
  const text = await ctx.reader.read(hash);
  if (text === null) throw xferError('internal', `artifact ${hash} vanished`);
  return text;
}

/**
 * Indexes of `rows` with each row's base before it where the base is among them: a repacked
 * (reverse) delta's base is the next version, which a pull asks for in the same round, and the
 * client applies a delta whose base came before it at once instead of keeping it on a phantom.
 */
function basesFirst(rows: readonly (FossilRow | null)[]): number[] {
  const at = new Map<string, number>();
  rows.forEach((r, i) => r !== null && !at.has(r.hash) && at.set(r.hash, i));
  const order: number[] = [];
  const seen = new Uint8Array(rows.length);
  const chain: number[] = [];
  for (let i = 0; i < rows.length; i++) {
    for (let j: number | undefined = i; j !== undefined && !seen[j]; j = rows[j]?.base ? at.get(rows[j]!.base!) : undefined) {
      seen[j] = 1;
      chain.push(j);
    }
    while (chain.length > 0) order.push(chain.pop()!);
  }
  return order;
}

/** Answers `gimme` cards: a file card per sendable artifact, igot once over budget. */
export async function sendFiles(ctx: SendContext, hashes: readonly string[]): Promise<void> {
  if (hashes.length === 0) return;
  const store = ctx.repo.store;
  const [rows, states] = await Promise.all([store.rows([...hashes]), store.states([...hashes])]);
  const present = rows.filter((r): r is FossilRow => r !== null);
  const okBases = await sendableBases(ctx, present);
  // A stored delta goes out as it is when the client has its base (announced, or sent in this
  // reply) or its base arrived here later than it (higher seq). fossil keeps a delta on a base it
  // lacks as a phantom's and asks for the base next round, so a base it lacks is fine as long as
  // no chain it holds can come back round: every delta on a missing base it got from here points
  // to a higher seq, so none can. (Sending any delta whose base it may lack is not: it could hold
  // B as a pushed delta on A it lacks, and get A as the repack's delta on B.) Deltas on older bases
  // the client lacks, rebuilt whole, are the pushed (forward) ones the repack has not reached yet.
  // The repack's reverse deltas have newer bases: rebuilt whole, a pull of the small bench corpus
  // into an empty repository was 8.4 MB and 23-26 s (fossil server 1.9 MB, 5.1 s).
  const baseRows = okBases.size > 0 ? await store.rows([...okBases]) : [];
  const baseSeq = new Map(baseRows.filter((r): r is FossilRow => r !== null).map((r) => [r.hash, r.seq]));
  const mayName = (row: FossilRow) => ctx.onremote.has(row.base!) || going.has(row.base!) || (baseSeq.get(row.base!) ?? -1) > row.seq;
  // The answers are planned first (what goes out, and how), so that the stored records sent as
  // they are can be read ahead in coalesced ranges: a pull round answers hundreds of gimmes, and a
  // range read each was a subrequest each (1000 gimmes: 1002 reads, over Workers' 1000 a request).
  type Plan = { row: FossilRow; how: 'igot' | 'delta' | 'full' | 'rebuild' };
  const plans: Plan[] = [];
  const planned = new Set<string>();
  /** Planned to go out whole or as a delta (not igot): what a later delta in the reply may name. */
  const going = new Set<string>();
  let size = ctx.out.size;
  for (const i of basesFirst(rows)) {
    const row = rows[i];
    const state = states[i];
    if (row === null || state === 'shunned') continue;
    if (row.private && !ctx.syncPrivate) continue;
    if (ctx.onremote.has(row.hash) || planned.has(row.hash)) continue;
    planned.add(row.hash);
    if (size >= ctx.budget) {
      plans.push({ row, how: 'igot' });
      continue;
    }
    const delta = row.format === 'fossil-delta' && row.base !== null && okBases.has(row.base) && mayName(row);
    const how = delta ? 'delta' : row.format === 'full' ? 'full' : 'rebuild';
    plans.push({ row, how });
    going.add(row.hash);
    size += (how === 'delta' ? row.recordSize : row.size) + 100;
  }
  const piece = Math.max(1, ctx.recordPiece);
  const large = (row: FossilRow) => row.length > piece || row.recordSize > piece;
  const stored = plans.filter((x) => (x.how === 'delta' || x.how === 'full') && !large(x.row)).map((x) => x.row);
  // A gap of at most a piece: a range over records each side of a large one would read it whole.
  const prefetch = new RangePrefetcher(ctx.repo.segments, stored, { concurrency: CLONE_READS, maxBytes: CLONE_READ_BYTES, gap: Math.min(CLONE_READ_GAP, piece) });
  let taken = 0;
  for (const { row, how } of plans) {
    if (how === 'igot') {
      ctx.out.card('igot', row.hash, ...(row.private ? ['1'] : []));
      continue;
    }
    if (row.private) ctx.out.card('private');
    if (how === 'rebuild') {
      const text = await fullText(ctx, row.hash);
      ctx.out.cardWithPayload('file', [row.hash, text.length], text);
    } else if (large(row)) {
      // A large record (up to the 32 MiB artifact limit) is neither held nor inflated whole: its
      // pieces are inflated as they are read when the reply goes out (which makes it a plain,
      // streamed reply: a deflated one would need the whole text first, as fossil server's does).
      // Not a cfile of the stored bytes: fossil 2.21 takes one in a pull, but records its
      // compressed size as the artifact's (blob.size; a clone's rebuild corrects it) and does not
      // crosslink it.
      ctx.out.card('file', row.hash, ...(how === 'delta' ? [row.base!] : []), row.recordSize);
      ctx.out.later(row.recordSize + 1, () => inflatedPieces(ctx, row, piece));
    } else {
      const record = ctx.repo.primitives.zlib.inflate(await prefetch.take(taken++), row.recordSize);
      if (how === 'delta') ctx.out.cardWithPayload('file', [row.hash, row.base!, record.length], record);
      else ctx.out.cardWithPayload('file', [row.hash, record.length], record);
    }
    ctx.onremote.add(row.hash);
  }
}

/**
 * The cfile cards of a clone round (protocol 3), as many of `rows` as the budget takes: the
 * stored records copied. Their sizes are known from the index, so the cards are written as
 * one part that comes later (XferWriter.later): the reply's length is known before the
 * records are read, and it goes out as they arrive instead of after the whole round (2.4 MB
 * for the small bench corpus) was read and joined. Returns the next cursor when the budget
 * cut the round, else null.
 */
async function sendCfiles(ctx: SendContext, rows: readonly FossilRow[], asDelta: (row: FossilRow) => boolean): Promise<number | null> {
  const out = ctx.out;
  const start = out.size;
  let length = 0;
  let next: number | null = null;
  /** Full texts (deflated, as fossil stores them) of deltas whose base may not go out. */
  const whole = new Map<number, Uint8Array>();
  /** Each card's line, written out here once: its length is the card's size. */
  const lines: string[] = [];
  for (let i = 0; i < rows.length; i++) {
    const row = rows[i];
    if (start + length >= ctx.budget) {
      next = row.seq;
      break;
    }
    let payload = row.length;
    if (!asDelta(row) && row.format !== 'full') {
      const z = ctx.repo.primitives.zlib.deflate(await fullText(ctx, row.hash));
      whole.set(i, z);
      payload = z.length;
    }
    const line = asDelta(row) ? `cfile ${row.hash} ${row.base} ${row.size} ${payload + 4}` : `cfile ${row.hash} ${row.size} ${payload + 4}`;
    lines.push(line);
    length += (row.private ? PRIVATE_CARD.length + 1 : 0) + cfileSize(line, payload);
    ctx.onremote.add(row.hash);
  }
  const piece = Math.max(1, ctx.recordPiece);
  const reads = rows.slice(0, lines.length).filter((r, i) => !whole.has(i) && r.length <= piece);
  // A gap of at most a piece: a range over records each side of a large one would read it whole.
  const gap = Math.min(CLONE_READ_GAP, piece);
  const prefetch = new RangePrefetcher(ctx.repo.segments, reads, { concurrency: CLONE_READS, maxBytes: CLONE_READ_BYTES, gap, maxSpan: CLONE_READ_SPAN });
  const segments = ctx.repo.segments;
  out.later(length, async function* () {
    const w = new XferWriter();
    let taken = 0;
    for (let i = 0; i < lines.length; i++) {
      const row = rows[i];
      if (row.private) w.card(PRIVATE_CARD);
      const z = whole.get(i);
      if (z !== undefined) w.cfile(lines[i], row.size, z);
      else if (row.length <= piece) w.cfile(lines[i], row.recordSize, await prefetch.take(taken++));
      else {
        // A large record (up to the 32 MiB artifact limit, incompressible) is never held whole
        // nor joined into a chunk: its pieces go out as they are read, the next read in flight.
        w.cfileStart(lines[i], row.recordSize);
        yield concat(w.drain());
        yield* recordPieces(segments, row, piece);
        w.cfileEnd();
        continue;
      }
      // One chunk per CLONE_CHUNK bytes, not a write per payload: each write crosses to the reader.
      if (w.size >= CLONE_CHUNK) yield concat(w.drain());
    }
    if (w.size > 0) yield concat(w.drain());
  });
  return next;
}

/** A stored record's inflated bytes (recordSize of them), then the blank line that ends its file card. */
async function* inflatedPieces(ctx: SendContext, row: FossilRow, piece: number): AsyncGenerator<Uint8Array> {
  // Bounded by recordSize; the record is one whole zlib stream (checked when stored), so its
  // size is what ends it (node's inflater sees a stream end at a piece's end only later).
  const inflater = ctx.repo.primitives.zlib.createInflater(row.recordSize);
  let produced = 0;
  for await (const bytes of recordPieces(ctx.repo.segments, row, piece)) {
    for (const out of inflater.push(bytes).output) {
      produced += out.length;
      yield out;
    }
  }
  // A short record: chunks() would throw for the length anyway; say why.
  if (produced !== row.recordSize) throw xferError('internal', `stored record of ${row.hash} inflates to ${produced} bytes, not ${row.recordSize}`);
  yield NEWLINE;
}

const NEWLINE = new Uint8Array([10]);

/** A stored record's bytes in reads of at most `piece` bytes, each started while the one before goes out. */
async function* recordPieces(segments: SegmentReader, row: FossilRow, piece: number): AsyncGenerator<Uint8Array> {
  const read = (at: number) => {
    const p = segments.readRange(row.segment, row.offset + at, Math.min(piece, row.length - at));
    // Not awaited when the consumer stops early: no unhandled rejection.
    p.catch(() => undefined);
    return p;
  };
  let next = read(0);
  for (let at = 0; at < row.length; ) {
    const bytes = await next;
    at += bytes.length;
    if (at < row.length) next = read(at);
    yield bytes;
  }
}

/**
 * One clone round from cursor `fromSeq`: cfile cards (protocol 3, stored
 * records copied) or file cards (protocol 2) until the budget is used.
 * Returns the next cursor, 0 when everything was sent.
 */
export async function sendCloneBatch(ctx: SendContext, fromSeq: number, version: number): Promise<number> {
  // The round's rows are listed first (the index is local), up to about the budget, so the
  // records they copy can be read ahead: in seq order they alternate between a push's segments
  // and the repack's (fossil-repack.ts), and one R2 read after another cost seconds a round.
  let seq = Math.max(1, fromSeq);
  const rows: FossilRow[] = [];
  let planned = 0;
  let done = false;
  const room = ctx.budget - ctx.out.size;
  let pageSize = CLONE_FIRST_PAGE;
  while (planned < room) {
    const page = await ctx.repo.store.listFrom(seq, pageSize);
    const sendable = page.filter((r) => !r.private || ctx.syncPrivate);
    for (const row of sendable) {
      rows.push(row);
      planned += row.length + 64;
      if (planned >= room) break;
    }
    if (page.length < pageSize) {
      done = planned < room;
      break;
    }
    seq = page[page.length - 1].seq + 1;
    const need = rows.length === 0 ? CLONE_PAGE : ((room - planned) / planned) * rows.length;
    pageSize = Math.min(CLONE_PAGE, Math.ceil(need * 1.25) + 16);
  }
  // The bases' states for the round: those listed in it are known, the rest in one lookup.
  const okBases = await sendableBases(ctx, rows, true);
  const asDelta = (row: FossilRow) => row.format === 'fossil-delta' && row.base !== null && okBases.has(row.base);
  if (version >= 3) {
    const next = await sendCfiles(ctx, rows, asDelta);
    if (next !== null) return next;
  } else {
    const prefetch = new RangePrefetcher(ctx.repo.segments, rows.filter(asDelta), { concurrency: CLONE_READS, maxBytes: CLONE_READ_BYTES, gap: CLONE_READ_GAP });
    let taken = 0;
    for (const row of rows) {
      if (ctx.out.size >= ctx.budget) return row.seq;
      if (row.private) ctx.out.card('private');
      if (asDelta(row)) {
        const data = ctx.repo.primitives.zlib.inflate(await prefetch.take(taken++), row.recordSize);
        ctx.out.cardWithPayload('file', [row.hash, row.base!, data.length], data);
      } else {
        const text = await fullText(ctx, row.hash);
        ctx.out.cardWithPayload('file', [row.hash, text.length], text);
      }
      ctx.onremote.add(row.hash);
    }
  }
  if (done) return 0;
  // Everything planned went out under budget: the next round starts after it.
  return rows.length > 0 ? rows[rows.length - 1].seq + 1 : seq;
}
