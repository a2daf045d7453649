// Our ref-name rule agrees with `git check-ref-format` on hand-picked edge cases
// and on many generated names.
import { execFileSync } from 'node:child_process';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isValidRefName } from '../../../../shared/protocols/git/ref-name.js';

/** git's verdict for each name, in one process: check-ref-format --stdin is not a thing, so use a shell loop. */
function gitVerdicts(names: string[]): boolean[] {
  const script = 'while IFS= read -r -d "" n; do if git check-ref-format "$n"; then echo 1; else echo 0; fi; done';
  const out = execFileSync('bash', ['-c', script], { input: names.map((n) => `${n}\0`).join('') }).toString();
  return out.trim().split('\n').map((l) => l === '1');
}

const EDGE = [
  'refs/heads/main', 'refs/heads/a..b', 'refs/heads/.hidden', 'refs/heads/x.lock', 'refs/heads/x.lock/y',
  'refs/heads/a b', 'refs/heads/a~1', 'refs/heads/a^', 'refs/heads/a:b', 'refs/heads/a?', 'refs/heads/a*',
  'refs/heads/a[', 'refs/heads/a\\b', 'refs/heads//a', 'refs/heads/a/', 'refs/heads/a.', 'refs/heads/a@{1}',
  'refs/heads/@', 'refs/heads/a@b', 'refs/tags/v1.0', 'refs/heads/feature/x-y_z', 'refs/heads/\u00e9t\u00e9',
  'refs/heads/a\tb', 'refs/heads/a\u007fb', 'refs/heads/.', 'refs/heads/..', 'refs/heads/a/.b', 'refs/heads/a.b.lock',
];

describe('ref names against git check-ref-format', () => {
  it('agrees on edge cases', () => {
    expect(EDGE.map(isValidRefName)).toEqual(gitVerdicts(EDGE));
  });

  it('agrees on generated names', () => {
    const alphabet = fc.constantFrom(...'ab/.-_@{}~^:?*[\\ lock'.split(''));
    const names = fc.sample(fc.array(alphabet, { minLength: 1, maxLength: 12 }).map((a) => a.join("")).map((s) => `refs/heads/${s}`), { numRuns: 400, seed: 42 });
    expect(names.map(isValidRefName)).toEqual(gitVerdicts(names));
  });
});
