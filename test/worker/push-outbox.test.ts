// The audit log's outbox (worker/durable/push-outbox.ts): pushes through the routes while D1 refuses
// push_events rows (a trigger), then D1 back: each event reaches D1 once, in push order, whether the
// alarm, a later push or the events API sends it, and an event sent again is not logged twice.
import { SELF, env, runDurableObjectAlarm, runInDurableObject } from 'cloudflare:test';
import { describe, expect, it, vi } from 'vitest';
import { listEvents } from '../../worker/audit.js';
import { sha3_256 } from '@noble/hashes/sha3.js';
import { toHex } from '../../shared/core/bytes.js';
import { xferError } from '../../shared/protocols/fossil/errors.js';
import { sha1Hex, sharedSecret } from '../../worker/fossil-login.js';
import { addFossilEvent, addGitEvents, OUTBOX_RETRY_MAX_MS, OUTBOX_RETRY_MS, openFossilEvent, retryDelay, sendEvents } from '../../worker/durable/push-outbox.js';
import type { RepoObject } from '../../worker/durable/repo.js';
import type { SqlHost } from '../../worker/durable/repo-store.js';
import { blob, CAPS, commit, decodeReply, packOf, pushBody, tree, ZERO_ID, type Obj } from '../shared/protocols/git/receive-pack-helpers.js';

const HUB = 'http://hub.test';
const ADMIN = { authorization: 'Bearer test-admin-token', 'content-type': 'application/json' };
const WRITER = { authorization: `Basic ${btoa('x:test-admin-token')}`, 'content-type': 'application/x-git-receive-pack-request' };
const D1_DOWN = `CREATE TRIGGER push_events_down BEFORE INSERT ON push_events BEGIN SELECT RAISE(ABORT, 'D1 is down'); END`;

async function newRepo(name: string, kind: 'git' | 'fossil' = 'git'): Promise<{ id: string; stub: DurableObjectStub<RepoObject> }> {
  expect((await SELF.fetch(`${HUB}/api/repos`, { method: 'POST', headers: ADMIN, body: JSON.stringify({ name, kind, public: true }) })).status).toBe(201);
  const id = (await env.DB.prepare('SELECT id FROM repos WHERE name = ?').bind(name).first<{ id: string }>())!.id;
  return { id, stub: env.REPO.get(env.REPO.idFromName(id)) as DurableObjectStub<RepoObject> };
}

async function push(name: string, cmds: [string, string, string][], objects: Obj[]): Promise<string[]> {
  const res = await SELF.fetch(`${HUB}/${name}.git/git-receive-pack`, { method: 'POST', headers: WRITER, body: pushBody(cmds, CAPS, await packOf(objects)) });
  expect(res.status).toBe(200);
  return decodeReply(new Uint8Array(await res.arrayBuffer()), true).report;
}

/** A commit of one file on `parents`: its objects, commit first. */
function change(text: string, parents: string[]): Obj[] {
  const b = blob(text);
  const t = tree([['100644', 'file.txt', b.id]]);
  return [commit(t.id, parents, text), t, b];
}

/** One fossil round pushing `texts` as `user` (password `password`); the reply's text. */
async function fossilPush(name: string, user: string, password: string, texts: string[]): Promise<string> {
  const post = async (body: string) =>
    new TextDecoder().decode(await (await SELF.fetch(`${HUB}/${name}`, { method: 'POST', headers: { 'content-type': 'application/x-fossil-uncompressed' }, body })).arrayBuffer());
  const codes = /^push ([0-9a-f]{40}) ([0-9a-f]{40})$/m.exec(await post('pragma client-version 22100 20230226 192424\nclone 3 1\n'))!;
  let cards = `push ${codes[1]} ${codes[2]}\n`;
  for (const text of texts) cards += `file ${toHex(sha3_256(new TextEncoder().encode(text)))} ${text.length}\n${text}`;
  const nonce = await sha1Hex(cards);
  const signature = await sha1Hex(nonce + (await sharedSecret(codes[2], user, password)));
  return post(`login ${user} ${nonce} ${signature}\n${cards}`);
}

/** The instance's private parts a test reaches into. */
type Inside = { fossilHost: SqlHost };

type Row = { seq: number; ref: string | null; old_id: string | null; new_id: string | null };

const outbox = (stub: DurableObjectStub<RepoObject>) =>
  runInDurableObject(stub, (_, state) => state.storage.sql.exec<Row>('SELECT seq, ref, old_id, new_id FROM push_outbox ORDER BY seq').toArray());

const logged = async (id: string) =>
  (await env.DB.prepare('SELECT outbox_seq AS seq, ref, old_id, new_id FROM push_events WHERE repo_id = ? ORDER BY seq').bind(id).all<Row>()).results;

describe('the audit outbox', () => {
  it('keeps the events of pushes D1 refused, and the alarm logs each once, in push order', async () => {
    const { id, stub } = await newRepo('outbox-down');
    const [c1] = change('one', []);
    const [c2, ...rest2] = change('two', [c1.id]);
    await env.DB.prepare(D1_DOWN).run();
    // The pushes succeed: D1 is only told after the reply.
    expect(await push('outbox-down', [[ZERO_ID, c1.id, 'refs/heads/main']], change('one', []))).toEqual(['unpack ok', 'ok refs/heads/main']);
    const two: [string, string, string][] = [
      [c1.id, c2.id, 'refs/heads/main'],
      [ZERO_ID, c2.id, 'refs/heads/topic'],
    ];
    expect(await push('outbox-down', two, [c2, ...rest2])).toEqual(['unpack ok', 'ok refs/heads/main', 'ok refs/heads/topic']);
    // A refused update (stale old id) logs nothing.
    expect((await push('outbox-down', [[c1.id, c2.id, 'refs/heads/topic']], []))[1]).toMatch(/^ng refs\/heads\/topic /);
    // The events API answers with what D1 has (nothing), its send refused too.
    const api = await SELF.fetch(`${HUB}/api/repos/outbox-down/events`);
    expect(await api.json()).toEqual({ events: [] });
    expect(await stub.flushAudit()).toBe(false);
    const want = [
      { ref: 'refs/heads/main', old_id: null, new_id: c1.id },
      { ref: 'refs/heads/main', old_id: c1.id, new_id: c2.id },
      { ref: 'refs/heads/topic', old_id: null, new_id: c2.id },
    ];
    const kept = await outbox(stub);
    expect(kept).toMatchObject(want);
    expect(await logged(id)).toEqual([]);
    // The failed send after the last push armed the alarm to try again.
    await vi.waitFor(async () => {
      const at = await runInDurableObject(stub, (_, state) => state.storage.getAlarm());
      expect(at).not.toBeNull();
      expect(at!).toBeLessThanOrEqual(Date.now() + OUTBOX_RETRY_MS);
    });

    await env.DB.prepare('DROP TRIGGER push_events_down').run();
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    expect(await outbox(stub)).toEqual([]);
    expect(await logged(id)).toEqual(kept);
    // Newest first in the API: the second push's refs (in its order, reversed), then the first's.
    expect((await listEvents(env.DB, id, 10)).map((e) => e.type === 'push' && [e.ref, e.new])).toEqual([
      ['refs/heads/topic', c2.id],
      ['refs/heads/main', c2.id],
      ['refs/heads/main', c1.id],
    ]);

    // As after an instance that died between D1's insert and the outbox's delete: sent again, logged once.
    await runInDurableObject(stub, (_, state) => {
      for (const r of kept) state.storage.sql.exec(`INSERT INTO push_outbox (seq, repo_id, kind, ref, old_id, new_id, at) VALUES (?, ?, 'git', ?, ?, ?, 0)`, r.seq, id, r.ref, r.old_id, r.new_id);
    });
    expect(await stub.flushAudit()).toBe(true);
    expect(await outbox(stub)).toEqual([]);
    expect(await logged(id)).toEqual(kept);

    // A later push goes to D1 at once, after the others (the API waits for its send); its seq is new.
    const [c3, ...rest3] = change('three', [c2.id]);
    expect(await push('outbox-down', [[c2.id, c3.id, 'refs/heads/topic']], [c3, ...rest3])).toEqual(['unpack ok', 'ok refs/heads/topic']);
    const events = ((await (await SELF.fetch(`${HUB}/api/repos/outbox-down/events`)).json()) as { events: { ref: string; new: string }[] }).events;
    expect(events.map((e) => [e.ref, e.new])).toEqual([['refs/heads/topic', c3.id], ['refs/heads/topic', c2.id], ['refs/heads/main', c2.id], ['refs/heads/main', c1.id]]);
    const all = await logged(id);
    expect(all[3].seq).toBeGreaterThan(kept[2].seq);
  });

  it('sends fossil rounds (check-ins bounded) and a push of many refs, in batches, oldest first', async () => {
    const { id, stub } = await newRepo('outbox-batches');
    const ci = (n: number) => n.toString(16).padStart(64, '0');
    const refs = Array.from({ length: 450 }, (_, i) => ({ name: `refs/tags/t${i}`, old: null, new: ci(i).slice(0, 40) }));
    await runInDurableObject(stub, async (_, state) => {
      const sql = state.storage.sql;
      addFossilEvent(sql, id, 'sam', 7, Array.from({ length: 105 }, (_, i) => ci(i)), 1000);
      addGitEvents(sql, id, 'pat', refs, 2000);
      addFossilEvent(sql, id, null, 1, [], 3000);
      await sendEvents(sql, env.DB);
      expect(sql.exec('SELECT count(*) AS n FROM push_outbox').one().n).toBe(0);
    });
    const events = await listEvents(env.DB, id, 1000);
    expect(events).toHaveLength(452);
    expect(events[0]).toMatchObject({ type: 'fossil-push', actor: null, artifacts: 1, checkins: [] });
    expect(events.slice(1, 451)).toEqual(refs.reverse().map((r) => expect.objectContaining({ type: 'push', actor: 'pat', ref: r.name, old: null, new: r.new })));
    expect(events[451]).toMatchObject({ type: 'fossil-push', actor: 'sam', artifacts: 7, checkins: Array.from({ length: 100 }, (_, i) => ci(i)) });
  });

  it('left by an instance that died are sent by the alarm its next instance sets as it starts', async () => {
    const { id, stub: dying } = await newRepo('outbox-died');
    await runInDurableObject(dying, async (_, state) => {
      addGitEvents(state.storage.sql, id, 'pat', [{ name: 'refs/heads/main', old: null, new: 'e'.repeat(40) }]);
      await state.storage.deleteAlarm();
    });
    // The instance dies before its send (no alarm set either).
    await runInDurableObject(dying, (_, state) => state.abort('gone')).catch(() => undefined);
    const stub = env.REPO.get(env.REPO.idFromName(id));
    expect(await stub.ping()).toBe(1);
    // Its alarm is due at once (workerd runs it by itself).
    await vi.waitFor(async () => expect(await logged(id)).toEqual([{ seq: 1, ref: 'refs/heads/main', old_id: null, new_id: 'e'.repeat(40) }]));
    expect(await outbox(stub)).toEqual([]);
  });

  it('backs off while D1 refuses (1, 2, 4 ... minutes, at most an hour), and keeps what a deleted repository had not sent', async () => {
    expect([0, 1, 2, 5, 6, 7, 100].map(retryDelay)).toEqual([1, 2, 4, 32, 60, 60, 60].map((m) => m * OUTBOX_RETRY_MS));
    expect(retryDelay(100)).toBe(OUTBOX_RETRY_MAX_MS);
    const { id, stub } = await newRepo('outbox-backoff');
    const [c1, ...rest1] = change('one', []);
    await env.DB.prepare(D1_DOWN).run();
    try {
      expect(await push('outbox-backoff', [[ZERO_ID, c1.id, 'refs/heads/main']], [c1, ...rest1])).toEqual(['unpack ok', 'ok refs/heads/main']);
      const alarmIn = () => runInDurableObject(stub, async (_, state) => (await state.storage.getAlarm())! - Date.now());
      // Each of the alarm's tries D1 refuses doubles the wait before the next.
      for (const minutes of [2, 4, 8]) {
        expect(await runDurableObjectAlarm(stub)).toBe(true);
        const wait = await alarmIn();
        expect(wait).toBeGreaterThan((minutes - 0.5) * OUTBOX_RETRY_MS);
        expect(wait).toBeLessThanOrEqual(minutes * OUTBOX_RETRY_MS);
      }
      // Deleted while D1 is down: the push's event outlives the repository's storage, and the alarm stays armed for it.
      expect((await SELF.fetch(`${HUB}/api/repos/outbox-backoff`, { method: 'DELETE', headers: ADMIN })).status).toBe(204);
      expect(await outbox(stub)).toMatchObject([{ ref: 'refs/heads/main', old_id: null, new_id: c1.id }]);
      expect(await runInDurableObject(stub, (_, state) => state.storage.sql.exec('SELECT count(*) AS n FROM refs').one().n)).toBe(0);
      expect(await alarmIn()).toBeLessThanOrEqual(16 * OUTBOX_RETRY_MS);
    } finally {
      await env.DB.prepare('DROP TRIGGER IF EXISTS push_events_down').run();
    }
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    expect(await logged(id)).toEqual([{ seq: 1, ref: 'refs/heads/main', old_id: null, new_id: c1.id }]);
    expect(await outbox(stub)).toEqual([]);
  });

  it('a fossil round writes its event in the transaction of its first commit, logged even when the round fails after it', async () => {
    const { id, stub } = await newRepo('outbox-fossil', 'fossil');
    expect((await SELF.fetch(`${HUB}/api/users`, { method: 'POST', headers: ADMIN, body: JSON.stringify({ name: 'sam', password: 'pw' }) })).status).toBe(201);
    const role = await SELF.fetch(`${HUB}/api/repos/outbox-fossil/members/sam`, { method: 'PUT', headers: ADMIN, body: JSON.stringify({ role: 'write' }) });
    expect(role.status).toBeLessThan(300);
    // Right after the round's first commit: its event is in the outbox, open (not sent), naming who logged in.
    type Open = { kind: string; actor: string | null; artifacts: number; open: number };
    let seen: Open[] | null = null;
    let failAfter = false;
    let depth = 0;
    await runInDurableObject(stub, (instance, state) => {
      const host = (instance as unknown as Inside).fossilHost;
      const transact = host.transactionSync.bind(host);
      host.transactionSync = <T>(f: () => T): T => {
        const blobs = () => state.storage.sql.exec<{ n: number }>('SELECT count(*) AS n FROM fossil_blob').one().n;
        const before = blobs();
        depth++;
        let out: T;
        try {
          out = transact(f);
        } finally {
          depth--;
        }
        // The outermost transaction that stored the round's artifacts (its commit's own is nested in it).
        if (depth > 0 || seen !== null || blobs() === before) return out;
        seen = state.storage.sql.exec<Open>('SELECT kind, actor, artifacts, open FROM push_outbox').toArray();
        // The round fails after its commit (its resolving or crosslinking, say): what it stored is logged all the same.
        if (failAfter) throw xferError('test', 'the round failed after its commit');
        return out;
      };
    });
    expect(await fossilPush('outbox-fossil', 'sam', 'pw', ['one\n', 'two\n'])).not.toMatch(/^error/m);
    expect(seen).toEqual([{ kind: 'fossil', actor: 'sam', artifacts: 2, open: 1 }]);
    // The events API sends the closed event.
    const api = async () => ((await (await SELF.fetch(`${HUB}/api/repos/outbox-fossil/events`)).json()) as { events: { type: string; actor: string; artifacts: number }[] }).events;
    expect(await api()).toMatchObject([{ type: 'fossil-push', actor: 'sam', artifacts: 2 }]);
    failAfter = true;
    seen = null;
    expect(await fossilPush('outbox-fossil', 'sam', 'pw', ['three\n'])).toMatch(/^error the\\sround\\sfailed\\safter\\sits\\scommit$/m);
    expect(seen).toEqual([{ kind: 'fossil', actor: 'sam', artifacts: 1, open: 1 }]);
    expect(await api()).toMatchObject([
      { type: 'fossil-push', actor: 'sam', artifacts: 1 },
      { type: 'fossil-push', actor: 'sam', artifacts: 2 },
    ]);
    expect(await outbox(stub)).toEqual([]);

    // An event left open by an instance that died is closed and sent by the next instance; none after it went first.
    await runInDurableObject(stub, async (_, state) => {
      openFossilEvent(state.storage.sql, id, 'sam', 5);
      addFossilEvent(state.storage.sql, id, 'sam', 1, []);
      await sendEvents(state.storage.sql, env.DB);
      await state.storage.deleteAlarm();
    });
    expect((await api()).length).toBe(2);
    await runInDurableObject(stub, (_, state) => state.abort('gone')).catch(() => undefined);
    expect(await env.REPO.get(env.REPO.idFromName(id)).ping()).toBe(1);
    await vi.waitFor(async () => expect((await api()).slice(0, 2)).toMatchObject([{ artifacts: 1 }, { artifacts: 5 }]));
  });
});
