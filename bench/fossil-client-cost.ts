/**
 * What a clone's reply costs the fossil client, in instructions (valgrind --tool=callgrind:
 * exact, the same on every run and under any load), for replies recorded from the hub and from
 * fossil server and for mixes of the two. Most of a small clone's wall time is the client's own
 * work (storing the cards, then its rebuild of the repository), and that depends on the shape of
 * the deltas it is sent, not only on their bytes.
 *
 *   ROUNDS_DIR=... npx tsx bench/fossil-rounds.ts prepare                     (once)
 *   DUMP=DIR N=1 ROUNDS_DIR=... npx tsx bench/fossil-rounds.ts . fossil        (writes DIR/round{1,2}-{hubA,fossilserver})
 *   npx tsx bench/fossil-client-cost.ts DIR [VARIANT ...]
 *
 * Each variant's replies are served by a canned server (one reply per request, in order) to one
 * `fossil clone` under callgrind. Variants (all of them by default):
 *   hub      the hub's replies as recorded
 *   fossil   fossil server's replies as recorded
 *   bases    the hub's round 1, but each artifact whose delta base differs from fossil server's
 *            goes as fossil server sent it (card and bytes): what the shape of those costs
 *   bytes    the hub's round 1, but each artifact with the same base as fossil server's goes with
 *            fossil server's bytes (its zlib stream and delta encoding)
 *   order    the hub's cards in fossil server's order
 * Prints each variant's instructions and the ratio to `fossil`, and the artifacts each changed.
 */
import { execFile } from 'node:child_process';
import { createServer } from 'node:http';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fossilEnv } from '../test/e2e/fossil-client.js';

type Card = { line: string; hash?: string; base?: string; payload?: Buffer };

/** The cards of a plain (uncompressed) clone reply, cfile payloads kept whole. */
function parseCards(reply: Buffer): Card[] {
  if (reply.subarray(0, 6).toString() !== 'pragma' && reply[0] !== 0x23) throw new Error('not a plain reply (a clone round of protocol 3 is one)');
  const cards: Card[] = [];
  for (let at = 0; at < reply.length; ) {
    const end = reply.indexOf(0x0a, at);
    const line = reply.subarray(at, end < 0 ? reply.length : end).toString('latin1');
    at = end < 0 ? reply.length : end + 1;
    const w = line.split(' ');
    if (w[0] !== 'cfile') {
      if (line !== '') cards.push({ line });
      continue;
    }
    const size = Number(w[w.length - 1]);
    const payload = reply.subarray(at, at + size);
    at += size;
    // fossil 2.21 states some payloads one byte longer than the bytes before its newline (the
    // next card follows at once): as fossil's own parser does, the stated size is the payload
    // and a newline after it, if any, is a blank line.
    if (reply[at] === 0x0a) at++;
    cards.push({ line, hash: w[1], base: w.length === 5 ? w[2] : undefined, payload });
  }
  return cards;
}

function cardBytes(c: Card): Buffer {
  if (c.payload === undefined) return Buffer.from(`${c.line}\n`, 'latin1');
  const w = c.line.split(' ');
  const usize = w[w.length - 2];
  const line = c.base === undefined ? `cfile ${c.hash} ${usize} ${c.payload.length}` : `cfile ${c.hash} ${c.base} ${usize} ${c.payload.length}`;
  return Buffer.concat([Buffer.from(`${line}\n`, 'latin1'), c.payload, Buffer.from('\n')]);
}

/** The hub's round 1 with its cfile cards replaced or reordered; its other cards as they were (before and after the cfiles). */
function rebuilt(hub: Card[], files: Card[]): Buffer {
  const first = hub.findIndex((c) => c.hash !== undefined);
  const head = hub.slice(0, first).filter((c) => c.hash === undefined);
  const tail = hub.slice(first).filter((c) => c.hash === undefined);
  return Buffer.concat([...head, ...files, ...tail].map(cardBytes));
}

/** Serves `replies` one per POST, in order (the last again if asked more often). */
async function cannedServer(replies: Buffer[]): Promise<{ url: string; close(): void }> {
  let n = 0;
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      const body = replies[Math.min(n++, replies.length - 1)];
      const plain = body.subarray(0, 6).toString() === 'pragma' || body[0] === 0x23;
      res.writeHead(200, { 'content-type': plain ? 'application/x-fossil-uncompressed' : 'application/x-fossil', 'content-length': body.length, connection: 'close' });
      res.end(body);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as { port: number };
  return { url: `http://127.0.0.1:${port}/p`, close: () => server.close() };
}

/** Instructions of one `fossil clone` of `url` under callgrind. */
function clientInstructions(home: string, url: string): Promise<number> {
  const out = join(home, 'callgrind.out');
  const dest = join(home, 'clone.fossil');
  rmSync(dest, { force: true });
  return new Promise((done, fail) =>
    execFile('valgrind', ['--tool=callgrind', `--callgrind-out-file=${out}`, 'fossil', 'clone', url, dest], { cwd: home, env: fossilEnv(home), maxBuffer: 64 * 2 ** 20 }, (e, _stdout, stderr) => {
      if (e) return fail(new Error(`fossil clone under callgrind failed: ${e.message}\n${stderr.slice(-2000)}`));
      const m = /Collected : (\d+)/.exec(stderr);
      if (!m) return fail(new Error(`no instruction count in valgrind's output:\n${stderr.slice(-2000)}`));
      done(Number(m[1]));
    }),
  );
}

const dir = process.argv[2];
if (!dir) throw new Error('usage: npx tsx bench/fossil-client-cost.ts DIR [hub|fossil|bases|bytes|order ...]');
const wanted = process.argv.length > 3 ? process.argv.slice(3) : ['fossil', 'hub', 'bases', 'bytes', 'order'];
const read = (name: string) => readFileSync(join(dir, name));
const hub1 = parseCards(read('round1-hubA'));
const ref1 = parseCards(read('round1-fossilserver'));
const ref = new Map(ref1.filter((c) => c.hash !== undefined).map((c) => [c.hash!, c]));
const hubFiles = hub1.filter((c) => c.hash !== undefined);
const refOrder = new Map(ref1.filter((c) => c.hash !== undefined).map((c, i) => [c.hash!, i]));

const variants: Record<string, () => { replies: Buffer[]; changed: number }> = {
  hub: () => ({ replies: [read('round1-hubA'), read('round2-hubA')], changed: 0 }),
  fossil: () => ({ replies: [read('round1-fossilserver'), read('round2-fossilserver')], changed: 0 }),
  bases: () => {
    const files = hubFiles.map((c) => (ref.has(c.hash!) && ref.get(c.hash!)!.base !== c.base ? ref.get(c.hash!)! : c));
    return { replies: [rebuilt(hub1, files), read('round2-hubA')], changed: files.filter((c, i) => c !== hubFiles[i]).length };
  },
  bytes: () => {
    const files = hubFiles.map((c) => (ref.has(c.hash!) && ref.get(c.hash!)!.base === c.base ? ref.get(c.hash!)! : c));
    return { replies: [rebuilt(hub1, files), read('round2-hubA')], changed: files.filter((c, i) => c !== hubFiles[i] && !c.payload!.equals(hubFiles[i].payload!)).length };
  },
  order: () => {
    const files = [...hubFiles].sort((a, b) => (refOrder.get(a.hash!) ?? Infinity) - (refOrder.get(b.hash!) ?? Infinity));
    return { replies: [rebuilt(hub1, files), read('round2-hubA')], changed: files.filter((c, i) => c !== hubFiles[i]).length };
  },
};

const home = mkdtempSync(join(tmpdir(), 'fossil-client-cost-'));
try {
  const counts = new Map<string, number>();
  for (const name of wanted) {
    const make = variants[name];
    if (!make) throw new Error(`unknown variant ${name}`);
    const { replies, changed } = make();
    const server = await cannedServer(replies);
    try {
      const n = await clientInstructions(home, server.url);
      counts.set(name, n);
      const ratio = counts.has('fossil') ? ` (${(n / counts.get('fossil')!).toFixed(4)}x fossil)` : '';
      console.log(`${name.padEnd(7)} ${n.toLocaleString('en')} client instructions${ratio}${changed ? `; ${changed} artifacts changed` : ''}`);
    } finally {
      server.close();
    }
  }
} finally {
  rmSync(home, { recursive: true, force: true });
}
