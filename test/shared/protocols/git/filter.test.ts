// Filter specs: what git's list-objects-filter-options accepts, and clear refusals.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { FilterError, formatFilterSpec, parseFilterSpec, type FilterSpec } from '../../../../shared/protocols/git/filter.js';

describe('parseFilterSpec', () => {
  it('parses the supported kinds', () => {
    expect(parseFilterSpec('blob:none')).toEqual({ kind: 'blob:none' });
    expect(parseFilterSpec('blob:limit=0')).toEqual({ kind: 'blob:limit', bytes: 0 });
    expect(parseFilterSpec('blob:limit=10k')).toEqual({ kind: 'blob:limit', bytes: 10240 });
    expect(parseFilterSpec('blob:limit=2M')).toEqual({ kind: 'blob:limit', bytes: 2 * 1024 ** 2 });
    expect(parseFilterSpec('blob:limit=1g')).toEqual({ kind: 'blob:limit', bytes: 1024 ** 3 });
    expect(parseFilterSpec('tree:0')).toEqual({ kind: 'tree', depth: 0 });
    expect(parseFilterSpec('combine:blob:none+tree:3')).toEqual({ kind: 'combine', filters: [{ kind: 'blob:none' }, { kind: 'tree', depth: 3 }] });
    expect(parseFilterSpec('object:type=blob')).toEqual({ kind: 'object:type', type: 'blob' });
    expect(parseFilterSpec('combine:object:type=tree+tree:2')).toEqual({ kind: 'combine', filters: [{ kind: 'object:type', type: 'tree' }, { kind: 'tree', depth: 2 }] });
    expect(parseFilterSpec('combine:blob%3Alimit%3D5+tree:1')).toEqual({ kind: 'combine', filters: [{ kind: 'blob:limit', bytes: 5 }, { kind: 'tree', depth: 1 }] });
  });

  it('refuses the rest with a stable code', () => {
    const code = (s: string) => {
      try {
        parseFilterSpec(s);
      } catch (e) {
        expect(e).toBeInstanceOf(FilterError);
        return (e as FilterError).code;
      }
      return 'accepted';
    };
    expect(code('sparse:oid=main:sparse')).toBe('unsupported-filter');
    for (const bad of ['object:type=', 'object:type=Blob', 'object:type=blobs', 'object:type=blob+tree', '', 'blob', 'blob:limit=', 'blob:limit=-1', 'blob:limit=1t', 'blob:limit=0x10', 'tree:', 'tree:x', 'combine:', 'combine:blob:none+', 'combine:a~b', 'blob:none ', 'x'.repeat(5000), `combine:${Array(40).fill('tree:1').join('+')}`]) {
      expect([bad.slice(0, 20), code(bad)]).toEqual([bad.slice(0, 20), 'bad-filter']);
    }
  });

  it('round-trips through formatFilterSpec', () => {
    const leaf: fc.Arbitrary<FilterSpec> = fc.oneof(
      fc.constant({ kind: 'blob:none' as const }),
      fc.nat({ max: 1e12 }).map((bytes) => ({ kind: 'blob:limit' as const, bytes })),
      fc.nat({ max: 1000 }).map((depth) => ({ kind: 'tree' as const, depth })),
      fc.constantFrom('blob', 'tree', 'commit', 'tag' as const).map((type) => ({ kind: 'object:type' as const, type })),
    );
    const spec = fc.oneof(leaf, fc.array(leaf, { minLength: 1, maxLength: 4 }).map((filters) => ({ kind: 'combine' as const, filters })));
    fc.assert(fc.property(spec, (f) => {
      expect(parseFilterSpec(formatFilterSpec(f))).toEqual(f);
    }), { numRuns: 200, seed: 7 });
  });
});
