/**
 * How long the repository's requests wait while the DO's alarm builds the
 * clone's reach plan after a push (SqlRepoStore.prebuildReachPlan): pushes a
 * bench corpus into a new repository, then runs `git ls-remote` against it
 * back to back for SECONDS (the alarm fires ~1 s after the push), each timed,
 * and prints their count, median and slowest (and when those over 0.5 s
 * started, from the push's end), with workerd's CPU over the window (the
 * build's). Then checks the plan was kept: one `git clone
 * --mirror`, its wall time and workerd CPU (it reads the kept plan).
 *
 *   npx tsx bench/git-prebuild.ts [small|large|many|manyN] [seconds]
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { api } from '../test/e2e/hub-client.js';
import { startHub } from '../test/e2e/hub-server.js';
import { benchGitEnv, corpus, LARGE, runGit as git, SMALL } from './git-corpus.js';
import { MANY_COMMITS, manyCorpus } from './git-many.js';
import { cpuSeconds, findInTree } from './proc.js';

const WORK = new URL('./.work/', import.meta.url).pathname;
const [which = 'large', secondsArg = '15'] = process.argv.slice(2);

async function main(): Promise<void> {
  mkdirSync(WORK, { recursive: true });
  const many = /^many(\d*)$/.exec(which);
  const log = (s: string) => console.error(s);
  const c = many ? await manyCorpus(Number(many[1] || MANY_COMMITS), WORK, log) : await corpus(which === 'large' ? LARGE : SMALL, WORK, log);
  const tmp = mkdtempSync(join(WORK, 'prebuild-'));
  const home = join(tmp, 'home');
  mkdirSync(home, { recursive: true });
  const hub = await startHub({ vars: { HUB_MAX_PUSH_BYTES: String(4 * 2 ** 30) }, timeoutMs: 120_000 });
  const workerdCpu = () => findInTree(process.pid, 'workerd').reduce((n, p) => n + cpuSeconds(p), 0);
  try {
    if ((await api(hub, 'POST', '/repos', { name: 'r', kind: 'git', public: true })).status !== 201) throw new Error('create r failed');
    const auth = hub.url.replace('http://', `http://bench:${hub.adminToken}@`);
    let t = performance.now();
    await git(home, c.dir, ['push', '-q', '--mirror', `${auth}/r.git`]);
    console.log(`push ${which}: ${((performance.now() - t) / 1000).toFixed(1)} s`);
    const cpu0 = workerdCpu();
    const waits: number[] = [];
    const slow: string[] = [];
    const start = performance.now();
    const end = start + Number(secondsArg) * 1000;
    while (performance.now() < end) {
      t = performance.now();
      const r = spawnSync('git', ['ls-remote', `${hub.url}/r.git`], { cwd: tmp, env: benchGitEnv(home), stdio: ['ignore', 'ignore', 'pipe'] });
      if (r.status !== 0) throw new Error(`ls-remote failed: ${r.stderr.toString()}`);
      waits.push(performance.now() - t);
      if (performance.now() - t > 500) slow.push(`${((performance.now() - t) / 1000).toFixed(2)} s at ${((t - start) / 1000).toFixed(1)} s`);
    }
    const sorted = [...waits].sort((a, b) => a - b);
    console.log(
      `ls-remote for ${secondsArg} s after the push: ${waits.length} runs, median ${sorted[sorted.length >> 1].toFixed(0)} ms, ` +
        `slowest ${sorted[sorted.length - 1].toFixed(0)} ms, 2nd ${sorted[sorted.length - 2]?.toFixed(0)} ms; workerd CPU ${(workerdCpu() - cpu0).toFixed(2)} s`,
    );
    console.log(`  over 0.5 s: ${slow.join(', ') || 'none'}`);
    const cpu1 = workerdCpu();
    t = performance.now();
    await git(home, tmp, ['clone', '-q', '--mirror', `${hub.url}/r.git`, join(tmp, 'c')]);
    console.log(`clone after it: ${((performance.now() - t) / 1000).toFixed(1)} s, workerd CPU ${(workerdCpu() - cpu1).toFixed(2)} s`);
  } finally {
    await hub.stop();
    rmSync(tmp, { recursive: true, force: true });
  }
}

await main();
