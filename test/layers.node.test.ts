// The layer rule: shared/ is runtime-neutral. It never imports node:*,
// cloudflare:*, the worker/ adapter, or anything outside shared/ but its
// declared pure dependencies.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';

const ALLOWED_PACKAGES = ['@noble/hashes', 'fflate'];

function* files(dir: string): Generator<string> {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) yield* files(path);
    else if (/\.(ts|mts|js|mjs)$/.test(name)) yield path;
  }
}

/** Every module specifier in a source file: import/export from, dynamic import(), require(). */
export function specifiers(source: string): string[] {
  const re = /(?:\bfrom\s*|\bimport\s*\(?\s*|\brequire\s*\(\s*)['"]([^'"]+)['"]/g;
  return [...source.matchAll(re)].map((m) => m[1]);
}

export function violation(file: string, spec: string): string | null {
  if (spec.startsWith('node:') || spec.startsWith('cloudflare:')) return `${file}: platform import ${spec}`;
  if (spec.startsWith('.')) {
    const target = relative('shared', join(file, '..', spec));
    return target.startsWith('..') ? `${file}: reaches outside shared/: ${spec}` : null;
  }
  return ALLOWED_PACKAGES.some((p) => spec === p || spec.startsWith(`${p}/`)) ? null : `${file}: package ${spec} not allowed in shared/`;
}

describe('layer rule', () => {
  it('finds the imports it is meant to police', () => {
    expect(specifiers(`import x from 'node:fs';\nexport { y } from "../../worker/env.js";\nawait import('cloudflare:workers')`)).toEqual([
      'node:fs',
      '../../worker/env.js',
      'cloudflare:workers',
    ]);
    expect(violation('shared/core/a.ts', 'node:zlib')).not.toBeNull();
    expect(violation('shared/core/a.ts', '../../worker/env.js')).not.toBeNull();
    expect(violation('shared/core/a.ts', 'hono')).not.toBeNull();
    expect(violation('shared/core/a.ts', '../delta/fossil.js')).toBeNull();
  });

  it('holds for every file under shared/', () => {
    const problems: string[] = [];
    for (const file of files('shared')) {
      for (const spec of specifiers(readFileSync(file, 'utf8'))) {
        const v = violation(file, spec);
        if (v) problems.push(v);
      }
    }
    expect(problems).toEqual([]);
  });
});
