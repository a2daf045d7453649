#!/usr/bin/env node
// What miniflare's local simulators cost workerd's RSS on their own, without the hub's code: a bare
// Worker (worker.mjs) in the Miniflare that wrangler depends on, with an R2 bucket and a SQLite
// Durable Object. One request path a run, after a small warm-up (a fresh workerd each time: after
// the 392 MiB one, a second request in the same process was reset); prints workerd's CPU and peak
// RSS growth (sampled every 25 ms from /proc). Paths:
//   /?mib=392&seg=32          392 MiB of R2 puts, 32 MiB segments, 5 MiB multipart parts one at a time
//                             (R2SegmentWriter's pattern; the large git corpus's pack is 392 MiB)
//   /?mib=392&seg=32&read=1   the same, then read back in 1 MiB ranges
//   /sql?rows=300000          300k index-like rows inserted into the Durable Object's SQLite
//
//   node bench/simulator-memory/run.mjs '/?mib=392&seg=32'
//   node bench/simulator-memory/run.mjs '/sql?rows=300000'
import { execSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const here = new URL('.', import.meta.url).pathname;
const { Miniflare } = createRequire(createRequire(import.meta.url).resolve('wrangler'))('miniflare');
const dir = mkdtempSync(join(tmpdir(), 'sim-memory-'));
const mf = new Miniflare({
  modules: true,
  scriptPath: join(here, 'worker.mjs'),
  compatibilityDate: '2025-01-01',
  r2Buckets: ['R2'],
  durableObjects: { STORE: { className: 'Store', useSQLite: true } },
  defaultPersistRoot: dir,
  cf: false,
  port: 0,
});
try {
  const url = await mf.ready;
  const pid = Number(execSync(`pgrep -P ${process.pid} -x workerd`).toString().trim().split('\n')[0]);
  const rss = () => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))[1]) / 1024;
  const ticks = Number(execSync('getconf CLK_TCK').toString().trim()) || 100;
  const cpu = () => {
    const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    return (Number(f[11]) + Number(f[12])) / ticks;
  };
  for (const path of process.argv.slice(2, 3)) {
    await (await fetch(new URL('/?mib=8', url))).text();
    const r0 = rss();
    const c0 = cpu();
    let peak = r0;
    const timer = setInterval(() => (peak = Math.max(peak, rss())), 25);
    const t0 = performance.now();
    const body = await (await fetch(new URL(path, url))).text();
    clearInterval(timer);
    peak = Math.max(peak, rss());
    console.log(`${path}: ${body}; ${((performance.now() - t0) / 1000).toFixed(1)} s, workerd CPU ${(cpu() - c0).toFixed(1)} s, RSS ${r0.toFixed(0)} MiB, peak +${(peak - r0).toFixed(0)} MiB`);
  }
} finally {
  await mf.dispose();
  rmSync(dir, { recursive: true, force: true });
}
