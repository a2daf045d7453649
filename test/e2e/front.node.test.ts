/**
 * scripts/front.mjs, the front `npm start` puts before wrangler dev (and the
 * fossil e2e tests before their hub): HTTP/1.0 replies end with the
 * connection closed at once, everything else passes through unchanged, and
 * large bodies stream both ways with bounded memory. The upstream here is a
 * tiny Node server that, like workerd, is only ever spoken to over HTTP/1.1.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { http10Front } from './fossil-client.js';

const BIG = 128 * 1024 * 1024;
const CHUNK = Buffer.alloc(1024 * 1024, 'x');

let upstream: http.Server;
let front: Awaited<ReturnType<typeof http10Front>>;
let seen: http.IncomingHttpHeaders = {};

beforeAll(async () => {
  upstream = http.createServer((req, res) => {
    seen = req.headers;
    if (req.url === '/hello') {
      res.writeHead(200, { 'content-type': 'text/plain', 'content-length': '6' });
      return res.end('hello\n');
    }
    if (req.url === '/chunked') {
      // No Content-Length: the front must end an HTTP/1.0 reply by closing.
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.write('part one, ');
      setTimeout(() => res.end('part two\n'), 50);
      return;
    }
    if (req.url === '/auth') {
      res.writeHead(401, { 'www-authenticate': 'Basic realm="hub"', 'content-encoding': 'gzip', 'content-length': '3' });
      return res.end('abc');
    }
    if (req.url === '/slow') {
      // Longer than the front's idle timeout for pooled sockets (2 s), which must not cut a request in flight.
      setTimeout(() => res.writeHead(200, { 'content-length': '5' }).end('slow\n'), 2500);
      return;
    }
    if (req.url === '/upload') {
      const h = createHash('sha256');
      let n = 0;
      req.on('data', (d: Buffer) => {
        h.update(d);
        n += d.length;
      });
      req.on('end', () => res.end(JSON.stringify({ n, sha: h.digest('hex') })));
      return;
    }
    if (req.url === '/download') {
      res.writeHead(200, { 'content-type': 'application/octet-stream' });
      let sent = 0;
      const more = (): void => {
        while (sent < BIG) {
          sent += CHUNK.length;
          if (!res.write(CHUNK)) return void res.once('drain', more);
        }
        res.end();
      };
      return more();
    }
    res.writeHead(404).end();
  });
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
  const { port } = upstream.address() as net.AddressInfo;
  front = await http10Front(`http://127.0.0.1:${port}`);
});

afterAll(async () => {
  await front?.stop();
  upstream?.closeAllConnections();
  await new Promise((r) => upstream?.close(r));
});

/** Sends raw bytes to the front; everything it answers up to the close, and how long the close took. */
function raw(request: string): Promise<{ text: string; ms: number }> {
  const { port } = new URL(front.url);
  return new Promise((resolve, reject) => {
    const t0 = Date.now();
    const s = net.connect(Number(port), '127.0.0.1', () => s.write(request));
    let text = '';
    s.on('data', (d) => (text += d.toString('latin1')));
    s.on('error', reject);
    s.on('close', () => resolve({ text, ms: Date.now() - t0 }));
  });
}

describe('front (scripts/front.mjs)', () => {
  it('answers an HTTP/1.0 request and closes the connection at once', async () => {
    const r = await raw('GET /hello HTTP/1.0\r\nHost: hub\r\n\r\n');
    expect(r.text).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
    expect(r.text.endsWith('\r\n\r\nhello\n')).toBe(true);
    expect(r.ms).toBeLessThan(1000);
  });

  it('ends an HTTP/1.0 reply without Content-Length by closing once the upstream reply ends', async () => {
    const r = await raw('POST /chunked HTTP/1.0\r\nHost: hub\r\nContent-Type: application/x-fossil\r\nContent-Length: 3\r\n\r\nabc');
    expect(r.text).not.toMatch(/transfer-encoding/i);
    expect(r.text.endsWith('\r\n\r\npart one, part two\n')).toBe(true);
    expect(r.ms).toBeLessThan(1000);
  });

  it('passes status and headers through both ways, and keeps HTTP/1.1 connections alive', async () => {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const sockets = new Set<net.Socket>();
    const get = (path: string, headers: Record<string, string>) =>
      new Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }>((resolve, reject) => {
        const req = http.get(`${front.url}${path}`, { agent, headers }, (res) => {
          let body = '';
          res.setEncoding('latin1');
          res.on('data', (d) => (body += d));
          res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body }));
        });
        req.on('socket', (s) => sockets.add(s));
        req.on('error', reject);
      });
    const a = await get('/auth', { authorization: 'Basic YTpi', 'git-protocol': 'version=2' });
    expect(a.status).toBe(401);
    expect(a.headers['www-authenticate']).toBe('Basic realm="hub"');
    expect(a.headers['content-encoding']).toBe('gzip');
    expect(a.body).toBe('abc'); // not decoded
    expect(seen.authorization).toBe('Basic YTpi');
    expect(seen['git-protocol']).toBe('version=2');
    expect(seen.host).toBe(new URL(front.url).host);
    expect((await get('/hello', {})).body).toBe('hello\n');
    expect(sockets.size).toBe(1);
    agent.destroy();
  });

  it('waits for a reply slower than its idle-socket timeout, and serves again after the pool went idle', async () => {
    const slow = await raw('GET /slow HTTP/1.0\r\nHost: hub\r\n\r\n');
    expect(slow.text).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
    expect(slow.text.endsWith('\r\n\r\nslow\n')).toBe(true);
    await new Promise((r) => setTimeout(r, 2500));
    const again = await raw('GET /hello HTTP/1.0\r\nHost: hub\r\n\r\n');
    expect(again.text.endsWith('\r\n\r\nhello\n')).toBe(true);
  });

  it('streams a large body each way with bounded memory', async () => {
    const expected = createHash('sha256');
    for (let n = 0; n < BIG; n += CHUNK.length) expected.update(CHUNK);
    const up = await new Promise<{ n: number; sha: string }>((resolve, reject) => {
      // Chunked, as git sends a large push.
      const req = http.request(`${front.url}/upload`, { method: 'POST', headers: { 'content-type': 'application/x-git-receive-pack-request' } }, (res) => {
        let body = '';
        res.on('data', (d) => (body += d));
        res.on('end', () => resolve(JSON.parse(body)));
      });
      req.on('error', reject);
      let sent = 0;
      const more = (): void => {
        while (sent < BIG) {
          sent += CHUNK.length;
          if (!req.write(CHUNK)) return void req.once('drain', more);
        }
        req.end();
      };
      more();
    });
    expect(up).toEqual({ n: BIG, sha: expected.digest('hex') });
    const down = await new Promise<number>((resolve, reject) => {
      http.get(`${front.url}/download`, (res) => {
        let n = 0;
        res.on('data', (d: Buffer) => (n += d.length));
        res.on('end', () => resolve(n));
      }).on('error', reject);
    });
    expect(down).toBe(BIG);
    // Peak resident memory of the front's process: far below the 256 MiB that passed through it.
    const hwm = Number(/VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${front.pid}/status`, 'utf8'))![1]) * 1024;
    expect(hwm).toBeLessThan(120 * 1024 * 1024);
  });
});
