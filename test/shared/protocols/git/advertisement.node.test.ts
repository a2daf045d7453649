// Advertisements rebuilt from the refs http-backend advertised in every capture
// must be byte-identical to what it sent (v0 upload-pack and receive-pack, the
// empty-repository forms, and the v2 capability advertisement).
import { readdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  receivePackAdvertisement,
  textPkts,
  uploadPackV0Advertisement,
  uploadPackV2Advertisement,
  type AdvertisedRef,
  type HeadState,
} from '../../../../shared/protocols/git/advertisement.js';
import { DEFAULT_RECEIVE_FEATURES, DEFAULT_UPLOAD_FEATURES, textPkt } from '../../../../shared/protocols/git/capabilities.js';
import { encodePkts as pktBytes } from '../../../../shared/protocols/git/pkt-line.js';
import { RAW, exchanges, splitPkts } from './http-transcript.js';

const captures = readdirSync(RAW).filter((d) => d.startsWith('g-'));
const text = (p: Uint8Array) => Buffer.from(p).toString('utf8');

/** Refs, HEAD and capabilities read back from a v0 advertisement. */
function readV0(body: Uint8Array) {
  const { pkts } = splitPkts(body);
  const refs: AdvertisedRef[] = [];
  let head: HeadState | null = null;
  let caps: string[] = [];
  for (const p of pkts.slice(2)) {
    if (p.kind !== 'data') continue;
    let line = text(p.payload).replace(/\n$/, '');
    const nul = line.indexOf('\0');
    if (nul >= 0) {
      caps = line.slice(nul + 1).split(' ');
      line = line.slice(0, nul);
    }
    const [id, name] = line.split(' ');
    if (name === 'HEAD') head = { id, target: null };
    else if (name.endsWith('^{}') && name !== 'capabilities^{}') refs[refs.length - 1].peeled = id;
    else if (name !== 'capabilities^{}') refs.push({ name, id });
  }
  const symref = caps.find((c) => c.startsWith('symref=HEAD:'));
  if (head && symref) head.target = symref.slice('symref=HEAD:'.length);
  return { refs, head, caps };
}

describe('advertisements match http-backend byte for byte', () => {
  let v0Upload = 0;
  let v0Receive = 0;
  let v2 = 0;
  for (const capture of captures) {
    for (const { request, response } of exchanges(capture)) {
      if (!request.startLine.startsWith('GET ') || !response.startLine.includes(' 200 ')) continue;
      const v2Header = request.headers.get('git-protocol') === 'version=2';
      const name = `${capture}: ${request.startLine.split(' ')[1]}${v2Header ? ' (v2)' : ''}`;
      if (request.startLine.includes('service=git-upload-pack') && !v2Header) {
        v0Upload++;
        it(name, () => {
          const { refs, head, caps } = readV0(response.body);
          const features = { ...DEFAULT_UPLOAD_FEATURES, agent: 'git/2.39.5', filter: caps.includes('filter') || refs.length === 0 };
          // Refs given out of order: the encoder sorts them.
          expect(text(pktBytes(uploadPackV0Advertisement([...refs].reverse(), head, features)))).toBe(text(response.body));
        });
      } else if (request.startLine.includes('service=git-upload-pack')) {
        v2++;
        it(name, () => {
          const filter = text(response.body).includes('fetch=shallow wait-for-done filter');
          const features = { ...DEFAULT_UPLOAD_FEATURES, agent: 'git/2.39.5', filter };
          expect(text(pktBytes(uploadPackV2Advertisement(features)))).toBe(text(response.body));
        });
      } else {
        v0Receive++;
        it(name, () => {
          const { refs, caps } = readV0(response.body);
          const features = { ...DEFAULT_RECEIVE_FEATURES, agent: 'git/2.39.5', pushOptions: caps.includes('push-options') };
          expect(text(pktBytes(receivePackAdvertisement(refs, features)))).toBe(text(response.body));
        });
      }
    }
  }
  it('covers every kind', () => {
    expect(v0Upload).toBeGreaterThan(5);
    expect(v0Receive).toBeGreaterThan(5);
    expect(v2).toBeGreaterThan(3);
  });

  it('empty repository forms', () => {
    const [up, v2e, , recv] = exchanges('g-empty-repo').filter((e) => e.request.startLine.startsWith('GET'));
    const f = { ...DEFAULT_UPLOAD_FEATURES, agent: 'git/2.39.5' };
    expect(text(pktBytes(uploadPackV0Advertisement([], { target: 'refs/heads/main', id: null }, f)))).toBe(text(up.response.body));
    expect(text(pktBytes(uploadPackV2Advertisement({ ...f, filter: false })))).toBe(text(v2e.response.body));
    const r = { ...DEFAULT_RECEIVE_FEATURES, agent: 'git/2.39.5', pushOptions: false };
    expect(text(pktBytes(receivePackAdvertisement([], r)))).toBe(text(recv.response.body));
  });
});

describe('textPkts', () => {
  it('gives each line its own bytes, from one encoding when all are ASCII and line by line when not', () => {
    for (const lines of [['a\n', 'bc\n', '', 'def\n'], ['a\n', 'ünï\n', 'b\u{1F600}\n', 'c\n']]) {
      const pkts = textPkts(lines);
      expect(pkts.map((p) => (p.kind === 'data' ? text(p.payload) : p.kind))).toEqual(lines);
      expect(pktBytes(pkts)).toEqual(pktBytes(lines.map(textPkt)));
    }
  });
});
