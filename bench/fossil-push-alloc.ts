/**
 * Where a fossil push allocates, in Node: the real `fossil push` of a corpus
 * into shared/'s sync server over in-memory stores (MemoryFossilStore,
 * MemorySegmentStore), with native zlib and hashing and a receive memo as the
 * Durable Object keeps one. Preload bench/alloc-sites.mjs for the ArrayBuffer
 * memory allocated by call site (workerd's isolate peak during a push is
 * mostly such buffers, dead ones waiting for a GC: bench/fossil-memory.ts):
 *
 *   node --import ./bench/alloc-sites.mjs --import tsx bench/fossil-push-alloc.ts [CORPUS.fossil]
 *
 * PUSH_ROUNDS=1 prints each request's body size, server time and (with the preload) MiB allocated.
 * With --expose-gc and ALLOC_LIVE_KIB=N, PUSH_LIVE_EVERY=K prints what is
 * live by site after a forced GC before every Kth request. The memory
 * segment store keeps every record, so its writes show as live and allocated
 * (in the DO they go to R2).
 */
import { spawn, spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import { join } from 'node:path';
import { newRepository, ROLE_CAPS, sharedSecret, xfer } from '../shared/protocols/fossil/index.js';
import { receiveMemo } from '../shared/protocols/fossil/repo.js';
import { MemoryFossilStore } from '../shared/storage/fossil-memory.js';
import { MemorySegmentStore } from '../shared/storage/memory.js';
import { fossilEnv } from '../test/e2e/fossil-client.js';
import { nativePrimitives } from '../worker/primitives.js';

const WORK = new URL('./.work/', import.meta.url).pathname;
const corpus = process.argv[2] ?? join(WORK, 'fossil-small-v2.fossil');
const liveEvery = Number(process.env.PUSH_LIVE_EVERY ?? 0);
const g = globalThis as { gc?: () => void; liveSites?: (top?: number) => string; allocTotal?: () => number };

const tmp = mkdtempSync(join(WORK, 'fossil-push-alloc-'));
const home = join(tmp, 'home');
mkdirSync(home);
const store = new MemoryFossilStore();
const repo = { store, segments: new MemorySegmentStore(), primitives: nativePrimitives, memo: receiveMemo() };
const { projectCode } = await newRepository(repo, { creator: 'admin', projectName: 'bench' });
let requests = 0;
let serverMs = 0;
const server = createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    void (async () => {
      requests++;
      if (liveEvery > 0 && requests % liveEvery === 0 && g.gc && g.liveSites) {
        g.gc();
        console.log(`-- before request ${requests}: ArrayBuffers ${(process.memoryUsage().arrayBuffers / 2 ** 20).toFixed(0)} MiB\n${g.liveSites(8)}`);
      }
      const t = performance.now();
      const a0 = g.allocTotal?.() ?? 0;
      const reply = await xfer(repo, { contentType: req.headers['content-type'] ?? '', body: new Uint8Array(Buffer.concat(chunks)) }, {
        anonymousCaps: ROLE_CAPS.nobody,
        user: async (login, code) => ({ caps: ROLE_CAPS.admin, secrets: [sharedSecret(nativePrimitives, code, login, 'pw')] }),
      });
      serverMs += performance.now() - t;
      if (process.env.PUSH_ROUNDS === '1') {
        const mib = (b: number) => (b / 2 ** 20).toFixed(1);
        console.log(`request ${requests}: body ${mib(chunks.reduce((n, c) => n + c.length, 0))} MiB, ${(performance.now() - t).toFixed(0)} ms, allocated ${mib((g.allocTotal?.() ?? 0) - a0)} MiB`);
      }
      res.writeHead(200, { 'Content-Type': reply.contentType, 'Content-Length': reply.body.length, Connection: 'close' });
      res.end(Buffer.from(reply.body));
    })();
  });
});
try {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  const src = join(tmp, 'src.fossil');
  copyFileSync(corpus, src);
  spawnSync('fossil', ['sql', '-R', src, `UPDATE config SET value='${projectCode}' WHERE name='project-code'`], { env: fossilEnv(home) });
  const t0 = performance.now();
  const cpu0 = process.cpuUsage();
  const status = await new Promise<number | null>((resolve) => {
    const c = spawn('fossil', ['push', '-R', src, `http://admin:pw@127.0.0.1:${port}/r`], { env: fossilEnv(home), stdio: ['ignore', 'ignore', 'inherit'] });
    c.on('close', resolve);
  });
  const cpu = process.cpuUsage(cpu0);
  console.log(
    `push: status ${status}, ${((performance.now() - t0) / 1000).toFixed(1)} s wall, server ${(serverMs / 1000).toFixed(1)} s, ` +
      `node cpu ${((cpu.user + cpu.system) / 1e6).toFixed(1)} s, ${requests} requests, ${await store.count()} artifacts stored`,
  );
} finally {
  server.close();
  rmSync(tmp, { recursive: true, force: true });
}
