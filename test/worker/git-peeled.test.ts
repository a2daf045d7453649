// Peeled annotated tags kept in the DO's SQLite (PeelCache over git_peeled): a new
// instance of the repository's DO answers them without reading the tag objects again.
import { env, runInDurableObject } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { PeelCache } from '../../worker/durable/git-http.js';
import type { RepoObject } from '../../worker/durable/repo.js';

const id = (n: number) => n.toString(16).padStart(40, '0');

describe('PeelCache', () => {
  it('keeps what it learns in git_peeled: a new cache on the same storage (a new DO instance) knows it, also past its memo size', async () => {
    await runInDurableObject(env.REPO.get(env.REPO.newUniqueId()), (_i: RepoObject, state) => {
      const first = new PeelCache(state.storage, 2);
      expect(first.get(id(1))).toBeUndefined();
      for (let n = 1; n <= 5; n++) first.set(id(n), id(100 + n));
      first.set(id(1), id(999)); // a tag's target never changes: the first answer stays
      const next = new PeelCache(state.storage, 2);
      for (let n = 1; n <= 5; n++) expect(next.get(id(n))).toBe(id(100 + n));
      expect(next.get(id(6))).toBeUndefined();
      expect(state.storage.sql.exec<{ n: number }>(`SELECT count(*) AS n FROM git_peeled`).one().n).toBe(5);
    });
  });

  it('without storage it is the memo alone, bounded, oldest out first', () => {
    const memo = new PeelCache(undefined, 2);
    for (let n = 1; n <= 3; n++) memo.set(id(n), id(100 + n));
    expect([1, 2, 3].map((n) => memo.get(id(n)))).toEqual([undefined, id(102), id(103)]);
  });
});
