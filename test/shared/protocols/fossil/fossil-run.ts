// Async fossil runs for tests whose server lives in this same process
// (spawnSync would block the event loop the server needs).
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { check, fossilEnv, runFossil, type FossilResult } from '../../../e2e/fossil-client.js';

/**
 * Runs fossil without blocking; throws unless it exits 0 when `mustPass`.
 * stdin answers "y" (fossil asks whether to remember a URL's password).
 */
export async function fossil(home: string, args: string[], cwd = home, mustPass = true, input = 'y\n'): Promise<FossilResult> {
  const r = await new Promise<FossilResult>((resolve, reject) => {
    const child = spawn('fossil', args, { cwd, env: fossilEnv(home), stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.stdin.on('error', () => undefined);
    child.stdin.end(input);
    const timer = setTimeout(() => child.kill('SIGKILL'), 300_000);
    child.on('error', reject);
    child.on('close', (status) => {
      clearTimeout(timer);
      resolve({ status, stdout, stderr, output: stdout + stderr });
    });
  });
  return mustPass ? check(r, `fossil ${args.join(' ')}`) : r;
}

/** `fossil clone URL NAME.fossil` then `fossil open` in HOME/NAME. */
export async function cloneOpen(home: string, url: string, name: string, extra: string[] = []): Promise<{ repo: string; dir: string; clone: FossilResult }> {
  const repo = join(home, `${name}.fossil`);
  const dir = join(home, name);
  const clone = await fossil(home, ['clone', ...extra, url, repo]);
  rememberPassword(home, repo, url);
  mkdirSync(dir, { recursive: true });
  await fossil(home, ['open', repo, '--force'], dir);
  return { repo, dir, clone };
}

/**
 * Stores the URL's password in the clone, as answering "remember password?"
 * at a terminal would (fossil only asks when stdin is a tty), so autosync
 * and later pulls log in.
 */
export function rememberPassword(home: string, repo: string, url: string): void {
  const pw = new URL(url).password;
  if (!pw) return;
  const quoted = decodeURIComponent(pw).replaceAll("'", "''");
  check(runFossil(home, ['sql', '-R', repo, `REPLACE INTO config(name,value,mtime) VALUES('last-sync-pw', obscure('${quoted}'), now())`]), 'set password');
}
