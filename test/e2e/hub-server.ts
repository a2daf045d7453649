/**
 * Serves the hub for protocol tests the way `npm start` does: D1 migrations
 * applied to a fresh local state directory, then the Worker served by
 * workerd + miniflare (scripts/dev.mjs: wrangler dev's setup without its
 * local proxy) on a free loopback port. Real clients (git, fossil) then talk
 * to it over HTTP.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { appendFileSync, cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';

export interface Hub {
  url: string;
  adminToken: string;
  /** What workerd and the Worker printed so far (uncaught exceptions show here). */
  log(): string;
  stop(): Promise<void>;
  /** kill -9 of the hub's processes (workerd and its launcher), as a crash or an eviction would end it; a kept state directory stays. */
  crash(): Promise<void>;
}

const WRANGLER = join(process.cwd(), 'node_modules/.bin/wrangler');
const ENV = { ...process.env, WRANGLER_SEND_METRICS: 'false', CI: 'true', NO_COLOR: '1' };

function wrangler(args: string[], failure: string): void {
  const run = spawnSync(WRANGLER, args, { env: ENV, encoding: 'utf8' });
  if (run.status !== 0) throw new Error(`${failure}: ${run.stderr || run.stdout}`);
}

/** What the Worker's bundle is made from. */
const BUNDLE_INPUTS = ['worker', 'shared', 'wrangler.toml', 'package-lock.json', 'tsconfig.json'];
const CACHE = join(tmpdir(), 'hub-e2e-cache');

/**
 * A directory `make` filled, kept under the OS tmpdir by the content of `inputs`
 * (files or directories of the project): made once for all hubs of all runs
 * while those files stay the same. Made aside and renamed into place, so
 * concurrent runs never see one half made. An entry is touched when used, and
 * other entries of its kind unused for an hour are removed (in a checkout
 * being edited, each change of the sources makes a new 5 MB bundle).
 */
function cached(kind: string, inputs: string[], make: (dir: string) => void): string {
  const hash = createHash('sha256');
  const add = (path: string) => {
    if (statSync(path).isDirectory()) for (const name of readdirSync(path).sort()) add(join(path, name));
    else hash.update(`${relative(process.cwd(), path)}\0`).update(readFileSync(path)).update('\0');
  };
  for (const input of inputs) add(join(process.cwd(), input));
  const dir = join(CACHE, `${kind}-${hash.digest('hex').slice(0, 24)}`);
  if (existsSync(dir)) {
    const now = new Date();
    utimesSync(dir, now, now);
    return dir;
  }
  mkdirSync(CACHE, { recursive: true });
  const temp = mkdtempSync(join(CACHE, `${kind}-making-`));
  try {
    make(temp);
    renameSync(temp, dir);
  } catch (err) {
    rmSync(temp, { recursive: true, force: true });
    if (!existsSync(dir)) throw err; // another run made it first otherwise
  }
  for (const name of readdirSync(CACHE)) {
    const path = join(CACHE, name);
    const used = statSync(path, { throwIfNoEntry: false })?.mtimeMs ?? Date.now(); // another run may remove it first
    if (name.startsWith(`${kind}-`) && path !== dir && Date.now() - used > 3_600_000) rmSync(path, { recursive: true, force: true });
  }
  return dir;
}

/** A TCP port free on 127.0.0.1 right now (the OS picks it; closed again before it is used). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
    srv.on('error', reject);
  });
}

/** Starts a hub with its own empty state; resolves once /healthz answers 200. */
export async function startHub(opts: { adminToken?: string; timeoutMs?: number; vars?: Record<string, string>; devArgs?: string[]; state?: string } = {}): Promise<Hub> {
  // opts.state: serve (and keep on stop) a state directory a stopped hub left,
  // as `npm start` does across restarts; by default a fresh one, removed on stop.
  const state = opts.state ?? mkdtempSync(join(tmpdir(), 'hub-state-'));
  const adminToken = opts.adminToken ?? 'e2e-admin-token';
  // A fresh state starts as a copy of one that `wrangler d1 migrations apply`
  // made (the same files; ~4 s of wrangler per hub otherwise; remade when the
  // migrations or the locked wrangler, and so its local D1 format, change); a kept one is
  // migrated by wrangler itself, as `npm start` would.
  if (!existsSync(join(state, 'v3'))) cpSync(cached('d1', ['migrations', 'package-lock.json'], (dir) => wrangler(['d1', 'migrations', 'apply', 'DB', '--local', '--persist-to', dir], 'migrations failed')), state, { recursive: true });
  else wrangler(['d1', 'migrations', 'apply', 'DB', '--local', '--persist-to', state], 'migrations failed');
  // Serve a bundle built once, not the source tree: `wrangler dev` watches its
  // sources and restarts the Worker on every save, and in a shared checkout
  // that kills requests mid-flight (503 "Your worker restarted mid-request").
  // The bundle of the sources as they are now is built once and copied (keyed by their content).
  // A restart on a kept state directory serves the bundle built for it the first time (the same deployment).
  const bundle = join(state, 'bundle');
  if (!opts.state || !existsSync(join(bundle, 'index.js'))) {
    cpSync(cached('bundle', BUNDLE_INPUTS, (dir) => wrangler(['deploy', '--dry-run', '--outdir', dir], 'bundling the Worker failed')), bundle, { recursive: true });
  }
  // The project's config with `main` pointing at the bundle (paths made absolute).
  const config = join(state, 'wrangler.toml');
  const toml = readFileSync(join(process.cwd(), 'wrangler.toml'), 'utf8')
    .replace(/^main = .*$/m, `main = ${JSON.stringify(join(bundle, 'index.js'))}\nno_bundle = true`)
    .replace(/^migrations_dir = "(.*)"$/m, (_, dir: string) => `migrations_dir = ${JSON.stringify(join(process.cwd(), dir))}`);
  writeFileSync(config, toml);
  // Extra Worker vars (e.g. a small HUB_MAX_PUSH_BYTES), as `wrangler dev --var KEY:VALUE`.
  const vars = Object.entries(opts.vars ?? {}).flatMap(([k, v]) => ['--var', `${k}:${v}`]);
  // devArgs: more `wrangler dev` flags (bench/profile-workerd.ts passes --inspector-port).
  const child: ChildProcess = spawn(
    process.execPath,
    [join(process.cwd(), 'scripts/dev.mjs'), '--config', config, '--ip', '127.0.0.1', '--port', '0', '--persist-to', state, '--var', `HUB_ADMIN_TOKEN:${adminToken}`, ...vars, ...(opts.devArgs ?? [])],
    { env: ENV, stdio: ['ignore', 'pipe', 'pipe'], detached: true },
  );
  let log = '';
  child.stdout!.on('data', (d) => (log += d));
  child.stderr!.on('data', (d) => (log += d));
  // Port 0: workerd binds a free port itself and scripts/dev.mjs prints it
  // ("Ready on URL"), so hubs started at once never race for one.
  let url = '';
  const stop = async () => {
    // HUB_E2E_LOG=FILE keeps wrangler's output (the Worker's console.error lines) for debugging.
    if (process.env.HUB_E2E_LOG) appendFileSync(process.env.HUB_E2E_LOG, `--- hub ${url}\n${log}\n`);
    if (child.exitCode === null && child.signalCode === null) {
      process.kill(-child.pid!, 'SIGTERM');
      await new Promise((r) => child.once('exit', r));
    }
    if (!opts.state) rmSync(state, { recursive: true, force: true });
  };
  const crash = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      process.kill(-child.pid!, 'SIGKILL');
      await new Promise((r) => child.once('exit', r));
    }
    await stop();
  };
  const deadline = Date.now() + (opts.timeoutMs ?? 60_000);
  while (Date.now() < deadline) {
    if (child.exitCode !== null) break;
    url ||= /^Ready on (http:\/\/[^/\s]+)/m.exec(log)?.[1] ?? '';
    try {
      if (!url) throw new Error('not ready');
      const res = await fetch(`${url}/healthz`);
      if (res.status === 200) return { url, adminToken, log: () => log, stop, crash };
    } catch {
      // not ready or not listening yet
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  await stop();
  throw new Error(`hub did not become healthy:\n${log}`);
}
