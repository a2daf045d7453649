// Peeled annotated tags kept in the DO's SQLite (PeelCache over git_peeled): a new
// instance of the repository's DO answers them without reading the tag objects again,
// and a push records its tags' there as it commits, so not even the first advertisement reads them.
import { SELF, env, runInDurableObject } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { eq } from 'drizzle-orm';
import { drizzle } from 'drizzle-orm/d1';
import { PeelCache } from '../../worker/durable/git-http.js';
import type { RepoObject } from '../../worker/durable/repo.js';
import { repos } from '../../worker/storage-d1/schema.js';
import { blob, CAPS, decodeReply, history, packOf, pushBody, tag, tree, ZERO_ID, type Obj } from '../shared/protocols/git/receive-pack-helpers.js';

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

  it('getMany answers as get() does for each id, over more ids than one query asks (memo, git_peeled, unknown)', async () => {
    await runInDurableObject(env.REPO.get(env.REPO.newUniqueId()), (_i: RepoObject, state) => {
      const first = new PeelCache(state.storage, 10);
      for (let n = 1; n <= 2500; n += 2) first.set(id(n), id(10_000 + n));
      const next = new PeelCache(state.storage, 10);
      next.get(id(1)); // one in the memo
      const ids = Array.from({ length: 2600 }, (_, k) => id(k + 1));
      const many = next.getMany(ids);
      expect(many.filter((p) => p !== undefined)).toHaveLength(1250);
      expect(many).toEqual(ids.map((t) => new PeelCache(state.storage, 1).get(t)));
      expect(new PeelCache(undefined, 10).getMany([id(1)])).toEqual([undefined]);
    });
  });

  it('remembers ids noted as no tag in its memo only: getMany answers null for them (no query), get() undefined', async () => {
    await runInDurableObject(env.REPO.get(env.REPO.newUniqueId()), (_i: RepoObject, state) => {
      const cache = new PeelCache(state.storage, 10);
      cache.notTag(id(1));
      cache.set(id(2), id(102));
      expect(cache.getMany([id(1), id(2), id(3)])).toEqual([null, id(102), undefined]);
      expect(cache.get(id(1))).toBeUndefined();
      expect(new PeelCache(state.storage, 10).getMany([id(1), id(2)])).toEqual([undefined, id(102)]);
    });
  });

  it('without storage it is the memo alone, bounded, oldest out first', () => {
    const memo = new PeelCache(undefined, 2);
    for (let n = 1; n <= 3; n++) memo.set(id(n), id(100 + n));
    expect([1, 2, 3].map((n) => memo.get(id(n)))).toEqual([undefined, id(102), id(103)]);
  });
});

describe('peeled tags recorded by a push', () => {
  const HUB = 'http://hub.test';
  const WRITER = { authorization: `Basic ${btoa('x:test-admin-token')}`, 'content-type': 'application/x-git-receive-pack-request' };
  const pushTo = async (cmds: [string, string, string][], pack: Uint8Array) => {
    const res = await SELF.fetch(`${HUB}/peel-push.git/git-receive-pack`, { method: 'POST', headers: WRITER, body: pushBody(cmds, CAPS, pack) });
    return decodeReply(new Uint8Array(await res.arrayBuffer()), true).report;
  };
  /** What a new DO instance's cache knows of each id (the rows in git_peeled), asked before any advertisement. */
  const known = async (ids: string[]) => {
    const row = (await drizzle(env.DB).select().from(repos).where(eq(repos.name, 'peel-push')).get())!;
    return runInDurableObject(env.REPO.get(env.REPO.idFromName(row.id)), (_i: RepoObject, state) => ids.map((t) => new PeelCache(state.storage, 1).get(t)));
  };
  const advertised = async (repo = 'peel-push') => {
    const text = new TextDecoder().decode(await (await SELF.fetch(`${HUB}/${repo}.git/info/refs?service=git-upload-pack`)).arrayBuffer());
    return text.split('\n').filter((l) => l.includes(' refs/tags/')).map((l) => l.slice(4).split('\0')[0]);
  };

  it('a chain of 40 tags of tags, outermost first in the pack: all recorded; with none recorded, peeled by reading, any depth', async () => {
    const admin = { authorization: 'Bearer test-admin-token', 'content-type': 'application/json' };
    expect((await SELF.fetch(`${HUB}/api/repos`, { method: 'POST', headers: admin, body: JSON.stringify({ name: 'peel-deep', kind: 'git', public: true }) })).status).toBe(201);
    const h = history(1);
    const chain = [tag(h.tip, 't0')];
    for (let n = 1; n < 40; n++) chain.push(tag(chain[n - 1], `t${n}`));
    const top = chain[39];
    const res = await SELF.fetch(`${HUB}/peel-deep.git/git-receive-pack`, { method: 'POST', headers: WRITER, body: pushBody([[ZERO_ID, h.tip.id, 'refs/heads/main'], [ZERO_ID, top.id, 'refs/tags/deep']], CAPS, await packOf([...chain.reverse(), ...h.objects])) });
    expect(decodeReply(new Uint8Array(await res.arrayBuffer()), true).report).toEqual(['unpack ok', 'ok refs/heads/main', 'ok refs/tags/deep']);
    const row = (await drizzle(env.DB).select().from(repos).where(eq(repos.name, 'peel-deep')).get())!;
    const stub = env.REPO.get(env.REPO.idFromName(row.id));
    const rows = () => runInDurableObject(stub, (_i: RepoObject, state) => state.storage.sql.exec<{ n: number }>(`SELECT count(*) AS n FROM git_peeled WHERE target = ?`, h.tip.id).one().n);
    expect(await rows()).toBe(40);
    expect(await advertised('peel-deep')).toEqual([`${top.id} refs/tags/deep`, `${h.tip.id} refs/tags/deep^{}`]);
    // As a repository pushed before git_peeled was kept: nothing recorded, the chain is read (once: every tag of it remembered).
    await runInDurableObject(stub, (i: RepoObject, state) => {
      state.storage.sql.exec(`DELETE FROM git_peeled`);
      (i as unknown as { peeled: PeelCache }).peeled = new PeelCache(state.storage);
    });
    expect(await advertised('peel-deep')).toEqual([`${top.id} refs/tags/deep`, `${h.tip.id} refs/tags/deep^{}`]);
    expect(await rows()).toBe(40);
  });

  it('knows them at once: tags on a commit, a tree and a blob, tags of tags in any pack order; a refused push records nothing', async () => {
    const admin = { authorization: 'Bearer test-admin-token', 'content-type': 'application/json' };
    expect((await SELF.fetch(`${HUB}/api/repos`, { method: 'POST', headers: admin, body: JSON.stringify({ name: 'peel-push', kind: 'git', public: true }) })).status).toBe(201);
    const h = history(2);
    const b = blob('tagged blob\n');
    const t = tree([['100644', 'x', b.id]]);
    const onCommit = tag(h.tip, 'v1');
    const onTree = tag(t, 'on-tree');
    const onBlob = tag(b, 'on-blob');
    const ofTag = tag(onCommit, 'of-tag');
    const ofOfTag = tag(ofTag, 'of-of-tag');
    // A tag whose object is not sent: refused (missing necessary objects), nothing recorded.
    const orphan = tag(blob('never sent\n'), 'orphan');
    expect(await pushTo([[ZERO_ID, orphan.id, 'refs/tags/orphan']], await packOf([orphan]))).toEqual(['unpack ok', 'ng refs/tags/orphan missing necessary objects']);
    expect(await known([orphan.id])).toEqual([undefined]);

    const cmds = (list: [Obj, string][]): [string, string, string][] => list.map(([o, ref]) => [ZERO_ID, o.id, ref]);
    const refs: [Obj, string][] = [[h.tip, 'refs/heads/main'], [onCommit, 'refs/tags/v1'], [onTree, 'refs/tags/on-tree'], [onBlob, 'refs/tags/on-blob'], [ofOfTag, 'refs/tags/of-of-tag']];
    // The outer tags come first in the pack: their targets' peels are known only later.
    const report = await pushTo(cmds(refs), await packOf([ofOfTag, ofTag, ...h.objects, b, t, onCommit, onTree, onBlob]));
    expect(report).toEqual(['unpack ok', ...refs.map(([, r]) => `ok ${r}`)]);
    expect(await known([onCommit.id, onTree.id, onBlob.id, ofTag.id, ofOfTag.id, h.tip.id])).toEqual([h.tip.id, t.id, b.id, h.tip.id, h.tip.id, undefined]);
    expect(await advertised()).toEqual([
      `${ofOfTag.id} refs/tags/of-of-tag`, `${h.tip.id} refs/tags/of-of-tag^{}`,
      `${onBlob.id} refs/tags/on-blob`, `${b.id} refs/tags/on-blob^{}`,
      `${onTree.id} refs/tags/on-tree`, `${t.id} refs/tags/on-tree^{}`,
      `${onCommit.id} refs/tags/v1`, `${h.tip.id} refs/tags/v1^{}`,
    ]);

    // v1 force-moved to a tag of another commit, a tag of a stored tag, a deletion.
    const next = history(1, [h.tip.id], 'y');
    const moved = tag(next.tip, 'v1');
    const onStored = tag(onTree, 'on-stored');
    const report2 = await pushTo([[onCommit.id, moved.id, 'refs/tags/v1'], [ZERO_ID, onStored.id, 'refs/tags/on-stored'], [ofOfTag.id, ZERO_ID, 'refs/tags/of-of-tag']], await packOf([...next.objects, moved, onStored]));
    expect(report2).toEqual(['unpack ok', 'ok refs/tags/v1', 'ok refs/tags/on-stored', 'ok refs/tags/of-of-tag']);
    expect(await known([moved.id, onStored.id])).toEqual([next.tip.id, t.id]);
    expect(await advertised()).toEqual([
      `${onBlob.id} refs/tags/on-blob`, `${b.id} refs/tags/on-blob^{}`,
      `${onStored.id} refs/tags/on-stored`, `${t.id} refs/tags/on-stored^{}`,
      `${onTree.id} refs/tags/on-tree`, `${t.id} refs/tags/on-tree^{}`,
      `${moved.id} refs/tags/v1`, `${next.tip.id} refs/tags/v1^{}`,
    ]);
  });
});
