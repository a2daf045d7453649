/**
 * Generated git repositories for the hosting benchmarks, deterministic from a
 * seed and streamed into `git fast-import` (never built in memory):
 *
 *   - source-like text files (lines of identifiers from a seeded vocabulary,
 *     zlib ~3x) edited a few lines at a time, so they deltify as real source;
 *   - one new text file per commit (history keeps growing, as a real one does);
 *   - binary assets (incompressible), replaced now and then and patched in
 *     between (git deltas against the previous version);
 *   - topic branches merged back (merge commits), annotated tags.
 *
 * The result is a bare repository repacked by git (`git repack -a -d -f`: one
 * pack with fresh deltas and a bitmap), the state a hosted server keeps. It is cached
 * under bench/.work/ (git-ignored) by name and generator version.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** Bump when the generator's output changes, so cached corpora are rebuilt. */
const VERSION = 1;

export interface CorpusSpec {
  name: string;
  seed: number;
  commits: number;
  /** Text files edited by commits (each also starts a few KB long). */
  hotFiles: number;
  /** Bytes of one new text file per commit (0: none). */
  newFileBytes: number;
  /** Binary assets; each is replaced every `binaryEvery` * assets commits and patched in between. */
  binaries: number;
  binaryBytes: number;
  binaryEvery: number;
  /** Keep fast-import's pack as is (no `git repack -a -d -f`): for corpora only exported again (fossil's), never served by git. */
  noRepack?: boolean;
}

export const SMALL: CorpusSpec = { name: 'small', seed: 7, commits: 400, hotFiles: 150, newFileBytes: 2_000, binaries: 3, binaryBytes: 200_000, binaryEvery: 40 };
export const LARGE: CorpusSpec = { name: 'large', seed: 11, commits: 30_000, hotFiles: 1_500, newFileBytes: 12_000, binaries: 20, binaryBytes: 1_000_000, binaryEvery: 40 };

export interface Corpus {
  spec: CorpusSpec;
  /** The bare repository. */
  dir: string;
  packBytes: number;
  commits: number;
  objects: number;
}

/** Environment for git run by the benchmarks: no user or system config. */
export function benchGitEnv(home: string): NodeJS.ProcessEnv {
  return {
    PATH: process.env.PATH,
    HOME: home,
    XDG_CONFIG_HOME: home,
    GIT_CONFIG_NOSYSTEM: '1',
    GIT_TERMINAL_PROMPT: '0',
    GIT_AUTHOR_NAME: 'Bench',
    GIT_AUTHOR_EMAIL: 'bench@example.com',
    GIT_COMMITTER_NAME: 'Bench',
    GIT_COMMITTER_EMAIL: 'bench@example.com',
    LANG: 'C',
  };
}

/** Runs git quietly with the bench's environment; rejects with the tail of its stderr. */
export function runGit(home: string, cwd: string, args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn('git', args, { cwd, env: benchGitEnv(home), stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr.on('data', (d) => (err = (err + d).slice(-4000)));
    child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`git ${args.join(' ')} failed (${code}): ${err}`))));
  });
}

function gitSync(home: string, cwd: string, args: string[]): string {
  const r = spawnSync('git', args, { cwd, env: benchGitEnv(home), encoding: 'utf8', maxBuffer: 1 << 28 });
  if (r.status !== 0) throw new Error(`git ${args.join(' ')} failed: ${r.stderr}`);
  return r.stdout;
}

/** xorshift32: small, fast, deterministic. */
class Rng {
  private x: number;
  constructor(seed: number) {
    this.x = seed >>> 0 || 1;
  }
  next(): number {
    let x = this.x;
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    this.x = x >>> 0;
    return this.x;
  }
  int(n: number): number {
    return this.next() % n;
  }
  bytes(n: number): Uint8Array {
    const out = new Uint8Array(n);
    const words = new Uint32Array(out.buffer, 0, n >>> 2);
    for (let i = 0; i < words.length; i++) words[i] = this.next();
    for (let i = words.length * 4; i < n; i++) out[i] = this.next() & 0xff;
    return out;
  }
}

const KEYWORDS = ['const', 'let', 'return', 'if', 'else', 'for', 'while', 'function', 'export', 'import', 'new', 'await', '=', '==', '+', '(', ')', '{', '}', ';', ',', '.'];
const SYLLABLES = ['ka', 'lo', 'mi', 're', 'tu', 'va', 'zen', 'qui', 'dor', 'pex', 'sta', 'ny', 'gro', 'bel', 'fin', 'hul', 'wa', 'jet', 'cor', 'sim'];

/** Text generator: lines of identifiers (a seeded vocabulary) and keywords. */
class Source {
  readonly vocab: string[];
  constructor(private readonly rng: Rng) {
    this.vocab = Array.from({ length: 3000 }, () => {
      const n = 2 + rng.int(3);
      let w = '';
      for (let i = 0; i < n; i++) w += SYLLABLES[rng.int(SYLLABLES.length)];
      return rng.int(3) === 0 ? w.charAt(0).toUpperCase() + w.slice(1) : w;
    });
  }
  line(): string {
    const r = this.rng;
    let s = ' '.repeat(2 * r.int(4));
    const n = 3 + r.int(9);
    for (let i = 0; i < n; i++) s += (r.int(3) === 0 ? KEYWORDS[r.int(KEYWORDS.length)] : this.vocab[r.int(this.vocab.length)]) + ' ';
    return s;
  }
  lines(bytes: number): string[] {
    const out: string[] = [];
    for (let n = 0; n < bytes; ) {
      const l = this.line();
      out.push(l);
      n += l.length + 1;
    }
    return out;
  }
}

/** Writes the fast-import stream of `spec` to `out` (awaiting backpressure). */
async function writeStream(spec: CorpusSpec, out: NodeJS.WritableStream): Promise<void> {
  const rng = new Rng(spec.seed);
  const src = new Source(rng);
  const enc = new TextEncoder();
  let pending: Uint8Array[] = [];
  let pendingBytes = 0;
  const flush = async () => {
    if (pending.length === 0) return;
    const buf = Buffer.concat(pending);
    pending = [];
    pendingBytes = 0;
    if (!out.write(buf)) await new Promise((r) => out.once('drain', r));
  };
  const put = async (b: Uint8Array | string) => {
    const bytes = typeof b === 'string' ? enc.encode(b) : b;
    pending.push(bytes);
    pendingBytes += bytes.length;
    if (pendingBytes >= 1 << 20) await flush();
  };
  const data = async (bytes: Uint8Array) => {
    await put(`data ${bytes.length}\n`);
    await put(bytes);
    await put('\n');
  };
  const hot = Array.from({ length: spec.hotFiles }, (_, i) => ({ path: `src/m${i % 40}/hot${i}.ts`, lines: src.lines(2_000 + rng.int(14_000)) }));
  const bins = Array.from({ length: spec.binaries }, (_, i) => ({ path: `assets/a${i}.bin`, data: rng.bytes(spec.binaryBytes) }));
  let mark = 0;
  let time = 1_600_000_000;
  let mainMark = 0;
  let tags = 0;
  const editHot = (): { path: string; bytes: Uint8Array } => {
    const f = hot[rng.int(hot.length)];
    const edits = 1 + rng.int(5);
    for (let k = 0; k < edits; k++) {
      const at = rng.int(f.lines.length);
      const op = rng.int(4);
      if (op === 0 && f.lines.length > 20) f.lines.splice(at, 1);
      else if (op === 1) f.lines.splice(at, 0, src.line(), src.line());
      else f.lines[at] = src.line();
    }
    return { path: f.path, bytes: enc.encode(f.lines.join('\n') + '\n') };
  };
  const commit = async (ref: string, from: number, merge: number, msg: string, files: { path: string; bytes?: Uint8Array; mark?: number }[]) => {
    const blobMarks: number[] = [];
    for (const f of files) {
      if (f.bytes === undefined) continue;
      await put(`blob\nmark :${++mark}\n`);
      await data(f.bytes);
      f.mark = mark;
      blobMarks.push(mark);
    }
    time += 60 + rng.int(3600);
    await put(`commit ${ref}\nmark :${++mark}\nauthor Dev ${rng.int(20)} <dev${rng.int(20)}@example.com> ${time} +0000\ncommitter Bench <bench@example.com> ${time} +0000\n`);
    await data(enc.encode(`${msg}\n\n${src.line()}\n`));
    if (from > 0) await put(`from :${from}\n`);
    if (merge > 0) await put(`merge :${merge}\n`);
    for (const f of files) await put(`M 100644 :${f.mark} ${f.path}\n`);
    await put('\n');
    return mark;
  };
  // The first commit holds every hot file and asset.
  mainMark = await commit('refs/heads/main', 0, 0, 'initial import', [
    ...hot.map((f) => ({ path: f.path, bytes: enc.encode(f.lines.join('\n') + '\n') })),
    ...bins.map((b) => ({ path: b.path, bytes: b.data })),
  ]);
  for (let c = 1; c < spec.commits; ) {
    if (c % 97 === 0 && c + 4 < spec.commits) {
      // A topic branch of three commits, merged back with a merge commit (re-stating its files on main's tree).
      let side = mainMark;
      const changed: { path: string; mark?: number }[] = [];
      for (let k = 0; k < 3; k++) {
        const files = [editHot(), editHot()];
        side = await commit('refs/heads/topic', side, 0, `topic ${c} part ${k}`, files);
        changed.push(...files);
      }
      const last = new Map(changed.map((f) => [f.path, f.mark]));
      mainMark = await commit('refs/heads/main', mainMark, side, `Merge topic ${c}`, [...last].map(([path, m]) => ({ path, mark: m })));
      c += 4;
      continue;
    }
    const files: { path: string; bytes: Uint8Array }[] = [];
    const n = 1 + rng.int(3);
    for (let k = 0; k < n; k++) files.push(editHot());
    if (spec.newFileBytes > 0) {
      files.push({ path: `lib/d${c % 97}/f${c}.ts`, bytes: enc.encode(src.lines(spec.newFileBytes / 2 + rng.int(spec.newFileBytes)).join('\n')) });
    }
    if (spec.binaries > 0 && c % spec.binaryEvery === 0) {
      const b = bins[(c / spec.binaryEvery) % bins.length];
      if (rng.int(3) === 0) b.data = rng.bytes(spec.binaryBytes);
      else for (let k = 0; k < 50; k++) b.data[rng.int(b.data.length)] = rng.int(256);
      files.push({ path: b.path, bytes: b.data.slice() });
    }
    mainMark = await commit('refs/heads/main', mainMark, 0, `change ${c}`, files);
    if (c % 1000 === 0) {
      time += 10;
      await put(`tag v${++tags}\nfrom :${mainMark}\ntagger Bench <bench@example.com> ${time} +0000\n`);
      await data(enc.encode(`release ${tags}\n`));
    }
    c++;
  }
  await flush();
}

/** Where the corpus of `spec` is cached under `root` (by name and generator version, not by spec). */
export function corpusDir(spec: CorpusSpec, root: string): string {
  return join(root, `corpus-${spec.name}-v${VERSION}.git`);
}

/** The corpus of `spec`, generated (and cached under `root`) if needed. */
export async function corpus(spec: CorpusSpec, root: string, log: (s: string) => void = () => undefined): Promise<Corpus> {
  const dir = corpusDir(spec, root);
  const home = join(root, 'home');
  mkdirSync(home, { recursive: true });
  const done = join(dir, 'bench-corpus-ok');
  if (!existsSync(done)) {
    const tmp = `${dir}.tmp`;
    rmSync(tmp, { recursive: true, force: true });
    rmSync(dir, { recursive: true, force: true });
    gitSync(home, root, ['init', '-q', '--bare', '-b', 'main', tmp]);
    log(`generating ${spec.name} corpus (${spec.commits} commits)...`);
    const t0 = performance.now();
    const fi = spawn('git', ['fast-import', '--quiet', '--depth=50'], { cwd: tmp, env: benchGitEnv(home), stdio: ['pipe', 'inherit', 'inherit'] });
    const exited = new Promise<number | null>((r) => fi.on('exit', r));
    await writeStream(spec, fi.stdin);
    fi.stdin.end();
    if ((await exited) !== 0) throw new Error('git fast-import failed');
    log(`  fast-import ${((performance.now() - t0) / 1000).toFixed(0)} s${spec.noRepack ? '' : '; repacking...'}`);
    // -f: fast-import deltas a blob only against the blob written just before it.
    if (!spec.noRepack) gitSync(home, tmp, ['repack', '-a', '-d', '-f', '-q']);
    gitSync(home, tmp, ['symbolic-ref', 'HEAD', 'refs/heads/main']);
    renameSync(tmp, dir);
    writeFileSync(done, '');
    log(`  done in ${((performance.now() - t0) / 1000).toFixed(0)} s`);
  }
  const packDir = join(dir, 'objects/pack');
  const packBytes = readdirSync(packDir)
    .filter((f) => f.endsWith('.pack'))
    .reduce((n, f) => n + statSync(join(packDir, f)).size, 0);
  const commits = Number(gitSync(home, dir, ['rev-list', '--count', '--all']).trim());
  const objects = Number(/in-pack: (\d+)/.exec(gitSync(home, dir, ['count-objects', '-v']))?.[1] ?? 0);
  return { spec, dir, packBytes, commits, objects };
}
