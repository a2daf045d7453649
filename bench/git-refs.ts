/**
 * Many refs: N branches + N annotated tags (one small history under them), served by the hub and
 * by git http-backend (lighttpd), same repository. Timed: ls-remote (v0, v2), a no-op fetch of a
 * mirror (v0, v2: only the advertisement or ls-refs, nothing to fetch), clone --mirror (v2) and a
 * push of one new branch (the receive-pack advertisement and a ref write). The hub's whole
 * repository goes in by one `git push --mirror` (one receive-pack request of 2N+1 refs).
 *
 *   npx tsx bench/git-refs.ts [refs=20000] [runs=3] [hub|backend|both]
 *
 * Each op is run `runs` times, alternating hub and backend; printed: each run's wall and CPU
 * (workerd's utime+stime; lighttpd's tree with its CGI children), and the least of each. The
 * ls-remote outputs of both servers are compared (same refs, same peeled ids).
 *
 * REFS_PROFILE=<op> (e.g. ls-remote-v2): a CPU profile of the hub's isolate during one more run of
 * that op (bench/.work/refs-<op>.cpuprofile, summarised by self time).
 */
import { spawn, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { api } from '../test/e2e/hub-client.js';
import { freePort, startHub } from '../test/e2e/hub-server.js';
import { summariseCpu, workerSession, type CdpSession, type CpuProfile } from './cdp.js';
import { benchGitEnv } from './git-corpus.js';
import { startBackend } from './git-http.bench.js';
import { cpuSeconds, findInTree, measureTree } from './proc.js';

const WORK = new URL('./.work/', import.meta.url).pathname;
const [refsArg = '20000', runsArg = '3', which = 'both'] = process.argv.slice(2);
const N = Number(refsArg);
const RUNS = Number(runsArg);
const PROFILE = process.env.REFS_PROFILE ?? '';

function gitSync(home: string, cwd: string, args: string[], input?: string): string {
  const r = spawnSync('git', args, { cwd, env: benchGitEnv(home), encoding: 'utf8', input, maxBuffer: 1 << 28 });
  if (r.status !== 0) throw new Error(`git ${args.join(' ')} failed: ${r.stderr.slice(-2000)}`);
  return r.stdout;
}

/** Runs git asynchronously (the hub runs in this process's children); resolves with its stdout. */
function git(home: string, cwd: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn('git', args, { cwd, env: benchGitEnv(home), stdio: ['ignore', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    let err = '';
    child.stdout.on('data', (d: Buffer) => out.push(d));
    child.stderr.on('data', (d) => (err = (err + d).slice(-4000)));
    child.on('exit', (code) => (code === 0 ? resolve(Buffer.concat(out).toString('utf8')) : reject(new Error(`git ${args.join(' ')} failed (${code}): ${err}`))));
  });
}

/**
 * The source repository: 100 commits on main, branch b<k> at commit k % 100, annotated tag t<k>
 * at commit k % 100 (each tag its own object), packed refs; made once (fast-import) and kept.
 */
function makeSource(home: string, src: string): void {
  if (existsSync(join(src, 'packed-refs'))) return;
  rmSync(src, { recursive: true, force: true });
  gitSync(home, WORK, ['init', '-q', '--bare', src]);
  const lines: string[] = [];
  const data = (s: string) => `data ${Buffer.byteLength(s)}\n${s}`;
  for (let c = 1; c <= 100; c++) {
    lines.push(`commit refs/heads/main`, `mark :${c}`, `committer Bench <bench@example.com> ${1_600_000_000 + c} +0000`, data(`commit ${c}\n`));
    if (c > 1) lines.push(`from :${c - 1}`);
    lines.push(`M 644 inline f${c % 10}.txt`, data(`line ${c}\n`));
  }
  const pad = (k: number) => String(k).padStart(String(N).length, '0');
  for (let k = 0; k < N; k++) lines.push(`reset refs/heads/b${pad(k)}`, `from :${(k % 100) + 1}`);
  for (let k = 0; k < N; k++) lines.push(`tag t${pad(k)}`, `from :${(k % 100) + 1}`, `tagger Bench <bench@example.com> ${1_600_000_000 + k} +0000`, data(`tag ${k}\n`));
  gitSync(home, src, ['fast-import', '--quiet'], lines.join('\n') + '\n');
  gitSync(home, src, ['symbolic-ref', 'HEAD', 'refs/heads/main']);
  gitSync(home, src, ['pack-refs', '--all']);
  gitSync(home, src, ['repack', '-a', '-d', '-q']);
}

/**
 * Every ref of `src` and its one pack in a single receive-pack request, as `git push --mirror` would
 * send them (git 2.39's send-pack spends minutes of CPU matching 40,000 new refs).
 */
async function pushAll(home: string, src: string, url: string, token: string): Promise<void> {
  const refs = gitSync(home, src, ['for-each-ref', '--format=%(objectname) %(refname)']).trim().split('\n');
  const pkt = (s: string) => (s.length + 4).toString(16).padStart(4, '0') + s;
  const zero = '0'.repeat(40);
  const commands = refs.map((r, k) => pkt(`${zero} ${r}${k === 0 ? '\0report-status ofs-delta agent=git/bench' : ''}\n`)).join('') + '0000';
  const pack = readdirSync(join(src, 'objects/pack')).filter((f) => f.endsWith('.pack'));
  if (pack.length !== 1) throw new Error(`expected one pack in ${src}`);
  const body = Buffer.concat([Buffer.from(commands), readFileSync(join(src, 'objects/pack', pack[0]!))]);
  const res = await fetch(`${url}/git-receive-pack`, {
    method: 'POST',
    body,
    headers: { 'content-type': 'application/x-git-receive-pack-request', authorization: `Basic ${Buffer.from(`bench:${token}`).toString('base64')}` },
  });
  const answer = await res.text();
  // Report lines are pkt-lines: "000eunpack ok\n", "0019ok refs/...\n", "002eng refs/... why\n".
  const refused = answer.match(/(?:^|\n)[0-9a-f]{4}ng [^\n]*/);
  if (res.status !== 200 || !answer.startsWith('000eunpack ok\n') || refused) throw new Error(`push failed: ${res.status} ${refused?.[0].trim() ?? answer.slice(0, 500)}`);
}

interface Server {
  name: string;
  url: string;
  /** Wall and CPU seconds of `op`; with `profile`, the hub's CPU profile of it into that file. */
  measure(op: () => Promise<void>, profile?: string): Promise<{ wall: number; cpu: number }>;
}

/** The ops, each run against a fresh state where it changes one (its own clone dir, a new branch name). */
function ops(home: string, tmp: string): { name: string; prepare?: (s: Server) => Promise<void>; run: (s: Server, k: number) => Promise<void> }[] {
  const v = (p: number) => ['-c', `protocol.version=${p}`];
  const mirror = (s: Server) => join(tmp, `${s.name}-mirror`);
  return [
    { name: 'ls-remote-v0', run: (s) => git(home, tmp, [...v(0), 'ls-remote', s.url]).then(() => undefined) },
    { name: 'ls-remote-v2', run: (s) => git(home, tmp, [...v(2), 'ls-remote', s.url]).then(() => undefined) },
    { name: 'clone-mirror-v2', run: (s, k) => git(home, tmp, [...v(2), 'clone', '-q', '--mirror', s.url, join(tmp, `${s.name}-clone-${k}`)]).then(() => undefined) },
    {
      name: 'noop-fetch-v0',
      prepare: (s) => git(home, tmp, [...v(2), 'clone', '-q', '--mirror', s.url, mirror(s)]).then(() => undefined),
      run: (s) => git(home, mirror(s), [...v(0), 'fetch', '-q']).then(() => undefined),
    },
    { name: 'noop-fetch-v2', run: (s) => git(home, mirror(s), [...v(2), 'fetch', '-q']).then(() => undefined) },
    { name: 'push-one-ref', run: (s, k) => git(home, mirror(s), ['push', '-q', s.url, `refs/heads/main:refs/heads/new-${k}`]).then(() => undefined) },
  ];
}

async function idle(): Promise<void> {
  for (let quiet = 0; quiet < 2; ) {
    const pids = findInTree(process.pid, 'workerd');
    const c0 = pids.reduce((n, p) => n + cpuSeconds(p), 0);
    await new Promise((r) => setTimeout(r, 500));
    quiet = pids.reduce((n, p) => n + cpuSeconds(p), 0) - c0 < 0.02 ? quiet + 1 : 0;
  }
}

async function main(): Promise<void> {
  mkdirSync(WORK, { recursive: true });
  const tmp = mkdtempSync(join(WORK, 'refs-'));
  const home = join(tmp, 'home');
  mkdirSync(home, { recursive: true });
  const root = join(WORK, `refs-${N}`);
  const src = join(root, 'refs.git');
  makeSource(home, src);
  console.log(`${N} branches + ${N} annotated tags, ${RUNS} runs each (hub workerd CPU; backend lighttpd + CGI CPU)`);
  const servers: Server[] = [];
  const stops: (() => Promise<void>)[] = [];
  let session: CdpSession | null = null;
  try {
    if (which !== 'backend') {
      const port = await freePort();
      const hub = await startHub({ timeoutMs: 120_000, devArgs: ['--inspector-port', String(port)] });
      stops.push(() => hub.stop());
      if ((await api(hub, 'POST', '/repos', { name: 'refs', kind: 'git', public: true })).status !== 201) throw new Error('create failed');
      const url = hub.url.replace('http://', `http://bench:${hub.adminToken}@`) + '/refs.git';
      const t = performance.now();
      await pushAll(home, src, hub.url + '/refs.git', hub.adminToken);
      console.log(`hub: push of ${2 * N + 1} refs ${((performance.now() - t) / 1000).toFixed(1)} s wall`);
      session = await workerSession(port);
      const s = session;
      servers.push({
        name: 'hub',
        url,
        async measure(op, profile) {
          await idle();
          // The profiler's own thread is busy while it runs: no idle wait then, and its CPU is not counted.
          if (profile) {
            await s.send('Profiler.enable');
            await s.send('Profiler.setSamplingInterval', { interval: 200 });
            await s.send('Profiler.start');
          }
          const pids = findInTree(process.pid, 'workerd');
          const cpu0 = pids.reduce((n, p) => n + cpuSeconds(p), 0);
          const t0 = performance.now();
          await op();
          const wall = (performance.now() - t0) / 1000;
          if (profile) {
            const { profile: p } = await s.send<{ profile: CpuProfile }>('Profiler.stop');
            writeFileSync(profile, JSON.stringify(p));
            console.log(`${profile}\n${summariseCpu(p, 30, true)}`);
            return { wall, cpu: NaN };
          }
          await idle(); // work the answer left (a push's alarms) counts too
          return { wall, cpu: pids.reduce((n, p) => n + cpuSeconds(p), 0) - cpu0 };
        },
      });
    }
    if (which !== 'hub') {
      // A copy: the push op writes to it.
      const copy = join(tmp, 'backend-root');
      cpSync(src, join(copy, 'refs.git'), { recursive: true });
      gitSync(home, join(copy, 'refs.git'), ['config', 'http.receivepack', 'true']);
      const backend = await startBackend(copy, join(tmp, 'lighttpd'));
      stops.push(() => backend.stop());
      servers.push({ name: 'backend', url: `${backend.url}/refs.git`, measure: (op) => measureTree(backend.pid, op) });
    }
    if (servers.length === 2) {
      const [a, b] = await Promise.all(servers.map((s) => git(home, tmp, ['ls-remote', s.url])));
      if (a !== b) throw new Error('ls-remote differs between hub and backend');
      console.log(`ls-remote outputs equal (${a.split('\n').length - 1} lines)`);
    }
    for (const op of ops(home, tmp)) {
      for (const s of servers) await op.prepare?.(s);
      const got = new Map<string, { wall: number; cpu: number }[]>();
      for (let k = 0; k < RUNS; k++) for (const s of servers) got.set(s.name, [...(got.get(s.name) ?? []), await s.measure(() => op.run(s, k))]);
      // One more run of the hub's, profiled (not counted).
      const hub = servers.find((s) => s.name === 'hub');
      if (PROFILE === op.name && hub) await hub.measure(() => op.run(hub, RUNS), join(WORK, `refs-${op.name}.cpuprofile`));
      const line = [...got].map(([name, xs]) => {
        const w = Math.min(...xs.map((x) => x.wall));
        const c = Math.min(...xs.map((x) => x.cpu));
        return `${name} wall ${w.toFixed(2)} s cpu ${c.toFixed(2)} s [${xs.map((x) => `${x.wall.toFixed(2)}/${x.cpu.toFixed(2)}`).join(' ')}]`;
      });
      console.log(`${op.name.padEnd(16)} ${line.join(' | ')}`);
    }
  } finally {
    session?.close();
    for (const stop of stops) await stop();
    rmSync(tmp, { recursive: true, force: true });
  }
}

await main();
