/**
 * One Durable Object per repository: the single writer for its refs and object
 * index (SQLite-backed, so ref updates are transactions). Protocol logic lives
 * in shared/; this class adapts its storage.
 */
import { DurableObject } from 'cloudflare:workers';
import type { Env } from '../env.js';

export class RepoObject extends DurableObject<Env> {
  /** Liveness probe for /healthz: proves the DO and its SQLite answer. */
  async ping(): Promise<number> {
    const row = this.ctx.storage.sql.exec<{ one: number }>('SELECT 1 AS one').one();
    return row.one;
  }
}
