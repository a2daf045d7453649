// Node-only helper: serves the runtime-neutral xfer() over a local HTTP server
// (HTTP/1.0-style replies with Content-Length) on an in-memory Fossil store,
// so the real fossil client can clone, pull, push and sync against it.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { isXferContentType, newRepository, ROLE_CAPS, sharedSecret, xfer, type FossilRole, type ReceivedArtifact, type XferLimits } from '../../../../shared/protocols/fossil/index.js';
import type { FossilRepo } from '../../../../shared/protocols/fossil/repo.js';
import { MemoryFossilStore } from '../../../../shared/storage/fossil-memory.js';
import { MemorySegmentStore } from '../../../../shared/storage/memory.js';
import { nativePrimitives } from '../../../../worker/primitives.js';

export interface TestUser {
  password: string;
  role: Exclude<FossilRole, 'nobody'>;
}

export interface XferServerOptions {
  /** Anonymous users may clone and pull (a public repository). */
  public?: boolean;
  users?: Record<string, TestUser>;
  limits?: Partial<XferLimits>;
  projectName?: string;
}

export interface XferServer {
  url: string;
  /** URL with user:password@. */
  urlFor(user: string): string;
  repo: FossilRepo;
  store: MemoryFossilStore;
  segments: MemorySegmentStore;
  projectCode: string;
  /** Structural artifacts passed to onArtifacts, in order. */
  received: ReceivedArtifact[];
  /** Request bodies and replies seen (for checks). */
  requests: number;
  close(): Promise<void>;
}

/** Starts a server for one fresh repository (as `fossil new` would make it). */
export async function startXferServer(opts: XferServerOptions = {}): Promise<XferServer> {
  const store = new MemoryFossilStore();
  const segments = new MemorySegmentStore();
  const repo: FossilRepo = { store, segments, primitives: nativePrimitives };
  const init = await newRepository(repo, { creator: 'admin', projectName: opts.projectName ?? 'test-project' });
  const users = opts.users ?? {};
  const received: ReceivedArtifact[] = [init.initialCheckin];
  let requests = 0;
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      void (async () => {
        requests++;
        const contentType = req.headers['content-type'] ?? '';
        if (req.method !== 'POST' || !isXferContentType(contentType)) {
          res.writeHead(404, { 'Content-Type': 'text/plain', Connection: 'close' });
          res.end('not found');
          return;
        }
        try {
          const reply = await xfer(repo, { contentType, body: new Uint8Array(Buffer.concat(chunks)) }, {
            anonymousCaps: opts.public === false ? '' : ROLE_CAPS.nobody,
            user: async (login, projectCode) => {
              const u = users[login];
              if (!u) return null;
              return { caps: ROLE_CAPS[u.role], secrets: [sharedSecret(nativePrimitives, projectCode, login, u.password)] };
            },
            onArtifacts: (items) => {
              received.push(...items);
            },
            limits: opts.limits,
          });
          res.writeHead(200, { 'Content-Type': reply.contentType, 'Content-Length': reply.body.length, Connection: 'close' });
          res.end(Buffer.from(reply.body));
        } catch (e) {
          res.writeHead(500, { 'Content-Type': 'text/plain', Connection: 'close' });
          res.end(String(e instanceof Error ? e.stack : e));
        }
      })();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  const url = `http://127.0.0.1:${port}/repo`;
  return {
    url,
    urlFor: (user) => `http://${user}:${encodeURIComponent(users[user]?.password ?? 'x')}@127.0.0.1:${port}/repo`,
    repo,
    store,
    segments,
    projectCode: init.projectCode,
    received,
    get requests() {
      return requests;
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
