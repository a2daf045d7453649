/**
 * Record and replay of fossil rounds (bench/fossil-rounds.ts, bench/fossil-igot.ts):
 * a relay that records the requests a real client sends to a hub, a plain POST
 * that times a reply, and one side of an A/B replay: a hub serving a copy of a
 * prepared state (WORK/state), its Worker bundled from the checkout `dir`, so
 * two revisions answer the same recorded requests.
 */
import { spawnSync } from 'node:child_process';
import { cpSync, rmSync } from 'node:fs';
import http from 'node:http';
import { join, resolve } from 'node:path';
import { startHub, type Hub } from '../test/e2e/hub-server.js';
import { cpuSeconds, findInTree } from './proc.js';

export type Answer = { status: number; type: string; ttfb: number; total: number; body: Buffer };
export type Recorded = { contentType: string; body: string };

/** POSTs `body` on a fresh connection: the reply with its time to first byte and to the last (ms). */
export function post(url: string, contentType: string, body: Buffer): Promise<Answer> {
  return new Promise((done, fail) => {
    const u = new URL(url);
    const t0 = performance.now();
    const req = http.request({ host: u.hostname, port: u.port, path: u.pathname, method: 'POST', agent: false, headers: { 'content-type': contentType, 'content-length': body.length } }, (res) => {
      const ttfb = performance.now() - t0;
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => done({ status: res.statusCode!, type: String(res.headers['content-type']), ttfb, total: performance.now() - t0, body: Buffer.concat(chunks) }));
    });
    req.on('error', fail);
    req.end(body);
  });
}

/**
 * A relay on a free loopback port in front of `target` (a hub's URL) that pushes each request it
 * passes on into `requests` and hands each answer to `answered`; the client connects to `url`.
 */
export async function recordingRelay(target: string, requests: Recorded[], answered: (a: Answer) => void = () => undefined): Promise<{ url: string; close(): void }> {
  const relay = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', async () => {
      const body = Buffer.concat(chunks);
      const contentType = String(req.headers['content-type']);
      requests.push({ contentType, body: body.toString('base64') });
      const a = await post(`${target}${req.url}`, contentType, body);
      answered(a);
      res.writeHead(a.status, { 'content-type': a.type, 'content-length': a.body.length, connection: 'close' });
      res.end(a.body);
    });
  });
  await new Promise<void>((r) => relay.listen(0, '127.0.0.1', () => r()));
  return { url: `http://127.0.0.1:${(relay.address() as { port: number }).port}`, close: () => relay.close() };
}

export type Side = { name: string; url: string; pids: number[]; stop(): Promise<void> };

const WRANGLER = resolve('node_modules/.bin/wrangler');

/** The hub of checkout `dir` on a copy of WORK/state, serving repository `p`; `pids` are its workerd's. */
export async function hubFrom(work: string, dir: string, name: string, opts: { inspector?: number; adminToken?: string } = {}): Promise<Side> {
  const state = join(work, `run-${name.replace(/\W/g, '')}-${process.pid}`);
  cpSync(join(work, 'state'), state, { recursive: true });
  rmSync(join(state, 'bundle'), { recursive: true, force: true });
  const build = spawnSync(WRANGLER, ['deploy', '--dry-run', '--outdir', join(state, 'bundle')], { cwd: dir, encoding: 'utf8' });
  if (build.status !== 0) throw new Error(`bundling ${dir} failed: ${build.stderr}`);
  const before = new Set(findInTree(process.pid, 'workerd'));
  const devArgs = opts.inspector === undefined ? {} : { devArgs: ['--inspector-port', String(opts.inspector)] };
  const hub: Hub = await startHub({ state, timeoutMs: 120_000, ...(opts.adminToken === undefined ? {} : { adminToken: opts.adminToken }), ...devArgs });
  const pids = findInTree(process.pid, 'workerd').filter((p) => !before.has(p));
  return { name, url: `${hub.url}/p`, pids, stop: async () => (await hub.stop(), rmSync(state, { recursive: true, force: true })) };
}

/**
 * One replayed request to `side`: its answer (HTTP 200 required) and the CPU seconds the side's
 * workerd spent on it, read 30 ms after the reply (fossil server's per-connection child has
 * exited by then; workerd's CPU settles).
 */
export async function replay(side: Side, contentType: string, bytes: Buffer): Promise<{ a: Answer; cpu: number }> {
  const cpu0 = side.pids.reduce((n, p) => n + cpuSeconds(p), 0);
  const a = await post(side.url, contentType, bytes);
  if (a.status !== 200) throw new Error(`${side.name}: HTTP ${a.status}`);
  await new Promise((r) => setTimeout(r, 30));
  return { a, cpu: side.pids.reduce((n, p) => n + cpuSeconds(p), 0) - cpu0 };
}
