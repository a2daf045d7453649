// Outside-in QA of fossil hosting at sizes and counts a real project reaches:
// a file at the documented 32 MiB limit, unversioned files over 1 MB, a
// history of 700 check-ins (pushed in many rounds), an update across a merge
// of renamed files, a push whose file is already there. Side by side with
// `fossil server --repolist` 2.21 on the same repositories where it decides
// what is expected.
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { artifactHashes, check, fossilEnv, runFossil, serveOnBoth, useSideBySide } from './fossil-client.js';
import { repoUrl } from './hub-client.js';
import type { Hub } from './hub-server.js';

let hub: Hub;
let serverUrl: string;
let home: string;
let served: string;

useSideBySide('fossil-qa-rounds-', 'rae', (s) => ({ hub, home, served, serverUrl } = s));

const fossil = (args: string[], cwd = home, timeout?: number) => check(runFossil(home, args, cwd, timeout), `fossil ${args.join(' ')}`);
const sql = (repo: string, q: string) => fossil(['sql', '-R', repo, q]).stdout.trim();
const writer = { name: 'rae', password: 'rae-pw' };

/** Both servers' URL for a repository, with the writer's login when `login`. */
function urls(repo: string, login = false): { hub: string; fossil: string } {
  const [u, p] = login ? [writer.name, writer.password] : [];
  return { hub: repoUrl(hub.url, repo, u, p), fossil: repoUrl(serverUrl, repo, u, p) };
}

/**
 * The repository `src` (made by fossil new or import) on both servers: the hub
 * one created empty with its project code, fossil server serving a copy; the
 * writer may push to either.
 */
async function serveBoth(name: string, src: string): Promise<void> {
  await serveOnBoth({ hub, home, served }, name, src, writer);
}

/** A new repository on both servers, opened in a check-out with autosync off. */
async function opened(name: string): Promise<{ repo: string; dir: string }> {
  const repo = join(home, `${name}.fossil`);
  fossil(['new', repo]);
  await serveBoth(name, repo);
  fossil(['settings', 'autosync', 'off', '-R', repo]);
  const dir = join(home, name);
  mkdirSync(dir);
  fossil(['open', repo], dir);
  return { repo, dir };
}

const integrity = (repo: string) => expect(fossil(['test-integrity', '-R', repo]).output).toMatch(/ 0 errors\s+low-level database integrity-check: ok/);

describe('fossil at the size limit and over 1 MB', () => {
  it('a file of exactly 32 MiB (the documented limit) is taken and pulled back; one byte more is refused in the limit’s words, changing nothing', async () => {
    const { repo, dir } = await opened('limit');
    const copy = join(home, 'limit-clone.fossil');
    fossil(['clone', urls('limit').hub, copy]);
    const exact = randomBytes(32 << 20);
    writeFileSync(join(dir, 'exact.bin'), exact);
    fossil(['add', 'exact.bin'], dir);
    fossil(['commit', '-m', 'exactly the limit', '--ignore-oversize', '--no-warnings'], dir);
    const push = runFossil(home, ['push', urls('limit', true).hub, '-R', repo], home, 300_000);
    expect(push.output).not.toMatch(/error/i);

    // Zeros: a few KB on the wire (a random file would add 32 MiB more to send); the hub counts the inflated size.
    writeFileSync(join(dir, 'over.bin'), Buffer.alloc((32 << 20) + 1));
    fossil(['add', 'over.bin'], dir);
    fossil(['commit', '-m', 'one byte over', '--ignore-oversize', '--no-warnings'], dir);
    const over = runFossil(home, ['push', urls('limit', true).hub, '-R', repo], home, 300_000);
    expect(over.output).toMatch(/Error: file payload of 33554433 bytes is over the limit of 33554432/);
    expect(over.output).not.toMatch(/\b50[0-9]\b|Internal/);
    // A pull gets the first check-in and its 32 MiB file, nothing of the refused one.
    fossil(['pull', urls('limit').hub, '-R', copy], home, 300_000);
    expect(sql(copy, `SELECT group_concat(comment, '|') FROM (SELECT comment FROM event WHERE type = 'ci' ORDER BY mtime)`)).toBe(`'initial empty check-in|exactly the limit'`);
    expect(sql(copy, `SELECT size FROM blob WHERE size > 1000000`)).toBe(String(32 << 20));
    integrity(copy);
    // Byte for byte: the hub's gimme answer streamed it, inflated piece by piece (send.ts inflatedPieces).
    const pulled = join(home, 'limit-pulled.bin');
    fossil(['artifact', sql(copy, `SELECT uuid FROM blob WHERE size > 1000000`).replace(/'/g, ''), pulled, '-R', copy]);
    expect(readFileSync(pulled).equals(exact)).toBe(true);
  }, 240_000);

  it('unversioned files of 3 MB (random) and 1.5 MB (zeros): uv sync sends them, a clone -u of either server has them byte for byte', async () => {
    const { repo, dir } = await opened('uvbig');
    const files = { 'random.bin': randomBytes(3_000_000), 'zeros.bin': Buffer.alloc(1_500_000) };
    for (const [name, bytes] of Object.entries(files)) {
      writeFileSync(join(dir, name), bytes);
      fossil(['uv', 'add', name], dir);
    }
    for (const url of Object.values(urls('uvbig', true))) fossil(['uv', 'sync', url, '-R', repo]);
    for (const [side, url] of Object.entries(urls('uvbig'))) {
      const copy = join(home, `uvbig-${side}.fossil`);
      fossil(['clone', '-u', url, copy]);
      for (const [name, bytes] of Object.entries(files)) {
        const out = join(home, `uvbig-${side}-${name}`);
        fossil(['uv', 'export', name, out, '-R', copy]);
        expect(readFileSync(out).equals(bytes), `${side} ${name}`).toBe(true);
      }
    }
  });
});

describe('fossil histories of many rounds', () => {
  it('700 one-file check-ins: a clone of several rounds gets the artifacts of a clone of fossil server, and sync --verily finds nothing more', async () => {
    // fossil import of a generated fast-import stream: seconds, where 700 fossil commits would take minutes.
    // 1400 artifacts: a push of several rounds, and a clone round listing more rows than one page
    // (CLONE_FIRST_PAGE + CLONE_PAGE, send.ts). 2200 check-ins checked nothing more (the same 2 clone
    // rounds from either server: all fits one 5 MB reply) at three times the cost.
    const N = 700;
    let stream = '';
    for (let i = 1; i <= N; i++) {
      const data = `line ${i}\n`;
      stream += `commit refs/heads/trunk\nmark :${i}\ncommitter C <c@example.com> ${1_700_000_000 + i * 60} +0000\ndata ${`c${i}`.length}\nc${i}\n`;
      if (i > 1) stream += `from :${i - 1}\n`;
      stream += `M 100644 inline f${i % 37}.txt\ndata ${data.length}\n${data}\n`;
    }
    const src = join(home, 'many-src.fossil');
    const r = runFossilWithInput(['import', '--git', src], stream);
    expect(r, r).toBe('');
    await serveBoth('many', src);
    fossil(['push', urls('many', true).hub, '-R', src], home, 300_000);
    const clones: Record<string, string> = {};
    for (const [side, url] of Object.entries(urls('many'))) {
      clones[side] = join(home, `many-${side}.fossil`);
      const out = fossil(['clone', url, clones[side]], home, 300_000).output;
      const rounds = Math.max(...[...out.matchAll(/Round-trips: (\d+)/g)].map((m) => Number(m[1])));
      expect(rounds, `${side} rounds`).toBeGreaterThan(1);
      expect(sql(clones[side], `SELECT count(*) FROM event WHERE type = 'ci'`)).toBe(String(N));
      integrity(clones[side]);
    }
    // Clusters are each server's own.
    const clusters = `SELECT uuid FROM blob WHERE rid IN (SELECT rid FROM tagxref JOIN tag USING (tagid) WHERE tagname = 'cluster')`;
    const withoutClusters = (repo: string) => {
      const skip = new Set(sql(repo, clusters).split('\n').map((l) => l.replace(/'/g, '')));
      return artifactHashes(home, repo).filter((h) => !skip.has(h));
    };
    expect(withoutClusters(clones.hub)).toEqual(withoutClusters(clones.fossil));
    const verily = fossil(['sync', '--verily', urls('many').hub, '-R', clones.hub], home, 300_000).output;
    expect(verily).toMatch(/received: \d+/);
    expect(sql(clones.hub, `SELECT count(*) FROM event WHERE type = 'ci'`)).toBe(String(N));
    integrity(clones.hub);
  }, 240_000);
});

/** `fossil args` with `input` on stdin; '' when it exited 0, else its output. */
function runFossilWithInput(args: string[], input: string): string {
  const r = spawnSync('fossil', args, { cwd: home, env: fossilEnv(home), input, encoding: 'utf8' });
  return r.status === 0 ? '' : r.stdout + r.stderr;
}

describe('fossil working with a hub clone', () => {
  it('fossil update of an opened hub clone across a merge of a branch that renamed files: the same files as from fossil server', async () => {
    const { repo, dir } = await opened('renames');
    for (let i = 0; i < 5; i++) writeFileSync(join(dir, `f${i}.txt`), `file ${i}\n`.repeat(20));
    fossil(['add', '.'], dir);
    fossil(['commit', '-m', 'five files'], dir);
    const base = sql(repo, `SELECT uuid FROM blob WHERE rid = (SELECT objid FROM event WHERE type = 'ci' AND comment = 'five files')`).replace(/'/g, '');
    fossil(['branch', 'new', 'moves', 'trunk', '-R', repo]);
    fossil(['update', 'moves'], dir);
    mkdirSync(join(dir, 'sub'));
    for (const i of [0, 1]) {
      renameSync(join(dir, `f${i}.txt`), join(dir, 'sub', `g${i}.txt`));
      fossil(['mv', `f${i}.txt`, `sub/g${i}.txt`], dir);
    }
    writeFileSync(join(dir, 'sub', 'g1.txt'), `file 1 changed\n`.repeat(20));
    fossil(['commit', '-m', 'renames on the branch'], dir);
    fossil(['update', 'trunk'], dir);
    writeFileSync(join(dir, 'f0.txt'), `file 0\n`.repeat(20) + 'trunk line\n');
    fossil(['commit', '-m', 'trunk edit of a file renamed on the branch'], dir);
    fossil(['merge', 'moves'], dir);
    fossil(['commit', '-m', 'merge moves'], dir);
    for (const url of Object.values(urls('renames', true))) fossil(['push', url, '-R', repo]);
    const trees: Record<string, string> = {};
    for (const [side, url] of Object.entries(urls('renames'))) {
      // An older check-in opened, then updated to the merge: fossil applies the renames and the merge.
      const copy = join(home, `renames-${side}.fossil`);
      fossil(['clone', url, copy]);
      const out = join(home, `renames-${side}`);
      mkdirSync(out);
      fossil(['open', copy, base], out);
      fossil(['update', 'trunk'], out);
      const names = fossil(['ls'], out).stdout.trim().split('\n');
      trees[side] = names.map((n) => `${n}\n${readFileSync(join(out, n), 'utf8')}`).join('');
      expect(fossil(['changes'], out).stdout).toBe('');
    }
    expect(trees.hub).toContain('sub/g1.txt');
    expect(trees.hub).toContain('trunk line');
    expect(trees.hub).toBe(trees.fossil);
  });

  it('a check-in whose file content is already stored (a copy of a file): the push sends what it sends to fossil server (the manifest, and the content again)', async () => {
    const src = join(home, 'reuse-src.fossil');
    fossil(['new', src]);
    fossil(['settings', 'autosync', 'off', '-R', src]);
    const dir = join(home, 'reuse-src');
    mkdirSync(dir);
    fossil(['open', src], dir);
    writeFileSync(join(dir, 'a.txt'), 'shared content\n'.repeat(100));
    fossil(['add', 'a.txt'], dir);
    fossil(['commit', '-m', 'a'], dir);
    await serveBoth('reuse', src);
    fossil(['push', urls('reuse', true).hub, '-R', src]);
    // A clone of each server commits a copy of a.txt and pushes it back (each clone's own unsent list).
    const sent: Record<string, number> = {};
    for (const [side, url] of Object.entries(urls('reuse', true))) {
      const copy = join(home, `reuse-${side}.fossil`);
      fossil(['clone', url, copy]);
      fossil(['settings', 'autosync', 'off', '-R', copy]);
      const work = join(home, `reuse-${side}`);
      mkdirSync(work);
      fossil(['open', copy], work);
      writeFileSync(join(work, 'b.txt'), 'shared content\n'.repeat(100));
      fossil(['add', 'b.txt'], work);
      fossil(['commit', '-m', 'b, a copy of a'], work);
      const push = fossil(['push', url, '-R', copy]).output;
      sent[side] = Math.max(...[...push.matchAll(/Artifacts sent: (\d+)/g)].map((m) => Number(m[1])));
      const back = join(home, `reuse-${side}-back.fossil`);
      fossil(['clone', url.replace(`${writer.name}:${writer.password}@`, ''), back]);
      expect(artifactHashes(home, back), side).toEqual(artifactHashes(home, copy));
    }
    // fossil 2.21 sends the unchanged content again with the new manifest, to either server.
    expect(sent).toEqual({ hub: 2, fossil: 2 });
  });
});
