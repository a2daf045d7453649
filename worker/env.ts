/** Bindings of the hub Worker (see wrangler.toml). */
import type { RepoObject } from './durable/repo.js';

export interface Env {
  REPO: DurableObjectNamespace<RepoObject>;
  CONTENT: R2Bucket;
  DB: D1Database;
  HUB_ADMIN_TOKEN?: string;
  /** Key material for sealed secrets (worker/seal.ts); HUB_ADMIN_TOKEN is used when unset. */
  HUB_SECRET?: string;
  /** Largest push body accepted, in bytes (default 100 MB). */
  HUB_MAX_PUSH_BYTES?: string;
}
