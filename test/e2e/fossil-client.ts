/**
 * Runs the real fossil for e2e tests and benchmarks, isolated from the
 * machine: HOME is a temp dir (fossil keeps its global settings in
 * ~/.fossil), the user name is fixed, and nothing prompts (stdin is closed).
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll } from 'vitest';
import { apiOk } from './hub-client.js';
import { freePort, startHub, type Hub } from './hub-server.js';

export interface FossilResult {
  status: number | null;
  stdout: string;
  stderr: string;
  /** stdout + stderr: fossil prints sync errors on either, and often exits 0 after them. */
  output: string;
}

/** Environment for fossil with HOME in `home` and a fixed default user. */
export function fossilEnv(home: string, user = 'tester'): NodeJS.ProcessEnv {
  return { PATH: process.env.PATH, HOME: home, USER: user, LOGNAME: user, FOSSIL_USER: user, LANG: 'C', TZ: 'UTC' };
}

/** Runs `fossil args` in `cwd`; its exit status and output. */
export function runFossil(home: string, args: string[], cwd = home, timeout = 120_000): FossilResult {
  const r = spawnSync('fossil', args, { cwd, env: fossilEnv(home), encoding: 'utf8', timeout, input: '' });
  const stdout = r.stdout ?? '';
  const stderr = r.stderr ?? '';
  return { status: r.status, stdout, stderr, output: stdout + stderr };
}

/** The same, asynchronous (for timing and concurrent servers). */
export function runFossilAsync(home: string, args: string[], cwd = home, timeout = 1_200_000): Promise<FossilResult> {
  return new Promise((resolve, reject) => {
    const child = spawn('fossil', args, { cwd, env: fossilEnv(home), stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeout);
    child.on('error', reject);
    child.on('close', (status) => {
      clearTimeout(timer);
      resolve({ status, stdout, stderr, output: stdout + stderr });
    });
  });
}

/** Throws with fossil's output unless it exited 0. */
export function check(r: FossilResult, what: string): FossilResult {
  if (r.status !== 0) throw new Error(`${what} failed (${r.status}):\n${r.output}`);
  return r;
}

/** A scratch directory that doubles as fossil's HOME; `done()` removes it. */
export function fossilHome(prefix = 'fossil-e2e-'): { home: string; done: () => void } {
  const home = mkdtempSync(join(tmpdir(), prefix));
  return { home, done: () => rmSync(home, { recursive: true, force: true }) };
}

/**
 * A clone opened in a check-out: `fossil clone URL repo.fossil` then `fossil
 * open` in `dir`. Returns the repository file and check-out directory.
 */
export function cloneAndOpen(home: string, url: string, name: string, extra: string[] = []): { repo: string; dir: string; clone: FossilResult } {
  const repo = join(home, `${name}.fossil`);
  const dir = join(home, name);
  const clone = check(runFossil(home, ['clone', '--save-http-password', ...extra, url, repo]), `fossil clone ${url}`);
  spawnSync('mkdir', ['-p', dir]);
  check(runFossil(home, ['open', repo, '--force'], dir), 'fossil open');
  return { repo, dir, clone };
}

/** Check-ins of a repository file, newest first: hash, comment (via SQL on its event/blob tables). */
export function checkins(home: string, repo: string): { hash: string; comment: string; user: string; time: string }[] {
  const r = check(
    runFossil(home, [
      'sql',
      '-R',
      repo,
      `SELECT b.uuid || '|' || coalesce(e.user,'') || '|' || strftime('%Y-%m-%dT%H:%M:%f', e.mtime) || '|' || replace(coalesce(e.comment,''), char(10), ' ') FROM event e JOIN blob b ON b.rid = e.objid WHERE e.type = 'ci' ORDER BY e.mtime DESC, b.uuid`,
    ]),
    'fossil sql',
  );
  return r.stdout
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => {
      const t = l.replace(/^'|'$/g, '');
      const [hash, user, time, ...rest] = t.split('|');
      return { hash, user, time, comment: rest.join('|') };
    });
}

/** Every artifact hash of a repository file (non-phantoms), sorted. */
export function artifactHashes(home: string, repo: string, includePrivate = true): string[] {
  const where = includePrivate ? 'size >= 0' : 'size >= 0 AND rid NOT IN private';
  const r = check(runFossil(home, ['sql', '-R', repo, `SELECT uuid FROM blob WHERE ${where} ORDER BY uuid`]), 'fossil sql');
  return r.stdout
    .split('\n')
    .map((l) => l.trim().replace(/^'|'$/g, ''))
    .filter(Boolean);
}

/** `fossil server --repolist` over `root` (every *.fossil file there is /NAME). */
export async function startFossilServer(root: string, home: string): Promise<{ url: string; pid: number; stop(): Promise<void> }> {
  const port = await freePort();
  const child = spawn('fossil', ['server', '--repolist', '--localhost', '--port', String(port), root], { env: fossilEnv(home), stdio: 'ignore' });
  const url = `http://127.0.0.1:${port}`;
  const stop = async () => {
    if (child.exitCode === null) {
      child.kill('SIGTERM');
      await new Promise((r) => child.once('exit', r));
    }
  };
  for (let i = 0; i < 100; i++) {
    if (child.exitCode !== null) break;
    try {
      await fetch(`${url}/`);
      return { url, pid: child.pid!, stop };
    } catch {
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  await stop();
  throw new Error('fossil server did not start');
}

/** A hub and `fossil server --repolist` over `served` (in `home`), for side-by-side tests. */
export interface SideBySide {
  hub: Hub;
  home: string;
  served: string;
  serverUrl: string;
  stop(): Promise<void>;
}

/**
 * The repository file `src` on both servers of `sides`: the hub repository
 * created empty with its project code, fossil server serving a copy of it;
 * `writer` (a hub user) gets the write role on the hub and fossil's `i y` on
 * the copy.
 */
export async function serveOnBoth(sides: Omit<SideBySide, 'stop' | 'serverUrl'>, name: string, src: string, writer: { name: string; password: string }): Promise<void> {
  const fossil = (args: string[]) => check(runFossil(sides.home, args), `fossil ${args.join(' ')}`).stdout;
  const code = fossil(['sql', '-R', src, `SELECT value FROM config WHERE name = 'project-code'`]).trim().replace(/'/g, '');
  await apiOk(sides.hub, 'POST', '/repos', { name, kind: 'fossil', public: true, project_code: code });
  await apiOk(sides.hub, 'PUT', `/repos/${name}/members/${writer.name}`, { role: 'write' });
  const copy = join(sides.served, `${name}.fossil`);
  fossil(['sql', '-R', src, `VACUUM INTO '${copy}'`]);
  fossil(['user', 'new', writer.name, 'x', writer.password, '-R', copy]);
  fossil(['user', 'capabilities', writer.name, 'iy', '-R', copy]);
}

/** Starts a hub and a fossil server with a fresh home (`prefix`); `stop()` ends both and removes the home. */
export async function startSideBySide(prefix: string): Promise<SideBySide> {
  const hub = await startHub();
  const { home, done } = fossilHome(prefix);
  const served = join(home, 'served');
  mkdirSync(served);
  let server: Awaited<ReturnType<typeof startFossilServer>>;
  try {
    server = await startFossilServer(served, home);
  } catch (e) {
    await hub.stop();
    done();
    throw e;
  }
  const stop = async () => {
    await server.stop();
    await hub.stop();
    done();
  };
  return { hub, home, served, serverUrl: server.url, stop };
}

/**
 * A test file's side-by-side pair: started before its tests with one hub user
 * (`user`, password `user-pw`), stopped after them. `take` gets the started
 * pair once, to fill the file's own variables.
 */
export function useSideBySide(prefix: string, user: string, take: (sides: SideBySide) => void): void {
  let sides: SideBySide | undefined;
  beforeAll(async () => {
    sides = await startSideBySide(prefix);
    take(sides);
    await apiOk(sides.hub, 'POST', '/users', { name: user, password: `${user}-pw` });
  }, 120_000);
  afterAll(async () => {
    await sides?.stop();
  });
}
