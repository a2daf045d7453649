#!/usr/bin/env node
// `npm start`: apply D1 migrations to the local database, then serve the Worker
// (scripts/dev.mjs: workerd through Miniflare, as wrangler dev does but without
// wrangler's local proxy; state under .wrangler/state, as wrangler keeps it)
// on http://127.0.0.1:8787 (PORT overrides). Clients talk to workerd
// directly, fossil too: workerd keeps an HTTP/1.0 connection open ~5 s after
// answering, and fossil 2.21 reads a reply shorter than 1000 bytes until the
// connection closes, so the hub pads its short fossil replies
// (shared/protocols/fossil/body.ts MIN_REPLY_BYTES). The Worker is bundled
// once at start: restart after editing. Works offline: telemetry is off and
// nothing asks for a login.
import { spawnSync, spawn } from 'node:child_process';

const env = { ...process.env, WRANGLER_SEND_METRICS: 'false', CI: process.env.CI ?? 'true' };
const wrangler = 'node_modules/.bin/wrangler';
const port = Number(process.env.PORT ?? '8787');

const migrate = spawnSync(wrangler, ['d1', 'migrations', 'apply', 'DB', '--local'], { stdio: 'inherit', env });
if (migrate.status !== 0) process.exit(migrate.status ?? 1);

const vars = process.env.HUB_ADMIN_TOKEN ? ['--var', `HUB_ADMIN_TOKEN:${process.env.HUB_ADMIN_TOKEN}`] : [];
const args = ['scripts/dev.mjs', '--bundle', '.wrangler/bundle', '--ip', '127.0.0.1', '--port', String(port), ...vars, ...process.argv.slice(2)];
const dev = spawn(process.execPath, args, { stdio: 'inherit', env });
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => dev.kill(sig));
dev.on('exit', (code) => process.exit(code ?? 0));
