/**
 * One side of an A/B replay (bench/fossil-rounds.ts, bench/fossil-igot.ts): a
 * hub serving a copy of a prepared state (WORK/state), its Worker bundled from
 * the checkout `dir`, so two revisions answer the same recorded requests.
 */
import { spawnSync } from 'node:child_process';
import { cpSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { startHub, type Hub } from '../test/e2e/hub-server.js';
import { findInTree } from './proc.js';

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
