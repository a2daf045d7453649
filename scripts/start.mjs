#!/usr/bin/env node
// `npm start`: apply D1 migrations to the local database, then serve the Worker
// with wrangler dev on http://127.0.0.1:8787 (workerd + miniflare; state under
// .wrangler/). Works offline: telemetry is off and nothing asks for a login.
import { spawnSync, spawn } from 'node:child_process';

const env = { ...process.env, WRANGLER_SEND_METRICS: 'false', CI: process.env.CI ?? 'true' };
const wrangler = 'node_modules/.bin/wrangler';

const migrate = spawnSync(wrangler, ['d1', 'migrations', 'apply', 'DB', '--local'], { stdio: 'inherit', env });
if (migrate.status !== 0) process.exit(migrate.status ?? 1);

const vars = process.env.HUB_ADMIN_TOKEN ? ['--var', `HUB_ADMIN_TOKEN:${process.env.HUB_ADMIN_TOKEN}`] : [];
const dev = spawn(wrangler, ['dev', '--ip', '127.0.0.1', '--port', process.env.PORT ?? '8787', ...vars, ...process.argv.slice(2)], {
  stdio: 'inherit',
  env,
});
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => dev.kill(sig));
dev.on('exit', (code) => process.exit(code ?? 0));
