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
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { api } from '../test/e2e/hub-client.js';
import { freePort, startHub } from '../test/e2e/hub-server.js';
import { cdpSessions, summariseCpu, type CpuProfile } from './cdp.js';
import { corpus, LARGE, SMALL, runGit as git } from './git-corpus.js';
import { cpuSeconds, findInTree, rssBytes, sampleRss } from './proc.js';

const WORK = new URL('./.work/', import.meta.url).pathname;
const [which = 'small', kind = 'mirror', mode = 'none', clonesArg = '3'] = process.argv.slice(2);
const ARGS: Record<string, string[]> = { mirror: ['--mirror'], none: ['--bare', '--filter=blob:none'], depth: ['--bare', '--depth', '1'] };

async function main(): Promise<void> {
  if (!ARGS[kind]) throw new Error(`unknown clone kind ${kind} (mirror, none, depth)`);
  mkdirSync(WORK, { recursive: true });
  const c = await corpus(which === 'large' ? LARGE : SMALL, WORK, (s) => console.error(s));
  const inspector = await freePort();
  const hub = await startHub({ vars: { HUB_MAX_PUSH_BYTES: String(4 * 2 ** 30) }, timeoutMs: 120_000, devArgs: ['--inspector-port', String(inspector), '--r2-probe'] });
  const tmp = mkdtempSync(join(WORK, 'clone-'));
  const home = join(tmp, 'home');
  mkdirSync(home, { recursive: true });
  try {
    if ((await api(hub, 'POST', '/repos', { name: 'r', kind: 'git', public: true })).status !== 201) throw new Error('create r failed');
    const auth = hub.url.replace('http://', `http://bench:${hub.adminToken}@`);
    await git(home, c.dir, ['push', '-q', '--mirror', `${auth}/r.git`]);
    const clones = Number(clonesArg);
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
      const t = performance.now();
      await git(home, tmp, ['clone', '-q', ...ARGS[kind], `${hub.url}/r.git`, dest]);
      const wall = (performance.now() - t) / 1000;
      const peak = sampler.stop();
      const cpu = pids.reduce((n, p) => n + cpuSeconds(p), 0) - cpu0;
      console.log(`clone ${which} ${kind} #${run}: wall ${wall.toFixed(2)} s, workerd CPU ${cpu.toFixed(2)} s, peak RSS growth ${((peak - rss0) / 2 ** 20).toFixed(0)} MiB`);
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
    await hub.stop();
    rmSync(tmp, { recursive: true, force: true });
  }
}

await main();
