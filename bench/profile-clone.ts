/**
 * Profiles the hub's workerd while serving clones of a bench corpus: pushes
 * it once, then clones it `clones` times (the first clone of a repository
 * proves its reachability closure; later ones stream what the index already
 * knows), each with wall time, workerd CPU and peak RSS growth. `cpu` takes a
 * CPU profile over the inspector of the last clone (bench/.work/
 * clone-<corpus>-<kind>.cpuprofile, summarised by self time).
 *
 *   npx tsx bench/profile-clone.ts [small|large] [mirror|none|depth] [cpu|none] [clones]
 *
 * mirror: `git clone --mirror`; none: `--bare --filter=blob:none`; depth:
 * `--bare --depth 1`. The sampled profile counts wall time while the
 * isolate's thread runs, so on a busy machine its absolute numbers are
 * inflated: compare CPU seconds of runs taken back to back.
 *
 * Each clone also prints its timeline, from git's own progress lines (seconds
 * from the start): the first progress line (the server has enumerated), the
 * first object received (the pack has begun), all received (the server is done
 * sending), deltas resolved; and the server's CPU by the time all was received.
 * PROFILE_REF=1 follows each hub clone with the same clone from git
 * http-backend behind lighttpd serving the corpus in place (its CPU: lighttpd
 * and its CGI children), so the two timelines can be compared run by run.
 * PROFILE_PAUSE=S waits S seconds between the push and the first clone (a
 * user's clone rarely follows a push within the second: work the hub does
 * after a push shows then).
 */
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { api } from '../test/e2e/hub-client.js';
import { freePort, startHub } from '../test/e2e/hub-server.js';
import { cdpSessions, summariseCpu, type CpuProfile } from './cdp.js';
import { benchGitEnv, corpus, LARGE, SMALL, runGit as git } from './git-corpus.js';
import { startBackend, type Backend } from './git-http.bench.js';
import { cpuSeconds, findInTree, rssBytes, sampleRss, treeCpuSeconds } from './proc.js';

const WORK = new URL('./.work/', import.meta.url).pathname;
const [which = 'small', kind = 'mirror', mode = 'none', clonesArg = '3'] = process.argv.slice(2);
const ARGS: Record<string, string[]> = { mirror: ['--mirror'], none: ['--bare', '--filter=blob:none'], depth: ['--bare', '--depth', '1'] };

async function main(): Promise<void> {
  if (!ARGS[kind]) throw new Error(`unknown clone kind ${kind} (mirror, none, depth)`);
  mkdirSync(WORK, { recursive: true });
  const c = await corpus(which === 'large' ? LARGE : SMALL, WORK, (s) => console.error(s));
  const inspector = await freePort();
  const tmp = mkdtempSync(join(WORK, 'clone-'));
  let backend: Backend | null = null;
  if (process.env.PROFILE_REF === '1') {
    mkdirSync(join(tmp, 'srv'));
    symlinkSync(c.dir, join(tmp, 'srv', 'corpus.git'));
    // As git-http.bench.ts serves it: a partial clone needs the server's consent in git.
    await git(home0(tmp), c.dir, ['config', 'uploadpack.allowFilter', 'true']);
    backend = await startBackend(join(tmp, 'srv'), tmp);
  }
  const hub = await startHub({ vars: { HUB_MAX_PUSH_BYTES: String(4 * 2 ** 30) }, timeoutMs: 120_000, devArgs: ['--inspector-port', String(inspector), '--r2-probe'] });
  const home = home0(tmp);
  try {
    if ((await api(hub, 'POST', '/repos', { name: 'r', kind: 'git', public: true })).status !== 201) throw new Error('create r failed');
    const auth = hub.url.replace('http://', `http://bench:${hub.adminToken}@`);
    await git(home, c.dir, ['push', '-q', '--mirror', `${auth}/r.git`]);
    const clones = Number(clonesArg);
    const pause = Number(process.env.PROFILE_PAUSE ?? 0);
    if (pause > 0) await new Promise((r) => setTimeout(r, pause * 1000));
    for (let run = 0; run < clones; run++) {
      const pids = findInTree(process.pid, 'workerd');
      const cpu0 = pids.reduce((n, p) => n + cpuSeconds(p), 0);
      const rss0 = pids.reduce((n, p) => n + rssBytes(p), 0);
      const cdp = mode === 'cpu' && run === clones - 1 ? (await cdpSessions(inspector, 1))[0] : null;
      if (cdp) {
        await cdp.send('Profiler.enable');
        await cdp.send('Profiler.setSamplingInterval', { interval: 500 });
        await cdp.send('Profiler.start');
      }
      const sampler = sampleRss(pids, 20);
      const dest = join(tmp, `c${run}`);
      const timeline = await timedClone(home, tmp, [...ARGS[kind], `${hub.url}/r.git`, dest], () => pids.reduce((n, p) => n + cpuSeconds(p), 0) - cpu0);
      const peak = sampler.stop();
      const cpu = pids.reduce((n, p) => n + cpuSeconds(p), 0) - cpu0;
      console.log(`clone ${which} ${kind} #${run}: wall ${timeline.wall.toFixed(2)} s, workerd CPU ${cpu.toFixed(2)} s, peak RSS growth ${((peak - rss0) / 2 ** 20).toFixed(0)} MiB`);
      console.log(`  ${timeline.text}`);
      if (backend) {
        const refDest = join(tmp, `ref${run}`);
        const ref0 = treeCpuSeconds(backend.pid);
        const r = await timedClone(home, tmp, [...ARGS[kind], `${backend.url}/corpus.git`, refDest], () => treeCpuSeconds(backend.pid) - ref0);
        console.log(`clone ${which} ${kind} #${run} from http-backend: wall ${r.wall.toFixed(2)} s, CPU ${(treeCpuSeconds(backend.pid) - ref0).toFixed(2)} s\n  ${r.text}`);
        rmSync(refDest, { recursive: true, force: true });
      }
      // The local R2 simulator's cost of the segments' bytes alone (bench/r2-probe, as in git-http.bench.ts).
      const sim0 = pids.reduce((n, p) => n + cpuSeconds(p), 0);
      const probe = await (await fetch(`${hub.url}/__r2probe?repo=r`)).text();
      console.log(`  bare R2 read of the repository's segments ${probe}: workerd CPU ${(pids.reduce((n, p) => n + cpuSeconds(p), 0) - sim0).toFixed(2)} s`);
      rmSync(dest, { recursive: true, force: true });
      if (cdp) {
        const { profile } = await cdp.send<{ profile: CpuProfile }>('Profiler.stop');
        const file = join(WORK, `clone-${which}-${kind}.cpuprofile`);
        writeFileSync(file, JSON.stringify(profile));
        console.log(`${file}\n${summariseCpu(profile)}`);
        cdp.close();
      }
    }
  } finally {
    await backend?.stop();
    await hub.stop();
    rmSync(tmp, { recursive: true, force: true });
  }
}

/** The bench's HOME for git under `tmp` (made on first use). */
function home0(tmp: string): string {
  const home = join(tmp, 'home');
  mkdirSync(home, { recursive: true });
  return home;
}

/**
 * `git clone --progress ARGS` with its timeline: when each of git's progress stages first showed
 * and reached 100% (seconds from the start), and `serverCpu()` when every object was received.
 */
function timedClone(home: string, cwd: string, args: string[], serverCpu: () => number): Promise<{ wall: number; text: string }> {
  return new Promise((resolve, reject) => {
    const t = performance.now();
    const at = () => (performance.now() - t) / 1000;
    const marks = new Map<string, number>();
    let received = NaN;
    let err = '';
    let partial = '';
    const child = spawn('git', ['clone', '--progress', ...args], { cwd, env: benchGitEnv(home), stdio: ['ignore', 'ignore', 'pipe'] });
    child.stderr.on('data', (d: Buffer) => {
      err = (err + d.toString()).slice(-8000);
      // Progress lines end in \r while they update, in \n when done; a read may end mid-line.
      const lines = (partial + d.toString()).split(/[\r\n]/);
      partial = lines.pop()!;
      for (const line of lines) {
        if (!marks.has('first') && /^(remote: )?[A-Z][a-z ]+: /.test(line)) marks.set('first', at());
        const m = /^(remote: )?([A-Za-z ]+): +(\d+)%/.exec(line);
        if (!m) continue;
        const stage = m[2];
        if (!marks.has(stage)) marks.set(stage, at());
        if (m[3] === '100' && !marks.has(`${stage} 100%`)) {
          marks.set(`${stage} 100%`, at());
          if (stage === 'Receiving objects') received = serverCpu();
        }
      }
    });
    child.on('exit', (code) => {
      if (code !== 0) return reject(new Error(`git clone failed (${code}): ${err}`));
      const wall = at();
      const when = (k: string) => (marks.has(k) ? marks.get(k)!.toFixed(2) : '-');
      resolve({
        wall,
        text:
          `first progress ${when('first')} s, first object ${when('Receiving objects')}, all received ${when('Receiving objects 100%')}` +
          ` (server CPU by then ${Number.isNaN(received) ? '-' : received.toFixed(2)} s), deltas resolved ${when('Resolving deltas 100%')}`,
      });
    });
  });
}

await main();
