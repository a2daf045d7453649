// A push whose pending chain resolves many manifests in one request hands them
// to onArtifacts (crosslinking) in bounded batches, each after its commit, and
// the crosslinked tables end as when everything was handed on at once.
// Pure (memory store): runs in Node and in workerd.
import { describe, expect, it } from 'vitest';
import { parseArtifactStrict, type Artifact, type FileCard } from '../../../../shared/core/fossil/artifact.js';
import { buildArtifact } from '../../../../shared/core/fossil/build.js';
import { applyCrosslinkRows } from '../../../../shared/core/fossil/crosslink-apply.js';
import { MemoryCrosslinkTables } from '../../../../shared/core/fossil/crosslink-memory.js';
import { crosslink } from '../../../../shared/core/fossil/crosslink.js';
import { artifactId } from '../../../../shared/core/fossil/name.js';
import { ARTIFACT_BATCH_BYTES, ARTIFACT_BATCH_COUNT, type ReceivedArtifact } from '../../../../shared/protocols/fossil/receive.js';
import { ArtifactReader, receiveMemo } from '../../../../shared/protocols/fossil/repo.js';
import { xfer, ROLE_CAPS, sharedSecret } from '../../../../shared/protocols/fossil/index.js';
import { deltaCard, enc, fileCard, harness, msg, p, parseReply, type Harness } from './xfer-helpers.js';
import { concat } from '../../../../shared/core/bytes.js';
import { encodeBody } from '../../../../shared/protocols/fossil/body.js';
import { loginNonce, loginSignature } from '../../../../shared/protocols/fossil/login.js';

const PRAGMA = 'pragma client-version 22100 20230226 192424\n';

interface Chain {
  texts: Uint8Array[];
  hashes: string[];
}

/** `n` check-ins in a line, each listing `files` files and changing one; newest last. */
function chain(n: number, files: number): Chain {
  const names = Array.from({ length: files }, (_, i) => `src/d${i % 7}/file-${String(i).padStart(5, '0')}.c`).sort();
  const content = names.map((_, i) => artifactId(p, enc(`f${i} v0`), 'sha3-256'));
  const texts: Uint8Array[] = [];
  const hashes: string[] = [];
  for (let i = 0; i < n; i++) {
    if (i > 0) content[i % files] = artifactId(p, enc(`f${i % files} v${i}`), 'sha3-256');
    const cards: FileCard[] = names.map((name, j) => ({ name, hash: content[j] }));
    const date = new Date(Date.UTC(2024, 0, 1) + i * 60_000).toISOString().slice(0, 23);
    const text = buildArtifact({ comment: `check-in ${i}`, date, files: cards, user: 'u', ...(i > 0 ? { parents: [hashes[i - 1]] } : {}) }, 'manifest');
    texts.push(text);
    hashes.push(artifactId(p, text, 'sha3-256'));
  }
  return { texts, hashes };
}

/** Crosslinks batches as the DO does: the batch parsed, anything else loaded from what the store holds. */
function crosslinker(h: Harness, c: Chain) {
  const tables = new MemoryCrosslinkTables();
  const byHash = new Map(c.hashes.map((x, i) => [x, c.texts[i]]));
  const load = async (hash: string): Promise<Artifact | null> => {
    const [state] = await h.store.states([hash]);
    const text = byHash.get(hash);
    return state === 'public' && text ? parseArtifactStrict(text) : null;
  };
  return {
    tables,
    async link(batch: ReceivedArtifact[]) {
      const known = new Map(batch.map((r) => [r.hash, r.artifact]));
      const source = tables.source(async (x) => known.get(x) ?? (await load(x)));
      for (const r of batch) applyCrosslinkRows(tables, await crosslink(r.hash, r.artifact, source));
    },
  };
}

function dump(t: MemoryCrosslinkTables) {
  const s = (rows: unknown[]) => rows.map((r) => JSON.stringify(r)).sort();
  return { events: s([...t.events.values()]), plinks: s(t.plinks()), mlinks: s([...t.mlinks.values()].flat()), tagxrefs: s(t.tagxrefs()), leaves: [...t.leaves].sort() };
}

/** Sends as alice with `onArtifacts` as the hook. */
async function send(h: Harness, body: Uint8Array, onArtifacts: (b: ReceivedArtifact[]) => Promise<void> | void) {
  const nonce = loginNonce(p, body);
  const sig = loginSignature(p, nonce, sharedSecret(p, h.projectCode, 'alice', 'secret'));
  const message = concat([enc(`login alice ${nonce} ${sig}\n`), body]);
  const reply = await xfer(
    h.repo,
    { contentType: 'application/x-fossil', body: encodeBody(p, 'compressed', message) },
    {
      anonymousCaps: ROLE_CAPS.nobody,
      user: async (login, pc) => (login === 'alice' ? { caps: ROLE_CAPS.write, secrets: [sharedSecret(p, pc, login, 'secret')] } : null),
      onArtifacts,
    },
  );
  return parseReply(reply.contentType, reply.body);
}

/**
 * Round 1: every check-in but the newest, each as a delta against its child
 * (fossil's reverse deltas), all pending. Round 2: the newest, full: its
 * commit resolves the whole chain.
 */
async function pushChain(h: Harness, c: Chain, onArtifacts: (b: ReceivedArtifact[]) => Promise<void> | void) {
  const n = c.texts.length;
  const deltas = c.texts.slice(0, n - 1).map((t, i) => deltaCard(c.texts[i + 1], t).card);
  const head = `push ${h.serverCode} ${h.projectCode}\n`;
  const r1 = await send(h, msg(PRAGMA, head, ...deltas), onArtifacts);
  expect(r1.lines.filter((l) => l.startsWith('error'))).toEqual([]);
  expect(await h.store.states(c.hashes.slice(0, n - 1))).toEqual(c.hashes.slice(0, n - 1).map(() => 'pending'));
  return send(h, msg(PRAGMA, head, fileCard(c.texts[n - 1]).card), onArtifacts);
}

describe('crosslinking a resolved pending chain in batches', () => {
  for (const [label, n, files, memo] of [
    ['many small manifests (count bound), host memo', 200, 20, true],
    ['large manifests (byte bound), host memo', 60, 1500, true],
    ['large manifests (byte bound), no memo', 40, 1500, false],
  ] as const) {
    it(label, async () => {
      const c = chain(n, files);
      const size = new Map(c.hashes.map((x, i) => [x, c.texts[i].length]));
      const h = await harness();
      if (memo) h.repo.memo = receiveMemo();
      const x = crosslinker(h, c);
      const batches: { count: number; bytes: number; stored: boolean }[] = [];
      const reply = await pushChain(h, c, async (batch) => {
        const states = await h.store.states(batch.map((r) => r.hash));
        batches.push({ count: batch.length, bytes: batch.reduce((s, r) => s + size.get(r.hash)!, 0), stored: states.every((s) => s === 'public') });
        await x.link(batch);
      });
      expect(reply.lines.filter((l) => l.startsWith('error'))).toEqual([]);
      expect(await h.store.states(c.hashes)).toEqual(c.hashes.map(() => 'public'));
      // Every manifest handed on once, in bounded batches, each already committed.
      expect(batches.reduce((s, b) => s + b.count, 0)).toBe(n);
      expect(batches.length).toBeGreaterThan(1);
      for (const b of batches) {
        expect(b.count).toBeLessThanOrEqual(ARTIFACT_BATCH_COUNT);
        if (b.count > 1) expect(b.bytes).toBeLessThanOrEqual(ARTIFACT_BATCH_BYTES);
        expect(b.stored).toBe(true);
      }
      // The tables are those of crosslinking everything at once (as before batching).
      const all = crosslinker(h, c);
      await all.link(c.hashes.map((hash, i) => ({ hash, seq: i, artifact: parseArtifactStrict(c.texts[i]) })));
      expect(dump(x.tables)).toEqual(dump(all.tables));
      expect(x.tables.leaves).toEqual(new Set([c.hashes[n - 1]]));
      expect(x.tables.mlinks.size).toBe(n);
      // The memo holds no view of a request message: every entry owns its buffer.
      if (memo) {
        for (const cache of [h.repo.memo!.texts, h.repo.memo!.deltas]) {
          for (const v of (cache as unknown as { entries: Map<string, Uint8Array> }).entries.values()) {
            expect(v.byteLength).toBe(v.buffer.byteLength);
          }
        }
      }
    });
  }

  it('a host memo smaller than the chain: the texts and deltas it drops are freed, and every artifact is stored intact', async () => {
    const c = chain(40, 1500); // manifests of ~150 KB: a few fit in the memo below
    const h = await harness();
    h.repo.memo = receiveMemo(600 * 1024, 300 * 1024);
    const kept: Uint8Array[] = [];
    for (const cache of [h.repo.memo.texts, h.repo.memo.deltas]) {
      const set = cache.set.bind(cache);
      cache.set = (id, data) => (kept.push(data), set(id, data));
    }
    const x = crosslinker(h, c);
    const reply = await pushChain(h, c, (batch) => x.link(batch));
    expect(reply.lines.filter((l) => l.startsWith('error'))).toEqual([]);
    expect(await h.store.states(c.hashes)).toEqual(c.hashes.map(() => 'public'));
    const reader = new ArtifactReader({ ...h.repo, memo: undefined }, 0);
    for (const [i, hash] of c.hashes.entries()) expect(await reader.read(hash)).toEqual(c.texts[i]);
    expect(x.tables.mlinks.size).toBe(40);
    // What the memo still holds is whole; what it dropped was freed (where the runtime can: workerd, not Node 20).
    const held = new Set([h.repo.memo.texts, h.repo.memo.deltas].flatMap((m) => [...(m as unknown as { entries: Map<string, Uint8Array> }).entries.values()]));
    for (const v of held) expect(v.byteLength).toBeGreaterThan(0);
    const dropped = kept.filter((v) => !held.has(v));
    expect(dropped.length).toBeGreaterThan(30);
    const canFree = typeof (new ArrayBuffer(1) as ArrayBuffer & { transfer?: unknown }).transfer === 'function';
    expect(dropped.filter((v) => v.byteLength > 0).length).toBe(canFree ? 0 : dropped.length);
  });

  it('a failing hook still lets the whole chain be stored; crosslinking again completes the tables', async () => {
    const c = chain(150, 10);
    const h = await harness();
    h.repo.memo = receiveMemo();
    const x = crosslinker(h, c);
    let calls = 0;
    await expect(
      pushChain(h, c, async (batch) => {
        if (++calls === 2) throw new Error('crosslink failed');
        await x.link(batch);
      }),
    ).rejects.toThrow('crosslink failed');
    expect(calls).toBe(2); // no batch after the failure
    expect(await h.store.states(c.hashes)).toEqual(c.hashes.map(() => 'public'));
    await x.link(c.hashes.map((hash, i) => ({ hash, seq: i, artifact: parseArtifactStrict(c.texts[i]) })));
    const all = crosslinker(h, c);
    await all.link(c.hashes.map((hash, i) => ({ hash, seq: i, artifact: parseArtifactStrict(c.texts[i]) })));
    expect(dump(x.tables)).toEqual(dump(all.tables));
  });
});
