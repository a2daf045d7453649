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
 *
 * A fossil clone round whose reply is under way (hold) is let finish first, up
 * to HOLD_MS: its reply has a fixed Content-Length, so a cut one is only
 * `response truncated` to fossil, where the next round is told the repository
 * is gone (404, as fossil server answers for a repository it lacks).
 */
import { StorageError } from '../../shared/storage/errors.js';

/** How long close waits for the replies held under way before refusing their reads. */
export const HOLD_MS = 10_000;

export class ContentGuard {
  /** The bucket with `put`, `get` and `head` guarded; every other method is the bucket's own. */
  readonly bucket: R2Bucket;
  /** Set by close: the repository was deleted. */
  closed = false;
  /** Set by close once the held replies ended (or HOLD_MS passed): reads are refused from then on. */
  private readsClosed = false;
  private readonly putting = new Set<Promise<unknown>>();
  private readonly holding = new Set<Promise<void>>();

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
        return prop === 'get' || prop === 'head' ? (...args: unknown[]) => (this.readsClosed ? deleted() : bound(...args)) : bound;
      },
    });
  }

  /** Throws the repository's deletion once closed: called right before a commit, in the same synchronous step. */
  assertOpen(): void {
    if (this.closed) throw deletedError();
  }

  /** A reply that reads as it goes out (a fossil clone round): close waits for the returned release, up to HOLD_MS. */
  hold(): () => void {
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    this.holding.add(held);
    void held.then(() => this.holding.delete(held));
    return release;
  }

  /** Refuses puts, then reads once the held replies end; resolves once the puts under way have ended too. */
  async close(holdMs = HOLD_MS): Promise<void> {
    this.closed = true;
    if (this.holding.size > 0) {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const late = new Promise<void>((resolve) => (timer = setTimeout(resolve, holdMs)));
      await Promise.race([Promise.all(this.holding), late]);
      clearTimeout(timer);
    }
    this.readsClosed = true;
    while (this.putting.size > 0) await Promise.all(this.putting);
  }
}

function deletedError(): StorageError {
  return new StorageError('repo-deleted', 'the repository was deleted');
}
