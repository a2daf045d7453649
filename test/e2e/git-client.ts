/** Runs the real git for e2e tests, isolated from the machine's config (a clean CI box has none). */
import { spawnSync } from 'node:child_process';

export interface GitResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** Environment for git with HOME in a temp dir and fixed identities. */
export function gitEnv(home: string): NodeJS.ProcessEnv {
  return {
    PATH: process.env.PATH,
    HOME: home,
    GIT_CONFIG_NOSYSTEM: '1',
    GIT_TERMINAL_PROMPT: '0',
    GIT_AUTHOR_NAME: 'A U Thor',
    GIT_AUTHOR_EMAIL: 'author@example.com',
    GIT_COMMITTER_NAME: 'C O Mitter',
    GIT_COMMITTER_EMAIL: 'committer@example.com',
    LANG: 'C',
  };
}

/** Runs `git args` in `cwd` with gitEnv(home); its exit status and output. */
export function runGit(home: string, args: string[], cwd = home, timeout = 60_000): GitResult {
  const r = spawnSync('git', args, { cwd, env: gitEnv(home), encoding: 'utf8', timeout });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}
