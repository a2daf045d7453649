import { describe, expect, it } from 'vitest';
import { CI_LOCK_SECONDS, ciLock, ciUnlock } from '../../../../shared/protocols/fossil/ci-lock.js';

const P = 'a'.repeat(64);
const Q = 'b'.repeat(64);

describe('check-in locks', () => {
  it('a second client locking the same check-in within the timeout is told who holds it; its own lock is not refused', () => {
    expect(ciLock('repo-1', P, 'client-a', 'ada', 1000)).toBeNull();
    expect(ciLock('repo-1', P, 'client-a', 'ada', 1010)).toBeNull();
    expect(ciLock('repo-1', P, 'client-b', 'bob', 1020)).toEqual({ login: 'ada', mtime: 1000 });
    // Another check-in, or the same one in another repository, is free.
    expect(ciLock('repo-1', Q, 'client-b', 'bob', 1020)).toBeNull();
    expect(ciLock('repo-2', P, 'client-b', 'bob', 1020)).toBeNull();
  });

  it('expires after the timeout (not renewed by its holder) and is released by ci-unlock', () => {
    expect(ciLock('repo-3', P, 'client-a', 'ada', 2000)).toBeNull();
    expect(ciLock('repo-3', P, 'client-a', 'ada', 2050)).toBeNull();
    expect(ciLock('repo-3', P, 'client-b', 'bob', 2000 + CI_LOCK_SECONDS - 1)).toEqual({ login: 'ada', mtime: 2000 });
    expect(ciLock('repo-3', P, 'client-b', 'bob', 2000 + CI_LOCK_SECONDS)).toBeNull();
    expect(ciLock('repo-3', P, 'client-a', 'ada', 2070)).toEqual({ login: 'bob', mtime: 2060 });
    ciUnlock('repo-3', 'client-a');
    expect(ciLock('repo-3', P, 'client-a', 'ada', 2071)).toEqual({ login: 'bob', mtime: 2060 });
    ciUnlock('repo-3', 'client-b');
    expect(ciLock('repo-3', P, 'client-a', 'ada', 2072)).toBeNull();
  });
});
