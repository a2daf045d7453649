// receive-pack head parser: grammar, incremental need, bounds and refusals.
import { describe, expect, it } from 'vitest';
import { DEFAULT_RECEIVE_FEATURES, ProtocolError, ZERO_ID } from '../../../../shared/protocols/git/capabilities.js';
import { encodePkt, FLUSH_PKT } from '../../../../shared/protocols/git/pkt-line.js';
import { parseReceiveRequest } from '../../../../shared/protocols/git/receive-request.js';

const [A, B, S] = ['a', 'b', 'c'].map((c) => c.repeat(40));
const cat = (...parts: (Uint8Array | string)[]) => {
  const bs = parts.map((p) => (typeof p === 'string' ? new TextEncoder().encode(p) : p));
  const out = new Uint8Array(bs.reduce((n, b) => n + b.length, 0));
  let at = 0;
  for (const b of bs) out.set(b, (at += b.length) - b.length);
  return out;
};
const F = DEFAULT_RECEIVE_FEATURES;
const code = (f: () => unknown) => {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(ProtocolError);
    return (e as ProtocolError).code;
  }
  return 'accepted';
};

describe('parseReceiveRequest', () => {
  const body = cat(
    encodePkt(`shallow ${S}`),
    encodePkt(`${ZERO_ID} ${A} refs/heads/new\0 report-status side-band-64k atomic push-options agent=git/2.39.5`),
    encodePkt(`${A} ${B} refs/heads/main\n`),
    FLUSH_PKT,
    encodePkt('ci.skip'),
    FLUSH_PKT,
    'PACK....',
  );

  it('parses shallow lines, commands, capabilities and push options, and finds the pack', () => {
    const r = parseReceiveRequest(body, F);
    if (r.kind !== 'done') throw new Error('need');
    expect(r.request).toMatchObject({
      shallows: [S],
      commands: [{ oldId: ZERO_ID, newId: A, ref: 'refs/heads/new' }, { oldId: A, newId: B, ref: 'refs/heads/main' }],
      report: 'report-status', sideBand: true, quiet: false, atomic: true, pushOptions: ['ci.skip'], packExpected: true,
    });
    expect(new TextDecoder().decode(body.subarray(r.packOffset))).toBe('PACK....');
  });

  it('asks for exactly the missing bytes of the current packet', () => {
    expect(parseReceiveRequest(body.subarray(0, 2), F)).toEqual({ kind: 'need', bytes: 2 });
    expect(parseReceiveRequest(body.subarray(0, 10), F)).toEqual({ kind: 'need', bytes: 0x34 - 10 });
    expect(code(() => parseReceiveRequest(body.subarray(0, 10), F, true))).toBe('truncated');
  });

  it('a delete-only push expects no pack; the 0000 probe has no command', () => {
    const del = parseReceiveRequest(cat(encodePkt(`${A} ${ZERO_ID} refs/heads/x\0 report-status-v2`), FLUSH_PKT), F, true);
    expect(del).toMatchObject({ kind: 'done', request: { packExpected: false, report: 'report-status-v2' } });
    expect(parseReceiveRequest(FLUSH_PKT, F, true)).toMatchObject({ kind: 'done', request: { commands: [] }, packOffset: 4 });
  });

  it('refuses malformed heads', () => {
    const one = (line: string) => parseReceiveRequest(cat(encodePkt(line), FLUSH_PKT), F, true);
    expect(code(() => one(`${A} ${B}`))).toBe('bad-command');
    expect(code(() => one(`${A.toUpperCase()} ${B} refs/heads/x`))).toBe('bad-command');
    expect(code(() => one(`${A}  ${B} refs/heads/x`))).toBe('bad-command');
    expect(code(() => one(`${A} ${B} refs/heads/x\0 object-format=sha256`))).toBe('object-format');
    expect(code(() => one('push-cert\0 report-status'))).toBe('unsupported');
    expect(code(() => parseReceiveRequest(cat(encodePkt(`${A} ${B} r\0 x`), encodePkt(`${A} ${B} s\0 y`), FLUSH_PKT), F))).toBe('bad-line');
    expect(code(() => parseReceiveRequest(cat(encodePkt(`${A} ${B} r\0 atomic`), FLUSH_PKT), { ...F, atomic: false }))).toBe('unsupported');
    expect(code(() => parseReceiveRequest(cat(encodePkt(`${A} ${B} r`), new TextEncoder().encode('0001')), F))).toBe('unexpected-packet');
    expect(code(() => parseReceiveRequest(new TextEncoder().encode('zzzz'), F))).toBe('bad-pkt-line');
  });
});
