// A blob:none partial clone of a commit with more files than the old want
// cap (100,000): git 2.39's checkout lazily fetches every blob it lacks in
// ONE request (a want per file). v2: the real checkout, which must give the
// source's tree, fsck clean, and the clone fetches normally afterwards; v0:
// the same wants posted directly (a second real checkout doubled the file's
// time, mostly git's own). 300k+ files: bench/git-wide.ts.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { makeWideTree } from '../fixtures/wide-tree.js';
import { gitEnv } from './git-client.js';
import { FLUSH, gitIn, pkt, setupRepos, writerUrl } from './hub-client.js';
import { startHub, type Hub } from './hub-server.js';

/** Just over the old MAX_WANTS. */
const FILES = 110_000;

let hub: Hub;
let home: string;
let src: string;
let ok: ReturnType<typeof gitIn>['ok'];

beforeAll(async () => {
  home = mkdtempSync(join(tmpdir(), 'git-wide-e2e-'));
  ({ ok } = gitIn(home, 240_000));
  src = join(home, 'src.git');
  const [started] = await Promise.all([startHub(), Promise.resolve().then(() => makeWideTree(src, FILES, gitEnv(home)))]);
  hub = started;
  await setupRepos(hub, ['wide']);
  ok(['push', '-q', '--mirror', writerUrl(hub, 'wide')], src);
}, 240_000);

/** git's stdout when it is megabytes (past runGit's buffer). */
function bigOut(args: string[], cwd: string): string {
  const r = spawnSync('git', args, { cwd, env: gitEnv(home), encoding: 'utf8', maxBuffer: 1 << 28 });
  expect(r.status, r.stderr).toBe(0);
  return r.stdout;
}

/** Objects of HEAD the clone lacks (git rev-list's `?` lines). */
function missing(dir: string): string[] {
  return bigOut(['rev-list', '--objects', '--missing=print', 'HEAD'], dir).split('\n').filter((l) => l.startsWith('?')).map((l) => l.slice(1));
}

afterAll(async () => {
  await hub?.stop();
  if (home) rmSync(home, { recursive: true, force: true });
}, 240_000);

it(`checks out ${FILES} files of a blob:none clone in one lazy fetch (v2), then fetches`, () => {
  const dir = join(home, 'v2');
  ok(['clone', '-q', '--filter=blob:none', '--no-checkout', `${hub.url}/wide.git`, dir]);
  // Nothing but the commit and its trees came: every blob is missing before the checkout.
  expect(missing(dir).length).toBe(FILES);
  ok(['checkout', '-q', 'main'], dir);
  expect(ok(['status', '--porcelain'], dir)).toBe('');
  expect(missing(dir)).toEqual([]);
  expect(ok(['show', 'HEAD:d109/f999'], dir)).toBe('109999\n');
  ok(['fsck', '--full'], dir);
  expect(ok(['rev-parse', 'HEAD^{tree}'], dir)).toBe(ok(['rev-parse', 'main^{tree}'], src));
  // The partial clone still fetches: a new commit (same tree) pushed to the hub comes over.
  const next = ok(['commit-tree', '-p', 'main', '-m', 'after', 'main^{tree}'], src).trim();
  ok(['update-ref', 'refs/heads/main', next], src);
  ok(['push', '-q', writerUrl(hub, 'wide'), 'main'], src);
  ok(['fetch', '-q', 'origin'], dir);
  expect(ok(['log', '-1', '--format=%s', 'origin/main'], dir).trim()).toBe('after');
  ok(['fsck', '--connectivity-only'], dir);
}, 300_000);

it(`answers a v0 request of ${FILES} blob wants (git's lazy fetch over v0) with all of them`, () => {
  // git's v0 lazy fetch sends the same wants (the checkout above took minutes of client time under load:
  // this request is posted directly). The first want carries the capabilities, then filter, flush, done.
  const ids = bigOut(['ls-tree', '-r', '--object-only', 'main'], src).trim().split('\n');
  expect(ids.length).toBe(FILES);
  const caps = 'multi_ack_detailed no-done side-band-64k thin-pack ofs-delta filter agent=git/2.39.5';
  const lines = ids.map((id, i) => pkt(i === 0 ? `want ${id} ${caps}\n` : `want ${id}\n`));
  const body = Buffer.concat([...lines, pkt('filter blob:none\n'), FLUSH, pkt('done\n')]);
  // Sent chunked, as git sends a request this large (Node's fetch with the 5.5 MB body as one buffer failed on EPIPE here).
  const out = join(home, 'v0-answer');
  const args = ['-sS', '-o', out, '-w', '%{http_code}', '-H', 'content-type: application/x-git-upload-pack-request', '-H', 'transfer-encoding: chunked'];
  const r = spawnSync('curl', [...args, '--data-binary', '@-', `${hub.url}/wide.git/git-upload-pack`], { input: body, encoding: 'utf8', timeout: 120_000 });
  expect(r.stdout, r.stderr).toBe('200');
  const answer = readFileSync(out);
  // NAK, then the pack on band 1: its header counts every wanted blob.
  expect(answer.subarray(0, 8).toString()).toBe('0008NAK\n');
  const at = answer.indexOf('PACK');
  expect(answer[at - 1]).toBe(1);
  expect(answer.readUInt32BE(at + 8)).toBe(FILES);
  expect(answer.subarray(answer.length - 4).toString()).toBe('0000');
}, 120_000);
