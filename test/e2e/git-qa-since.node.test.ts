// Outside-in QA: --shallow-since over commits whose dates git reads oddly.
// git cuts at commit->date as parse_commit_date reads it, not at the
// committer line: a commit whose author line is missing or comes after its
// committer is dated 0, a committer without ">" takes the number after the
// next ">" further down. Old conversion tools wrote such commits. The hub
// must cut where git upload-pack cuts (here over file://, what http-backend runs).
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { gitEnv } from './git-client.js';
import { gitIn, setupRepos, writerUrl } from './hub-client.js';
import { startHub, type Hub } from './hub-server.js';

let hub: Hub;
let home: string;
let src: string;
let git: ReturnType<typeof gitIn>['git'];
let ok: ReturnType<typeof gitIn>['ok'];

beforeAll(async () => {
  home = mkdtempSync(join(tmpdir(), 'git-qa-since-'));
  ({ git, ok } = gitIn(home));
  hub = await startHub();
  await setupRepos(hub, ['since']);
  src = join(home, 'src.git');
  ok(['init', '-q', '--bare', '-b', 'main', src]);
  const tree = hashObject('tree', '');
  let parent: string | null = null;
  // Dates around 2010-01-01 (1262304000): old ones below it, new ones above.
  const identities = [
    'author A <a@example.com> 1000000000 +0000\ncommitter C <c@example.com> 1000000000 +0000',
    'author A <a@example.com> 1400000000 +0000\ncommitter C <c@example.com> 1400000000 +0000',
    'committer Only Committer <c@example.com> 1400000001 +0000', // git: date 0
    'author A <a@example.com> 1400000002 +0000\ncommitter C <c@example.com> 1400000002 +0000',
    'author A <a@example.com> 1400000003 +0000\ncommitter No Email 1000000000 +0000\nx-note <x> 1400000003', // git: 1400000003, from the next line's ">"
    'author A <a@example.com> 1400000004 +0000\ncommitter C <c@example.com> 1400000004 +0000',
    'committer C <c@example.com> 1400000005 +0000\nauthor A <a@example.com> 1400000005 +0000', // git: date 0
    'author A <a@example.com> 1400000006 +0000\ncommitter C <c@example.com> 1400000006 +0000',
  ];
  for (const [i, who] of identities.entries()) {
    parent = hashObject('commit', `tree ${tree}\n${parent ? `parent ${parent}\n` : ''}${who}\n\nc${i}\n`);
    ok(['update-ref', `refs/heads/c${i}`, parent], src);
  }
  ok(['update-ref', 'refs/heads/main', parent!], src);
  ok(['push', '-q', '--mirror', writerUrl(hub, 'since')], src);
}, 120_000);

afterAll(async () => {
  await hub?.stop();
  if (home) rmSync(home, { recursive: true, force: true });
});

function hashObject(type: string, content: string): string {
  const r = spawnSync('git', ['hash-object', '-t', type, '--literally', '-w', '--stdin'], { cwd: src, env: gitEnv(home), input: content });
  if (r.status !== 0) throw new Error(`hash-object: ${r.stderr}`);
  return r.stdout.toString().trim();
}

/** A --shallow-since clone of one branch: the commits it got and its shallow boundary, or git's first error line. */
function shallowClone(url: string, dst: string, version: string, branch: string, since: string): { commits: string[]; shallow: string[] } | string {
  const r = git(['-c', `protocol.version=${version}`, 'clone', '-q', '--bare', '--single-branch', '--branch', branch, `--shallow-since=${since}`, url, dst]);
  // git's own words; the hub sends them as an ERR packet ("remote error: "), as git upload-pack does where it can.
  if (r.status !== 0) return (r.stderr.split('\n').find((l) => l.startsWith('fatal:')) ?? r.stderr).replace('fatal: remote error: ', 'fatal: ');
  return { commits: ok(['rev-list', branch], dst).trim().split('\n'), shallow: readFileSync(join(dst, 'shallow'), 'utf8').trim().split('\n').sort() };
}

describe('--shallow-since cuts where git upload-pack cuts', () => {
  it.each(['2', '0'])('protocol v%s, from each branch tip', (version) => {
    // c3's own date is before the second cut: no commit is selected ("no commits selected for shallow requests").
    for (const branch of ['main', 'c5', 'c3']) {
      for (const since of ['2010-01-01', '@1400000003']) {
        const name = `${version}-${branch}-${since.replace(/\W/g, '')}`;
        const theirs = shallowClone(`file://${src}`, join(home, `git-${name}`), version, branch, since);
        const ours = shallowClone(`${hub.url}/since.git`, join(home, `hub-${name}`), version, branch, since);
        expect(ours, `${branch} since ${since}`).toEqual(theirs);
      }
    }
  });
});
