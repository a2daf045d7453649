/** pkt-line and side-band against the raw bytes of real git 2.39 exchanges. */
import { describe, expect, it } from 'vitest';
import { ByteReader, fromBytes } from '../../../../shared/core/stream.js';
import { decodePkt, encodePkt, encodePkts, readPkt, type Pkt } from '../../../../shared/protocols/git/pkt-line.js';
import { decodeSideband, encodeSideband } from '../../../../shared/protocols/git/sideband.js';
import { exchanges, find } from './http-transcript.js';

function decodeAll(body: Uint8Array): Pkt[] {
  const out: Pkt[] = [];
  for (let at = 0; at < body.length; ) {
    const s = decodePkt(body, at);
    if (s.kind === 'need') throw new Error(`body ends inside a pkt-line at ${at}`);
    const { consumed, ...p } = s;
    out.push(p as Pkt);
    at += consumed;
  }
  return out;
}

describe('pkt-line on recorded git traffic', () => {
  const captures = ['g-clone-v0', 'g-clone-v2', 'g-fetch-v0', 'g-fetch-v2', 'g-shallow-v2', 'g-filter-v2', 'g-empty-repo'];

  it('every upload-pack response body decodes and re-encodes byte for byte', () => {
    let bodies = 0;
    for (const c of captures) {
      for (const e of exchanges(c)) {
        if (!/x-git-upload-pack-(advertisement|result)/.test(e.response.headers.get('content-type') ?? '')) continue;
        const body = e.response.body;
        expect(encodePkts(decodeAll(body))).toEqual(body);
        bodies++;
      }
    }
    expect(bodies).toBeGreaterThan(10);
  });

  it('a clone response demultiplexes to a pack, and each side-band packet re-encodes identically', () => {
    const [e] = find('g-clone-v0', 'POST /');
    const pkts = decodeAll(e.response.body);
    const packParts: number[] = [];
    let sideband = 0;
    for (const p of pkts) {
      if (p.kind !== 'data' || p.payload[0] > 3) continue; // NAK and friends are text
      const { band, data } = decodeSideband(p.payload);
      expect(encodeSideband(band, data)).toEqual([encodePkt(p.payload)]);
      if (band === 1) packParts.push(...data);
      sideband++;
    }
    expect(sideband).toBeGreaterThan(0);
    expect(String.fromCharCode(...packParts.slice(0, 4))).toBe('PACK');
  });

  it('a push request: commands as pkt-lines, then the raw pack after the flush', async () => {
    const [e] = find('g-push', 'POST /');
    const reader = new ByteReader(fromBytes(e.request.body, 7));
    const lines: Pkt[] = [];
    for (;;) {
      const p = await readPkt(reader);
      if (!p || p.kind === 'flush') break;
      lines.push(p);
    }
    expect(lines.length).toBeGreaterThan(0);
    expect(new TextDecoder().decode((await reader.readExactly(4)).slice())).toBe('PACK');
  });
});
