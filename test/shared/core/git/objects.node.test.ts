// Cross-check against the real git: every object of a scripted repository (and
// of this project's own history) gets the id git gave it and parses and
// serialises back to git's exact bytes.
import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, rmSync, symlinkSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { concat, toHex, utf8Decode, utf8Encode } from '../../../../shared/core/bytes.js';
import { parseObject, referencedIds, serialiseObject } from '../../../../shared/core/git/object.js';
import { gitObjectId, objectHasher, type GitObjectType } from '../../../../shared/core/git/object-id.js';
import { purePrimitives, type Primitives } from '../../../../shared/core/primitives.js';
import { nativeHash } from '../../../../worker/native-hash.js';

const native: Primitives = { ...purePrimitives, hash: nativeHash };

let root: string;
let repo: string;
let env: NodeJS.ProcessEnv;

function git(args: string[], opts: { cwd?: string; input?: Uint8Array | string } = {}): Buffer {
  return execFileSync('git', args, { cwd: opts.cwd ?? repo, env, input: opts.input, maxBuffer: 1 << 30 });
}
const gitText = (args: string[], opts: { cwd?: string; input?: Uint8Array | string } = {}) => git(args, opts).toString('utf8').trim();

interface RawObject {
  id: string;
  type: GitObjectType;
  content: Uint8Array;
}

/** Every object in a repository, from `git cat-file --batch-all-objects --batch`. */
function allObjects(cwd: string): RawObject[] {
  const out = git(['cat-file', '--batch-all-objects', '--batch'], { cwd });
  const objects: RawObject[] = [];
  let pos = 0;
  while (pos < out.length) {
    const eol = out.indexOf(0x0a, pos);
    const [id, type, size] = out.subarray(pos, eol).toString('latin1').split(' ');
    const start = eol + 1;
    objects.push({ id, type: type as GitObjectType, content: new Uint8Array(out.subarray(start, start + Number(size))) });
    pos = start + Number(size) + 1; // content is followed by LF
  }
  return objects;
}

/** The checks every object must pass; returns counts by type. */
function checkAll(objects: RawObject[], p: Primitives): Record<string, number> {
  const ids = new Set(objects.map((o) => o.id));
  const counts: Record<string, number> = {};
  for (const o of objects) {
    counts[o.type] = (counts[o.type] ?? 0) + 1;
    expect(gitObjectId(p, o.type, o.content), `id of ${o.type} ${o.id}`).toBe(o.id);
    const parsed = parseObject(o.type, o.content);
    const back = serialiseObject(parsed);
    if (!Buffer.from(back).equals(Buffer.from(o.content))) {
      expect(utf8Decode(back), `round trip of ${o.type} ${o.id}`).toBe(utf8Decode(o.content));
      expect(back, `round trip of ${o.type} ${o.id}`).toEqual(o.content);
    }
    for (const ref of referencedIds(parsed)) expect(ids.has(ref.id), `${o.id} refers to ${ref.type} ${ref.id}`).toBe(true);
  }
  return counts;
}

const SIG = ['-----BEGIN PGP SIGNATURE-----', '', 'iQIzBAABCgAdFiEEAAAAAAAAAAAAAAAAAAAAAAAAAAAFAmZm', '=XyZw', '-----END PGP SIGNATURE-----'];

beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), 'hub-git-objects-'));
  repo = join(root, 'repo');
  mkdirSync(join(root, 'home'));
  env = {
    PATH: process.env.PATH,
    HOME: join(root, 'home'),
    GIT_CONFIG_NOSYSTEM: '1',
    GIT_AUTHOR_NAME: 'A U Thor',
    GIT_AUTHOR_EMAIL: 'author@example.com',
    GIT_COMMITTER_NAME: 'C O Mitter',
    GIT_COMMITTER_EMAIL: 'committer@example.com',
    GIT_AUTHOR_DATE: '1700000000 +0200',
    GIT_COMMITTER_DATE: '1700000100 -0530',
  };
  git(['init', '-q', '-b', 'main', repo], { cwd: root });
  const w = (path: string, data: string | Uint8Array) => {
    mkdirSync(join(repo, path, '..'), { recursive: true });
    writeFileSync(join(repo, path), data);
  };
  w('README', 'hello\n');
  w('empty', '');
  w('bin/data.bin', Uint8Array.from({ length: 5000 }, (_, i) => (i * 7919) & 0xff));
  w('bin/run.sh', '#!/bin/sh\necho hi\n');
  chmodSync(join(repo, 'bin/run.sh'), 0o755);
  symlinkSync('README', join(repo, 'link'));
  // Names that exercise git's order: "foo-bar" < "foo.txt" < "foo/" < "foo0".
  w('foo-bar', '1');
  w('foo.txt', '2');
  w('foo/inner/deep.txt', 'deep\n');
  w('foo0', '3');
  w('ünïcode name.txt', 'utf-8 name\n');
  git(['add', '-A']);
  git(['commit', '-q', '-m', 'first']);
  // A submodule gitlink entry (160000) pointing at a commit that is not in this repository.
  git(['update-index', '--add', '--cacheinfo', `160000,${'1'.repeat(40)},vendor/lib`]);
  git(['commit', '-q', '-m', 'add gitlink']);
  git(['checkout', '-q', '-b', 'side']);
  w('side.txt', 'side\n');
  git(['add', '-A']);
  git(['commit', '-q', '-m', 'side work']);
  git(['checkout', '-q', 'main']);
  w('README', 'hello again\n');
  git(['commit', '-q', '-am', 'main work']);
  git(['checkout', '-q', '-b', 'third', 'HEAD~1']);
  w('third.txt', '3\n');
  git(['add', '-A']);
  git(['commit', '-q', '-m', 'third work']);
  git(['checkout', '-q', 'main']);
  git(['merge', '-q', '--no-ff', '-m', 'merge side', 'side']);
  git(['merge', '-q', '--no-ff', '-m', 'merge third', 'third']);
  git(['tag', 'light']);
  git(['tag', '-a', '-m', 'annotated\n\nwith body', 'v1.0']);
  git(['-c', 'advice.nestedTag=false', 'tag', '-a', '-m', 'tag of a tag', 'v1.0-again', 'v1.0']);
  git(['tag', '-a', '-m', 'tag of a tree', 'tree-tag', 'HEAD^{tree}']);
  // A commit in another encoding, its message in Latin-1.
  git(['-c', 'i18n.commitEncoding=ISO-8859-1', 'commit', '-q', '--allow-empty', '-F', '-'], { input: Buffer.from([0x63, 0x61, 0x66, 0xe9, 0x0a]) });

  // Crafted objects git would accept from a push: signed-looking commit (gpgsig)
  // and a merge of a signed tag (mergetag), via hash-object --literally.
  const head = gitText(['rev-parse', 'HEAD']);
  const tree = gitText(['rev-parse', 'HEAD^{tree}']);
  const tagBody = git(['cat-file', 'tag', 'v1.0']).toString('latin1').trimEnd().split('\n');
  const signed = [
    `tree ${tree}`,
    `parent ${head}`,
    `author A U Thor <author@example.com> 1700000000 +0200`,
    `committer C O Mitter <committer@example.com> 1700000100 -0530`,
    `mergetag ${tagBody.join('\n ')}`,
    `gpgsig ${SIG.join('\n ')}`,
    '',
    'signed commit',
    '',
  ].join('\n');
  const signedId = gitText(['hash-object', '-t', 'commit', '-w', '--stdin'], { input: signed });
  git(['update-ref', 'refs/heads/signed', signedId]);
  const signedTag = `object ${signedId}\ntype commit\ntag v2-signed\ntagger T Agger <t@example.com> 1700000200 +0000\n\nsigned tag\n${SIG.join('\n')}\n`;
  const signedTagId = gitText(['hash-object', '-t', 'tag', '-w', '--stdin'], { input: signedTag });
  git(['update-ref', 'refs/tags/v2-signed', signedTagId]);
  // A tree with a non-UTF-8 name (Latin-1 é) and a tag pointing at a blob.
  const blob = gitText(['hash-object', '-w', '--stdin'], { input: 'latin\n' });
  const mk = concat([utf8Encode(`100644 blob ${blob}\tcaf`), new Uint8Array([0xe9]), utf8Encode('\n')]);
  const latinTree = gitText(['mktree'], { input: mk });
  const latinCommit = gitText(['commit-tree', latinTree, '-m', 'latin-1 path'], {});
  git(['update-ref', 'refs/heads/latin', latinCommit]);
  git(['tag', '-a', '-m', 'blob tag', 'blob-tag', blob]);
  git(['fsck', '--strict', '--no-dangling']);
});

afterAll(() => {
  if (root) rmSync(root, { recursive: true, force: true });
});

describe('git objects against real git', () => {
  it('every object of a scripted repository: same id, byte-exact round trip, references present', () => {
    const objects = allObjects(repo);
    const counts = checkAll(objects, purePrimitives);
    expect(counts.commit).toBeGreaterThanOrEqual(9);
    expect(counts.tag).toBeGreaterThanOrEqual(5);
    expect(counts.tree).toBeGreaterThanOrEqual(8);
    // The crafted headers really are in there, and parsed as continuation-line headers.
    const signed = objects.find((o) => o.type === 'commit' && utf8Decode(o.content).includes('gpgsig'))!;
    const c = parseObject('commit', signed.content);
    expect(c.type === 'commit' && c.extraHeaders.map((h) => h.key)).toEqual(['mergetag', 'gpgsig']);
    const latin = objects.find((o) => o.type === 'commit' && utf8Decode(o.content).includes('encoding'))!;
    const lc = parseObject('commit', latin.content);
    expect(lc.type === 'commit' && lc.encoding).toBe('ISO-8859-1');
  });

  it('commit references and tree entries match git log and git ls-tree', () => {
    const objects = allObjects(repo);
    const log = gitText(['log', '--all', '--format=%H %T %P']).split('\n');
    for (const line of log) {
      const [id, tree, ...parents] = line.split(' ').filter(Boolean);
      const o = objects.find((x) => x.id === id)!;
      expect(referencedIds(parseObject('commit', o.content)).map((r) => r.id)).toEqual([tree, ...parents]);
    }
    for (const o of objects.filter((x) => x.type === 'tree')) {
      const listed = git(['ls-tree', '-z', o.id]).toString('latin1').split('\0').filter(Boolean);
      const tree = parseObject('tree', o.content);
      if (tree.type !== 'tree') throw new Error('not a tree');
      expect(tree.entries.map((e) => `${e.mode.padStart(6, '0')} ${{ '40000': 'tree', '160000': 'commit' }[e.mode] ?? 'blob'} ${e.id}\t${Buffer.from(e.name).toString('latin1')}`)).toEqual(listed);
    }
  });

  it("every object of this project's own history (native hashing)", () => {
    const gitDir = join(process.cwd(), '.git');
    if (!existsSync(gitDir)) throw new Error(`no .git at ${process.cwd()}`);
    const objects = allObjects(process.cwd());
    expect(objects.length).toBeGreaterThan(0);
    // References may be missing in a shallow clone; ids and round trips must hold for all.
    for (const o of objects) {
      expect(gitObjectId(native, o.type, o.content), `id of ${o.type} ${o.id}`).toBe(o.id);
      expect(Buffer.from(serialiseObject(parseObject(o.type, o.content))).equals(Buffer.from(o.content)), `round trip of ${o.type} ${o.id}`).toBe(true);
    }
  });

  it('git hash-object on random files of many sizes equals our blob id, one-shot and streamed', () => {
    const sizes = [0, 1, 55, 56, 63, 64, 65, 1000, 65536, 1_500_000];
    const files = sizes.map((n, i) => {
      const data = Uint8Array.from({ length: n }, (_, k) => (k * 2654435761 + i * 97) >>> 24);
      const path = join(root, `random-${n}`);
      writeFileSync(path, data);
      return { data, path };
    });
    const ids = gitText(['hash-object', '--no-filters', ...files.map((f) => f.path)]).split('\n');
    for (const [i, f] of files.entries()) {
      expect(gitObjectId(purePrimitives, 'blob', f.data)).toBe(ids[i]);
      expect(gitObjectId(native, 'blob', f.data)).toBe(ids[i]);
      const h = objectHasher(native, 'blob', f.data.length);
      for (let k = 0; k < f.data.length; k += 65_000) h.update(f.data.subarray(k, k + 65_000));
      expect(toHex(h.digest())).toBe(ids[i]);
    }
  });
});
