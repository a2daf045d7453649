/**
 * A repository of many small objects (about a million by default), for the
 * hub's per-object memory: every commit touches three tiny files somewhere
 * in a wide tree (32 top directories x 32 subdirectories x 8 files), so each
 * adds a commit, three blobs and up to seven trees. Deterministic (xorshift
 * from a fixed seed), streamed into `git fast-import` and repacked into one
 * pack (`git repack -a -d`: fast-import's deltas kept), cached under
 * bench/.work/ by commit count. Used by bench/git-memory.ts `many[N]`.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { benchGitEnv } from './git-corpus.js';

/** Commits for ~1M objects (about 10.5 objects a commit). */
export const MANY_COMMITS = 95_000;

function gitSync(home: string, cwd: string, args: string[]): string {
  const r = spawnSync('git', args, { cwd, env: benchGitEnv(home), encoding: 'utf8', maxBuffer: 1 << 28 });
  if (r.status !== 0) throw new Error(`git ${args.join(' ')} failed: ${r.stderr}`);
  return r.stdout;
}

async function writeStream(commits: number, out: NodeJS.WritableStream): Promise<void> {
  let x = 12345;
  const rand = (n: number) => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) % n;
  };
  let buf = '';
  const flush = async () => {
    if (!out.write(buf)) await new Promise((r) => out.once('drain', r));
    buf = '';
  };
  const time = 1_600_000_000;
  for (let c = 0; c < commits; c++) {
    let files = '';
    for (let k = 0; k < 3; k++) {
      const path = `d${rand(32)}/s${rand(32)}/f${rand(8)}.txt`;
      const text = `${path} at ${c}.${k}\n`;
      files += `M 100644 inline ${path}\ndata ${text.length}\n${text}\n`;
    }
    const msg = `change ${c}\n`;
    buf += `commit refs/heads/main\ncommitter Bench <bench@example.com> ${time + c * 60} +0000\ndata ${msg.length}\n${msg}${files}\n`;
    if (buf.length >= 1 << 20) await flush();
  }
  await flush();
}

export interface ManyCorpus {
  dir: string;
  packBytes: number;
  objects: number;
}

/** The bare repository of `commits` commits, made under `root` if not cached there. */
export async function manyCorpus(commits: number, root: string, log: (s: string) => void = () => undefined): Promise<ManyCorpus> {
  const dir = join(root, `corpus-many-${commits}.git`);
  const home = join(root, 'home');
  mkdirSync(home, { recursive: true });
  if (!existsSync(join(dir, 'bench-corpus-ok'))) {
    const tmp = `${dir}.tmp`;
    rmSync(tmp, { recursive: true, force: true });
    gitSync(home, root, ['init', '-q', '--bare', '-b', 'main', tmp]);
    log(`generating many-object corpus (${commits} commits)...`);
    const t0 = performance.now();
    const fi = spawn('git', ['fast-import', '--quiet'], { cwd: tmp, env: benchGitEnv(home), stdio: ['pipe', 'inherit', 'inherit'] });
    const exited = new Promise<number | null>((r) => fi.on('exit', r));
    await writeStream(commits, fi.stdin);
    fi.stdin.end();
    if ((await exited) !== 0) throw new Error('git fast-import failed');
    gitSync(home, tmp, ['repack', '-a', '-d', '-q']);
    renameSync(tmp, dir);
    writeFileSync(join(dir, 'bench-corpus-ok'), '');
    log(`  done in ${((performance.now() - t0) / 1000).toFixed(0)} s`);
  }
  const packDir = join(dir, 'objects/pack');
  const packBytes = readdirSync(packDir)
    .filter((f) => f.endsWith('.pack'))
    .reduce((n, f) => n + statSync(join(packDir, f)).size, 0);
  const objects = Number(/in-pack: (\d+)/.exec(gitSync(home, dir, ['count-objects', '-v']))?.[1] ?? 0);
  return { dir, packBytes, objects };
}
