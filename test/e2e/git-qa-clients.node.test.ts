// Outside-in QA: what other clients and client features ask of upload-pack,
// compared with git's own upload-pack (--stateless-rpc, and file:// for the
// real client: what http-backend runs). Older clients and libraries negotiate
// with plain multi_ack, side-band (1000-byte packets) or no side-band at all,
// all advertised by the hub; git 2.39's push.negotiate, fetch
// --negotiate-only, sparse partial clones and maintenance's prefetch use
// wait-for-done, haves-only rounds and batched lazy fetches.
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { gitEnv } from './git-client.js';
import { FLUSH, gitIn, http, pkt, setupRepos, writerUrl } from './hub-client.js';
import { startHub, type Hub } from './hub-server.js';

let hub: Hub;
let home: string;
let src: string;
let git: ReturnType<typeof gitIn>['git'];
let ok: ReturnType<typeof gitIn>['ok'];

beforeAll(async () => {
  home = mkdtempSync(join(tmpdir(), 'git-qa-clients-'));
  ({ git, ok } = gitIn(home));
  hub = await startHub();
  await setupRepos(hub, ['clients']);
  src = join(home, 'src');
  ok(['init', '-q', '-b', 'main', src]);
  for (let i = 0; i < 30; i++) {
    for (const dir of ['a', 'b', 'c/d']) {
      mkdirSync(join(src, dir), { recursive: true });
      writeFileSync(join(src, dir, `f${i % 5}.txt`), `${dir} ${i}\n${'line\n'.repeat(200 + i)}`);
    }
    ok(['add', '-A'], src);
    ok(['commit', '-q', '-m', `c${i}`], src);
  }
  ok(['push', '-q', writerUrl(hub, 'clients'), 'main'], src);
  // git's upload-pack serves filters only when allowed (the hub always does).
  ok(['config', 'uploadpack.allowFilter', 'true'], src);
}, 120_000);

afterAll(async () => {
  await hub?.stop();
  if (home) rmSync(home, { recursive: true, force: true });
});

/** The pkt-lines of an upload-pack v0 reply: text lines, band-1 packet sizes, and the pack (band 1 joined, or raw after the last text line). */
function splitReply(body: Buffer): { lines: string[]; packetSizes: number[]; pack: Buffer } {
  const lines: string[] = [];
  const packetSizes: number[] = [];
  const pack: Buffer[] = [];
  let pos = 0;
  while (pos + 4 <= body.length) {
    const len = parseInt(body.subarray(pos, pos + 4).toString('latin1'), 16);
    if (Number.isNaN(len)) {
      pack.push(body.subarray(pos)); // no side-band: the pack follows the last pkt-line as it is
      break;
    }
    if (len < 4) {
      pos += 4;
      continue;
    }
    const data = body.subarray(pos + 4, pos + len);
    if (data[0] === 1) {
      packetSizes.push(len);
      pack.push(data.subarray(1));
    } else if (data[0] !== 2) lines.push(data.toString('latin1').replace(/\n$/, ''));
    pos += len;
  }
  return { lines, packetSizes, pack: Buffer.concat(pack) };
}

describe('v0 negotiation the way older clients ask', () => {
  it('plain multi_ack, side-band and no side-band: the ACKs git upload-pack sends and a pack of the same objects', async () => {
    const tip = ok(['rev-parse', 'main'], src).trim();
    const have = ok(['rev-parse', 'main~10'], src).trim();
    const unknown = '1234567890123456789012345678901234567890';
    for (const caps of ['multi_ack side-band ofs-delta', 'side-band no-progress', 'multi_ack', 'ofs-delta']) {
      const body = Buffer.concat([pkt(`want ${tip} ${caps}\n`), FLUSH, pkt(`have ${unknown}\n`), pkt(`have ${have}\n`), pkt('done\n')]);
      const theirs = splitReply(spawnSync('git', ['upload-pack', '--stateless-rpc', join(src, '.git')], { env: gitEnv(home), input: body, maxBuffer: 1 << 26 }).stdout);
      const res = await http(`${hub.url}/clients.git/git-upload-pack`, { method: 'POST', headers: { 'content-type': 'application/x-git-upload-pack-request' }, body });
      expect(res.status, caps).toBe(200);
      const ours = splitReply(res.body);
      expect(ours.lines, caps).toEqual(theirs.lines);
      // side-band (not -64k): packets of at most 1000 bytes.
      if (caps.includes('side-band')) expect(Math.max(...ours.packetSizes), caps).toBeLessThanOrEqual(1000);
      else expect(ours.packetSizes, caps).toEqual([]);
      expect(indexPack(ours.pack), caps).toEqual(indexPack(theirs.pack));
    }
  });
});

/** The sorted object ids of a pack, as git index-pack reads it. */
function indexPack(pack: Buffer): string[] {
  const dir = mkdtempSync(join(home, 'pack-'));
  const file = join(dir, 'x.pack');
  writeFileSync(file, pack);
  ok(['index-pack', file]);
  const r = spawnSync('git', ['show-index'], { env: gitEnv(home), input: readFileSync(join(dir, 'x.idx')), encoding: 'utf8' });
  return r.stdout.trim().split('\n').map((l) => l.split(' ')[1]).sort();
}

describe('client features of git 2.39', () => {
  /** Runs `steps` in a clone of the hub and in one of `src` over file://; their outputs must be the same. */
  function sideBySide(name: string, cloneArgs: string[], steps: (dir: string) => string): void {
    const results = [`${hub.url}/clients.git`, `file://${src}`].map((url, i) => {
      const dir = join(home, `${name}-${i}`);
      ok(['clone', '-q', ...cloneArgs, url, dir]);
      return steps(dir);
    });
    expect(results[0], name).toBe(results[1]);
  }
  const lines = (s: string) => s.trim().split('\n').sort().join('\n');

  it('a sparse blob:none clone of two directories, then an older commit checked out: the objects git upload-pack leaves', () => {
    sideBySide('sparse', ['--filter=blob:none', '--sparse'], (dir) => {
      ok(['sparse-checkout', 'set', 'c/d', 'b'], dir);
      ok(['checkout', '-q', 'HEAD~7'], dir);
      return lines(ok(['ls-files', '-s'], dir)) + lines(ok(['rev-list', '--objects', '--all', '--missing=print'], dir));
    });
  });

  it('fetch --refetch (v2 and v0) takes every object again; a bundle of the clone verifies and lists the same heads', () => {
    sideBySide('refetch', [], (dir) => {
      const received = ['2', '0'].map((v) => {
        const r = git(['-c', `protocol.version=${v}`, 'fetch', '--refetch', '--progress', 'origin'], dir);
        expect(r.status, r.stderr).toBe(0);
        const n = /Receiving objects: 100% \((\d+)\/\1\)/.exec(r.stderr)?.[1];
        expect(Number(n), r.stderr).toBeGreaterThan(90);
        return n;
      });
      const bundle = `${dir}.bundle`;
      ok(['bundle', 'create', '-q', bundle, '--all'], dir);
      const verify = git(['bundle', 'verify', bundle], dir);
      expect(verify.status, verify.stderr).toBe(0);
      return [received.join(' '), ok(['bundle', 'list-heads', bundle], dir).trim()].join('\n');
    });
  });

  it('push.negotiate, fetch --negotiate-only, maintenance prefetch and remote set-head -a', () => {
    sideBySide('negotiate', [], (dir) => {
      ok(['reset', '-q', '--hard', 'HEAD~5'], dir);
      writeFileSync(join(dir, 'new.txt'), 'new\n');
      ok(['add', 'new.txt'], dir);
      ok(['commit', '-q', '-m', 'diverged'], dir);
      const common = ok(['fetch', '--negotiate-only', '--negotiation-tip=HEAD', 'origin'], dir);
      ok(['maintenance', 'run', '--task=prefetch'], dir);
      ok(['remote', 'set-head', '-a', 'origin'], dir);
      return [common.trim(), ok(['for-each-ref', 'refs/prefetch'], dir).trim(), ok(['symbolic-ref', 'refs/remotes/origin/HEAD'], dir).trim()].join('\n');
    });
    // A push that negotiates first (wait-for-done) sends only what the hub lacks.
    const dir = join(home, 'negotiate-0');
    const r = git(['-c', 'push.negotiate=true', 'push', '--progress', writerUrl(hub, 'clients'), 'HEAD:refs/heads/diverged'], dir);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).not.toContain('push negotiation failed');
    expect(Number(/Writing objects: .*\((\d+)\/\1\)/.exec(r.stderr)?.[1])).toBe(3);
  });
});
