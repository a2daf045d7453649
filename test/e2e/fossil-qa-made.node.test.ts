// Outside-in QA of fossil hosting, side by side with `fossil server --repolist`
// 2.21 on the same input: repositories made in ways the other fossil e2e files
// do not make them (a git history with an octopus merge imported by fossil
// import --git, delta manifests, a rebuild --compress), a shun arriving after
// the shunned artifact was stored as other artifacts' delta base, and writers
// pushing at once while other callers stall mid-upload.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { artifactHashes, check, fossilEnv, runFossil, runFossilAsync, useSideBySide } from './fossil-client.js';
import { apiOk, repoUrl } from './hub-client.js';
import type { Hub } from './hub-server.js';

let hub: Hub;
let serverUrl: string;
let home: string;
let served: string;

const api = (method: string, path: string, body?: unknown) => apiOk(hub, method, path, body);
const fossil = (args: string[], cwd = home) => check(runFossil(home, args, cwd), `fossil ${args.join(' ')}`);
const sql = (repo: string, q: string) => fossil(['sql', '-R', repo, q]).stdout;
/** git with a fixed identity and dates (the imported history is the same on every run). */
function git(args: string[], cwd: string): string {
  const r = spawnSync('git', args, {
    cwd,
    encoding: 'utf8',
    env: { PATH: process.env.PATH, HOME: home, GIT_AUTHOR_NAME: 'A U Thor', GIT_AUTHOR_EMAIL: 'a@example.org', GIT_COMMITTER_NAME: 'A U Thor', GIT_COMMITTER_EMAIL: 'a@example.org', GIT_AUTHOR_DATE: '2024-01-02T03:04:05Z', GIT_COMMITTER_DATE: '2024-01-02T03:04:05Z' },
  });
  if (r.status !== 0) throw new Error(`git ${args.join(' ')} failed: ${r.stderr}`);
  return r.stdout;
}

/** Both servers' URL for a repository, with credentials when given. */
function urls(repo: string, user?: string, password?: string): { hub: string; fossil: string } {
  return { hub: repoUrl(hub.url, repo, user, password), fossil: repoUrl(serverUrl, repo, user, password) };
}

/**
 * Serves `src` (a repository file) on both: the hub repository is created
 * with its project code, starts empty and gets everything by a push as
 * `ada` (role admin there, `a s x` on fossil server, which serves a copy).
 */
async function both(name: string, src: string): Promise<void> {
  const code = sql(src, `SELECT value FROM config WHERE name = 'project-code'`).trim().replace(/'/g, '');
  await api('POST', '/repos', { name, kind: 'fossil', public: true, project_code: code });
  await api('PUT', `/repos/${name}/members/ada`, { role: 'admin' });
  const copy = join(served, `${name}.fossil`);
  fossil(['sql', '-R', src, `VACUUM INTO '${copy}'`]);
  fossil(['user', 'new', 'ada', 'x', 'ada-pw', '-R', copy]);
  fossil(['user', 'capabilities', 'ada', 'asx', '-R', copy]);
  expect(fossil(['push', urls(name, 'ada', 'ada-pw').hub, '-R', src]).output).not.toMatch(/error/i);
}

/** Clones `name` from both servers (anonymously); the two clone files. */
function cloneBoth(name: string): { hub: string; fossil: string } {
  const u = urls(name);
  const out = { hub: join(home, `${name}-hub-${Date.now()}.fossil`), fossil: join(home, `${name}-srv-${Date.now()}.fossil`) };
  fossil(['clone', u.hub, out.hub]);
  fossil(['clone', u.fossil, out.fossil]);
  return out;
}

/**
 * A clone's artifacts (but the clusters each server makes), crosslinked
 * parent links, file links and tags, keyed by hashes and names (rids differ),
 * its timeline and its integrity check. Timeline lines of the same second and
 * tags within a line come in the order the clone crosslinked them, which
 * follows the order the server sent the artifacts in: compared sorted.
 */
function seen(repo: string): Record<string, string> {
  const uuid = (col: string) => `(SELECT uuid FROM blob WHERE rid = ${col})`;
  return {
    blobs: sql(repo, `SELECT uuid, size FROM blob WHERE rid NOT IN (SELECT rid FROM tagxref JOIN tag USING (tagid) WHERE tagname = 'cluster') ORDER BY uuid`),
    plink: sql(repo, `SELECT ${uuid('pid')}, ${uuid('cid')}, isprim FROM plink ORDER BY 1, 2`),
    mlink: sql(repo, `SELECT ${uuid('mid')}, ${uuid('fid')}, ${uuid('pid')}, (SELECT name FROM filename WHERE fnid = m.fnid), mperm FROM mlink m ORDER BY 1, 4`),
    tags: sql(repo, `SELECT t.tagname, x.tagtype, x.value, ${uuid('x.rid')} FROM tagxref x JOIN tag t USING (tagid) WHERE t.tagname <> 'cluster' ORDER BY 1, 4`),
    timeline: fossil(['timeline', '-n', '0', '-t', 'any', '-W', '0', '-R', repo])
      .stdout.replace(/tags: ([^)]*)\)/g, (_, tags: string) => `tags: ${tags.split(', ').sort().join(', ')})`)
      .split('\n')
      .sort()
      .join('\n'),
    // "N non-phantom blobs (out of M total) checked:  0 errors" and SQLite's own check.
    integrity: fossil(['test-integrity', '-R', repo])
      .stdout.split(/[\r\n]+/)
      .filter((l) => /errors|integrity-check/.test(l))
      .map((l) => l.replace(/^.*checked: +/, ''))
      .join('; '),
  };
}

useSideBySide('fossil-qa-made-', 'ada', (s) => ({ hub, home, served, serverUrl } = s));

/** What seen() shows of a clone fossil test-integrity finds nothing wrong in. */
const CLEAN = '0 errors; low-level database integrity-check: ok';

/** Opens `repo` in a new directory with autosync off and content-checked changes (several commits a second). */
function open(repo: string, dir: string): string {
  mkdirSync(dir);
  // Off before open: opening a clone autosyncs, and a clone keeps no password.
  fossil(['settings', 'autosync', 'off', '-R', repo]);
  fossil(['open', repo], dir);
  // mtime-changes on misses a same-size edit within a second and the commit fails its R card check.
  fossil(['settings', 'mtime-changes', 'off'], dir);
  return dir;
}

describe('repositories made differently, on both servers', () => {
  it('a git history imported by fossil import --git (octopus merge, tags, rename, binary, odd names), then delta manifests and rebuild --compress: clones of both match', async () => {
    const work = join(home, 'octopus-git');
    git(['init', '-q', '-b', 'main', work], home);
    const commit = (files: Record<string, string>, message: string) => {
      for (const [f, text] of Object.entries(files)) writeFileSync(join(work, f), text);
      git(['add', '-A'], work);
      git(['commit', '-q', '-m', message], work);
    };
    commit({ base: 'base\n', 'a name with spaces.txt': 'spaces\n', 'ünïcødé 名前.txt': 'unicode\n', '-leading-dash': 'dash\n', empty: '' }, 'base');
    for (const b of ['x', 'y', 'z']) {
      git(['checkout', '-q', '-b', b, 'main'], work);
      commit({ [`${b}.txt`]: `${b}\n` }, `on ${b}`);
    }
    git(['checkout', '-q', 'main'], work);
    git(['merge', '-q', '--no-edit', 'x', 'y', 'z'], work);
    git(['tag', '-a', 'v1', '-m', 'annotated'], work);
    git(['tag', 'light'], work);
    git(['mv', 'base', 'renamed'], work);
    git(['commit', '-q', '-m', 'rename'], work);
    commit({ 'bin.dat': 'a\0b\x01\xff'.repeat(500) }, 'binary');
    const src = join(home, 'octopus.fossil');
    const exported = git(['fast-export', '--all'], work);
    const imported = spawnSync('fossil', ['import', '--git', src], { cwd: home, env: fossilEnv(home), input: exported, encoding: 'utf8' });
    expect(imported.status, imported.stderr).toBe(0);

    // Check-ins whose manifests are deltas (B cards) on top, then the file rebuilt compressed.
    const dir = open(src, join(home, 'octopus-open'));
    fossil(['settings', 'forbid-delta-manifests', 'off'], dir);
    for (let i = 0; i < 3; i++) {
      writeFileSync(join(dir, 'renamed'), `delta manifest ${i}\n`.repeat(i + 1));
      fossil(['commit', '--no-warnings', '--delta', '-m', `delta ${i}`], dir);
    }
    fossil(['close'], dir);
    fossil(['rebuild', '--compress', src]);

    await both('octopus', src);
    const c = cloneBoth('octopus');
    const mine = seen(c.hub);
    expect(mine).toEqual(seen(c.fossil));
    expect(mine.integrity).toBe(CLEAN);
    expect(mine.timeline).toContain('*MERGE* Merge branches');
    // The octopus merge has three parents, and the tip's manifest is a delta manifest.
    expect(sql(c.hub, `SELECT count(*) FROM plink GROUP BY cid ORDER BY 1 DESC LIMIT 1`).trim()).toBe('3');
    expect(fossil(['artifact', 'tip', '-R', c.hub]).stdout).toMatch(/^B [0-9a-f]{64}$/m);
  });

  it('a shun pushed after the shunned artifact was stored as the base of later versions: clones lack it and read every other version', async () => {
    // fossil server 2.21 is no reference here: it deletes the shunned artifact
    // still holding other versions' deltas, and clones of it then fail with
    // "there are unresolved deltas". Expected: what a clone of the source shows without it.
    const src = join(home, 'shun-late.fossil');
    fossil(['new', src]);
    const dir = open(src, join(home, 'shun-late-open'));
    const lines = Array.from({ length: 3000 }, (_, i) => `line ${i} ${'x'.repeat(i % 50)}`);
    const versions: string[] = [];
    for (let v = 1; v <= 4; v++) {
      if (v > 1) lines[v * 100] = `changed in version ${v}`;
      writeFileSync(join(dir, 'doc.txt'), lines.join('\n'));
      if (v === 1) fossil(['add', 'doc.txt'], dir);
      fossil(['commit', '--no-warnings', '-m', `v${v}`], dir);
      versions.push(lines.join('\n'));
    }
    fossil(['close'], dir);
    await both('shunlate', src);
    const shunned = sql(src, `SELECT uuid FROM blob b JOIN mlink m ON m.fid = b.rid JOIN event e ON e.objid = m.mid WHERE e.comment = 'v2'`).trim().replace(/'/g, '');
    expect(shunned).toMatch(/^[0-9a-f]{64}$/);
    const before = join(home, 'shun-late-before.fossil');
    fossil(['clone', urls('shunlate').hub, before]);
    expect(artifactHashes(home, before)).toContain(shunned);
    sql(src, `INSERT INTO shun(uuid, mtime, scom) VALUES ('${shunned}', now(), 'late')`);
    expect(fossil(['configuration', 'push', 'shun', '-R', src, urls('shunlate', 'ada', 'ada-pw').hub]).output).not.toMatch(/error/i);
    const after = join(home, 'shun-late-after.fossil');
    fossil(['clone', urls('shunlate').hub, after]);
    const got = seen(after);
    expect(got.integrity).toBe(CLEAN);
    expect(artifactHashes(home, after)).toEqual(artifactHashes(home, before).filter((h) => h !== shunned));
    expect(sql(after, `SELECT count(*) FROM shun WHERE uuid = '${shunned}'`).trim()).toBe('1');
    for (const v of [1, 3, 4]) {
      const checkin = sql(src, `SELECT uuid FROM blob JOIN event ON objid = rid WHERE comment = 'v${v}'`).trim().replace(/'/g, '');
      expect(fossil(['cat', 'doc.txt', '-r', checkin, '-R', after]).stdout).toBe(versions[v - 1]);
    }
    // And a clone that had it syncs on without error.
    expect(fossil(['sync', '-R', before, urls('shunlate').hub]).output).not.toMatch(/error/i);
  });
});

/**
 * POSTs the start of a fossil message declared far longer, then sends nothing
 * more: a caller stalled mid-upload, holding its request open until destroyed.
 */
function stalledUpload(name: string): Socket {
  const socket = connect(Number(new URL(hub.url).port), '127.0.0.1');
  socket.on('error', () => {});
  socket.write(`POST /${name} HTTP/1.1\r\nHost: hub\r\nContent-Type: application/x-fossil-uncompressed\r\nContent-Length: 50000000\r\n\r\npush 0 0\nfile `);
  return socket;
}

describe('callers at once', () => {
  it('three writers push their branches at once while an anonymous clone runs and another caller stalls mid-upload: every check-in arrives', async () => {
    const src = join(home, 'together.fossil');
    fossil(['new', src]);
    await both('together', src);
    const writer = urls('together', 'ada', 'ada-pw').hub;
    const clones = [1, 2, 3].map((k) => {
      const repo = join(home, `together-${k}.fossil`);
      fossil(['clone', writer, repo]);
      const dir = open(repo, join(home, `together-${k}`));
      for (let i = 1; i <= 8; i++) {
        writeFileSync(join(dir, `f${k}.txt`), `${k}:${i}\n`.repeat(200 * i));
        if (i === 1) fossil(['add', `f${k}.txt`], dir);
        fossil(['commit', '--no-warnings', '-m', `b${k} c${i}`, ...(i === 1 ? ['--branch', `b${k}`] : [])], dir);
      }
      return repo;
    });
    const stalled = [stalledUpload('together'), stalledUpload('together')];
    try {
      const during = join(home, 'together-during.fossil');
      const results = await Promise.all([
        ...clones.map((repo) => runFossilAsync(home, ['push', writer, '-R', repo], home, 120_000)),
        runFossilAsync(home, ['clone', urls('together').hub, during], home, 120_000),
      ]);
      for (const r of results) {
        expect(r.status).toBe(0);
        expect(r.output).not.toMatch(/error/i);
      }
      expect(seen(during).integrity).toBe(CLEAN);
    } finally {
      for (const s of stalled) s.destroy();
    }
    const after = join(home, 'together-after.fossil');
    fossil(['clone', urls('together').hub, after]);
    expect(seen(after).integrity).toBe(CLEAN);
    const got = new Set(artifactHashes(home, after));
    for (const repo of clones) for (const h of artifactHashes(home, repo)) expect(got.has(h), h).toBe(true);
    expect(sql(after, `SELECT count(*) FROM event WHERE type = 'ci'`).trim()).toBe(String(1 + 3 * 8));
  });
});

describe('check-in locks', () => {
  it('a commit racing another clone’s commit on the same parent stops with fossil’s check-in race warning, as from fossil server', async () => {
    // fossil 2.21's autosync pull before a commit sends `pragma ci-lock PARENT CLIENT-ID`; fossil server
    // answers a second client's lock on the same parent within a minute with `pragma ci-lock-fail`,
    // and that client stops instead of forking the branch.
    const src = join(home, 'race.fossil');
    fossil(['new', src]);
    await both('race', src);
    const started = join(home, 'race-editor-started');
    const go = join(home, 'race-editor-go');
    // A's commit message editor: says it started, then waits for the test (at most 60 s).
    const editor = join(home, 'race-editor.sh');
    writeFileSync(editor, `#!/bin/sh\ntouch '${started}'\nfor i in $(seq 600); do [ -e '${go}' ] && break; sleep 0.1; done\necho 'slow commit' > "$1"\n`, { mode: 0o755 });
    const [a, b] = ['a', 'b'].map((who) => {
      const repo = join(home, `race-${who}.fossil`);
      fossil(['clone', '--save-http-password', urls('race', 'ada', 'ada-pw').hub, repo]);
      fossil(['settings', 'editor', editor, '-R', repo]);
      const dir = join(home, `race-${who}`);
      mkdirSync(dir);
      fossil(['open', repo], dir);
      fossil(['settings', 'mtime-changes', 'off'], dir);
      writeFileSync(join(dir, `${who}.txt`), `${who}\n`);
      fossil(['add', `${who}.txt`], dir);
      return dir;
    });
    const slow = runFossilAsync(home, ['commit', '--no-warnings'], a, 90_000);
    for (let i = 0; i < 600 && !existsSync(started); i++) await new Promise((r) => setTimeout(r, 100));
    expect(existsSync(started)).toBe(true);
    const racing = runFossil(home, ['commit', '--no-warnings', '-m', 'racing'], b);
    writeFileSync(go, '');
    const first = await slow;
    expect(racing.output).toContain('Might fork due to a check-in race with user "ada"');
    expect(racing.status).not.toBe(0);
    expect(first.status, first.output).toBe(0);
    // Once A's check-in is in, B updates onto it and commits without a fork.
    fossil(['update'], b);
    fossil(['commit', '--no-warnings', '-m', 'after the race'], b);
    const after = join(home, 'race-after.fossil');
    fossil(['clone', urls('race').hub, after]);
    expect(sql(after, `SELECT count(*) FROM leaf`).trim()).toBe('1');
    expect(sql(after, `SELECT comment FROM event WHERE type = 'ci' ORDER BY mtime`).replace(/'/g, '').trim().split('\n').slice(1)).toEqual(['slow commit', 'after the race']);
  });
});
