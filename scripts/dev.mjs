#!/usr/bin/env node
// Serves the bundled Worker with Miniflare directly: one workerd process,
// reached without wrangler dev's local proxy. `wrangler dev` puts a second
// workerd in front of the Worker (a proxy Worker relaying every request
// through a Durable Object, for live reload) whose CPU was as much as the
// hub's own on small requests (bench/fixed-cost.ts: 12 of 23 ms of workerd CPU
// per no-op fetch), and logs every request through its Node process. Neither
// exists on Cloudflare. The Worker's options (bindings, Durable Object
// classes, compatibility, module rules) come from wrangler's own reading of
// the config (unstable_getMiniflareWorkerOptions), and state is kept where
// `wrangler dev --persist-to DIR` and `wrangler d1 migrations apply --local
// --persist-to DIR` keep it (DIR/v3), so they share one local database.
//
// Unlike wrangler dev it does not watch the sources: it serves one bundle,
// the config's `main` when that is already bundled (test/e2e/hub-server.ts
// builds one), or with `--bundle DIR` one built into DIR at start
// (`wrangler deploy --dry-run`, the bundle a deploy would upload).
//
// CLI (the subset of `wrangler dev`'s flags the hub uses):
//   node scripts/dev.mjs [--config wrangler.toml] [--bundle DIR] [--ip 127.0.0.1]
//     [--port 8787] [--persist-to .wrangler/state] [--var KEY:VALUE]...
//     [--inspector-port PORT] [--r2-probe]
//
// --r2-probe (benchmarks only) adds bench/r2-probe/worker.mjs beside the hub in the same workerd, on the
// same R2 bucket and D1 database, at /__r2probe: a bare read of a repository's segments, so a bench can
// time what the local R2 simulator alone costs to read the bytes a clone read.
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { unstable_getMiniflareWorkerOptions, unstable_readConfig } from 'wrangler';

// The Miniflare that wrangler itself depends on (the project's top-level one may be another major version).
const { Miniflare, Log, LogLevel } = createRequire(createRequire(import.meta.url).resolve('wrangler'))('miniflare');

function parseArgs(argv) {
  const opts = { config: 'wrangler.toml', bundle: undefined, ip: '127.0.0.1', port: 8787, persistTo: '.wrangler/state', vars: {}, inspectorPort: undefined, r2Probe: false };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    const value = () => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${flag} needs a value`);
      return v;
    };
    if (flag === '--config') opts.config = value();
    else if (flag === '--bundle') opts.bundle = value();
    else if (flag === '--ip') opts.ip = value();
    else if (flag === '--port') opts.port = Number(value());
    else if (flag === '--persist-to') opts.persistTo = value();
    else if (flag === '--inspector-port') opts.inspectorPort = Number(value());
    else if (flag === '--r2-probe') opts.r2Probe = true;
    else if (flag === '--var') {
      const kv = value();
      const colon = kv.indexOf(':');
      if (colon < 1) throw new Error(`--var wants KEY:VALUE, got ${kv}`);
      opts.vars[kv.slice(0, colon)] = kv.slice(colon + 1);
    } else throw new Error(`unknown flag ${flag}`);
  }
  return opts;
}

const opts = parseArgs(process.argv.slice(2));
const configPath = resolve(opts.config);
const config = unstable_readConfig({ config: configPath });
const { workerOptions, main } = unstable_getMiniflareWorkerOptions(config);
let scriptPath = resolve(dirname(configPath), main);
if (opts.bundle !== undefined) {
  const wrangler = createRequire(import.meta.url).resolve('wrangler/bin/wrangler.js');
  const build = spawnSync(process.execPath, [wrangler, 'deploy', '--dry-run', '--config', configPath, '--outdir', opts.bundle], { stdio: ['ignore', 'ignore', 'inherit'] });
  if (build.status !== 0) process.exit(build.status ?? 1);
  scriptPath = join(resolve(opts.bundle), 'index.js');
}
const bindings = { ...workerOptions.bindings, ...opts.vars };
// Without it no caller is the hub admin, and nobody can create a repository or a user.
if (!bindings.HUB_ADMIN_TOKEN) console.warn('HUB_ADMIN_TOKEN is not set: no caller is the hub admin, so no repository or user can be created (HUB_ADMIN_TOKEN=... npm start)');
const mf = new Miniflare({
  host: opts.ip,
  port: opts.port,
  inspectorPort: opts.inspectorPort,
  defaultPersistRoot: join(resolve(opts.persistTo), 'v3'),
  log: new Log(LogLevel.WARN),
  // The placeholder `request.cf`, not one fetched from Cloudflare at start (offline, and no wait).
  cf: false,
  workers: [
    {
      ...workerOptions,
      name: config.name,
      modules: true,
      scriptPath,
      modulesRoot: dirname(scriptPath),
      bindings,
    },
    ...(opts.r2Probe
      ? [{
          name: 'r2probe',
          modules: true,
          scriptPath: join(dirname(new URL(import.meta.url).pathname), '../bench/r2-probe/worker.mjs'),
          compatibilityDate: workerOptions.compatibilityDate,
          routes: ['*/__r2probe*'],
          r2Buckets: workerOptions.r2Buckets,
          d1Databases: workerOptions.d1Databases,
        }]
      : []),
  ],
});
const url = await mf.ready;
console.log(`Ready on ${url.href}`);
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => void mf.dispose().then(() => process.exit(0)));
