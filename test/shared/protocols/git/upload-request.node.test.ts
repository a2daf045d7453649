// Replays every upload-pack POST git 2.39 sent in the captures through the
// parsers, the negotiation and the shallow computation, and checks that what we
// would answer before the pack is byte-identical to what http-backend answered.
import { readdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { CommitGraph } from '../../../../shared/core/history.js';
import type { AdvertisedRef, HeadState } from '../../../../shared/protocols/git/advertisement.js';
import { DEFAULT_UPLOAD_FEATURES, type Pkt } from '../../../../shared/protocols/git/capabilities.js';
import { lsRefsResponse } from '../../../../shared/protocols/git/ls-refs.js';
import { negotiateV0, negotiateV2, type HaveOracle } from '../../../../shared/protocols/git/negotiation.js';
import { encodePkts as pktBytes } from '../../../../shared/protocols/git/pkt-line.js';
import { computeShallow, shallowInfoSection, shallowLinesV0 } from '../../../../shared/protocols/git/shallow.js';
import { parseUploadRequestV0, parseV2Request } from '../../../../shared/protocols/git/upload-request.js';
import { RAW, exchanges, splitPkts } from './http-transcript.js';

const features = { ...DEFAULT_UPLOAD_FEATURES, agent: 'git/2.39.5' };
const text = (p: Uint8Array) => Buffer.from(p).toString('utf8');
const hex = (pkts: Pkt[]) => Buffer.from(pktBytes(pkts)).toString('latin1');

// The demo repository's first-parent chain, from the decoded packs.
const CHAIN = [
  '3c0dacf49a0a01df08b79e3a1cf8909a07063c50',
  '3a0ac65bf574601d46448c4db81279027d01411d',
  '2f8ad401474ce972afea4a89d4e36b4b93f13cd7',
  '63ab5b5e4f1f2aca84a2786db5f77a1b38e5fbf0',
  'c8225090ae38168ea102082bc7f60ccb083ac5a4',
];
const graph: CommitGraph = {
  async commit(id) {
    const i = CHAIN.indexOf(id);
    return i < 0 ? null : { parents: CHAIN.slice(i + 1, i + 2), time: 1000 - i };
  },
};

/** An oracle that knows exactly the haves http-backend acknowledged, and is "covered" once it said ready. */
function oracleFrom(responseText: string): HaveOracle {
  const acked = new Set([...responseText.matchAll(/ACK ([0-9a-f]{40})(?: common)?\n/g)].map((m) => m[1]));
  const ready = /ready\n/.test(responseText);
  return { has: (id) => acked.has(id), covered: () => ready };
}

/** The response's pkts before the pack (band-1 data) starts. */
function beforePack(body: Uint8Array): Pkt[] {
  const out: Pkt[] = [];
  for (const p of splitPkts(body).pkts) {
    if (p.kind === 'data' && (p.payload[0] === 1 || text(p.payload) === 'packfile\n')) break;
    out.push(p);
  }
  return out;
}

describe('upload-pack requests from the captures', () => {
  const captures = readdirSync(RAW).filter((d) => d.startsWith('g-'));
  let v0 = 0;
  let v2 = 0;
  for (const capture of captures) {
    for (const [n, { request, response }] of exchanges(capture).entries()) {
      if (!request.startLine.startsWith('POST') || !request.startLine.includes('git-upload-pack')) continue;
      const name = `${capture} #${n}`;
      const pkts = splitPkts(request.body).pkts;
      const answered = text(response.body);
      if (request.headers.get('git-protocol') !== 'version=2') {
        v0++;
        it(`${name} (v0)`, async () => {
          const req = parseUploadRequestV0(pkts, features);
          expect(req.wants.size).toBeGreaterThan(0);
          expect(req.caps.value('agent')).toBe('git/2.39.5');
          const info = await computeShallow(graph, { ...req, wants: [...req.wants], deepenNot: [] });
          const decision = await negotiateV0(req, oracleFrom(answered));
          const ours = [...shallowLinesV0(req, info), ...decision.lines];
          expect(hex(ours)).toBe(hex(beforePack(response.body)));
          expect(decision.sendPack).toBe(answered.includes('\x01PACK'));
        });
      } else {
        v2++;
        it(`${name} (v2)`, async () => {
          const req = parseV2Request(pkts, features);
          expect(req.command).not.toBeNull();
          if (req.command === 'ls-refs') {
            // Rebuild the refs from the answer (HEAD included only if it was listed) and re-encode.
            const refs: AdvertisedRef[] = [];
            let head: HeadState | null = { target: 'refs/heads/main', id: null };
            for (const p of splitPkts(response.body).pkts) {
              if (p.kind !== 'data') continue;
              const [id, name, ...attrs] = text(p.payload).trimEnd().split(' ');
              const peeled = attrs.find((a) => a.startsWith('peeled:'))?.slice(7);
              if (name === 'HEAD') head = { target: 'refs/heads/main', id: id === 'unborn' ? null : id };
              else refs.push({ name, id, ...(peeled ? { peeled } : {}) });
            }
            if (!req.args.prefixes?.includes('HEAD') && req.args.prefixes !== null) head = { target: 'refs/heads/main', id: refs[0]?.id ?? null };
            expect(hex(lsRefsResponse(refs, head, req.args))).toBe(hex(splitPkts(response.body).pkts));
          } else if (req.command === 'fetch') {
            const a = req.args;
            const decision = await negotiateV2(a, oracleFrom(answered));
            const info = await computeShallow(graph, { ...a, wants: [...a.wants], deepenNot: [] });
            const ours = [...decision.section, ...(decision.sendPack ? shallowInfoSection(a, info) : [])];
            expect(hex(ours)).toBe(hex(beforePack(response.body)));
            expect(decision.sendPack).toBe(answered.includes('packfile\n'));
          }
        });
      }
    }
  }
  it('covers both versions', () => {
    expect(v0).toBeGreaterThan(5);
    expect(v2).toBeGreaterThan(5);
  });
});
