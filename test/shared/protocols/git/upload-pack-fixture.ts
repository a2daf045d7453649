// Node-only helpers for upload-pack tests: fill the in-memory store from a pack
// made by the real git (records = each entry's zlib stream as received, rows as
// a push would index them), and serve it over a local HTTP server so the real
// git client can clone and fetch from it.
import { execFile } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { gunzipSync } from 'node:zlib';
import { fromBytes } from '../../../../shared/core/stream.js';
import { uploadPackV0Advertisement, uploadPackV2Advertisement } from '../../../../shared/protocols/git/advertisement.js';
import { DEFAULT_UPLOAD_FEATURES, type UploadPackFeatures } from '../../../../shared/protocols/git/capabilities.js';
import { packBytesToEntries, type PackEntry } from '../../../../shared/protocols/git/pack-reader.js';
import { encodePkts } from '../../../../shared/protocols/git/pkt-line.js';
import { decodeSideband } from '../../../../shared/protocols/git/sideband.js';
import { advertisementInputs, uploadPack, type UploadPackStore } from '../../../../shared/protocols/git/upload-pack.js';
import { appendRecords } from '../../../../shared/storage/segments.js';
import { createMemoryStores, type MemoryRepoStore, type MemorySegmentStore } from '../../../../shared/storage/memory.js';
import type { IndexRowInput } from '../../../../shared/storage/object-index.js';
import type { RefUpdate } from '../../../../shared/storage/refs.js';
import { MemoryReach } from '../../../../shared/storage/reach.js';
import { nativePrimitives } from '../../../../worker/primitives.js';
import { splitPkts } from './http-transcript.js';

const enc = new TextEncoder();

/** One pkt-line of text (the length counts bytes, not characters). */
export const pkt = (s: string): string => (enc.encode(s).length + 4).toString(16).padStart(4, '0') + s;

/** A v2 fetch request body with these argument lines. */
export const v2Fetch = (args: string[]): Uint8Array =>
  enc.encode(pkt('command=fetch\n') + pkt('object-format=sha1\n') + '0001' + args.map((a) => pkt(`${a}\n`)).join('') + '0000');

/**
 * A v2 fetch of `args` served by `store`: the pack's bytes (band 1) and the progress text (band 2).
 * Any other band, or a reply without a packfile section, throws with its text.
 */
export async function fetchPackV2(store: UploadPackStore, args: string[], maxWalk?: number): Promise<{ pack: Uint8Array; progress: string }> {
  const out = await collectBytes(uploadPack(store, fromBytes(v2Fetch(args)), { protocol: 2, maxWalk }));
  const pack: Uint8Array[] = [];
  let progress = '';
  let inPack = false;
  for (const p of splitPkts(out).pkts) {
    if (p.kind !== 'data') continue;
    if (!inPack) {
      inPack = Buffer.from(p.payload).toString('latin1') === 'packfile\n';
      continue;
    }
    const sb = decodeSideband(p.payload);
    if (sb.band === 1) pack.push(sb.data.slice());
    else if (sb.band === 2) progress += Buffer.from(sb.data).toString();
    else throw new Error(`band ${sb.band}: ${Buffer.from(sb.data).toString()}`);
  }
  if (!inPack) throw new Error(Buffer.from(out).toString('latin1'));
  return { pack: new Uint8Array(Buffer.concat(pack)), progress };
}

/**
 * `loaded`'s store with a reach index (MemoryReach over its repository), telling `seen` of each
 * mark (how many ids, whether it resets) and each plan asked for.
 */
export function withReach(loaded: LoadedRepo, seen: { mark?: (ids: number, reset: boolean) => void; plan?: () => void; get?: () => void } = {}): UploadPackStore {
  const repo = loaded.repo;
  const reach = new MemoryReach(repo);
  return {
    ...loaded.store,
    index: {
      has: (ids) => repo.has(ids),
      get: (id) => {
        seen.get?.();
        return repo.get(id);
      },
      chain: (id) => {
        seen.get?.();
        return repo.chain(id);
      },
      reachState: () => reach.reachState(),
      reachStatus: (ids) => reach.reachStatus(ids),
      reachRows: (ids) => reach.reachRows(ids),
      reachMark: (expect, tips, ids, reset) => {
        seen.mark?.(ids.length, reset);
        return reach.reachMark(expect, tips, ids, reset);
      },
      reachPlan: (version, blobs) => {
        seen.plan?.();
        return reach.reachPlan(version, blobs);
      },
    },
  };
}

export interface LoadedRepo {
  repo: MemoryRepoStore;
  segments: MemorySegmentStore;
  store: UploadPackStore;
}

/** Index a git pack into `into` (or a fresh memory store), one segment per pack. */
export async function loadPack(pack: Uint8Array, into?: LoadedRepo): Promise<LoadedRepo> {
  const { repo, segments } = into ?? createMemoryStores();
  const entries: PackEntry[] = [];
  const ids = new Map<number, { id: string; type: string; size: number }>();
  const base = async (id: string) => {
    const row = await repo.get(id);
    if (!row) return null;
    const { readObject } = await import('../../../../shared/storage/object-store.js');
    const { applyGitDelta } = await import('../../../../shared/delta/git.js');
    const obj = await readObject({ index: repo, segments, primitives: nativePrimitives, appliers: { git: applyGitDelta, fossil: () => new Uint8Array() } }, id);
    return obj && { type: obj.kind as 'blob', data: obj.data };
  };
  for await (const ev of packBytesToEntries(fromBytes(pack), { primitives: nativePrimitives, baseProvider: base })) {
    if (ev.kind === 'entry') entries.push({ ...ev.entry, raw: ev.entry.raw.slice() });
    if (ev.kind === 'object') ids.set(ev.object.offset, { id: ev.object.id, type: ev.object.type, size: ev.object.size });
  }
  const written = await appendRecords(segments, entries.map((e) => e.raw.subarray(e.headerLength)));
  const rows: IndexRowInput[] = entries.map((e, i) => {
    const o = ids.get(e.offset)!;
    const delta = e.type === 'ofs-delta' || e.type === 'ref-delta';
    return {
      id: o.id,
      kind: o.type as 'blob',
      size: o.size,
      segment: written.segment,
      offset: written.records[i].offset,
      length: written.records[i].length,
      format: delta ? 'git-delta' : 'full',
      base: !delta ? null : e.type === 'ofs-delta' ? ids.get(e.baseOffset!)!.id : e.baseId!,
    };
  });
  await repo.putBatch(rows);
  const store: UploadPackStore = { refs: repo, index: repo, segments, primitives: nativePrimitives };
  return { repo, segments, store };
}

/** Set refs to exactly `refs` (name -> id) and HEAD -> `head`. */
export async function setRefs(repo: MemoryRepoStore, refs: Record<string, string>, head = 'refs/heads/main'): Promise<void> {
  const current = await repo.list();
  const updates: RefUpdate[] = current.filter((r) => !(r.name in refs)).map((r) => ({ name: r.name, old: r.id, new: null }));
  for (const [name, id] of Object.entries(refs)) updates.push({ name, old: (await repo.read(name)) as string, new: id });
  const res = await repo.update(updates);
  if (!res.ok) throw new Error(`ref update failed: ${JSON.stringify(res.refs)}`);
  await repo.setSymbolic('HEAD', head);
}

/** Concatenate a stream. */
export async function collectBytes(s: AsyncIterable<Uint8Array>): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  for await (const c of s) parts.push(c.slice());
  return new Uint8Array(Buffer.concat(parts));
}

/** A local smart-HTTP server for `git` over the store (upload-pack only): http://127.0.0.1:PORT/repo.git */
export async function serveHttp(
  store: () => UploadPackStore,
  features: UploadPackFeatures = DEFAULT_UPLOAD_FEATURES,
): Promise<{ url: string; close(): Promise<void>; requests: { version: 0 | 2; body: Uint8Array }[] }> {
  const requests: { version: 0 | 2; body: Uint8Array }[] = [];
  const server: Server = createServer(async (req, res) => {
    try {
      const version = /version=2/.test(String(req.headers['git-protocol'] ?? '')) ? 2 : 0;
      const url = new URL(req.url!, 'http://x');
      if (req.method === 'GET' && url.pathname.endsWith('/info/refs')) {
        const { refs, head } = await advertisementInputs(store());
        const pkts = version === 2 ? uploadPackV2Advertisement(features) : uploadPackV0Advertisement(refs, head, features);
        res.writeHead(200, { 'content-type': 'application/x-git-upload-pack-advertisement', 'cache-control': 'no-cache' });
        res.end(Buffer.from(encodePkts(pkts)));
        return;
      }
      if (req.method === 'POST' && url.pathname.endsWith('/git-upload-pack')) {
        const chunks: Buffer[] = [];
        for await (const c of req) chunks.push(c as Buffer);
        let body: Uint8Array = Buffer.concat(chunks);
        if (req.headers['content-encoding'] === 'gzip') body = gunzipSync(body);
        requests.push({ version, body: new Uint8Array(body) });
        res.writeHead(200, { 'content-type': 'application/x-git-upload-pack-result', 'cache-control': 'no-cache' });
        for await (const chunk of uploadPack(store(), fromBytes(new Uint8Array(body)), { protocol: version, features, onError: (e) => console.error(e) })) {
          res.write(Buffer.from(chunk));
        }
        res.end();
        return;
      }
      res.writeHead(404).end();
    } catch (e) {
      console.error(e);
      res.writeHead(500).end();
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}/repo.git`,
    requests,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

/** Run git asynchronously (the HTTP server lives in this process). */
export function gitAsync(args: string[], cwd: string, env: NodeJS.ProcessEnv = {}): Promise<{ stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    execFile(
      'git',
      args,
      {
        cwd,
        maxBuffer: 1 << 28,
        env: { ...process.env, HOME: cwd, XDG_CONFIG_HOME: cwd, GIT_CONFIG_NOSYSTEM: '1', GIT_TERMINAL_PROMPT: '0', ...env },
      },
      (err, stdout, stderr) => (err ? reject(Object.assign(err, { stderr })) : resolve({ stdout, stderr })),
    );
  });
}
