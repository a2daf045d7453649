/**
 * Serves the hub for protocol tests the way `npm start` does: D1 migrations
 * applied to a fresh local state directory, then the Worker served by
 * workerd + miniflare (scripts/dev.mjs: wrangler dev's setup without its
 * local proxy) on a free loopback port. Real clients (git, fossil) then talk
 * to it over HTTP.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { appendFileSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface Hub {
  url: string;
  adminToken: string;
  /** What workerd and the Worker printed so far (uncaught exceptions show here). */
  log(): string;
  stop(): Promise<void>;
}

const WRANGLER = join(process.cwd(), 'node_modules/.bin/wrangler');
const ENV = { ...process.env, WRANGLER_SEND_METRICS: 'false', CI: 'true', NO_COLOR: '1' };

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
  const migrate = spawnSync(WRANGLER, ['d1', 'migrations', 'apply', 'DB', '--local', '--persist-to', state], { env: ENV, encoding: 'utf8' });
  if (migrate.status !== 0) throw new Error(`migrations failed: ${migrate.stderr || migrate.stdout}`);
  // Serve a bundle built once, not the source tree: `wrangler dev` watches its
  // sources and restarts the Worker on every save, and in a shared checkout
  // that kills requests mid-flight (503 "Your worker restarted mid-request").
  // A restart on a kept state directory serves the bundle built for it the first time (the same deployment).
  const bundle = join(state, 'bundle');
  if (!opts.state || !existsSync(join(bundle, 'index.js'))) {
    const build = spawnSync(WRANGLER, ['deploy', '--dry-run', '--outdir', bundle], { env: ENV, encoding: 'utf8' });
    if (build.status !== 0) throw new Error(`bundling the Worker failed: ${build.stderr || build.stdout}`);
  }
  // The project's config with `main` pointing at the bundle (paths made absolute).
  const config = join(state, 'wrangler.toml');
  const toml = readFileSync(join(process.cwd(), 'wrangler.toml'), 'utf8')
    .replace(/^main = .*$/m, `main = ${JSON.stringify(join(bundle, 'index.js'))}\nno_bundle = true`)
    .replace(/^migrations_dir = "(.*)"$/m, (_, dir: string) => `migrations_dir = ${JSON.stringify(join(process.cwd(), dir))}`);
  writeFileSync(config, toml);
  const port = await freePort();
  // Extra Worker vars (e.g. a small HUB_MAX_PUSH_BYTES), as `wrangler dev --var KEY:VALUE`.
  const vars = Object.entries(opts.vars ?? {}).flatMap(([k, v]) => ['--var', `${k}:${v}`]);
  // devArgs: more `wrangler dev` flags (bench/profile-workerd.ts passes --inspector-port).
  const child: ChildProcess = spawn(
    process.execPath,
    [join(process.cwd(), 'scripts/dev.mjs'), '--config', config, '--ip', '127.0.0.1', '--port', String(port), '--persist-to', state, '--var', `HUB_ADMIN_TOKEN:${adminToken}`, ...vars, ...(opts.devArgs ?? [])],
    { env: ENV, stdio: ['ignore', 'pipe', 'pipe'], detached: true },
  );
  let log = '';
  child.stdout!.on('data', (d) => (log += d));
  child.stderr!.on('data', (d) => (log += d));
  const url = `http://127.0.0.1:${port}`;
  const stop = async () => {
    // HUB_E2E_LOG=FILE keeps wrangler's output (the Worker's console.error lines) for debugging.
    if (process.env.HUB_E2E_LOG) appendFileSync(process.env.HUB_E2E_LOG, `--- hub ${url}\n${log}\n`);
    if (child.exitCode === null) {
      process.kill(-child.pid!, 'SIGTERM');
      await new Promise((r) => child.once('exit', r));
    }
    if (!opts.state) rmSync(state, { recursive: true, force: true });
  };
  const deadline = Date.now() + (opts.timeoutMs ?? 60_000);
  while (Date.now() < deadline) {
    if (child.exitCode !== null) break;
    try {
      const res = await fetch(`${url}/healthz`);
      if (res.status === 200) return { url, adminToken, log: () => log, stop };
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  await stop();
  throw new Error(`hub did not become healthy:\n${log}`);
}
