/**
 * The Worker isolate's memory for one large file: a push of a repository whose
 * only commit adds a random file of SIZE MiB, a push of a commit changing a few
 * bytes of it (git sends a thin delta on the stored blob), a clone and a
 * depth-1 clone (the changed file's base not sent: made whole), served
 * by workerd as `npm start` serves it. Per operation: the isolate's peak (JS
 * heap in use + ArrayBuffers, bench/cdp.ts heapMonitor), workerd's RSS growth
 * and CPU seconds; the clone is fsck'd and compared.
 *
 *   npx tsx bench/large-file.ts [SIZE_MIB=30]
 *
 * Cloudflare isolates have 128 MB: the push's peak must stay well under it.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { api } from '../test/e2e/hub-client.js';
import { freePort, startHub } from '../test/e2e/hub-server.js';
import { randomBytes } from '../test/random-bytes.js';
import { collectGarbage, workerSession } from './cdp.js';
import { runGit } from './git-corpus.js';
import { measure } from './proc.js';

const WORK = new URL('./.work/', import.meta.url).pathname;
const size = Number(process.argv[2] ?? 30) * 2 ** 20;
const mib = (b: number) => (b / 2 ** 20).toFixed(0);

async function main(): Promise<void> {
  mkdirSync(WORK, { recursive: true });
  const tmp = mkdtempSync(join(WORK, 'large-file-'));
  const home = join(tmp, 'home');
  const work = join(tmp, 'work');
  mkdirSync(home);
  const git = (cwd: string, args: string[]) => runGit(home, cwd, args);
  const inspector = await freePort();
  const hub = await startHub({ vars: { HUB_MAX_PUSH_BYTES: String(4 * 2 ** 30) }, timeoutMs: 120_000, devArgs: ['--inspector-port', String(inspector)] });
  const auth = hub.url.replace('http://', `http://bench:${hub.adminToken}@`);
  try {
    for (const name of ['warmup', 'big']) {
      if ((await api(hub, 'POST', '/repos', { name, kind: 'git', public: true })).status !== 201) throw new Error(`create ${name} failed`);
    }
    await git(tmp, ['init', '-q', '-b', 'main', work]);
    writeFileSync(join(work, 'small.txt'), 'warm-up\n');
    await git(work, ['add', '-A']);
    await git(work, ['commit', '-q', '-m', 'warm-up']);
    await git(work, ['push', '-q', `${auth}/warmup.git`, 'main']);
    const session = await workerSession(inspector);
    const measured = async (what: string, op: () => Promise<void>) => {
      const base = await collectGarbage(session);
      const { wall, cpu, rss, peak } = await measure(session, op, 20);
      console.log(
        `${what}: wall ${wall.toFixed(1)} s, workerd CPU ${cpu.toFixed(1)} s, RSS +${mib(rss)} MiB; ` +
          `isolate peak ${mib(peak.used)} MiB (ArrayBuffers at most ${mib(peak.buffers)} MiB; after a full GC before: ${mib(base.usedSize + (base.backingStorageSize ?? 0))})`,
      );
    };
    const data = randomBytes(size, 4242);
    writeFileSync(join(work, 'big.bin'), data);
    await git(work, ['add', '-A']);
    await git(work, ['commit', '-q', '-m', 'big file']);
    await measured(`push of a ${mib(size)} MiB file`, () => git(work, ['push', '-q', `${auth}/big.git`, 'main']));
    data.set(randomBytes(100, 7), data.length >> 1);
    writeFileSync(join(work, 'big.bin'), data);
    await git(work, ['commit', '-q', '-a', '-m', 'a few bytes changed']);
    await measured('push of it changed a little (thin delta)', () => git(work, ['push', '-q', `${auth}/big.git`, 'main']));
    const dst = join(tmp, 'clone');
    await measured('clone', () => git(tmp, ['clone', '-q', `${hub.url}/big.git`, dst]));
    await git(dst, ['fsck', '--full', '--strict']);
    const same = createHash('sha256').update(readFileSync(join(dst, 'big.bin'))).digest('hex') === createHash('sha256').update(data).digest('hex');
    console.log(`clone fsck clean, file ${same ? 'identical' : 'DIFFERENT'}`);
    // The changed file's delta base is not sent: the hub makes the file whole to send it.
    const shallow = join(tmp, 'shallow');
    await measured('clone --depth 1', () => git(tmp, ['clone', '-q', '--depth', '1', `${hub.url}/big.git`, shallow]));
    await git(shallow, ['fsck', '--full', '--strict']);
    const same1 = createHash('sha256').update(readFileSync(join(shallow, 'big.bin'))).digest('hex') === createHash('sha256').update(data).digest('hex');
    console.log(`depth-1 clone fsck clean, file ${same1 ? 'identical' : 'DIFFERENT'}`);
    session.close();
  } finally {
    await hub.stop();
    rmSync(tmp, { recursive: true, force: true });
  }
}

await main();
