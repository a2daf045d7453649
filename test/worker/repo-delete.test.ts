// A repository deleted (RepoObject.destroy) while a push is under way, at the one point a timing race
// could not be told apart from a clean order: the push's data is written to R2, its commit has not run.
// The commit is refused (content-guard.ts assertOpen), the client is told so in its protocol's words,
// and nothing of the push is left: no ref, no row, no R2 key, no audit event. A fossil clone round
// whose reply is streaming when the delete begins is let finish first (ContentGuard.hold).
import { env, runInDurableObject, SELF } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { toHex } from '../../shared/core/bytes.js';
import { sha3_256 } from '@noble/hashes/sha3.js';
import { sha1Hex, sharedSecret } from '../../worker/fossil-login.js';
import { ContentGuard } from '../../worker/durable/content-guard.js';
import { repoContentPrefix, type RepoObject } from '../../worker/durable/repo.js';
import type { SqlHost } from '../../worker/durable/repo-store.js';
import { blob, CAPS, commit, decodeReply, packOf, pushBody, tree, ZERO_ID } from '../shared/protocols/git/receive-pack-helpers.js';

const HUB = 'http://hub.test';
const ADMIN = { authorization: 'Bearer test-admin-token', 'content-type': 'application/json' };
const WRITER = { authorization: `Basic ${btoa('x:test-admin-token')}`, 'content-type': 'application/x-git-receive-pack-request' };

async function newRepo(name: string, kind: 'git' | 'fossil'): Promise<{ id: string; stub: DurableObjectStub<RepoObject> }> {
  expect((await SELF.fetch(`${HUB}/api/repos`, { method: 'POST', headers: ADMIN, body: JSON.stringify({ name, kind, public: true }) })).status).toBe(201);
  const id = (await env.DB.prepare('SELECT id FROM repos WHERE name = ?').bind(name).first<{ id: string }>())!.id;
  return { id, stub: env.REPO.get(env.REPO.idFromName(id)) as DurableObjectStub<RepoObject> };
}

const keys = async (id: string) => (await env.CONTENT.list({ prefix: repoContentPrefix(id) })).objects.map((o) => o.key);
const count = (state: DurableObjectState, table: string) => state.storage.sql.exec<{ n: number }>(`SELECT count(*) AS n FROM ${table}`).one().n;

/** The instance's private parts a test reaches into. */
type Inside = { store: { readSymbolic(name: string): unknown }; fossilHost: SqlHost };

describe('a repository deleted between a push storing its data and committing it', () => {
  it('git: the commit is refused (`ng <ref> failed to update ref`, the reason on the error line) and nothing is left', async () => {
    const { id, stub } = await newRepo('deleted-mid-push', 'git');
    const b = blob('text');
    const t = tree([['100644', 'file.txt', b.id]]);
    const c = commit(t.id, [], 'one');
    let stored: string[] = [];
    // decide() reads HEAD first, once the pack is stored and before the commit: the delete runs whole there.
    await runInDurableObject(stub, (instance) => {
      const store = (instance as unknown as Inside).store;
      const read = store.readSymbolic.bind(store);
      let done = false;
      store.readSymbolic = (name: string) => {
        if (name !== 'HEAD' || done) return read(name);
        done = true;
        return (async () => {
          stored = await keys(id);
          await instance.destroy(id);
          return read(name);
        })();
      };
    });
    const res = await SELF.fetch(`${HUB}/deleted-mid-push.git/git-receive-pack`, { method: 'POST', headers: WRITER, body: pushBody([[ZERO_ID, c.id, 'refs/heads/main']], CAPS, await packOf([c, t, b])) });
    expect(res.status).toBe(200);
    const reply = decodeReply(new Uint8Array(await res.arrayBuffer()), true);
    expect(stored.length).toBeGreaterThan(0);
    expect(reply.report).toEqual(['unpack ok', 'ng refs/heads/main failed to update ref']);
    expect(reply.progress).toContain('error: the repository was deleted');
    expect(await keys(id)).toEqual([]);
    await runInDurableObject(stub, (_, state) => {
      expect(count(state, 'refs')).toBe(0);
      expect(count(state, 'objects')).toBe(0);
      expect(count(state, 'push_outbox')).toBe(0);
    });
    expect((await env.DB.prepare('SELECT count(*) AS n FROM push_events WHERE repo_id = ?').bind(id).first<{ n: number }>())!.n).toBe(0);
  });

  it('fossil: the round is answered `error the repository was deleted` and nothing is left', async () => {
    const { id, stub } = await newRepo('fossil-deleted-mid-push', 'fossil');
    const post = (body: string) => SELF.fetch(`${HUB}/fossil-deleted-mid-push`, { method: 'POST', headers: { 'content-type': 'application/x-fossil-uncompressed' }, body });
    const codes = /^push ([0-9a-f]{40}) ([0-9a-f]{40})$/m.exec(new TextDecoder().decode(await (await post("pragma client-version 22100 20230226 192424\nclone 3 1\n")).arrayBuffer()))!;
    const before = await keys(id);
    const text = 'an artifact pushed across the delete\n';
    const hash = toHex(sha3_256(new TextEncoder().encode(text)));
    const cards = `push ${codes[1]} ${codes[2]}\nfile ${hash} ${text.length}\n${text}`;
    const nonce = await sha1Hex(cards);
    const signature = await sha1Hex(nonce + (await sharedSecret(codes[2], 'pusher', 'test-admin-token')));
    let destroying: Promise<{ objects: number }> | null = null;
    // The round's first transaction is its commit, after its segment is put: the delete begins there
    // (destroy closes the content guard before its first await) and the commit is refused.
    await runInDurableObject(stub, (instance) => {
      const host = (instance as unknown as Inside).fossilHost;
      const transact = host.transactionSync.bind(host);
      host.transactionSync = <T>(f: () => T): T => {
        destroying ??= instance.destroy(id);
        return transact(f);
      };
    });
    const reply = new TextDecoder().decode(await (await post(`login pusher ${nonce} ${signature}\n${cards}`)).arrayBuffer());
    expect(reply).toMatch(/^error the\\srepository\\swas\\sdeleted$/m);
    // The round's segment was in R2 when the delete listed it.
    expect((await destroying!).objects).toBeGreaterThan(before.length);
    expect(await keys(id)).toEqual([]);
    await runInDurableObject(stub, (_, state) => {
      expect(count(state, 'fossil_blob')).toBe(0);
      expect(count(state, 'push_outbox')).toBe(0);
    });
  });

  it('fossil: a clone round streaming when the delete begins is let finish whole, then the delete goes on', async () => {
    const { id, stub } = await newRepo('fossil-clone-across-delete', 'fossil');
    const post = (body: string | Uint8Array) => SELF.fetch(`${HUB}/fossil-clone-across-delete`, { method: 'POST', headers: { 'content-type': 'application/x-fossil-uncompressed' }, body });
    const clone = 'pragma client-version 22100 20230226 192424\nclone 3 1\n';
    const codes = /^push ([0-9a-f]{40}) ([0-9a-f]{40})$/m.exec(new TextDecoder().decode(await (await post(clone)).arrayBuffer()))!;
    // One incompressible 9 MiB artifact: its record goes out in 4 MiB pieces, each read as the one before is sent.
    const data = new Uint8Array(9 << 20);
    for (let i = 0; i < data.length; i += 65536) crypto.getRandomValues(data.subarray(i, i + 65536));
    const head = new TextEncoder().encode(`push ${codes[1]} ${codes[2]}\nfile ${toHex(sha3_256(data))} ${data.length}\n`);
    const cards = new Uint8Array(head.length + data.length);
    cards.set(head);
    cards.set(data, head.length);
    const nonce = toHex(new Uint8Array(await crypto.subtle.digest('SHA-1', cards)));
    const signature = await sha1Hex(nonce + (await sharedSecret(codes[2], 'pusher', 'test-admin-token')));
    const login = new TextEncoder().encode(`login pusher ${nonce} ${signature}\n`);
    const push = new Uint8Array(login.length + cards.length);
    push.set(login);
    push.set(cards, login.length);
    expect(new TextDecoder().decode(await (await post(push)).arrayBuffer())).not.toMatch(/^error/m);

    const res = await post(clone);
    const length = Number(res.headers.get('content-length'));
    expect(length).toBeGreaterThan(data.length);
    const reader = res.body!.getReader();
    let got = (await reader.read()).value!.length;
    // The delete begins with most of the reply still to read (and to be read from R2): it waits for the reply.
    let deleted = false;
    const destroying = runInDurableObject(stub, (instance) => instance.destroy(id)).then((r) => ((deleted = true), r));
    await new Promise((r) => setTimeout(r, 200));
    expect(deleted).toBe(false);
    const tail: Uint8Array[] = [];
    for (let r = await reader.read(); !r.done; r = await reader.read()) {
      got += r.value.length;
      tail.push(r.value);
    }
    expect(got).toBe(length);
    expect(new TextDecoder().decode(tail[tail.length - 1])).toMatch(/\n# timestamp \S+ errors 0\n$/);
    expect((await destroying).objects).toBeGreaterThan(0);
    expect(await keys(id)).toEqual([]);
  });

  it('the content guard waits for a held reply at most its hold time, serving its reads meanwhile, then refuses reads and puts', async () => {
    const guard = new ContentGuard(env.CONTENT);
    await env.CONTENT.put('guard-held', 'kept');
    guard.hold(); // a reply whose reader stopped reading: never released
    const start = Date.now();
    const closing = guard.close(50);
    await expect(guard.bucket.put('guard-held', 'new')).rejects.toThrow('the repository was deleted');
    expect(await (await guard.bucket.get('guard-held'))!.text()).toBe('kept');
    await closing;
    expect(Date.now() - start).toBeGreaterThanOrEqual(50);
    await expect(guard.bucket.get('guard-held')).rejects.toThrow('the repository was deleted');
    await expect(guard.bucket.head('guard-held')).rejects.toThrow('the repository was deleted');
  });
});
