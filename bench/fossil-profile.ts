/**
 * Where a fossil push (or no-op sync) spends the hub's CPU and memory: runs
 * `wrangler dev` with an inspector port, records a V8 CPU profile (and a
 * sampling heap profile) of the Worker/Durable Object isolate over the
 * Chrome DevTools Protocol while a real `fossil push` of the small corpus
 * runs, then prints the top functions by self time and by allocation.
 *
 *   npx tsx bench/fossil-profile.ts [push|sync|clone|repack]     (corpus from bench/.work, built by the fossil bench)
 *
 * Writes bench/.work/fossil-push.cpuprofile (open in Chrome DevTools).
 */
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { api } from '../test/e2e/hub-client.js';
import { freePort, startHub } from '../test/e2e/hub-server.js';
import { check, runFossil, runFossilAsync } from '../test/e2e/fossil-client.js';
import { cdpSessions, inspectorTargets, summariseCpu, summariseHeap, type CpuProfile, type HeapProfile } from './cdp.js';
import { cpuSeconds, findInTree, rssBytes, sampleRss } from './proc.js';

const WORK = new URL('./.work/', import.meta.url).pathname;
const CORPUS = join(WORK, 'fossil-small-v2.fossil');
const mode = process.argv[2] ?? 'push';

async function main(): Promise<void> {
  if (!existsSync(CORPUS)) throw new Error(`${CORPUS} missing: run BENCH_QUICK=1 npx tsx bench/run.ts fossil once`);
  const inspector = await freePort();
  const hub = await startHub({ vars: { HUB_MAX_PUSH_BYTES: String(64 * 2 ** 20) }, timeoutMs: 120_000, devArgs: ['--inspector-port', String(inspector)] });
  // Straight to workerd, as the fossil bench does (short replies are padded: shared/protocols/fossil/body.ts).
  const front = { url: hub.url };
  const tmp = mkdtempSync(join(WORK, 'fossil-profile-'));
  const home = join(tmp, 'home');
  mkdirSync(home);
  try {
    const auth = front.url.replace('http://', `http://bench:${hub.adminToken}@`);
    const res = await api(hub, 'POST', '/repos', { name: 'p', kind: 'fossil', public: true });
    if (res.status !== 201) throw new Error(res.text);
    const probe = join(tmp, 'probe.fossil');
    check(runFossil(home, ['clone', `${front.url}/p`, probe]), 'clone');
    const code = check(runFossil(home, ['sql', '-R', probe, `SELECT value FROM config WHERE name='project-code'`]), 'sql').stdout.trim().replace(/'/g, '');
    const src = join(tmp, 'src.fossil');
    copyFileSync(CORPUS, src);
    check(runFossil(home, ['sql', '-R', src, `UPDATE config SET value='${code}' WHERE name='project-code'`]), 'sql');
    const clone = join(tmp, 'clone.fossil');
    let op = () => runFossilAsync(home, ['push', '-R', src, `${auth}/p`]);
    if (mode === 'repack') {
      // The push's repack alone: the DO alarm that follows the push.
      check(await runFossilAsync(home, ['push', '-R', src, `${auth}/p`]), 'push');
      op = async () => {
        await new Promise((r) => setTimeout(r, Number(process.env.REPACK_WAIT_MS ?? 20_000)));
        return { status: 0, output: '', stdout: '', stderr: '' } as Awaited<ReturnType<typeof runFossilAsync>>;
      };
    }
    if (mode === 'clone') {
      // What a clone costs the hub once the push's repack (a DO alarm after the push) is done.
      check(await runFossilAsync(home, ['push', '-R', src, `${auth}/p`]), 'push');
      await new Promise((r) => setTimeout(r, Number(process.env.REPACK_WAIT_MS ?? 20_000)));
      op = () => runFossilAsync(home, ['clone', `${front.url}/p`, clone]);
    }
    if (mode === 'sync') {
      check(await runFossilAsync(home, ['push', '-R', src, `${auth}/p`]), 'push');
      check(runFossil(home, ['clone', `${front.url}/p`, clone]), 'clone');
      check(await runFossilAsync(home, ['sync', '-R', clone]), 'sync');
      op = () => runFossilAsync(home, ['sync', '-R', clone]);
    }
    console.log('targets:', (await inspectorTargets(inspector)).map((t) => t.title).join(', '));
    const [session] = await cdpSessions(inspector, 1);
    await session.send('Profiler.enable');
    await session.send('Profiler.setSamplingInterval', { interval: 200 });
    await session.send('HeapProfiler.enable');
    await session.send('Runtime.enable');
    await session.send('Profiler.start');
    // Collected objects too: a push's memory is mostly garbage (without these flags only what is live at the end, ~1 MiB, was reported).
    await session.send('HeapProfiler.startSampling', { samplingInterval: 32768, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true });
    const pids = findInTree(process.pid, 'workerd');
    const cpu0 = pids.reduce((n, p) => n + cpuSeconds(p), 0);
    const rss0 = pids.reduce((n, p) => n + rssBytes(p), 0);
    const sampler = sampleRss(pids);
    let heapPeak = 0;
    const heapTimer = setInterval(() => {
      session.send<{ usedSize: number; totalSize: number }>('Runtime.getHeapUsage').then((u) => (heapPeak = Math.max(heapPeak, u.totalSize)), () => undefined);
    }, 50);
    const t = performance.now();
    const r = await op();
    clearInterval(heapTimer);
    const wall = (performance.now() - t) / 1000;
    const peak = sampler.stop();
    const cpu = pids.reduce((n, p) => n + cpuSeconds(p), 0) - cpu0;
    check(r, mode);
    const { profile } = await session.send<{ profile: CpuProfile }>('Profiler.stop');
    const { profile: heap } = await session.send<{ profile: HeapProfile }>('HeapProfiler.stopSampling');
    writeFileSync(join(WORK, `fossil-${mode}.cpuprofile`), JSON.stringify(profile));
    console.log(`${mode}: ${wall.toFixed(2)} s wall, workerd cpu ${cpu.toFixed(2)} s, rss +${((peak - rss0) / 2 ** 20).toFixed(0)} MiB, isolate heap peak ${(heapPeak / 2 ** 20).toFixed(0)} MiB`);
    console.log(r.output.split('\n').slice(-4).join('\n'));
    console.log(summariseCpu(profile, 30));
    console.log('allocations sampled (live at the end + collected):');
    console.log(summariseHeap(heap, 25));
    session.close();
  } finally {
    await hub.stop();
    rmSync(tmp, { recursive: true, force: true });
  }
}

await main();
