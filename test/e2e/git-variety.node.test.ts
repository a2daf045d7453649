// Repositories that look like real ones, pushed by the real git to the hub
// under wrangler dev and cloned back: submodules, signed and odd commits,
// tags of trees/blobs/tags, notes and replace refs, thousands of tags, long
// and deep ref names, unicode names, symlinks, a 10k-entry tree, and objects
// git fsck only complains about (zero-padded modes, bad identities) that git's
// own receive-pack (http-backend's default: no fsck) accepts.
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { gitEnv } from './git-client.js';
import { api, gitIn, lsRemote, setupRepos, writerUrl } from './hub-client.js';
import { startHub, type Hub } from './hub-server.js';

let hub: Hub;
let home: string;
let git: ReturnType<typeof gitIn>['git'];
let ok: ReturnType<typeof gitIn>['ok'];

beforeAll(async () => {
  home = mkdtempSync(join(tmpdir(), 'git-variety-e2e-'));
  ({ git, ok } = gitIn(home));
  hub = await startHub();
  await setupRepos(hub, ['variety', 'odd', 'tags', 'empty', 'remotes']);
}, 120_000);

afterAll(async () => {
  await hub?.stop();
  if (home) rmSync(home, { recursive: true, force: true });
});

/** Writes `content` as an object of `type` without git's checks (as old or foreign tools wrote them). */
function literally(dir: string, type: string, content: Uint8Array | string): string {
  const r = spawnSync('git', ['hash-object', '-t', type, '--literally', '-w', '--stdin'], { cwd: dir, env: gitEnv(home), input: content });
  if (r.status !== 0) throw new Error(`hash-object: ${r.stderr}`);
  return r.stdout.toString().trim();
}
/** `git args` with `input` on stdin; stdout. */
function gitInput(dir: string, args: string[], input: string): string {
  const r = spawnSync('git', args, { cwd: dir, env: gitEnv(home), input, encoding: 'utf8', maxBuffer: 1 << 26 });
  if (r.status !== 0) throw new Error(`git ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}
const refsOf = (dir: string) => ok(['for-each-ref', '--format=%(objectname) %(objecttype) %(refname)'], dir);
const lsLocal = (dir: string) => ok(['ls-remote', dir]).trim().split('\n').filter(Boolean).sort();
const objectsOf = (dir: string) => ok(['rev-list', '--objects', '--all'], dir).split('\n').sort();
const FAKE_SUBMODULE = '1234567890abcdef1234567890abcdef12345678';
const EMPTY_TREE = '4b825dc642cb6eb9a060e54bf8d69288fbee4904';

/** Mirrors `src` to a local bare repository (git's receive-pack, defaults: no fsck) and to the hub; both must accept. */
function pushBoth(src: string, repo: string): void {
  const local = join(home, `${repo}-reference.git`);
  ok(['init', '-q', '--bare', local]);
  ok(['push', '-q', '--mirror', local], src);
  ok(['symbolic-ref', 'HEAD', ok(['symbolic-ref', 'HEAD'], src).trim()], local);
  const r = git(['push', '--mirror', writerUrl(hub, repo)], src);
  expect(r.status, r.stderr).toBe(0);
  expect(lsRemote(ok, hub, repo)).toEqual(lsLocal(local));
}

/** Clones the hub repository back (mirror, protocol v2 and v0) and compares refs and objects with `src`. */
function cloneBackAndCompare(src: string, repo: string, fsckStrict: boolean): void {
  for (const version of ['2', '0']) {
    const dst = join(home, `${repo}-clone-v${version}.git`);
    const r = git(['-c', `protocol.version=${version}`, 'clone', '-q', '--mirror', `${hub.url}/${repo}.git`, dst]);
    expect(r.status, r.stderr).toBe(0);
    expect(refsOf(dst)).toBe(refsOf(src));
    expect(objectsOf(dst)).toEqual(objectsOf(src));
    if (fsckStrict) ok(['fsck', '--full', '--no-dangling'], dst);
    else {
      // Objects fsck complains about: the clone gets exactly the complaints of the source.
      const a = git(['fsck', '--full', '--no-dangling'], src);
      const b = git(['fsck', '--full', '--no-dangling'], dst);
      expect(b.stderr.split('\n').sort()).toEqual(a.stderr.split('\n').sort());
      // (the exit code's bits differ for loose and packed objects: only failure is compared)
      expect(b.status === 0).toBe(a.status === 0);
    }
  }
}

describe('a repository with everything a real one carries', () => {
  let src: string;
  beforeAll(() => {
    src = join(home, 'variety-src');
    ok(['init', '-q', '-b', 'trunk', src]);
    const w = (name: string, content: string | Uint8Array) => {
      mkdirSync(join(src, name, '..'), { recursive: true });
      writeFileSync(join(src, name), content);
    };
    w('README', 'hello\n');
    w('héllo wörld.txt', 'unicode name\n');
    w('with space/and tab\there.txt', 'spaces\n');
    w('日本語/ファイル.md', '# nihongo\n');
    w('bin/run.sh', '#!/bin/sh\necho run\n');
    chmodSync(join(src, 'bin/run.sh'), 0o755);
    symlinkSync('README', join(src, 'link-to-readme'));
    symlinkSync('../nowhere/at/all', join(src, 'dangling-link'));
    w('.gitmodules', `[submodule "lib"]\n\tpath = lib\n\turl = https://example.invalid/lib.git\n`);
    ok(['add', '-A'], src);
    ok(['update-index', '--add', '--cacheinfo', `160000,${FAKE_SUBMODULE},lib`], src);
    ok(['commit', '-q', '-m', 'first: files of every kind and a submodule'], src);

    // A 10k-entry tree (one blob under many names), committed as a directory.
    const blob = gitInput(src, ['hash-object', '-w', '--stdin'], 'same\n').trim();
    const lines = Array.from({ length: 10_000 }, (_, i) => `100644 blob ${blob}\tf${String(i).padStart(5, '0')}.txt`).join('\n');
    const big = gitInput(src, ['mktree'], `${lines}\n`).trim();
    ok(['read-tree', '--prefix=big/', big], src);
    ok(['commit', '-q', '-m', 'a directory of 10000 files'], src);

    // Latin-1 message with an encoding header.
    writeFileSync(join(home, 'latin1-msg'), Buffer.from('caf\xe9 cr\xe8me br\xfbl\xe9e\n', 'latin1'));
    w('latin.txt', 'latin\n');
    ok(['add', 'latin.txt'], src);
    ok(['-c', 'i18n.commitEncoding=ISO-8859-1', 'commit', '-q', '-F', join(home, 'latin1-msg')], src);
    // Not UTF-8 and no encoding header.
    w('raw.txt', 'raw\n');
    ok(['add', 'raw.txt'], src);
    writeFileSync(join(home, 'raw-msg'), Buffer.from([0x62, 0x61, 0x64, 0x20, 0xff, 0xfe, 0x80, 0x0a]));
    ok(['-c', 'i18n.commitEncoding=UTF-8', 'commit', '-q', '--cleanup=verbatim', '-F', join(home, 'raw-msg')], src);
    ok(['commit', '-q', '--allow-empty', '-m', 'an empty commit'], src);

    // An octopus merge of three branches with dots and slashes in their names.
    for (const b of ['release/1.2.x', 'feature/foo.bar', 'user/j.doe/fix-1']) {
      ok(['checkout', '-q', '-b', b, 'trunk'], src);
      w(`${b.replace(/\//g, '_')}.txt`, `${b}\n`);
      ok(['add', '-A'], src);
      ok(['commit', '-q', '-m', `work on ${b}`], src);
    }
    ok(['checkout', '-q', 'trunk'], src);
    ok(['merge', '-q', '--no-edit', 'release/1.2.x', 'feature/foo.bar', 'user/j.doe/fix-1'], src);

    // Signed-looking commits: gpgsig, mergetag and unknown headers, written as git writes them.
    const head = ok(['rev-parse', 'HEAD'], src).trim();
    const tree = ok(['rev-parse', 'HEAD^{tree}'], src).trim();
    const who = 'A U Thor <author@example.com> 1700000000 +0100';
    const sig = ['-----BEGIN PGP SIGNATURE-----', '', 'iQEzBAABCAAdFiEEfake+signature/data==', '=abcd', '-----END PGP SIGNATURE-----'].join('\n ');
    const signed = literally(src, 'commit', `tree ${tree}\nparent ${head}\nauthor ${who}\ncommitter ${who}\ngpgsig ${sig}\n\nsigned commit\n`);
    ok(['tag', '-a', '-m', 'to merge', 'v-merged', 'release/1.2.x'], src);
    const tagObj = ok(['cat-file', 'tag', 'v-merged'], src).replace(/\n$/, '');
    const relTip = ok(['rev-parse', 'release/1.2.x'], src).trim();
    const mergetag = `mergetag ${tagObj.split('\n').join('\n ')}\n`;
    const merged = literally(src, 'commit', `tree ${tree}\nparent ${signed}\nparent ${relTip}\nauthor ${who}\ncommitter ${who}\n${mergetag}x-unknown-header some value\nx-multi first\n second\n\nmerge with a mergetag\n`);
    const onEmpty = ok(['commit-tree', EMPTY_TREE, '-p', merged, '-m', 'the empty tree'], src).trim();
    ok(['update-ref', 'refs/heads/trunk', onEmpty], src);
    ok(['reset', '-q', '--hard'], src);
    ok(['symbolic-ref', 'HEAD', 'refs/heads/trunk'], src);

    // Tags of a tree, a blob and a tag; a lightweight tag of a blob.
    ok(['tag', '-a', '-m', 'a tree', 'tree-tag', `${tree}`], src);
    ok(['tag', '-a', '-m', 'a blob', 'blob-tag', blob], src);
    ok(['tag', '-a', '-m', 'tag of a tag', 'tag-of-tag', 'tree-tag'], src);
    ok(['tag', 'light-blob', blob], src);
    // Notes, replace refs, a pull-request-style ref, a long and deep ref name.
    ok(['notes', 'add', '-m', 'a note', 'HEAD'], src);
    ok(['notes', '--ref=review', 'add', '-m', 'reviewed', 'HEAD~1'], src);
    ok(['replace', '--graft', 'feature/foo.bar'], src);
    ok(['update-ref', 'refs/pull/1/head', 'feature/foo.bar'], src);
    ok(['update-ref', 'refs/pull/1/merge', merged], src);
    ok(['update-ref', `refs/heads/deep/${'segment/'.repeat(12)}end`, 'trunk'], src);
    ok(['update-ref', `refs/heads/long-${'x'.repeat(200)}/${'y'.repeat(200)}`, 'trunk'], src);
    // Non-ASCII ref names (git takes any bytes but the forbidden ASCII ones).
    ok(['update-ref', 'refs/heads/fix/café-ü', 'release/1.2.x'], src);
    ok(['tag', 'v1.0-🚀', 'feature/foo.bar'], src);
  });

  it('pushes with --mirror (accepted like git receive-pack does) and ls-remote lists every ref', async () => {
    pushBoth(src, 'variety');
    // A push does not carry HEAD: the hub points it at the first branch, and the default branch is a setting.
    expect(ok(['ls-remote', '--symref', `${hub.url}/variety.git`, 'HEAD'])).toMatch(/^ref: refs\/heads\/deep\/segment\/.*\tHEAD$/m);
    expect((await api(hub, 'PATCH', '/repos/variety', { default_branch: 'trunk' })).status).toBe(200);
    expect(ok(['ls-remote', '--symref', `${hub.url}/variety.git`, 'HEAD'])).toMatch(/^ref: refs\/heads\/trunk\tHEAD$/m);
  });

  it('clones back with v2 and v0: identical refs and objects, fsck --full clean', () => {
    cloneBackAndCompare(src, 'variety', true);
  });

  it('a plain clone checks out the default branch with names, links, modes and the gitlink intact', () => {
    const dst = join(home, 'variety-checkout');
    ok(['clone', '-q', `${hub.url}/variety.git`, dst]);
    expect(ok(['symbolic-ref', 'HEAD'], dst).trim()).toBe('refs/heads/trunk');
    expect(ok(['ls-tree', '-r', 'HEAD~1'], dst)).toBe(ok(['ls-tree', '-r', 'HEAD~1'], src));
    expect(ok(['ls-tree', ':/first', 'lib', 'bin/run.sh', 'link-to-readme'], dst)).toMatch(/^160000 commit 1234567890abcdef.*\tlib$/m);
    expect(ok(['cat-file', '-p', 'HEAD~1'], dst)).toContain('x-unknown-header some value');
    // Notes travel in a mirror clone (refs/notes/* is not fetched by default).
    expect(ok(['notes', 'show', 'trunk'], join(home, 'variety-clone-v2.git')).trim()).toBe('a note');
    expect(ok(['notes', '--ref=review', 'show', 'trunk~1'], join(home, 'variety-clone-v2.git')).trim()).toBe('reviewed');
  });
});

describe('ref names that are directories of each other', () => {
  it('refuses a branch under an existing branch (and one above), as git receive-pack does; the repository stays clonable', () => {
    const src = join(home, 'variety-src');
    for (const [spec, ref, other] of [
      ['trunk:refs/heads/trunk/sub', 'refs/heads/trunk/sub', 'refs/heads/trunk'],
      ['trunk:refs/heads/feature', 'refs/heads/feature', 'refs/heads/feature/foo.bar'],
    ]) {
      const local = git(['push', join(home, 'variety-reference.git'), spec], src);
      expect(local.stderr).toContain(`cannot lock ref '${ref}': '${other}' exists`);
      const r = git(['push', writerUrl(hub, 'variety'), spec], src);
      expect(r.status).not.toBe(0);
      expect(r.stderr).toContain(`cannot lock ref '${ref}': '${other}' exists; cannot create '${ref}'`);
      expect(r.stderr).toContain('(failed to update ref)');
    }
    expect(lsRemote(ok, hub, 'variety').filter((l) => !l.endsWith('\tHEAD'))).toEqual(lsLocal(join(home, 'variety-reference.git')).filter((l) => !l.endsWith('\tHEAD')));
    ok(['clone', '-q', '--mirror', `${hub.url}/variety.git`, join(home, 'variety-after-conflicts.git')]);
  });
});

describe('objects git fsck warns or errs about but git receive-pack accepts', () => {
  let src: string;
  beforeAll(() => {
    src = join(home, 'odd-src');
    ok(['init', '-q', '-b', 'main', src]);
    writeFileSync(join(src, 'a.txt'), 'a\n');
    ok(['add', '-A'], src);
    ok(['commit', '-q', '-m', 'base'], src);
    const blob = ok(['rev-parse', 'HEAD:a.txt'], src).trim();
    const sub = ok(['rev-parse', 'HEAD^{tree}'], src).trim();
    const raw = (mode: string, name: string, id: string) => Buffer.concat([Buffer.from(`${mode} ${name}\0`), Buffer.from(id, 'hex')]);
    // Zero-padded directory mode and a group-writable file (old git wrote both).
    const padded = literally(src, 'tree', Buffer.concat([raw('100664', 'a.txt', blob), raw('040000', 'dir', sub)]));
    let parent = ok(['rev-parse', 'HEAD'], src).trim();
    const commit = (tree: string, author: string, msg: string) => {
      parent = literally(src, 'commit', `tree ${tree}\nparent ${parent}\nauthor ${author}\ncommitter ${author}\n\n${msg}\n`);
    };
    commit(padded, 'Old Git <old@example.com> 1100000000 +0000', 'zero-padded modes');
    commit(sub, 'No Space<nospace@example.com> 1200000000 +0000', 'missing space before email');
    commit(sub, 'Odd Zone <odd@example.com> 1200000001 +051', 'odd timezone');
    commit(sub, 'Big Zone <big@example.com> 1200000002 -99999', 'big timezone');
    commit(sub, 'No Email 1200000003 +0000', 'missing email');
    commit(sub, 'Empty Email <> 1200000004 +0000', 'empty email');
    commit(sub, 'No Date <nodate@example.com>', 'missing date');
    commit(sub, 'Zero Date <z@example.com> 0001200000005 +0000', 'zero-padded date');
    commit(sub, 'Huge Date <h@example.com> 99999999999999999999 +0000', 'overflowing date');
    // Missing and misplaced author/committer lines (fsck: missingAuthor, missingCommitter).
    for (const [i, lines] of ['author Only Author <a@example.com> 1300000000 +0000', 'committer Only Committer <c@example.com> 1300000001 +0000', 'committer C <c@example.com> 1300000002 +0000\nauthor A <a@example.com> 1300000002 +0000'].entries()) {
      parent = literally(src, 'commit', `tree ${sub}\nparent ${parent}\n${lines}\n\nidentity lines ${i}\n`);
    }
    // Trees fsck errs about and git reads: unsorted, duplicate names, a file and a directory
    // of one name, a ".git" directory, an unknown file type (read as a gitlink).
    const oddTrees = [
      [raw('100644', 'b', blob), raw('100644', 'a.txt', blob)],
      [raw('100644', 'a.txt', blob), raw('100644', 'a.txt', blob)],
      [raw('100644', 'a', blob), raw('40000', 'a', sub)],
      [raw('40000', '.git', sub), raw('100644', 'a.txt', blob)],
      [raw('170000', 'weird', blob)],
    ];
    for (const [i, entries] of oddTrees.entries()) commit(literally(src, 'tree', Buffer.concat(entries)), `Trees <t@example.com> ${1400000000 + i} +0000`, `odd tree ${i}`);
    ok(['update-ref', 'refs/heads/main', parent], src);
    const tag = literally(src, 'tag', `object ${parent}\ntype commit\ntag no-tagger\n\nan old tag without tagger\n`);
    ok(['update-ref', 'refs/tags/no-tagger', tag], src);
    const oddTagger = literally(src, 'tag', `object ${parent}\ntype commit\ntag odd-tagger\ntagger Someone 1300000000\n\nbad tagger\n`);
    ok(['update-ref', 'refs/tags/odd-tagger', oddTagger], src);
    const latinName = literally(src, 'tag', Buffer.concat([Buffer.from(`object ${parent}\ntype commit\ntag caf`), Buffer.from([0xe9]), Buffer.from('\ntagger T <t@t> 1 +0000\n\nlatin-1 name\n')]));
    ok(['update-ref', 'refs/tags/latin-name', latinName], src);
  });

  it('pushes them like git receive-pack does, and clones back with the same fsck complaints', () => {
    pushBoth(src, 'odd');
    cloneBackAndCompare(src, 'odd', false);
  });
});

describe('shallow, partial and incremental fetches of these repositories', () => {
  it('depth 1, --shallow-since, blob:none and tree:0 clones; deepen; a fetch after a new push', () => {
    for (const repo of ['variety', 'odd']) {
      const shallow = join(home, `${repo}-shallow`);
      ok(['clone', '-q', '--no-checkout', '--depth', '1', '--no-single-branch', `${hub.url}/${repo}.git`, shallow]);
      expect(ok(['rev-list', '--count', 'HEAD'], shallow).trim()).toBe('1');
      ok(['fetch', '-q', '--unshallow'], shallow);
      ok(['fsck', '--no-dangling'].concat(repo === 'odd' ? ['--connectivity-only'] : []), shallow);
      for (const filter of ['blob:none', 'tree:0']) {
        const partial = join(home, `${repo}-${filter.replace(':', '-')}`);
        ok(['clone', '-q', '--no-checkout', `--filter=${filter}`, `${hub.url}/${repo}.git`, partial]);
        expect(ok(['rev-list', '--count', 'HEAD'], partial)).toBe(ok(['rev-list', '--count', 'HEAD'], join(home, `${repo}-clone-v2.git`)));
      }
    }
    const since = join(home, 'odd-since');
    ok(['clone', '-q', '--no-checkout', '--shallow-since=2008-01-01', `${hub.url}/odd.git`, since]);
    // A new commit on the odd history, fetched into the v2 mirror clone with its haves.
    const work = join(home, 'odd-work');
    ok(['clone', '-q', join(home, 'odd-src'), work]);
    writeFileSync(join(work, 'new.txt'), 'new\n');
    ok(['add', 'new.txt'], work);
    ok(['commit', '-q', '-m', 'on top of odd history'], work);
    ok(['push', '-q', writerUrl(hub, 'odd'), 'HEAD:main'], work);
    const f = git(['fetch', '--progress', 'origin'], join(home, 'odd-clone-v2.git'));
    expect(f.status, f.stderr).toBe(0);
    expect(Number(/remote: Total (\d+)/.exec(f.stderr)?.[1])).toBeLessThan(5);
    expect(ok(['rev-parse', 'main'], join(home, 'odd-clone-v2.git'))).toBe(ok(['rev-parse', 'HEAD'], work));
  });
});

describe('a mirror push of a working clone', () => {
  it('takes refs/remotes/* (origin/HEAD is a symbolic ref there) as git receive-pack does', () => {
    const work = join(home, 'odd-work');
    expect(ok(['symbolic-ref', 'refs/remotes/origin/HEAD'], work).trim()).toBe('refs/remotes/origin/main');
    pushBoth(work, 'remotes');
    cloneBackAndCompare(join(home, 'remotes-reference.git'), 'remotes', false);
  });
});

describe('thousands of tags', () => {
  // git's send-pack itself spends ~3 ms a new ref before its POST over HTTP (trace2:
  // 10 s for 3000 refs before pack-objects starts), so 2000 keep the file fast.
  const N = 2000;
  let src: string;
  beforeAll(() => {
    src = join(home, 'tags-src');
    ok(['init', '-q', '-b', 'main', src]);
    let input = '';
    for (let i = 0; i < 20; i++) {
      writeFileSync(join(src, 'f.txt'), `${i}\n`);
      ok(['add', 'f.txt'], src);
      ok(['commit', '-q', '-m', `c${i}`], src);
    }
    const ids = ok(['rev-list', 'main'], src).trim().split('\n');
    for (let i = 0; i < N; i++) input += `create refs/tags/v${Math.floor(i / 100)}.${i % 100}.0 ${ids[i % ids.length]}\n`;
    gitInput(src, ['update-ref', '--stdin'], input);
    for (let i = 0; i < 20; i++) ok(['tag', '-a', '-m', `release ${i}`, `annotated-${i}`, ids[i % ids.length]], src);
  });

  it('pushes them, lists them with ls-remote (v2 and v0, peeled) and clones them back', () => {
    pushBoth(src, 'tags');
    const v0 = ok(['-c', 'protocol.version=0', 'ls-remote', `${hub.url}/tags.git`]).trim().split('\n').sort();
    expect(v0).toEqual(lsLocal(src));
    expect(v0.length).toBe(1 + 1 + N + 20 * 2);
    // ls-refs with a prefix: only the matching tags.
    const some = ok(['ls-remote', '--tags', `${hub.url}/tags.git`, 'refs/tags/v7.*']).trim().split('\n');
    expect(some.length).toBe(100);
    cloneBackAndCompare(src, 'tags', true);
    // A second push gets the whole advertisement (v0 receive-pack) and moves one tag among thousands.
    ok(['tag', '-f', 'v0.0.0', 'main~3'], src);
    ok(['tag', 'v-new', 'main~4'], src);
    const p = git(['push', '--force', writerUrl(hub, 'tags'), 'v0.0.0', 'v-new'], src);
    expect(p.status, p.stderr).toBe(0);
    const dst = join(home, 'tags-clone-v2.git');
    ok(['fetch', '-q', '--force', 'origin', 'refs/tags/*:refs/tags/*'], dst);
    expect(refsOf(dst)).toBe(refsOf(src));
  });
});

describe('an empty repository', () => {
  it('clones (with the empty-repository warning), then takes the first push, and HEAD follows it', () => {
    const dst = join(home, 'empty-clone');
    const r = git(['clone', writerUrl(hub, 'empty'), dst]);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toContain('You appear to have cloned an empty repository');
    expect(ok(['ls-remote', `${hub.url}/empty.git`]).trim()).toBe('');
    ok(['checkout', '-q', '-b', 'develop'], dst);
    writeFileSync(join(dst, 'x'), 'x\n');
    ok(['add', 'x'], dst);
    ok(['commit', '-q', '-m', 'first'], dst);
    ok(['push', '-q', 'origin', 'develop'], dst);
    const again = join(home, 'empty-clone-2');
    ok(['clone', '-q', `${hub.url}/empty.git`, again]);
    expect(ok(['symbolic-ref', 'HEAD'], again).trim()).toBe('refs/heads/develop');
    expect(ok(['rev-parse', 'HEAD'], again)).toBe(ok(['rev-parse', 'HEAD'], dst));
    ok(['fsck', '--full', '--strict'], again);
  });
});
