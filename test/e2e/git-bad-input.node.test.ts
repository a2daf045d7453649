// Bad input to the hub under wrangler dev: damaged packs, malformed objects,
// refused ref names, bad pkt-lines, garbage to every endpoint, odd services,
// unknown repositories, and a push over HUB_MAX_PUSH_BYTES. Every answer must
// be a protocol-level error or a short 4xx, never a 5xx or a hang; after each,
// refs are as they were and a normal request is served. At the end the
// genuine push goes through and a clone is fsck-clean.
import { spawnSync } from 'node:child_process';
import { randomBytes as cryptoRandomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { deflateSync, gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateHistory, randomBytes } from '../fixtures/git-history.js';
import { FLUSH, gitIn, http, lsRemote, packObjects, pkt, postReceivePack, receivePackBody, setupRepos, writerAuth, writerUrl, type HttpAnswer } from './hub-client.js';
import { startHub, type Hub } from './hub-server.js';
import { OBJ, appendDelta, craftPack, entry, objectId, rawCommit, rawTree, type CraftEntry } from './pack-craft.js';

/** The push cap of this hub: small, so a 2 MB push is over it. */
const MAX_PUSH = 1024 * 1024;

let hub: Hub;
let home: string;
let src: string;
let work: string;
let ok: ReturnType<typeof gitIn>['ok'];
let git: ReturnType<typeof gitIn>['git'];
/** ls-remote of the repository before any bad input. */
let baseline: string[];
let main: string;
/** A genuine new commit on main (not pushed until the end) and its pack. */
let next: string;
let nextPack: Buffer;

beforeAll(async () => {
  home = mkdtempSync(join(tmpdir(), 'git-bad-e2e-'));
  ({ ok, git } = gitIn(home, 60_000));
  src = join(home, 'src.git');
  const [started] = await Promise.all([startHub({ vars: { HUB_MAX_PUSH_BYTES: String(MAX_PUSH) } }), generateHistory(src, { seed: 31, commits: 40 })]);
  hub = started;
  await setupRepos(hub, ['bad']);
  ok(['push', '-q', '--mirror', writerUrl(hub, 'bad')], src);
  work = join(home, 'work');
  ok(['clone', '-q', `${hub.url}/bad.git`, work]);
  baseline = lsRemote(ok, hub, 'bad');
  main = ok(['rev-parse', 'HEAD'], work).trim();
  writeFileSync(join(work, 'next.txt'), 'the genuine next commit\n'.repeat(50));
  ok(['add', '-A'], work);
  ok(['commit', '-q', '-m', 'next'], work);
  next = ok(['rev-parse', 'HEAD'], work).trim();
  nextPack = packObjects(work, `${next}\n^${main}\n`);
}, 120_000);

afterAll(async () => {
  await hub?.stop();
  if (home) rmSync(home, { recursive: true, force: true });
});

/** Refs exactly as before, and a normal request (a fetch into the clone) still served. */
function expectUnchanged(): void {
  expect(lsRemote(ok, hub, 'bad')).toEqual(baseline);
  const f = git(['fetch', 'origin'], work);
  expect(f.status, f.stderr).toBe(0);
  expect(ok(['rev-parse', 'origin/main'], work).trim()).toBe(main);
}

/** A protocol-level error (ERR pkt-line, unpack error, ng, band-3 message) in a 200, or a short 4xx. */
function expectRefusal(res: HttpAnswer, what: string): void {
  expect(res.status, `${what}: ${res.text.slice(0, 300)}`).toBeLessThan(500);
  if (res.status === 200) {
    expect(res.text, what).toMatch(/ERR |unpack (?!ok)|[0-9a-f]{4}\x01?(\x01[0-9a-f]{4})?ng \S|[0-9a-f]{4}\x03/);
  } else {
    expect(res.status, what).toBeGreaterThanOrEqual(400);
    expect(res.body.length, `${what}: ${res.text}`).toBeLessThan(300);
  }
}

const CAPS = 'report-status agent=test';
const SB_CAPS = 'report-status side-band-64k agent=test';

/** Pushes `pack` for one command as a hand-built request; the answer. */
function push(ref: string, newId: string, pack: Uint8Array, caps = CAPS, old = '0'.repeat(40)): Promise<HttpAnswer> {
  return postReceivePack(hub, 'bad', receivePackBody([{ old, new: newId, ref }], caps, pack));
}

/** A commit whose tree holds one file with `content`: its objects as pack entries and its id. */
function commitWith(content: Buffer, name = 'f.txt'): { entries: CraftEntry[]; commit: string; blob: string; tree: string } {
  const blob = objectId('blob', content);
  const treeBytes = rawTree([{ mode: '100644', name, id: blob }]);
  const tree = objectId('tree', treeBytes);
  const commitBytes = rawCommit(tree, [main], 'crafted');
  return { entries: [entry(OBJ.blob, content), entry(OBJ.tree, treeBytes), entry(OBJ.commit, commitBytes)], commit: objectId('commit', commitBytes), blob, tree };
}

describe('damaged packs', () => {
  it('a truncated pack: unpack error, ng for the ref (plain and side-band)', async () => {
    for (const cut of [nextPack.length - 1, Math.floor(nextPack.length / 2), 20, 8]) {
      for (const caps of [CAPS, SB_CAPS]) {
        const res = await push('refs/heads/main', next, nextPack.subarray(0, cut), caps, main);
        expectRefusal(res, `cut at ${cut}`);
        expect(res.text).toMatch(/unpack (?!ok)\S/);
        expect(res.text).toContain('ng refs/heads/main unpacker error');
      }
    }
    expectUnchanged();
  });

  it('a wrong trailer checksum, a bad signature, a bad version, a count larger than the entries', async () => {
    const flipped = Buffer.from(nextPack);
    flipped[flipped.length - 1] ^= 0xff;
    const sig = Buffer.from(nextPack);
    sig.write('PACX', 0, 'latin1');
    const ver = Buffer.from(nextPack);
    ver.writeUInt32BE(9, 4);
    const count = Buffer.from(nextPack);
    count.writeUInt32BE(count.readUInt32BE(8) + 5, 8);
    for (const [what, pack] of [['trailer', flipped], ['signature', sig], ['version', ver], ['count', count]] as const) {
      const res = await push('refs/heads/main', next, pack, CAPS, main);
      expectRefusal(res, what);
      expect(res.text, what).toContain('ng refs/heads/main unpacker error');
    }
    expectUnchanged();
  });

  it('a corrupt zlib stream under a correct trailer (bad block, bad adler32, longer or shorter than declared)', async () => {
    const content = Buffer.from('some file content that is long enough to deflate\n'.repeat(20));
    const { entries, commit } = commitWith(content);
    const z = Buffer.from(entries[0].zlib);
    const badBlock = Buffer.from(z);
    badBlock[2] = 0x07; // BFINAL=1, BTYPE=11: reserved
    const badAdler = Buffer.from(z);
    badAdler[badAdler.length - 1] ^= 0x55;
    const cases: [string, CraftEntry][] = [
      ['bad block type', { ...entries[0], zlib: badBlock }],
      ['bad adler32', { ...entries[0], zlib: badAdler }],
      ['inflates past its size', { ...entries[0], size: content.length - 10 }],
      ['inflates short of its size', { ...entries[0], size: content.length + 10 }],
      ['not zlib at all', { ...entries[0], zlib: Buffer.from('definitely not a zlib stream') }],
    ];
    for (const [what, bad] of cases) {
      const res = await push('refs/heads/zlib', commit, craftPack([bad, entries[1], entries[2]]));
      expectRefusal(res, what);
      expect(res.text, what).toContain('ng refs/heads/zlib unpacker error');
    }
    expectUnchanged();
  });

  it('objects git would not parse: trees with invalid entries, a commit without a tree, an unknown type', async () => {
    const blob = objectId('blob', Buffer.from('x\n'));
    const trees: [string, Buffer][] = [
      ['bad mode', rawTree([{ mode: '999999', name: 'f', id: blob }])],
      ['empty name', rawTree([{ mode: '100644', name: '', id: blob }])],
      ['slash in name', rawTree([{ mode: '100644', name: 'a/b', id: blob }])],
      ['short id', Buffer.concat([Buffer.from('100644 f\0'), Buffer.from(blob, 'hex').subarray(0, 12)])],
      ['mode with a letter', rawTree([{ mode: '10064x', name: 'f', id: blob }])],
      ['no NUL', Buffer.from('100644 f')],
    ];
    for (const [what, treeBytes] of trees) {
      const tree = objectId('tree', treeBytes);
      const commitBytes = rawCommit(tree, [main], what);
      const pack = craftPack([entry(OBJ.blob, Buffer.from('x\n')), entry(OBJ.tree, treeBytes), entry(OBJ.commit, commitBytes)]);
      const res = await push('refs/heads/badtree', objectId('commit', commitBytes), pack);
      expectRefusal(res, what);
      expect(res.text, what).toMatch(/ng refs\/heads\/badtree /);
    }
    const noTree = Buffer.from('author A <a@b> 1 +0000\ncommitter A <a@b> 1 +0000\n\nno tree\n');
    let res = await push('refs/heads/badtree', objectId('commit', noTree), craftPack([entry(OBJ.commit, noTree)]));
    expectRefusal(res, 'commit without tree');
    expect(res.text).toMatch(/ng refs\/heads\/badtree /);
    res = await push('refs/heads/badtree', main, craftPack([{ ...entry(OBJ.blob, Buffer.from('x')), type: 5 }]));
    expectRefusal(res, 'type 5');
    expect(res.text).toContain('ng refs/heads/badtree unpacker error');
    expectUnchanged();
  });

  it('an object whose id does not match: a tampered blob, a delta against the wrong base, a delta whose base is nowhere', async () => {
    const content = Buffer.from('the real content\n'.repeat(10));
    const { entries, commit } = commitWith(content);
    // The blob the tree names is replaced by another: its id differs, so the tree's entry is missing.
    const tampered = entry(OBJ.blob, Buffer.from('tampered content\n'.repeat(10)));
    let res = await push('refs/heads/tamper', commit, craftPack([tampered, entries[1], entries[2]]));
    expectRefusal(res, 'tampered blob');
    expect(res.text).toMatch(/ng refs\/heads\/tamper (missing necessary objects|unpacker error)/);

    // A REF_DELTA made for a base of one size, sent against a stored blob of another size.
    const storedBlob = ok(['rev-parse', `${main}:README.md`], work).trim();
    const storedSize = Number(ok(['cat-file', '-s', storedBlob], work).trim());
    const delta = appendDelta(storedSize + 7, Buffer.from('appended\n'));
    const wrongBase: CraftEntry = { type: OBJ.refDelta, size: delta.length, zlib: deflateSync(delta), baseId: storedBlob };
    res = await push('refs/heads/tamper', main, craftPack([wrongBase]));
    expectRefusal(res, 'delta against the wrong base');
    expect(res.text).toContain('ng refs/heads/tamper unpacker error');

    // A REF_DELTA against an object the hub does not have (and the pack does not carry).
    const nowhere: CraftEntry = { type: OBJ.refDelta, size: delta.length, zlib: deflateSync(delta), baseId: 'ab'.repeat(20) };
    res = await push('refs/heads/tamper', main, craftPack([nowhere]));
    expectRefusal(res, 'delta against a missing base');
    expect(res.text).toContain('ng refs/heads/tamper unpacker error');

    // A command naming an object that is neither sent nor stored.
    res = await push('refs/heads/tamper', 'cd'.repeat(20), packObjects(work, ''));
    expectRefusal(res, 'missing tip');
    expect(res.text).toContain('ng refs/heads/tamper missing necessary objects');
    expectUnchanged();
  });
});

describe('ref names git rejects', () => {
  it('are refused with ng ... funny refname (each one checked with git check-ref-format first)', async () => {
    const names = ['refs/heads/a..b', 'refs/heads/x.lock', 'refs/heads/a b', 'refs/heads/~x', 'refs/heads/a^b', 'refs/heads/a:b', 'refs/heads//x', 'refs/heads/x/', 'refs/heads/.hidden', 'refs/heads/a@{1}', 'refs/heads/x.', 'refs/heads/a\\b', 'refs/heads/a*b'];
    const empty = packObjects(work, '');
    for (const name of names) {
      expect(git(['check-ref-format', name]).status, name).not.toBe(0);
      const res = await push(name, main, empty);
      expectRefusal(res, name);
      expect(res.text, name).toContain(`ng ${name} funny refname`);
    }
    // Beside a valid ref in one non-atomic push: the valid one goes in, the funny one is refused.
    const res = await postReceivePack(
      hub,
      'bad',
      receivePackBody(
        [
          { old: '0'.repeat(40), new: main, ref: 'refs/heads/fine' },
          { old: '0'.repeat(40), new: main, ref: 'refs/heads/a..b' },
        ],
        CAPS,
        empty,
      ),
    );
    expect(res.text).toContain('ok refs/heads/fine');
    expect(res.text).toContain('ng refs/heads/a..b funny refname');
    expect(lsRemote(ok, hub, 'bad')).toEqual([...baseline, `${main}\trefs/heads/fine`].sort());
    const del = await push('refs/heads/fine', '0'.repeat(40), new Uint8Array(0), CAPS, main);
    expect(del.text).toContain('ok refs/heads/fine');
    expectUnchanged();
  });
});

/** POSTs `body` to a service endpoint of `repo` (with the writer's credentials). */
function post(service: string, body: Uint8Array, headers: Record<string, string> = {}, repo = 'bad'): Promise<HttpAnswer> {
  return http(`${hub.url}/${repo}.git/${service}`, {
    method: 'POST',
    headers: { authorization: writerAuth(), 'content-type': `application/x-${service}-request`, ...headers },
    body,
    timeoutMs: 20_000,
  });
}

describe('bad pkt-lines and garbage', () => {
  const badLines: [string, Buffer][] = [
    ['non-hex length', Buffer.from('zzzzwant x\n')],
    ['length 0001', Buffer.from('0001')],
    ['length 0003', Buffer.from('0003abc')],
    ['length past the body', Buffer.from('fff0want ')],
    ['length past PKT_MAX', Buffer.from('ffff' + 'a'.repeat(100))],
    ['a lone partial header', Buffer.from('00')],
  ];

  it('a pkt-line with a bad length to upload-pack (v0, v2) and receive-pack', async () => {
    for (const [what, body] of badLines) {
      expectRefusal(await post('git-upload-pack', body), `upload-pack v0: ${what}`);
      expectRefusal(await post('git-upload-pack', body, { 'git-protocol': 'version=2' }), `upload-pack v2: ${what}`);
      // Behind a valid first line too, where the engines are already parsing.
      const v2 = Buffer.concat([pkt('command=fetch\n'), pkt('agent=test\n'), Buffer.from('0001'), body]);
      expectRefusal(await post('git-upload-pack', v2, { 'git-protocol': 'version=2' }), `upload-pack v2 after command: ${what}`);
      expectRefusal(await post('git-receive-pack', body), `receive-pack: ${what}`);
      const rp = Buffer.concat([pkt(`${'0'.repeat(40)} ${main} refs/heads/x\0${CAPS}\n`), body]);
      expectRefusal(await post('git-receive-pack', rp), `receive-pack after a command: ${what}`);
    }
    expectUnchanged();
  });

  it('garbage bytes to every endpoint, plain, labelled gzip, and gzipped', async () => {
    const garbage = cryptoRandomBytes(4000);
    const variants: [string, Buffer, Record<string, string>][] = [
      ['plain', garbage, {}],
      ['labelled gzip but not gzip', garbage, { 'content-encoding': 'gzip' }],
      ['gzipped garbage', gzipSync(garbage), { 'content-encoding': 'gzip' }],
      ['truncated gzip', gzipSync(Buffer.concat([garbage, garbage])).subarray(0, 500), { 'content-encoding': 'gzip' }],
      ['unknown encoding', garbage, { 'content-encoding': 'br' }],
    ];
    for (const [what, body, headers] of variants) {
      expectRefusal(await post('git-upload-pack', body, headers), `upload-pack v0 ${what}`);
      expectRefusal(await post('git-upload-pack', body, { ...headers, 'git-protocol': 'version=2' }), `upload-pack v2 ${what}`);
      expectRefusal(await post('git-receive-pack', body, headers), `receive-pack ${what}`);
      for (const service of ['git-upload-pack', 'git-receive-pack']) {
        const res = await http(`${hub.url}/bad.git/info/refs?service=${service}`, { method: 'POST', headers: { authorization: writerAuth(), ...headers }, body, timeoutMs: 20_000 });
        expectRefusal(res, `POST info/refs ${service} ${what}`);
      }
    }
    // A wrong content type, and a GET to the POST endpoints.
    expectRefusal(await post('git-upload-pack', garbage, { 'content-type': 'application/octet-stream' }), 'wrong content type');
    expectRefusal(await http(`${hub.url}/bad.git/git-upload-pack`, { timeoutMs: 20_000 }), 'GET git-upload-pack');
    expectUnchanged();
  });

  it('odd service= values, no service, and unknown repositories', async () => {
    const get = (path: string, auth = false) => http(`${hub.url}${path}`, { headers: auth ? { authorization: writerAuth() } : {}, timeoutMs: 20_000 });
    for (const service of ['git-upload-archive', '', 'git-upload-pack%00', '..%2Fgit-receive-pack', 'x'.repeat(5000), '%ff%fe', 'git-upload-pack%0a']) {
      const res = await get(`/bad.git/info/refs?service=${service}`);
      expectRefusal(res, `service=${service.slice(0, 40)}`);
      expect(res.status, service.slice(0, 40)).not.toBe(200);
    }
    expect((await get('/bad.git/info/refs')).status).toBe(400);
    for (const path of ['/nope.git/info/refs?service=git-upload-pack', '/nope/info/refs?service=git-receive-pack', '/.bad.git/info/refs?service=git-upload-pack', '/a%2Fb.git/info/refs?service=git-upload-pack']) {
      const res = await get(path, true);
      expectRefusal(res, path);
      expect([401, 403, 404], path).toContain(res.status);
    }
    for (const service of ['git-upload-pack', 'git-receive-pack']) {
      const res = await post(service, Buffer.concat([pkt('command=ls-refs\n'), FLUSH]), {}, 'nope');
      expect([401, 403, 404], service).toContain(res.status);
    }
    // Anonymous, git gets the 401 of the access rules (existence is not revealed); signed in, a 404.
    const anon = git(['ls-remote', `${hub.url}/nope.git`]);
    expect(anon.status).not.toBe(0);
    expect(anon.stderr).toMatch(/could not read Username|Authentication failed/);
    const r = git(['ls-remote', writerUrl(hub, 'nope')]);
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(/not found/);
    expectUnchanged();
  });
});

describe('the push size cap (HUB_MAX_PUSH_BYTES)', () => {
  it('refuses a push over the cap with a clear message on git stderr; refs unchanged', () => {
    const big = join(home, 'big');
    ok(['clone', '-q', `${hub.url}/bad.git`, big]);
    writeFileSync(join(big, 'big.bin'), randomBytes(77, 2 * MAX_PUSH));
    ok(['add', '-A'], big);
    ok(['commit', '-q', '-m', 'too big'], big);
    const r = git(['push', writerUrl(hub, 'bad'), 'main'], big);
    expect(r.status).not.toBe(0);
    // As it is, not as a damaged pack entry ("entry at 155: ...").
    expect(r.stderr).toContain("error: remote unpack failed: push is larger than the hub's limit of 1 MiB");
    expectUnchanged();
  });

  it('refuses a hand-built body over the cap, gzipped or not', async () => {
    // A well-formed pack, over the cap by its one large blob.
    const pack = craftPack([entry(OBJ.blob, Buffer.from(randomBytes(5, 2 * MAX_PUSH)))]);
    const body = receivePackBody([{ old: main, new: next, ref: 'refs/heads/main' }], CAPS, pack);
    for (const [what, b, headers] of [['plain', body, {}], ['gzip', gzipSync(body), { 'content-encoding': 'gzip' }]] as const) {
      const res = await post('git-receive-pack', b, headers);
      expectRefusal(res, what);
      expect(res.text, what).toMatch(/limit/);
    }
    expectUnchanged();
  });
});

describe('after all that', () => {
  it('the genuine push goes through and a clone is complete and fsck-clean', () => {
    const r = git(['push', writerUrl(hub, 'bad'), 'main'], work);
    expect(r.status, r.stderr).toBe(0);
    const dst = join(home, 'final.git');
    ok(['clone', '-q', '--mirror', `${hub.url}/bad.git`, dst]);
    ok(['fsck', '--full', '--strict', '--no-dangling'], dst);
    expect(ok(['rev-parse', 'main'], dst).trim()).toBe(next);
    const expected = spawnSync('git', ['rev-list', '--objects', '--all'], { cwd: src, encoding: 'utf8' }).stdout.split('\n');
    const got = new Set(ok(['rev-list', '--objects', '--all'], dst).split('\n'));
    for (const l of expected) expect(got.has(l), l).toBe(true);
  });
});
