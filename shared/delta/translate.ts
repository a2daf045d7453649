/**
 * Translation between Fossil and git deltas. Both are copy/insert programs
 * over a base, so each instruction maps to one or a few of the other kind
 * and the target is never built:
 *
 *     fossil  INT(n) "@" INT(offset) ","   <->  git copy 1xxxxxxx, <= 0xffffff bytes each
 *     fossil  INT(n) ":" <n bytes>         <->  git insert 0xxxxxxx, <= 127 bytes each
 *     fossil  INT(target-size) "\n"        <->  git varint(base-size) varint(result-size)
 *     fossil  INT(checksum) ";"            <->  (none: computed from the base slices
 *                                                and inserted bytes, streaming)
 */
import { ByteBuilder } from '../core/bytes.js';
import { DeltaError } from './errors.js';
import { FOSSIL_DELTA_MAX_OUTPUT, FossilChecksum, fossilDeltaOutputSize, fossilInt, walkFossilDelta } from './fossil.js';
import {
  GIT_DELTA_MAX_COPY,
  GIT_DELTA_MAX_INSERT,
  GIT_DELTA_MAX_OFFSET,
  GitDeltaWriter,
  gitDeltaHeader,
  gitDeltaOps,
} from './git.js';

/** Append an ASCII string (fossil's delta syntax) to `out`. */
function ascii(out: ByteBuilder, s: string): void {
  out.ensure(s.length);
  for (let i = 0; i < s.length; i++) out.buf[out.length++] = s.charCodeAt(i);
}

/**
 * Translate a Fossil delta against a base of `baseSize` bytes into a git
 * delta producing the same target. Copies outside the base are rejected; if
 * `base` is given the Fossil checksum is verified too (without building the target).
 */
export function fossilToGitDelta(fossilDelta: Uint8Array, baseSize: number, base?: Uint8Array): Uint8Array {
  if (base && base.length !== baseSize) {
    throw new DeltaError('delta-base-size', `base has ${base.length} bytes, expected ${baseSize}`, { expected: baseSize, actual: base.length });
  }
  const out = new GitDeltaWriter(fossilDelta.length + 32);
  out.varint(baseSize);
  out.varint(fossilDeltaOutputSize(fossilDelta));
  const sum = base ? new FossilChecksum() : undefined;
  const { checksum } = walkFossilDelta(
    fossilDelta,
    (offset, n, at) => {
      if (offset + n > baseSize) {
        throw new DeltaError('delta-copy-out-of-range', `copy [${offset}, +${n}) outside base of ${baseSize} bytes`, { at, offset, size: n });
      }
      if (offset + n - 1 > GIT_DELTA_MAX_OFFSET && n > 0) {
        throw new DeltaError('delta-copy-out-of-range', 'copy beyond the 4 GiB a git copy can address', { at, offset, size: n });
      }
      sum?.update(base!, offset, offset + n);
      // A copy of 0 bytes is a no-op in fossil and inexpressible in git.
      for (let p = offset, left = n; left > 0; ) {
        const k = Math.min(left, GIT_DELTA_MAX_COPY);
        out.copy(p, k);
        p += k;
        left -= k;
      }
    },
    (start, stop) => {
      sum?.update(fossilDelta, start, stop);
      for (let p = start; p < stop; ) {
        const k = Math.min(stop - p, GIT_DELTA_MAX_INSERT);
        out.ensure(k + 1);
        out.byte(k);
        out.bytes(fossilDelta.subarray(p, p + k));
        p += k;
      }
    },
    Number.MAX_SAFE_INTEGER,
  );
  if (sum && sum.digest() !== checksum) {
    throw new DeltaError('delta-bad-checksum', `target checksum ${sum.digest()} differs from the delta's ${checksum}`, { expected: checksum, actual: sum.digest() });
  }
  return out.result();
}

/**
 * Translate a git delta into a Fossil delta producing the same target.
 * The Fossil checksum covers the target, so it is computed from the base's
 * copied slices and the inserted bytes as they are translated: hence `base`.
 * Adjacent copies of contiguous base ranges, and adjacent inserts, are merged.
 */
export function gitToFossilDelta(gitDelta: Uint8Array, base: Uint8Array, maxSize = FOSSIL_DELTA_MAX_OUTPUT): Uint8Array {
  const { baseSize, resultSize } = gitDeltaHeader(gitDelta);
  if (baseSize !== base.length) {
    throw new DeltaError('delta-base-size', `delta expects a base of ${baseSize} bytes, got ${base.length}`, { expected: baseSize, actual: base.length });
  }
  if (resultSize > maxSize) {
    throw new DeltaError('delta-too-large', `delta result of ${resultSize} bytes exceeds limit ${maxSize}`, { size: resultSize, limit: maxSize });
  }
  const out = new ByteBuilder(gitDelta.length + 32);
  ascii(out, fossilInt(resultSize));
  out.byte(0x0a);
  const sum = new FossilChecksum();
  let total = 0;
  // The pending copy (base range) or pending insert (ranges of gitDelta), not yet written.
  let copyOffset = 0;
  let copySize = 0;
  const inserts: number[] = [];
  let insertSize = 0;
  const flushCopy = () => {
    if (copySize === 0) return;
    ascii(out, `${fossilInt(copySize)}@${fossilInt(copyOffset)},`);
    copySize = 0;
  };
  const flushInsert = () => {
    if (insertSize === 0) return;
    ascii(out, `${fossilInt(insertSize)}:`);
    out.ensure(insertSize);
    for (let k = 0; k < inserts.length; k += 2) out.bytes(gitDelta.subarray(inserts[k], inserts[k + 1]));
    inserts.length = 0;
    insertSize = 0;
  };
  for (const op of gitDeltaOps(gitDelta)) {
    if (op.op === 'copy') {
      if (op.offset + op.size > baseSize) {
        throw new DeltaError('delta-copy-out-of-range', `copy [${op.offset}, +${op.size}) outside base of ${baseSize} bytes`, { offset: op.offset, size: op.size });
      }
      total += op.size;
      if (total > resultSize) throw new DeltaError('delta-result-overflow', 'delta writes past its declared result size', { size: total });
      sum.update(base, op.offset, op.offset + op.size);
      flushInsert();
      if (copySize > 0 && copyOffset + copySize === op.offset && copySize + op.size <= 0xffffffff) {
        copySize += op.size;
      } else {
        flushCopy();
        copyOffset = op.offset;
        copySize = op.size;
      }
    } else {
      const n = op.end - op.start;
      total += n;
      if (total > resultSize) throw new DeltaError('delta-result-overflow', 'delta writes past its declared result size', { size: total });
      sum.update(gitDelta, op.start, op.end);
      flushCopy();
      inserts.push(op.start, op.end);
      insertSize += n;
    }
  }
  if (total !== resultSize) {
    throw new DeltaError('delta-result-size', `delta produced ${total} bytes, declared ${resultSize}`, { expected: resultSize, actual: total });
  }
  flushCopy();
  flushInsert();
  ascii(out, `${fossilInt(sum.digest())};`);
  return out.result();
}
