/**
 * Pack indexing and writing on a generated repository (~60 MB pack: many
 * revisions of text files with deep delta chains, and multi-MB binaries):
 * packBytesToEntries (native primitives injected, and pure) against
 * `git index-pack --threads=1` on the same pack; entriesToPackBytes copying raw
 * records (how a clone is served) against `git pack-objects --stdout --all`
 * (which also copies stored deltas). The pack is cached in the temp dir.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { purePrimitives, type Primitives } from '../shared/core/primitives.js';
import { fromBytes } from '../shared/core/stream.js';
import { packBytesToEntries, type PackEntry } from '../shared/protocols/git/pack-reader.js';
import { entriesToPackBytes, type PackWriteEntry } from '../shared/protocols/git/pack-writer.js';
import { nativePrimitives } from '../worker/primitives.js';
import { best, randomBytes, textBytes, type BenchRow, type BenchSuite } from './harness.js';

const GROUP = 'git pack';
const CACHE = join(tmpdir(), 'hub-pack-bench-v1');

function git(cwd: string, args: string[], input?: Uint8Array | string): Buffer {
  const home = join(CACHE, 'home');
  return execFileSync('git', args, {
    cwd,
    input,
    maxBuffer: 1 << 30,
    env: { ...process.env, HOME: home, XDG_CONFIG_HOME: home, GIT_CONFIG_NOSYSTEM: '1', GIT_COMMITTER_NAME: 'b', GIT_COMMITTER_EMAIL: 'b@x', GIT_AUTHOR_NAME: 'b', GIT_AUTHOR_EMAIL: 'b@x' },
  });
}

/** Build (once) a repository and its pack. */
function fixture(): { repo: string; pack: string } {
  const repo = join(CACHE, 'repo.git');
  const pack = join(CACHE, 'bench.pack');
  if (existsSync(pack)) return { repo, pack };
  rmSync(CACHE, { recursive: true, force: true });
  execFileSync('git', ['init', '-q', '--bare', repo]);
  const enc = new TextEncoder();
  const parts: Uint8Array[] = [];
  const texts = Array.from({ length: 80 }, (_, f) => new TextDecoder().decode(textBytes(10_000 + f * 700, f + 1)).split('\n'));
  const bins = Array.from({ length: 8 }, (_, b) => randomBytes(1_000_000 + b * 350_000, b + 100));
  let seed = 5;
  const rnd = () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0), seed >>> 8);
  const blob = (path: string, data: Uint8Array) => parts.push(enc.encode(`M 100644 inline ${path}\ndata ${data.length}\n`), data, enc.encode('\n'));
  for (let c = 0; c < 600; c++) {
    parts.push(enc.encode(`commit refs/heads/main\ncommitter b <b@x> ${1700000000 + c} +0000\ndata 9\ncommit ${c % 10}\n`));
    for (let f = 0; f < texts.length; f++) {
      if (c > 0 && rnd() % 8 !== 0) continue;
      for (let k = 0; k < 4; k++) texts[f].splice(rnd() % texts[f].length, 1, `edit ${c} ${rnd()}`);
      blob(`src/d${f % 7}/f${f}.txt`, enc.encode(texts[f].join('\n')));
    }
    for (let b = 0; b < bins.length; b++) {
      if (c > 0 && (c + b * 7) % 60 !== 0) continue;
      if (c % 180 === 0) bins[b] = randomBytes(bins[b].length, c + b);
      else for (let k = 0; k < 100; k++) bins[b][rnd() % bins[b].length] = rnd() & 0xff;
      blob(`assets/b${b}.bin`, bins[b]);
    }
  }
  const stream = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  parts.reduce((at, p) => (stream.set(p, at), at + p.length), 0);
  git(repo, ['fast-import', '--quiet'], stream);
  git(repo, ['repack', '-a', '-d', '-q', '--depth=50', '--window=20']);
  writeFileSync(pack, git(repo, ['pack-objects', '-q', '--stdout', '--all', '--delta-base-offset'], ''));
  return { repo, pack };
}

async function readAll(bytes: Uint8Array, primitives: Primitives, keep?: PackEntry[]): Promise<number> {
  let objects = 0;
  for await (const ev of packBytesToEntries(fromBytes(bytes, 65536), { primitives, maxDeltaBaseCache: 64 * 2 ** 20 })) {
    if (ev.kind === 'object') objects++;
    else if (ev.kind === 'entry' && keep) keep.push(ev.entry);
  }
  return objects;
}

export const suite: BenchSuite = async () => {
  const { repo, pack } = fixture();
  const bytes = new Uint8Array(readFileSync(pack));
  const work = mkdtempSync(join(tmpdir(), 'hub-pack-bench-'));
  const rows: BenchRow[] = [];
  try {
    git(work, ['init', '-q', '--bare', 'r.git']);
    const r = join(work, 'r.git');
    const indexPack = () => git(r, ['index-pack', '--threads=1', '-o', join(work, 'x.idx'), pack]);
    const entries: PackEntry[] = [];
    const count = await readAll(bytes, nativePrimitives, entries);
    const note = `${(bytes.length / 1e6).toFixed(0)} MB pack, ${count} objects`;
    const native = await best(() => readAll(bytes, nativePrimitives), 3);
    const ref = await best(indexPack, 3);
    rows.push({ group: GROUP, name: 'read + resolve + hash every object (native primitives)', bytes: bytes.length, seconds: native, reference: { name: 'git index-pack --threads=1', seconds: ref }, goal: 1.5, note });
    const pure = await best(() => readAll(bytes, purePrimitives), 1);
    rows.push({ group: GROUP, name: 'read + resolve + hash every object (pure primitives)', bytes: bytes.length, seconds: pure, reference: { name: 'git index-pack --threads=1', seconds: ref }, note });

    const index = new Map(entries.map((e, i) => [e.offset, i]));
    const records: PackWriteEntry[] = entries.map((e) => ({
      kind: 'raw',
      type: e.type === 'ofs-delta' || e.type === 'ref-delta' ? 'delta' : e.type,
      size: e.size,
      compressed: e.raw.subarray(e.headerLength),
      ...(e.baseOffset !== undefined ? { base: { index: index.get(e.baseOffset)! } } : e.baseId ? { base: { id: e.baseId } } : {}),
    }));
    const write = async () => {
      let n = 0;
      for await (const c of entriesToPackBytes(records, records.length, { primitives: nativePrimitives })) n += c.length;
      if (n !== bytes.length) throw new Error('size mismatch');
    };
    const ws = await best(write, 3);
    const pw = await best(() => git(repo, ['pack-objects', '-q', '--stdout', '--all', '--delta-base-offset', '--threads=1'], ''), 3);
    rows.push({ group: GROUP, name: 'write a pack from stored raw records (native SHA-1)', bytes: bytes.length, seconds: ws, reference: { name: 'git pack-objects --stdout --all (reusing deltas)', seconds: pw }, note: 'ours excludes fetching records from storage; git includes the object walk' });
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  return rows;
};
