/**
 * Git smart HTTP routes (gitprotocol-http; notes in docs/git-smart-http.md §1):
 *
 *   GET  /NAME[.git]/info/refs?service=git-upload-pack|git-receive-pack
 *   POST /NAME[.git]/git-upload-pack
 *   POST /NAME[.git]/git-receive-pack
 *
 * The route authorizes (read for upload-pack, write for receive-pack, on the
 * GET and the POST alike; an anonymous read of a repository whose id this
 * isolate knows is checked by the DO instead of D1, see settle), checks the request body's encoding (gzip is
 * decoded by streaming in the DO), answers the push probe, sets the exact content types, and forwards the request to
 * the repository's Durable Object, which runs the protocol (durable/git-http.ts)
 * and streams the answer back. Protocol failures come back as `ERR` pkt-lines
 * inside a 200; HTTP statuses here are only for what git itself expects as
 * statuses: 401/403/404 from the access rules (429 after too many failed logins), 400/403 for a request that is not
 * smart HTTP at all, 415 for a body we cannot decode.
 */
import { Hono, type Context } from 'hono';
import type { Env } from '../env.js';
import { authorize, cachedRepo, forgetRepo } from '../auth.js';
import { CACHED_ACCESS_HEADER, REFUSED_HEADER } from '../durable/access.js';
import { clientAddress } from '../rate-limit.js';
import { loadProtections, protectionsOf, protectionsQuery, PUSH_POLICY_HEADER, type PushPolicy } from '../protections.js';
import { isValidRepoName } from './api.js';
import { requestedProtocolVersion, uploadPackV2Advertisement, type GitService } from '../../shared/protocols/git/advertisement.js';
import { encodePkts } from '../../shared/protocols/git/pkt-line.js';
import { HUB_UPLOAD_FEATURES } from '../durable/git-http.js';
import { drainBody } from '../drain.js';

/** HUB_MAX_PUSH_BYTES when unset: the request body cap of Cloudflare's common plans. */
export const DEFAULT_MAX_PUSH_BYTES = 100 * 1024 * 1024;

/**
 * Largest upload-pack request body (decoded): MAX_WANTS want lines (25 MB: a lazy fetch of a
 * 500k-file checkout), MAX_HAVES haves and MAX_SHALLOWS shallows fit (31.4 MB); streamed (the
 * DO keeps each want in 20 bytes, not the body).
 */
export const MAX_UPLOAD_REQUEST_BYTES = 32 * 1024 * 1024;

/** Upload-pack request bodies up to this size (declared by Content-Length) are read whole before going to the DO. */
const SMALL_UPLOAD_REQUEST_BYTES = 64 * 1024;

/** The realm git shows when it asks for credentials. */
export const REALM = 'hub';

type Vars = Env & { HUB_MAX_PUSH_BYTES?: string };
type Ctx = Context<{ Bindings: Vars }>;

/** The push size cap from HUB_MAX_PUSH_BYTES (bytes), or the default when unset or not a positive integer. */
export function maxPushBytes(env: Vars): number {
  const n = Number(env.HUB_MAX_PUSH_BYTES);
  return Number.isSafeInteger(n) && n > 0 ? n : DEFAULT_MAX_PUSH_BYTES;
}

/** Headers of every smart-HTTP answer: never cached (as http-backend sends them). */
function gitHeaders(contentType: string): Headers {
  return new Headers({
    'content-type': contentType,
    'cache-control': 'no-cache, max-age=0, must-revalidate',
    expires: 'Fri, 01 Jan 1980 00:00:00 GMT',
    pragma: 'no-cache',
  });
}

function text(status: number, message: string, extra: Record<string, string> = {}): Response {
  return new Response(`${message}\n`, { status, headers: { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-cache', ...extra } });
}

/** The repository name of a URL segment: `NAME.git` and `NAME` both name NAME (names never end in .git). */
function repoName(segment: string): string | null {
  const name = segment.endsWith('.git') ? segment.slice(0, -4) : segment;
  return isValidRepoName(name) ? name : null;
}


/**
 * Where a request goes: the repository's Durable Object and id; `cached` when
 * it was found by this isolate's name -> id cache for an anonymous read, which
 * the DO then checks (exists, public) before serving it.
 */
type Target = { stub: DurableObjectStub; id: string; name: string; cached?: boolean; pushPolicy?: string };

/** The answer to an anonymous caller the repository is not there for (missing and private look alike). */
const anonymousRefusal = () => text(401, 'authentication required', { 'www-authenticate': `Basic realm="${REALM}"` });

/**
 * Authorizes `service` on the repository named by the URL; the Durable Object
 * stub and repository id, or the HTTP answer refusing it. An anonymous read of
 * a git repository this isolate has seen skips D1 unless `fresh`.
 */
async function access(c: Ctx, service: GitService, fresh = false, probe = false): Promise<Target | Response> {
  const name = repoName(c.req.param('repo') ?? '');
  if (name === null) return text(404, 'repository not found');
  const need = service === 'git-receive-pack' ? 'write' : 'read';
  const known = fresh || need !== 'read' || c.req.header('authorization') ? undefined : cachedRepo(name);
  // Only git ids are taken on trust: another kind's 404 would tell an anonymous caller a private name exists.
  if (known?.kind === 'git') return { stub: c.env.REPO.get(c.env.REPO.idFromName(known.id)), id: known.id, name, cached: true };
  // A push's branch protection rules are read in the access check's D1 batch (one round trip); not for
  // what may be git's probe (answered here without the DO: a read for nothing on every large push).
  const rules = service === 'git-receive-pack' && c.req.method === 'POST' && !probe ? protectionsQuery(c.env, name) : undefined;
  const a = await authorize(c.env, c.req.header('authorization'), name, need, clientAddress(c.req.raw.headers), rules);
  if (!a.ok) {
    if (a.status === 429) return text(429, 'too many failed logins; try again later', { 'retry-after': String(a.retryAfter) });
    if (a.status === 401) return anonymousRefusal();
    return a.status === 403 ? text(403, `${need} access denied`) : text(404, 'repository not found');
  }
  if (a.repo.kind !== 'git') return text(404, 'repository not found');
  const stub = c.env.REPO.get(c.env.REPO.idFromName(a.repo.id));
  // A push carries the pusher and the branch protection rules to the DO (worker/protections.ts).
  if (rules !== undefined) {
    const policy: PushPolicy = { actor: a.who.kind === 'user' ? a.who.name : null, role: a.role, rules: a.also ? protectionsOf(a.also) : await loadProtections(c.env, name) };
    // Names and patterns are plain ASCII (validated), so JSON is a safe header value.
    return { stub, id: a.repo.id, name, pushPolicy: JSON.stringify(policy) };
  }
  return { stub, id: a.repo.id, name };
}

/**
 * The answer to a request sent to `target`. When the DO refused one routed on
 * the cache (durable/access.ts): `private` is the anonymous 401; `gone`
 * (deleted, perhaps created again under a new id) drops the entry and, when
 * the request can be sent again (`replayable`: no body, or its bytes), it is
 * authorized afresh from D1 and sent again; otherwise it gets the 401 of a
 * missing repository.
 */
async function settle(c: Ctx, service: GitService, target: Target, res: Response, replayable: boolean, send: (target: Target) => Promise<Response>): Promise<Response> {
  const refused = target.cached ? res.headers.get(REFUSED_HEADER) : null;
  if (refused === null) return res;
  await res.body?.cancel();
  if (refused === 'gone') forgetRepo(target.name, target.id);
  if (refused !== 'gone' || !replayable) return anonymousRefusal();
  const again = await access(c, service, true);
  return again instanceof Response ? again : send(again);
}

/** Forwards to the DO and gives its streamed answer the service's headers. */
async function forward(
  c: Ctx,
  target: Target,
  path: string,
  contentType: string,
  init: { method: string; body?: ReadableStream<Uint8Array> | Uint8Array | null; maxBody?: number; gzip?: boolean },
): Promise<Response> {
  const headers = new Headers({ 'x-hub-repo-id': target.id, 'x-hub-max-body': String(init.maxBody ?? 0) });
  // Decoded by streaming in the DO (DecompressionStream), where a corrupt stream is seen as one.
  if (init.gzip) headers.set('x-hub-gzip', '1');
  if (target.pushPolicy !== undefined) headers.set(PUSH_POLICY_HEADER, target.pushPolicy);
  if (target.cached) headers.set(CACHED_ACCESS_HEADER, 'anonymous');
  const protocol = c.req.header('git-protocol');
  if (protocol) headers.set('git-protocol', protocol);
  const relay = init.body instanceof ReadableStream ? relayBody(init.body, MAX_DRAIN_BYTES) : null;
  const res = await target.stub.fetch(`https://repo${path}`, { method: init.method, headers, body: relay?.body ?? init.body ?? null });
  // The DO's refusal of a cached route goes back to settle() as it is, the client's upload drained.
  if (res.headers.has(REFUSED_HEADER)) {
    await relay?.settle();
    return res;
  }
  const out = relay && res.body ? res.body.pipeThrough(new TransformStream<Uint8Array, Uint8Array>({ flush: () => relay.settle() })) : res.body;
  if (res.status !== 200) return new Response(out, { status: res.status, headers: { 'content-type': 'text/plain; charset=utf-8' } });
  return new Response(out, { status: 200, headers: gitHeaders(contentType) });
}

/**
 * Request bytes read and dropped after the DO's answer, so a client can finish
 * the upload it is still sending (git waits on it before reading the answer).
 * Cloudflare refuses bodies over the plan's cap (100 MB on the common plans)
 * before the Worker runs, so this only bounds local runs.
 */
const MAX_DRAIN_BYTES = 128 * 1024 * 1024;

/**
 * The client's request body relayed to the DO, and `settle`, run before the
 * answer's last byte. The body is piped natively (pipeTo an
 * IdentityTransformStream): a JS pull per chunk cost ~3 s of CPU per 100 MB
 * pushed. The DO reads its body to the end (up to its own drain bound) before
 * answering; if it stopped earlier, `settle` reads what is left (at most
 * `drainLimit` bytes, so git is not left blocked on its upload) and cancels
 * the rest. Without that, workerd kept pumping the body after the answer was
 * complete and threw an uncaught "Can't read from request stream after
 * response has been sent", restarting the isolate: the next request got a 503
 * or hung.
 */
function relayBody(body: ReadableStream<Uint8Array>, drainLimit: number): { body: ReadableStream<Uint8Array>; settle(): Promise<void> } {
  const relay = new IdentityTransformStream();
  // preventCancel: if the DO lets go of its end, the client's body stays ours to drain.
  const piped = body.pipeTo(relay.writable, { preventCancel: true }).then(
    () => true,
    () => false,
  );
  const settle = async () => {
    // The DO has answered: its end is done (read to the end) or released soon after.
    const done = await Promise.race([piped, new Promise<null>((r) => setTimeout(() => r(null), SETTLE_WAIT_MS))]);
    if (done === true || body.locked) return;
    await drainBody(body, drainLimit);
  };
  return { body: relay.readable as ReadableStream<Uint8Array>, settle };
}

/** How long settle waits for the pipe to finish once the DO has answered. */
const SETTLE_WAIT_MS = 1000;

/** The routes, mounted at the root of the app. */
export const git = new Hono<{ Bindings: Vars }>();

git.get('/:repo/info/refs', async (c) => {
  const service = c.req.query('service');
  // A client without `service=` wants the dumb protocol (static files), which the hub does not serve.
  if (service === undefined) return text(400, 'the dumb HTTP protocol is not supported; use git over smart HTTP');
  if (service !== 'git-upload-pack' && service !== 'git-receive-pack') return text(403, `unsupported service: ${service.slice(0, 80)}`);
  const target = await access(c, service);
  if (target instanceof Response) return target;
  const send = async (target: Target) => {
    // The v2 advertisement lists capabilities only, no refs: answered here once D1 was read,
    // which saves a Durable Object round trip (a no-op fetch is this plus one ls-refs). Routed
    // on the cache, the DO answers it, as it checks the repository is there and public.
    if (!target.cached && service === 'git-upload-pack' && requestedProtocolVersion(c.req.header('git-protocol') ?? null) === 2) {
      return new Response(encodePkts(uploadPackV2Advertisement(HUB_UPLOAD_FEATURES)), { status: 200, headers: gitHeaders(`application/x-${service}-advertisement`) });
    }
    return forward(c, target, `/info/refs?service=${service}`, `application/x-${service}-advertisement`, { method: 'GET' });
  };
  return settle(c, service, target, await send(target), true, send);
});

for (const service of ['git-upload-pack', 'git-receive-pack'] as const) {
  git.post(`/:repo/${service}`, async (c) => {
    const encoding = c.req.header('content-encoding')?.trim().toLowerCase();
    const gzip = encoding === 'gzip' || encoding === 'x-gzip';
    const length = Number(c.req.header('content-length') ?? NaN);
    const probeLike = !gzip && length === 4;
    const target = await access(c, service, false, probeLike);
    if (target instanceof Response) return target;
    const expected = `application/x-${service}-request`;
    const type = c.req.header('content-type')?.split(';')[0].trim().toLowerCase();
    // As http-backend: a POST of anything else is not a git request.
    if (type !== expected) return text(415, `expected Content-Type ${expected}`);
    const limit = service === 'git-receive-pack' ? maxPushBytes(c.env) : MAX_UPLOAD_REQUEST_BYTES;
    if (encoding && !gzip && encoding !== 'identity') return text(415, `unsupported Content-Encoding: ${encoding.slice(0, 40)}`);
    const resultType = `application/x-${service}-result`;
    // The size is counted in the DO as the body streams, even when Content-Length
    // declares it too large: refusing here without reading the body left git
    // waiting minutes on its upload, and only the DO knows to answer on band 3.
    let body: ReadableStream<Uint8Array> | Uint8Array | null = c.req.raw.body;
    if (probeLike && body !== null) {
      // The probe git sends before a chunked (large) POST, to have credentials
      // checked on a body it can replay: exactly `0000`, answered with nothing.
      const bytes = new Uint8Array(await c.req.arrayBuffer());
      if (bytes.length === 4 && new TextDecoder().decode(bytes) === '0000') {
        // Answered without the DO: a cached route's access is checked from D1 first.
        const checked = target.cached ? await access(c, service, true) : target;
        return checked instanceof Response ? checked : new Response(null, { status: 200, headers: gitHeaders(resultType) });
      }
      // Four bytes that are not the probe go to the DO as they are: too short for a ref command, so
      // the branch rules the probe skipped could not apply (no push policy header needed).
      body = bytes;
    } else if (service === 'git-upload-pack' && body !== null && length >= 0 && length <= SMALL_UPLOAD_REQUEST_BYTES) {
      // A small fetch request (ls-refs, a few wants and haves) goes to the DO as
      // bytes: no relay stream and no answer-side transform for a few hundred bytes.
      body = new Uint8Array(await c.req.arrayBuffer());
    }
    const send = (target: Target) => forward(c, target, `/${service}`, resultType, { method: 'POST', body, maxBody: limit, gzip });
    return settle(c, service, target, await send(target), !(body instanceof ReadableStream), send);
  });
}

// Any other method on these paths: 405 naming the ones taken, as http-backend answers (for
// every name alike, so before any access check).
git.all('/:repo/info/refs', () => text(405, 'method not allowed', { allow: 'GET, HEAD' }));
for (const service of ['git-upload-pack', 'git-receive-pack']) git.all(`/:repo/${service}`, () => text(405, 'method not allowed', { allow: 'POST' }));
