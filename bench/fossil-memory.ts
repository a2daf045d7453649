/**
 * A fossil push's memory, the background repack's CPU and the clone after it,
 * in one workerd: the hub started with an inspector, a corpus pushed into an
 * empty repository while the isolate's heap is polled (bench/cdp.ts
 * heapMonitor), then the repack alarm timed until workerd is idle, then a
 * clone checked with `fossil test-integrity` and compared artifact by artifact.
 *
 *   npx tsx bench/fossil-memory.ts [CORPUS.fossil]     (default: bench/.work/fossil-small-v2.fossil)
 *
 * MEM_SNAPSHOT_MIB=N: the sampling heap profiler's live objects by allocating
 * function (bench/.work/fossil-memory.heapprofile) the first time the
 * isolate's used heap + buffers pass N MiB during the push (it does not see
 * ArrayBuffer contents, most of a push's peak). MEM_GC_EVERY=N: every Nth heap
 * poll of the push follows a forced full GC ("live after GC": what was live,
 * not garbage; slows the push). MEM_SKIP_CLONE=1: push and repack only;
 * MEM_PUSH_ONLY=1: the push only. MEM_WARM=FILE.fossil: first (unmeasured) FILE is pushed to
 * another repository, the repack waited for and a clone made, as `npm run bench` runs the small
 * corpus's operations in the same workerd before the large push (its RSS growth is measured from
 * there, over memory the allocator already holds). MEM_PULL=1: after the clone, a pull of everything into a
 * clone made before the push (gimme answers; MEM_GC_EVERY applies to it too), checked with
 * test-integrity. MEM_PROFILE_REPACK=1: a CPU profile of the
 * repack (bench/.work/fossil-memory-repack.cpuprofile), its top functions printed.
 * MEM_TCMALLOC=1: workerd's allocator's own account after the push (tcmallocStats).
 * MEM_TRACE=S: workerd's RSS growth and the isolate's heap every S seconds of the push; the RSS growth of
 * workerd's V8 cage (the 4 GiB reservation all its isolates share) apart from its other anonymous memory
 * (the allocator's: ArrayBuffer contents, SQLite pages, I/O buffers).
 * MEM_SMAPS=1: where workerd's RSS grew by the push's peak (bench/proc.ts smapsGrowth: V8's pointer
 * cage apart from the allocator's region, which holds ArrayBuffer contents and SQLite pages).
 * A mid-size corpus for A/B: the bench's FOSSIL_LARGE spec with fewer commits
 * (bench/git-corpus.ts corpus(), then git fast-export | fossil import --git).
 */
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, readFileSync, writeFileSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { api } from '../test/e2e/hub-client.js';
import { freePort, startHub } from '../test/e2e/hub-server.js';
import { artifactHashes, check, runFossil, runFossilAsync } from '../test/e2e/fossil-client.js';
import { cdpSessions, heapMonitor, summariseCpu, summariseHeap, type CpuProfile, type CdpSession, type HeapProfile, type HeapUsage } from './cdp.js';
import { cpuSeconds, findInTree, rssBytes, sampleRss, smaps, smapsGrowth } from './proc.js';

const WORK = new URL('./.work/', import.meta.url).pathname;
const corpus = process.argv[2] ?? join(WORK, 'fossil-small-v2.fossil');
const mib = (b: number) => (b / 2 ** 20).toFixed(0);

async function main(): Promise<void> {
  if (!existsSync(corpus)) throw new Error(`${corpus} missing`);
  const inspector = await freePort();
  const hub = await startHub({ vars: { HUB_MAX_PUSH_BYTES: String(64 * 2 ** 20) }, timeoutMs: 120_000, devArgs: ['--inspector-port', String(inspector)] });
  const tmp = mkdtempSync(join(WORK, 'fossil-memory-'));
  const home = join(tmp, 'home');
  mkdirSync(home);
  // The Worker's isolate (as bench/cdp.ts workerSession picks it), and miniflare's simulators beside it in the same
  // workerd process (their memory is in its RSS too): R2, D1, the entry worker.
  const sessions = await cdpSessions(inspector);
  const cdp = sessions.find((s) => s.title.includes('core:user:') && !s.title.includes('core:user:r2probe'));
  if (!cdp) throw new Error(`no core:user: target on inspector port ${inspector}`);
  const simulators = sessions.filter((s) => s !== cdp && /r2:bucket:|d1:db:|core:entry/.test(s.title));
  for (const s of sessions) if (s !== cdp && !simulators.includes(s)) s.close();
  try {
    const auth = hub.url.replace('http://', `http://bench:${hub.adminToken}@`);
    const res = await api(hub, 'POST', '/repos', { name: 'm', kind: 'fossil', public: true });
    if (res.status !== 201) throw new Error(res.text);
    const probe = join(tmp, 'probe.fossil');
    check(runFossil(home, ['clone', `${hub.url}/m`, probe]), 'clone');
    const code = check(runFossil(home, ['sql', '-R', probe, `SELECT value FROM config WHERE name='project-code'`]), 'sql').stdout.trim().replace(/'/g, '');
    const src = join(tmp, 'src.fossil');
    copyFileSync(corpus, src);
    check(runFossil(home, ['sql', '-R', src, `UPDATE config SET value='${code}' WHERE name='project-code'`]), 'sql');
    const pids = findInTree(process.pid, 'workerd');
    const cpu = () => pids.reduce((n, p) => n + cpuSeconds(p), 0);
    if (process.env.MEM_WARM) await warm(process.env.MEM_WARM, hub, auth, home, tmp, cpu);

    // The push.
    const snapAt = Number(process.env.MEM_SNAPSHOT_MIB ?? 0) * 2 ** 20;
    let snapping: Promise<void> | null = null;
    const snapTimer = snapAt
      ? setInterval(() => {
          if (snapping) return;
          void cdp.send<HeapUsage>('Runtime.getHeapUsage').then((u) => {
            if (snapping || u.usedSize + (u.backingStorageSize ?? 0) < snapAt) return;
            snapping = (console.log(`at ${mib(u.usedSize + (u.backingStorageSize ?? 0))} MiB (buffers ${mib(u.backingStorageSize ?? 0)}):`), liveSample(cdp, join(WORK, 'fossil-memory.heapprofile')));
          });
        }, 100)
      : undefined;
    if (snapAt) {
      await cdp.send('HeapProfiler.enable');
      await cdp.send('HeapProfiler.startSampling', { samplingInterval: 65536 });
    }
    const rss0 = pids.reduce((n, p) => n + rssBytes(p), 0);
    const sampler = sampleRss(pids);
    const sm = process.env.MEM_SMAPS === '1' ? smapsGrowth([...pids].sort((a, b) => rssBytes(b) - rssBytes(a))[0]) : null;
    const heap = heapMonitor([cdp], 100, Number(process.env.MEM_GC_EVERY ?? 0));
    const simHeap = heapMonitor(simulators, 200);
    const c0 = cpu();
    let t = performance.now();
    const traceMs = Number(process.env.MEM_TRACE ?? 0) * 1000;
    const main = [...pids].sort((a, b) => rssBytes(b) - rssBytes(a))[0];
    const anon0 = traceMs ? anonRegions(main) : null;
    const trace = traceMs
      ? setInterval(() => {
          void cdp.send<HeapUsage>('Runtime.getHeapUsage').then((u) =>
            console.log(
              `  ${((performance.now() - t) / 1000).toFixed(0)} s: rss +${mib(pids.reduce((n, p) => n + rssBytes(p), 0) - rss0)} MiB (${anonGrowth(anon0!, anonRegions(main))}), isolate ${mib(u.usedSize + (u.backingStorageSize ?? 0))} (buffers ${mib(u.backingStorageSize ?? 0)})`,
            ),
          );
        }, traceMs)
      : undefined;
    const r = await runFossilAsync(home, ['push', '-R', src, `${auth}/m`]);
    clearInterval(trace);
    const pushWall = (performance.now() - t) / 1000;
    const pushCpu = cpu() - c0;
    const peak = [...(await heap.stop()).values()][0];
    const simPeaks = [...(await simHeap.stop())].map(([title, p]) => `${title.replace(/^.*worker /, '')} ${mib(p.used)} (buffers ${mib(p.buffers)})`);
    const rss = sampler.stop() - rss0;
    const smapsLine = sm?.stop();
    clearInterval(snapTimer);
    await snapping;
    check(r, 'push');
    console.log(`push: ${pushWall.toFixed(1)} s wall, workerd cpu ${pushCpu.toFixed(1)} s, rss +${mib(rss)} MiB, isolate peak ${mib(peak.used)} MiB (buffers ${mib(peak.buffers)}, live after GC ${mib(peak.live)}), start ${mib(peak.used0)}`);
    if (smapsLine) console.log(`  ${smapsLine}`);
    if (process.env.MEM_TCMALLOC === '1') console.log(`  ${tcmallocStats([...pids].sort((a, b) => rssBytes(b) - rssBytes(a))[0], tmp)}`);
    console.log(`  simulators' isolate peaks, MiB: ${simPeaks.join(', ')}`);
    console.log(r.output.replace(/\r/g, '\n').split('\n').filter((l) => l.trim()).slice(-3).join('\n'));

    if (process.env.MEM_PUSH_ONLY === '1') return;
    // The repack (DO alarm) until workerd is idle for 4 s.
    const profiling = process.env.MEM_PROFILE_REPACK === '1';
    if (profiling) {
      await cdp.send('Profiler.enable');
      await cdp.send('Profiler.setSamplingInterval', { interval: 1000 });
      await cdp.send('Profiler.start');
    }
    const rheap = heapMonitor([cdp]);
    const rsampler = sampleRss(pids);
    const rss1 = pids.reduce((n, p) => n + rssBytes(p), 0);
    t = performance.now();
    const c1 = cpu();
    let last = c1;
    for (let quiet = 0; quiet < 4 && performance.now() - t < 30 * 60_000; ) {
      await new Promise((res) => setTimeout(res, 1000));
      const now = cpu();
      quiet = now - last < 0.05 ? quiet + 1 : 0;
      last = now;
    }
    const rpeak = [...(await rheap.stop()).values()][0];
    console.log(`repack: ${((performance.now() - t) / 1000 - 4).toFixed(1)} s wall, workerd cpu ${(cpu() - c1).toFixed(1)} s, rss +${mib(rsampler.stop() - rss1)} MiB, isolate peak ${mib(rpeak.used)} MiB (buffers ${mib(rpeak.buffers)})`);
    if (profiling) {
      const { profile } = await cdp.send<{ profile: CpuProfile }>('Profiler.stop');
      writeFileSync(join(WORK, 'fossil-memory-repack.cpuprofile'), JSON.stringify(profile));
      console.log(summariseCpu(profile, 40, true));
    }
    if (process.env.MEM_SKIP_CLONE === '1') return;

    // A clone: memory, and that it holds every artifact intact.
    const clone = join(tmp, 'clone.fossil');
    const cheap = heapMonitor([cdp]);
    const c2 = cpu();
    t = performance.now();
    const cr = await runFossilAsync(home, ['clone', `${hub.url}/m`, clone]);
    const cpeak = [...(await cheap.stop()).values()][0];
    check(cr, 'clone');
    console.log(`clone: ${((performance.now() - t) / 1000).toFixed(1)} s wall, workerd cpu ${(cpu() - c2).toFixed(1)} s, isolate peak ${mib(cpeak.used)} MiB (buffers ${mib(cpeak.buffers)})`);
    const integrity = runFossil(home, ['test-integrity', '-R', clone], home, 1_200_000);
    console.log(`test-integrity: status ${integrity.status}: ${integrity.output.trim().split('\n').slice(-1)[0]}`);
    const want = new Set(artifactHashes(home, src));
    const got = new Set(artifactHashes(home, clone));
    const missing = [...want].filter((h) => !got.has(h));
    console.log(`artifacts: corpus ${want.size}, clone ${got.size}, missing ${missing.length}`);

    // MEM_PULL=1: a pull of everything into the clone made before the push (gimme answers, not clone rounds).
    if (process.env.MEM_PULL === '1') {
      const pheap = heapMonitor([cdp], 100, Number(process.env.MEM_GC_EVERY ?? 0));
      const c3 = cpu();
      t = performance.now();
      const pr = await runFossilAsync(home, ['pull', '-R', probe, `${hub.url}/m`]);
      const ppeak = [...(await pheap.stop()).values()][0];
      check(pr, 'pull');
      const pulled = new Set(artifactHashes(home, probe));
      console.log(`pull: ${((performance.now() - t) / 1000).toFixed(1)} s wall, workerd cpu ${(cpu() - c3).toFixed(1)} s, isolate peak ${mib(ppeak.used)} MiB (buffers ${mib(ppeak.buffers)}${process.env.MEM_GC_EVERY ? `, live after GC ${mib(ppeak.live)}` : ''}), missing ${[...want].filter((h) => !pulled.has(h)).length}`);
      console.log(pr.output.replace(/\r/g, '\n').split('\n').filter((l) => /wire bytes/.test(l)).slice(-1).join(''));
      const pintegrity = runFossil(home, ['test-integrity', '-R', probe], home, 1_200_000);
      console.log(`pull test-integrity: status ${pintegrity.status}: ${pintegrity.output.trim().split('\n').slice(-1)[0]}`);
    }
  } finally {
    for (const s of [cdp, ...simulators]) s.close();
    await hub.stop();
    rmSync(tmp, { recursive: true, force: true });
  }
}

/** MEM_WARM: `corpus` pushed to a repository of its own, the repack waited for (workerd idle 6 s), then cloned. */
async function warm(corpus: string, hub: Parameters<typeof api>[0], auth: string, home: string, tmp: string, cpu: () => number): Promise<void> {
  const url = hub.url;
  const res = await api(hub, 'POST', '/repos', { name: 'warm', kind: 'fossil', public: true });
  if (res.status !== 201) throw new Error(res.text);
  const probe = join(tmp, 'warm-probe.fossil');
  check(runFossil(home, ['clone', `${url}/warm`, probe]), 'clone');
  const code = check(runFossil(home, ['sql', '-R', probe, `SELECT value FROM config WHERE name='project-code'`]), 'sql').stdout.trim().replace(/'/g, '');
  const src = join(tmp, 'warm-src.fossil');
  copyFileSync(corpus, src);
  check(runFossil(home, ['sql', '-R', src, `UPDATE config SET value='${code}' WHERE name='project-code'`]), 'sql');
  check(await runFossilAsync(home, ['push', '-R', src, `${auth}/warm`]), 'warm-up push');
  for (let quiet = 0, last = cpu(); quiet < 6; ) {
    await new Promise((r) => setTimeout(r, 1000));
    const now = cpu();
    quiet = now - last < 0.05 ? quiet + 1 : 0;
    last = now;
  }
  check(await runFossilAsync(home, ['clone', `${url}/warm`, join(tmp, 'warm-clone.fossil')]), 'warm-up clone');
}

/**
 * MEM_TCMALLOC=1: what workerd's allocator (tcmalloc) says after the push, read with gdb
 * (MallocExtension_Internal_GetStatsInPbtxt): what the process has in use, what the allocator keeps
 * free (under workerd here it released nothing back: its RSS stays at its high-water mark), and the
 * most memory it ever had backed (the warm-up's too).
 */
function tcmallocStats(pid: number, tmp: string): string {
  const out = join(tmp, 'tcmalloc.txt');
  spawnSync('gdb', ['-p', String(pid), '-batch', '-nx', '-ex', 'set $buf = (char*)malloc(4000000)', '-ex', 'set $n = (int)MallocExtension_Internal_GetStatsInPbtxt($buf, 4000000)', '-ex', `dump binary memory ${out} $buf $buf+$n`, '-ex', 'call (void)free($buf)', '-ex', 'detach'], { encoding: 'utf8', timeout: 60_000 });
  if (!existsSync(out)) return 'tcmalloc: no stats (gdb missing or failed)';
  const text = readFileSync(out, 'utf8');
  const field = (name: string) => mib(Number(new RegExp(`\\b${name}: (\\d+)`).exec(text)?.[1] ?? NaN));
  return `tcmalloc, MiB: in use ${field('in_use_by_app')}, free in its page heap ${field('page_heap_freelist')}, free in its caches ${field('central_cache_freelist')}+${field('transfer_cache_freelist')}+${field('thread_cache_freelists')} (central+transfer+thread), backed at most ${field('peak_backed')}`;
}

/** Anonymous RSS of `pid` by 4 GiB region, with the bytes each region maps. */
function anonRegions(pid: number): Map<number, { rss: number; mapped: number }> {
  const by = new Map<number, { rss: number; mapped: number }>();
  for (const m of smaps(pid)) {
    if (m.name) continue;
    const r = by.get(Math.floor(m.start / 2 ** 32)) ?? { rss: 0, mapped: 0 };
    r.rss += m.rssKib * 1024;
    r.mapped += m.end - m.start;
    by.set(Math.floor(m.start / 2 ** 32), r);
  }
  return by;
}

/** Growth of the V8 cage (the region mapping 4 GiB) and of all other anonymous memory since `from`. */
function anonGrowth(from: Map<number, { rss: number; mapped: number }>, now: Map<number, { rss: number; mapped: number }>): string {
  const cage = [...now].find(([, r]) => r.mapped >= 4 * 2 ** 30)?.[0];
  let v8 = 0;
  let other = 0;
  for (const [k, r] of now) {
    const grew = r.rss - (from.get(k)?.rss ?? 0);
    if (k === cage) v8 += grew;
    else other += grew;
  }
  for (const [k, r] of from) if (!now.has(k)) other -= r.rss;
  return `v8 cage +${mib(v8)}, allocator +${mib(other)}`;
}

/** The sampling heap profile's live allocations by function now (sampled since the push began; garbage not yet collected counts). */
async function liveSample(cdp: CdpSession, file: string): Promise<void> {
  const { profile } = await cdp.send<{ profile: HeapProfile }>('HeapProfiler.getSamplingProfile');
  writeFileSync(file, JSON.stringify(profile));
  console.log(summariseHeap(profile, 25));
}

await main();
