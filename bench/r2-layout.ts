/**
 * What miniflare's local R2 simulator costs workerd (utime+stime) to write and read the same bytes
 * laid out as one multipart object of 5 MiB parts (`multipart`), one single-put object (`put`), or
 * single-put objects of N MiB each (`objectsN`), through bench/r2-probe (a bare Worker beside the
 * hub, no hub work): read as a clone reads, gets of 16 MiB taken 4 MiB at a time. The layouts are
 * alternated `rounds` times.
 *
 *   npx tsx bench/r2-layout.ts [MiB=391] [rounds=2] [layouts=multipart,objects5,objects16]
 *
 * At 391 MiB (load ~10-20): multipart write 4.2-4.6 s, read 2.2-2.4 s; objects5 write 3.8-4.1 s,
 * read 0.14-0.17 s; objects16 write 4.0 s, read 0.10 s. A single put that large was cut off
 * ("other side closed"); at 64 MiB it read like the objects (0.02 s against multipart's 0.41 s).
 */
import { findInTree, cpuSeconds } from './proc.js';
import { startHub } from '../test/e2e/hub-server.js';

const [mibArg = '391', roundsArg = '2', layoutsArg = 'multipart,objects5,objects16'] = process.argv.slice(2);
const SIZE = Number(mibArg) * 2 ** 20;
const MiB = 2 ** 20;

/** The probe's write query of a layout. */
function writeQuery(layout: string, key: string): string {
  if (layout === 'multipart') return `write=${key}&mode=multipart&piece=${5 * MiB}`;
  if (layout === 'put') return `write=${key}&mode=put&piece=${MiB}`;
  const m = /^objects(\d+)$/.exec(layout);
  if (!m) throw new Error(`unknown layout ${layout}`);
  return `write=${key}&mode=objects&piece=${Number(m[1]) * MiB}`;
}

const hub = await startHub({ timeoutMs: 120_000, devArgs: ['--r2-probe'] });
try {
  const pids = findInTree(process.pid, 'workerd');
  const cpu = () => pids.reduce((n, p) => n + cpuSeconds(p), 0);
  const timed = async (q: string) => {
    const c0 = cpu();
    const t0 = performance.now();
    const res = await fetch(`${hub.url}/__r2probe?${q}`);
    const body = await res.text();
    if (!res.ok) throw new Error(`${q}: ${res.status} ${body}`);
    return { cpu: cpu() - c0, wall: (performance.now() - t0) / 1000, body };
  };
  const layouts = layoutsArg.split(',');
  for (let round = 0; round < Number(roundsArg); round++) {
    for (const layout of layouts) {
      const key = `probe/${round}/${layout}`;
      const w = await timed(`${writeQuery(layout, key)}&size=${SIZE}`);
      // As the clone reads: gets of 16 MiB taken 4 MiB at a time.
      const r = await timed(`prefix=${key}&range=${4 * MiB}&window=${16 * MiB}`);
      console.log(
        `${layout.padEnd(10)} round ${round}: write CPU ${w.cpu.toFixed(2)} s (wall ${w.wall.toFixed(2)}), read CPU ${r.cpu.toFixed(2)} s (wall ${r.wall.toFixed(2)}) ${r.body}`,
      );
    }
  }
} catch (e) {
  console.error(hub.log().slice(-3000)); // a long probe request was now and then cut off (fetch failed): run again
  throw e;
} finally {
  await hub.stop();
}
