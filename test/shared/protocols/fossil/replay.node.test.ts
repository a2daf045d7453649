// Replays requests the real fossil 2.21 client sent to `fossil server`
// (docs/transcripts/raw/f-*) through xfer(): the login signatures made for the
// capture's project code verify, compressed bodies decode, and the answers
// make sense for this repository's state.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { fromHex } from '../../../../shared/core/bytes.js';
import { harness, type Harness } from './xfer-helpers.js';

const RAW = '/work/shared/docs/transcripts/raw';
const PROJECT = '8de922cf27c9a3bbcc7b751f33d292101fda8baa';
const SERVER = 'a16f82d9b83a901383b21f5cde2755bda9534917';

function request(capture: string, conn: number): { contentType: string; body: Uint8Array } {
  const bytes = readFileSync(join(RAW, capture, `conn-${String(conn).padStart(3, '0')}.c2s`));
  const end = bytes.indexOf('\r\n\r\n');
  const head = bytes.subarray(0, end).toString('latin1');
  const contentType = /content-type: *([^\r\n]+)/i.exec(head)![1];
  return { contentType, body: new Uint8Array(bytes.subarray(end + 4)) };
}

/** A repository with the capture's project and server codes. */
async function captureRepo(): Promise<Harness> {
  const codes = [fromHex(PROJECT), fromHex(SERVER)];
  return harness({ randomBytes: () => codes.shift()! });
}

describe('replayed fossil 2.21 requests', () => {
  it('uv sync: the real login verifies, the catalogue is offered for push, the uploaded file is stored', async () => {
    const h = await captureRepo();
    const r1 = await h.send(request('f-uv-sync2', 1).body, { raw: true, contentType: request('f-uv-sync2', 1).contentType });
    expect(r1.lines).toEqual(['pragma server-version 22100 20230226 192424', 'pragma uv-push-ok']);
    const r2 = await h.send(request('f-uv-sync2', 2).body, { raw: true, contentType: 'application/x-fossil' });
    expect(r2.lines.filter((l) => l.startsWith('error'))).toEqual([]);
    const e = await h.store.getUnversioned('client-uv.txt');
    expect(e).toMatchObject({ mtime: 1795287485, hash: '755447d3f096755d09073adf9b4ed4f3d885c2c21a4465054cc40a877859106c', size: 22 });
  });

  it('push: login verifies, the new check-in waits for its parent (pending), which is gimme\'d', async () => {
    const h = await captureRepo();
    const req = request('f-push', 1);
    const r = await h.send(req.body, { raw: true, contentType: req.contentType });
    expect(r.lines.filter((l) => l.startsWith('error'))).toEqual([]);
    const gimmes = r.lines.filter((l) => l.startsWith('gimme '));
    expect(gimmes.length).toBeGreaterThan(0);
    expect(await h.store.count()).toBeGreaterThan(1);
  });

  it('clone round 1 and a pull from the captures are answered without errors', async () => {
    const h = await captureRepo();
    const c = request('f-clone-login', 1);
    const r = await h.send(c.body, { raw: true, contentType: c.contentType });
    expect(r.contentType).toBe('application/x-fossil-uncompressed');
    expect(r.lines.slice(-2)).toEqual(['clone_seqno 0', `push ${SERVER} ${PROJECT}`]);
    const pull = request('f-pull', 1);
    const r2 = await h.send(pull.body, { raw: true, contentType: pull.contentType });
    expect(r2.lines.filter((l) => l.startsWith('error'))).toEqual([]);
    expect(r2.lines.filter((l) => l.startsWith('igot '))).toHaveLength(1);
  });

  it('a replayed request with one byte changed fails the login', async () => {
    const h = await captureRepo();
    const req = request('f-uv-sync2', 1);
    const { p } = await import('./xfer-helpers.js');
    const n = new DataView(req.body.buffer, req.body.byteOffset, 4).getUint32(0);
    const text = p.zlib.inflate(req.body.subarray(4), n).slice();
    text[text.length - 3] ^= 1; // inside the random comment after the login card
    const r = await h.send(text, { raw: true, contentType: 'application/x-fossil-uncompressed' });
    expect(r.lines).toEqual(['error login\\sfailed']);
  });
});
