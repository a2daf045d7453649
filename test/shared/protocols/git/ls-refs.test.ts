// ls-refs arguments and reply (the captures check the byte-exact forms; this covers the edges).
import { describe, expect, it } from 'vitest';
import { ProtocolError, type Pkt } from '../../../../shared/protocols/git/capabilities.js';
import { MAX_REF_PREFIXES, lsRefsResponse, parseLsRefsArgs } from '../../../../shared/protocols/git/ls-refs.js';

const [A, T, P] = ['a', 't', 'p'].map((c) => c.repeat(40));
const refs = [
  { name: 'refs/tags/v1', id: T, peeled: P },
  { name: 'refs/heads/main', id: A },
];
const dec = (ps: Pkt[]) => ps.map((p) => (p.kind === 'data' ? new TextDecoder().decode(p.payload) : p.kind));

describe('ls-refs', () => {
  it('parses arguments; unborn only when allowed; too many prefixes means all', () => {
    expect(parseLsRefsArgs(['peel', 'symrefs', 'unborn', 'ref-prefix refs/heads/'], true)).toEqual({ peel: true, symrefs: true, unborn: true, prefixes: ['refs/heads/'] });
    expect(parseLsRefsArgs(['unborn'], false).unborn).toBe(false);
    expect(parseLsRefsArgs([], true).prefixes).toBeNull();
    expect(parseLsRefsArgs(Array.from({ length: MAX_REF_PREFIXES + 1 }, (_, i) => `ref-prefix r${i}`), true).prefixes).toBeNull();
    expect(() => parseLsRefsArgs(['peel', 'nonsense'], true)).toThrow(ProtocolError);
  });

  it('lists HEAD first, sorted refs, symref-target and peeled only when asked', () => {
    const head = { target: 'refs/heads/main', id: A };
    expect(dec(lsRefsResponse(refs, head, { peel: false, symrefs: false, unborn: false, prefixes: null }))).toEqual([
      `${A} HEAD\n`, `${A} refs/heads/main\n`, `${T} refs/tags/v1\n`, 'flush',
    ]);
    expect(dec(lsRefsResponse(refs, head, { peel: true, symrefs: true, unborn: false, prefixes: ['refs/tags/', 'HEAD'] }))).toEqual([
      `${A} HEAD symref-target:refs/heads/main\n`, `${T} refs/tags/v1 peeled:${P}\n`, 'flush',
    ]);
  });

  it('unborn HEAD only with unborn; detached HEAD has no symref-target', () => {
    const unborn = { target: 'refs/heads/main', id: null };
    expect(dec(lsRefsResponse([], unborn, { peel: true, symrefs: true, unborn: true, prefixes: null }))).toEqual(['unborn HEAD symref-target:refs/heads/main\n', 'flush']);
    expect(dec(lsRefsResponse([], unborn, { peel: true, symrefs: true, unborn: false, prefixes: null }))).toEqual(['flush']);
    expect(dec(lsRefsResponse([], { target: null, id: A }, { peel: true, symrefs: true, unborn: true, prefixes: null }))).toEqual([`${A} HEAD\n`, 'flush']);
  });
});
