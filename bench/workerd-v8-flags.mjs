#!/usr/bin/env node
/**
 * Diagnosis only: workerd with V8 flags, under the Miniflare that scripts/dev.mjs runs (wrangler's,
 * which, unlike the top-level one's MINIFLARE_WORKERD_V8_FLAGS, has no way to pass them). Miniflare
 * runs MINIFLARE_WORKERD_PATH when set, with its binary Cap'n Proto Config on stdin: this sets the
 * Config's v8Flags (pointer 2 of the root struct, unset by Miniflare) to WORKERD_V8_FLAGS and runs the
 * real workerd on it, e.g. V8's GC trace of a push (on workerd's stdout, kept by HUB_E2E_LOG=FILE):
 *
 *   MINIFLARE_WORKERD_PATH=$PWD/bench/workerd-v8-flags.mjs WORKERD_V8_FLAGS=--trace-gc-nvp \
 *     HUB_E2E_LOG=/tmp/hub.log npx tsx bench/git-memory.ts many 0
 *
 * The hub must never depend on a flag: Cloudflare runs it with none.
 */
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';

const miniflare = createRequire(createRequire(import.meta.url).resolve('wrangler')).resolve('miniflare');
const workerd = createRequire(miniflare)('workerd').default;

/** `config` (a Cap'n Proto message) with the root struct's pointer 2 set to a List(Text) of `flags`, appended to segment 0. */
function withV8Flags(config, flags) {
  const segments = config.readUInt32LE(0) + 1;
  const seg0Words = config.readUInt32LE(4);
  const seg0 = 8 * Math.ceil((4 + 4 * segments) / 8);
  const root = config.readUInt32LE(seg0);
  const rootHi = config.readUInt32LE(seg0 + 4);
  if ((root & 3) !== 0) throw new Error('the root pointer is not a struct pointer');
  const struct = 1 + (root >> 2);
  if (rootHi >>> 16 < 3) throw new Error('the root struct has no v8Flags pointer');
  const slot = struct + (rootHi & 0xffff) + 2;
  if (config.readUInt32LE(seg0 + 8 * slot) !== 0 || config.readUInt32LE(seg0 + 8 * slot + 4) !== 0) throw new Error('v8Flags is set already');
  // The list's pointers, then each text (NUL-terminated, word-aligned), after segment 0's last word.
  const texts = flags.map((f) => Buffer.from(`${f}\0`));
  const list = seg0Words;
  let next = list + texts.length;
  const extra = [];
  const pointers = Buffer.alloc(8 * texts.length);
  texts.forEach((t, i) => {
    pointers.writeUInt32LE((((next - (list + i + 1)) << 2) | 1) >>> 0, 8 * i);
    pointers.writeUInt32LE(((t.length << 3) | 2) >>> 0, 8 * i + 4);
    const words = Math.ceil(t.length / 8);
    extra.push(Buffer.concat([t, Buffer.alloc(8 * words - t.length)]));
    next += words;
  });
  const out = Buffer.from(config);
  out.writeUInt32LE((((list - (slot + 1)) << 2) | 1) >>> 0, seg0 + 8 * slot);
  out.writeUInt32LE(((texts.length << 3) | 6) >>> 0, seg0 + 8 * slot + 4);
  out.writeUInt32LE(next, 4);
  const end0 = seg0 + 8 * seg0Words;
  return Buffer.concat([out.subarray(0, end0), pointers, ...extra, out.subarray(end0)]);
}

const args = process.argv.slice(2);
if (args[0] !== 'serve') {
  spawn(workerd, args, { stdio: 'inherit' }).on('exit', (code) => process.exit(code ?? 1));
} else {
  const chunks = [];
  for await (const c of process.stdin) chunks.push(c);
  const flags = (process.env.WORKERD_V8_FLAGS ?? '').split(' ').filter(Boolean);
  const config = withV8Flags(Buffer.concat(chunks), flags);
  // Miniflare's control pipe is fd 3.
  const child = spawn(workerd, args, { stdio: ['pipe', 'inherit', 'inherit', 'inherit'] });
  child.stdin.end(config);
  for (const s of ['SIGTERM', 'SIGINT']) process.on(s, () => child.kill(s));
  child.on('exit', (code) => process.exit(code ?? 1));
}
