// Outside-in QA: odd objects and ref names pushed by the real git both to a
// local bare repository (git's own receive-pack with its defaults, as git
// http-backend runs it: no fsck) and to the hub. Each push must get the same
// verdict from both, and what both accept must clone back byte for byte.
// (git-variety covers whole odd histories; this file puts one oddity on each
// ref, so a wrong verdict names its case.)
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
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
let gitAsync: ReturnType<typeof gitIn>['gitAsync'];

beforeAll(async () => {
  home = mkdtempSync(join(tmpdir(), 'git-qa-objects-'));
  ({ git, ok, gitAsync } = gitIn(home));
  hub = await startHub();
  await setupRepos(hub, ['objects', 'names']);
  src = join(home, 'src');
  ok(['init', '-q', '-b', 'main', src]);
  writeFileSync(join(src, 'a.txt'), 'a\n');
  ok(['add', 'a.txt'], src);
  ok(['commit', '-q', '-m', 'base'], src);
  for (const repo of ['objects', 'names']) {
    ok(['init', '-q', '--bare', local(repo)]);
    ok(['push', '-q', local(repo), 'main'], src);
    ok(['push', '-q', writerUrl(hub, repo), 'main'], src);
  }
}, 120_000);

afterAll(async () => {
  await hub?.stop();
  if (home) rmSync(home, { recursive: true, force: true });
});

const local = (repo: string) => join(home, `${repo}-reference.git`);
const lsLocal = (dir: string) => ok(['ls-remote', dir]).trim().split('\n').filter(Boolean).sort();
const withoutHead = (lines: string[]) => lines.filter((l) => !l.endsWith('\tHEAD'));

/** Writes an object without git's checks (as old or foreign tools wrote them); its id. */
function literally(type: string, content: Uint8Array | string): string {
  const r = spawnSync('git', ['hash-object', '-t', type, '--literally', '-w', '--stdin'], { cwd: src, env: gitEnv(home), input: content });
  if (r.status !== 0) throw new Error(`hash-object: ${r.stderr}`);
  const id = r.stdout.toString().trim();
  made.push(id);
  return id;
}
/** The ids literally() wrote since the last case was added (what that case's pack carries). */
let made: string[] = [];

/** A raw tree of `mode name id` entries, in the order given. */
function tree(...entries: [string, string, string][]): string {
  return literally('tree', Buffer.concat(entries.map(([mode, name, id]) => Buffer.concat([Buffer.from(`${mode} ${name}\0`), Buffer.from(id, 'hex')]))));
}

/** The report-status lines of a receive-pack reply without side-band (pkt-lines up to the flush). */
function reportOf(body: Buffer): string[] {
  const lines: string[] = [];
  for (let pos = 0; pos + 4 <= body.length; ) {
    const len = parseInt(body.subarray(pos, pos + 4).toString(), 16);
    if (!(len >= 4)) break;
    lines.push(body.subarray(pos + 4, pos + len).toString('latin1').replace(/\n$/, ''));
    pos += len;
  }
  return lines;
}

/**
 * Sends each case as one hand-built receive-pack request (its objects packed by
 * `git pack-objects` from an explicit list: a push through git would stop at
 * its own pack-objects walk for some) to `git receive-pack --stateless-rpc` on
 * the local reference (what http-backend runs) and to the hub. Each case alone:
 * an object one side cannot read fails its whole pack. The report of each side.
 */
async function sendEach(repo: string, cases: Record<string, { id: string; objects: string[] }>): Promise<Record<string, { git: string[]; hub: string[] }>> {
  const base = ok(['rev-parse', 'main'], src).trim();
  const out: Record<string, { git: string[]; hub: string[] }> = {};
  for (const [name, c] of Object.entries(cases)) {
    const pack = packObjects(src, c.objects.join('\n') + '\n', []);
    const ref = `refs/${name.startsWith('tag-') ? 'tags' : 'heads'}/case/${name}`; // a branch must hold a commit
    const body = receivePackBody([{ old: ZERO_ID, new: c.id, ref }], 'report-status', pack);
    const g = spawnSync('git', ['receive-pack', '--stateless-rpc', local(repo)], { env: gitEnv(home), input: body });
    const h = await postReceivePack(hub, repo, body);
    expect(h.status, `${name}: ${h.text}`).toBe(200);
    out[name] = { git: reportOf(g.stdout), hub: reportOf(h.body) };
  }
  return out;
}

describe('one odd object per ref', () => {
  it('gets the verdict git receive-pack gives, and what is taken clones back byte for byte', async () => {
    const blob = ok(['rev-parse', 'main:a.txt'], src).trim();
    const root = ok(['rev-parse', 'main^{tree}'], src).trim();
    const base = ok(['rev-parse', 'main'], src).trim();
    const who = 'author A <a@example.com> 1 +0000\ncommitter A <a@example.com> 1 +0000';
    const commit = (t: string, extra = '', msg = 'm\n') => literally('commit', `tree ${t}\nparent ${base}\n${who}\n${extra}\n${msg}`);
    const tag = (body: string) => literally('tag', `${body}tagger T <t@example.com> 1 +0000\n\nx\n`);
    const missing = '1111111111111111111111111111111111111111';
    // true: git's receive-pack takes it (fsck would complain at most); false: it refuses.
    const expected: Record<string, boolean> = {};
    const cases: Record<string, { id: string; objects: string[] }> = {};
    made = [];
    const add = (name: string, id: string, taken: boolean) => {
      cases[name] = { id, objects: made };
      expected[name] = taken;
      made = [];
    };
    add('mode-0100644', commit(tree(['0100644', 'a.txt', blob])), true);
    add('mode-100600', commit(tree(['100600', 'a.txt', blob])), true);
    add('mode-100000', commit(tree(['100000', 'a.txt', blob])), true);
    add('mode-644', commit(tree(['644', 'a.txt', blob])), true);
    add('mode-120755', commit(tree(['120755', 'a.txt', blob])), true);
    add('gitlink-to-a-blob', commit(tree(['160000', 'sub', blob])), true);
    add('gitlink-missing', commit(tree(['160000', 'sub', missing])), true);
    add('name-dot', commit(tree(['40000', '.', root])), true);
    add('name-dotdot', commit(tree(['40000', '..', root])), true);
    add('name-.GIT', commit(tree(['40000', '.GIT', root])), true);
    add('gitmodules-not-a-config', commit(tree(['100644', '.gitmodules', blob])), true);
    add('encoding-latin1', literally('commit', Buffer.concat([Buffer.from(`tree ${root}\nparent ${base}\n${who}\nencoding ISO-8859-1\n\ncaf`), Buffer.from([0xe9, 0x0a])])), true);
    add('two-authors', literally('commit', `tree ${root}\nparent ${base}\nauthor A <a@x> 1 +0000\nauthor B <b@x> 2 +0000\ncommitter A <a@x> 1 +0000\n\ntwo\n`), true);
    add('nul-in-message', commit(root, '', 'nul\0byte\n'), true);
    add('no-message', literally('commit', `tree ${root}\nparent ${base}\n${who}\n`), true);
    add('no-blank-line', literally('commit', `tree ${root}\nparent ${base}\n${who}\nmessage right after the headers\n`), true);
    add('200k-message-line', commit(root, '', `${'x'.repeat(200_000)}\n`), true);
    add('100k-header', commit(root, `x-big ${'y'.repeat(100_000)}\n`), true);
    add('duplicate-parent', literally('commit', `tree ${root}\nparent ${base}\nparent ${base}\n${who}\n\ndup\n`), true);
    // Past its tree and parent lines git's parse_commit_buffer reads anything (fsck: badHeader... at most);
    // it refuses a commit that ends right after one of them ("bogus commit object", "bad parents").
    add('header-without-space', commit(root, 'x-flag\n'), true);
    add('header-key-not-utf8', literally('commit', Buffer.concat([Buffer.from(`tree ${root}\nparent ${base}\n${who}\n`), Buffer.from([0xff, 0x20, 0x41, 0x0a, 0x0a, 0x6d, 0x0a])])), true);
    add('headers-end-without-newline', literally('commit', `tree ${root}\nparent ${base}\n${who}`), true);
    add('continuation-after-tree', literally('commit', `tree ${root}\n continued\nparent ${base}\n${who}\n\nc\n`), true);
    add('continuation-after-parent', literally('commit', `tree ${root}\nparent ${base}\n continued\n${who}\n\nc\n`), true);
    add('ends-after-tree-line', literally('commit', `tree ${root}\n`), false);
    add('ends-after-parent-line', literally('commit', `tree ${root}\nparent ${base}\n`), false);
    add('empty-name', commit(tree(['100644', '', blob])), false);
    add('tree-entry-missing', commit(tree(['100644', 'x', missing])), false);
    add('crlf-header', literally('commit', `tree ${root}\r\nparent ${base}\n${who}\n\ncrlf\n`), false);
    add('parent-missing', literally('commit', `tree ${root}\nparent ${missing}\n${who}\n\np\n`), false);
    add('tag-of-a-tree', tag(`object ${root}\ntype tree\ntag x\n`), true);
    add('tag-of-a-blob', tag(`object ${blob}\ntype blob\ntag x\n`), true);
    // Likewise past a tag's name line (parse_tag_buffer); the name may be empty.
    add('tag-empty-name', tag(`object ${base}\ntype commit\ntag \n`), true);
    add('tag-name-continued', tag(`object ${base}\ntype commit\ntag x\n continued\n`), true);
    add('tag-header-without-space', tag(`object ${base}\ntype commit\ntag x\nx-flag\n`), true);
    add('tag-ends-without-newline', literally('tag', `object ${base}\ntype commit\ntag x\ntagger T <t@example.com> 1 +0000`), true);
    // Objects of another type than the reference says: git's connectivity walk stops at them
    // ("is a blob, not a tree"), so each ref gets "missing necessary objects". Stored targets...
    add('dir-is-a-blob', commit(tree(['40000', 'dir', blob])), false);
    add('file-is-a-tree', commit(tree(['100644', 'f', root])), false);
    add('parent-is-a-tree', literally('commit', `tree ${root}\nparent ${root}\n${who}\n\np\n`), false);
    add('tree-is-a-blob', literally('commit', `tree ${blob}\nparent ${base}\n${who}\n\nt\n`), false);
    add('tag-type-mismatch', tag(`object ${base}\ntype tree\ntag x\n`), false);
    add('tag-of-a-tree-says-commit', tag(`object ${root}\ntype commit\ntag x\n`), false);
    // ...and targets in the same pack.
    add('dir-is-a-new-blob', commit(tree(['40000', 'dir', literally('blob', 'new blob\n')])), false);
    add('parent-is-a-new-tree', literally('commit', `tree ${root}\nparent ${tree(['100644', 'n', blob])}\n${who}\n\np\n`), false);
    add('tag-new-blob-says-commit', tag(`object ${literally('blob', 'another new blob\n')}\ntype commit\ntag x\n`), false);
    add('tag-object-missing', tag(`object ${missing}\ntype commit\ntag x\n`), false);
    add('tag-without-type', tag(`object ${base}\ntag x\n`), false);
    add('tag-unknown-type', tag(`object ${base}\ntype frob\ntag x\n`), false);
    add('tag-without-tag-line', tag(`object ${base}\ntype commit\n`), false);

    const got = await sendEach('objects', cases);
    const verdict = (report: string[]) => report.length === 2 && report[0] === 'unpack ok' && report[1].startsWith('ok ');
    const wrong = Object.keys(cases).filter((n) => verdict(got[n].hub) !== expected[n]).map((n) => `${n}: ${got[n].hub.join(' | ')}`);
    expect(wrong).toEqual([]);
    for (const name of Object.keys(cases)) {
      // The table is git's own verdict (so a changed git shows here, not as a hub bug)...
      expect(verdict(got[name].git), `git on ${name}: ${got[name].git.join(' | ')}`).toBe(expected[name]);
      // ...and the hub's must match it: a refused case gets an unpack error or an ng with a reason.
      expect(verdict(got[name].hub), `hub on ${name}: ${got[name].hub.join(' | ')}`).toBe(expected[name]);
      expect(got[name].hub.at(-1), name).toMatch(expected[name] ? /^ok / : /^ng refs\/(heads|tags)\/case\/\S+ \S/);
    }
    expect(withoutHead(lsRemote(ok, hub, 'objects'))).toEqual(withoutHead(lsLocal(local('objects'))));
    // Back out through upload-pack (v2 and v0): the same objects, so the same bytes (ids are hashes of them).
    for (const version of ['2', '0']) {
      const dst = join(home, `objects-clone-v${version}.git`);
      ok(['-c', `protocol.version=${version}`, 'clone', '-q', '--mirror', `${hub.url}/objects.git`, dst]);
      expect(ok(['rev-list', '--objects', '--all'], dst).split('\n').sort()).toEqual(ok(['rev-list', '--objects', '--all'], local('objects')).split('\n').sort());
      ok(['fsck', '--connectivity-only'], dst);
      expect(ok(['cat-file', 'commit', 'case/encoding-latin1'], dst)).toBe(ok(['cat-file', 'commit', 'case/encoding-latin1'], local('objects')));
    }
  }, 120_000);

  it('a tree entry name with "/" (fsck error fullPathname) is refused by the hub, readable as it is by git', () => {
    // A deliberate difference: git reads such a tree, the hub refuses it (tree.ts), naming the problem.
    const blob = ok(['rev-parse', 'main:a.txt'], src).trim();
    const id = literally('commit', `tree ${tree(['100644', 'a/b', blob])}\nparent ${ok(['rev-parse', 'main'], src).trim()}\nauthor A <a@x> 1 +0000\ncommitter A <a@x> 1 +0000\n\nslash\n`);
    expect(git(['push', local('objects'), `${id}:refs/heads/slash`], src).status).toBe(0);
    const r = git(['push', writerUrl(hub, 'objects'), `${id}:refs/heads/slash`], src);
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain('tree entry name contains "/"');
    expect(lsRemote(ok, hub, 'objects').some((l) => l.endsWith('\trefs/heads/slash'))).toBe(false);
  });
});

describe('ref names', () => {
  it('the hub takes and refuses the names git receive-pack does (refs/foo, refs/stash: funny)', async () => {
    const names = [
      'refs/heads/@', 'refs/heads/-dash', 'refs/heads/HEAD', 'refs/heads/a{b}', 'refs/heads/x}', 'refs/heads/x;rm', 'refs/heads/$(id)',
      'refs/heads/a"q', "refs/heads/a'q", 'refs/heads/pct%41', 'refs/heads/a+b', 'refs/heads/#hash', 'refs/heads/emoji-😀', 'refs/x/y',
      // One level under refs/: git's receive-pack checks the rest as a ref of its own, which needs a "/".
      'refs/foo', 'refs/stash', 'refs/heads', 'refs/tags',
    ];
    const got: Record<string, { git: number | null; hub: number | null; stderr: string }> = {};
    for (let i = 0; i < names.length; i += 4) {
      await Promise.all(
        names.slice(i, i + 4).map(async (n) => {
          const [g, h] = await Promise.all([gitAsync(['push', local('names'), `main:${n}`], src), gitAsync(['push', writerUrl(hub, 'names'), `main:${n}`], src)]);
          got[n] = { git: g.status, hub: h.status, stderr: h.stderr };
        }),
      );
    }
    for (const n of names) {
      expect(got[n].hub, `${n}: ${got[n].stderr}`).toBe(got[n].git);
      if (got[n].git !== 0) expect(got[n].stderr, n).toContain('(funny refname)');
    }
    expect(names.filter((n) => got[n].git !== 0)).toEqual(['refs/foo', 'refs/stash', 'refs/heads', 'refs/tags']);
    expect(withoutHead(lsRemote(ok, hub, 'names'))).toEqual(withoutHead(lsLocal(local('names'))));
  }, 60_000);
});
