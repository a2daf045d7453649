/**
 * Fossil sync inside a repository's Durable Object. The Worker's fossil route
 * (routes/fossil.ts) has found the repository; it forwards the request as
 *
 *   POST https://repo/fossil/xfer
 *
 * with the client's Content-Type, `x-hub-repo-id` (the immutable repository
 * id: R2 key prefix), `x-hub-repo` (the repository's name, id and kind as
 * JSON; its visibility comes from the DO's own read of D1, durable/access.ts), `x-hub-max-body` (bytes of request body
 * allowed) and, when the client declared it, `x-hub-body-length` (its Content-Length: a body the
 * route passes on as a stream arrives here without one). The body is read here, counted against that limit, and handed to
 * shared/'s `xfer` with the repository's FossilStore, its R2 segments, and the
 * hub's accounts for login cards (worker/fossil-login.ts). The answer is
 * always 200 with a fossil body; errors are `error` cards.
 */
import { concat, releaseNow } from '../../shared/core/bytes.js';
import { HubError, StreamError } from '../../shared/core/errors.js';
import { ChunkPool } from '../../shared/core/stream.js';
import { parseArtifact, type Artifact } from '../../shared/core/fossil/artifact.js';
import { emptyRepository, newRepository, xferStreamed, type FossilRepo, type NewRepositoryOptions, type ReceivedArtifact, type XferContext, type XferPush, type XferUser } from '../../shared/protocols/fossil/index.js';
import type { FossilCommit } from '../../shared/storage/fossil.js';
import { ArtifactReader, receiveMemo, type ReceiveMemo } from '../../shared/protocols/fossil/repo.js';
import type { Env } from '../env.js';
import { anonymousCaps, fossilLogins } from '../fossil-login.js';
import { nativePrimitives } from '../primitives.js';
import type { RepoRow } from '../storage-d1/schema.js';
import { R2SegmentStore } from '../storage-r2/segments.js';
import { BODY_LENGTH_HEADER, fossilErrorReply } from '../routes/fossil.js';
import { localFossilStore, SqlFossilStore } from './fossil-store.js';
import { runRepackAlarm, scheduleRepack, type RepackHost } from './fossil-repack.js';
import { addFossilEvent, closeFossilEvent, closeOpenEvents, openFossilEvent } from './push-outbox.js';
import { crosslinker } from './fossil-tables.js';
import { requestBody } from './git-http.js';
import type { SqlHost } from './repo-store.js';

/**
 * Texts and pending deltas kept between one DO's requests (a push is many
 * rounds; each round's deltas wait for bases the next one brings). Keyed by
 * the DO's storage: 8 + 4 MiB at most, dropped by the repack alarm once the
 * push is over.
 */
const memos = new WeakMap<object, ReceiveMemo>();

/** The repository as shared/'s sync server sees it. */
export function fossilRepo(host: SqlHost, env: Env, repoId: string): FossilRepo {
  let memo = memos.get(host);
  if (!memo) memos.set(host, (memo = receiveMemo()));
  return { store: localFossilStore(new SqlFossilStore(host)), segments: new R2SegmentStore(env.CONTENT, repoId), primitives: nativePrimitives, memo };
}

/**
 * One xfer at a time per repository: the DO's input gates let requests
 * interleave at every R2 await, and uv newer-wins checks and cluster creation
 * read then write. Keyed by the DO's storage (one per DO instance).
 */
const queues = new WeakMap<object, Promise<unknown>>();

function serialized<T>(key: object, fn: () => Promise<T>): Promise<T> {
  const prev = queues.get(key) ?? Promise.resolve();
  const run = prev.then(fn, fn);
  queues.set(
    key,
    run.then(
      () => undefined,
      () => undefined,
    ),
  );
  return run;
}

/**
 * Reads the whole request body, at most `limit` bytes (an xfer message is decoded whole; the client keeps rounds small).
 * With its length known (BODY_LENGTH_HEADER), into one buffer of that size, the stream's buffers read into again
 * (ChunkPool): a push round's body was its 256 KiB chunks plus their join, twice its size, every round. A body
 * that ends short of that length or goes past it is refused, as one past the limit is.
 */
async function readBody(request: Request, limit: number): Promise<Uint8Array> {
  const declared = Number(request.headers.get(BODY_LENGTH_HEADER) ?? NaN);
  const pool = new ChunkPool();
  const chunks = requestBody(request.body, false, limit, 'message', pool);
  if (!(Number.isSafeInteger(declared) && declared >= 0 && declared <= limit)) {
    const parts: Uint8Array[] = [];
    for await (const chunk of chunks) parts.push(chunk);
    return concat(parts);
  }
  const out = new Uint8Array(declared);
  let total = 0;
  for await (const chunk of chunks) {
    if (total + chunk.length > out.length) throw new StreamError('bad-body', `message is longer than its Content-Length of ${out.length} bytes`);
    out.set(chunk, total);
    total += chunk.length;
    pool.release(chunk);
  }
  if (total !== out.length) throw new StreamError('bad-body', `message ended after ${total} of its ${out.length} bytes`);
  return out;
}

/** Hooks of the DO around a sync: what to do with artifacts just stored. */
export interface FossilHooks {
  onArtifacts?(received: ReceivedArtifact[]): Promise<void> | void;
}

/** Artifacts crosslinked per implicit transaction. */
const CROSSLINK_SLICE = 25;

/** Bytes of delta bases cached while loading manifests for crosslinking (per request). */
const CROSSLINK_CACHE_BYTES = 4 * 1024 * 1024;

/**
 * The default hooks: artifacts just stored are crosslinked into the DO's
 * timeline tables (fossil-tables.ts), loading parents from storage as needed.
 */
export function crosslinkHooks(host: SqlHost, repo: FossilRepo): FossilHooks {
  // Parents usually arrive in the same batch, already parsed, or were
  // received lately (the memo's texts): reading them back would walk their
  // delta chains in R2 (manifests are pushed as deltas). A batch is bounded
  // (receive.ts ARTIFACT_BATCH_*); a parent in another batch is loaded.
  let batch = new Map<string, Artifact>();
  let reader = new ArtifactReader(repo, CROSSLINK_CACHE_BYTES);
  const load = async (hash: string) => {
    const known = batch.get(hash);
    if (known !== undefined) return known;
    // The memo may hold texts of a request that failed: used only for what is stored.
    const memo = repo.memo?.texts.get(hash);
    const stored = memo !== undefined && ['public', 'private'].includes((await repo.store.states([hash]))[0]);
    const bytes = stored ? memo : await reader.read(hash);
    // Crosslinking needs the cards only, not whether they are canonically spelled.
    return bytes === null ? null : parseArtifact(bytes, { skipCanonical: true, primitives: repo.primitives });
  };
  // One for the request's batches: it keeps the manifests linked last, parsed.
  const link = crosslinker(host.sql, load);
  return {
    onArtifacts: async (received) => {
      batch = new Map(received.map((r) => [r.hash, r.artifact]));
      reader = new ArtifactReader(repo, CROSSLINK_CACHE_BYTES);
      // In slices with a macrotask between them, so each slice's SQL writes
      // commit as their own implicit transaction: one round can carry hundreds
      // of manifests, and one transaction over all their rows restarted the DO.
      for (let i = 0; i < received.length; i += CROSSLINK_SLICE) {
        await link(received.slice(i, i + CROSSLINK_SLICE));
        await new Promise((r) => setTimeout(r, 0));
      }
    },
  };
}

/**
 * Answers one forwarded xfer request inside the DO. `access`: the
 * repository's visibility as the DO read it from D1 (durable/access.ts), which
 * wins over the forwarded row's (the Worker routes on its name -> id cache).
 */
export async function handleFossilRequest(
  request: Request,
  host: RepackHost,
  env: Env,
  hooks?: FossilHooks,
  access?: { public: boolean },
  /** Told of a streamed reply's sending (it resolves once the reply is out or cut): the DO's delete waits for it (content-guard.ts). */
  streaming?: (sent: Promise<void>) => void,
): Promise<Response> {
  const repoId = request.headers.get('x-hub-repo-id');
  const repoJson = request.headers.get('x-hub-repo');
  if (request.method !== 'POST' || !repoId || !repoJson) return new Response('bad forwarded request\n', { status: 400 });
  const forwarded = JSON.parse(repoJson) as RepoRow;
  const row: RepoRow = access === undefined ? forwarded : { ...forwarded, public: access.public };
  const limit = Number(request.headers.get('x-hub-max-body') ?? '0');
  let body: Uint8Array;
  try {
    body = await readBody(request, limit);
  } catch (e) {
    if (e instanceof HubError) return fossilErrorReply(e.message);
    throw e;
  }
  const repo = fossilRepo(host, env, repoId);
  hooks ??= crosslinkHooks(host, repo);
  const reply = await serialized(host, async () => {
    // A repository whose creation stopped before its initialisation is initialised now, as the API would have.
    await ensureInitialised(repo, { creator: HUB_CREATOR, projectName: row.name }, hooks);
    // Failed-login limits as for git; the route passes the client's address on.
    const audit = auditedRound(host, repo, repoId, fossilLogins(env, row, request.headers.get('x-hub-client-address')));
    try {
      return await xferStreamed(
        audit.repo,
        { contentType: request.headers.get('content-type') ?? '', body },
        { anonymousCaps: anonymousCaps(row), ...audit.logins, onArtifacts: hooks.onArtifacts, onPush: audit.onPush },
      );
    } finally {
      // A round that failed after its first commit: its event goes as it was opened.
      closeOpenEvents(host.sql);
    }
  });
  // Reverse deltas for what arrived: in the DO's alarm, once the push is over (fossil-repack.ts).
  await scheduleRepack(host, repoId).catch((e) => console.error('fossil repack not scheduled', e));
  // The route passes the body on as a stream, with this length.
  if ('body' in reply) {
    // A whole reply holds nothing of the request: its body (~1 MiB a push round, live through the round) is freed now.
    releaseNow(body);
    return new Response(reply.body, { status: 200, headers: { 'content-type': reply.contentType, 'content-length': String(reply.body.length) } });
  }
  // A clone round or a large gimme answer, sent as its records are read (outside the request queue, as a git clone
  // streams: records are never rewritten in place, and replaced segments outlive a round by
  // the segment collector's grace period). A fixed length: fossil 2.21 needs a Content-Length.
  const { readable, writable } = new FixedLengthStream(reply.length);
  const sent = pipeChunks(reply.chunks, writable);
  streaming?.(sent);
  return new Response(readable, { status: 200, headers: { 'content-type': reply.contentType, 'content-length': String(reply.length) } });
}

/**
 * The audit log's event of one xfer round (push-outbox.ts): opened in the
 * transaction of the round's first commit that stores artifacts, naming who
 * logged in, so a round that stored anything is logged whatever happens after
 * (its resolving and crosslinking, an instance that dies); closed with the
 * round's file cards and check-ins when it ends (onPush). A round whose file
 * cards stored nothing new is logged at its end, as before.
 */
function auditedRound(host: SqlHost, repo: FossilRepo, repoId: string, logins: Pick<XferContext, 'user' | 'onLogin'>) {
  const users = new Map<string, XferUser | null>();
  let actor: string | null = null;
  let seq: number | null = null;
  const store = new SqlFossilStore(host);
  return {
    repo: {
      ...repo,
      store: {
        ...repo.store,
        commit: async (batch: FossilCommit) =>
          host.transactionSync(() => {
            const result = store.commit(batch);
            const stored = (batch.rows?.length ?? 0) + (batch.pendingAdd?.length ?? 0) + (batch.publish?.length ?? 0);
            if (seq === null && stored > 0) seq = openFossilEvent(host.sql, repoId, actor, stored);
            return result;
          }),
      },
    } satisfies FossilRepo,
    // Who the event names, as xfer decides it: the last login that passed.
    logins: {
      user: async (login: string, projectCode: string) => {
        const user = await logins.user(login, projectCode);
        users.set(login, user);
        return user;
      },
      onLogin: async (login: string, ok: boolean) => {
        await logins.onLogin?.(login, ok);
        const user = users.get(login);
        if (ok && user) actor = user.actor === undefined ? login : user.actor;
      },
    } satisfies Pick<XferContext, 'user' | 'onLogin'>,
    onPush: (p: XferPush) => (seq === null ? addFossilEvent(host.sql, repoId, p.actor, p.files, p.checkins) : closeFossilEvent(host.sql, seq, p.files, p.checkins)),
  };
}

/** Writes `chunks` into `writable`, each write awaited (the reader's pace bounds what is held); a failure cuts the reply short. */
async function pipeChunks(chunks: AsyncIterable<Uint8Array>, writable: WritableStream<Uint8Array>): Promise<void> {
  const writer = writable.getWriter();
  try {
    for await (const c of chunks) await writer.write(c);
    await writer.close();
  } catch (e) {
    console.error('fossil reply cut short', e);
    await writer.abort(e).catch(() => undefined);
  }
}

/**
 * The DO's alarm: repacking slices, each in the request queue. The repack
 * reads without the receive memo, and drops it once the push is surely over
 * (fossil-repack.ts RELEASE_MS).
 */
export function fossilRepackAlarm(host: RepackHost, env: Env): Promise<void> {
  return runRepackAlarm(
    host,
    (repoId) => ({ ...fossilRepo(host, env, repoId), memo: undefined }),
    (fn) => serialized(host, fn),
    () => memos.delete(host),
  );
}

/**
 * Initialises the repository like `fossil new` (project and server codes, the
 * initial empty check-in); a repository already initialised is left as it is.
 * Returns its project code.
 */
/** How a repository starts: as `fossil new` leaves one, or (with `projectCode`) empty, to receive an existing repository's push. */
export type FossilInitOptions = NewRepositoryOptions & { projectCode?: string };

export async function initFossilRepository(host: SqlHost, env: Env, repoId: string, opts: FossilInitOptions, hooks?: FossilHooks): Promise<{ projectCode: string }> {
  const repo = fossilRepo(host, env, repoId);
  return serialized(host, () => ensureInitialised(repo, opts, hooks ?? crosslinkHooks(host, repo)));
}

/** The user name of the initial check-in when the hub admin creates a repository (the admin has no user name). */
export const HUB_CREATOR = 'admin';

async function ensureInitialised(repo: FossilRepo, opts: FossilInitOptions, hooks: FossilHooks): Promise<{ projectCode: string }> {
  const [existing] = await repo.store.getConfig(['project-code']);
  if (existing !== null) return { projectCode: existing.value };
  if (opts.projectCode !== undefined) return emptyRepository(repo, { projectCode: opts.projectCode, projectName: opts.projectName });
  const created = await newRepository(repo, opts);
  await hooks.onArtifacts?.([created.initialCheckin]);
  return { projectCode: created.projectCode };
}
