/**
 * A/B of one fossil clone round's server side, without the client's own work
 * (which is most of a small clone's wall time, and noise): the small corpus is
 * pushed once into a kept hub state, a real `fossil clone` through a recording
 * relay captures its requests, and each is then replayed N times against two
 * hubs, each serving a copy of that state with the Worker bundled from its own
 * checkout, alternated request by request. Prints per side the reply's size,
 * median time to first byte and to the last, and workerd CPU per request
 * (utime+stime of that hub's workerd), and whether both sides' replies are
 * byte-identical; with `fossil` as the second checkout, fossil server on the
 * corpus is the other side.
 *
 *   npx tsx bench/fossil-rounds.ts prepare                     (once: bench/.work/fossil-rounds/, or ROUNDS_DIR)
 *   N=40 ROUNDS=1,2 npx tsx bench/fossil-rounds.ts DIR_A DIR_B  (two checkouts, e.g. a worktree of HEAD and this one)
 *   npx tsx bench/fossil-rounds.ts . fossil                    (this checkout against fossil server)
 *
 * With CLONES=K, K whole `fossil clone`s of each side follow, alternated (wall time: client,
 * every round and its hop through the Worker), as the fossil bench's small clone row measures
 * them, with the client's own CPU (utime+stime): most of a small clone's wall, and what the
 * shape of the stored deltas moves (the client's rebuild walks every chain). DUMP=DIR writes
 * each side's last reply of each round there. PROFILE=1 takes a CPU profile of every isolate
 * of hub A's workerd over its measured requests: the Worker's (top functions printed) and
 * miniflare's simulators' (busy time only), which share its CPU.
 */
import { execFile } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { api } from '../test/e2e/hub-client.js';
import { freePort, startHub } from '../test/e2e/hub-server.js';
import { cdpSessions, inspectorTargets, summariseCpu, type CpuProfile } from './cdp.js';
import { check, fossilEnv, runFossil, runFossilAsync, startFossilServer } from '../test/e2e/fossil-client.js';
import { hubFrom, recordingRelay, replay, type Recorded, type Side } from './hub-side.js';

const WORK = new URL('./.work/', import.meta.url).pathname;
// ROUNDS_DIR: another prepared state (e.g. one repacked by another checkout's hub).
const DIR = process.env.ROUNDS_DIR ? resolve(process.env.ROUNDS_DIR) : join(WORK, 'fossil-rounds');
const N = Number(process.env.N ?? 40);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/** A plain reply with its '# timestamp YYYY-MM-DDTHH:MM:SS' digits masked. */
function unstamped(reply: Buffer): Buffer {
  const at = reply.lastIndexOf('# timestamp ');
  if (at < 0) return reply;
  const out = Buffer.from(reply);
  out.fill(0x30, at + 12, at + 31);
  return out;
}

function firstDifference(a: Buffer, b: Buffer): number {
  let i = 0;
  while (i < a.length && i < b.length && a[i] === b[i]) i++;
  return i;
}

/** Pushes the small corpus into a hub kept in DIR/state, then records the requests of one clone of it. */
async function prepare(): Promise<void> {
  const corpus = join(WORK, 'fossil-small-v2.fossil');
  if (!existsSync(corpus)) throw new Error(`${corpus} missing: run BENCH_QUICK=1 npx tsx bench/run.ts fossil once`);
  rmSync(DIR, { recursive: true, force: true });
  const home = join(DIR, 'home');
  mkdirSync(home, { recursive: true });
  mkdirSync(join(DIR, 'served'));
  const hub = await startHub({ state: join(DIR, 'state'), vars: { HUB_MAX_PUSH_BYTES: String(64 * 2 ** 20) }, timeoutMs: 120_000 });
  try {
    const res = await api(hub, 'POST', '/repos', { name: 'p', kind: 'fossil', public: true });
    if (res.status !== 201) throw new Error(res.text);
    const probe = join(DIR, 'probe.fossil');
    check(runFossil(home, ['clone', `${hub.url}/p`, probe]), 'clone');
    const code = check(runFossil(home, ['sql', '-R', probe, `SELECT value FROM config WHERE name='project-code'`]), 'sql').stdout.trim().replace(/'/g, '');
    const src = join(DIR, 'served', 'p.fossil');
    copyFileSync(corpus, src);
    check(runFossil(home, ['sql', '-R', src, `UPDATE config SET value='${code}' WHERE name='project-code'`]), 'sql');
    check(await runFossilAsync(home, ['push', '-R', src, `${hub.url.replace('http://', `http://bench:${hub.adminToken}@`)}/p`]), 'push');
    // The push's repack and compaction (a DO alarm) run after it: a clone reads what they leave.
    await new Promise((r) => setTimeout(r, 30_000));
    const requests: Recorded[] = [];
    const relay = await recordingRelay(hub.url, requests);
    // Async: the relay runs in this process.
    check(await runFossilAsync(home, ['clone', `${relay.url}/p`, join(DIR, 'clone.fossil')]), 'clone');
    relay.close();
    writeFileSync(join(DIR, 'requests.json'), JSON.stringify(requests));
    console.log(`prepared: ${requests.length} clone rounds recorded in ${DIR}`);
  } finally {
    await hub.stop();
  }
}

/**
 * One `fossil clone URL DEST`: its wall time and the client's CPU seconds (utime+stime), read
 * from the waiting shell's cutime+cstime (/proc/PID/stat fields 16-17, in clock ticks of 10 ms).
 */
function cloneWithCpu(home: string, url: string, dest: string): Promise<{ wall: number; cpu: number }> {
  const t0 = performance.now();
  const script = 'fossil clone "$1" "$2" >/dev/null 2>&1 || exit 1; cat /proc/$$/stat';
  return new Promise((done, fail) =>
    execFile('sh', ['-c', script, 'sh', url, dest], { cwd: home, env: fossilEnv(home) }, (e, stdout) => {
      if (e) return fail(new Error(`fossil clone ${url} failed: ${e.message}`));
      const fields = stdout.slice(stdout.lastIndexOf(')') + 2).split(' ');
      // Fields from the state (3rd) on: cutime and cstime are the 16th and 17th.
      done({ wall: performance.now() - t0, cpu: (Number(fields[16 - 3]) + Number(fields[17 - 3])) / 100 });
    }),
  );
}

async function fossilSide(): Promise<Side> {
  const server = await startFossilServer(join(DIR, 'served'), join(DIR, 'home'));
  return { name: 'fossil server', url: `${server.url}/p`, pids: [server.pid], stop: server.stop };
}

async function compare(dirA: string, dirB: string): Promise<void> {
  const requests = JSON.parse(readFileSync(join(DIR, 'requests.json'), 'utf8')) as Recorded[];
  const sides: Side[] = [];
  try {
    // PROFILE=1: a CPU profile of hub A's isolate over its measured requests (top functions printed).
    const inspector = process.env.PROFILE ? await freePort() : undefined;
    sides.push(await hubFrom(DIR, resolve(dirA), 'hub A', { inspector }));
    // Every isolate of hub A's workerd: the Worker's, and miniflare's simulators (R2, D1, ...), which run in the same process.
    const targets = inspector === undefined ? [] : (await inspectorTargets(inspector)).map((t) => t.title ?? '?');
    const sessions = inspector === undefined ? [] : await cdpSessions(inspector);
    for (const session of sessions) {
      await session.send('Profiler.enable');
      await session.send('Profiler.setSamplingInterval', { interval: 100 });
    }
    sides.push(dirB === 'fossil' ? await fossilSide() : await hubFrom(DIR, resolve(dirB), 'hub B'));
    const rounds = (process.env.ROUNDS ?? requests.map((_, i) => i + 1).join(',')).split(',').map(Number);
    for (const round of rounds) {
      const { contentType, body } = requests[round - 1];
      const bytes = Buffer.from(body, 'base64');
      const seen: { ttfb: number[]; total: number[]; cpu: number; reply: Buffer }[] = sides.map(() => ({ ttfb: [], total: [], cpu: 0, reply: Buffer.alloc(0) }));
      // Three warm-up requests a side, then N measured, alternated.
      for (let i = 0; i < N + 3; i++) {
        if (i === 3) for (const session of sessions) await session.send('Profiler.start');
        for (const [k, side] of sides.entries()) {
          const { a, cpu } = await replay(side, contentType, bytes);
          const s = seen[k];
          s.reply = a.body;
          if (i < 3) continue;
          s.ttfb.push(a.ttfb);
          s.total.push(a.total);
          s.cpu += cpu;
        }
      }
      for (const [k, session] of sessions.entries()) {
        const { profile } = await session.send<{ profile: CpuProfile }>('Profiler.stop');
        const busy = summariseCpu(profile, 25, true);
        console.log(k === 0 ? `round ${round} hub A, ${targets[k]} (${N} requests):\n${busy}` : `round ${round} hub A, ${targets[k]}: ${busy.split('\n')[0]}`);
      }
      for (const [k, side] of sides.entries()) {
        const s = seen[k];
        const cpu = side.name === 'fossil server' ? 'n/a (forked per connection)' : `${((s.cpu / N) * 1000).toFixed(1)} ms`;
        console.log(`round ${round} ${side.name}: ${s.reply.length} B, first byte ${median(s.ttfb).toFixed(1)} ms, reply ${median(s.total).toFixed(1)} ms (least ${Math.min(...s.total).toFixed(1)}), workerd CPU/request ${cpu}`);
      }
      if (process.env.DUMP) for (const [k, side] of sides.entries()) writeFileSync(join(process.env.DUMP, `round${round}-${side.name.replace(/\W/g, '')}`), seen[k].reply);
      // The closing '# timestamp' card (to the second) may differ between the two sides.
      const same = unstamped(seen[0].reply).equals(unstamped(seen[1].reply));
      console.log(`  replies identical (but for the timestamp): ${same}${same ? '' : ` (first difference at byte ${firstDifference(seen[0].reply, seen[1].reply)})`}`);
    }
    const clones = Number(process.env.CLONES ?? 0);
    const walls: number[][] = sides.map(() => []);
    const cpus: number[][] = sides.map(() => []);
    for (let i = 0; i < clones; i++) {
      for (const [k, side] of sides.entries()) {
        const dest = join(DIR, `clone-${k}.fossil`);
        rmSync(dest, { force: true });
        const { wall, cpu } = await cloneWithCpu(join(DIR, 'home'), side.url, dest);
        walls[k].push(wall);
        cpus[k].push(cpu);
        rmSync(dest, { force: true });
      }
    }
    if (clones > 0) for (const [k, side] of sides.entries()) console.log(`fossil clone ${side.name}: median ${median(walls[k]).toFixed(1)} ms, best ${Math.min(...walls[k]).toFixed(1)} ms of ${clones}; client CPU median ${median(cpus[k]).toFixed(2)} s, least ${Math.min(...cpus[k]).toFixed(2)} s`);
    if (clones > 0) console.log(`  ratio ${sides[0].name} / ${sides[1].name}: median ${(median(walls[0]) / median(walls[1])).toFixed(3)}, best ${(Math.min(...walls[0]) / Math.min(...walls[1])).toFixed(3)}; client CPU median ${(median(cpus[0]) / median(cpus[1])).toFixed(3)}`);
  } finally {
    for (const s of sides) await s.stop();
  }
}

if (process.argv[2] === 'prepare') await prepare();
else await compare(process.argv[2] ?? '.', process.argv[3] ?? 'fossil');
