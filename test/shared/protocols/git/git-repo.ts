// Node-only helper for the pack *.node.test.ts: a throwaway git repository
// driven by the real `git` (temp HOME, no system config), filled through
// `git fast-import` with many revisions of text and binary files.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A temporary repository and a `git` runner bound to it. */
export interface TempRepo {
  dir: string;
  git(args: string[], input?: Uint8Array | string): Buffer;
  remove(): void;
}

/** A fresh bare-or-not repository in a temp dir, with an isolated git environment. */
export function tempRepo(bare = true): TempRepo {
  const dir = mkdtempSync(join(tmpdir(), 'hub-pack-'));
  const home = join(dir, '.home');
  const env = {
    ...process.env,
    HOME: home,
    XDG_CONFIG_HOME: home,
    GIT_CONFIG_NOSYSTEM: '1',
    GIT_AUTHOR_NAME: 'Pack Test',
    GIT_AUTHOR_EMAIL: 'pack@example.com',
    GIT_COMMITTER_NAME: 'Pack Test',
    GIT_COMMITTER_EMAIL: 'pack@example.com',
  };
  const repo = join(dir, 'repo.git');
  const git = (args: string[], input?: Uint8Array | string) =>
    execFileSync('git', args, { cwd: repo, env, input, maxBuffer: 1 << 30, stdio: ['pipe', 'pipe', 'pipe'] });
  execFileSync('git', ['init', '-q', ...(bare ? ['--bare'] : []), '-b', 'main', repo], { env });
  return { dir: repo, git, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

function prng(seed: number) {
  let s = seed >>> 0 || 1;
  return () => ((s = (Math.imul(s, 1103515245) + 12345) >>> 0), s >>> 8);
}

/**
 * Fill `repo` with `commits` commits on main: ~`files` text files edited a few
 * lines at a time, small binaries rewritten in part, and (if `bigMB` > 0) one
 * large binary patched every few commits. Deterministic.
 */
export function fillRepo(repo: TempRepo, { commits = 40, files = 12, bigMB = 0, seed = 7 } = {}): void {
  const rnd = prng(seed);
  const enc = new TextEncoder();
  const parts: Uint8Array[] = [];
  const texts = Array.from({ length: files }, (_, f) =>
    Array.from({ length: 200 + f * 40 }, (_, i) => `file ${f} line ${i} ${'lorem ipsum dolor sit amet '.slice(0, (i * 7) % 27)}`),
  );
  const bins = Array.from({ length: 3 }, (_, b) => new Uint8Array(2000 + b * 5000).map(() => rnd() & 0xff));
  const big = new Uint8Array(bigMB * 1024 * 1024).map(() => rnd() & 0xff);
  const blob = (path: string, data: Uint8Array) => {
    parts.push(enc.encode(`M 100644 inline ${path}\ndata ${data.length}\n`), data, enc.encode('\n'));
  };
  for (let c = 0; c < commits; c++) {
    parts.push(enc.encode(`commit refs/heads/main\ncommitter Pack Test <pack@example.com> ${1700000000 + c * 60} +0000\ndata <<EOM\ncommit ${c}\nEOM\n`));
    for (let f = 0; f < files; f++) {
      if (c > 0 && rnd() % 3 !== 0) continue;
      const lines = texts[f];
      for (let k = 0; k < 3; k++) lines.splice(rnd() % lines.length, rnd() % 2, `edit ${c}.${k} ${rnd()}`);
      blob(`dir${f % 3}/text${f}.txt`, enc.encode(lines.join('\n') + '\n'));
    }
    for (const [b, bin] of bins.entries()) {
      if (c > 0 && rnd() % 4 !== 0) continue;
      for (let k = 0; k < 20; k++) bin[rnd() % bin.length] = rnd() & 0xff;
      blob(`bin/b${b}.dat`, bin);
    }
    if (big.length && (c === 0 || c % 10 === 5)) {
      for (let k = 0; k < 50; k++) big[rnd() % big.length] = rnd() & 0xff;
      blob('big/large.bin', big);
    }
    if (c % 15 === 14) parts.push(enc.encode(`D dir0/text0.txt\n`));
  }
  parts.push(enc.encode('tag v1\nfrom refs/heads/main\ntagger Pack Test <pack@example.com> 1700009999 +0000\ndata 4\nv1!\n\n'));
  const total = parts.reduce((n, p) => n + p.length, 0);
  const stream = new Uint8Array(total);
  parts.reduce((at, p) => (stream.set(p, at), at + p.length), 0);
  repo.git(['fast-import', '--quiet'], stream);
}

/** One line of `git verify-pack -v`. */
export interface VerifyLine {
  id: string;
  type: string;
  size: number;
  offset: number;
  depth: number;
  baseId?: string;
}

/** Run `git verify-pack -v` on a pack file (with its .idx next to it). */
export function verifyPack(repo: TempRepo, packPath: string): VerifyLine[] {
  const out = repo.git(['verify-pack', '-v', packPath]).toString();
  const lines: VerifyLine[] = [];
  for (const l of out.split('\n')) {
    const m = /^([0-9a-f]{40}) (\w+)\s+(\d+) (\d+) (\d+)(?: (\d+) ([0-9a-f]{40}))?$/.exec(l);
    if (!m) continue;
    lines.push({ id: m[1], type: m[2], size: +m[3], offset: +m[5], depth: m[6] ? +m[6] : 0, ...(m[7] ? { baseId: m[7] } : {}) });
  }
  return lines;
}

/** Contents of objects by id, through `git cat-file --batch`. */
export function catFile(repo: TempRepo, ids: string[]): Map<string, { type: string; data: Buffer }> {
  const out = repo.git(['cat-file', '--batch'], ids.join('\n') + '\n');
  const map = new Map<string, { type: string; data: Buffer }>();
  let at = 0;
  while (at < out.length) {
    const nl = out.indexOf(10, at);
    const [id, type, size] = out.subarray(at, nl).toString().split(' ');
    const n = Number(size);
    map.set(id, { type, data: out.subarray(nl + 1, nl + 1 + n) });
    at = nl + 1 + n + 1;
  }
  return map;
}

/** Every ref of `repo` and the id it points at. */
export function refsOf(repo: TempRepo): Record<string, string> {
  const out: Record<string, string> = {};
  for (const l of repo.git(['for-each-ref', '--format=%(objectname) %(refname)']).toString().trim().split('\n')) {
    const [id, name] = l.split(' ');
    out[name!] = id!;
  }
  return out;
}

/** Sorted ids of the objects `git rev-list --objects` lists in `dir`. */
export function objectsOf(dir: string, args = ['--all']): string[] {
  return execFileSync('git', ['rev-list', '--objects', ...args], { cwd: dir, maxBuffer: 1 << 28 })
    .toString()
    .trim()
    .split('\n')
    .map((l) => l.slice(0, 40))
    .sort();
}
