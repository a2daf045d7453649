// Garbage to every endpoint the hub serves, git's, fossil's and the API's:
// each method, with bodies a broken client or a scanner sends (random bytes,
// truncated or mislabelled gzip, truncated JSON, fossil and git framing on the
// wrong endpoint) under each content type the routes dispatch on, and paths
// with bytes that are not UTF-8 once percent-decoded, NULs, dot segments and
// very long names. Every answer must be below 500 (a protocol error or a 4xx),
// the Worker must log no exception, and nothing stored may change.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { deflateSync, gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { artifactHashes, check, runFossil } from './fossil-client.js';
import { apiOk, gitIn, http, lsRemote, setupRepos, writerAuth, writerUrl } from './hub-client.js';
import { startHub, type Hub } from './hub-server.js';

let hub: Hub;
let home: string;
let ok: ReturnType<typeof gitIn>['ok'];

/** What the hub holds, read through its own interfaces: refs, the fossil repository's artifacts, the API's view. */
async function snapshot(): Promise<unknown> {
  const clone = join(home, `snap-${Date.now()}.fossil`);
  check(runFossil(home, ['clone', `${hub.url}/fsl`, clone]), 'fossil clone');
  return {
    refs: lsRemote(ok, hub, 'g'),
    artifacts: artifactHashes(home, clone),
    repos: (await apiOk(hub, 'GET', '/repos')).text,
    user: (await apiOk(hub, 'GET', '/users/wendy')).text,
    members: (await apiOk(hub, 'GET', '/repos/g/members')).text,
  };
}

beforeAll(async () => {
  home = mkdtempSync(join(tmpdir(), 'qa-garbage-'));
  ({ ok } = gitIn(home));
  hub = await startHub();
  await setupRepos(hub, ['g']);
  await apiOk(hub, 'POST', '/repos', { name: 'fsl', kind: 'fossil', public: true });
  await apiOk(hub, 'PUT', '/repos/fsl/members/wendy', { role: 'write' });
  const work = join(home, 'work');
  ok(['init', '-q', '-b', 'main', work]);
  ok(['commit', '-q', '--allow-empty', '-m', 'one'], work);
  ok(['push', '-q', writerUrl(hub, 'g'), 'main'], work);
}, 120_000);

afterAll(async () => {
  await hub?.stop();
  if (home) rmSync(home, { recursive: true, force: true });
});

describe('garbage to every endpoint', () => {
  it('never a 5xx or a logged exception, whatever the path, method, content type or body; nothing stored changes', async () => {
    const before = await snapshot();
    const junk = randomBytes(3000);
    const bodies: [string, Buffer | undefined, Record<string, string>][] = [
      ['none', undefined, {}],
      ['random', junk, {}],
      ['truncated gzip', gzipSync(junk).subarray(0, 200), { 'content-encoding': 'gzip' }],
      ['labelled gzip', junk, { 'content-encoding': 'gzip' }],
      ['truncated JSON', Buffer.from('{"name":"x","kind":'), { 'content-type': 'application/json' }],
      ['JSON nested deep', Buffer.from('['.repeat(50_000)), { 'content-type': 'application/json' }],
      ['git pkt-lines', Buffer.from('0014command=ls-refs\n0001000dref-prefix0000'), { 'content-type': 'application/x-git-upload-pack-request', 'git-protocol': 'version=2' }],
      ['fossil, bad zlib', Buffer.concat([Buffer.from([0, 0, 0, 50]), junk.subarray(0, 50)]), { 'content-type': 'application/x-fossil' }],
      ['fossil, huge declared size', Buffer.concat([Buffer.from([0xff, 0xff, 0xff, 0xff]), deflateSync('pull x y\n')]), { 'content-type': 'application/x-fossil' }],
      ['fossil, plain cards', Buffer.from('login wendy 0 0\npull a b\nfile\n'), { 'content-type': 'application/x-fossil-uncompressed' }],
      ['form', Buffer.from('a=b&c'), { 'content-type': 'multipart/form-data; boundary=x' }],
    ];
    const long = 'a'.repeat(6000);
    const paths = [
      '/', '/healthz', '/g.git/info/refs', '/g.git/info/refs?service=git-upload-pack', '/g.git/info/refs?service=git-receive-pack',
      '/g.git/git-upload-pack', '/g.git/git-receive-pack', '/g.git/HEAD', '/g/git-upload-pack', '/fsl', '/fsl/xfer', '/fsl/timeline',
      '/nope', '/nope.git/git-upload-pack', `/${long}`, `/${long}.git/info/refs?service=git-upload-pack`, `/g.git/info/refs?service=${long}`,
      // Not UTF-8 once decoded (decodeURIComponent throws on these), NUL, dot segments, an encoded slash.
      '/%ff', '/%ff/xfer', '/%ff.git/info/refs?service=git-upload-pack', '/%c3%28.git/git-upload-pack', '/fsl%00', '/%2e%2e/fsl', '/g.git/..%2f..%2ffsl', '/a%2Fb',
      '/api', '/api/repos', '/api/repos/g', '/api/repos/%ff', `/api/repos/${long}`, '/api/repos/g/members/%ff', '/api/repos/g/protections/%ff%fe',
      '/api/repos/g/events?limit=-1&before=x', '/api/users', '/api/users/wendy/password', '/api/users/%00/tokens', '/api/users/wendy/tokens/99999999999999999999', '/api/openapi.json',
    ];
    const bad: string[] = [];
    let sent = 0;
    for (const path of paths) {
      for (const method of ['GET', 'POST', 'PUT', 'DELETE']) {
        for (const [what, body, headers] of bodies) {
          if (method === 'GET' && body) continue;
          // A writer may delete their own account: DELETE goes anonymous (refused), so nothing changes.
          const auth: Record<string, string> = method === 'DELETE' ? {} : { authorization: writerAuth() };
          const res = await http(`${hub.url}${path}`, { method, headers: { ...headers, ...auth }, body, timeoutMs: 30_000 });
          sent++;
          if (res.status >= 500) bad.push(`${res.status} ${method} ${path.slice(0, 60)} (${what}): ${res.text.slice(0, 80)}`);
        }
      }
    }
    // Authorization headers that are not what they claim to be.
    for (const authorization of ['Basic %%%', `Basic ${Buffer.from([0xff, 0xfe, 0x3a, 0x80]).toString('base64')}`, `Basic ${Buffer.from('wendy').toString('base64')}`, `Bearer ${long}`, 'Digest x']) {
      for (const path of ['/g.git/info/refs?service=git-receive-pack', '/api/repos', '/api/users/wendy']) {
        const res = await http(`${hub.url}${path}`, { headers: { authorization }, timeoutMs: 30_000 });
        sent++;
        if (res.status >= 500) bad.push(`${res.status} GET ${path} (authorization ${authorization.slice(0, 20)}): ${res.text.slice(0, 80)}`);
      }
    }
    expect(bad, `${bad.length} of ${sent} requests answered 5xx`).toEqual([]);
    expect(hub.log()).not.toMatch(/Error|Uncaught|exception/i);
    expect(await snapshot()).toEqual(before);
  }, 300_000);
});
