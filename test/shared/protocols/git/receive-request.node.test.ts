// Every push body git 2.39 sent in the captures parses, the pack starts exactly
// at packOffset (or there is none, for a delete-only push), and the report we
// would send for the same outcome is byte-identical to http-backend's.
import { readdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { DEFAULT_RECEIVE_FEATURES, ZERO_ID } from '../../../../shared/protocols/git/capabilities.js';
import { parseReceiveRequest } from '../../../../shared/protocols/git/receive-request.js';
import { encodePkts as pktBytes } from '../../../../shared/protocols/git/pkt-line.js';
import { reportStatusResponse, type PushReport } from '../../../../shared/protocols/git/report-status.js';
import { RAW, exchanges, splitPkts } from './http-transcript.js';

const text = (p: Uint8Array) => Buffer.from(p).toString('latin1');

describe('receive-pack requests from the captures', () => {
  const pushes = readdirSync(RAW)
    .filter((d) => d.startsWith('g-'))
    .flatMap((capture) => exchanges(capture).map((e) => ({ capture, ...e })))
    .filter((e) => e.request.startLine.startsWith('POST') && e.request.startLine.includes('git-receive-pack'));

  it('found the pushes', () => expect(pushes.length).toBeGreaterThan(5));

  for (const [n, { capture, request, response }] of pushes.entries()) {
    it(`${capture} #${n}`, () => {
      const body = request.body;
      const parsed = parseReceiveRequest(body, DEFAULT_RECEIVE_FEATURES, true);
      if (parsed.kind !== 'done') throw new Error('need');
      const req = parsed.request;
      expect(req.commands.length).toBeGreaterThan(0);
      expect(req.report).toBe('report-status-v2');
      expect(req.sideBand).toBe(true);
      expect(req.quiet).toBe(true);
      if (req.packExpected) expect(text(body.subarray(parsed.packOffset, parsed.packOffset + 4))).toBe('PACK');
      else expect(parsed.packOffset).toBe(body.length);
      if (capture === 'g-push-atomic-options-delete') {
        expect(req.atomic).toBe(true);
        expect(req.pushOptions).toEqual(['ci.skip', 'reviewer=bob']);
        expect(req.commands[0].newId).toBe(ZERO_ID);
      } else expect(req.pushOptions).toBeNull();

      // Every prefix of the head asks for more bytes, never fails.
      for (let cut = 0; cut < parsed.packOffset; cut += 7) {
        const partial = parseReceiveRequest(body.subarray(0, cut), DEFAULT_RECEIVE_FEATURES);
        expect(partial.kind).toBe('need');
      }

      // The report: rebuild the outcome from http-backend's band-1 lines, re-encode, compare.
      const outer = splitPkts(response.body).pkts;
      const band1 = outer.filter((p) => p.kind === 'data' && p.payload[0] === 1);
      const inner = splitPkts(Buffer.concat(band1.map((p) => (p.kind === 'data' ? p.payload.subarray(1) : new Uint8Array())))).pkts;
      const lines = inner.flatMap((p) => (p.kind === 'data' ? [text(p.payload).replace(/\n$/, '')] : []));
      const report: PushReport = { unpack: { ok: true }, refs: [] };
      expect(lines[0]).toBe('unpack ok');
      for (const l of lines.slice(1)) {
        const [status, ref, ...reason] = l.split(' ');
        report.refs.push(status === 'ok' ? { ref, ok: true } : { ref, ok: false, reason: reason.join(' ') });
      }
      expect(report.refs.map((r) => r.ref)).toEqual(req.commands.map((c) => c.ref));
      const ours = reportStatusResponse(report, { sideBand: true, v2: true });
      expect(text(pktBytes(ours))).toBe(text(pktBytes([...band1, { kind: 'flush' }])));
    });
  }
});
