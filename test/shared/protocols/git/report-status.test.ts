// report-status / report-status-v2 encoding, plain and inside side-band-64k.
import { describe, expect, it } from 'vitest';
import { encodePkts } from '../../../../shared/protocols/git/pkt-line.js';
import { refNameBytes, refNameFromBytes, refNameIsUtf8 } from '../../../../shared/protocols/git/ref-name.js';
import { SIDEBAND_64K_DATA, reportStatusLines, reportStatusResponse } from '../../../../shared/protocols/git/report-status.js';

const td = new TextDecoder();
const A = 'a'.repeat(40);

describe('report-status', () => {
  const report = {
    unpack: { ok: true } as const,
    refs: [
      { ref: 'refs/heads/topic', ok: true as const, options: { forcedUpdate: true, oldId: A } },
      { ref: 'refs/heads/protected', ok: false as const, reason: 'hook\ndeclined' },
    ],
  };

  it('plain report: lines then flush, options only in v2, reasons on one line', () => {
    expect(td.decode(encodePkts(reportStatusResponse(report, { sideBand: false, v2: false })))).toBe(
      '000eunpack ok\n0018ok refs/heads/topic\n002ang refs/heads/protected hook declined\n0000',
    );
    expect(td.decode(encodePkts(reportStatusLines(report, true)))).toContain(`option old-oid ${A}\n0019option forced-update\n`);
  });

  it('side-band: the report is band-1 payload, then an outer flush', () => {
    const out = reportStatusResponse({ unpack: { ok: false, error: 'index-pack failed' }, refs: [{ ref: 'refs/heads/x', ok: false, reason: 'unpacker error' }] }, { sideBand: true, v2: false });
    expect(td.decode(encodePkts(out))).toBe(`0049\x01001dunpack index-pack failed\n0023ng refs/heads/x unpacker error\n00000000`);
  });

  it('splits a large report across band-1 packets', () => {
    const refs = Array.from({ length: 3000 }, (_, i) => ({ ref: `refs/heads/branch-number-${i}`, ok: true as const }));
    const out = reportStatusResponse({ unpack: { ok: true }, refs }, { sideBand: true, v2: true });
    const data = out.filter((p) => p.kind === 'data');
    expect(data.length).toBeGreaterThan(1);
    for (const p of data) if (p.kind === 'data') expect(p.payload.length).toBeLessThanOrEqual(SIDEBAND_64K_DATA + 1);
    const inner = data.map((p) => (p.kind === 'data' ? td.decode(p.payload.subarray(1)) : '')).join('');
    expect(inner).toBe(td.decode(encodePkts(reportStatusLines({ unpack: { ok: true }, refs }, true))));
    expect(out.at(-1)).toEqual({ kind: 'flush' });
  });

  it('names a ref that is not UTF-8 in the bytes it came in (git matches report lines byte for byte)', () => {
    const raw = Uint8Array.from([...Buffer.from('refs/heads/caf'), 0xe9, 0x2f, 0xc3, 0xa9]);
    const name = refNameFromBytes(raw);
    expect(refNameIsUtf8(name)).toBe(false);
    expect(refNameBytes(name)).toEqual(raw);
    expect(refNameIsUtf8(refNameFromBytes(Buffer.from('refs/heads/café')))).toBe(true);
    const bytes = encodePkts(reportStatusLines({ unpack: { ok: true }, refs: [{ ref: name, ok: false, reason: 'refname is not UTF-8' }] }, false));
    const line = Buffer.concat([Buffer.from('ng '), raw, Buffer.from(' refname is not UTF-8\n')]);
    expect(Buffer.from(bytes).toString('latin1')).toBe(`000eunpack ok\n${(line.length + 4).toString(16).padStart(4, '0')}${line.toString('latin1')}0000`);
  });
});
