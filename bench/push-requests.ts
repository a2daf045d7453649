/**
 * The small push's fixed costs, request by request: workerd CPU (schedstat, all
 * threads, simulators included) of the requests a `git push --mirror` of the
 * small bench corpus makes, replayed against hubs of one or more checkouts,
 * alternated so the machine's load drifts onto each alike:
 *
 *   create      POST /api/repos (a new git repository)
 *   info/refs   GET info/refs?service=git-receive-pack into it (Basic, admin token)
 *   push        POST git-receive-pack: the corpus's refs and its pack
 *   one ref     POST git-receive-pack: one new ref at a stored commit, an empty pack
 *   info/refs again   the GET once the repository holds the corpus
 *
 *   npx tsx bench/push-requests.ts [rounds] [DIR ...]
 *
 * DIRs default to this checkout; another revision: `git worktree add /tmp/a REV &&
 * ln -s $PWD/node_modules /tmp/a/`. Prints median, mean and least per request and
 * checkout. `push` minus `one ref` is what the pack costs; `one ref` minus
 * `info/refs again`, a push request's own fixed part (audit, commit, hooks).
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { encodePkt } from '../shared/protocols/git/pkt-line.js';
import { startHub, type Hub } from '../test/e2e/hub-server.js';
import { corpus, SMALL } from './git-corpus.js';
import { findInTree } from './proc.js';

const WORK = new URL('./.work/', import.meta.url).pathname;
const [roundsArg = '10', ...dirArgs] = process.argv.slice(2);
const dirs = (dirArgs.length > 0 ? dirArgs : [process.cwd()]).map((d) => resolve(d));

/** CPU milliseconds `pids` have run, all threads (schedstat: ns, not /proc/PID/stat's 10 ms ticks). */
function cpuMs(pids: number[]): number {
  let ns = 0;
  for (const p of pids) for (const t of readdirSync(`/proc/${p}/task`)) ns += Number(readFileSync(`/proc/${p}/task/${t}/schedstat`, 'utf8').split(' ')[0]);
  return ns / 1e6;
}

const CAPS = '\0report-status side-band-64k quiet agent=git/2.39.5';

async function main(): Promise<void> {
  const c = await corpus(SMALL, WORK);
  const packDir = join(c.dir, 'objects/pack');
  const pack = readFileSync(join(packDir, readdirSync(packDir).find((f) => f.endsWith('.pack'))!));
  const refs = execFileSync('git', ['for-each-ref', '--format=%(objectname) %(refname)'], { cwd: c.dir, encoding: 'utf8' }).trim().split('\n');
  const zero = '0'.repeat(40);
  const push = Buffer.concat([...refs.map((line, i) => encodePkt(`${zero} ${line}${i === 0 ? CAPS : ''}\n`)), Buffer.from('0000'), pack]);
  const header = Buffer.from('PACK\0\0\0\x02\0\0\0\0', 'binary');
  const emptyPack = Buffer.concat([header, createHash('sha1').update(header).digest()]);
  const oneRef = (name: string) => Buffer.concat([encodePkt(`${zero} ${refs[0].split(' ')[0]} refs/heads/${name}${CAPS}\n`), Buffer.from('0000'), emptyPack]);

  const sides: { dir: string; hub: Hub; pids: number[]; cpu: Map<string, number[]> }[] = [];
  const home = process.cwd();
  try {
    for (const dir of dirs) {
      // startHub bundles and runs the checkout it is started in.
      process.chdir(dir);
      const before = new Set(findInTree(process.pid, 'workerd'));
      const hub = await startHub({ timeoutMs: 120_000 });
      sides.push({ dir, hub, pids: findInTree(process.pid, 'workerd').filter((p) => !before.has(p)), cpu: new Map() });
    }
    process.chdir(home);
    const ops = (s: (typeof sides)[number]) => {
      const auth = { authorization: `Basic ${btoa(`bench:${s.hub.adminToken}`)}` };
      const ok = async (res: Response, what: string, expect: string | null = null) => {
        const text = await res.text();
        if (!res.ok || (expect !== null && (!text.includes(expect) || text.includes(' ng ')))) throw new Error(`${s.dir}: ${what}: ${res.status} ${text.slice(0, 200)}`);
      };
      return {
        create: async (name: string) =>
          ok(await fetch(`${s.hub.url}/api/repos`, { method: 'POST', headers: { authorization: `Bearer ${s.hub.adminToken}`, 'content-type': 'application/json' }, body: JSON.stringify({ name, kind: 'git', public: true }) }), 'create'),
        infoRefs: async (name: string) => ok(await fetch(`${s.hub.url}/${name}.git/info/refs?service=git-receive-pack`, { headers: auth }), 'info/refs'),
        post: async (name: string, body: Buffer) =>
          ok(await fetch(`${s.hub.url}/${name}.git/git-receive-pack`, { method: 'POST', headers: { ...auth, 'content-type': 'application/x-git-receive-pack-request' }, body }), 'push', 'unpack ok'),
      };
    };
    const round = async (s: (typeof sides)[number], name: string, timed: boolean) => {
      const o = ops(s);
      const time = async (what: string, f: () => Promise<void>) => {
        const c0 = cpuMs(s.pids);
        await f();
        if (timed) s.cpu.set(what, [...(s.cpu.get(what) ?? []), cpuMs(s.pids) - c0]);
      };
      await time('create', () => o.create(name));
      await new Promise((r) => setTimeout(r, 100)); // the create's deferred work, out of the next request
      await time('info/refs', () => o.infoRefs(name));
      await time('push', () => o.post(name, push));
      await new Promise((r) => setTimeout(r, 200)); // the push's audit write and alarm checks (waitUntil)
      await time('one ref', () => o.post(name, oneRef(`${name}-one`)));
      await time('info/refs again', () => o.infoRefs(name));
    };
    // Warm-up: module compilation, the first Durable Objects.
    for (const s of sides) for (let i = 0; i < 3; i++) await round(s, `warm${i}`, false);
    for (let r = 0; r < Number(roundsArg); r++) for (const s of r % 2 === 0 ? sides : [...sides].reverse()) await round(s, `r${r}`, true);
    const median = (a: number[]) => [...a].sort((x, y) => x - y)[a.length >> 1];
    for (const s of sides) {
      console.log(`${s.dir} (${roundsArg} rounds, ${refs.length} refs, ${pack.length} pack bytes): workerd CPU ms`);
      for (const [what, v] of s.cpu) console.log(`  ${what.padEnd(16)} median ${median(v).toFixed(1).padStart(6)}  mean ${(v.reduce((a, b) => a + b, 0) / v.length).toFixed(1).padStart(6)}  least ${Math.min(...v).toFixed(1).padStart(6)}`);
    }
  } finally {
    process.chdir(home);
    for (const s of sides) await s.hub.stop();
  }
}

await main();
