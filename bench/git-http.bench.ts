/**
 * Git hosting, end to end: the hub under workerd + miniflare (startHub) beside `git
 * http-backend` behind lighttpd (CGI), in one run, on the same generated
 * repositories (bench/git-corpus.ts): a small one and a large one (>= 300 MB
 * packed, 30k commits). Real git clients do each operation against both:
 *
 *   push       `git push --mirror` of the corpus into an empty repository
 *   clone      `git clone --mirror` (full)
 *   blob:none  `git clone --bare --filter=blob:none`
 *   depth 1    `git clone --bare --depth 1`
 *   no-op      `git fetch` in the full clone (nothing new)
 *
 * Reported per operation: wall time of both and its ratio; CPU seconds of the
 * hub's workerd process and of lighttpd with its CGI children (git
 * http-backend -> upload-pack/receive-pack -> pack-objects/index-pack,
 * counted through cutime/cstime once reaped); the peak growth of workerd's
 * RSS during the operation (sampled every 25 ms from /proc, minus the value
 * just before it); the peak of the Worker isolate's own JS heap plus ArrayBuffer
 * memory (Runtime.getHeapUsage over the inspector every 100 ms). For full
 * clones also the workerd CPU of a bare read of the same segments through the
 * local R2 simulator (simulatorRead), and the hub's CPU without it.
 *
 * BENCH_QUICK=1: only the small corpus. The corpora are cached under
 * bench/.work/ (git-ignored); the first full run generates the large one
 * (a few minutes).
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { freePort, startHub, type Hub } from '../test/e2e/hub-server.js';
import { heapMonitor, workerSession, type CdpSession } from './cdp.js';
import { benchGitEnv, corpus, LARGE, SMALL, type Corpus } from './git-corpus.js';
import type { BenchResult, BenchSuite } from './harness.js';
import { cpuSeconds, findInTree, rssBytes, sampleRss, best, measureTree, type Sample } from './proc.js';

const GROUP = 'git hosting (hub vs git http-backend)';
const WORK = new URL('./.work/', import.meta.url).pathname;
const QUICK = process.env.BENCH_QUICK === '1';
/** Runs per operation on the small corpus (best wall kept); the large one runs once. */
const SMALL_RUNS = 3;


interface Op {
  name: string;
  goal: number;
  cpuGoal?: number;
}

const OPS: Op[] = [
  { name: 'full push into an empty repository', goal: 1.5 },
  { name: 'full clone (--mirror)', goal: 1.1, cpuGoal: 2 },
  { name: 'partial clone (--filter=blob:none)', goal: 1.5 },
  { name: 'shallow clone (--depth 1)', goal: 1.5 },
  { name: 'no-op fetch', goal: 1.5 },
];

/** What is missing to run this suite, as install hints (empty when ready). */
function missingTools(): string[] {
  const out: string[] = [];
  if (spawnSync('lighttpd', ['-v']).status !== 0) out.push('lighttpd (apt-get install -y lighttpd)');
  if (!existsSync(httpBackendPath())) out.push('git http-backend (apt-get install -y git)');
  return out;
}

function httpBackendPath(): string {
  const r = spawnSync('git', ['--exec-path'], { encoding: 'utf8' });
  return join((r.stdout ?? '').trim() || '/usr/lib/git-core', 'git-http-backend');
}

/** git http-backend behind lighttpd, serving every repository under `root`. */
export interface Backend {
  url: string;
  pid: number;
  stop(): Promise<void>;
}

export async function startBackend(root: string, dir: string): Promise<Backend> {
  const port = await freePort();
  mkdirSync(join(dir, 'docroot'), { recursive: true });
  const conf = join(dir, 'lighttpd.conf');
  writeFileSync(
    conf,
    [
      `server.document-root = "${join(dir, 'docroot')}"`,
      `server.bind = "127.0.0.1"`,
      `server.port = ${port}`,
      `server.errorlog = "${join(dir, 'error.log')}"`,
      `server.modules = ("mod_alias", "mod_cgi", "mod_setenv")`,
      // Responses stream; chunked request bodies (git's for anything over http.postBuffer) must be
      // spooled by lighttpd first, as mod_cgi answers 411 to a streamed one.
      `server.stream-request-body = 0`,
      `server.upload-dirs = ("${dir}")`,
      `server.stream-response-body = 2`,
      `server.max-request-size = 2097152`,
      `alias.url = ("/git" => "${httpBackendPath()}")`,
      `$HTTP["url"] =~ "^/git" {`,
      `  cgi.assign = ("" => "")`,
      `  setenv.add-environment = ("GIT_PROJECT_ROOT" => "${root}", "GIT_HTTP_EXPORT_ALL" => "1", "GIT_CONFIG_NOSYSTEM" => "1")`,
      `}`,
      '',
    ].join('\n'),
  );
  const child = spawn('lighttpd', ['-D', '-f', conf], { stdio: 'ignore' });
  const url = `http://127.0.0.1:${port}/git`;
  const stop = async () => {
    if (child.exitCode === null) {
      child.kill('SIGTERM');
      await new Promise((r) => child.once('exit', r));
    }
  };
  for (let i = 0; i < 100; i++) {
    if (child.exitCode !== null) break;
    try {
      await fetch(`http://127.0.0.1:${port}/`);
      return { url, pid: child.pid!, stop };
    } catch {
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  await stop();
  throw new Error('lighttpd did not start');
}

/** Most time one operation may take (a stuck hub must not stall the whole bench). */
const OP_TIMEOUT_MS = 10 * 60 * 1000;

/** Runs git asynchronously (so RSS sampling keeps ticking); throws with its stderr on failure or after OP_TIMEOUT_MS. */
function git(home: string, cwd: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn('git', args, { cwd, env: benchGitEnv(home), stdio: ['ignore', 'pipe', 'pipe'], timeout: OP_TIMEOUT_MS, killSignal: 'SIGKILL' });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err = (err + d).slice(-4000)));
    child.on('exit', (code, signal) =>
      code === 0 ? resolve(out) : reject(new Error(signal === 'SIGKILL' ? `timed out after ${OP_TIMEOUT_MS / 60000} min` : `git ${args.join(' ')} failed (${code}): ${err}`)),
    );
  });
}

/** Times `fn`, with the CPU of the server that served it. */
async function measure(server: { kind: 'hub'; root: number; cdp: CdpSession } | { kind: 'backend'; pid: number }, fn: () => Promise<void>): Promise<Sample> {
  if (server.kind === 'hub') {
    // Found anew each time: wrangler restarts workerd when a source file changes.
    const pids = findInTree(server.root, 'workerd');
    if (pids.length === 0) throw new Error('no workerd process found');
    const cpu0 = pids.reduce((n, p) => n + cpuSeconds(p), 0);
    const rss0 = pids.reduce((n, p) => n + rssBytes(p), 0);
    const sampler = sampleRss(pids);
    const heap = heapMonitor([server.cdp]);
    const t = performance.now();
    const failure = await fn().then(() => null, (e: unknown) => ({ e }));
    const wall = (performance.now() - t) / 1000;
    const peak = sampler.stop();
    const isolate = [...(await heap.stop()).values()][0];
    if (failure) throw failure.e;
    const after = findInTree(server.root, 'workerd');
    if (after.join() !== pids.join()) throw new Error('workerd restarted during the operation (a watched source file changed)');
    return { wall, cpu: pids.reduce((n, p) => n + cpuSeconds(p), 0) - cpu0, rss: Math.max(0, peak - rss0), heap: isolate?.used };
  }
  return measureTree(server.pid, fn);
}

/**
 * What miniflare's local R2 simulator costs workerd to hand over the bytes a full clone read: workerd's
 * CPU for bench/r2-probe (a bare Worker beside the hub, scripts/dev.mjs --r2-probe) reading every
 * segment of the repository as reachPlanToPackBytes reads them: a get per object (a segment's 5 MiB
 * pieces) of at most 16 MiB, taken 4 MiB at a time.
 */
async function simulatorRead(hub: Hub, server: Parameters<typeof measure>[0], repo: string, runs: number): Promise<Result['sim']> {
  let read = { segments: 0, gets: 0, bytes: 0 };
  const cpu: number[] = [];
  for (let i = 0; i < runs; i++) {
    const s = await measure(server, async () => {
      const res = await fetch(`${hub.url}/__r2probe?repo=${encodeURIComponent(repo)}&range=${4 * 2 ** 20}&window=${16 * 2 ** 20}`);
      if (!res.ok) throw new Error(`r2 probe: ${res.status} ${await res.text()}`);
      read = (await res.json()) as typeof read;
    });
    cpu.push(s.cpu);
  }
  return { cpu: Math.min(...cpu), ...read };
}

async function createHubRepo(hub: Hub, name: string): Promise<void> {
  const res = await fetch(`${hub.url}/api/repos`, {
    method: 'POST',
    headers: { authorization: `Bearer ${hub.adminToken}`, 'content-type': 'application/json' },
    body: JSON.stringify({ name, kind: 'git', public: true }),
  });
  if (res.status !== 201) throw new Error(`creating ${name}: ${res.status} ${await res.text()}`);
}

interface Result {
  corpus: Corpus;
  op: Op;
  hub: Sample;
  ref: Sample;
  /** Why the operation could not be measured. */
  failed?: string;
  /** Full clones: workerd CPU of a bare read of the repository's segments (least of runs), and what it read. */
  sim?: { cpu: number; segments: number; gets: number; bytes: number };
}

async function runCorpus(c: Corpus, hub: Hub, cdp: CdpSession, backend: Backend, backendRoot: string, tmp: string, log: (s: string) => void): Promise<Result[]> {
  const runs = c.spec.name === 'large' ? 1 : SMALL_RUNS;
  const home = join(tmp, 'home');
  mkdirSync(home, { recursive: true });
  const auth = hub.url.replace('http://', `http://bench:${hub.adminToken}@`);
  const hubServer = { kind: 'hub' as const, root: process.pid, cdp };
  const refServer = { kind: 'backend' as const, pid: backend.pid };
  const name = c.spec.name;
  const results: Result[] = [];
  const both = async (op: Op, hubFn: (i: number) => Promise<void>, refFn: (i: number) => Promise<void>) => {
    const h: Sample[] = [];
    const r: Sample[] = [];
    let failed: string | undefined;
    // Alternate, so drifting load on the machine hits both alike.
    for (let i = 0; i < runs && failed === undefined; i++) {
      r.push(await measure(refServer, () => refFn(i)));
      try {
        h.push(await measure(hubServer, () => hubFn(i)));
      } catch (e) {
        failed = (e as Error).message.split('\n').slice(0, 2).join(' ').slice(0, 300);
      }
    }
    const zero: Sample = { wall: NaN, cpu: NaN };
    const res: Result = { corpus: c, op, hub: h.length > 0 ? best(h) : zero, ref: best(r), failed };
    if (failed) log(`  ${name} / ${op.name}: hub FAILED: ${failed}`);
    log(`  ${name} / ${op.name}: hub ${res.hub.wall.toFixed(2)} s (cpu ${res.hub.cpu.toFixed(2)} s, rss +${((res.hub.rss ?? 0) / 2 ** 20).toFixed(0)} MiB, isolate heap peak ${((res.hub.heap ?? 0) / 2 ** 20).toFixed(0)} MiB), http-backend ${res.ref.wall.toFixed(2)} s (cpu ${res.ref.cpu.toFixed(2)} s)`);
    results.push(res);
    return failed === undefined;
  };
  const refRepo = (i: number) => `${name}-push-${i}.git`;
  // The hub's repository used by the fetch operations is the first one pushed.
  const hubRepo = (i: number) => (i === 0 ? name : `${name}-push-${i}`);
  for (let i = 0; i < runs; i++) {
    await createHubRepo(hub, hubRepo(i));
    const dir = join(backendRoot, refRepo(i));
    await git(home, backendRoot, ['init', '-q', '--bare', dir]);
    await git(home, dir, ['config', 'http.receivepack', 'true']);
  }
  const pushed = await both(
    OPS[0],
    (i) => git(home, c.dir, ['push', '-q', '--mirror', `${auth}/${hubRepo(i)}.git`]).then(() => undefined),
    (i) => git(home, c.dir, ['push', '-q', '--mirror', `${backend.url}/${refRepo(i)}`]).then(() => undefined),
  );
  for (let i = 0; i < runs; i++) rmSync(join(backendRoot, refRepo(i)), { recursive: true, force: true });
  if (!pushed) return results;
  // Fetches read the corpus itself on the http-backend side: what git left after repacking.
  const served = `corpus-${name}.git`;
  const hubUrl = `${hub.url}/${name}.git`;
  const refUrl = `${backend.url}/${served}`;
  const dest = (what: string, i: number) => join(tmp, `${name}-${what}-${i}`);
  const clone = (what: string, args: string[], url: string) => async (i: number) => {
    rmSync(dest(what, i), { recursive: true, force: true });
    await git(home, tmp, ['clone', '-q', ...args, url, dest(what, i)]);
  };
  const cloned = await both(OPS[1], clone('hub-mirror', ['--mirror'], hubUrl), clone('ref-mirror', ['--mirror'], refUrl));
  if (cloned) results[results.length - 1].sim = await simulatorRead(hub, hubServer, name, runs);
  // The hub's clone must be the corpus, ref for ref.
  const refsOf = (dir: string) => git(home, dir, ['for-each-ref', '--format=%(objectname) %(refname)']);
  if (cloned && (await refsOf(dest('hub-mirror', 0))) !== (await refsOf(c.dir))) throw new Error(`${name}: the hub's clone differs from the corpus`);
  await both(OPS[2], clone('hub-partial', ['--bare', '--filter=blob:none'], hubUrl), clone('ref-partial', ['--bare', '--filter=blob:none'], refUrl));
  await both(OPS[3], clone('hub-shallow', ['--bare', '--depth', '1'], hubUrl), clone('ref-shallow', ['--bare', '--depth', '1'], refUrl));
  if (cloned) await both(
    OPS[4],
    () => git(home, dest('hub-mirror', 0), ['fetch', '-q']).then(() => undefined),
    () => git(home, dest('ref-mirror', 0), ['fetch', '-q']).then(() => undefined),
  );
  for (const what of ['hub-mirror', 'ref-mirror', 'hub-partial', 'ref-partial', 'hub-shallow', 'ref-shallow']) {
    for (let i = 0; i < runs; i++) rmSync(dest(what, i), { recursive: true, force: true });
  }
  return results;
}

const mb = (n: number) => (n / 2 ** 20).toFixed(0);

function table(results: Result[]): BenchResult['tables'][number] {
  const corpora = [...new Set(results.map((r) => r.corpus))];
  const intro = [
    'Real `git` 2.39 clients against the hub served as `npm start` serves it (workerd + miniflare: local R2, D1, Durable Objects; scripts/dev.mjs, without wrangler dev\'s local proxy) and against `git http-backend` behind lighttpd (CGI), one after the other on the same machine in the same run (`npm run bench`; `npx tsx bench/run.ts git` to print only, `BENCH_QUICK=1` for the small corpus alone).',
    '',
    'Corpora (bench/git-corpus.ts, deterministic, `git fast-import` then `git repack -a -d -f`): ' +
      corpora.map((c) => `**${c.spec.name}**: ${c.commits} commits, ${c.objects} objects, ${mb(c.packBytes)} MiB packed`).join('; ') +
      '. http-backend serves that repacked repository (one pack and a bitmap, as a maintained server would); the hub serves what was pushed to it. Clones are bare (`--mirror`/`--bare`), so the wall time is transfer plus the client\'s indexing, no checkout.',
    '',
    `Small corpus: best wall time of ${SMALL_RUNS} runs (CPU: least of them, memory: most); large corpus: one run. Hub CPU = workerd's utime+stime (which also runs miniflare\'s local R2/D1/DO simulators); git CPU = lighttpd and all its CGI children (http-backend, upload-pack/receive-pack, pack-objects/index-pack). Memory = peak of workerd\'s VmRSS during the operation minus its value just before (goal: under 128 MiB whatever the size). The operations of a corpus run in one workerd process, the push first: memory the push grew and freed is kept by the allocator and reused, so a clone's growth here is less than a clone's from a freshly started process. R2 simulator read (full clones) = workerd's CPU, in the same workerd right after the hub's clones, for a bare Worker beside the hub (bench/r2-probe, \`scripts/dev.mjs --r2-probe\`) reading every segment of the cloned repository from the same local R2 bucket as the full clone reads them (each object of a segment, a run of 5 MiB single-put pieces since 05cd433, in gets of at most 16 MiB one at a time, each taken 4 MiB at a time into one reused buffer) (least of the runs; ${corpora.flatMap((c) => results.filter((r) => r.corpus === c && r.sim).map((r) => `${c.spec.name}: ${r.sim!.segments} segments, ${r.sim!.gets} gets, ${mb(r.sim!.bytes)} MiB`)).join('; ')}); hub CPU without R2 simulator = hub CPU minus that, and its ratio to git's CPU. That also takes out what a bare JS loop pays to receive those bytes, which the hub pays too, so it is a lower bound of the hub's own CPU; Cloudflare's R2 is not in the Worker's CPU at all. Isolate heap peak = the most the Worker's own isolate (the Worker and its Durable Objects, without miniflare's simulators) had in its JS heap plus ArrayBuffer memory, polled over the inspector every 100 ms (\`Runtime.getHeapUsage\` usedSize + backingStorageSize), what Cloudflare's 128 MB per-isolate limit is about. It counts garbage not yet collected, the previous operation's included (a forced GC before each operation, by heap snapshot, left V8 slower: small push CPU 0.32 -> 0.50 s), and V8 collects sooner under a limit, so it is an upper bound; the RSS growth also holds the simulators (R2 puts of 392 MiB alone: ~+35 MiB; the Durable Object's SQLite with the hub's rows: ~+32 MiB, the same for 300k and 600k rows), V8's reserved but unused heap, and allocator slack.`,
  ];
  const header = ['corpus', 'operation', 'hub s', 'http-backend s', 'wall ratio', 'goal', 'hub CPU s', 'git CPU s', 'CPU ratio', 'CPU goal', 'R2 simulator read CPU s', 'hub CPU without R2 simulator s (ratio)', 'hub RSS growth MiB', 'isolate heap peak MiB'];
  const rows = results.map((r) => {
    if (r.failed) return [r.corpus.spec.name, r.op.name, `failed: ${r.failed.replace(/\|/g, '/')}`, r.ref.wall.toFixed(2), '', `<= ${r.op.goal}x (missed)`, '', r.ref.cpu.toFixed(2), '', '', '', '', '', ''];
    const ratio = r.hub.wall / r.ref.wall;
    const cpuRatio = r.ref.cpu > 0 ? r.hub.cpu / r.ref.cpu : Infinity;
    return [
      r.corpus.spec.name,
      r.op.name,
      r.hub.wall.toFixed(2),
      r.ref.wall.toFixed(2),
      `${ratio.toFixed(2)}x`,
      `<= ${r.op.goal}x ${ratio <= r.op.goal ? '(met)' : '(missed)'}`,
      r.hub.cpu.toFixed(2),
      r.ref.cpu.toFixed(2),
      Number.isFinite(cpuRatio) ? `${cpuRatio.toFixed(2)}x` : 'n/a',
      r.op.cpuGoal ? `<= ${r.op.cpuGoal}x ${cpuRatio <= r.op.cpuGoal ? '(met)' : '(missed)'}` : '',
      r.sim ? r.sim.cpu.toFixed(2) : '',
      r.sim ? `${(r.hub.cpu - r.sim.cpu).toFixed(2)}${r.ref.cpu > 0 ? ` (${((r.hub.cpu - r.sim.cpu) / r.ref.cpu).toFixed(2)}x)` : ''}` : '',
      `${mb(r.hub.rss ?? 0)}${(r.hub.rss ?? 0) < 128 * 2 ** 20 ? '' : ' (over 128)'}`,
      r.hub.heap === undefined ? '' : `${mb(r.hub.heap)}${r.hub.heap < 128 * 2 ** 20 ? '' : ' (over 128)'}`,
    ];
  });
  return { group: GROUP, intro, header, rows };
}

export const suite: BenchSuite = async () => {
  const missing = missingTools();
  if (missing.length > 0) {
    console.error(`git hosting bench skipped: missing ${missing.join(', ')}`);
    return { rows: [], tables: [{ group: GROUP, intro: [`Not run: missing ${missing.join(', ')}.`], header: [], rows: [] }] };
  }
  const log = (s: string) => console.error(s);
  mkdirSync(WORK, { recursive: true });
  const corpora = [await corpus(SMALL, WORK, log)];
  if (!QUICK) corpora.push(await corpus(LARGE, WORK, log));
  const tmp = mkdtempSync(join(WORK, 'run-'));
  const backendRoot = join(tmp, 'srv');
  mkdirSync(backendRoot, { recursive: true });
  const home = join(tmp, 'home');
  mkdirSync(home, { recursive: true });
  // http-backend serves each cached corpus in place, through a symlink under its project root.
  for (const c of corpora) {
    spawnSync('ln', ['-s', c.dir, join(backendRoot, `corpus-${c.spec.name}.git`)]);
    // Partial clone needs the server's consent in git.
    spawnSync('git', ['config', 'uploadpack.allowFilter', 'true'], { cwd: c.dir, env: benchGitEnv(home) });
  }
  const inspector = await freePort();
  const hub = await startHub({ vars: { HUB_MAX_PUSH_BYTES: String(4 * 2 ** 30) }, timeoutMs: 120_000, devArgs: ['--inspector-port', String(inspector), '--r2-probe'] });
  const backend = await startBackend(backendRoot, tmp);
  const cdp = await workerSession(inspector);
  try {
    // Warm-up (module compilation, the first Durable Object, lighttpd's first CGI), outside the measurements.
    const warmHome = join(tmp, 'home');
    await createHubRepo(hub, 'warmup');
    const auth = hub.url.replace('http://', `http://bench:${hub.adminToken}@`);
    await git(warmHome, corpora[0].dir, ['push', '-q', '--mirror', `${auth}/warmup.git`]);
    await git(warmHome, tmp, ['clone', '-q', '--mirror', `${hub.url}/warmup.git`, join(tmp, 'warm-hub')]);
    await git(warmHome, tmp, ['clone', '-q', '--mirror', `${backend.url}/corpus-${corpora[0].spec.name}.git`, join(tmp, 'warm-ref')]);
    const results: Result[] = [];
    for (const c of corpora) results.push(...(await runCorpus(c, hub, cdp, backend, backendRoot, tmp, log)));
    return { rows: [], tables: [table(results)] };
  } finally {
    cdp.close();
    await backend.stop();
    await hub.stop();
    rmSync(tmp, { recursive: true, force: true });
  }
};
