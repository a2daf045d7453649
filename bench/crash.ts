/**
 * Crash consistency: the hub killed with SIGKILL (workerd and its launcher,
 * as a deploy, an eviction, an OOM or a power cut ends it) at a random point
 * of an operation, then started again on the same state directory.
 *
 *   npx tsx bench/crash.ts [RUNS] [git,fossil] [MAX_KILL_MS]
 *
 * git: each run makes new commits (some with a few MB of random bytes), new
 * tags, and starts one of: a push (git push), a push of 200 new tags, a push
 * of 2,500 new blobs (its rows staged in push_stage), a push request cut off
 * at a random byte (raw receive-pack body, part sent), a clone, or no client
 * at all (the alarm's compaction, HUB_GIT_COMPACT_AFTER=2, armed by the last
 * push; `compact`: commits pushed one by one, then the kill 0.8-1.4 s after
 * the last, about when the compaction runs); it kills the hub after a random
 * delay (half of them within 400 ms, the rest up to MAX_KILL_MS, default 2500).
 * After the restart: every ref is its old or its new value, a push the client
 * saw succeed (or made before the kill) is there, `git clone --mirror` of the
 * hub passes `git fsck --full`, and the same push again succeeds and moves
 * the refs. CRASH_OPS=op,op narrows the operations (git's and fossil's
 * names); CRASH_GC_KILLS=N sets how many of the collector's passes are killed.
 *
 * fossil: each run commits to a local repository (some files of a few MB) and
 * adds unversioned files, then starts `fossil push`, `fossil sync` or `fossil
 * uv sync` (or nothing: the repack alarm) and kills the hub the same way. After
 * the restart: the same operation succeeds, a fresh clone passes `fossil
 * test-integrity` and holds every artifact of the source, and `fossil uv list`
 * matches.
 *
 * Where each kill landed is read from the repository's Durable Object SQLite
 * after the kill (push_stage rows: a push mid-receive; git_compact: a
 * compaction under way; fossil_pending: deltas waiting for bases; the
 * fossil repack cursor behind). At the end the segment collector is run for
 * real on the state aged past its GC_TIMES (a day's minimum age, an hour's
 * grace, six hours between passes; see age()), CRASH_GC_KILLS (2) of its passes killed:
 * every R2 segment no row names must then be gone, and the clone checks pass
 * again.
 */
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes as cryptoRandom } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { api, packObjects, receivePackBody, writerAuth } from '../test/e2e/hub-client.js';
import { startHub, type Hub } from '../test/e2e/hub-server.js';
import { fossilEnv } from '../test/e2e/fossil-client.js';
import { gitEnv } from '../test/e2e/git-client.js';

const [runsArg = '10', whichArg = 'git,fossil', maxKillArg = '2500'] = process.argv.slice(2);
/** The operations a run picks from (CRASH_OPS=compact,push narrows them). */
const OPS: Record<string, string[]> = {
  git: ['push', 'push', 'push-refs', 'push-half', 'clone', 'alarm', 'compact', 'push-wide'],
  fossil: ['push', 'sync', 'uv-sync', 'alarm'],
};
if (process.env.CRASH_OPS) for (const k of Object.keys(OPS)) OPS[k] = OPS[k].filter((op) => process.env.CRASH_OPS!.split(',').includes(op));
/** Killed passes of the segment collector at the end (each on the state aged seven hours more). */
const GC_KILLS = Number(process.env.CRASH_GC_KILLS ?? 2);
const RUNS = Number(runsArg);
const MAX_KILL_MS = Number(maxKillArg);
const USER = { name: 'wendy', password: 'wendy-pw' };

interface Proc {
  status: number | null;
  stdout: string;
  stderr: string;
}

function run(cmd: string, args: string[], cwd: string, env: NodeJS.ProcessEnv, input?: Buffer | string): Proc {
  const r = spawnSync(cmd, args, { cwd, env, input: input ?? '', maxBuffer: 1 << 30, timeout: 600_000 });
  return { status: r.status, stdout: r.stdout?.toString() ?? '', stderr: r.stderr?.toString() ?? '' };
}

function runAsync(cmd: string, args: string[], cwd: string, env: NodeJS.ProcessEnv): { done: Promise<Proc & { ms: number }> } {
  const t = Date.now();
  const child = spawn(cmd, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  const timer = setTimeout(() => child.kill('SIGKILL'), 300_000);
  const done = new Promise<Proc & { ms: number }>((resolve) =>
    child.on('close', (status) => {
      clearTimeout(timer);
      resolve({ status, stdout, stderr, ms: Date.now() - t });
    }),
  );
  return { done };
}

function must(r: Proc, what: string): string {
  if (r.status !== 0) throw new Error(`${what} failed (${r.status}):\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const pick = <T>(xs: T[]): T => xs[Math.floor(Math.random() * xs.length)];
/** A kill delay: half of them in the first 400 ms (where small operations run), the rest up to MAX_KILL_MS. */
const killDelay = () => Math.floor(Math.random() * (Math.random() < 0.5 ? Math.min(400, MAX_KILL_MS) : MAX_KILL_MS));

/** The repository Durable Objects' SQLite files of a state directory. */
function doFiles(state: string): string[] {
  const root = join(state, 'v3', 'do');
  if (!existsSync(root)) return [];
  const out: string[] = [];
  for (const ns of readdirSync(root)) {
    if (!ns.includes('RepoObject')) continue;
    for (const f of readdirSync(join(root, ns))) if (f.endsWith('.sqlite')) out.push(join(root, ns, f));
  }
  return out;
}

/** One query on a dead hub's SQLite file (rows as tab-separated lines); '' when the table is missing. */
function sql(file: string, query: string): string {
  const r = spawnSync('sqlite3', ['-readonly', '-separator', '\t', file, query], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : '';
}

/** The R2 keys (segments) under a repository's prefix, read from miniflare's R2 simulator metadata. */
function r2Keys(state: string): string[] {
  const root = join(state, 'v3', 'r2', 'miniflare-R2BucketObject');
  if (!existsSync(root)) return [];
  const keys: string[] = [];
  for (const f of readdirSync(root)) if (f.endsWith('.sqlite')) keys.push(...sql(join(root, f), `SELECT key FROM _mf_objects`).split('\n').filter(Boolean));
  return keys;
}

/** Segment names no row of the repository's DO names (what the collector may delete), and how many there are in all. */
function orphanSegments(state: string): { segments: number; orphans: string[] } {
  const named = new Set<string>();
  for (const f of doFiles(state)) {
    const q = `SELECT name FROM segments WHERE seq IN (SELECT segment FROM objects UNION SELECT segment FROM push_stage${
      sql(f, `SELECT 1 FROM sqlite_master WHERE name = 'fossil_blob'`) === '1' ? ' UNION SELECT segment FROM fossil_blob UNION SELECT segment FROM fossil_pending UNION SELECT segment FROM fossil_unversioned' : ''
    })`;
    for (const n of sql(f, q).split('\n')) if (n) named.add(n);
  }
  const all = new Set(r2Keys(state).filter((k) => k.includes('/segments/')).map((k) => k.split('/segments/')[1].split('/')[0]));
  return { segments: all.size, orphans: [...all].filter((n) => !named.has(n)) };
}

/** Where the kill landed, from the DO's tables. */
function landed(state: string): string[] {
  const marks: string[] = [];
  for (const f of doFiles(state)) {
    const n = (q: string) => Number(sql(f, q) || 0);
    if (n(`SELECT count(*) FROM push_stage`) > 0) marks.push('stage');
    if (n(`SELECT count(*) FROM git_compact`) > 0) marks.push('compact');
    if (n(`SELECT count(*) FROM fossil_pending`) > 0) marks.push('pending');
    if (n(`SELECT count(*) FROM dead_segments`) > 0) marks.push('dead-recorded');
    // Fossil: artifacts the repack (deltify) or its compaction have not reached yet.
    const last = n(`SELECT max(seq) FROM fossil_blob`);
    if (last > 0 && n(`SELECT coalesce(max(cursor), 0) FROM fossil_repack`) < last) marks.push('repack-behind');
    else if (last > 0 && n(`SELECT coalesce(max(cursor), 0) FROM fossil_compact`) < last) marks.push('compact-behind');
  }
  return marks;
}

let hub!: Hub;
async function start(state: string, vars: Record<string, string>): Promise<void> {
  hub = await startHub({ state, vars, timeoutMs: 180_000 });
}

/** Answers whether the hub's log shows an uncaught exception or a 5xx. */
function logTrouble(log: string): string[] {
  return log.split('\n').filter((l) => /Uncaught|Internal Server Error|\b5\d\d\b.*(GET|POST)|unhandled/i.test(l));
}

interface Tally {
  runs: number;
  byOp: Record<string, number>;
  marks: Record<string, number>;
  ackedBeforeKill: number;
  failures: string[];
}
const tally = (): Tally => ({ runs: 0, byOp: {}, marks: {}, ackedBeforeKill: 0, failures: [] });
function note(t: Tally, op: string, marks: string[]): void {
  t.runs++;
  t.byOp[op] = (t.byOp[op] ?? 0) + 1;
  for (const m of marks.length ? marks : ['none']) t.marks[m] = (t.marks[m] ?? 0) + 1;
}

/** Random bytes of a few MB, or a small text file. */
/**
 * After `delay` ms kills the hub (then `afterKill`), waits for the client, notes
 * where the kill landed (and whether the client had ended, by `succeeded`) and
 * restarts the hub on the same state; gives the marks, the run's failure recorder
 * and whether the client had succeeded before the kill.
 */
async function killAndRestart(t: Tally, run: string, op: string, delay: number, state: string, vars: Record<string, string>, client: Promise<Proc> | undefined, succeeded: (r: Proc) => boolean, afterKill?: () => void): Promise<{ marks: string[]; fail: (m: string) => void; done: boolean }> {
  await sleep(delay);
  const r = client ? await Promise.race([client, sleep(0).then(() => null)]) : null;
  const finished = r !== null;
  const ok = r !== null && succeeded(r);
  await hub.crash();
  afterKill?.();
  if (client) await client;
  const marks = landed(state);
  if (client && !finished) marks.push('mid-op');
  if (client && finished) marks.push(ok ? 'op-done' : 'op-failed');
  note(t, op, marks);
  await start(state, vars);
  const fail = (m: string) => {
    t.failures.push(`${run} (${op}, kill at ${delay} ms, ${marks.join('+')}): ${m}`);
    console.log(`FAIL ${t.failures[t.failures.length - 1]}`);
  };
  return { marks, fail, done: ok };
}

function content(big: boolean): Buffer {
  return big ? cryptoRandom(1_000_000 + Math.floor(Math.random() * 3_000_000)) : Buffer.from(`line ${Math.random()}\n`.repeat(1 + Math.floor(Math.random() * 200)));
}

async function gitScenario(home: string, t: Tally): Promise<void> {
  const state = join(home, 'state');
  const vars = { HUB_GIT_COMPACT_AFTER: '2' };
  const env = gitEnv(home);
  const g = (args: string[], cwd = home) => must(run('git', args, cwd, env), `git ${args.join(' ')}`);
  await start(state, vars);
  must({ status: (await api(hub, 'POST', '/users', USER)).status < 300 ? 0 : 1, stdout: '', stderr: '' }, 'create user');
  await api(hub, 'POST', '/repos', { name: 'g', kind: 'git', public: true });
  await api(hub, 'PUT', '/repos/g/members/wendy', { role: 'write' });
  const work = join(home, 'work');
  g(['init', '-q', '-b', 'main', work]);
  const url = () => hub.url.replace('http://', 'http://wendy:wendy-pw@') + '/g.git';
  /** What the hub acknowledged: ref -> id. */
  let acked = new Map<string, string>();
  const remoteRefs = () =>
    new Map(
      g(['ls-remote', `${hub.url}/g.git`])
        .trim()
        .split('\n')
        .filter((l) => l && !l.endsWith('^{}') && !l.endsWith('\tHEAD'))
        .map((l) => [l.split('\t')[1], l.split('\t')[0]] as [string, string]),
    );
  for (let i = 0; i < RUNS; i++) {
    // New commits on main (and now and then a side branch) and a few tags.
    const commits = 1 + Math.floor(Math.random() * 3);
    for (let c = 0; c < commits; c++) {
      writeFileSync(join(work, `f${i}-${c}.bin`), content(Math.random() < 0.3));
      g(['add', '-A'], work);
      g(['commit', '-q', '-m', `run ${i} commit ${c}`], work);
    }
    const op = pick(OPS.git);
    if (op === 'push-wide') {
      // 2,500 new blobs in one commit: the push's rows go through the stage (push_stage, 1000 rows a batch) before its commit.
      const dir = join(work, `wide${i}`);
      mkdirSync(dir);
      for (let k = 0; k < 2500; k++) writeFileSync(join(dir, `${k}.txt`), `${i} ${k} ${Math.random()}\n`);
      g(['add', '-A'], work);
      g(['commit', '-q', '-m', `run ${i} wide`], work);
    }
    const tagCount = op === 'push-refs' ? 200 : 1;
    for (let k = 0; k < tagCount; k++) g(['tag', `t${i}-${k}`], work);
    if (i > 0 && Math.random() < 0.2) g(['branch', '-f', `side${i % 3}`, 'HEAD~1'], work);
    const want = new Map(
      g(['for-each-ref', '--format=%(refname) %(objectname)', 'refs/heads', 'refs/tags'], work)
        .trim()
        .split('\n')
        .map((l) => l.split(' ') as [string, string]),
    );
    let client: Promise<Proc & { ms: number }> | undefined;
    let raw: { destroy(): void } | undefined;
    let compactAt = 0;
    if (op === 'compact') {
      // Each commit pushed on its own (a small segment each): the alarm compacts COMPACT_DELAY_MS (1 s) after the last.
      for (const id of g(['rev-list', '--reverse', `-${commits}`, 'HEAD'], work).trim().split('\n')) g(['push', '-q', url(), `${id}:refs/heads/main`], work);
      g(['push', '-q', url(), 'refs/heads/*:refs/heads/*', 'refs/tags/*:refs/tags/*'], work);
      compactAt = 800;
    }
    if (op === 'push' || op === 'push-refs' || op === 'push-wide') {
      // Branches and tags in one request (git push --mirror would also delete; --all + --tags is two).
      client = runAsync('git', ['push', '-q', url(), 'refs/heads/*:refs/heads/*', 'refs/tags/*:refs/tags/*'], work, env).done;
    } else if (op === 'clone') {
      client = runAsync('git', ['clone', '-q', '--mirror', `${hub.url}/g.git`, join(home, `c${i}`)], home, env).done;
    } else if (op === 'push-half') {
      const tip = want.get('refs/heads/main')!;
      const old = acked.get('refs/heads/main');
      const pack = packObjects(work, old ? `${tip}\n^${old}\n` : `${tip}\n`);
      const body = receivePackBody([{ old: old ?? '0'.repeat(40), new: tip, ref: 'refs/heads/main' }], 'report-status', pack);
      const req = httpRequest(`${hub.url}/g.git/git-receive-pack`, {
        method: 'POST',
        agent: false,
        headers: { authorization: writerAuth(USER.name, USER.password), 'content-type': 'application/x-git-receive-pack-request', 'content-length': String(body.length) },
      });
      req.on('error', () => {});
      req.on('response', (res) => res.on('error', () => {}).resume());
      req.write(body.subarray(0, Math.floor(Math.random() * body.length)));
      raw = req;
    }
    const delay = compactAt + (compactAt ? Math.floor(Math.random() * 600) : killDelay());
    const { fail, marks, done } = await killAndRestart(t, `git run ${i}`, op, delay, state, vars, client, (r) => r.status === 0, () => raw?.destroy());
    try {
      const now = remoteRefs();
      const isPush = op === 'push' || op === 'push-refs' || op === 'push-wide' || op === 'compact';
      for (const [ref, id] of now) {
        const old = acked.get(ref);
        const nu = isPush ? want.get(ref) : undefined;
        if (id !== old && id !== nu) fail(`${ref} is ${id}: neither the old ${old} nor the new ${nu}`);
      }
      for (const [ref, id] of acked) if (!now.has(ref)) fail(`${ref} (was ${id}) is gone`);
      if (op === 'compact') for (const [ref, id] of want) if (now.get(ref) !== id) fail(`pushed before the kill, but ${ref} is ${now.get(ref)}, not ${id}`);
      if (isPush && done) {
        t.ackedBeforeKill++;
        for (const [ref, id] of want) if (now.get(ref) !== id) fail(`push acknowledged before the kill, but ${ref} is ${now.get(ref)}, not ${id}`);
      }
      const mirror = join(home, `m${i}`);
      g(['clone', '-q', '--mirror', `${hub.url}/g.git`, mirror]);
      g(['fsck', '--full', '--no-progress'], mirror);
      rmSync(mirror, { recursive: true, force: true });
      // The push again (every run's: it also pushes what the cut-off or clone run made).
      g(['push', '-q', url(), 'refs/heads/*:refs/heads/*', 'refs/tags/*:refs/tags/*'], work);
      const after = remoteRefs();
      for (const [ref, id] of want) if (after.get(ref) !== id) fail(`after the retried push ${ref} is ${after.get(ref)}, not ${id}`);
      acked = new Map(want);
    } catch (e) {
      fail((e as Error).message.slice(0, 2000));
      acked = remoteRefs();
    }
    for (const l of logTrouble(hub.log())) fail(`hub log: ${l}`);
    rmSync(join(home, `c${i}`), { recursive: true, force: true });
    process.stdout.write(`git ${i} ${op} kill@${delay}ms ${marks.join('+')}\n`);
  }
  await gcPhase('git', state, vars, t, () => runAsync('git', ['ls-remote', `${hub.url}/g.git`], home, env).done, async () => {
    const mirror = join(home, 'm-gc');
    rmSync(mirror, { recursive: true, force: true });
    g(['clone', '-q', '--mirror', `${hub.url}/g.git`, mirror]);
    g(['fsck', '--full', '--no-progress'], mirror);
    const now = remoteRefs();
    for (const [ref, id] of acked) if (now.get(ref) !== id) throw new Error(`after GC ${ref} is ${now.get(ref)}, not ${id}`);
  });
}

async function fossilScenario(home: string, t: Tally): Promise<void> {
  const state = join(home, 'state');
  const vars = {};
  const env = fossilEnv(home);
  const f = (args: string[], cwd = home) => must(run('fossil', args, cwd, env), `fossil ${args.join(' ')}`);
  await start(state, vars);
  await api(hub, 'POST', '/users', { name: 'fred', password: 'fred-pw' });
  const src = join(home, 'src.fossil');
  const work = join(home, 'work');
  mkdirSync(work);
  f(['new', src]);
  f(['open', src, '--force'], work);
  // Files are rewritten within a second: hash them, not their times.
  f(['settings', 'mtime-changes', 'off'], work);
  // Commits stay local: the runs push them (to a hub whose port changes at each restart).
  f(['settings', 'autosync', 'off'], work);
  const code = f(['sql', '-R', src, `SELECT value FROM config WHERE name = 'project-code'`]).trim().replace(/'/g, '');
  await api(hub, 'POST', '/repos', { name: 'f', kind: 'fossil', public: true, project_code: code });
  await api(hub, 'PUT', '/repos/f/members/fred', { role: 'write' });
  const url = () => hub.url.replace('http://', 'http://fred:fred-pw@') + '/f';
  const artifacts = (repo: string) =>
    f(['sql', '-R', repo, `SELECT uuid FROM blob WHERE size >= 0 AND rid NOT IN (SELECT rid FROM tagxref JOIN tag USING (tagid) WHERE tagname = 'cluster') ORDER BY uuid`])
      .trim()
      .split('\n');
  const uvList = (repo: string) => f(['uv', 'list', '-R', repo]).trim().split('\n').map((l) => l.trim().split(/\s+/).slice(-1)[0]).sort().join(' ');
  for (let i = 0; i < RUNS; i++) {
    const n = 1 + Math.floor(Math.random() * 3);
    for (let c = 0; c < n; c++) {
      const name = `f${i}-${c}.bin`;
      writeFileSync(join(work, name), content(Math.random() < 0.2));
      f(['add', name], work);
      // A changed file too, so the repack has file deltas to make.
      writeFileSync(join(work, 'log.txt'), `run ${i} ${c}\n` + 'common text of a log file\n'.repeat(300 + i));
      if (i === 0 && c === 0) f(['add', 'log.txt'], work);
      f(['commit', '--no-warnings', '-m', `run ${i} commit ${c}`], work);
    }
    if (Math.random() < 0.5) {
      writeFileSync(join(home, `uv${i}.dat`), content(Math.random() < 0.3));
      f(['uv', 'add', '-R', src, join(home, `uv${i}.dat`), '--as', `uv${i}.dat`]);
    }
    const op = pick(OPS.fossil);
    const args = op === 'push' ? ['push', '-R', src, url()] : op === 'sync' ? ['sync', '-R', src, url()] : op === 'uv-sync' ? ['uv', 'sync', '-R', src, url()] : null;
    const client = args ? runAsync('fossil', args, home, env).done : undefined;
    const delay = killDelay();
    const { fail, marks, done } = await killAndRestart(t, `fossil run ${i}`, op, delay, state, vars, client, (r) => r.status === 0 && !/Error|error:/.test(r.stdout + r.stderr));
    const checkClone = (what: string, all: boolean, uv: boolean) => {
      const clone = join(home, `c${i}.fossil`);
      rmSync(clone, { force: true });
      const c = run('fossil', ['clone', '--save-http-password', url(), clone], home, env);
      if (c.status !== 0) return fail(`${what}: clone: ${c.stdout.slice(-500)} ${c.stderr.slice(-500)}`);
      const integ = f(['test-integrity', '-R', clone]);
      if (!/\b0 errors/.test(integ)) fail(`${what}: test-integrity: ${integ.slice(-500)}`);
      const have = new Set(artifacts(clone));
      const missing = all ? artifacts(src).filter((a) => !have.has(a)) : [];
      if (missing.length > 0) fail(`${what}: the clone lacks ${missing.length} artifacts of the source, e.g. ${missing[0]}`);
      if (uv) {
        f(['uv', 'sync', '-R', clone]);
        if (uvList(clone) !== uvList(src)) fail(`${what}: uv list differs: ${uvList(clone)} vs ${uvList(src)}`);
      }
      rmSync(clone, { force: true });
    };
    try {
      // What the client saw done before the kill is all there.
      if (done && op !== 'uv-sync') {
        t.ackedBeforeKill++;
        checkClone('acknowledged before the kill', true, false);
      }
      if (done && op === 'uv-sync') {
        t.ackedBeforeKill++;
        checkClone('uv sync acknowledged before the kill', false, true);
      }
      // The same operation again, and the rest (a sync and an uv sync) so the hub holds all of the source.
      for (const again of [['push', '-R', src, url()], ['uv', 'sync', '-R', src, url()]]) {
        const out = f(again);
        if (/Error|error:/.test(out)) fail(`fossil ${again[0]} after the restart: ${out.slice(-500)}`);
      }
      checkClone('after the retry', true, true);
    } catch (e) {
      fail((e as Error).message.slice(0, 2000));
    }
    for (const l of logTrouble(hub.log())) fail(`hub log: ${l}`);
    process.stdout.write(`fossil ${i} ${op} kill@${delay}ms ${marks.join('+')}\n`);
  }
  await gcPhase('fossil', state, vars, t, () => runAsync('fossil', ['pull', '-R', src, url()], home, env).done, async () => {
    const clone = join(home, 'c-gc.fossil');
    rmSync(clone, { force: true });
    must(run('fossil', ['clone', url(), clone], home, env), 'fossil clone');
    const integ = f(['test-integrity', '-R', clone]);
    if (!/\b0 errors/.test(integ)) throw new Error(`test-integrity after GC: ${integ.slice(-500)}`);
    const have = new Set(artifacts(clone));
    const missing = artifacts(src).filter((a) => !have.has(a));
    if (missing.length > 0) throw new Error(`after GC the clone lacks ${missing.length} artifacts`);
  });
}

/**
 * Moves every time the segment collector reads in a dead hub's state `hours`
 * into the past, as if the hub had been left that long: R2 objects' upload
 * times (miniflare's R2 metadata), the collector's last pass and dead-segment
 * records, and the Durable Objects' alarms (workerd's _cf_METADATA and
 * _cf_ALARM, in ns). libfaketime would be the plain way, but workerd hangs
 * at start under it (even `workerd --version`).
 */
function age(state: string, hours: number): void {
  const ms = hours * 3600_000;
  const write = (file: string, stmts: string) => {
    const r = spawnSync('sqlite3', [file, stmts], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`aging ${file}: ${r.stderr}`);
  };
  for (const f of doFiles(state)) {
    const has = (t: string) => sql(f, `SELECT 1 FROM sqlite_master WHERE name = '${t}'`) === '1';
    const stmts = [has('segment_gc') && `UPDATE segment_gc SET last = last - ${ms};`, has('dead_segments') && `UPDATE dead_segments SET since = since - ${ms};`, has('_cf_METADATA') && `UPDATE _cf_METADATA SET value = value - ${ms}000000 WHERE key = 1;`];
    if (stmts.some(Boolean)) write(f, stmts.filter(Boolean).join(' '));
  }
  const alarms = join(state, 'v3', 'do', 'hub-RepoObject', 'metadata.sqlite');
  if (existsSync(alarms) && sql(alarms, `SELECT 1 FROM sqlite_master WHERE name = '_cf_ALARM'`) === '1') write(alarms, `UPDATE _cf_ALARM SET scheduled_time = scheduled_time - ${ms}000000;`);
  const r2 = join(state, 'v3', 'r2', 'miniflare-R2BucketObject');
  for (const f of readdirSync(r2)) if (f.endsWith('.sqlite') && sql(join(r2, f), `SELECT 1 FROM sqlite_master WHERE name = '_mf_objects'`) === '1') write(join(r2, f), `UPDATE _mf_objects SET uploaded = uploaded - ${ms};`);
}

/**
 * The segment collector for real: the state aged past a segment's minimum
 * age and the time between passes, the hub started and a repository request
 * made (which arms the collector's alarm), four times: the first pass
 * records the orphans, the next deletes them; two of the four are killed at
 * a random point. Every orphan must then be gone, and the checks pass.
 */
async function gcPhase(kind: string, state: string, vars: Record<string, string>, t: Tally, poke: () => Promise<unknown>, checks: () => Promise<void>): Promise<void> {
  await hub.stop();
  const before = orphanSegments(state);
  console.log(`${kind}: ${before.segments} segments in R2, ${before.orphans.length} named by no row`);
  const rounds: [number, number][] = [[25, Math.floor(Math.random() * 300)], [1, -1]];
  for (let k = 1; k < GC_KILLS; k++) rounds.push([7, Math.floor(Math.random() * 300)]);
  rounds.push([7, -1], [7, -1]);
  for (const [hours, killAt] of rounds) {
    age(state, hours);
    await start(state, vars);
    // The collector's alarm is armed by a repository request (the DO's fetch), not the API.
    const poked = poke();
    if (killAt >= 0) {
      await sleep(killAt);
      await hub.crash();
      await poked;
    } else {
      await poked;
      await sleep(4000);
      await hub.stop();
    }
    const o = orphanSegments(state);
    console.log(`${kind} gc: aged ${hours} h, ${killAt >= 0 ? `killed at ${killAt} ms` : 'stopped after 4 s'}: ${landed(state).join('+') || 'none'}; ${o.segments} segments, ${o.orphans.length} orphans`);
  }
  const after = orphanSegments(state);
  if (after.orphans.length > 0) t.failures.push(`${kind}: ${after.orphans.length} orphan segments left after the collector's passes (${after.orphans.slice(0, 3).join(', ')})`);
  await start(state, vars);
  try {
    await checks();
  } catch (e) {
    t.failures.push(`${kind} after GC: ${(e as Error).message.slice(0, 2000)}`);
  }
  for (const l of logTrouble(hub.log())) t.failures.push(`${kind} gc hub log: ${l}`);
  await hub.stop();
}

const results: Record<string, Tally> = {};
for (const kind of whichArg.split(',')) {
  const home = mkdtempSync(join(tmpdir(), `crash-${kind}-`));
  const t = (results[kind] = tally());
  try {
    if (kind === 'git') await gitScenario(home, t);
    else if (kind === 'fossil') await fossilScenario(home, t);
    else throw new Error(`unknown scenario ${kind}`);
  } catch (e) {
    t.failures.push(`${kind}: aborted: ${(e as Error).stack}`);
    await hub?.stop().catch(() => {});
  }
  if (t.failures.length === 0) rmSync(home, { recursive: true, force: true });
  else console.log(`${kind}: state kept in ${home}`);
}
for (const [kind, t] of Object.entries(results)) {
  console.log(`\n${kind}: ${t.runs} runs; ops ${JSON.stringify(t.byOp)}; landed ${JSON.stringify(t.marks)}; pushes acknowledged before the kill ${t.ackedBeforeKill}`);
  console.log(t.failures.length === 0 ? '  no failures' : t.failures.map((f) => `  FAIL ${f}`).join('\n'));
}
process.exit(Object.values(results).some((t) => t.failures.length > 0) ? 1 : 0);
