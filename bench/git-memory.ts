/**
 * The Worker isolate's memory during a `git push --mirror` of a bench corpus
 * into a new repository and a `git clone --mirror` of it, served by workerd
 * as `npm start` serves it: for each operation the peak of the isolate's JS
 * heap in use plus ArrayBuffer backing stores (Runtime.getHeapUsage polled
 * every MEM_POLL_MS, default 50), what of it was ArrayBuffers, and what is
 * live after it (a full GC by heap snapshot once the operation is over; the
 * clone thus starts from a collected heap, unlike the bench's clone, whose
 * peak holds the push's garbage), with workerd's CPU seconds.
 *
 *   npx tsx bench/git-memory.ts [small|large|many|manyN|fileN] [clones]
 *
 * many: ~1M small objects (bench/git-many.ts, 95,000 commits); manyN: N commits.
 * MEM_PREFIX_COMMITS=N (many): the first N commits pushed first, unmeasured (an incremental push).
 *
 * fileN: a repository of one commit holding one random (incompressible) file
 * of N MB, e.g. file30, file100: how a single large object is pushed and cloned;
 * then a few bytes of it changed and pushed (a thin delta on it) and a depth-1
 * clone after that (the hub makes the changed file whole to send it).
 *
 * MEM_PUSHES=N: N pushes, each into a new repository (peaks vary from run to run).
 * MEM_FRESH_CLONE=1: the clones from a workerd restarted on the pushes' state
 * (no isolate history of the push at all), not from the pushing one.
 * MEM_TIMELINE=S: every S seconds during each operation, workerd's RSS growth (when the peak comes:
 * ingest, commit, the alarm after it), its anonymous memory's growth by 4 GiB region (the V8 cage
 * apart from the allocator's memory, as MEM_SMAPS), and the isolate's heap used / reserved and ArrayBuffers as last
 * answered. workerd answers the inspector between the isolate's tasks only: through a push's ingest
 * no poll was answered (large and many corpora), so a push's "isolate peak" is what the polls before
 * and after it saw; its RSS growth (MEM_SMAPS) is the measure of the push itself.
 * MEM_NO_PREBUILD=1: no reach plan built by the alarm after a push (is the peak the push's or the build's?).
 * MEM_SAMPLE=all|survivors: V8's sampling heap profile of each operation, by allocation site (function <
 * caller): `all` counts every sampled allocation (the churn), `survivors` only objects no scavenge collected
 * (promoted, or live at the end). A push's V8 region is its young generation: V8 doubles the semi-spaces
 * (to 2 x 32 MiB) each time the bytes that survived scavenges since the last doubling pass their size, so
 * what outlives a scavenge, not what is promoted, sizes it (bench/workerd-v8-flags.mjs with --trace-gc-nvp
 * shows it: new_space_capacity, new_space_survived).
 * MEM_SMAPS=1: where workerd's RSS grew by its peak (bench/proc.ts smapsGrowth): the
 * V8 heaps' cage apart from the allocator's memory (ArrayBuffers, SQLite).
 * "reserved" is the isolate's heap as V8 sized it (Runtime.getHeapUsage totalSize)
 * plus ArrayBuffers: V8 grows its old space by what is promoted until a full GC.

 * What is live during an operation is not measured here: workerd takes a heap
 * snapshot (the only full GC it offers) asked for mid-operation after it ends.
 *
 * For A/B runs of allocation changes; the CPU seconds are only indicative
 * (the snapshots can slow V8 afterwards: see bench/cdp.ts collectGarbage).
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { api } from '../test/e2e/hub-client.js';
import { freePort, startHub } from '../test/e2e/hub-server.js';
import { collectGarbage, workerSession, type CdpSession, type HeapProfile, type HeapUsage, type ProfileNode } from './cdp.js';
import { corpus, LARGE, runGit, SMALL } from './git-corpus.js';
import { MANY_COMMITS, manyCorpus } from './git-many.js';
import { findInTree, measure, rssBytes, smaps, smapsGrowth } from './proc.js';

const WORK = new URL('./.work/', import.meta.url).pathname;
const [which = 'small', clonesArg = '1'] = process.argv.slice(2);
const POLL_MS = Number(process.env.MEM_POLL_MS ?? 50);
const mib = (b: number) => (b / 2 ** 20).toFixed(0);

const git = runGit;

/** A repository of one commit with one random file of `mb` MB (the same bytes every time). */
async function oneFile(mb: number): Promise<{ dir: string }> {
  const dir = join(WORK, `file-${mb}mb.git`);
  if (existsSync(dir)) return { dir };
  const home = join(WORK, 'home');
  mkdirSync(home, { recursive: true });
  const src = mkdtempSync(join(WORK, 'file-'));
  const bytes = new Uint8Array(mb * 1_000_000);
  let x = 2463534242;
  for (let i = 0; i < bytes.length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    bytes[i] = x & 255;
  }
  writeFileSync(join(src, 'big.bin'), bytes);
  await git(home, src, ['init', '-q', '-b', 'main']);
  await git(home, src, ['add', 'big.bin']);
  await git(home, src, ['commit', '-q', '-m', `${mb} MB`]);
  await git(home, WORK, ['clone', '-q', '--bare', src, dir]);
  rmSync(src, { recursive: true, force: true });
  return { dir };
}

/** MEM_SAMPLE: sampled bytes by allocation site, the function and its caller, largest first. */
function allocationSites(p: HeapProfile, top = 30): string {
  const by = new Map<string, number>();
  let total = 0;
  const name = (n: ProfileNode) => `${n.callFrame.functionName || '(anon)'} ${n.callFrame.url.split('/').pop()}:${n.callFrame.lineNumber + 1}`;
  const walk = (n: ProfileNode, caller: string) => {
    const site = `${name(n)} < ${caller}`;
    if (n.selfSize) by.set(site, (by.get(site) ?? 0) + n.selfSize), (total += n.selfSize);
    for (const c of n.children ?? []) walk(c, name(n));
  };
  walk(p.head, '');
  const rows = [...by].sort((a, b) => b[1] - a[1]).slice(0, top).map(([k, v]) => `  ${mib(v).padStart(6)} MiB  ${k}`);
  return [`sampled allocations (${process.env.MEM_SAMPLE}): ${mib(total)} MiB`, ...rows].join('\n');
}

/** MEM_TIMELINE: the isolate's heap and workerd's RSS every `s` seconds, as lines of text once stopped. */
function timeline(session: CdpSession, s: number): { stop(): Promise<string> } {
  const pid = findInTree(process.pid, 'workerd').sort((a, b) => rssBytes(b) - rssBytes(a))[0];
  const rss0 = rssBytes(pid);
  // Anonymous memory by 4 GiB region (the V8 cage apart from the allocator's, as MEM_SMAPS): where RSS grew.
  const regions = () => {
    const by = new Map<string, number>();
    for (const m of smaps(pid)) {
      const key = Math.floor(m.start / 2 ** 32).toString(16);
      if (!m.name) by.set(key, (by.get(key) ?? 0) + m.rssKib * 1024);
    }
    return by;
  };
  const regions0 = regions();
  const t0 = performance.now();
  const lines: string[] = [];
  let stopped = false;
  // The isolate answers between its tasks only: RSS is read on time, the heap as last answered.
  let u = null as HeapUsage | null;
  let asked = false;
  const loop = (async () => {
    while (!stopped) {
      if (!asked) {
        asked = true;
        void session.send<HeapUsage>('Runtime.getHeapUsage').then((v) => ((u = v), (asked = false)), () => (asked = false));
      }
      const at = ((performance.now() - t0) / 1000).toFixed(1).padStart(6);
      const heap = u === null ? 'heap ?' : `heap ${mib(u.usedSize)}/${mib(u.totalSize)} MiB, buffers ${mib(u.backingStorageSize ?? 0)}`;
      const grew = [...regions()].map(([k, b]) => [k, b - (regions0.get(k) ?? 0)] as const).filter(([, b]) => Math.abs(b) >= 2 ** 20);
      const where = grew.sort((a, b) => b[1] - a[1]).map(([k, b]) => `${k}xxxxxxxx +${mib(b)}`).join(', ');
      lines.push(`  ${at} s: RSS +${mib(rssBytes(pid) - rss0)} MiB (${where}); ${heap}${asked ? ' (asked, no answer yet)' : ''}`);
      await new Promise((r) => setTimeout(r, s * 1000));
    }
  })();
  return {
    async stop() {
      stopped = true;
      await loop;
      return lines.join('\n');
    },
  };
}

async function main(): Promise<void> {
  mkdirSync(WORK, { recursive: true });
  const file = /^file(\d+)$/.exec(which);
  const many = /^many(\d*)$/.exec(which);
  const log = (s: string) => console.error(s);
  const c: { dir: string; objects?: number; packBytes?: number } = file
    ? await oneFile(Number(file[1]))
    : many
      ? await manyCorpus(Number(many[1] || MANY_COMMITS), WORK, log)
      : await corpus(which === 'large' ? LARGE : SMALL, WORK, log);
  // many with MEM_PREFIX_COMMITS=N: each repository gets the first N commits first (not measured), so the
  // measured push is an incremental one whose trees name many objects stored before it.
  const prefix = many && process.env.MEM_PREFIX_COMMITS ? await manyCorpus(Number(process.env.MEM_PREFIX_COMMITS), WORK, log) : undefined;
  if (c.packBytes !== undefined) console.log(`${which}: ${c.objects} objects, pack ${mib(c.packBytes)} MiB`);
  const tmp = mkdtempSync(join(WORK, 'mem-'));
  const state = join(tmp, 'state');
  mkdirSync(state);
  const serve = async (adminToken?: string) => {
    const port = await freePort();
    const h = await startHub({ adminToken, state, vars: { HUB_MAX_PUSH_BYTES: String(4 * 2 ** 30), ...(process.env.MEM_NO_PREBUILD === '1' ? { HUB_REACH_PREBUILD_ROWS: String(2 ** 40) } : {}) }, timeoutMs: 120_000, devArgs: ['--inspector-port', String(port)] });
    return { hub: h, inspector: port };
  };
  let { hub, inspector } = await serve();
  const home = join(tmp, 'home');
  mkdirSync(home, { recursive: true });
  const auth = hub.url.replace('http://', `http://bench:${hub.adminToken}@`);
  const create = async (name: string) => {
    if ((await api(hub, 'POST', '/repos', { name, kind: 'git', public: true })).status !== 201) throw new Error(`create ${name} failed`);
  };
  try {
    // Warm-up outside the measurement: module compilation and the first Durable Object.
    const small = await corpus(SMALL, WORK);
    await create('warmup');
    await git(home, small.dir, ['push', '-q', '--mirror', `${auth}/warmup.git`]);
    let session = await workerSession(inspector);
    const before = await collectGarbage(session);
    console.log(`isolate after warm-up and a full GC: heap ${mib(before.usedSize)} MiB + buffers ${mib(before.backingStorageSize ?? 0)} MiB`);
    const measured = async (what: string, op: () => Promise<void>) => {
      const sm = process.env.MEM_SMAPS === '1' ? smapsGrowth(findInTree(process.pid, 'workerd').sort((a, b) => rssBytes(b) - rssBytes(a))[0]) : null;
      const line = process.env.MEM_TIMELINE ? timeline(session, Number(process.env.MEM_TIMELINE)) : null;
      const sample = process.env.MEM_SAMPLE;
      if (sample) await session.send('HeapProfiler.startSampling', { samplingInterval: 8192, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: sample === 'all' });
      const { wall, cpu, rss, peak } = await measure(session, op, POLL_MS);
      if (sample) console.log(allocationSites((await session.send<{ profile: HeapProfile }>('HeapProfiler.stopSampling')).profile));
      if (line) console.log(await line.stop());
      if (sm) console.log(sm.stop());
      const live = await collectGarbage(session);
      console.log(
        `${what}: wall ${wall.toFixed(1)} s, workerd CPU ${cpu.toFixed(1)} s, RSS +${mib(rss)} MiB; ` +
          `isolate peak ${mib(peak.used)} MiB (ArrayBuffers at most ${mib(peak.buffers)} MiB, at start ${mib(peak.used0)}; reserved heap+buffers at most ${mib(peak.total)}, at start ${mib(peak.total0)}); ` +
          `live after a full GC: heap ${mib(live.usedSize)} + buffers ${mib(live.backingStorageSize ?? 0)} MiB`,
      );
    };
    for (let k = Number(process.env.MEM_PUSHES ?? 1) - 1; k >= 0; k--) {
      // Each push into a new repository; the last one, `r`, is cloned.
      const name = k === 0 ? 'r' : `r${k}`;
      await create(name);
      if (prefix !== undefined) await git(home, prefix.dir, ['push', '-q', '--mirror', `${auth}/${name}.git`]);
      await measured(`push ${which} #${k}${prefix ? ` onto its first ${process.env.MEM_PREFIX_COMMITS} commits` : ''}`, () => git(home, c.dir, ['push', '-q', '--mirror', `${auth}/${name}.git`]));
    }
    if (process.env.MEM_FRESH_CLONE === '1') {
      session.close();
      await hub.stop();
      ({ hub, inspector } = await serve(hub.adminToken));
      session = await workerSession(inspector);
      const fresh = await collectGarbage(session);
      console.log(`restarted workerd on the same state, after a full GC: heap ${mib(fresh.usedSize)} MiB + buffers ${mib(fresh.backingStorageSize ?? 0)} MiB`);
    }
    for (let k = 0; k < Number(clonesArg); k++) {
      const dest = join(tmp, `c${k}`);
      await measured(`full clone ${which} #${k}`, () => git(home, tmp, ['clone', '-q', '--mirror', `${hub.url}/r.git`, dest]));
      rmSync(dest, { recursive: true, force: true });
    }
    if (file) {
      // A few bytes of the file changed and pushed (git sends a thin delta on the stored blob), then a
      // depth-1 clone: the changed file's base is not sent, so the hub makes it whole to send it.
      const work = join(tmp, 'work');
      await git(home, tmp, ['clone', '-q', c.dir, work]);
      const big = join(work, 'big.bin');
      const bytes = readFileSync(big);
      bytes.fill(7, bytes.length >> 1, (bytes.length >> 1) + 100);
      writeFileSync(big, bytes);
      await git(home, work, ['commit', '-q', '-a', '-m', 'a few bytes changed']);
      await measured(`push ${which} changed a little (thin delta)`, () => git(home, work, ['push', '-q', `${auth}/r.git`, 'main']));
      const dest = join(tmp, 'shallow');
      await measured(`clone --depth 1 ${which} after the change`, () => git(home, tmp, ['clone', '-q', '--depth', '1', `${hub.url}/r.git`, dest]));
      await git(home, dest, ['fsck', '--full', '--strict']);
      if (!readFileSync(join(dest, 'big.bin')).equals(bytes)) throw new Error('depth-1 clone: big.bin differs');
    }
    session.close();
  } finally {
    await hub.stop();
    rmSync(tmp, { recursive: true, force: true });
  }
}

await main();
