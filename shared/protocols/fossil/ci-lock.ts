/**
 * Check-in locks (fossil's `pragma ci-lock CHECKIN CLIENT-ID`, src/xfer.c):
 * autosync's pull before a commit says the client is about to commit a child
 * of CHECKIN on its branch. When another client said so for the same check-in
 * within the last minute, the reply's `pragma ci-lock-fail LOGIN MTIME` makes
 * fossil stop ("Might fork due to a check-in race with user ...") instead of
 * forking the branch. `pragma ci-unlock CLIENT-ID`, sent after a commit,
 * releases that client's locks.
 *
 * fossil server keeps them in its config table. Here they live in the memory
 * of the repository's one Durable Object: a lock only lasts a minute and only
 * advises, so one lost with the object lets a race fork as if no lock was
 * taken, nothing worse.
 */

/** How long a lock holds (fossil's `lock-timeout` default). */
export const CI_LOCK_SECONDS = 60;
/** Locks kept per repository; the oldest goes first past it. */
const MAX_LOCKS = 1000;

interface Lock {
  login: string;
  clientId: string;
  /** Unix seconds when taken. */
  mtime: number;
}

/** Per repository (its server code): check-in hash -> lock. */
const repos = new Map<string, Map<string, Lock>>();

/**
 * Takes the lock on `checkin` for `clientId`, or returns who holds it when
 * another client took it within CI_LOCK_SECONDS (null: taken, or already this
 * client's). As fossil server, a client's own lock is neither refused nor renewed.
 */
export function ciLock(repo: string, checkin: string, clientId: string, login: string, now = Math.floor(Date.now() / 1000)): { login: string; mtime: number } | null {
  const locks = repos.get(repo) ?? new Map<string, Lock>();
  repos.set(repo, locks);
  for (const [hash, lock] of locks) if (lock.mtime <= now - CI_LOCK_SECONDS) locks.delete(hash);
  const held = locks.get(checkin);
  if (held) return held.clientId === clientId ? null : { login: held.login, mtime: held.mtime };
  if (locks.size >= MAX_LOCKS) locks.delete(locks.keys().next().value!);
  locks.set(checkin, { login, clientId, mtime: now });
  return null;
}

/** Releases every lock `clientId` holds in `repo`. */
export function ciUnlock(repo: string, clientId: string): void {
  const locks = repos.get(repo);
  if (!locks) return;
  for (const [hash, lock] of locks) if (lock.clientId === clientId) locks.delete(hash);
  if (locks.size === 0) repos.delete(repo);
}
