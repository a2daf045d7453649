// Outside-in QA: hand-built pushes at the edges of what git's receive-pack
// takes, each sent as the same request body to `git receive-pack
// --stateless-rpc` on a local bare repository (what git http-backend runs,
// with its defaults) and to the hub. Both must give the same report, and the
// hub's error lines git's words (a user reads them on git's stderr as
// "remote: error: ..."). What both take must clone back from the hub.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { gitEnv } from './git-client.js';
import { gitIn, lsRemote, packObjects, postReceivePack, receivePackBody, setupRepos, writerUrl, ZERO_ID } from './hub-client.js';
import { startHub, type Hub } from './hub-server.js';

const EMPTY_TREE = '4b825dc642cb6eb9a060e54bf8d69288fbee4904';

let hub: Hub;
let home: string;
let src: string;
let ok: ReturnType<typeof gitIn>['ok'];
let base: string;

beforeAll(async () => {
  home = mkdtempSync(join(tmpdir(), 'git-qa-refusals-'));
  ({ ok } = gitIn(home));
  hub = await startHub();
  await setupRepos(hub, ['refusals']);
  src = join(home, 'src');
  ok(['init', '-q', '-b', 'main', src]);
  writeFileSync(join(src, 'a.txt'), 'a\n');
  ok(['add', 'a.txt'], src);
  ok(['commit', '-q', '-m', 'base'], src);
  base = ok(['rev-parse', 'main'], src).trim();
  ok(['init', '-q', '--bare', local()]);
  ok(['push', '-q', local(), 'main'], src);
  ok(['push', '-q', writerUrl(hub, 'refusals'), 'main'], src);
}, 120_000);

afterAll(async () => {
  await hub?.stop();
  if (home) rmSync(home, { recursive: true, force: true });
});

const local = () => join(home, 'reference.git');
const withoutHead = (lines: string[]) => lines.filter((l) => !l.endsWith('\tHEAD'));
const lsLocal = () => withoutHead(ok(['ls-remote', local()]).trim().split('\n').filter(Boolean).sort());

/** Writes an object as given (no checks); its id. */
function literally(type: string, content: string | Buffer): string {
  const r = spawnSync('git', ['hash-object', '-t', type, '--literally', '-w', '--stdin'], { cwd: src, env: gitEnv(home), input: content });
  if (r.status !== 0) throw new Error(`hash-object: ${r.stderr}`);
  return r.stdout.toString().trim();
}

/** A reply's side-band demultiplexed: report-status lines (band 1) and the error/progress text (band 2). */
function demux(body: Buffer): { report: string[]; text: string } {
  const pkts = (b: Buffer, each: (p: Buffer) => void) => {
    for (let pos = 0; pos + 4 <= b.length; ) {
      const len = parseInt(b.subarray(pos, pos + 4).toString(), 16);
      if (!(len >= 4)) {
        pos += 4;
        continue;
      }
      each(b.subarray(pos + 4, pos + len));
      pos += len;
    }
  };
  const band1: Buffer[] = [];
  let text = '';
  pkts(body, (p) => {
    if (p[0] === 1) band1.push(p.subarray(1));
    else if (p[0] === 2 || p[0] === 3) text += p.subarray(1).toString();
  });
  const report: string[] = [];
  pkts(Buffer.concat(band1), (p) => report.push(p.toString('utf8').replace(/\n$/, '')));
  return { report, text };
}

/** The same request to git's receive-pack (on a copy of the reference, so each case starts alike) and to the hub. */
async function both(commands: { old: string; new: string; ref: string }[], pack: Buffer, tail = Buffer.alloc(0), keep = false) {
  const body = Buffer.concat([receivePackBody(commands, 'report-status side-band-64k', pack), tail]);
  const dir = keep ? local() : join(home, `scratch-${Math.random().toString(36).slice(2)}.git`);
  if (!keep) ok(['clone', '-q', '--bare', local(), dir]);
  const g = spawnSync('git', ['receive-pack', '--stateless-rpc', dir], { env: gitEnv(home), input: body, maxBuffer: 1 << 26 });
  const h = await postReceivePack(hub, 'refusals', body);
  expect(h.status, h.text).toBe(200);
  return { git: { ...demux(g.stdout), text: demux(g.stdout).text + g.stderr.toString() }, hub: demux(h.body) };
}

describe("receive-pack's edges, side by side with git's", () => {
  it('a pack that refers to the empty tree without carrying it is taken (git counts it present), and clones back with it', async () => {
    const c = literally('commit', `tree ${EMPTY_TREE}\nparent ${base}\nauthor A <a@x> 1 +0000\ncommitter A <a@x> 1 +0000\n\nempty\n`);
    const pack = packObjects(src, `${c}\n`, []);
    const r = await both([{ old: ZERO_ID, new: c, ref: 'refs/heads/empty' }], pack, undefined, true);
    expect(r.git.report).toEqual(['unpack ok', 'ok refs/heads/empty']);
    expect(r.hub.report).toEqual(r.git.report);
    const dst = join(home, 'empty-clone.git');
    ok(['clone', '-q', '--mirror', `${hub.url}/refusals.git`, dst]);
    expect(ok(['cat-file', '-t', EMPTY_TREE], dst).trim()).toBe('tree');
    ok(['fsck', '--full'], dst);
    expect(withoutHead(lsRemote(ok, hub, 'refusals'))).toEqual(lsLocal());
  }, 60_000);

  it("a blob pushed to a branch: git's ng and its words (cannot update ref '<ref>': trying to write non-commit object)", async () => {
    const blob = ok(['rev-parse', 'main:a.txt'], src).trim();
    const r = await both([{ old: ZERO_ID, new: blob, ref: 'refs/heads/blob' }], packObjects(src, '', []));
    expect(r.git.report).toEqual(['unpack ok', 'ng refs/heads/blob failed to update ref']);
    expect(r.hub.report).toEqual(r.git.report);
    const words = `error: cannot update ref 'refs/heads/blob': trying to write non-commit object ${blob} to branch 'refs/heads/blob'`;
    expect(r.git.text).toContain(words);
    expect(r.hub.text).toContain(words);
  });

  it("ref names too long to lock: a component over 250 bytes, refused in git's words; names over 1024 bytes too (git: over ~4070)", async () => {
    const x = (n: number, c = 'x') => c.repeat(n);
    const names = {
      component250: `refs/heads/${x(250)}`,
      name1024: `refs/heads/${Array.from({ length: 10 }, () => x(100)).join('/')}/${x(3)}`,
      component251: `refs/heads/${x(251)}`,
      component300: `refs/heads/a/${x(300)}`,
      // 2-byte characters: the limit is in bytes, as the file system's.
      unicode126: `refs/heads/${x(126, 'é')}`,
      name5000: `refs/heads/${Array.from({ length: 25 }, () => x(199)).join('/')}`,
      // Taken by git http-backend, refused by the hub (its ref store's limit; README says so).
      name1100: `refs/heads/${Array.from({ length: 11 }, () => x(99)).join('/')}`,
    };
    expect(Buffer.byteLength(names.name1024)).toBe(1024);
    const got: Record<string, { git: string[]; hub: string[]; hubText: string }> = {};
    for (const [k, ref] of Object.entries(names)) {
      const r = await both([{ old: ZERO_ID, new: base, ref }], packObjects(src, '', []));
      got[k] = { git: r.git.report, hub: r.hub.report, hubText: r.hub.text };
      if (k !== 'name1100') expect(r.hub.report, `${k}: ${r.hub.text}`).toEqual(r.git.report);
    }
    expect(got.name1100.git).toEqual(['unpack ok', `ok ${names.name1100}`]);
    for (const k of ['component250', 'name1024'] as const) expect(got[k].hub[1], k).toBe(`ok ${names[k]}`);
    for (const k of ['component251', 'component300', 'unicode126', 'name5000', 'name1100'] as const) {
      expect(got[k].hub[1], k).toBe(`ng ${names[k]} failed to update ref`);
      expect(got[k].hubText, k).toContain(`error: cannot lock ref '${names[k]}': Unable to create '${names[k]}.lock': File name too long`);
    }
    // What was taken lists and clones.
    const listed = lsRemote(ok, hub, 'refusals').map((l) => l.split('\t')[1]);
    expect(listed).toEqual(expect.arrayContaining([names.component250, names.name1024]));
    ok(['clone', '-q', '--mirror', `${hub.url}/refusals.git`, join(home, 'long-names.git')]);
  }, 60_000);

  it('bytes after the pack trailer: ignored in a pack of under 100 objects (unpack-objects), refused in a larger one (index-pack)', async () => {
    // git's receive-pack unpacks a pack of fewer than transfer.unpackLimit (100) objects with
    // unpack-objects, which stops at the trailer; a larger one goes to index-pack: "pack has junk at the end".
    const small = literally('commit', `tree ${ok(['rev-parse', 'main^{tree}'], src).trim()}\nparent ${base}\nauthor A <a@x> 1 +0000\ncommitter A <a@x> 1 +0000\n\nsmall\n`);
    const r1 = await both([{ old: ZERO_ID, new: small, ref: 'refs/heads/junk-small' }], packObjects(src, `${small}\n`, []), Buffer.from('JUNK\n'.repeat(1000)));
    expect(r1.git.report).toEqual(['unpack ok', 'ok refs/heads/junk-small']);
    expect(r1.hub.report).toEqual(r1.git.report);
    const blobs = Array.from({ length: 120 }, (_, i) => literally('blob', `blob ${i}\n`));
    const t = literally('tree', Buffer.concat(blobs.map((id, i) => Buffer.concat([Buffer.from(`100644 f${String(i).padStart(3, '0')}\0`), Buffer.from(id, 'hex')]))));
    const large = literally('commit', `tree ${t}\nparent ${base}\nauthor A <a@x> 1 +0000\ncommitter A <a@x> 1 +0000\n\nlarge\n`);
    const r2 = await both([{ old: ZERO_ID, new: large, ref: 'refs/heads/junk-large' }], packObjects(src, [large, t, ...blobs].join('\n') + '\n', []), Buffer.from('JUNK'));
    // git's index-pack refuses it when it sees the junk (stdin a file, or the junk read with the trailer;
    // on a pipe it can finish first: seen both ways here), so its verdict is not compared.
    expect(r2.git.report[1]).toMatch(/^(ok|ng) refs\/heads\/junk-large/);
    expect(r2.hub.report[0]).toMatch(/^unpack \S/);
    expect(r2.hub.report[0]).not.toBe('unpack ok');
    expect(r2.hub.report[1]).toBe('ng refs/heads/junk-large unpacker error');
    expect(r2.hub.text).toContain('pack has junk at the end');
    expect(lsRemote(ok, hub, 'refusals').some((l) => l.endsWith('junk-large'))).toBe(false);
  }, 60_000);

  it("a pack header cut short, absent, of another signature or version: git's unpack line, word for word", async () => {
    const header = (sig: string, version: number) => Buffer.concat([Buffer.from(sig), Buffer.from([0, 0, 0, version, 0, 0, 0, 1]), Buffer.alloc(40, 0x78)]);
    const packs = { absent: Buffer.alloc(0), cut: header('PACK', 2).subarray(0, 10), signature: header('PACX', 2), version: header('PACK', 4) };
    for (const [what, pack] of Object.entries(packs)) {
      const r = await both([{ old: ZERO_ID, new: base, ref: 'refs/heads/header' }], pack);
      expect(r.git.report[0], what).toMatch(/^unpack (eof|protocol error)/);
      expect(r.hub.report, what).toEqual(r.git.report);
    }
    expect(lsRemote(ok, hub, 'refusals').some((l) => l.endsWith('refs/heads/header'))).toBe(false);
  });

  it('two commands for one ref (git never sends them): git applies them in turn, the hub refuses both and changes nothing (README: Git hosting)', async () => {
    const twice = [{ old: ZERO_ID, new: base, ref: 'refs/heads/twice' }, { old: ZERO_ID, new: base, ref: 'refs/heads/twice' }];
    const r = await both(twice, packObjects(src, '', []));
    expect(r.git.report).toEqual(['unpack ok', 'ok refs/heads/twice', 'ng refs/heads/twice failed to update ref']);
    expect(r.hub.report).toEqual(['unpack ok', 'ng refs/heads/twice failed to update ref', 'ng refs/heads/twice failed to update ref']);
    expect(r.hub.text).toContain("error: multiple updates for ref 'refs/heads/twice' not allowed");
    expect(lsRemote(ok, hub, 'refusals').some((l) => l.endsWith('refs/heads/twice'))).toBe(false);
  });

  it('a chain of 40 tags of tags, outermost first in the pack: listed peeled by ls-remote (v0 and v2) as git lists it', async () => {
    const chain = [literally('tag', `object ${base}\ntype commit\ntag t0\ntagger A <a@x> 1 +0000\n\nt0\n`)];
    for (let n = 1; n < 40; n++) chain.push(literally('tag', `object ${chain[n - 1]}\ntype tag\ntag t${n}\ntagger A <a@x> 1 +0000\n\nt${n}\n`));
    // pack-objects without --revs writes objects in the order given.
    const r = await both([{ old: ZERO_ID, new: chain[39], ref: 'refs/tags/deep' }], packObjects(src, [...chain].reverse().join('\n') + '\n', []), undefined, true);
    expect(r.hub.report).toEqual(['unpack ok', 'ok refs/tags/deep']);
    expect(r.git.report).toEqual(r.hub.report);
    for (const v of ['0', '2']) {
      const ls = (url: string) => ok(['-c', `protocol.version=${v}`, 'ls-remote', url, 'refs/tags/deep*']);
      expect(ls(`${hub.url}/refusals.git`), `v${v}`).toBe(ls(local()));
      expect(ls(`${hub.url}/refusals.git`), `v${v}`).toContain(`${base}\trefs/tags/deep^{}`);
    }
  });

  it('a tree mode of 8 digits: git takes it (as a gitlink); the hub refuses it, saying so (README: Git hosting)', async () => {
    const blob = ok(['rev-parse', 'main:a.txt'], src).trim();
    const t = literally('tree', Buffer.concat([Buffer.from('10000644 a.txt\0'), Buffer.from(blob, 'hex')]));
    const c = literally('commit', `tree ${t}\nparent ${base}\nauthor A <a@x> 1 +0000\ncommitter A <a@x> 1 +0000\n\nmode\n`);
    const r = await both([{ old: ZERO_ID, new: c, ref: 'refs/heads/mode8' }], packObjects(src, `${c}\n${t}\n`, []));
    expect(r.git.report).toEqual(['unpack ok', 'ok refs/heads/mode8']);
    expect(r.hub.report).toEqual(['unpack tree entry mode has more than 7 digits', 'ng refs/heads/mode8 unpacker error']);
    expect(r.hub.text).toContain('error: tree entry mode has more than 7 digits');
  });
});
