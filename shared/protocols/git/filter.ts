/**
 * Partial-clone filter specs (`filter <spec>` in an upload-pack request;
 * git's list-objects-filter-options.c):
 *
 *   blob:none | blob:limit=<n>[kmg] | tree:<depth>[kmg]
 *   object:type=(blob|tree|commit|tag)
 *   combine:<sub>+<sub>...      each <sub> a percent-encoded spec
 *
 * `sparse:oid=` and anything else are refused, clearly: we never send a full
 * pack in place of a filtered one without saying so.
 */
import { ProtocolError, clip } from './capabilities.js';

/** A parsed filter. */
export type FilterSpec =
  | { kind: 'blob:none' }
  | { kind: 'blob:limit'; bytes: number }
  | { kind: 'tree'; depth: number }
  /** Trees and blobs of this type only; commits and tags always go (git 2.39's filter_object_type). */
  | { kind: 'object:type'; type: ObjectTypeName }
  | { kind: 'combine'; filters: FilterSpec[] };

export type ObjectTypeName = 'blob' | 'tree' | 'commit' | 'tag';
const TYPES: readonly string[] = ['blob', 'tree', 'commit', 'tag'];

/** A filter spec we cannot parse or do not implement. */
export class FilterError extends ProtocolError {}

/** Longest spec we read: far above any real one, bounds the work. */
export const MAX_FILTER_SPEC = 4096;
/** Most filters in one spec, counting nested combines: a real one has two or three. */
export const MAX_FILTER_PARTS = 32;

/** Characters git requires to be percent-encoded inside a combine sub-spec (besides whitespace and controls). */
const RESERVED = '~`!@#$^&*()[]{}\\;\'",<>?';

/** Parse a filter spec (the text after `filter `). */
export function parseFilterSpec(spec: string): FilterSpec {
  if (spec.length > MAX_FILTER_SPEC) throw new FilterError('bad-filter', `filter spec longer than ${MAX_FILTER_SPEC}`);
  const budget = { parts: 0 };
  return parse(spec, budget);
}

function parse(spec: string, budget: { parts: number }): FilterSpec {
  if (++budget.parts > MAX_FILTER_PARTS) throw new FilterError('bad-filter', `more than ${MAX_FILTER_PARTS} filters combined`);
  if (spec === 'blob:none') return { kind: 'blob:none' };
  if (spec.startsWith('blob:limit=')) return { kind: 'blob:limit', bytes: parseSize(spec.slice('blob:limit='.length), spec) };
  if (spec.startsWith('tree:')) return { kind: 'tree', depth: parseSize(spec.slice('tree:'.length), spec) };
  if (spec.startsWith('combine:')) {
    const rest = spec.slice('combine:'.length);
    if (rest === '') throw new FilterError('bad-filter', 'expected something after combine:');
    const filters = rest.split('+').map((sub) => {
      for (const c of sub) {
        if (c <= ' ' || RESERVED.includes(c)) throw new FilterError('bad-filter', `must escape char in sub-filter-spec: '${c}'`);
      }
      return parse(percentDecode(sub), budget);
    });
    return { kind: 'combine', filters };
  }
  if (spec.startsWith('object:type=')) {
    const type = spec.slice('object:type='.length);
    if (!TYPES.includes(type)) throw new FilterError('bad-filter', `'${clip(type)}' for 'object:type=<type>' is not a valid object type`);
    return { kind: 'object:type', type: type as ObjectTypeName };
  }
  if (spec.startsWith('sparse:')) {
    throw new FilterError('unsupported-filter', `filter '${clip(spec)}' is not supported by this server`, { spec: clip(spec) });
  }
  throw new FilterError('bad-filter', `invalid filter-spec '${clip(spec)}'`, { spec: clip(spec) });
}

/** git_parse_ulong for what clients send: decimal digits with an optional k/m/g (binary) unit. */
function parseSize(text: string, spec: string): number {
  const m = /^([0-9]{1,16})([kKmMgG]?)$/.exec(text);
  if (!m) throw new FilterError('bad-filter', `invalid number in filter-spec '${clip(spec)}'`, { spec: clip(spec) });
  const unit = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 }[m[2].toLowerCase() as '' | 'k' | 'm' | 'g'];
  const n = Number(m[1]) * unit;
  if (!Number.isSafeInteger(n)) throw new FilterError('bad-filter', `number out of range in filter-spec '${clip(spec)}'`);
  return n;
}

function percentDecode(text: string): string {
  return text.replace(/%([0-9a-fA-F]{2})/g, (_, hex: string) => String.fromCharCode(parseInt(hex, 16)));
}

/** The spec text of a filter, as a client would send it (inverse of parseFilterSpec for specs it produced). */
export function formatFilterSpec(filter: FilterSpec): string {
  switch (filter.kind) {
    case 'blob:none':
      return 'blob:none';
    case 'blob:limit':
      return `blob:limit=${filter.bytes}`;
    case 'tree':
      return `tree:${filter.depth}`;
    case 'object:type':
      return `object:type=${filter.type}`;
    case 'combine':
      return `combine:${filter.filters.map((f) => percentEncode(formatFilterSpec(f))).join('+')}`;
  }
}

function percentEncode(text: string): string {
  let out = '';
  for (const c of text) {
    out += c <= ' ' || RESERVED.includes(c) || c === '%' || c === '+' ? `%${c.charCodeAt(0).toString(16).padStart(2, '0')}` : c;
  }
  return out;
}
