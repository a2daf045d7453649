#!/usr/bin/env node
// `npm start`: apply D1 migrations to the local database, then serve the Worker
// (scripts/dev.mjs: workerd through Miniflare, as wrangler dev does but without
// wrangler's local proxy; state under .wrangler/state, as wrangler keeps it)
// on an internal loopback port, and serve http://127.0.0.1:8787 (PORT
// overrides) through the small Node front of scripts/front.mjs. The front
// exists for fossil: workerd holds HTTP/1.0 connections open ~5 s after
// answering, and fossil 2.21 reads each reply until the connection closes
// (front.mjs explains). The Worker is bundled once at start: restart after
// editing. Works offline: telemetry is off and nothing asks for a login.
import { spawnSync, spawn } from 'node:child_process';
import net from 'node:net';
import { startFront } from './front.mjs';

const env = { ...process.env, WRANGLER_SEND_METRICS: 'false', CI: process.env.CI ?? 'true' };
const wrangler = 'node_modules/.bin/wrangler';
const port = Number(process.env.PORT ?? '8787');

const migrate = spawnSync(wrangler, ['d1', 'migrations', 'apply', 'DB', '--local'], { stdio: 'inherit', env });
if (migrate.status !== 0) process.exit(migrate.status ?? 1);

/** A free loopback port for the Worker (asked of the OS, then released for workerd to take). */
function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port: p } = s.address();
      s.close(() => resolve(p));
    });
  });
}

// The public port first: if it is taken, fail before starting the Worker.
const inner = await freePort();
const front = await startFront({ target: `http://127.0.0.1:${inner}`, port, host: '127.0.0.1' });

const vars = process.env.HUB_ADMIN_TOKEN ? ['--var', `HUB_ADMIN_TOKEN:${process.env.HUB_ADMIN_TOKEN}`] : [];
const args = ['scripts/dev.mjs', '--bundle', '.wrangler/bundle', '--ip', '127.0.0.1', '--port', String(inner), ...vars, ...process.argv.slice(2)];
const dev = spawn(process.execPath, args, { stdio: 'inherit', env });
console.log(`hub: serving http://127.0.0.1:${front.port} (a front for the Worker on internal port ${inner}; use ${front.port})`);
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => dev.kill(sig));
dev.on('exit', (code) => {
  void front.close().then(() => process.exit(code ?? 0));
});
