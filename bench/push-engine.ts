/**
 * A/B of the push engine's CPU in workerd: receivePack of the small bench
 * corpus's mirror push into memory stores (no DO SQLite, R2 or D1 simulator,
 * no HTTP), with the sources of two checkouts, each bundled by esbuild and
 * served by its own Miniflare (wrangler's workerd, as `npm start` runs it).
 * Requests alternate between the two, so the machine's load drifts onto both
 * alike; workerd CPU (schedstat, all threads) is taken per request.
 *
 *   npx tsx bench/push-engine.ts DIR_A [DIR_B] [rounds]
 *
 * PUSH_ENGINE_STORE=do: each push goes to a new Durable Object with SQLite
 * (the hub's SqlRepoStore through localRepoStore, its schema made as a new
 * repository's is; segments still in memory), so the index insert, the
 * commit's checks and a new repository's creation count too: a fresh
 * repository's first push, without HTTP, R2 or D1.
 *
 * DIR_B defaults to this checkout. A checkout of another revision:
 * `git worktree add /tmp/a REV && ln -s $PWD/node_modules /tmp/a/`.
 * Prints median and least CPU per request of each, and the median of the
 * B/A ratios of adjacent requests. Why: a whole push's CPU (bench/
 * profile-workerd.ts) also counts miniflare's simulators, and the inspector's
 * samples on a shared machine blame frames for time the thread spent in
 * other isolates (the D1 simulator's) or off the CPU.
 */
import { createRequire } from 'node:module';
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { encodePkt } from '../shared/protocols/git/pkt-line.js';
import { corpus, SMALL } from './git-corpus.js';
import { findInTree } from './proc.js';
import { cdpSessions, summariseCpu, type CpuProfile } from './cdp.js';
import { freePort } from '../test/e2e/hub-server.js';

const WORK = new URL('./.work/', import.meta.url).pathname;
// The Miniflare and esbuild wrangler itself runs (scripts/dev.mjs: the top-level ones may be other versions).
const fromWrangler = createRequire(createRequire(import.meta.url).resolve('wrangler'));
const { Miniflare } = fromWrangler('miniflare');
const { build } = fromWrangler('esbuild') as typeof import('esbuild');
const [dirA, dirB = process.cwd(), roundsArg = '15'] = process.argv.slice(2);
if (!dirA) throw new Error('usage: npx tsx bench/push-engine.ts DIR_A [DIR_B] [rounds]');

/** The Worker: receivePack of the POSTed body into fresh memory stores, native primitives. */
const ENTRY = `
import { applyFossilDelta, applyGitDelta } from './shared/delta/index.js';
import { fromReadableStream } from './shared/core/stream.js';
import { receivePack } from './shared/protocols/git/receive-pack.js';
import { MemoryRepoStore, MemorySegmentStore } from './shared/storage/memory.js';
import { nativePrimitives } from './worker/primitives.js';
export default {
  async fetch(request) {
    const repo = new MemoryRepoStore();
    const store = { refs: repo, index: repo, committer: repo, segments: new MemorySegmentStore(), primitives: nativePrimitives, appliers: { git: applyGitDelta, fossil: applyFossilDelta } };
    let last = new Uint8Array(0);
    for await (const c of receivePack(store, fromReadableStream(request.body), { maxPackBytes: 2 ** 40 })) last = c;
    return new Response(new TextDecoder().decode(last));
  },
};`;

/** PUSH_ENGINE_STORE=do: the same receivePack inside a new SQLite Durable Object per request. */
const ENTRY_DO = `
import { DurableObject } from 'cloudflare:workers';
import { applyFossilDelta, applyGitDelta } from './shared/delta/index.js';
import { fromReadableStream } from './shared/core/stream.js';
import { receivePack } from './shared/protocols/git/receive-pack.js';
import { MemorySegmentStore } from './shared/storage/memory.js';
import { nativePrimitives } from './worker/primitives.js';
import { ensureGitSchema, localRepoStore } from './worker/durable/repo.js';
import { SqlRepoStore } from './worker/durable/repo-store.js';
export class EngineRepo extends DurableObject {
  constructor(ctx, env) {
    super(ctx, env);
    this.store = new SqlRepoStore(ctx.storage);
    void ctx.blockConcurrencyWhile(async () => {
      ensureGitSchema(ctx.storage);
      this.store.sweepStages();
    });
  }
  async fetch(request) {
    const local = localRepoStore(this.store);
    const store = { refs: local, index: local, committer: local, segments: new MemorySegmentStore(), primitives: nativePrimitives, appliers: { git: applyGitDelta, fossil: applyFossilDelta } };
    let last = new Uint8Array(0);
    for await (const c of receivePack(store, fromReadableStream(request.body), { maxPackBytes: 2 ** 40 })) last = c;
    return new Response(new TextDecoder().decode(last));
  }
}
export default {
  async fetch(request, env) {
    return env.REPO.get(env.REPO.newUniqueId()).fetch(request);
  },
};`;
const useDo = process.env.PUSH_ENGINE_STORE === 'do';
/** PUSH_ENGINE_PROFILE=1: a CPU profile of B's pushes over the inspector, summarised by self time (samples also land on A's isolate while B idles). */
const profiling = process.env.PUSH_ENGINE_PROFILE === '1';

async function bundle(dir: string): Promise<string> {
  // keepNames as wrangler bundles the Worker.
  const out = await build({ stdin: { contents: useDo ? ENTRY_DO : ENTRY, resolveDir: resolve(dir), loader: 'ts' }, bundle: true, format: 'esm', platform: 'neutral', external: ['node:*', 'cloudflare:*'], keepNames: true, write: false });
  return out.outputFiles[0].text;
}

/** CPU seconds of `pids` (all threads), from schedstat (ns). */
function cpu(pids: number[]): number {
  let ns = 0;
  for (const pid of pids) for (const t of readdirSync(`/proc/${pid}/task`)) ns += Number(readFileSync(`/proc/${pid}/task/${t}/schedstat`, 'utf8').split(' ')[0]);
  return ns / 1e9;
}

const median = (a: number[]) => [...a].sort((x, y) => x - y)[a.length >> 1];

async function main(): Promise<void> {
  const c = await corpus(SMALL, WORK);
  const packDir = join(c.dir, 'objects/pack');
  const pack = readFileSync(join(packDir, readdirSync(packDir).find((f) => f.endsWith('.pack'))!));
  const refs = execFileSync('git', ['for-each-ref', '--format=%(objectname) %(refname)'], { cwd: c.dir, encoding: 'utf8' }).trim().split('\n');
  const head = refs.map((line, i) => encodePkt(`${'0'.repeat(40)} ${line}${i === 0 ? '\0report-status' : ''}\n`));
  const body = Buffer.concat([...head, Buffer.from('0000'), pack]);
  const opts = {
    modules: true,
    compatibilityDate: '2026-04-20',
    compatibilityFlags: ['nodejs_compat'],
    ...(useDo ? { durableObjects: { REPO: { className: 'EngineRepo', useSQLite: true } } } : {}),
  };
  const sides = [
    { name: `A ${dirA}`, mf: new Miniflare({ ...opts, script: await bundle(dirA) }), cpu: [] as number[] },
    { name: `B ${dirB}`, mf: new Miniflare({ ...opts, script: await bundle(dirB), ...(profiling ? { inspectorPort: await freePort() } : {}) }), cpu: [] as number[] },
  ];
  const profiles: CpuProfile[] = [];
  try {
    const push = async (s: (typeof sides)[number]) => {
      const text = await (await s.mf.dispatchFetch('http://engine/', { method: 'POST', body })).text();
      if (!text.includes('unpack ok')) throw new Error(`${s.name}: ${text.slice(0, 200)}`);
    };
    for (const s of sides) for (let w = 0; w < 2; w++) await push(s); // compile and warm up
    const pids = findInTree(process.pid, 'workerd');
    const sessions = profiling ? await cdpSessions(Number((await sides[1].mf.getInspectorURL()).port)) : [];
    for (const s of sessions) {
      await s.send('Profiler.enable');
      await s.send('Profiler.setSamplingInterval', { interval: 200 });
    }
    for (let r = 0; r < Number(roundsArg); r++) {
      for (const s of r % 2 === 0 ? sides : [...sides].reverse()) {
        const profiled = s === sides[1] && sessions.length > 0;
        if (profiled) for (const x of sessions) await x.send('Profiler.start');
        const c0 = cpu(pids);
        await push(s);
        s.cpu.push(cpu(pids) - c0);
        if (profiled) for (const x of sessions) profiles.push((await x.send<{ profile: CpuProfile }>('Profiler.stop')).profile);
      }
    }
    const ms = (x: number) => `${(x * 1000).toFixed(1)} ms`;
    for (const s of sides) console.log(`${s.name}: median ${ms(median(s.cpu))}, least ${ms(Math.min(...s.cpu))} (${s.cpu.length} pushes of ${refs.length} refs, ${pack.length} pack bytes)`);
    if (profiles.length > 0) console.log(summariseCpu(profiles, 45));
    // The last push's, one per inspector target, for Chrome DevTools (bench/.work/push-engine-N.cpuprofile).
    profiles.slice(-sessions.length).forEach((p, i) => writeFileSync(join(WORK, `push-engine-${i}.cpuprofile`), JSON.stringify(p)));
    for (const x of sessions) x.close();
    console.log(`B/A of adjacent pushes: median ${median(sides[1].cpu.map((b, i) => b / sides[0].cpu[i])).toFixed(3)}`);
  } finally {
    for (const s of sides) await s.mf.dispose();
  }
}

await main();
