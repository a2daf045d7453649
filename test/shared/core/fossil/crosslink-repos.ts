/**
 * Repositories made by the real fossil (2.21) for the crosslink tests, and
 * fossil's own crosslinked tables read back keyed by artifact hash (every rid
 * joined through blob.uuid), in the row shapes of shared/core/fossil/crosslink.ts.
 *
 * - nativeRepo: commits in an open check-out covering branches, a merge that
 *   brings a file in, renames, deletions, an executable bit, delta manifests,
 *   amendments (comment, user, colours, branch move, close), a propagating
 *   tag cancelled later, wiki versions, a ticket and technotes.
 * - importedRepo: a generated git history through `git fast-export --all -M |
 *   fossil import --git` (-M so that renames arrive as renames).
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A repository: its file, and a function running fossil against it. */
export interface FossilRepo {
  dir: string;
  repo: string;
  fossil(args: string[], cwd?: string): string;
  /** Query the repository with `fossil sql`, rows as objects. */
  sql<T = Record<string, unknown>>(query: string): T[];
  cleanup(): void;
}

function makeRepo(prefix: string): FossilRepo {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  const env = { ...process.env, HOME: dir, FOSSIL_HOME: dir, USER: 'test', FOSSIL_USER: 'test', TZ: 'UTC' };
  const repo = join(dir, 'r.fossil');
  const fossil = (args: string[], cwd = join(dir, 'w')) =>
    execFileSync('fossil', args, { cwd, env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 64 << 20 });
  const sql = <T>(query: string): T[] => {
    const out = execFileSync('fossil', ['sql', '-R', repo], {
      cwd: dir,
      env,
      encoding: 'utf8',
      input: `.mode json\n${query};\n`,
      maxBuffer: 64 << 20,
    });
    return out.trim() === '' ? [] : (JSON.parse(out) as T[]);
  };
  return { dir, repo, fossil, sql, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Every artifact of the repository: hash and bytes, in rid order. */
export function readArtifacts(r: FossilRepo): { hash: string; bytes: Uint8Array }[] {
  return r
    .sql<{ uuid: string; content: string }>('SELECT uuid, hex(content(uuid)) AS content FROM blob WHERE size >= 0 ORDER BY rid')
    .map((row) => ({ hash: row.uuid, bytes: new Uint8Array(Buffer.from(row.content, 'hex')) }));
}

/** Julian day to integer milliseconds, the precision both sides agree on. */
export const ms = (jd: number) => Math.round(jd * 86_400_000);

/** fossil's tables, keyed by hash, in crosslink.ts's shapes (mtimes in ms). */
export function fossilTables(r: FossilRepo) {
  const events = r.sql<{ objid: string; type: string; mtime: number; user: string | null; comment: string | null; euser: string | null; ecomment: string | null; bgcolor: string | null }>(
    `SELECT b.uuid AS objid, e.type, CAST(round(e.mtime*86400000) AS INTEGER) AS mtime, e.user, e.comment, e.euser, e.ecomment, e.bgcolor
       FROM event e JOIN blob b ON b.rid = e.objid
      WHERE e.objid NOT IN (SELECT attachid FROM attachment)`,
  );
  const plinks = r.sql<{ pid: string; cid: string; isprim: number; baseid: string | null; mtime: number }>(
    `SELECT p.uuid AS pid, c.uuid AS cid, l.isprim, base.uuid AS baseid, CAST(round(l.mtime*86400000) AS INTEGER) AS mtime
       FROM plink l JOIN blob p ON p.rid = l.pid JOIN blob c ON c.rid = l.cid LEFT JOIN blob base ON base.rid = l.baseid`,
  );
  const mlinks = r.sql<{ mid: string; pmid: string | null; fid: string | null; pid: string | null; mergeAdded: number; name: string; priorName: string | null; mperm: number; isaux: number }>(
    `SELECT m.uuid AS mid, pm.uuid AS pmid, f.uuid AS fid, p.uuid AS pid, l.pid = -1 AS mergeAdded,
            fn.name AS name, pfn.name AS priorName, l.mperm, l.isaux
       FROM mlink l JOIN blob m ON m.rid = l.mid LEFT JOIN blob pm ON pm.rid = l.pmid
       LEFT JOIN blob f ON f.rid = l.fid LEFT JOIN blob p ON p.rid = l.pid
       JOIN filename fn ON fn.fnid = l.fnid LEFT JOIN filename pfn ON pfn.fnid = l.pfnid`,
  );
  const tagxrefs = r.sql<{ tag: string; rid: string; type: number; src: string | null; orig: string; value: string | null; mtime: number }>(
    `SELECT t.tagname AS tag, r.uuid AS rid, x.tagtype AS type, s.uuid AS src, o.uuid AS orig, x.value,
            CAST(round(x.mtime*86400000) AS INTEGER) AS mtime
       FROM tagxref x JOIN tag t ON t.tagid = x.tagid JOIN blob r ON r.rid = x.rid
       LEFT JOIN blob s ON s.rid = x.srcid AND x.srcid > 0 JOIN blob o ON o.rid = x.origid
      WHERE t.tagname <> 'cluster'`,
  );
  const leaves = r.sql<{ uuid: string }>('SELECT b.uuid FROM leaf l JOIN blob b ON b.rid = l.rid').map((x) => x.uuid);
  return { events, plinks, mlinks, tagxrefs, leaves };
}

/** A repository built with fossil commands in an open check-out. */
export function nativeRepo(): FossilRepo {
  const r = makeRepo('fossil-xlink-');
  const w = join(r.dir, 'w');
  const write = (name: string, text: string) => writeFileSync(join(w, name), text);
  const tip = () => r.fossil(['info']).match(/^checkout:\s+([0-9a-f]+)/m)?.[1] ?? '';
  r.fossil(['new', r.repo], r.dir);
  mkdirSync(w);
  r.fossil(['open', r.repo]);
  r.fossil(['settings', 'autosync', 'off']);
  r.fossil(['user', 'new', 'bob', 'bob@example', 'pw']);
  write('a.txt', 'alpha\n');
  write('b.txt', 'bravo\n');
  write('run.sh', '#!/bin/sh\n');
  chmodSync(join(w, 'run.sh'), 0o755);
  r.fossil(['add', 'a.txt', 'b.txt', 'run.sh']);
  r.fossil(['commit', '-m', 'first files']);
  const first = tip();
  write('a.txt', 'alpha\nbeta\n');
  r.fossil(['mv', '--hard', 'b.txt', 'c.txt']);
  r.fossil(['commit', '-m', 'edit and rename']);
  r.fossil(['tag', 'add', '--propagate', 'wip', tip()]);
  const tagged = tip();
  // A bare mode change: rewrite the same bytes (a new mtime) and have fossil hash every file.
  r.fossil(['setting', 'mtime-changes', 'off']);
  write('run.sh', '#!/bin/sh\n');
  chmodSync(join(w, 'run.sh'), 0o644);
  // Not --delta: fossil 2.21's delta manifests leave out a bare mode change.
  r.fossil(['commit', '-m', 'drop the exec bit']);
  r.fossil(['branch', 'new', 'feature', 'trunk', '--bgcolor', '#ccddee']);
  r.fossil(['update', 'feature']);
  write('f.txt', 'feature\n');
  r.fossil(['add', 'f.txt']);
  r.fossil(['rm', '--hard', 'run.sh']);
  r.fossil(['commit', '--delta', '-m', 'on the branch']);
  write('f.txt', 'feature 2\n');
  r.fossil(['commit', '--delta', '-m', 'branch again (delta on delta)']);
  r.fossil(['update', 'trunk']);
  write('a.txt', 'alpha\nbeta\ngamma\n');
  r.fossil(['commit', '-m', 'trunk moves']);
  r.fossil(['merge', 'feature']);
  r.fossil(['commit', '-m', 'merge feature']);
  const merged = tip();
  r.fossil(['tag', 'add', 'v1.0', merged]);
  r.fossil(['tag', 'cancel', 'wip', tagged]);
  r.fossil(['amend', first, '--comment', 'first files, amended', '--author', 'bob', '--bgcolor', 'red']);
  write('a.txt', 'alpha 2\n');
  r.fossil(['commit', '--branch', 'side', '-m', 'side branch by commit']);
  const side = tip();
  write('a.txt', 'alpha 3\n');
  r.fossil(['commit', '-m', 'more side']);
  r.fossil(['amend', side, '--branch', 'moved']);
  r.fossil(['amend', tip(), '--close']);
  r.fossil(['update', 'trunk']);
  r.fossil(['tag', 'add', '--propagate', 'late', first]);
  write('page.wiki', 'Hello *wiki*\n');
  r.fossil(['wiki', 'create', 'Front Page', 'page.wiki']);
  write('page.wiki', 'Hello again\n');
  r.fossil(['wiki', 'commit', 'Front Page', 'page.wiki']);
  r.fossil(['ticket', 'add', 'title', 'A bug', 'status', 'Open']);
  write('note.txt', 'A note\n');
  r.fossil(['wiki', 'create', '--technote', '2024-01-02 03:04:05', 'Release notes', 'note.txt']);
  const [note] = r.sql<{ id: string }>("SELECT substr(tagname, 7) AS id FROM tag WHERE tagname LIKE 'event-%'");
  write('note.txt', 'A longer note\n');
  r.fossil(['wiki', 'commit', '--technote', note.id, '--technote-bgcolor', '#eeffee', 'Release notes', 'note.txt']);
  return r;
}

/** A generated git history (branches, merges, renames, deletions, tags) imported by fossil. */
export function importedRepo(commits = 24): FossilRepo {
  const r = makeRepo('fossil-xlink-git-');
  const g = join(r.dir, 'g');
  mkdirSync(g);
  let when = 1_700_000_000;
  const git = (args: string[]) => {
    when += 60; // distinct dates: fossil nudges check-ins under 2 s apart
    const date = `${when} +0000`;
    return execFileSync('git', args, {
      cwd: g,
      encoding: 'utf8',
      env: {
        ...process.env,
        HOME: r.dir,
        GIT_CONFIG_NOSYSTEM: '1',
        GIT_AUTHOR_NAME: 'A U Thor',
        GIT_AUTHOR_EMAIL: 'a@example',
        GIT_COMMITTER_NAME: 'A U Thor',
        GIT_COMMITTER_EMAIL: 'a@example',
        GIT_AUTHOR_DATE: date,
        GIT_COMMITTER_DATE: date,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
  };
  // A small deterministic PRNG (mulberry32) so the history is the same every run.
  let seed = 42;
  const rand = () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  git(['init', '-q', '-b', 'main']);
  const files = new Set<string>();
  const edit = (i: number) => {
    const names = [...files];
    const op = rand();
    if (names.length > 2 && op < 0.15) {
      const from = names[Math.floor(rand() * names.length)];
      const to = `renamed-${i}.txt`;
      git(['mv', from, to]);
      files.delete(from);
      files.add(to);
    } else if (names.length > 3 && op < 0.25) {
      const gone = names[Math.floor(rand() * names.length)];
      git(['rm', '-q', gone]);
      files.delete(gone);
    } else {
      const name = op < 0.6 || names.length === 0 ? `f${i}.txt` : names[Math.floor(rand() * names.length)];
      writeFileSync(join(g, name), `content ${i} ${rand()}\n`);
      git(['add', name]);
      files.add(name);
    }
    git(['commit', '-q', '-m', `commit ${i}`]);
  };
  const refresh = () => {
    files.clear();
    for (const f of git(['ls-files']).split('\n')) if (f !== '') files.add(f);
  };
  for (let i = 0; i < commits; i++) {
    if (i === Math.floor(commits / 3)) git(['checkout', '-q', '-b', 'topic']);
    if (i === Math.floor(commits / 2)) {
      git(['checkout', '-q', 'main']);
      git(['merge', '-q', '--no-ff', '-m', 'merge topic', 'topic']);
      git(['tag', 'v1']);
      git(['tag', '-a', '-m', 'annotated', 'v1-annotated']);
      refresh();
    }
    edit(i);
  }
  const exported = execFileSync('git', ['fast-export', '--all', '-M'], { cwd: g, maxBuffer: 64 << 20 });
  execFileSync('fossil', ['import', '--git', r.repo], {
    cwd: r.dir,
    input: exported,
    env: { ...process.env, HOME: r.dir, USER: 'test' },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  return r;
}
