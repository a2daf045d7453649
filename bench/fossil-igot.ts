/**
 * A fossil push of one large check-in (FILES small files, 30,000 by default),
 * to the hub and to `fossil server`, and the cost of its rounds' `igot` cards:
 * each push round a client re-sends an igot for every unclustered artifact it
 * holds, so the late rounds of such a push are mostly igots of artifacts the
 * server already has.
 *
 *   npx tsx bench/fossil-igot.ts prepare                 (once per FILES: bench/.work/fossil-igot-FILES/)
 *   N=20 npx tsx bench/fossil-igot.ts DIR_A DIR_B|fossil  (replays the recorded round with the most igots)
 *
 * prepare makes the repository (cached), pushes it to a hub kept in the work
 * directory through a recording relay and to fossil server (a `fossil new`
 * repository with the same project code), and prints each push's wall time and
 * server CPU (workerd's utime+stime; fossil server's process tree). The replay
 * then sends one recorded push request (ROUND=K for another) N times to two
 * sides, alternated: two hubs serving copies of the pushed state with the
 * Worker bundled from checkouts DIR_A and DIR_B, or a hub and fossil server on
 * a copy of its pushed repository; per side the median reply time, workerd CPU
 * per request, and whether the replies are the same.
 */
import { copyFileSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { inflateSync } from 'node:zlib';
import { api } from '../test/e2e/hub-client.js';
import { freePort, startHub } from '../test/e2e/hub-server.js';
import { cdpSessions, summariseCpu, type CpuProfile } from './cdp.js';
import { check, runFossil, runFossilAsync, startFossilServer } from '../test/e2e/fossil-client.js';
import { hubFrom, recordingRelay, replay, type Recorded, type Side } from './hub-side.js';
import { cpuSeconds, findInTree, measureTree } from './proc.js';

const FILES = Number(process.env.FILES ?? 30_000);
// IGOT_DIR: the work directory (a worktree's checkout has no bench/.work of its own).
const DIR = process.env.IGOT_DIR ?? new URL(`./.work/fossil-igot-${FILES}/`, import.meta.url).pathname;
const HOME = join(DIR, 'home');
const N = Number(process.env.N ?? 20);
// The hub's admin token, also bench's password on fossil server: a recorded login card holds on both sides.
const PASSWORD = 'bench-admin-token';
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const fossil = (args: string[], cwd = HOME) => check(runFossil(HOME, args, cwd, 600_000), `fossil ${args.join(' ')}`).stdout;

/** A request's or reply's card text (application/x-fossil: u32be length + zlib). */
function cards(type: string, body: Buffer): string {
  return (type.startsWith('application/x-fossil-') ? body : inflateSync(body.subarray(4))).toString('latin1');
}

function count(text: string, card: string): number {
  return text.split('\n').filter((l) => l.startsWith(`${card} `)).length;
}

/** One check-in of FILES small files (100 directories), made once. */
function makeSource(): string {
  const src = join(DIR, 'src.fossil');
  if (existsSync(src)) return src;
  mkdirSync(HOME, { recursive: true });
  const wd = join(DIR, 'wd');
  rmSync(wd, { recursive: true, force: true });
  mkdirSync(wd);
  fossil(['new', join(DIR, 'tmp.fossil')]);
  fossil(['open', join(DIR, 'tmp.fossil'), '--workdir', wd]);
  for (let d = 0; d < 100; d++) mkdirSync(join(wd, `d${d}`));
  for (let i = 0; i < FILES; i++) writeFileSync(join(wd, `d${i % 100}`, `f${i}.txt`), `file ${i}\n${'line of text\n'.repeat(1 + (i % 7))}`);
  fossil(['add', '.'], wd);
  fossil(['commit', '-m', `${FILES} files`, '--no-warnings'], wd);
  fossil(['close', '--force'], wd);
  rmSync(wd, { recursive: true, force: true });
  copyFileSync(join(DIR, 'tmp.fossil'), src);
  rmSync(join(DIR, 'tmp.fossil'));
  return src;
}

/** Waits until workerd's CPU stays flat for 3 s (the push's repack alarm), at most 5 minutes. */
async function settle(pids: number[]): Promise<void> {
  const cpu = () => pids.reduce((n, p) => n + cpuSeconds(p), 0);
  let last = cpu();
  for (let quiet = 0, i = 0; quiet < 3 && i < 300; i++) {
    await new Promise((r) => setTimeout(r, 1000));
    const now = cpu();
    quiet = now - last < 0.05 ? quiet + 1 : 0;
    last = now;
  }
}

async function prepare(): Promise<void> {
  const src = makeSource();
  const code = fossil(['sql', '-R', src, `SELECT value FROM config WHERE name='project-code'`]).trim().replace(/'/g, '');
  for (const d of ['state', 'served']) rmSync(join(DIR, d), { recursive: true, force: true });
  mkdirSync(join(DIR, 'served'));
  // The hub, through a relay that records the push's requests.
  const hub = await startHub({ state: join(DIR, 'state'), adminToken: PASSWORD, vars: { HUB_MAX_PUSH_BYTES: String(256 * 2 ** 20) }, timeoutMs: 120_000 });
  const requests: Recorded[] = [];
  let served = 0;
  const relay = await recordingRelay(hub.url, requests, (a) => (served += a.total));
  try {
    const res = await api(hub, 'POST', '/repos', { name: 'p', kind: 'fossil', public: true, project_code: code });
    if (res.status !== 201) throw new Error(res.text);
    const pids = findInTree(process.pid, 'workerd');
    const cpu0 = pids.reduce((n, p) => n + cpuSeconds(p), 0);
    const t0 = performance.now();
    check(await runFossilAsync(HOME, ['push', '-R', src, `${relay.url.replace('http://', `http://bench:${hub.adminToken}@`)}/p`]), 'push to the hub');
    const wall = (performance.now() - t0) / 1000;
    const cpu = pids.reduce((n, p) => n + cpuSeconds(p), 0) - cpu0;
    console.log(`push to the hub: ${wall.toFixed(1)} s wall, workerd CPU ${cpu.toFixed(1)} s, ${requests.length} rounds (relay in between), ${(served / 1000).toFixed(1)} s of it waiting for the hub's replies`);
    await settle(pids);
  } finally {
    relay.close();
    await hub.stop();
  }
  writeFileSync(join(DIR, 'requests.json'), JSON.stringify(requests));
  for (const [i, r] of requests.entries()) {
    const text = cards(r.contentType, Buffer.from(r.body, 'base64'));
    console.log(`  round ${i + 1}: ${text.length} B of cards, ${count(text, 'igot')} igot, ${count(text, 'file') + count(text, 'cfile')} file`);
  }
  // fossil server: an empty repository with the same project code and a user holding i.
  const repo = join(DIR, 'served', 'p.fossil');
  fossil(['new', repo]);
  fossil(['sql', '-R', repo, `UPDATE config SET value='${code}' WHERE name='project-code'`]);
  fossil(['user', 'new', 'bench', 'x', PASSWORD, '-R', repo]);
  fossil(['user', 'capabilities', 'bench', 'iy', '-R', repo]);
  const server = await startFossilServer(join(DIR, 'served'), HOME);
  try {
    const s = await measureTree(server.pid, async () => void check(await runFossilAsync(HOME, ['push', '-R', src, `${server.url.replace('http://', `http://bench:${PASSWORD}@`)}/p`]), 'push to fossil server'));
    console.log(`push to fossil server: ${s.wall.toFixed(1)} s wall, CPU ${s.cpu.toFixed(1)} s`);
  } finally {
    await server.stop();
  }
}

async function fossilSide(): Promise<Side> {
  const root = join(DIR, `run-fossil-${process.pid}`);
  mkdirSync(root, { recursive: true });
  copyFileSync(join(DIR, 'served', 'p.fossil'), join(root, 'p.fossil'));
  const server = await startFossilServer(root, HOME);
  return { name: 'fossil server', url: `${server.url}/p`, pids: [server.pid], stop: async () => (await server.stop(), rmSync(root, { recursive: true, force: true })) };
}

async function compare(dirA: string, dirB: string): Promise<void> {
  const requests = JSON.parse(readFileSync(join(DIR, 'requests.json'), 'utf8')) as Recorded[];
  const igots = requests.map((r) => count(cards(r.contentType, Buffer.from(r.body, 'base64')), 'igot'));
  const round = Number(process.env.ROUND ?? igots.indexOf(Math.max(...igots)) + 1);
  const { contentType, body } = requests[round - 1];
  const bytes = Buffer.from(body, 'base64');
  console.log(`round ${round}: ${igots[round - 1]} igot cards, ${bytes.length} B`);
  const sides: Side[] = [];
  try {
    // PROFILE=1: a CPU profile of hub A's Worker isolate over its measured requests (top functions printed).
    const inspector = process.env.PROFILE ? await freePort() : undefined;
    sides.push(await hubFrom(DIR, resolve(dirA), 'hub A', { inspector, adminToken: PASSWORD }));
    const [session] = inspector === undefined ? [] : await cdpSessions(inspector);
    if (session) {
      await session.send('Profiler.enable');
      await session.send('Profiler.setSamplingInterval', { interval: 100 });
    }
    sides.push(dirB === 'fossil' ? await fossilSide() : await hubFrom(DIR, resolve(dirB), 'hub B', { adminToken: PASSWORD }));
    const seen = sides.map(() => ({ total: [] as number[], cpu: 0, reply: '' }));
    // Two warm-up requests a side, then N measured, alternated.
    for (let i = 0; i < N + 2; i++) {
      if (i === 2 && session) await session.send('Profiler.start');
      for (const [k, side] of sides.entries()) {
        const { a, cpu } = await replay(side, contentType, bytes);
        const s = seen[k];
        // The closing '# timestamp' differs from second to second.
        s.reply = cards(a.type, a.body).replace(/^# timestamp .*$/m, '');
        if (i < 2) continue;
        s.total.push(a.total);
        s.cpu += cpu;
      }
    }
    if (session) console.log(summariseCpu((await session.send<{ profile: CpuProfile }>('Profiler.stop')).profile, 30, true));
    for (const [k, side] of sides.entries()) {
      const s = seen[k];
      const cpu = side.name === 'fossil server' ? 'n/a (forked per connection)' : `${((s.cpu / N) * 1000).toFixed(1)} ms`;
      const reply = `${count(s.reply, 'gimme')} gimme, ${count(s.reply, 'igot')} igot, ${count(s.reply, 'error')} error`;
      console.log(`${side.name}: reply ${median(s.total).toFixed(1)} ms median (least ${Math.min(...s.total).toFixed(1)}), workerd CPU/request ${cpu}; reply cards: ${reply}`);
    }
    if (dirB !== 'fossil') console.log(`  replies identical (but for the timestamp): ${seen[0].reply === seen[1].reply}`);
  } finally {
    for (const s of sides) await s.stop();
  }
}

if (process.argv[2] === 'prepare') await prepare();
else await compare(process.argv[2] ?? '.', process.argv[3] ?? 'fossil');
