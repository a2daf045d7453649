/**
 * zlib throughput: our pure inflater and fflate's deflate (pure), and the
 * injected native zlib (node:zlib, one engine reused through its handle), each
 * beside node:zlib called directly on the same data in the same run. Also the
 * pack-reader pattern: many small streams back to back, each found with
 * inflatePrefix.
 */
import * as zlib from 'node:zlib';
import { unzlibSync } from 'fflate';
import { adler32, pureZlib } from '../shared/core/zlib.js';
import type { Zlib } from '../shared/core/primitives.js';
import { nativeZlib } from '../worker/native-zlib.js';
import { best, randomBytes, textBytes, type BenchRow, type BenchSuite } from './harness.js';

const GROUP = 'zlib';
const SIZE = 16 * 2 ** 20;

async function pair(ours: () => unknown, ref: () => unknown, runs = 5): Promise<[number, number]> {
  return [await best(ours, runs), await best(ref, runs)];
}

export const suite: BenchSuite = async () => {
  const rows: BenchRow[] = [];
  const text = textBytes(SIZE);
  const mixed = new Uint8Array(SIZE);
  mixed.set(text.subarray(0, SIZE / 2));
  mixed.set(randomBytes(SIZE / 2), SIZE / 2);
  // Part of every pure inflate (its trailer check); no native one to compare with in node:zlib.
  rows.push({ group: GROUP, name: 'adler32 (pure)', bytes: text.length, seconds: await best(() => adler32(text), 5) });
  for (const [label, data] of [['text', text], ['half random', mixed]] as const) {
    const z = new Uint8Array(zlib.deflateSync(data, { level: 6 }));
    const ref = () => zlib.inflateSync(z);
    for (const [name, impl] of [['pure (ours)', pureZlib], ['native', nativeZlib]] as [string, Zlib][]) {
      const [ours, theirs] = await pair(() => impl.inflatePrefix(z, data.length), ref);
      rows.push({ group: GROUP, name: `inflatePrefix ${label}, ${name}`, bytes: data.length, seconds: ours, reference: { name: 'node:zlib inflateSync', seconds: theirs }, goal: name === 'native' ? 1.25 : undefined, note: 'MB/s of output' });
    }
    const [ff, theirs] = await pair(() => unzlibSync(z), ref);
    rows.push({ group: GROUP, name: `inflate ${label}, fflate (for comparison)`, bytes: data.length, seconds: ff, reference: { name: 'node:zlib inflateSync', seconds: theirs } });
    for (const [name, impl] of [['pure', pureZlib], ['native', nativeZlib]] as [string, Zlib][]) {
      const [st, theirs2] = await pair(() => {
        const inf = impl.createInflater(data.length);
        for (let i = 0; i <= z.length; i += 65536) if (inf.push(z.subarray(i, i + 65536)).done) break;
      }, ref);
      rows.push({ group: GROUP, name: `streaming inflater ${label}, ${name} (64 KiB pushes)`, bytes: data.length, seconds: st, reference: { name: 'node:zlib inflateSync', seconds: theirs2 } });
    }
    for (const [name, impl] of [['pure (fflate)', pureZlib], ['native', nativeZlib]] as [string, Zlib][]) {
      const [ours, theirs] = await pair(() => impl.deflate(data, 6), () => zlib.deflateSync(data, { level: 6 }), 3);
      rows.push({ group: GROUP, name: `deflate level 6 ${label}, ${name}`, bytes: data.length, seconds: ours, reference: { name: 'node:zlib deflateSync', seconds: theirs }, note: 'MB/s of input' });
    }
  }
  // Pack pattern: 20,000 small streams (50..1500 bytes of text) back to back.
  const sizes = Array.from({ length: 20000 }, (_, i) => 50 + ((i * 7919) % 1450));
  const raws = sizes.map((n, i) => textBytes(n, i + 1));
  const streams = raws.map((r) => zlib.deflateSync(r));
  const all = new Uint8Array(streams.reduce((n, s) => n + s.length, 0));
  streams.reduce((at, s) => (all.set(s, at), at + s.length), 0);
  const total = sizes.reduce((a, b) => a + b, 0);
  const walk = (impl: Zlib) => () => {
    let at = 0;
    for (const n of sizes) at += impl.inflatePrefix(all.subarray(at, at + n + 64), n)!.consumed;
  };
  const refSmall = () => {
    let at = 0;
    for (const s of streams) {
      zlib.inflateSync(all.subarray(at, at + s.length));
      at += s.length;
    }
  };
  for (const [name, impl] of [['pure (ours)', pureZlib], ['native', nativeZlib]] as [string, Zlib][]) {
    const [ours, theirs] = await pair(walk(impl), refSmall);
    rows.push({ group: GROUP, name: `20k small streams back to back, inflatePrefix ${name}`, bytes: total, seconds: ours, reference: { name: 'node:zlib inflateSync, lengths known', seconds: theirs }, note: 'per-call overhead dominates' });
  }
  return rows;
};
