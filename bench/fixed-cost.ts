/**
 * The fixed per-request cost of git operations: many tiny operations against
 * one hub, workerd CPU (utime+stime, which includes miniflare's local D1, R2
 * and DO simulators) and wall time per operation, averaged.
 *
 *   npx tsx bench/fixed-cost.ts [rounds]
 *
 * Operations: creating a repository over the API; a push of a one-commit
 * repository into it (a new Durable Object each time); a no-op fetch of that
 * repository (protocol v2: info/refs + one ls-refs POST); an ls-remote with
 * credentials in the URL (git sends them only after a 401, so to a public
 * repository this is anonymous too); a no-op `fossil sync` (one xfer
 * request, straight to workerd as the fossil bench sends it),
 * anonymous and with a login card (a member's password). CPU is per process
 * (each workerd, the Node parent), from /proc schedstat. Run it
 * before and after a change, in the same load, and compare.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, startHub } from '../test/e2e/hub-server.js';
import { cdpSessions, summariseCpu, type CpuProfile } from './cdp.js';
import { runGit } from './git-corpus.js';
import { check, runFossilAsync } from '../test/e2e/fossil-client.js';
import { readdirSync, readFileSync } from 'node:fs';
import { findInTree } from './proc.js';

const rounds = Number(process.argv[2] ?? 20);
/** FIXED_PROFILE=push|fetch|ls-remote (any part of an operation's name): a CPU profile of that operation's rounds (workerd's inspector), summarised by self time. */
const profileOp = process.env.FIXED_PROFILE;

const git = runGit;

/**
 * The hub's processes: each workerd (what the git and fossil benches count as
 * hub CPU) and their parent Node process (not counted). Under `wrangler dev`
 * there are two workerds: wrangler's local proxy, listening on the port
 * clients use, and the one running the Worker (its entry socket on port 0).
 */
function hubProcesses(): { pid: number; label: string; counted: boolean }[] {
  const workerds = findInTree(process.pid, 'workerd');
  const out = workerds.map((pid) => {
    const worker = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').includes('--socket-addr=entry=127.0.0.1:0');
    return { pid, label: workerds.length === 1 ? 'workerd' : worker ? 'worker workerd' : 'proxy workerd', counted: true };
  });
  const parents = new Set(out.map((p) => Number(readFileSync(`/proc/${p.pid}/stat`, 'utf8').split(') ')[1].split(' ')[1])));
  return [...out, ...[...parents].map((pid) => ({ pid, label: 'node parent', counted: false }))];
}

/** CPU seconds `pid` has run, all threads, in nanoseconds' precision (schedstat; /proc/PID/stat counts 10 ms ticks). */
function runSeconds(pid: number): number {
  let ns = 0;
  try {
    for (const t of readdirSync(`/proc/${pid}/task`)) ns += Number(readFileSync(`/proc/${pid}/task/${t}/schedstat`, 'utf8').split(' ')[0]);
  } catch {
    // gone
  }
  return ns / 1e9;
}

async function main(): Promise<void> {
  const inspector = profileOp ? await freePort() : 0;
  const hub = await startHub({ timeoutMs: 120_000, devArgs: profileOp ? ['--inspector-port', String(inspector)] : [] });
  const tmp = mkdtempSync(join(tmpdir(), 'fixed-cost-'));
  const home = join(tmp, 'home');
  mkdirSync(home, { recursive: true });
  const src = join(tmp, 'src');
  const auth = hub.url.replace('http://', `http://bench:${hub.adminToken}@`);
  try {
    await git(home, tmp, ['init', '-q', '-b', 'main', src]);
    writeFileSync(join(src, 'a.txt'), 'hello\n');
    await git(home, src, ['add', 'a.txt']);
    await git(home, src, ['commit', '-q', '-m', 'one']);
    const create = async (name: string) => {
      const res = await fetch(`${hub.url}/api/repos`, {
        method: 'POST',
        headers: { authorization: `Bearer ${hub.adminToken}`, 'content-type': 'application/json' },
        body: JSON.stringify({ name, kind: 'git', public: true }),
      });
      if (res.status !== 201) throw new Error(`create ${name}: ${res.status}`);
    };
    const procs = hubProcesses();
    const cpu = () => procs.map((p) => runSeconds(p.pid));
    const totals = new Map<string, { wall: number; cpu: number[]; n: number }>();
    const sessions = profileOp ? await cdpSessions(inspector) : [];
    for (const s of sessions) {
      await s.send('Profiler.enable');
      await s.send('Profiler.setSamplingInterval', { interval: 200 });
    }
    const measure = async (what: string, fn: () => Promise<void>) => {
      const profiled = profileOp !== undefined && what.includes(profileOp);
      if (profiled) for (const s of sessions) await s.send('Profiler.start');
      const c0 = cpu();
      const t0 = performance.now();
      await fn();
      const t = totals.get(what) ?? { wall: 0, cpu: procs.map(() => 0), n: 0 };
      t.wall += (performance.now() - t0) / 1000;
      const c1 = cpu();
      t.cpu = t.cpu.map((v, i) => v + c1[i] - c0[i]);
      t.n++;
      totals.set(what, t);
      if (profiled) {
        for (const s of sessions) {
          const { profile } = await s.send<{ profile: CpuProfile }>('Profiler.stop');
          profiles.set(s.title, [...(profiles.get(s.title) ?? []), profile]);
        }
      }
    };
    const profiles = new Map<string, CpuProfile[]>();
    // Warm-up: module compilation, the first DO.
    await create('warm');
    await git(home, src, ['push', '-q', `${auth}/warm.git`, 'main']);
    await git(home, tmp, ['clone', '-q', '--bare', `${hub.url}/warm.git`, join(tmp, 'warm-clone')]);
    // Fossil: a public repository, a member with a password, a clone each way (the login's URL is given to each sync).
    const admin = { authorization: `Bearer ${hub.adminToken}`, 'content-type': 'application/json' };
    for (const [path, method, body] of [
      ['/repos', 'POST', { name: 'fos', kind: 'fossil', public: true }],
      ['/users', 'POST', { name: 'fan', password: 'fan-password' }],
      ['/repos/fos/members/fan', 'PUT', { role: 'write' }],
    ] as const) {
      const res = await fetch(`${hub.url}/api${path}`, { method, headers: admin, body: JSON.stringify(body) });
      if (res.status >= 300) throw new Error(`${method} ${path}: ${res.status}`);
    }
    const fossil = async (args: string[]) => void check(await runFossilAsync(home, args, tmp), `fossil ${args[0]}`);
    const login = hub.url.replace('http://', 'http://fan:fan-password@');
    await fossil(['clone', `${hub.url}/fos`, join(tmp, 'anon.fossil')]);
    await fossil(['clone', `${login}/fos`, join(tmp, 'fan.fossil')]);
    for (let i = 0; i < rounds; i++) {
      const name = `r${i}`;
      await measure('create repository (API)', () => create(name));
      await measure('push 1 commit into a new repository', () => git(home, src, ['push', '-q', `${auth}/${name}.git`, 'main']));
      await measure('no-op fetch (anonymous)', () => git(home, join(tmp, 'warm-clone'), ['fetch', '-q', `${hub.url}/warm.git`]));
      await measure('ls-remote (admin token, Basic)', () => git(home, tmp, ['ls-remote', '-q', `${auth}/${name}.git`]));
      await measure('fossil no-op sync (anonymous)', () => fossil(['sync', '-R', join(tmp, 'anon.fossil')]));
      await measure('fossil no-op sync (login card)', () => fossil(['sync', `${login}/fos`, '-R', join(tmp, 'fan.fossil')]));
    }
    for (const [title, list] of profiles) {
      console.log(`--- ${title} (${list.length} rounds of ${profileOp}; per round: divide by ${list.length})\n${summariseCpu(list, 35, true)}`);
    }
    for (const s of sessions) s.close();
    const ms = (s: number, n: number) => ((1000 * s) / n).toFixed(1).padStart(6);
    for (const [what, t] of totals) {
      const workerd = t.cpu.reduce((a, v, i) => a + (procs[i].counted ? v : 0), 0);
      const split = procs.map((p, i) => `${p.label} ${ms(t.cpu[i], t.n)}`).join('  ');
      console.log(`${what.padEnd(40)} wall ${ms(t.wall, t.n)} ms  workerd CPU ${ms(workerd, t.n)} ms  (${split}; n=${t.n})`);
    }
  } finally {
    await hub.stop();
    rmSync(tmp, { recursive: true, force: true });
  }
}

await main();
