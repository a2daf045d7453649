// upload-pack request parsers: grammar, bounds and refusals (no fixtures: runs in Node and workerd).
import { describe, expect, it } from 'vitest';
import { DEFAULT_UPLOAD_FEATURES, ProtocolError, textPkt, type Pkt } from '../../../../shared/protocols/git/capabilities.js';
import {
  MAX_HAVES,
  MAX_WANTS,
  UploadRequestV0Parser,
  V2RequestParser,
  objectInfoResponse,
  parseUploadRequestV0,
  parseV2Request,
} from '../../../../shared/protocols/git/upload-request.js';

const A = 'a'.repeat(40);
const B = 'b'.repeat(40);
const F: Pkt = { kind: 'flush' };
const D: Pkt = { kind: 'delim' };
const t = (s: string) => textPkt(s);
const v0 = (...p: Pkt[]) => parseUploadRequestV0(p, DEFAULT_UPLOAD_FEATURES);
const v2 = (...p: Pkt[]) => parseV2Request(p, DEFAULT_UPLOAD_FEATURES);
const code = (f: () => unknown) => {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(ProtocolError);
    return (e as ProtocolError).code;
  }
  throw new Error('no error');
};

describe('v0 upload-pack request', () => {
  it('parses wants with capabilities, shallow, deepen, filter, haves, done', () => {
    const r = v0(
      t(`want ${A} multi_ack_detailed no-done side-band-64k thin-pack ofs-delta deepen-relative filter agent=git/2.39.5 future-cap\n`),
      t(`want ${B}\n`),
      t(`want ${A}\n`),
      t(`shallow ${B}`),
      t('deepen 3'),
      t('filter blob:limit=1k'),
      F,
      t(`have ${B}\n`),
      t('done\n'),
    );
    expect([...r.wants]).toEqual([A, B]);
    expect(r).toMatchObject({ multiAck: 'multi_ack_detailed', noDone: true, sideBand: 'side-band-64k', thinPack: true, ofsDelta: true, deepenRelative: true });
    expect(r.shallows).toEqual([B]);
    expect(r.depth).toBe(3);
    expect(r.filter).toEqual({ kind: 'blob:limit', bytes: 1024 });
    expect(r.haves).toEqual([B]);
    expect(r.end).toBe('done');
    expect(r.caps.has('future-cap')).toBe(true);
  });

  it('tells the three endings apart', () => {
    expect(v0(t(`want ${A}`), F).end).toBe('wants-only');
    expect(v0(t(`want ${A}`), F, t(`have ${B}`), F).end).toBe('flush');
    expect(v0(t(`want ${A}`), F, t('done')).end).toBe('done');
    expect([...v0(F).wants]).toEqual([]);
  });

  it('refuses malformed and unexpected input', () => {
    expect(code(() => v0(t(`want ${A.toUpperCase()}`), F))).toBe('bad-object-id');
    expect(code(() => v0(t(`want ${A}x`), F))).toBe('bad-object-id');
    expect(code(() => v0(t(`want ${A}`), t(`want ${B} cap`), F))).toBe('bad-object-id');
    expect(code(() => v0(t(`want ${A}`), t('frobnicate'), F))).toBe('unexpected-line');
    expect(code(() => v0(t(`want ${A}`), F, t('frobnicate')))).toBe('unexpected-line');
    expect(code(() => v0(t(`want ${A}`), t('filter blob:none'), F))).toBe('filter-not-negotiated');
    expect(code(() => v0(t(`want ${A} filter`), t('filter sparse:oid=x'), F))).toBe('unsupported-filter');
    expect(code(() => v0(t(`want ${A}`), t('deepen 0'), F))).toBe('bad-deepen');
    expect(code(() => v0(t(`want ${A}`), t('deepen 2147483648'), F))).toBe('bad-deepen');
    expect(code(() => v0(t(`want ${A}`), t('deepen 1'), t('deepen-since 5'), F))).toBe('bad-deepen');
    expect(code(() => v0(t(`want ${A} object-format=sha256`), F))).toBe('object-format');
    expect(code(() => v0(t(`want ${A}`), F, t('done'), F))).toBe('trailing-data');
    expect(code(() => v0(t(`want ${A}`), D))).toBe('unexpected-packet');
    expect(code(() => v0(t(`want ${A}`)))).toBe('truncated');
    expect(code(() => v0(t(`want ${A}`), F, t(`have ${B}`)))).toBe('truncated');
    expect(code(() => v0(t(`shallow ${A}`), F))).toBe('no-wants');
  });

  it('bounds the haves while streaming', () => {
    const p = new UploadRequestV0Parser(DEFAULT_UPLOAD_FEATURES);
    p.feed(t(`want ${A}`));
    p.feed(F);
    const have = t(`have ${B}`);
    for (let i = 0; i < MAX_HAVES; i++) p.feed(have);
    expect(code(() => p.feed(have))).toBe('too-many-haves');
  });
  it('takes MAX_WANTS distinct wants (a lazy fetch of a 500k-file checkout), repeats free, and refuses one more', () => {
    const p = new UploadRequestV0Parser(DEFAULT_UPLOAD_FEATURES);
    p.feed(t(`want ${wantId(0)} multi_ack_detailed side-band-64k ofs-delta`));
    for (let i = 1; i < MAX_WANTS; i++) p.feed(wantPkt(i));
    p.feed(t(`want ${wantId(7)}\n`));
    expect(code(() => p.feed(t(`want ${wantId(MAX_WANTS)}\n`)))).toBe('too-many-wants');
    const q = new UploadRequestV0Parser(DEFAULT_UPLOAD_FEATURES);
    for (let i = 0; i < 5; i++) q.feed(t(`want ${wantId(i % 3)}\n`));
    q.feed(F);
    q.feed(t('done'));
    const r = q.finish();
    expect([...r.wants]).toEqual([wantId(0), wantId(1), wantId(2)]);
  });
});

/** A distinct 40-hex id for each i (spread over the first bytes, as SHA-1 ids are). */
function wantId(i: number): string {
  const h = (Math.imul(i, 0x9e3779b1) >>> 0).toString(16).padStart(8, '0');
  return `${h}${i.toString(16).padStart(32, '0')}`;
}

const WANT = new TextEncoder().encode(`want ${'0'.repeat(40)}\n`);
const HEX = new TextEncoder().encode('0123456789abcdef');

/** `want <wantId(i)>\n` written into one reused pkt (the parser keeps no reference): a million lines without a million strings. */
function wantPkt(i: number): Pkt {
  const x = Math.imul(i, 0x9e3779b1) >>> 0;
  for (let k = 0; k < 8; k++) WANT[5 + k] = HEX[(x >>> (28 - 4 * k)) & 15];
  let y = i;
  for (let k = 44; k >= 13; k--, y = Math.floor(y / 16)) WANT[k] = HEX[y % 16];
  return { kind: 'data', payload: WANT };
}

describe('v2 upload-pack request', () => {
  const caps = [t('command=fetch'), t('agent=git/2.39.5'), t('object-format=sha1')];
  it('parses fetch arguments', () => {
    const r = v2(...caps, D, t('thin-pack'), t('no-progress'), t('include-tag'), t('ofs-delta'), t(`shallow ${B}`), t('deepen 1'), t('deepen-relative'),
      t(`want ${A}\n`), t(`want ${A}\n`), t(`have ${B}\n`), t('filter blob:none'), t('wait-for-done'), t('done\n'), F);
    if (r.command !== 'fetch') throw new Error(r.command ?? 'null');
    expect(r.caps).toEqual({ agent: 'git/2.39.5', objectFormat: 'sha1', serverOptions: [] });
    expect([...r.args.wants]).toEqual([A]);
    expect(r.args).toMatchObject({ haves: [B], shallows: [B], depth: 1, deepenRelative: true, thinPack: true, noProgress: true, includeTag: true, ofsDelta: true, waitForDone: true, done: true, filter: { kind: 'blob:none' } });
  });

  it('takes MAX_WANTS distinct wants in a fetch and refuses one more, in git\'s words', () => {
    const p = new V2RequestParser(DEFAULT_UPLOAD_FEATURES);
    for (const c of caps) p.feed(c);
    p.feed(D);
    for (let i = 0; i < MAX_WANTS; i++) p.feed(wantPkt(i));
    p.feed(t(`want ${wantId(MAX_WANTS - 1)}\n`));
    let err: unknown;
    try {
      p.feed(t(`want ${wantId(MAX_WANTS)}\n`));
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ProtocolError);
    expect((err as ProtocolError).message).toBe(`more than ${MAX_WANTS} distinct wants`);
  });

  it('parses ls-refs, object-info and the empty request', () => {
    const l = v2(t('command=ls-refs\n'), t('server-option=x'), D, t('peel\n'), t('symrefs\n'), t('unborn\n'), t('ref-prefix HEAD\n'), F);
    expect(l).toMatchObject({ command: 'ls-refs', caps: { serverOptions: ['x'] }, args: { peel: true, symrefs: true, unborn: true, prefixes: ['HEAD'] } });
    expect(v2(t('command=ls-refs'), F)).toMatchObject({ command: 'ls-refs', args: { prefixes: null } });
    const o = v2(t('command=object-info'), D, t('size'), t(`oid ${A}`), F);
    expect(o).toEqual({ command: 'object-info', caps: { agent: null, objectFormat: null, serverOptions: [] }, args: { size: true, oids: [A] } });
    expect(v2(F)).toEqual({ command: null });
  });

  it('refuses what git refuses', () => {
    expect(code(() => v2(t('command=frob'), F))).toBe('unknown-command');
    expect(code(() => v2(t('command=fetch'), t('command=fetch'), F))).toBe('bad-command');
    expect(code(() => v2(t('agent=x'), F))).toBe('no-command');
    expect(code(() => v2(t('command=fetch'), t('session-id=1'), F))).toBe('unknown-capability');
    expect(code(() => v2(t('command=fetch'), t('object-format=sha256'), F))).toBe('object-format');
    expect(code(() => v2(...caps, D, t('want-ref refs/heads/main'), F))).toBe('unexpected-line');
    expect(code(() => v2(...caps, D, t('sideband-all'), F))).toBe('unexpected-line');
    expect(code(() => v2(...caps, D, t('packfile-uris https'), F))).toBe('unexpected-line');
    expect(code(() => v2(...caps, D, t('bogus'), F))).toBe('unexpected-line');
    expect(code(() => v2(t('command=ls-refs'), D, t('bogus'), F))).toBe('unexpected-line');
    expect(code(() => v2(t('command=object-info'), D, t('type'), F))).toBe('unexpected-line');
    expect(code(() => v2(...caps, D, t(`want ${A}`)))).toBe('truncated');
    expect(code(() => v2(...caps, D, F, F))).toBe('trailing-data');
    expect(code(() => v2(...caps, D, t(`want ${A}`), D))).toBe('unexpected-packet');
    expect(code(() => v2(...caps, D, t('deepen 2'), t('deepen-not refs/tags/x'), F))).toBe('bad-deepen');
    // Want lines of exactly 40 lowercase hex are read from their bytes; anything else as text.
    expect(code(() => v2(...caps, D, t(`want ${A.toUpperCase()}\n`), F))).toBe('bad-object-id');
    expect(code(() => v2(...caps, D, t(`want ${A.slice(1)}g\n`), F))).toBe('bad-object-id');
    expect(code(() => v2(...caps, D, t(`want ${A}\n\n`), F))).toBe('bad-object-id');
    expect(code(() => v2(...caps, D, t(`want ${A} x`), F))).toBe('bad-object-id');
    expect(code(() => v2(...caps, D, t(`want  ${A.slice(1)}`), F))).toBe('bad-object-id');
    const r = v2(...caps, D, t(`want ${A}`), t(`want ${B}\n`), t(`want ${'0123456789abcdef'.repeat(3).slice(0, 40)}`), t(`want ${A}\n`), F);
    if (r.command !== 'fetch') throw new Error(r.command ?? 'null');
    expect([...r.args.wants]).toEqual([A, B, '0123456789abcdef'.repeat(3).slice(0, 40)]);
  });

  it('accepts want-ref and sideband-all when advertised', () => {
    const r = parseV2Request([...caps, D, t('want-ref refs/heads/main'), t('sideband-all'), F], { ...DEFAULT_UPLOAD_FEATURES, refInWant: true, sidebandAll: true });
    expect(r).toMatchObject({ args: { wantRefs: ['refs/heads/main'], sidebandAll: true } });
  });

  it('encodes the object-info reply as git does', () => {
    const dec = (p: Pkt) => (p.kind === 'data' ? new TextDecoder().decode(p.payload) : p.kind);
    expect(objectInfoResponse({ size: true, oids: [A, B] }, new Map([[A, 12]])).map(dec)).toEqual(['size', `${A} 12`, `${B} `, 'flush']);
    expect(objectInfoResponse({ size: true, oids: [] }, new Map()).map(dec)).toEqual(['flush']);
  });
});
