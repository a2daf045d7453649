/**
 * Hashing throughput: the pure hashers (@noble/hashes; our unrolled Keccak for SHA3), the injected native ones
 * (node:crypto), and crypto.subtle, beside the command-line tools on the same
 * bytes (sha1sum, sha256sum, openssl, git hash-object) timed in the same run.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sha3_256 } from '@noble/hashes/sha3.js';
import { pureHash } from '../shared/core/hash.js';
import { gitObjectId } from '../shared/core/git/object-id.js';
import { purePrimitives, type HashAlgorithm, type Primitives } from '../shared/core/primitives.js';
import { nativeHash } from '../worker/native-hash.js';
import { best, randomBytes, type BenchRow, type BenchSuite } from './harness.js';

const SIZE = 64 * 2 ** 20;
const GROUP = 'hashing';

/** A function running a command-line tool on `file` (as an argument, or on stdin via sh), or null if the tool is missing. */
function tool(cmd: string, args: string[], file: string, stdin = false): (() => unknown) | null {
  // Through sh with a redirect, so the tool reads the file itself rather than through a Node pipe.
  const script = stdin ? `${cmd} ${args.join(' ')} < "$0" > /dev/null` : `${cmd} ${args.join(' ')} "$0" > /dev/null`;
  const run = () => execFileSync('sh', ['-c', script, file], { stdio: 'ignore' });
  try {
    run();
    return run;
  } catch {
    return null;
  }
}

/**
 * Best times of ours and the reference, measured alternately, so a change in
 * machine load (the bench machine is shared) hits both sides alike.
 */
async function pair(ours: () => unknown, ref: () => unknown, runs = 5): Promise<[number, number]> {
  await ours();
  await ref();
  let a = Infinity;
  let b = Infinity;
  for (let i = 0; i < runs; i++) {
    a = Math.min(a, await once(ours));
    b = Math.min(b, await once(ref));
  }
  return [a, b];
}

async function once(fn: () => unknown): Promise<number> {
  const t = performance.now();
  await fn();
  return (performance.now() - t) / 1000;
}

function hashAll(make: (a: HashAlgorithm) => { update(d: Uint8Array): unknown; digest(): Uint8Array }, algo: HashAlgorithm, data: Uint8Array): Uint8Array {
  const h = make(algo);
  // Fed in 64 KiB chunks, as a stream would arrive.
  for (let i = 0; i < data.length; i += 65536) h.update(data.subarray(i, i + 65536));
  return h.digest();
}

export const suite: BenchSuite = async () => {
  const data = randomBytes(SIZE, 7);
  const dir = mkdtempSync(join(tmpdir(), 'hub-bench-hash-'));
  const file = join(dir, 'data.bin');
  writeFileSync(file, data);
  const rows: BenchRow[] = [];
  const label = { sha1: 'SHA-1', sha256: 'SHA-256', 'sha3-256': 'SHA3-256' } as const;
  try {
    const references: Record<HashAlgorithm, [string, (() => unknown) | null]> = {
      sha1: ['sha1sum', tool('sha1sum', [], file)],
      sha256: ['sha256sum', tool('sha256sum', [], file)],
      'sha3-256': ['openssl dgst -sha3-256', tool('openssl', ['dgst', '-sha3-256'], file)],
    };
    for (const algo of ['sha1', 'sha256', 'sha3-256'] as HashAlgorithm[]) {
      let [refName, ref] = references[algo];
      // Without the tool, node:crypto on one whole buffer stands in as the native reference.
      if (!ref) [refName, ref] = ['node:crypto, one update', () => createHash(algo).update(data).digest()];
      const [ours, refSeconds] = await pair(() => hashAll(nativeHash, algo, data), ref);
      const reference = { name: refName, seconds: refSeconds };
      const pureName = algo === 'sha3-256' ? 'pure, unrolled Keccak' : 'pure, @noble/hashes';
      rows.push({ group: GROUP, name: `${label[algo]} (${pureName})`, bytes: SIZE, seconds: await best(() => hashAll(pureHash, algo, data), 2), reference });
      if (algo === 'sha3-256') {
        const nobleSha3 = () => hashAll(() => sha3_256.create(), algo, data);
        rows.push({ group: GROUP, name: 'SHA3-256 (@noble/hashes, replaced)', bytes: SIZE, seconds: await best(nobleSha3, 1), reference, note: 'what the unrolled Keccak replaced' });
      }
      rows.push({ group: GROUP, name: `${label[algo]} (native injected, node:crypto)`, bytes: SIZE, seconds: ours, reference, goal: 1.25, note: 'fed in 64 KiB chunks' });
    }

    // git blob id of 64 MiB: header + content, as the pack indexer computes it.
    const native: Primitives = { ...purePrimitives, hash: nativeHash };
    const git = tool('git', ['hash-object', '--stdin'], file, true);
    if (git) {
      const [ours, refSeconds] = await pair(() => gitObjectId(native, 'blob', data), git);
      const reference = { name: 'git hash-object --stdin', seconds: refSeconds };
      rows.push({ group: GROUP, name: 'git blob id (native injected)', bytes: SIZE, seconds: ours, reference, goal: 1.25 });
      rows.push({ group: GROUP, name: 'git blob id (pure)', bytes: SIZE, seconds: await best(() => gitObjectId(purePrimitives, 'blob', data), 2), reference });
    }

    // crypto.subtle: WinterTC's own route to native hashing, but one-shot and async.
    // Against @noble on the same work: one 64 MiB digest, and 16384 x 4 KiB digests.
    const small = Array.from({ length: SIZE / 4096 }, (_, i) => data.subarray(i * 4096, (i + 1) * 4096));
    for (const [algo, subtleName] of [['sha1', 'SHA-1'], ['sha256', 'SHA-256']] as const) {
      const [subtleOne, pureOne] = await pair(() => crypto.subtle.digest(subtleName, data), () => pureHash(algo).update(data).digest(), 3);
      rows.push({
        group: GROUP,
        name: `${label[algo]} crypto.subtle, one 64 MiB digest`,
        bytes: SIZE,
        seconds: subtleOne,
        reference: { name: '@noble (pure)', seconds: pureOne },
        note: 'one-shot only: cannot hash a stream incrementally',
      });
      const pureMany = () => small.map((s) => pureHash(algo).update(s).digest());
      const [inFlight, pureManyT] = await pair(() => Promise.all(small.map((s) => crypto.subtle.digest(subtleName, s))), pureMany, 3);
      rows.push({ group: GROUP, name: `${label[algo]} crypto.subtle, 16384 x 4 KiB all in flight`, bytes: SIZE, seconds: inFlight, reference: { name: '@noble (pure), sequential', seconds: pureManyT } });
      const [oneByOne, pureManyT2] = await pair(async () => {
        for (const s of small) await crypto.subtle.digest(subtleName, s);
      }, pureMany, 3);
      rows.push({ group: GROUP, name: `${label[algo]} crypto.subtle, 16384 x 4 KiB awaited one by one`, bytes: SIZE, seconds: oneByOne, reference: { name: '@noble (pure), sequential', seconds: pureManyT2 } });
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return rows;
};
