/**
 * Shallow fetches on a long linear history, hub vs git http-backend behind
 * lighttpd serving the same repository:
 *
 *   unshallow       `git clone --depth 1`, then time `git fetch --unshallow`
 *   deepen          `git clone --depth 1`, then time `git fetch --deepen DEEPEN`
 *   shallow-exclude time `git clone --shallow-exclude=mid` (tag `mid`: MID commits below the tip)
 *   since           time `git clone --shallow-since` a date before the first commit: nothing is cut,
 *                   the clone gets the whole history
 *   clone           (only when named) time a full `git clone`, the floor an unshallow could reach
 *   unshallow-side  (only when named) unshallow of a copy with one more branch, `side`, off
 *                   main SIDE commits below its tip: the closure has a tip main does not reach,
 *                   so the hub walks the history (its unshallow shortcut does not apply)
 *
 * Each prints wall time and server CPU (workerd's, or lighttpd's and its CGI
 * children's), and checks that `.git/shallow` and `git rev-list --all` of
 * both clones are equal. The history (COMMITS commits, each rewriting one
 * of 50 small files) is made by fast-import and cached in bench/.work.
 *
 *   npx tsx bench/git-shallow.ts [runs] [ops, comma separated]
 *
 * SHALLOW_PROFILE=op takes a CPU profile of the hub's last run of `op` over
 * the inspector over its timed part (bench/.work/shallow-<op>.cpuprofile, summarised by self time).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { api } from '../test/e2e/hub-client.js';
import { freePort, startHub } from '../test/e2e/hub-server.js';
import { cdpSessions, summariseCpu, type CpuProfile } from './cdp.js';
import { benchGitEnv, runGit as git } from './git-corpus.js';
import { startBackend } from './git-http.bench.js';
import { cpuSeconds, findInTree, treeCpuSeconds } from './proc.js';

const WORK = new URL('./.work/', import.meta.url).pathname;
const COMMITS = 30_000;
const MID = 1_000;
const DEEPEN = 1_000;
const SIDE = 20_000;
const OPS = ['unshallow', 'deepen', 'shallow-exclude', 'since', 'clone', 'unshallow-side'] as const;
type Op = (typeof OPS)[number];

/** The linear history, made once: fast-import's stream written in one go, then repacked as git would serve it. */
function history(home: string): string {
  const dir = join(WORK, `shallow-linear-${COMMITS}.git`);
  if (existsSync(dir)) return dir;
  const tmp = `${dir}.tmp`;
  rmSync(tmp, { recursive: true, force: true });
  const run = (args: string[], input?: string) => {
    const r = spawnSync('git', args, { cwd: tmp, env: benchGitEnv(home), input, encoding: 'utf8', maxBuffer: 1 << 28 });
    if (r.status !== 0) throw new Error(`git ${args.join(' ')}: ${r.stderr}`);
  };
  mkdirSync(tmp, { recursive: true });
  run(['init', '-q', '--bare', '-b', 'main']);
  const parts: string[] = [];
  for (let i = 1; i <= COMMITS; i++) {
    const body = `file ${i % 50} version ${i}\n${'line of text '.repeat(1 + (i % 7))}\n`;
    const msg = `commit ${i}\n`;
    parts.push(
      `commit refs/heads/main\nmark :${i}\ncommitter Bench <bench@example.com> ${1_600_000_000 + i * 60} +0000\n` +
        `data ${Buffer.byteLength(msg)}\n${msg}` +
        (i > 1 ? `from :${i - 1}\n` : '') +
        `M 100644 inline f${i % 50}.txt\ndata ${Buffer.byteLength(body)}\n${body}\n`,
    );
  }
  parts.push(`reset refs/tags/mid\nfrom :${COMMITS - MID}\n\n`);
  run(['fast-import', '--quiet'], parts.join(''));
  run(['repack', '-a', '-d', '-q']);
  run(['config', 'uploadpack.allowFilter', 'true']);
  renameSync(tmp, dir);
  return dir;
}

function gitOut(home: string, cwd: string, args: string[]): string {
  const r = spawnSync('git', args, { cwd, env: benchGitEnv(home), encoding: 'utf8', maxBuffer: 1 << 28 });
  if (r.status !== 0) throw new Error(`git ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

/** Runs `op` against `url` in a fresh directory; returns the timed part's wall seconds and the resulting state. */
async function runOp(
  op: Op,
  home: string,
  tmp: string,
  url: string,
  serverCpu: () => number,
  beforeTimed?: () => Promise<void>,
): Promise<{ wall: number; cpu: number; state: string; dest: string }> {
  const dest = mkdtempSync(join(tmp, `${op}-`));
  const repo = join(dest, 'r');
  if (op === 'unshallow' || op === 'unshallow-side' || op === 'deepen') await git(home, dest, ['clone', '-q', '--no-checkout', '--depth', '1', url, 'r']);
  await beforeTimed?.();
  const cpu0 = serverCpu();
  const t = performance.now();
  if (op === 'unshallow' || op === 'unshallow-side') await git(home, repo, ['fetch', '-q', '--unshallow']);
  else if (op === 'deepen') await git(home, repo, ['fetch', '-q', '--deepen', String(DEEPEN)]);
  else if (op === 'shallow-exclude') await git(home, dest, ['clone', '-q', '--no-checkout', '--shallow-exclude=mid', url, 'r']);
  else if (op === 'since') await git(home, dest, ['clone', '-q', '--no-checkout', '--shallow-since=2019-01-01', url, 'r']);
  else await git(home, dest, ['clone', '-q', '--no-checkout', url, 'r']);
  const wall = (performance.now() - t) / 1000;
  const cpu = serverCpu() - cpu0;
  const shallowFile = join(repo, '.git', 'shallow');
  const shallow = existsSync(shallowFile) ? readFileSync(shallowFile, 'utf8').split('\n').sort().join('\n') : '';
  const revs = gitOut(home, repo, ['rev-list', '--all']);
  return { wall, cpu, state: `shallow:\n${shallow}\nrevs:\n${revs}`, dest };
}

async function main(): Promise<void> {
  const runs = Number(process.argv[2] ?? '2');
  const ops = (process.argv[3]?.split(',') ?? OPS.filter((op) => op !== 'clone' && op !== 'unshallow-side')) as Op[];
  for (const op of ops) if (!OPS.includes(op)) throw new Error(`unknown op ${op} (${OPS.join(', ')})`);
  mkdirSync(WORK, { recursive: true });
  const tmp = mkdtempSync(join(WORK, 'shallow-'));
  const home = join(tmp, 'home');
  mkdirSync(home);
  const dir = history(home);
  mkdirSync(join(tmp, 'srv'));
  symlinkSync(dir, join(tmp, 'srv', 'r.git'));
  const backend = await startBackend(join(tmp, 'srv'), tmp);
  const inspector = await freePort();
  const hub = await startHub({ timeoutMs: 120_000, devArgs: ['--inspector-port', String(inspector)] });
  const profileOp = process.env.SHALLOW_PROFILE;
  try {
    if ((await api(hub, 'POST', '/repos', { name: 'r', kind: 'git', public: true })).status !== 201) throw new Error('create r failed');
    const auth = hub.url.replace('http://', `http://bench:${hub.adminToken}@`);
    await git(home, dir, ['push', '-q', '--mirror', `${auth}/r.git`]);
    if (ops.includes('unshallow-side')) {
      // A copy sharing the history's objects, with the branch `side`, served by both.
      const side = join(tmp, 'srv', 'side.git');
      await git(home, tmp, ['clone', '-q', '--bare', '--shared', dir, side]);
      const commit = gitOut(home, side, ['commit-tree', '-p', `main~${SIDE}`, '-m', 'side', `main~${SIDE}^{tree}`]).trim();
      await git(home, side, ['update-ref', 'refs/heads/side', commit]);
      if ((await api(hub, 'POST', '/repos', { name: 'side', kind: 'git', public: true })).status !== 201) throw new Error('create side failed');
      await git(home, side, ['push', '-q', '--mirror', `${auth}/side.git`]);
    }
    const pids = findInTree(process.pid, 'workerd');
    const hubCpu = () => pids.reduce((n, p) => n + cpuSeconds(p), 0);
    const refCpu = () => treeCpuSeconds(backend.pid);
    console.log(`history: ${COMMITS} commits, tag mid ${MID} below the tip, deepen ${DEEPEN}; ${runs} runs each, alternating`);
    for (const op of ops) {
      for (let run = 0; run < runs; run++) {
        const name = op === 'unshallow-side' ? 'side' : 'r';
        const ref = await runOp(op, home, tmp, `${backend.url}/${name}.git`, refCpu);
        const cdp = profileOp === op && run === runs - 1 ? (await cdpSessions(inspector, 1))[0] : null;
        // The profile covers the timed part only (not the --depth 1 clone before a fetch).
        const startProfile = async () => {
          if (!cdp) return;
          await cdp.send('Profiler.enable');
          await cdp.send('Profiler.setSamplingInterval', { interval: 500 });
          await cdp.send('Profiler.start');
        };
        const got = await runOp(op, home, tmp, `${hub.url}/${name}.git`, hubCpu, startProfile);
        const same = got.state === ref.state ? 'same shallow and commits' : 'DIFFERENT from http-backend';
        console.log(
          `${op.padEnd(16)} hub ${got.wall.toFixed(2)} s (CPU ${got.cpu.toFixed(2)} s)  http-backend ${ref.wall.toFixed(2)} s (CPU ${ref.cpu.toFixed(2)} s)  ` +
            `${(got.wall / ref.wall).toFixed(2)}x  ${same}`,
        );
        if (got.state !== ref.state) {
          writeFileSync(join(WORK, `shallow-${op}-hub.txt`), got.state);
          writeFileSync(join(WORK, `shallow-${op}-ref.txt`), ref.state);
        }
        rmSync(got.dest, { recursive: true, force: true });
        rmSync(ref.dest, { recursive: true, force: true });
        if (cdp) {
          const { profile } = await cdp.send<{ profile: CpuProfile }>('Profiler.stop');
          const file = join(WORK, `shallow-${op}.cpuprofile`);
          writeFileSync(file, JSON.stringify(profile));
          console.log(`${file}\n${summariseCpu(profile, 30)}`);
          cdp.close();
        }
      }
    }
  } finally {
    await backend.stop();
    await hub.stop();
    rmSync(tmp, { recursive: true, force: true });
  }
}

main().catch((e) => {
  console.error(e);
  process.exitCode = 1;
});
