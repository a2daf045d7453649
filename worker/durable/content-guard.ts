/**
 * The content bucket as one repository's Durable Object writes to it. A push,
 * a git compaction or a fossil repack may be putting segment pieces when the
 * API deletes the repository (RepoObject.destroy): a piece whose put ends
 * after destroy listed the repository's keys stayed in R2 for good (nothing
 * reaches a deleted repository's DO again, so its segment collector never
 * runs). Once closed, puts are refused, and close waits for the puts under
 * way, so the listing that follows sees every piece there will ever be. Reads
 * are refused too, so a clone across the delete is told why it stops rather
 * than which segment went missing. Commits check it too (assertOpen): destroy
 * closes it before its first await and a commit is one synchronous SQLite
 * transaction, so a push either commits before the delete begins or is refused.
 */
import { StorageError } from '../../shared/storage/errors.js';

export class ContentGuard {
  /** The bucket with `put`, `get` and `head` guarded; every other method is the bucket's own. */
  readonly bucket: R2Bucket;
  /** Set by close: the repository was deleted. */
  closed = false;
  private readonly putting = new Set<Promise<unknown>>();

  constructor(target: R2Bucket) {
    const deleted = () => Promise.reject(deletedError());
    const put: R2Bucket['put'] = (...args) => {
      if (this.closed) return deleted();
      const p = target.put(...args);
      const settled: Promise<unknown> = p.then(
        () => this.putting.delete(settled),
        () => this.putting.delete(settled),
      );
      this.putting.add(settled);
      return p;
    };
    this.bucket = new Proxy(target, {
      get: (t, prop) => {
        if (prop === 'put') return put;
        const v = Reflect.get(t, prop) as unknown;
        // Binding methods must be called on the binding itself.
        if (typeof v !== 'function') return v;
        const bound = v.bind(t) as (...args: unknown[]) => unknown;
        return prop === 'get' || prop === 'head' ? (...args: unknown[]) => (this.closed ? deleted() : bound(...args)) : bound;
      },
    });
  }

  /** Throws the repository's deletion once closed: called right before a commit, in the same synchronous step. */
  assertOpen(): void {
    if (this.closed) throw deletedError();
  }

  /** Refuses puts and reads from now on; resolves once the puts under way have ended. */
  async close(): Promise<void> {
    this.closed = true;
    while (this.putting.size > 0) await Promise.all(this.putting);
  }
}

function deletedError(): StorageError {
  return new StorageError('repo-deleted', 'the repository was deleted');
}
