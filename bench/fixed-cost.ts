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
 * credentials (Basic, the admin token). Run it before and after a change, in
 * the same load, and compare.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, startHub } from '../test/e2e/hub-server.js';
import { cdpSessions, summariseCpu, type CpuProfile } from './cdp.js';
import { benchGitEnv } from './git-corpus.js';
import { cpuSeconds, findInTree } from './proc.js';

const rounds = Number(process.argv[2] ?? 20);
/** FIXED_PROFILE=push|fetch|ls-remote (any part of an operation's name): a CPU profile of that operation's rounds (workerd's inspector), summarised by self time. */
const profileOp = process.env.FIXED_PROFILE;

function git(home: string, cwd: string, args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn('git', args, { cwd, env: benchGitEnv(home), stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr.on('data', (d) => (err = (err + d).slice(-2000)));
    child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`git ${args.join(' ')} failed (${code}): ${err}`))));
  });
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
    const pids = findInTree(process.pid, 'workerd');
    const cpu = () => pids.reduce((n, p) => n + cpuSeconds(p), 0);
    const totals = new Map<string, { wall: number; cpu: number; n: number }>();
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
      const t = totals.get(what) ?? { wall: 0, cpu: 0, n: 0 };
      t.wall += (performance.now() - t0) / 1000;
      t.cpu += cpu() - c0;
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
    for (let i = 0; i < rounds; i++) {
      const name = `r${i}`;
      await measure('create repository (API)', () => create(name));
      await measure('push 1 commit into a new repository', () => git(home, src, ['push', '-q', `${auth}/${name}.git`, 'main']));
      await measure('no-op fetch (anonymous)', () => git(home, join(tmp, 'warm-clone'), ['fetch', '-q', `${hub.url}/warm.git`]));
      await measure('ls-remote (admin token, Basic)', () => git(home, tmp, ['ls-remote', '-q', `${auth}/${name}.git`]));
    }
    for (const [title, list] of profiles) {
      console.log(`--- ${title} (${list.length} rounds of ${profileOp}; per round: divide by ${list.length})\n${summariseCpu(list, 35, true)}`);
    }
    for (const s of sessions) s.close();
    for (const [what, t] of totals) console.log(`${what.padEnd(40)} wall ${((1000 * t.wall) / t.n).toFixed(1).padStart(7)} ms  workerd CPU ${((1000 * t.cpu) / t.n).toFixed(1).padStart(7)} ms  (n=${t.n})`);
  } finally {
    await hub.stop();
    rmSync(tmp, { recursive: true, force: true });
  }
}

await main();
