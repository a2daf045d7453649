/**
 * A stored blob too large to hold, read as it streams: its full record
 * inflated piece by piece from its segment, or its delta applied as its own
 * base streams (applyGitDeltaStream). A 128 MB isolate cannot hold a 100 MB
 * file and what is made of it; a small edit's delta copies its base in
 * order, so one pass over the base serves it.
 */
import { objectHeader, type GitObjectType } from '../../core/git/object-id.js';
import type { Primitives } from '../../core/primitives.js';
import { applyGitDeltaStream, gitDeltaPasses, type GitDeltaBaseSource } from '../../delta/git.js';
import { CorruptRecordError } from '../../storage/errors.js';
import { MAX_CHAIN_DEPTH, type IndexRow } from '../../storage/object-index.js';
import type { ObjectStoreDeps } from '../../storage/object-store.js';

/** A stored object as a GitDeltaBaseSource, with its type. */
export type StoredSource = GitDeltaBaseSource & { type: GitObjectType };

/**
 * `row`'s content as it streams, or null when a delta of its chain copies out
 * of order (it would read its base more than once per read: the caller reads
 * the object whole instead, if it may). The chain's rows and deltas are read
 * here, once, and held (a small edit's delta is small); the full record at its
 * bottom is read at each read. Errors: the stored records' (CorruptRecordError).
 */
export async function storedSource(deps: ObjectStoreDeps, row: IndexRow): Promise<StoredSource | null> {
  const type = row.kind as GitObjectType;
  const deltas: { size: number; delta: Uint8Array }[] = [];
  let bottom = row;
  while (bottom.format !== 'full' && bottom.base !== null) {
    if (bottom.format !== 'git-delta' || deltas.length > MAX_CHAIN_DEPTH) return null;
    const raw = await deps.segments.readRange(bottom.segment, bottom.offset, bottom.length);
    const delta = deps.primitives.zlib.inflate(raw, bottom.size * 16 + 1024);
    const base = await deps.index.get(bottom.base);
    if (base === null || gitDeltaPasses(base.size, delta, bottom.size) !== 1) return null;
    deltas.push({ size: bottom.size, delta });
    bottom = base;
  }
  const full = bottom;
  let src: GitDeltaBaseSource = {
    size: full.size,
    async read(sink, stop, pace) {
      const inf = deps.primitives.zlib.createInflater(full.size);
      let got = 0;
      const count = (piece: Uint8Array) => {
        got += piece.length;
        sink(piece);
      };
      let done = false;
      for await (const chunk of deps.segments.readStream(full.segment, full.offset, full.length)) {
        done = inf.push(chunk, count).done;
        if (done || stop()) break;
        await pace?.();
      }
      if (!done && !stop()) done = inf.push(Uint8Array.of(0), count).done; // a stream ending with its input shows so on one more push
      if (stop()) return;
      if (!done || got !== full.size) throw new CorruptRecordError('corrupt-record', `record of ${full.id} does not inflate to its ${full.size} bytes`, { id: full.id });
    },
  };
  for (let k = deltas.length - 1; k >= 0; k--) {
    const base = src;
    const { size, delta } = deltas[k];
    src = { size, read: async (sink, stop, pace) => void (await applyGitDeltaStream(base, delta, size, sink, 1, stop, pace)) };
  }
  return { type, size: src.size, read: src.read };
}

/**
 * The zlib stream of `src`'s content, deflated as it is read (a fetch's large
 * blob whose delta base is not sent): at most one input chunk's output waits
 * for the reader. The content is hashed as a git object on the way and
 * `check` given the id's bytes after the last byte, before the stream ends.
 */
export async function* deflatedStream(src: StoredSource, p: Primitives, level: number, check?: (id: Uint8Array) => void): AsyncGenerator<Uint8Array> {
  const deflater = p.zlib.createDeflater(level);
  const hash = p.hash('sha1').update(objectHeader(src.type, src.size));
  let pending: Uint8Array[] = [];
  let finished = false;
  let failure: unknown = null;
  let stopped = false;
  let wake = () => {};
  let resume: (() => void) | null = null;
  const sink = (piece: Uint8Array) => {
    hash.update(piece);
    for (const o of deflater.push(piece, false)) pending.push(o);
  };
  // Between input chunks the read waits until the reader has taken what is pending.
  const pace = () => (pending.length === 0 || stopped ? Promise.resolve() : new Promise<void>((r) => ((resume = r), wake())));
  const reading = (async () => {
    try {
      await src.read(sink, () => stopped, pace);
      if (!stopped) {
        for (const o of deflater.push(new Uint8Array(0), true)) pending.push(o);
        check?.(hash.digest());
      }
    } catch (e) {
      failure = e;
    }
    finished = true;
    wake();
  })();
  const go = () => {
    const r = resume;
    resume = null;
    r?.();
  };
  try {
    for (;;) {
      if (pending.length > 0) {
        const out = pending;
        pending = [];
        for (const o of out) yield o;
        go();
        continue;
      }
      if (finished) {
        if (failure !== null) throw failure;
        return;
      }
      await new Promise<void>((r) => (wake = r));
    }
  } finally {
    stopped = true;
    go();
    await reading;
  }
}
