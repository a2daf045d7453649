// Outside-in QA of git edge cases, each checked against git itself: the same
// push to a local bare repository (git's own receive-pack, as git http-backend
// runs it) or the same fetch from file:// (git's own upload-pack) must give
// what the hub gives. Real-world shapes in one repository (wide and deep
// trees, odd names, octopus merges, signed objects, tags of trees and blobs,
// notes, replace and pull refs, many refs), then filters, shallow fetches and
// the fixes of session 6 (object:type filters, uppercase hex ids).
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { gitEnv } from './git-client.js';
import { gitIn, lsRemote, packObjects, postReceivePack, receivePackBody, setupRepos, writerUrl, ZERO_ID } from './hub-client.js';
import { startHub, type Hub } from './hub-server.js';

let hub: Hub;
let home: string;
let src: string;
let git: ReturnType<typeof gitIn>['git'];
let ok: ReturnType<typeof gitIn>['ok'];
let n = 0;
const dir = () => join(home, `d${n++}`);

beforeAll(async () => {
  home = mkdtempSync(join(tmpdir(), 'git-qa-edge-'));
  ({ git, ok } = gitIn(home));
  hub = await startHub();
  await setupRepos(hub, ['edge', 'upper', 'shapes', 'history', 'atomic']);
  src = join(home, 'src');
  ok(['init', '-q', '-b', 'main', src]);
  mkdirSync(join(src, 'd/e'), { recursive: true });
  for (let i = 0; i < 3; i++) {
    writeFileSync(join(src, 'top.txt'), `top ${i}\n`);
    writeFileSync(join(src, 'd/mid.txt'), `mid ${i}\n`);
    writeFileSync(join(src, 'd/e/deep.txt'), `deep ${i}\n`);
    ok(['add', '-A'], src);
    ok(['commit', '-q', '-m', `c${i}`], src);
  }
  ok(['tag', '-a', '-m', 'v1', 'v1', 'main~1'], src);
  ok(['config', 'uploadpack.allowFilter', 'true'], src);
  ok(['push', '-q', writerUrl(hub, 'edge'), 'main', 'v1'], src);
}, 120_000);

afterAll(async () => {
  await hub?.stop();
  if (home) rmSync(home, { recursive: true, force: true });
});

/** Writes an object with git hash-object (no checks with `literally`); its id. */
function hashObject(repo: string, type: string, content: string | Buffer, literally = false): string {
  const r = spawnSync('git', ['hash-object', '-t', type, ...(literally ? ['--literally'] : []), '-w', '--stdin'], { cwd: repo, env: gitEnv(home), input: content });
  if (r.status !== 0) throw new Error(`hash-object: ${r.stderr}`);
  return r.stdout.toString().trim();
}

/** Feeds `input` to `git update-ref --stdin` in `repo`. */
function updateRefs(repo: string, input: string): void {
  const r = spawnSync('git', ['update-ref', '--stdin'], { cwd: repo, env: gitEnv(home), input });
  if (r.status !== 0) throw new Error(`update-ref: ${r.stderr}`);
}

/** "type id" of every object a repository holds (packed or loose), sorted. */
const objectsIn = (repo: string) => ok(['cat-file', '--batch-all-objects', '--batch-check=%(objecttype) %(objectname)'], repo).trim().split('\n').sort();

describe('partial clone filters', () => {
  it('object:type=blob|tree|commit|tag and combine: the objects git upload-pack sends, over v0 and v2', () => {
    for (const filter of ['object:type=blob', 'object:type=tree', 'object:type=commit', 'object:type=tag', 'combine:object:type=tree+tree:1', 'combine:blob:limit=7+object:type=blob']) {
      const reference = dir();
      ok(['clone', '-q', '--bare', '--no-local', `--filter=${filter}`, `file://${src}`, reference]);
      const want = objectsIn(reference);
      for (const v of ['0', '2']) {
        const d = dir();
        const r = git(['-c', `protocol.version=${v}`, 'clone', '-q', '--bare', `--filter=${filter}`, `${hub.url}/edge.git`, d]);
        expect(r.status, `${filter} v${v}: ${r.stderr}`).toBe(0);
        expect(objectsIn(d), `${filter} v${v}`).toEqual(want);
      }
    }
    // What the comparison compares: object:type=blob sends no trees and, of the commits, only those asked for.
    expect(objectsIn(join(home, 'd0')).filter((l) => !l.startsWith('blob ')).map((l) => l.split(' ')[0])).toEqual(['commit', 'commit', 'tag']);
  });

  it('an object:type=blob clone checks out (commits and trees fetched lazily) and a bad type is refused', () => {
    const d = dir();
    ok(['clone', '-q', '--filter=object:type=blob', `${hub.url}/edge.git`, d]);
    expect(ok(['status', '--porcelain'], d)).toBe('');
    expect(ok(['log', '--format=%s', '--', 'd/e/deep.txt'], d).trim().split('\n')).toEqual(['c2', 'c1', 'c0']);
    const bad = git(['clone', '--filter=object:type=blobs', `${hub.url}/edge.git`, dir()]);
    expect(bad.status).not.toBe(0);
    expect(bad.stderr).toContain("'blobs' for 'object:type=<type>' is not a valid object type");
  });
});

describe('odd objects git takes', () => {
  it('ids in uppercase hex in a commit tree/parent line and a tag object line: taken as by git, cloned back byte for byte', () => {
    const literally = (type: string, text: string) => {
      const r = spawnSync('git', ['hash-object', '-t', type, '--literally', '-w', '--stdin'], { cwd: src, env: gitEnv(home), input: text });
      expect(r.status, String(r.stderr)).toBe(0);
      return r.stdout.toString().trim();
    };
    const up = (rev: string) => ok(['rev-parse', rev], src).trim().toUpperCase();
    const commit = literally('commit', `tree ${up('main^{tree}')}\nparent ${up('main')}\nauthor A <a@x> 1 +0000\ncommitter A <a@x> 1 +0000\n\nupper\n`);
    const tag = literally('tag', `object ${up('main~1')}\ntype commit\ntag upper\ntagger T <t@x> 1 +0000\n\nt\n`);
    const reference = join(home, 'upper-reference.git');
    ok(['init', '-q', '--bare', reference]);
    for (const remote of [reference, writerUrl(hub, 'upper')]) {
      const r = git(['push', remote, 'main', `${commit}:refs/heads/upper`, `${tag}:refs/tags/upper`], src);
      expect(r.status, `${remote}: ${r.stderr}`).toBe(0);
    }
    expect(lsRemote(ok, hub, 'upper').filter((l) => !l.endsWith('\tHEAD'))).toEqual(ok(['ls-remote', reference]).trim().split('\n').sort());
    for (const v of ['0', '2']) {
      const d = dir();
      ok(['-c', `protocol.version=${v}`, 'clone', '-q', '--mirror', `${hub.url}/upper.git`, d]);
      ok(['fsck', '--full'], d);
      expect(objectsIn(d)).toEqual(objectsIn(reference));
      expect(ok(['cat-file', 'commit', 'refs/heads/upper'], d)).toContain(`tree ${up('main^{tree}')}\n`);
    }
    // The history below them is walked as usual: a fetch that has main gets only the two new objects.
    const d = dir();
    ok(['clone', '-q', '--single-branch', '--branch', 'main', `${hub.url}/upper.git`, d]);
    const f = git(['fetch', '-v', 'origin', 'refs/heads/upper:refs/heads/upper', 'refs/tags/upper:refs/tags/upper'], d);
    expect(f.status, f.stderr).toBe(0);
    expect(ok(['rev-list', '--count', 'main..refs/heads/upper'], d).trim()).toBe('1');
  });
});

describe('real-world shapes, served as git serves them', () => {
  it('a mirror push gives the refs git receive-pack keeps; ls-remote (v0, v1, v2, --symref), mirror and filtered clones give what git upload-pack gives', () => {
    const s = join(home, 'shapes');
    ok(['init', '-q', '-b', 'main', s]);
    // One directory of 3000 entries, a path 40 directories deep, names with LF, CR, TAB and a backslash,
    // a symlink, an executable and a gitlink.
    mkdirSync(join(s, 'wide'));
    for (let i = 0; i < 3000; i++) writeFileSync(join(s, 'wide', `f${i}`), `${i}\n`);
    const deep = join(s, ...Array.from({ length: 40 }, (_, i) => `d${i}`));
    mkdirSync(deep, { recursive: true });
    writeFileSync(join(deep, 'leaf'), 'deep\n');
    for (const name of ['line\nfeed', 'carriage\rreturn', 'tab\tname', 'back\\slash']) writeFileSync(join(s, name), `${JSON.stringify(name)}\n`);
    spawnSync('ln', ['-s', 'wide/f1', join(s, 'link')]);
    writeFileSync(join(s, 'run'), '#!/bin/sh\n', { mode: 0o755 });
    ok(['add', '-A'], s);
    ok(['commit', '-q', '-m', 'shapes'], s);
    ok(['update-index', '--add', '--cacheinfo', `160000,${ok(['rev-parse', 'HEAD'], s).trim()},gitlink`], s);
    ok(['commit', '-q', '-m', 'gitlink'], s);
    // An octopus merge of 20 side commits.
    const root = ok(['rev-parse', 'HEAD^{tree}'], s).trim();
    const sides = Array.from({ length: 20 }, (_, i) => ok(['commit-tree', '-m', `side ${i}`, '-p', 'HEAD', root], s).trim());
    ok(['update-ref', 'refs/heads/main', ok(['commit-tree', '-m', 'octopus', ...sides.flatMap((c) => ['-p', c]), root], s).trim()], s);
    // A root commit of the empty tree with an encoding and a signature header; a signed tag; a tag of a tag;
    // annotated tags of a tree and a blob, lightweight ones too.
    const empty = hashObject(s, 'tree', '');
    const signed = hashObject(s, 'commit', `tree ${empty}\nauthor A <a@x> 1 +0000\ncommitter C <c@x> 1 +0000\nencoding ISO-8859-1\ngpgsig -----BEGIN PGP SIGNATURE-----\n \n abc\n -----END PGP SIGNATURE-----\n\nsigned, empty\n`);
    const signedTag = hashObject(s, 'tag', `object ${signed}\ntype commit\ntag signed\ntagger T <t@x> 1 +0000\n\nsigned\n-----BEGIN PGP SIGNATURE-----\nabc\n-----END PGP SIGNATURE-----\n`);
    ok(['tag', '-a', '-m', 't1', 't1', 'main'], s);
    ok(['-c', 'advice.nestedTag=false', 'tag', '-a', '-m', 't2', 't2', 't1'], s);
    ok(['tag', '-a', '-m', 'of a tree', 'tree-tag', 'main^{tree}'], s);
    ok(['tag', '-a', '-m', 'of a blob', 'blob-tag', 'main:run'], s);
    ok(['notes', 'add', '-m', 'a note', 'main'], s);
    ok(['replace', sides[0], sides[1]], s);
    const main = ok(['rev-parse', 'main'], s).trim();
    const refs = [
      `create refs/heads/empty ${signed}`, `create refs/tags/signed ${signedTag}`, `create refs/tags/a-tree ${root}`,
      `create refs/tags/a-blob ${ok(['rev-parse', 'main:run'], s).trim()}`, `create refs/pull/1/head ${sides[3]}`, `create refs/pull/1/merge ${main}`,
      ...Array.from({ length: 300 }, (_, i) => `create refs/heads/many/a${i % 7}/b${i} ${sides[i % 20]}`),
    ];
    updateRefs(s, refs.join('\n') + '\n');
    const reference = join(home, 'shapes-reference.git');
    ok(['init', '-q', '--bare', '-b', 'main', reference]);
    ok(['push', '-q', '--mirror', reference], s);
    ok(['push', '-q', '--mirror', writerUrl(hub, 'shapes')], s);
    ok(['config', 'uploadpack.allowFilter', 'true'], reference);
    const url = `${hub.url}/shapes.git`;
    expect(ok(['ls-remote', url]).split('\n').length).toBeGreaterThan(300);
    for (const v of ['0', '1', '2']) {
      expect(ok(['-c', `protocol.version=${v}`, 'ls-remote', '--symref', url]), `v${v}`).toBe(ok(['-c', `protocol.version=${v}`, 'ls-remote', '--symref', `file://${reference}`]));
    }
    for (const v of ['0', '2']) {
      const d = dir();
      ok(['-c', `protocol.version=${v}`, 'clone', '-q', '--mirror', url, d]);
      ok(['fsck', '--strict'], d);
      expect(objectsIn(d), `v${v}`).toEqual(objectsIn(reference));
    }
    // The refs to a tree and a blob are wants git sends whatever the filter (tree:0 would fail on both sides).
    for (const filter of ['blob:none', 'blob:limit=3', 'tree:1', 'tree:2', 'object:type=tree', 'combine:tree:2+blob:none']) {
      const want = dir();
      ok(['clone', '-q', '--mirror', `--filter=${filter}`, `file://${reference}`, want]);
      const d = dir();
      ok(['clone', '-q', '--mirror', `--filter=${filter}`, url, d]);
      expect(objectsIn(d), filter).toEqual(objectsIn(want));
    }
    // A clone of one branch gets the annotated tags into it (include-tag, through the tag of a tag).
    for (const v of ['0', '2']) {
      const [a, b] = [dir(), dir()];
      ok(['-c', `protocol.version=${v}`, 'clone', '-q', '--single-branch', '--branch', 'main', url, a]);
      ok(['-c', `protocol.version=${v}`, 'clone', '-q', '--single-branch', '--branch', 'main', `file://${reference}`, b]);
      expect(ok(['for-each-ref'], a), `v${v}`).toBe(ok(['for-each-ref'], b));
      expect(objectsIn(a), `v${v}`).toEqual(objectsIn(b));
      expect(ok(['status', '--porcelain'], a)).toBe('');
    }
  }, 120_000);

  it('shallow fetches (--depth, --deepen, --shallow-since, --shallow-exclude, --update-shallow, --unshallow) leave what git upload-pack leaves, v0 and v2', () => {
    const h = join(home, 'history');
    ok(['init', '-q', '-b', 'main', h]);
    // 120 commits a day apart on main, a side branch from the 60th, a merge of it.
    let input = '';
    for (let i = 0; i < 120; i++) {
      input += `commit refs/heads/main\nmark :${i + 1}\ncommitter C <c@x> ${1_600_000_000 + i * 86_400} +0000\ndata 3\nc${i % 10}\n`;
      input += `M 100644 inline f${i % 9}\ndata ${String(i).length + 1}\n${i}\n\n`;
      if (i === 60) input += `commit refs/heads/side\ncommitter C <c@x> ${1_600_000_000 + i * 86_400 + 1} +0000\ndata 4\nside\nfrom :61\nM 100644 inline side\ndata 2\ns\n\n`;
      if (i === 100) input += `commit refs/heads/main\ncommitter C <c@x> ${1_600_000_000 + i * 86_400 + 2} +0000\ndata 6\nmerge\nfrom :101\nmerge refs/heads/side\n\n`;
    }
    const r = spawnSync('git', ['fast-import', '--quiet'], { cwd: h, env: gitEnv(home), input });
    expect(r.status, String(r.stderr)).toBe(0);
    ok(['branch', 'mark', 'main~80'], h);
    ok(['push', '-q', '--mirror', writerUrl(hub, 'history')], h);
    const since = String(1_600_000_000 + 90 * 86_400);
    // (In another order git fails on its own: "error in object: unshallow ...", with either server.)
    const steps: string[][] = [
      ['--shallow-exclude=mark', 'origin', 'main'], ['--deepen', '7'], [`--shallow-since=${since}`], ['--depth', '3'],
      ['--update-shallow', 'origin', 'refs/heads/side:refs/remotes/origin/side'], ['--deepen', '5'], ['--unshallow'],
    ];
    /** After each step: the shallow file and the commits of every ref. */
    const trail = (url: string, v: string) => {
      const d = dir();
      const out: string[] = [];
      const state = () => {
        const shallow = git(['rev-parse', '--git-path', 'shallow'], d).stdout.trim();
        out.push(`${spawnSync('sort', [join(d, shallow)], { encoding: 'utf8' }).stdout ?? ''}|${ok(['rev-list', '--all'], d)}`);
      };
      ok(['-c', `protocol.version=${v}`, 'clone', '-q', '--depth', '4', url, d]);
      state();
      for (const step of steps) {
        const f = git(['-c', `protocol.version=${v}`, 'fetch', '-q', ...step], d);
        out.push(`${step.join(' ')}: ${f.status}`);
        state();
      }
      return out;
    };
    for (const v of ['0', '2']) {
      const got = trail(`${hub.url}/history.git`, v);
      expect(got.filter((line) => / \d+$/.test(line)), `v${v}`).toEqual(steps.map((step) => `${step.join(' ')}: 0`));
      expect(got, `v${v}`).toEqual(trail(`file://${h}`, v));
    }
  }, 120_000);
});

describe('ref transactions', () => {
  it('pushes failing on a stale old id or a name conflict (atomic or not): every ref gets the report git receive-pack gives', async () => {
    const reference = join(home, 'atomic-reference.git');
    ok(['init', '-q', '--bare', '-b', 'main', reference]);
    const main = ok(['rev-parse', 'main'], src).trim();
    const prev = ok(['rev-parse', 'main~1'], src).trim();
    for (const remote of [reference, writerUrl(hub, 'atomic')]) ok(['push', '-q', remote, 'main', 'main~1:refs/heads/b'], src);
    const empty = packObjects(src, '', []);
    const cases: Record<string, { old: string; new: string; ref: string }[]> = {
      stale: [{ old: main, new: prev, ref: 'refs/heads/main' }, { old: '1'.repeat(40), new: main, ref: 'refs/heads/b' }],
      'name-conflict': [{ old: ZERO_ID, new: main, ref: 'refs/heads/x' }, { old: ZERO_ID, new: prev, ref: 'refs/heads/b/c' }],
      // A refused ref (the current branch) stops it before the transaction: the others get "atomic push failure".
      'refused-first': [{ old: main, new: ZERO_ID, ref: 'refs/heads/main' }, { old: ZERO_ID, new: prev, ref: 'refs/heads/b/c' }],
    };
    // Without --atomic each ref is its own transaction; these fail alike on both sides (so both stay equal),
    // with git's lock error on band 2 word for word: a delete or update racing another push, a create of an existing ref.
    const single: Record<string, { old: string; new: string; ref: string }[]> = {
      'stale-delete': [{ old: main, new: ZERO_ID, ref: 'refs/heads/b' }],
      'delete-gone': [{ old: main, new: ZERO_ID, ref: 'refs/heads/gone' }],
      'stale-update': [{ old: main, new: main, ref: 'refs/heads/b' }],
      'create-existing': [{ old: ZERO_ID, new: main, ref: 'refs/heads/b' }],
    };
    for (const [name, commands, caps] of [...Object.entries(cases).map(([n, c]) => [n, c, 'atomic'] as const), ...Object.entries(single).map(([n, c]) => [n, c, 'side-band-64k'] as const)]) {
      const body = receivePackBody(commands, `report-status ${caps}`, empty);
      const g = spawnSync('git', ['receive-pack', '--stateless-rpc', reference], { env: gitEnv(home), input: body });
      const h = await postReceivePack(hub, 'atomic', body);
      expect(h.status).toBe(200);
      expect(h.text, name).toBe(g.stdout.toString('latin1'));
    }
    expect(lsRemote(ok, hub, 'atomic')).toEqual(ok(['ls-remote', reference]).trim().split('\n').sort());
    // The conflict as the git client shows it.
    const r = git(['push', '--atomic', writerUrl(hub, 'atomic'), 'main:refs/heads/y', 'main:refs/heads/b/c'], src);
    expect(r.stderr).toContain("error: cannot lock ref 'refs/heads/b/c': 'refs/heads/b' exists; cannot create 'refs/heads/b/c'");
    expect(r.stderr).toContain('! [remote rejected] main -> y (atomic transaction failed)');
  });
});
