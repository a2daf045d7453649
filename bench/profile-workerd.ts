/**
 * Profiles the hub's workerd during one `git push --mirror` of a bench corpus:
 * wall, workerd CPU and peak RSS growth, plus (optionally) a CPU profile or a
 * sampling heap profile taken over the inspector (Chrome DevTools Protocol,
 * `wrangler dev --inspector-port`), summarised by self time / retained bytes.
 *
 *   npx tsx bench/profile-workerd.ts [small|large] [cpu|heap|none] [pushes]
 *
 * Profiles are written to bench/.work/push-*.cpuprofile|heapprofile (open them
 * in Chrome DevTools). `heap` reads the live sampled allocations halfway
 * through the push (by wall time of the previous push when pushes > 1, else
 * every 10 s, keeping the largest).
 */
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { api } from '../test/e2e/hub-client.js';
import { freePort, startHub } from '../test/e2e/hub-server.js';
import { cdpSessions, heapSampledBytes, summariseCpu, summariseHeap, type CpuProfile, type HeapProfile } from './cdp.js';
import { benchGitEnv, corpus, LARGE, SMALL } from './git-corpus.js';
import { cpuSeconds, findInTree, rssBytes, sampleRss } from './proc.js';

const WORK = new URL('./.work/', import.meta.url).pathname;
const [which = 'small', mode = 'cpu', pushesArg = '1'] = process.argv.slice(2);

function git(home: string, cwd: string, args: string[], progress = false): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn('git', args, { cwd, env: benchGitEnv(home), stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    const t0 = performance.now();
    let shown = 0;
    child.stderr.on('data', (d) => {
      err = (err + d).slice(-4000);
      // PROFILE_PROGRESS=1: git's progress lines with times, every 5 s (when did the client finish sending?).
      if (progress && performance.now() - shown > 5000) {
        shown = performance.now();
        console.error(`  git at ${((shown - t0) / 1000).toFixed(0)} s: ${String(d).split(/[\r\n]/).filter(Boolean).pop()}`);
      }
    });
    child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`git ${args.join(' ')} failed (${code}): ${err}`))));
  });
}

async function main(): Promise<void> {
  mkdirSync(WORK, { recursive: true });
  const c = await corpus(which === 'large' ? LARGE : SMALL, WORK, (s) => console.error(s));
  const inspector = await freePort();
  const hub = await startHub({ vars: { HUB_MAX_PUSH_BYTES: String(4 * 2 ** 30) }, timeoutMs: 120_000, devArgs: ['--inspector-port', String(inspector)] });
  const tmp = mkdtempSync(join(WORK, 'prof-'));
  const home = join(tmp, 'home');
  mkdirSync(home, { recursive: true });
  const auth = hub.url.replace('http://', `http://bench:${hub.adminToken}@`);
  const create = async (name: string) => {
    const res = await api(hub, 'POST', '/repos', { name, kind: 'git', public: true });
    if (res.status !== 201) throw new Error(`create ${name}: ${res.status}`);
  };
  try {
    // Warm-up: module compilation and the first DO, outside the measurement.
    const small = await corpus(SMALL, WORK);
    await create('warmup');
    await git(home, small.dir, ['push', '-q', '--mirror', `${auth}/warmup.git`]);
    const cdp = mode === 'none' ? null : (await cdpSessions(inspector, 1))[0];
    let lastWall = 0;
    for (let run = 0; run < Number(pushesArg); run++) {
      const name = `p${run}`;
      await create(name);
      const pids = findInTree(process.pid, 'workerd');
      const cpu0 = pids.reduce((n, p) => n + cpuSeconds(p), 0);
      const rss0 = pids.reduce((n, p) => n + rssBytes(p), 0);
      if (cdp && mode === 'cpu') {
        await cdp.send('Profiler.enable');
        await cdp.send('Profiler.setSamplingInterval', { interval: Number(process.env.PROFILE_INTERVAL_US ?? 500) });
        await cdp.send('Profiler.start');
      }
      if (cdp && mode === 'heap') {
        await cdp.send('HeapProfiler.enable');
        await cdp.send('HeapProfiler.startSampling', { samplingInterval: 64 * 1024 });
      }
      const sampler = sampleRss(pids, 50);
      const t = performance.now();
      let heapBest: HeapProfile | null = null;
      let heapBestSize = -1;
      const progress = process.env.PROFILE_PROGRESS === '1';
      const pushing = git(home, c.dir, ['push', progress ? '--progress' : '-q', '--mirror', `${auth}/${name}.git`], progress);
      // RSS growth over time (PROFILE_RSS_EVERY_S), to tell steady growth during ingest from a jump at commit.
      const every = Number(process.env.PROFILE_RSS_EVERY_S ?? 0);
      const rssTimer = every > 0 ? setInterval(() => console.error(`  ${((performance.now() - t) / 1000).toFixed(0)} s: RSS +${((pids.reduce((n, p) => n + rssBytes(p), 0) - rss0) / 2 ** 20).toFixed(0)} MiB`), every * 1000) : null;
      void pushing.finally(() => rssTimer && clearInterval(rssTimer)).catch(() => undefined);
      let done = false;
      void pushing.finally(() => (done = true)).catch(() => undefined);
      if (cdp && mode === 'heap') {
        const at = lastWall > 0 ? [lastWall / 2] : [];
        for (let k = 0; !done; k++) {
          const wait = at.length > 0 ? at[0] * 1000 : 10_000;
          await Promise.race([pushing.catch(() => undefined), new Promise((r) => setTimeout(r, wait))]);
          if (done) break;
          const { profile } = await cdp.send<{ profile: HeapProfile }>('HeapProfiler.getSamplingProfile');
          const size = heapSampledBytes(profile);
          console.error(`  heap sample at ${((performance.now() - t) / 1000).toFixed(1)} s: ${(size / 2 ** 20).toFixed(1)} MiB live (sampled), workerd RSS +${((pids.reduce((n, p) => n + rssBytes(p), 0) - rss0) / 2 ** 20).toFixed(0)} MiB`);
          if (size > heapBestSize) (heapBest = profile), (heapBestSize = size);
          if (at.length > 0) at.shift();
        }
      }
      await pushing;
      const wall = (performance.now() - t) / 1000;
      lastWall = wall;
      const peak = sampler.stop();
      const cpu = pids.reduce((n, p) => n + cpuSeconds(p), 0) - cpu0;
      console.log(`push ${which} #${run}: wall ${wall.toFixed(2)} s, workerd CPU ${cpu.toFixed(2)} s, peak RSS growth ${((peak - rss0) / 2 ** 20).toFixed(0)} MiB`);
      if (cdp && mode === 'cpu') {
        const { profile } = await cdp.send<{ profile: CpuProfile }>('Profiler.stop');
        const file = join(WORK, `push-${which}-${run}.cpuprofile`);
        writeFileSync(file, JSON.stringify(profile));
        console.log(`${file}\n${summariseCpu(profile)}`);
      }
      if (cdp && mode === 'heap') {
        await cdp.send('HeapProfiler.stopSampling');
        if (heapBest) {
          const file = join(WORK, `push-${which}-${run}.heapprofile`);
          writeFileSync(file, JSON.stringify(heapBest));
          console.log(`${file}\n${summariseHeap(heapBest)}`);
        }
      }
    }
    cdp?.close();
  } finally {
    await hub.stop();
    rmSync(tmp, { recursive: true, force: true });
  }
}

await main();
