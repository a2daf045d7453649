/**
 * Where a fossil push (or no-op sync) spends the hub's CPU and memory: runs
 * `wrangler dev` with an inspector port, records a V8 CPU profile (and a
 * sampling heap profile) of the Worker/Durable Object isolate over the
 * Chrome DevTools Protocol while a real `fossil push` of the small corpus
 * runs, then prints the top functions by self time and by allocation.
 *
 *   npx tsx bench/fossil-profile.ts [push|sync|clone|repack]     (corpus from bench/.work, built by the fossil bench)
 *
 * Uses the `ws` package (already installed with wrangler): Node 20's
 * experimental WebSocket is refused by wrangler's inspector proxy.
 * Writes bench/.work/fossil-push.cpuprofile (open in Chrome DevTools).
 */
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
// @ts-expect-error: ws comes with wrangler (no types installed); a dev-only tool.
import WebSocket from 'ws';
import { api } from '../test/e2e/hub-client.js';
import { freePort, startHub } from '../test/e2e/hub-server.js';
import { check, http10Front, runFossil, runFossilAsync } from '../test/e2e/fossil-client.js';
import { cpuSeconds, findInTree, rssBytes, sampleRss } from './proc.js';

const WORK = new URL('./.work/', import.meta.url).pathname;
const CORPUS = join(WORK, 'fossil-small-v1.fossil');
const mode = process.argv[2] ?? 'push';

/** A minimal CDP session. */
async function cdp(url: string): Promise<{ send(method: string, params?: object): Promise<any>; close(): void }> {
  const ws = new WebSocket(url);
  await new Promise((r, j) => (ws.once('open', r), ws.once('error', j)));
  let id = 0;
  const waiting = new Map<number, (v: any) => void>();
  ws.on('message', (m: Buffer) => {
    const msg = JSON.parse(String(m));
    if (msg.id !== undefined) waiting.get(msg.id)?.(msg);
  });
  return {
    send(method, params = {}) {
      const n = ++id;
      ws.send(JSON.stringify({ id: n, method, params }));
      return new Promise((resolve, reject) =>
        waiting.set(n, (msg) => (msg.error ? reject(new Error(`${method}: ${JSON.stringify(msg.error)}`)) : resolve(msg.result))),
      );
    },
    close: () => ws.close(),
  };
}

interface Node {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
  selfSize?: number;
  children?: any[];
}

function topSelf(profile: { nodes: Node[]; samples: number[]; timeDeltas: number[] }, n = 30): void {
  const byId = new Map(profile.nodes.map((x) => [x.id, x]));
  const self = new Map<string, number>();
  const dt = new Map<number, number>();
  profile.samples.forEach((s, i) => dt.set(s, (dt.get(s) ?? 0) + (profile.timeDeltas[i] ?? 0)));
  let total = 0;
  for (const [id, us] of dt) {
    const f = byId.get(id)!.callFrame;
    const key = `${f.functionName || '(anon)'} ${f.url.split('/').pop()}:${f.lineNumber + 1}`;
    self.set(key, (self.get(key) ?? 0) + us);
    total += us;
  }
  console.log(`total sampled ${(total / 1e6).toFixed(2)} s`);
  for (const [k, us] of [...self].sort((a, b) => b[1] - a[1]).slice(0, n)) console.log(`${(us / 1e3).toFixed(0).padStart(7)} ms  ${k}`);
}

function topAlloc(head: Node, n = 25): void {
  const self = new Map<string, number>();
  const walk = (x: Node) => {
    const f = x.callFrame;
    const key = `${f.functionName || '(anon)'} ${f.url.split('/').pop()}:${f.lineNumber + 1}`;
    self.set(key, (self.get(key) ?? 0) + (x.selfSize ?? 0));
    for (const c of x.children ?? []) walk(c);
  };
  walk(head);
  for (const [k, b] of [...self].sort((a, b) => b[1] - a[1]).slice(0, n)) console.log(`${(b / 2 ** 20).toFixed(1).padStart(7)} MiB  ${k}`);
}

async function main(): Promise<void> {
  if (!existsSync(CORPUS)) throw new Error(`${CORPUS} missing: run BENCH_QUICK=1 npx tsx bench/run.ts fossil once`);
  const inspector = await freePort();
  const hub = await startHub({ vars: { HUB_MAX_PUSH_BYTES: String(64 * 2 ** 20) }, timeoutMs: 120_000, devArgs: ['--inspector-port', String(inspector)] });
  const front = await http10Front(hub.url);
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
    const targets = (await (await fetch(`http://127.0.0.1:${inspector}/json`)).json()) as { webSocketDebuggerUrl: string; title: string }[];
    console.log('targets:', targets.map((t) => t.title).join(', '));
    const session = await cdp(targets[0].webSocketDebuggerUrl);
    await session.send('Profiler.enable');
    await session.send('Profiler.setSamplingInterval', { interval: 200 });
    await session.send('HeapProfiler.enable');
    await session.send('Runtime.enable');
    await session.send('Profiler.start');
    await session.send('HeapProfiler.startSampling', { samplingInterval: 32768 });
    const pids = findInTree(process.pid, 'workerd');
    const cpu0 = pids.reduce((n, p) => n + cpuSeconds(p), 0);
    const rss0 = pids.reduce((n, p) => n + rssBytes(p), 0);
    const sampler = sampleRss(pids);
    let heapPeak = 0;
    const heapTimer = setInterval(() => {
      session.send('Runtime.getHeapUsage').then((u: { usedSize: number; totalSize: number }) => (heapPeak = Math.max(heapPeak, u.totalSize)), () => undefined);
    }, 50);
    const t = performance.now();
    const r = await op();
    clearInterval(heapTimer);
    const wall = (performance.now() - t) / 1000;
    const peak = sampler.stop();
    const cpu = pids.reduce((n, p) => n + cpuSeconds(p), 0) - cpu0;
    check(r, mode);
    const { profile } = await session.send('Profiler.stop');
    const { profile: heap } = await session.send('HeapProfiler.stopSampling');
    writeFileSync(join(WORK, `fossil-${mode}.cpuprofile`), JSON.stringify(profile));
    console.log(`${mode}: ${wall.toFixed(2)} s wall, workerd cpu ${cpu.toFixed(2)} s, rss +${((peak - rss0) / 2 ** 20).toFixed(0)} MiB, isolate heap peak ${(heapPeak / 2 ** 20).toFixed(0)} MiB`);
    console.log(r.output.split('\n').slice(-4).join('\n'));
    topSelf(profile);
    console.log('allocations sampled (live at the end + collected):');
    topAlloc(heap.head);
    session.close();
  } finally {
    await front.stop();
    await hub.stop();
    rmSync(tmp, { recursive: true, force: true });
  }
}

await main();
