/** Bindings of the hub Worker (see wrangler.toml). */
import type { RepoObject } from './durable/repo.js';

export interface Env {
  REPO: DurableObjectNamespace<RepoObject>;
  CONTENT: R2Bucket;
  DB: D1Database;
  HUB_ADMIN_TOKEN?: string;
  /** Key material for sealed secrets (worker/seal.ts); HUB_ADMIN_TOKEN is used when unset. */
  HUB_SECRET?: string;
  /** "true" lets anyone create an account with POST /api/users (default: the admin only). */
  HUB_OPEN_SIGNUP?: string;
  /** Failed logins allowed per user name / per client address in a window of so many seconds (worker/rate-limit.ts). */
  HUB_LOGIN_FAILURES_PER_USER?: string;
  HUB_LOGIN_FAILURES_PER_ADDRESS?: string;
  HUB_LOGIN_WINDOW_SECONDS?: string;
  /** Accounts open sign-up creates per client address in a window of so many seconds (worker/rate-limit.ts). */
  HUB_SIGNUPS_PER_ADDRESS?: string;
  HUB_SIGNUP_WINDOW_SECONDS?: string;
  /** Largest push body accepted, in bytes (default 100 MB). */
  HUB_MAX_PUSH_BYTES?: string;
  /** Small git segments that start a compaction (default 32; worker/durable/git-compact.ts). */
  HUB_GIT_COMPACT_AFTER?: string;
  /** Rows of a repository's reachability closure from which the alarm builds a clone's reach plan after a push (default 20,000; worker/durable/repo-store.ts). */
  HUB_REACH_PREBUILD_ROWS?: string;
}
