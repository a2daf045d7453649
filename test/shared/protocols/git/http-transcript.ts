// Node-only helper for *.node.test.ts: split the raw captures in
// /work/shared/docs/transcripts/raw/g-*/conn-NNN.{c2s,s2c} into HTTP messages
// (Content-Length or chunked bodies, gzip request bodies inflated), and split
// pkt-line bodies. Kept independent of shared/ so fixtures check the code.
import { readFileSync, readdirSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import type { Pkt } from '../../../../shared/protocols/git/capabilities.js';

export const RAW = '/work/shared/docs/transcripts/raw';

export interface HttpMessage {
  startLine: string;
  headers: Map<string, string>;
  body: Uint8Array;
}

function parseMessages(buf: Uint8Array): HttpMessage[] {
  const out: HttpMessage[] = [];
  let at = 0;
  const text = (a: number, b: number) => Buffer.from(buf.subarray(a, b)).toString('latin1');
  while (at < buf.length) {
    const end = Buffer.from(buf).indexOf('\r\n\r\n', at, 'latin1');
    if (end < 0) break;
    const [startLine, ...lines] = text(at, end).split('\r\n');
    const headers = new Map<string, string>();
    for (const l of lines) {
      const i = l.indexOf(':');
      headers.set(l.slice(0, i).trim().toLowerCase(), l.slice(i + 1).trim());
    }
    at = end + 4;
    let body: Uint8Array;
    if (headers.has('content-length')) {
      const n = Number(headers.get('content-length'));
      body = buf.slice(at, at + n);
      at += n;
    } else if (headers.get('transfer-encoding') === 'chunked') {
      const parts: Uint8Array[] = [];
      for (;;) {
        const eol = Buffer.from(buf).indexOf('\r\n', at, 'latin1');
        const n = parseInt(text(at, eol), 16);
        at = eol + 2;
        if (n === 0) {
          at += 2;
          break;
        }
        parts.push(buf.slice(at, at + n));
        at += n + 2;
      }
      body = Buffer.concat(parts);
    } else {
      body = startLine.startsWith('HTTP/') ? buf.slice(at) : new Uint8Array(0);
      at += body.length;
    }
    if (headers.get('content-encoding') === 'gzip') body = new Uint8Array(gunzipSync(body));
    out.push({ startLine, headers, body: new Uint8Array(body) });
  }
  return out;
}

export interface Exchange {
  conn: string;
  request: HttpMessage;
  response: HttpMessage;
}

/** Every request/response pair of a capture, in order. */
export function exchanges(capture: string): Exchange[] {
  const dir = `${RAW}/${capture}`;
  const out: Exchange[] = [];
  for (const f of readdirSync(dir).filter((n) => n.endsWith('.c2s')).sort()) {
    const conn = f.slice(0, -4);
    const reqs = parseMessages(new Uint8Array(readFileSync(`${dir}/${conn}.c2s`)));
    const resps = parseMessages(new Uint8Array(readFileSync(`${dir}/${conn}.s2c`)));
    reqs.forEach((request, i) => out.push({ conn, request, response: resps[i] }));
  }
  return out;
}

/** Exchanges whose request line contains `needle`. */
export function find(capture: string, needle: string): Exchange[] {
  return exchanges(capture).filter((e) => e.request.startLine.includes(needle));
}

/** Split a pkt-line body. `stopAfterFlushes`: stop after that many flushes and report the offset. */
export function splitPkts(body: Uint8Array, stopAfterFlushes = Infinity): { pkts: Pkt[]; end: number } {
  const pkts: Pkt[] = [];
  let at = 0;
  let flushes = 0;
  while (at < body.length && flushes < stopAfterFlushes) {
    const n = parseInt(Buffer.from(body.subarray(at, at + 4)).toString('latin1'), 16);
    if (Number.isNaN(n)) throw new Error(`bad pkt header at ${at}`);
    if (n === 0) pkts.push({ kind: 'flush' }), flushes++;
    else if (n === 1) pkts.push({ kind: 'delim' });
    else if (n === 2) pkts.push({ kind: 'response-end' });
    else pkts.push({ kind: 'data', payload: body.slice(at + 4, at + n) });
    at += n < 4 ? 4 : n;
  }
  return { pkts, end: at };
}
