// Outside-in QA of git edge cases found after session 5's QA, each checked
// against git itself: the same push to a local bare repository (git's own
// receive-pack, as git http-backend runs it) or the same fetch from file://
// (git's own upload-pack) must give what the hub gives.
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { gitEnv } from './git-client.js';
import { gitIn, lsRemote, setupRepos, writerUrl } from './hub-client.js';
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
  await setupRepos(hub, ['edge', 'upper']);
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
