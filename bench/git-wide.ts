/**
 * A partial clone's lazy fetch of a wide tree: a repository of one commit
 * with N distinct tiny files (test/fixtures/wide-tree.ts, 1000 a directory),
 * `git clone --filter=blob:none --no-checkout`, then `git checkout main`,
 * which git 2.39 serves with ONE fetch wanting every blob (N wants). Measured
 * on the hub (workerd CPU, RSS growth, the isolate's peak by heapMonitor) and
 * on git http-backend behind lighttpd (CPU of lighttpd and its CGI children),
 * same repository, one after the other.
 *
 *   npx tsx bench/git-wide.ts [files=300000] [protocol=2] [hub|backend|both|raw]
 *
 * raw: no checkout; the hub alone gets the v2 request git's checkout would
 * send (one want per blob, `filter blob:none`, `done`), posted by this script
 * as git posts a large request (chunked, not compressed), and the answer is
 * read and checked (a packfile section, N entries, a final flush): the
 * server's cost of a request too wide for a client checkout here (1M files).
 *
 * WIDE_PROFILE=1: a CPU profile of the hub's isolate during the checkout
 * (bench/.work/wide-<files>.cpuprofile, summarised by self time). The hub's
 * checkout starts once workerd is idle after the push (its alarms done).
 *
 * The checkouts are checked (ls-files count, tree id, no blob missing).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { api } from '../test/e2e/hub-client.js';
import { freePort, startHub } from '../test/e2e/hub-server.js';
import { makeWideTree } from '../test/fixtures/wide-tree.js';
import { collectGarbage, heapMonitor, summariseCpu, workerSession, type CpuProfile } from './cdp.js';
import { benchGitEnv, runGit as git } from './git-corpus.js';
import { startBackend } from './git-http.bench.js';
import { cpuSeconds, findInTree, measureTree, rssBytes, sampleRss } from './proc.js';

const WORK = new URL('./.work/', import.meta.url).pathname;
const [filesArg = '300000', protocol = '2', which = 'both'] = process.argv.slice(2);
const FILES = Number(filesArg);
const mib = (b: number) => (b / 2 ** 20).toFixed(0);

function gitSync(home: string, cwd: string, args: string[]): string {
  const r = spawnSync('git', args, { cwd, env: benchGitEnv(home), encoding: 'utf8', maxBuffer: 1 << 28 });
  if (r.status !== 0) throw new Error(`git ${args.join(' ')} failed: ${r.stderr.slice(-2000)}`);
  return r.stdout;
}

/** Clones `url` blob:none without checkout, then times the checkout (the lazy fetch) with `measure`; checks the result. */
async function lazyCheckout(home: string, url: string, dir: string, src: string, measure: (op: () => Promise<void>) => Promise<string>): Promise<void> {
  const v = ['-c', `protocol.version=${protocol}`];
  const t = performance.now();
  await git(home, home, [...v, 'clone', '-q', '--filter=blob:none', '--no-checkout', url, dir]);
  console.log(`  clone --filter=blob:none --no-checkout: ${((performance.now() - t) / 1000).toFixed(1)} s wall`);
  console.log(`  checkout (one lazy fetch of ${FILES} blobs): ${await measure(() => git(home, dir, [...v, 'checkout', '-q', 'main']))}`);
  const files = gitSync(home, dir, ['ls-files']).trim().split('\n').length;
  const missing = gitSync(home, dir, ['rev-list', '--objects', '--missing=print', 'HEAD']).split('\n').filter((l) => l.startsWith('?')).length;
  const same = gitSync(home, dir, ['rev-parse', 'HEAD^{tree}']) === gitSync(home, src, ['rev-parse', 'main^{tree}']);
  console.log(`  checked: ${files} files, ${missing} missing, tree ${same ? 'equal' : 'DIFFERENT'}`);
  if (files !== FILES || missing !== 0 || !same) throw new Error('checkout differs from the source');
}

/** The v2 fetch request of a lazy fetch of `ids` (as git 2.39's promisor fetch sends it), as pkt-lines. */
function* lazyFetchRequest(ids: string[]): Generator<Uint8Array> {
  const enc = new TextEncoder();
  const pkt = (s: string) => enc.encode((s.length + 4).toString(16).padStart(4, '0') + s);
  yield pkt('command=fetch\n');
  yield pkt('agent=git/2.39.5\n');
  yield pkt('object-format=sha1\n');
  yield enc.encode('0001');
  yield pkt('thin-pack\n');
  yield pkt('no-progress\n');
  yield pkt('ofs-delta\n');
  yield pkt('filter blob:none\n');
  // Joined a few thousand at a time: a chunk per line would cost the client more than the server.
  for (let i = 0; i < ids.length; i += 4096) yield enc.encode(ids.slice(i, i + 4096).map((id) => `0032want ${id}\n`).join(''));
  yield pkt('done\n');
  yield enc.encode('0000');
}

/** Posts the lazy fetch of every blob of `src`'s main to the hub; checks the answer's pack header count. */
async function rawLazyFetch(home: string, url: string, src: string): Promise<void> {
  const ids = gitSync(home, src, ['ls-tree', '-r', '--object-only', 'main']).trim().split('\n');
  const it = lazyFetchRequest(ids);
  const body = new ReadableStream<Uint8Array>({
    pull(c) {
      const n = it.next();
      if (n.done) c.close();
      else c.enqueue(n.value);
    },
  });
  const res = await fetch(`${url}/git-upload-pack`, {
    method: 'POST',
    body,
    duplex: 'half',
    headers: { 'content-type': 'application/x-git-upload-pack-request', 'git-protocol': 'version=2' },
  } as RequestInit);
  let total = 0;
  let head: Uint8Array = new Uint8Array(0);
  let tail: Uint8Array = new Uint8Array(0);
  for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
    total += chunk.length;
    if (head.length < 64) head = new Uint8Array([...head, ...chunk.subarray(0, 64)]);
    tail = chunk.length >= 4 ? chunk.slice(chunk.length - 4) : tail;
  }
  const text = new TextDecoder().decode(head);
  // 000dpackfile\n then a band-1 pkt: length(4) band(1) "PACK" version(4) count(4).
  const at = text.indexOf('PACK');
  const count = at < 0 ? -1 : new DataView(head.buffer, head.byteOffset + at + 8, 4).getUint32(0);
  console.log(`  answer: HTTP ${res.status}, ${(total / 2 ** 20).toFixed(1)} MiB, pack of ${count} objects, ends ${new TextDecoder().decode(tail)}`);
  if (count !== ids.length) throw new Error(`expected ${ids.length} objects: ${text.slice(0, 60)}`);
}

async function main(): Promise<void> {
  mkdirSync(WORK, { recursive: true });
  const tmp = mkdtempSync(join(WORK, 'wide-'));
  const home = join(tmp, 'home');
  mkdirSync(home, { recursive: true });
  const root = join(WORK, `wide-${FILES}`);
  const src = join(root, 'wide.git');
  if (!existsSync(join(src, 'packed-refs')) && !existsSync(join(src, 'refs/heads/main'))) {
    rmSync(root, { recursive: true, force: true });
    mkdirSync(root, { recursive: true });
    makeWideTree(src, FILES, benchGitEnv(home));
  }
  gitSync(home, src, ['config', 'uploadpack.allowFilter', 'true']);
  gitSync(home, src, ['config', 'uploadpack.allowAnySHA1InWant', 'true']);
  console.log(`wide tree: ${FILES} files, protocol ${protocol}`);
  try {
    if (which !== 'backend') {
      const port = await freePort();
      const hub = await startHub({ timeoutMs: 120_000, devArgs: ['--inspector-port', String(port)] });
      try {
        if ((await api(hub, 'POST', '/repos', { name: 'wide', kind: 'git', public: true })).status !== 201) throw new Error('create failed');
        const auth = hub.url.replace('http://', `http://bench:${hub.adminToken}@`);
        let t = performance.now();
        await git(home, src, ['push', '-q', '--mirror', `${auth}/wide.git`]);
        console.log(`hub: push ${((performance.now() - t) / 1000).toFixed(1)} s wall`);
        const session = await workerSession(port);
        // Idle first: the push's follow-up work (alarms) must not be counted as the fetch's.
        for (let quiet = 0; quiet < 3; ) {
          const pids = findInTree(process.pid, 'workerd');
          const c0 = pids.reduce((n, p) => n + cpuSeconds(p), 0);
          await new Promise((r) => setTimeout(r, 1000));
          quiet = pids.reduce((n, p) => n + cpuSeconds(p), 0) - c0 < 0.05 ? quiet + 1 : 0;
        }
        await collectGarbage(session);
        const profiling = process.env.WIDE_PROFILE === '1';
        if (profiling) {
          await session.send('Profiler.enable');
          await session.send('Profiler.setSamplingInterval', { interval: 500 });
          await session.send('Profiler.start');
        }
        const run = (name: string, dir: string, measure: (op: () => Promise<void>) => Promise<string>) =>
          which === 'raw'
            ? measure(() => rawLazyFetch(home, `${hub.url}/wide.git`, src)).then((m) => console.log(`  one v2 request of ${FILES} wants: ${m}`))
            : lazyCheckout(home, name, dir, src, measure);
        await run(`${hub.url}/wide.git`, join(tmp, 'hub'), async (op) => {
          const pids = findInTree(process.pid, 'workerd');
          const cpu0 = pids.reduce((n, p) => n + cpuSeconds(p), 0);
          const rss0 = pids.reduce((n, p) => n + rssBytes(p), 0);
          const rss = sampleRss(pids, 50);
          const heap = heapMonitor([session], 50);
          t = performance.now();
          await op();
          const wall = (performance.now() - t) / 1000;
          const peak = [...(await heap.stop()).values()][0];
          const rssPeak = rss.stop();
          const cpu = pids.reduce((n, p) => n + cpuSeconds(p), 0) - cpu0;
          if (profiling) {
            const { profile } = await session.send<{ profile: CpuProfile }>('Profiler.stop');
            const file = join(WORK, `wide-${FILES}.cpuprofile`);
            writeFileSync(file, JSON.stringify(profile));
            console.log(`${file}\n${summariseCpu(profile, 30)}`);
          }
          return `wall ${wall.toFixed(1)} s, workerd CPU ${cpu.toFixed(1)} s, RSS +${mib(rssPeak - rss0)} MiB, isolate peak ${mib(peak.used)} MiB (ArrayBuffers ${mib(peak.buffers)}, at start ${mib(peak.used0)})`;
        });
        session.close();
      } finally {
        await hub.stop();
      }
    }
    if (which === 'both' || which === 'backend') {
      const backend = await startBackend(root, join(tmp, 'lighttpd'));
      try {
        await lazyCheckout(home, `${backend.url}/wide.git`, join(tmp, 'backend'), src, async (op) => {
          const s = await measureTree(backend.pid, op);
          return `git http-backend: wall ${s.wall.toFixed(1)} s, CPU ${s.cpu.toFixed(1)} s`;
        });
      } finally {
        await backend.stop();
      }
    }
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

await main();
