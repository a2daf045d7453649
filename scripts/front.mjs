#!/usr/bin/env node
// A small HTTP front for `wrangler dev`, used by the fossil e2e tests (`npm start`
// served through it until the hub padded its short fossil replies, 1c97b8a).
//
// Why: fossil 2.21 sends HTTP/1.0 requests and reads each reply until the
// connection closes, but wrangler dev (workerd) keeps HTTP/1.0 connections
// open ~5 s after answering (a Connection: close from the Worker is ignored),
// so every fossil round trip would stall 5 s. Node's HTTP server does honour
// HTTP/1.0: it closes such a connection once the reply is complete. This front
// terminates client connections with Node and forwards each request to the
// Worker over keep-alive HTTP/1.1. In production Cloudflare's edge serves the
// Worker directly and none of this is needed.
//
// Bodies stream both ways with backpressure (pipe), never buffered, so
// multi-hundred-MB git pushes and clones pass with bounded memory. Status,
// headers (Authorization, Git-Protocol, Content-Encoding, ...) and bytes pass
// unchanged; only hop-by-hop headers are dropped, as any proxy must (Node
// frames each side itself: Content-Length, chunked, or close for HTTP/1.0).
//
// CLI: node scripts/front.mjs TARGET_URL [PORT [HOST]] — prints the port it
// listens on (PORT 0 = any free one) on stdout once listening.
import http from 'node:http';
import { pathToFileURL } from 'node:url';

/** Headers that describe one connection, not the message (RFC 9110 §7.6.1), plus Expect (answered here). */
const HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'te', 'trailer', 'upgrade', 'expect']);

/** rawHeaders ([name, value, ...]) without hop-by-hop ones and those the Connection header names. */
function endToEnd(raw) {
  const named = new Set();
  for (let i = 0; i < raw.length; i += 2) {
    if (raw[i].toLowerCase() === 'connection') for (const t of raw[i + 1].split(',')) named.add(t.trim().toLowerCase());
  }
  const out = [];
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i].toLowerCase();
    if (!HOP.has(name) && !named.has(name)) out.push(raw[i], raw[i + 1]);
  }
  return out;
}

/**
 * Starts a front on host:port relaying to `target` (an http:// origin).
 * Resolves with the listening port and a close() that stops it.
 */
export function startFront({ target, port = 0, host = '127.0.0.1' }) {
  const upstream = new URL(target);
  // Keep-alive to the Worker: HTTP/1.1 there, so workerd's HTTP/1.0 behaviour never comes into play.
  // An idle pooled socket is dropped after 2 s, well before the dev server closes its end (~5 s):
  // reusing one the server is closing answered a fossil round with ECONNRESET, i.e. a 502 here.
  // (The timeout only destroys free sockets; a request waiting on a long push is not cut.)
  const agent = new http.Agent({ keepAlive: true, maxSockets: 64, timeout: 2000 });
  const server = http.createServer((req, res) => {
    const headers = endToEnd(req.rawHeaders);
    const out = http.request(
      {
        host: upstream.hostname,
        port: upstream.port || 80,
        method: req.method,
        path: req.url,
        headers,
        agent,
        // Raw pairs keep names' case and repeated headers as the client sent them.
        setHost: false,
      },
      (up) => {
        res.writeHead(up.statusCode ?? 502, up.statusMessage, endToEnd(up.rawHeaders));
        up.pipe(res);
        up.on('error', () => res.destroy());
      },
    );
    out.on('error', (e) => {
      if (res.headersSent) return res.destroy();
      res.writeHead(502, { 'content-type': 'text/plain; charset=utf-8' });
      res.end(`front: upstream ${target} unavailable (${e.code ?? e.message})\n`);
    });
    // A client that goes away mid-request or mid-reply aborts the upstream request too.
    res.on('close', () => {
      if (!res.writableFinished) out.destroy();
    });
    req.pipe(out);
  });
  // Large pushes can take minutes to upload: no whole-request deadline (Node's default is 300 s).
  server.requestTimeout = 0;
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      resolve({
        port: server.address().port,
        close: () =>
          new Promise((r) => {
            server.close(() => r());
            server.closeAllConnections();
            agent.destroy();
          }),
      });
    });
  });
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const [target, port = '0', host = '127.0.0.1'] = process.argv.slice(2);
  if (!target) {
    console.error('usage: node scripts/front.mjs TARGET_URL [PORT [HOST]]');
    process.exit(2);
  }
  const front = await startFront({ target, port: Number(port), host });
  console.log(front.port);
  for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => front.close().then(() => process.exit(0)));
}
