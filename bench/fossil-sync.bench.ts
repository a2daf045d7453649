/**
 * Fossil hosting, end to end: the hub under workerd + miniflare (startHub) beside `fossil
 * server --repolist`, in one run, on the same repositories. Real fossil 2.21
 * clients do each operation against both:
 *
 *   push     `fossil push` of the whole corpus into an empty repository
 *            (same project code, as a first push to a new remote is)
 *   clone    `fossil clone` (full)
 *   no-op    `fossil sync` in that clone (nothing new either way)
 *
 * Corpora: the git corpora of bench/git-corpus.ts converted once with
 * `git fast-export --all | fossil import --git` and cached under bench/.work/
 * (git-ignored). Reported per operation: wall time of both and the ratio,
 * CPU seconds of workerd and of fossil server with its per-connection
 * children (reaped, so counted through cutime/cstime), and workerd's peak RSS
 * growth during the operation (sampled every 25 ms from /proc).
 *
 * Each fossil client run is bounded (OP_TIMEOUT_MS): a hub operation that
 * fails or times out is recorded as a `failed:` row and the operations that
 * need it are skipped, instead of stalling or aborting the whole bench. The
 * hub's clone is checked against the corpus (every artifact present) and
 * with `fossil test-integrity`.
 *
 * BENCH_QUICK=1: only the small corpus. BENCH_FOSSIL_CORPORA=large (or
 * small): only that corpus. BENCH_RSS_TRACE=FILE: appends workerd's RSS,
 * sampled each second during the hub's operations, to FILE (where memory grows).
 */
import { spawnSync } from 'node:child_process';
import { appendFileSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, renameSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { api } from '../test/e2e/hub-client.js';
import { freePort, startHub, type Hub } from '../test/e2e/hub-server.js';
import { check, fossilEnv, runFossil, runFossilAsync, startFossilServer } from '../test/e2e/fossil-client.js';
import { heapMonitor, workerSession, type CdpSession } from './cdp.js';
import { benchGitEnv, corpus, corpusDir, SMALL, type CorpusSpec } from './git-corpus.js';
import type { BenchResult, BenchSuite } from './harness.js';
import { cpuSeconds, findInTree, rssBytes, sampleRss, best, measureTree, type Sample } from './proc.js';
import { QUIET_MS } from '../worker/durable/fossil-repack.js';

const GROUP = 'fossil hosting (hub vs fossil server)';
const WORK = new URL('./.work/', import.meta.url).pathname;
const QUICK = process.env.BENCH_QUICK === '1';
/** Runs per operation on the small corpus (best wall kept); the large one runs once. */
const SMALL_RUNS = 3;
/** Bump when the conversion changes, so cached fossil repositories are rebuilt. */
const VERSION = 2;
/**
 * Most time the bench waits for the hub's background repack after a push
 * (on the large corpus it runs for many minutes on a loaded 2-core machine);
 * whatever is left runs during the clone and is counted there.
 */
const SETTLE_MAX_MS = 3 * 60 * 1000;
/** Most time one fossil client run may take (a stuck server must not stall the whole bench). */
const OP_TIMEOUT_MS = 10 * 60 * 1000;

/**
 * The large fossil corpus: several hundred MB in a few thousand check-ins
 * (3,000: fossil import and the pushes of both servers stay within minutes on
 * a 2-core machine). Content: 12 incompressible 2 MB binaries, one changed
 * every 10 check-ins (a third replaced, the rest patched: fossil deltas), new
 * 8-24 KB text files, hot text files edited. Conversion (v2): about 270 MB of
 * repository file; uncompressed, ~1.2 GB of artifacts, ~0.46 GB of which are
 * the 3,000 manifests (each lists every file, up to ~3,400).
 */
export const FOSSIL_LARGE: CorpusSpec = { name: 'fossil-large', seed: 13, commits: 3_000, hotFiles: 400, newFileBytes: 16_000, binaries: 12, binaryBytes: 2_000_000, binaryEvery: 10, noRepack: true };

interface Op {
  name: string;
  goal: number;
}

const OPS: Op[] = [
  { name: 'full push into an empty repository', goal: 1.0 },
  { name: 'full clone', goal: 1.1 },
  { name: 'no-op sync', goal: 1.5 },
];


interface FossilCorpus {
  name: string;
  file: string;
  bytes: number;
  /** Uncompressed size of all artifacts. */
  content: number;
  checkins: number;
  artifacts: number;
}

function sql(home: string, repo: string, query: string): string {
  return check(runFossil(home, ['sql', '-R', repo, query]), 'fossil sql').stdout.trim().replace(/^'|'$/g, '');
}

/** The fossil repository converted from the git corpus `spec` (cached). */
async function fossilCorpus(spec: CorpusSpec, log: (s: string) => void): Promise<FossilCorpus> {
  const file = join(WORK, `fossil-${spec.name}-v${VERSION}.fossil`);
  const home = join(WORK, 'fossil-home');
  mkdirSync(home, { recursive: true });
  // The git corpus of a fossil-only spec is an intermediate: cached by name only (not
  // by spec), so it is removed before a rebuild (a stale one may hold an older spec) and after.
  const intermediate = spec !== SMALL;
  if (!existsSync(file)) {
    if (intermediate) rmSync(corpusDir(spec, WORK), { recursive: true, force: true });
    const git = await corpus(spec, WORK, log);
    log(`converting ${spec.name} to fossil (fossil import --git)...`);
    const t0 = performance.now();
    const tmp = `${file}.tmp`;
    rmSync(tmp, { force: true });
    // git fast-export | fossil import --git, streamed through a pipe.
    const r = spawnSync('sh', ['-c', `git -C "${git.dir}" fast-export --all | fossil import --git "${tmp}"`], { env: { ...benchGitEnv(home), ...fossilEnv(home) }, encoding: 'utf8', maxBuffer: 1 << 26 });
    if (r.status !== 0) throw new Error(`fossil import failed: ${r.stderr}`);
    renameSync(tmp, file);
    if (intermediate) rmSync(git.dir, { recursive: true, force: true });
    log(`  done in ${((performance.now() - t0) / 1000).toFixed(0)} s`);
  }
  return {
    name: spec.name,
    file,
    bytes: statSync(file).size,
    content: Number(sql(home, file, `SELECT sum(size) FROM blob WHERE size >= 0`)),
    checkins: Number(sql(home, file, `SELECT count(*) FROM event WHERE type = 'ci'`)),
    artifacts: Number(sql(home, file, `SELECT count(*) FROM blob WHERE size >= 0`)),
  };
}

/** BENCH_RSS_TRACE: where one hub operation's memory grows, one line per second. */
const RSS_TRACE = process.env.BENCH_RSS_TRACE;

async function measure(server: { kind: 'hub'; pids: number[]; cdp: CdpSession } | { kind: 'fossil'; pid: number }, fn: () => Promise<void>, label = ''): Promise<Sample> {
  if (server.kind === 'hub') {
    const cpu0 = server.pids.reduce((n, p) => n + cpuSeconds(p), 0);
    const rss0 = server.pids.reduce((n, p) => n + rssBytes(p), 0);
    const sampler = sampleRss(server.pids);
    const heap = heapMonitor([server.cdp]);
    const t = performance.now();
    const trace = RSS_TRACE
      ? setInterval(() => {
          const rss = server.pids.reduce((n, p) => n + rssBytes(p), 0);
          const cpu = server.pids.reduce((n, p) => n + cpuSeconds(p), 0) - cpu0;
          appendFileSync(RSS_TRACE, `${label}\t${((performance.now() - t) / 1000).toFixed(0)} s\trss ${mb(rss)} MiB (+${mb(rss - rss0)})\tcpu ${cpu.toFixed(1)} s\n`);
        }, 1000)
      : undefined;
    let error: unknown;
    try {
      await fn();
    } catch (e) {
      error = e;
    } finally {
      clearInterval(trace);
    }
    const wall = (performance.now() - t) / 1000;
    const peak = sampler.stop();
    const isolate = [...(await heap.stop()).values()][0];
    const sample = { wall, cpu: server.pids.reduce((n, p) => n + cpuSeconds(p), 0) - cpu0, rss: Math.max(0, peak - rss0), heap: isolate?.used };
    // A failed operation still reports what it cost up to the failure.
    if (error !== undefined) throw Object.assign(error instanceof Error ? error : new Error(String(error)), { sample });
    return sample;
  }
  return measureTree(server.pid, fn);
}

/** Quiet seconds in a row that count as idle: more than the repack's QUIET_MS wait after the last request, so an alarm about to start is not taken for idleness. */
const IDLE_SECONDS = Math.ceil(QUIET_MS / 1000) + 2;

/**
 * Waits until workerd is idle (under 5% of a core for IDLE_SECONDS seconds in
 * a row), at most `maxMs`: the hub's background work after an operation (the
 * repack alarm after a push). Wall and workerd CPU seconds it took.
 */
async function settle(pids: number[], maxMs = SETTLE_MAX_MS): Promise<{ wall: number; cpu: number; idle: boolean }> {
  const cpu = () => pids.reduce((n, p) => n + cpuSeconds(p), 0);
  const t = performance.now();
  const c0 = cpu();
  let last = c0;
  let quiet = 0;
  while (performance.now() - t < maxMs) {
    await new Promise((r) => setTimeout(r, 1000));
    const now = cpu();
    quiet = now - last < 0.05 ? quiet + 1 : 0;
    if (quiet >= IDLE_SECONDS) return { wall: (performance.now() - t) / 1000, cpu: now - c0, idle: true };
    last = now;
  }
  return { wall: (performance.now() - t) / 1000, cpu: cpu() - c0, idle: false };
}

/** Runs fossil (bounded by OP_TIMEOUT_MS); throws with its output unless it exits 0 and printed no sync error. */
async function fossil(home: string, args: string[], cwd = home): Promise<string> {
  const t = performance.now();
  const r = await runFossilAsync(home, args, cwd, OP_TIMEOUT_MS);
  // fossil's progress lines repeat (one per round): the last of them, then what came after.
  const lines = r.output.replace(/\r/g, '\n').split('\n').map((l) => l.replace(/\s+/g, ' ').trim()).filter((l) => l !== '');
  const progress = lines.filter((l) => l.startsWith('Round-trips:')).pop();
  const tail = [progress, ...lines.filter((l) => !l.startsWith('Round-trips:')).slice(-4)].filter(Boolean).join(' / ');
  if (r.status === null && performance.now() - t >= OP_TIMEOUT_MS - 1000) throw new Error(`timed out after ${OP_TIMEOUT_MS / 60000} min; last output: ${tail.slice(-600)}`);
  if (r.status !== 0 || /^(Error|server says|server sends error)/m.test(r.output)) throw new Error(`fossil ${args[0]} failed (${r.status}): ${tail.slice(-600)}`);
  return r.output;
}

/** `fossil sql` whose output may be large (the artifact lists of the large corpus). */
function sqlLarge(home: string, repo: string, query: string): string {
  const r = spawnSync('fossil', ['sql', '-R', repo, query], { cwd: home, env: fossilEnv(home), encoding: 'utf8', maxBuffer: 1 << 28, timeout: OP_TIMEOUT_MS });
  if (r.status !== 0) throw new Error(`fossil sql failed (${r.status}): ${r.stderr}`);
  return r.stdout;
}

async function createHubRepo(hub: Hub, name: string): Promise<void> {
  const res = await api(hub, 'POST', '/repos', { name, kind: 'fossil', public: true });
  if (res.status !== 201) throw new Error(`creating ${name}: ${res.status} ${res.text}`);
}

interface Result {
  corpus: FossilCorpus;
  op: Op;
  hub: Sample;
  ref: Sample;
  /** Why the hub's operation could not be measured (or its result was wrong). */
  failed?: string;
  /** Checks of the result (the hub's clone: artifacts present, `fossil test-integrity`). */
  note?: string;
}

const oneLine = (e: unknown) => ((e as Error).message ?? String(e)).replace(/\s+/g, ' ').slice(0, 400);

async function runCorpus(c: FossilCorpus, hub: Hub, hubUrl: string, hubPids: number[], cdp: CdpSession, ref: { url: string; pid: number }, refRoot: string, tmp: string, log: (s: string) => void): Promise<Result[]> {
  const runs = c.name.startsWith('fossil-large') ? 1 : SMALL_RUNS;
  const home = join(tmp, 'home');
  mkdirSync(home, { recursive: true });
  const hubAuth = hubUrl.replace('http://', `http://bench:${hub.adminToken}@`);
  const refAuth = ref.url.replace('http://', 'http://bench:bench@');
  const hubServer = { kind: 'hub' as const, pids: hubPids, cdp };
  const refServer = { kind: 'fossil' as const, pid: ref.pid };
  const results: Result[] = [];
  const zero: Sample = { wall: NaN, cpu: NaN };
  /** Runs op on both servers; false if the hub's side failed (later operations that need it are skipped). */
  const both = async (op: Op, hubFn: (i: number) => Promise<void>, refFn: (i: number) => Promise<void>): Promise<boolean> => {
    const h: Sample[] = [];
    const r: Sample[] = [];
    let failed: string | undefined;
    let refFailed: string | undefined;
    for (let i = 0; i < runs && failed === undefined; i++) {
      try {
        r.push(await measure(refServer, () => refFn(i)));
      } catch (e) {
        refFailed = oneLine(e);
        log(`  ${c.name} / ${op.name}: fossil server FAILED: ${refFailed}`);
      }
      try {
        h.push(await measure(hubServer, () => hubFn(i), `${c.name} ${op.name} ${i}`));
      } catch (e) {
        failed = `after ${((e as { sample?: Sample }).sample?.wall ?? 0).toFixed(0)} s: ${oneLine(e)}`;
        const partial = (e as { sample?: Sample }).sample;
        if (partial) h.push(partial);
      }
    }
    const res: Result = { corpus: c, op, hub: h.length > 0 ? best(h) : zero, ref: r.length > 0 ? best(r) : zero, failed, note: refFailed && `fossil server failed: ${refFailed}` };
    if (failed) log(`  ${c.name} / ${op.name}: hub FAILED: ${failed}`);
    log(`  ${c.name} / ${op.name}: hub ${res.hub.wall.toFixed(2)} s (cpu ${res.hub.cpu.toFixed(2)} s, rss +${mb(res.hub.rss ?? 0)} MiB, isolate heap peak ${mb(res.hub.heap ?? 0)} MiB), fossil server ${res.ref.wall.toFixed(2)} s (cpu ${res.ref.cpu.toFixed(2)} s)`);
    results.push(res);
    return failed === undefined;
  };
  const skip = (op: Op, why: string) => {
    results.push({ corpus: c, op, hub: zero, ref: zero, failed: `not run: ${why}` });
    log(`  ${c.name} / ${op.name}: not run: ${why}`);
  };

  // Push targets: per run, an empty repository on each side and a copy of the
  // corpus carrying its project code (a project code is not part of any artifact).
  const hubName = (i: number) => `${c.name}-${i}`;
  const refName = (i: number) => `${c.name}-push-${i}`;
  const hubCopy = (i: number) => join(tmp, `hub-src-${i}.fossil`);
  const refCopy = (i: number) => join(tmp, `ref-src-${i}.fossil`);
  for (let i = 0; i < runs; i++) {
    await createHubRepo(hub, hubName(i));
    const probe = join(tmp, `probe-${i}.fossil`);
    check(runFossil(home, ['clone', `${hubUrl}/${hubName(i)}`, probe]), 'clone of the empty hub repository');
    const hubCode = sql(home, probe, `SELECT value FROM config WHERE name = 'project-code'`);
    rmSync(probe);
    const empty = join(refRoot, `${refName(i)}.fossil`);
    check(runFossil(home, ['new', empty]), 'fossil new');
    check(runFossil(home, ['user', 'new', 'bench', 'bench@example.com', 'bench', '-R', empty]), 'fossil user new');
    check(runFossil(home, ['user', 'capabilities', 'bench', 'gioy', '-R', empty]), 'fossil user capabilities');
    const refCode = sql(home, empty, `SELECT value FROM config WHERE name = 'project-code'`);
    for (const [copy, code] of [
      [hubCopy(i), hubCode],
      [refCopy(i), refCode],
    ] as const) {
      copyFileSync(c.file, copy);
      sql(home, copy, `UPDATE config SET value = '${code}' WHERE name = 'project-code'`);
    }
  }
  const pushed = await both(
    OPS[0],
    async (i) => void (await fossil(home, ['push', '-R', hubCopy(i), `${hubAuth}/${hubName(i)}`])),
    async (i) => void (await fossil(home, ['push', '-R', refCopy(i), `${refAuth}/${refName(i)}`])),
  );
  for (let i = 0; i < runs; i++) rmSync(refCopy(i), { force: true }), rmSync(hubCopy(i), { force: true });
  for (let i = 0; i < runs; i++) rmSync(join(refRoot, `${refName(i)}.fossil`), { force: true });
  if (!pushed) {
    skip(OPS[1], 'the push failed');
    skip(OPS[2], 'the push failed');
    return results;
  }
  // The hub's repack after the push (a DO alarm) runs in the background: waited for, so the clone measures serving alone.
  const bg = await settle(hubPids);
  const pushResult = results[results.length - 1];
  pushResult.note = [pushResult.note, `then background repack: ${bg.wall.toFixed(0)} s, workerd CPU ${bg.cpu.toFixed(1)} s${bg.idle ? '' : ' (still busy at the bound)'}`].filter(Boolean).join('; ');
  log(`  ${c.name}: hub settled after the push in ${bg.wall.toFixed(0)} s (workerd CPU ${bg.cpu.toFixed(1)} s)${bg.idle ? '' : ', still busy'}`);

  // Clones: fossil server serves the corpus itself (through a link), the hub what was pushed to it.
  const served = `corpus-${c.name}`;
  const dest = (what: string, i: number) => join(tmp, `${what}-${i}.fossil`);
  const clone = (what: string, url: string) => async (i: number) => {
    rmSync(dest(what, i), { force: true });
    await fossil(home, ['clone', url, dest(what, i)]);
  };
  const cloned = await both(OPS[1], clone('hub-clone', `${hubUrl}/${hubName(0)}`), clone('ref-clone', `${ref.url}/${served}`));
  if (!cloned) {
    skip(OPS[2], 'the clone failed');
    return results;
  }
  // The hub's clone must hold the corpus's artifacts (plus the hub repository's own
  // initial check-in) and pass fossil's own integrity check.
  const cloneResult = results[results.length - 1];
  const artifacts = (f: string) => new Set(sqlLarge(home, f, `SELECT uuid FROM blob WHERE size >= 0`).split('\n').map((l) => l.trim().replace(/^'|'$/g, '')).filter((l) => l !== ''));
  const mine = artifacts(dest('hub-clone', 0));
  const theirs = artifacts(c.file);
  const missing = [...theirs].filter((h) => !mine.has(h));
  const t = performance.now();
  const integrity = await runFossilAsync(home, ['test-integrity', '-R', dest('hub-clone', 0)], home, OP_TIMEOUT_MS);
  const counts = /(\d+) non-phantom blobs \(out of (\d+) total\) checked:\s+(\d+) errors/.exec(integrity.output);
  const dbOk = /integrity-check: ok/.test(integrity.output);
  const integrityLine = counts ? `${counts[1]} blobs checked, ${counts[3]} errors; database ${dbOk ? 'ok' : 'NOT ok'}` : integrity.output.trim().slice(-200);
  log(`  ${c.name}: hub clone holds ${mine.size} artifacts (${missing.length} of the corpus's ${theirs.size} missing); test-integrity (${((performance.now() - t) / 1000).toFixed(0)} s): ${integrityLine}`);
  if (missing.length > 0 || integrity.status !== 0 || !counts || counts[3] !== '0' || !dbOk) {
    cloneResult.failed = `wrong clone: ${missing.length} of ${theirs.size} artifacts missing; test-integrity exit ${integrity.status}: ${integrityLine.slice(0, 200)}`;
    skip(OPS[2], 'the clone is wrong');
    return results;
  }
  cloneResult.note = [cloneResult.note, `clone checked: all ${theirs.size} artifacts, test-integrity "${integrityLine}"`].filter(Boolean).join('; ');
  // The first sync after a clone brings what the server made since (clusters): not a no-op yet.
  try {
    await fossil(home, ['sync', '-R', dest('hub-clone', 0)]);
  } catch (e) {
    results.push({ corpus: c, op: OPS[2], hub: zero, ref: zero, failed: `first sync after the clone: ${oneLine(e)}` });
    return results;
  }
  await fossil(home, ['sync', '-R', dest('ref-clone', 0)]).catch((e) => log(`  ${c.name}: fossil server's first sync failed: ${oneLine(e)}`));
  await both(
    OPS[2],
    async () => void (await fossil(home, ['sync', '-R', dest('hub-clone', 0)])),
    async () => void (await fossil(home, ['sync', '-R', dest('ref-clone', 0)])),
  );
  for (const what of ['hub-clone', 'ref-clone']) for (let i = 0; i < runs; i++) rmSync(dest(what, i), { force: true });
  return results;
}

const mb = (n: number) => (n / 2 ** 20).toFixed(0);

function table(results: Result[]): BenchResult['tables'][number] {
  const corpora = [...new Set(results.map((r) => r.corpus))];
  const intro = [
    'Real `fossil` 2.21 clients against the hub served as `npm start` serves it (workerd + miniflare: local R2, D1, Durable Objects; scripts/dev.mjs, without wrangler dev\'s local proxy) and against `fossil server --repolist`, one after the other on the same machine in the same run (`npm run bench`; `npx tsx bench/run.ts fossil` to print only, `BENCH_QUICK=1` for the small corpus alone).',
    '',
    'The clients reach workerd directly, as they reach fossil server (no relay since 1c97b8a: workerd keeps an HTTP/1.0 connection open 5 s after answering, and fossil 2.21 reads a reply under 1000 bytes until the connection closes, so the hub pads its short replies to 1000 bytes; before, the hub was reached through the HTTP/1.0 relay of test/e2e/fossil-client.ts, whose cost was in the hub\'s wall times).',
    '',
    'Corpora: the generated git histories of bench/git-corpus.ts converted with `git fast-export --all | fossil import --git` (cached under bench/.work/): ' +
      corpora.map((c) => `**${c.name}**: ${c.checkins} check-ins, ${c.artifacts} artifacts (${mb(c.content)} MiB uncompressed), ${mb(c.bytes)} MiB repository file`).join('; ') +
      '. The push goes into an empty repository with the same project code (a new hub repository, a `fossil new` one for fossil server, with a user holding `i`); clones read what was pushed (hub) or the corpus itself (fossil server); the no-op sync runs in the first clone. The hub repacks pushed deltas into fossil\'s reverse deltas, then copies the records into 4 MiB segments in clone order (compaction, so a clone round reads one or two ranges), in a Durable Object alarm after the sync requests (worker/durable/fossil-repack.ts: slices of ~100 ms in the repository\'s request queue, re-armed until done), and the bench waits for workerd to go idle after the push before cloning, at most ' + SETTLE_MAX_MS / 60000 + ' minutes (that wait, with its workerd CPU, is in the push row\'s checks; what is left runs during the clone).',
    '',
    `Each fossil client run is bounded at ${OP_TIMEOUT_MS / 60000} minutes; a hub operation that fails, times out or leaves a wrong clone (an artifact of the corpus missing, or \`fossil test-integrity\` not clean) is a \`failed:\` row.`,
    '',
    `Small corpus: best wall time of ${SMALL_RUNS} runs (CPU: least of them, memory: most); large corpus: one run. Hub CPU = workerd's utime+stime (it also runs miniflare's local R2/D1/DO simulators); fossil CPU = fossil server and its per-connection children. Memory = peak of workerd's VmRSS during the operation minus its value just before (goal: under 128 MiB). The operations of a corpus run in one workerd process, the push first: memory the push grew and freed is kept by the allocator and reused, so a clone's growth here is less than a clone's from a freshly started process. Isolate heap peak = the most the Worker's own isolate (the Worker and its Durable Objects, without miniflare's simulators) had in its JS heap plus ArrayBuffer memory, polled over the inspector every 100 ms (\`Runtime.getHeapUsage\` usedSize + backingStorageSize), what Cloudflare's 128 MB per-isolate limit is about. It counts garbage not yet collected, the previous operation's included (a forced GC before each operation, by heap snapshot, left V8 slower: small push CPU 0.32 -> 0.50 s), and V8 collects sooner under a limit, so it is an upper bound; the RSS growth also holds miniflare's simulators, V8's reserved but unused heap, and allocator slack.`,
  ];
  const header = ['corpus', 'operation', 'hub s', 'fossil server s', 'wall ratio', 'goal', 'hub CPU s', 'fossil CPU s', 'CPU ratio', 'hub RSS growth MiB', 'isolate heap peak MiB', 'checks'];
  const cell = (x: number) => (Number.isFinite(x) ? x.toFixed(2) : '');
  const rows = results.map((r) => {
    const note = (r.note ?? '').replace(/\|/g, '/');
    if (r.failed) return [r.corpus.name, r.op.name, `failed: ${r.failed.replace(/\|/g, '/')}`, cell(r.ref.wall), '', `<= ${r.op.goal}x (missed)`, cell(r.hub.cpu), cell(r.ref.cpu), '', r.hub.rss === undefined ? '' : mb(r.hub.rss), r.hub.heap === undefined ? '' : mb(r.hub.heap), note];
    const ratio = r.hub.wall / r.ref.wall;
    const cpuRatio = r.ref.cpu > 0 ? r.hub.cpu / r.ref.cpu : Infinity;
    return [
      r.corpus.name,
      r.op.name,
      r.hub.wall.toFixed(2),
      r.ref.wall.toFixed(2),
      `${ratio.toFixed(2)}x`,
      `<= ${r.op.goal}x ${ratio <= r.op.goal ? '(met)' : '(missed)'}`,
      r.hub.cpu.toFixed(2),
      r.ref.cpu.toFixed(2),
      Number.isFinite(cpuRatio) ? `${cpuRatio.toFixed(2)}x` : 'n/a',
      `${mb(r.hub.rss ?? 0)}${(r.hub.rss ?? 0) < 128 * 2 ** 20 ? '' : ' (over 128)'}`,
      r.hub.heap === undefined ? '' : `${mb(r.hub.heap)}${r.hub.heap < 128 * 2 ** 20 ? '' : ' (over 128)'}`,
      note,
    ];
  });
  return { group: GROUP, intro, header, rows };
}

export const suite: BenchSuite = async () => {
  if (spawnSync('fossil', ['version']).status !== 0) {
    return { rows: [], tables: [{ group: GROUP, intro: ['Not run: fossil is missing (apt-get install -y fossil).'], header: [], rows: [] }] };
  }
  const log = (s: string) => console.error(s);
  mkdirSync(WORK, { recursive: true });
  const only = process.env.BENCH_FOSSIL_CORPORA;
  const corpora: FossilCorpus[] = [];
  if (only !== 'large') corpora.push(await fossilCorpus(SMALL, log));
  if (!QUICK && only !== 'small') corpora.push(await fossilCorpus(FOSSIL_LARGE, log));
  const tmp = mkdtempSync(join(WORK, 'fossil-run-'));
  const refRoot = join(tmp, 'srv');
  mkdirSync(refRoot, { recursive: true });
  const home = join(tmp, 'home');
  mkdirSync(home, { recursive: true });
  // A copy, not a link: fossil server's repolist does not serve symlinked repositories.
  for (const c of corpora) copyFileSync(c.file, join(refRoot, `corpus-${c.name}.fossil`));
  const inspector = await freePort();
  const hub = await startHub({ vars: { HUB_MAX_PUSH_BYTES: String(64 * 2 ** 20) }, timeoutMs: 120_000, devArgs: ['--inspector-port', String(inspector)] });
  const ref = await startFossilServer(refRoot, home);
  const cdp = await workerSession(inspector);
  try {
    const hubPids = findInTree(process.pid, 'workerd');
    if (hubPids.length === 0) throw new Error('no workerd process found under this process');
    const results: Result[] = [];
    for (const c of corpora) {
      try {
        results.push(...(await runCorpus(c, hub, hub.url, hubPids, cdp, ref, refRoot, tmp, log)));
      } catch (e) {
        // Setup or the reference failing: the other corpus's rows still count.
        log(`  ${c.name}: FAILED: ${oneLine(e)}`);
        results.push({ corpus: c, op: { name: 'setup', goal: 1 }, hub: { wall: NaN, cpu: NaN }, ref: { wall: NaN, cpu: NaN }, failed: oneLine(e) });
      }
    }
    return { rows: [], tables: [table(results)] };
  } finally {
    cdp.close();
    await ref.stop();
    await hub.stop();
    rmSync(tmp, { recursive: true, force: true });
  }
};
