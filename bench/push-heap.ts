/**
 * The JS heap a push keeps, measured in Node (which, unlike workerd under
 * wrangler dev, can force a GC and report the heap): receivePack of a cached
 * bench corpus's pack into an empty in-memory index, segments in temp files,
 * native inflate and hashing (node:zlib and node:crypto, as in workerd). Every few seconds: heap
 * used after a full GC (what the push retains), external/array buffers, RSS.
 *
 *   node --expose-gc --import tsx bench/push-heap.ts [small|large|many|manyN]
 *
 * PUSH_BASE_CACHE_MIB / PUSH_RETAIN_MIB override receivePack's maxDeltaBaseCache /
 * segmentRetainBytes (to weigh memory against base re-reads: CPU is printed at the end).
 */
import { execFileSync } from 'node:child_process';
import { closeSync, createReadStream, mkdtempSync, openSync, readdirSync, readSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { applyFossilDelta, applyGitDelta } from '../shared/delta/index.js';
import { encodePkt } from '../shared/protocols/git/pkt-line.js';
import { receivePack } from '../shared/protocols/git/receive-pack.js';
import { MemoryRepoStore } from '../shared/storage/memory.js';
import { RecordTracker, type SegmentStore, type SegmentWriter } from '../shared/storage/segments.js';
import { nativeHash } from '../worker/native-hash.js';
import { nativeZlib } from '../worker/native-zlib.js';
import { corpus, LARGE, SMALL } from './git-corpus.js';
import { MANY_COMMITS, manyCorpus } from './git-many.js';

const WORK = new URL('./.work/', import.meta.url).pathname;
const maybeGc = (globalThis as { gc?: () => void }).gc;
if (!maybeGc) throw new Error('run with node --expose-gc');
const gc: () => void = maybeGc;

/** Range reads of segments (delta bases re-read after leaving the caches): count and bytes. */
const reads = { count: 0, bytes: 0 };

/** Segments as temp files: written once, read by range. */
function fileSegments(dir: string): SegmentStore {
  let next = 0;
  const fds = new Map<string, number>();
  return {
    async create(): Promise<SegmentWriter> {
      const segment = `seg-${next++}`;
      const fd = openSync(join(dir, segment), 'w+');
      fds.set(segment, fd);
      const tracker = new RecordTracker(segment);
      return {
        segment,
        async write(chunk) {
          tracker.wrote(chunk.length);
          writeSync(fd, chunk);
        },
        endRecord: () => tracker.endRecord(),
        async finish() {
          return tracker.finish();
        },
        async abort() {
          tracker.abort();
        },
      };
    },
    async readRange(segment, offset, length) {
      reads.count++;
      reads.bytes += length;
      const out = new Uint8Array(length);
      readSync(fds.get(segment)!, out, 0, length, offset);
      return out;
    },
    readStream: () => {
      throw new Error('not used');
    },
    list: async () => [...fds.keys()],
    delete: async () => undefined,
  };
}

const mb = (n: number) => `${(n / 2 ** 20).toFixed(0)} MiB`;

async function main(): Promise<void> {
  const many = /^many(\d*)$/.exec(process.argv[2] ?? '');
  const c = many ? await manyCorpus(Number(many[1] || MANY_COMMITS), WORK) : await corpus(process.argv[2] === 'large' ? LARGE : SMALL, WORK);
  const packDir = join(c.dir, 'objects/pack');
  const pack = join(packDir, readdirSync(packDir).find((f) => f.endsWith('.pack'))!);
  const refs = execFileSync('git', ['for-each-ref', '--format=%(objectname) %(refname)'], { cwd: c.dir, encoding: 'utf8' }).trim().split('\n');
  const head = refs.map((line, i) => encodePkt(`${'0'.repeat(40)} ${line}${i === 0 ? '\0report-status' : ''}\n`));
  async function* body() {
    yield* head;
    yield new TextEncoder().encode('0000');
    for await (const chunk of createReadStream(pack, { highWaterMark: 65536 })) yield new Uint8Array(chunk as Buffer);
  }
  const dir = mkdtempSync(join(tmpdir(), 'push-heap-'));
  const repo = new MemoryRepoStore();
  gc();
  const base = process.memoryUsage();
  let peak = 0;
  let peakBuffers = 0;
  const t0 = performance.now();
  const cpu0 = process.cpuUsage();
  const timer = setInterval(() => {
    gc();
    const m = process.memoryUsage();
    peak = Math.max(peak, m.heapUsed - base.heapUsed);
    peakBuffers = Math.max(peakBuffers, m.arrayBuffers - base.arrayBuffers);
    console.log(`${((performance.now() - t0) / 1000).toFixed(0)} s: heap +${mb(m.heapUsed - base.heapUsed)}, arrayBuffers +${mb(m.arrayBuffers - base.arrayBuffers)}, rss +${mb(m.rss - base.rss)}`);
    // Preloaded bench/alloc-sites.mjs with ALLOC_LIVE_KIB: what is live, by allocation site.
    const sites = (globalThis as { liveSites?: () => string }).liveSites;
    if (sites) console.log(sites());
  }, 5000);
  try {
    const out: Uint8Array[] = [];
    const store = { refs: repo, index: repo, committer: repo, segments: fileSegments(dir), primitives: { hash: nativeHash, zlib: nativeZlib }, appliers: { git: applyGitDelta, fossil: applyFossilDelta } };
    const mib = (name: string) => (process.env[name] ? Number(process.env[name]) * 2 ** 20 : undefined);
    const opts = { maxPackBytes: 2 ** 40, maxDeltaBaseCache: mib('PUSH_BASE_CACHE_MIB'), segmentRetainBytes: mib('PUSH_RETAIN_MIB'), onError: (e: unknown) => console.error('push error:', e) };
    for await (const chunk of receivePack(store, body(), opts)) out.push(chunk);
    console.log(new TextDecoder().decode(out[out.length - 1]).slice(0, 200));
  } finally {
    clearInterval(timer);
    for (const f of readdirSync(dir)) closeSync(openSync(join(dir, f), 'r'));
    rmSync(dir, { recursive: true, force: true });
  }
  const cpu = process.cpuUsage(cpu0);
  console.log(
    `done in ${((performance.now() - t0) / 1000).toFixed(0)} s (${((cpu.user + cpu.system) / 1e6).toFixed(0)} s CPU, incl. the sampling GCs); ` +
      `peak growth after GC: heap ${mb(peak)}, array buffers ${mb(peakBuffers)}; ` +
      `${reads.count} range reads of segments (${mb(reads.bytes)})`,
  );
}

await main();
