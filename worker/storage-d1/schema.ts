/**
 * Hub-wide metadata in D1 (drizzle-orm): repositories, users, memberships.
 * Per-repository state (refs, object index, fossil tables) lives in the
 * repository's Durable Object. Migrations in migrations/ are generated from
 * this file with `npm run db:generate` (drizzle-kit).
 */
import { sqliteTable, text, integer, primaryKey, index, uniqueIndex } from 'drizzle-orm/sqlite-core';

/**
 * Repositories: name, kind (git | fossil), visibility, and an immutable random
 * `id` that names the content: the Durable Object is `idFromName(id)` and R2
 * keys start with it, so a repository deleted and created again under the same
 * name starts empty instead of finding the old one's refs and segments.
 */
export const repos = sqliteTable('repos', {
  name: text('name').primaryKey(),
  id: text('id').notNull().unique(),
  kind: text('kind', { enum: ['git', 'fossil'] }).notNull(),
  public: integer('public', { mode: 'boolean' }).notNull().default(true),
  createdAt: integer('created_at').notNull(),
});

/**
 * Users: the password as a slow salted hash (see worker/password.ts), and
 * sealed for fossil logins, whose proof needs the password itself (README "Fossil logins").
 */
export const users = sqliteTable('users', {
  name: text('name').primaryKey(),
  passwordHash: text('password_hash').notNull(),
  /** The password sealed with the hub secret (worker/seal.ts), for fossil logins; null when none is sealed. */
  passwordSealed: text('password_sealed'),
  createdAt: integer('created_at').notNull(),
});

/** A user's role in one repository: read (clone/fetch), write (push), admin (settings, members). */
export const memberships = sqliteTable(
  'memberships',
  {
    repo: text('repo')
      .notNull()
      .references(() => repos.name, { onDelete: 'cascade' }),
    user: text('user')
      .notNull()
      .references(() => users.name, { onDelete: 'cascade' }),
    role: text('role', { enum: ['read', 'write', 'admin'] }).notNull(),
  },
  (t) => [primaryKey({ columns: [t.repo, t.user] })],
);

/**
 * API tokens (worker/tokens.ts): only the SHA-256 of the token is stored; the
 * token itself is `hub_<id>_<HMAC(hub secret, id)>`, so the hub (and nobody
 * with the table alone) can recompute it for fossil's login. `scopes` is a
 * comma-separated subset of read,write,admin; times are Unix milliseconds.
 */
export const tokens = sqliteTable(
  'tokens',
  {
    id: text('id').primaryKey(),
    user: text('user')
      .notNull()
      .references(() => users.name, { onDelete: 'cascade' }),
    scopes: text('scopes').notNull(),
    hash: text('hash').notNull(),
    createdAt: integer('created_at').notNull(),
    expiresAt: integer('expires_at'),
    lastUsedAt: integer('last_used_at'),
  },
  (t) => [index('tokens_user').on(t.user)],
);

/** Protected branch patterns of a repository (worker/protections.ts). */
export const protections = sqliteTable(
  'protections',
  {
    repo: text('repo')
      .notNull()
      .references(() => repos.name, { onDelete: 'cascade' }),
    pattern: text('pattern').notNull(),
    adminsOnly: integer('admins_only', { mode: 'boolean' }).notNull().default(false),
    createdAt: integer('created_at').notNull(),
  },
  (t) => [primaryKey({ columns: [t.repo, t.pattern] })],
);

/**
 * The audit log of pushes: one row per ref a git push moved (kind `git`), one
 * row per fossil sync round that stored artifacts (kind `fossil`: ref and ids
 * null, artifacts and checkins set). Keyed by the repository's immutable id
 * (no foreign key), so a deleted repository's log stays, and a new repository
 * of the same name starts with an empty one. Rows come from the repository
 * Durable Object's outbox (worker/durable/push-outbox.ts), each with its
 * outbox seq: sent again after a crash, a row already here is skipped
 * (push_events_outbox), so an event is never logged twice.
 */
export const pushEvents = sqliteTable(
  'push_events',
  {
    seq: integer('seq').primaryKey({ autoIncrement: true }),
    repoId: text('repo_id').notNull(),
    /** Who pushed: a user name, or null for the hub admin token. */
    actor: text('actor'),
    kind: text('kind', { enum: ['git', 'fossil'] }).notNull().default('git'),
    ref: text('ref'),
    oldId: text('old_id'),
    newId: text('new_id'),
    /** fossil: artifacts (file cards) the round received. */
    artifacts: integer('artifacts'),
    /** fossil: the new check-ins' hashes, space-separated (at most MAX_EVENT_CHECKINS). */
    checkins: text('checkins'),
    at: integer('at').notNull(),
    /** The event's seq in its repository's outbox (null for rows logged before the outbox). */
    outboxSeq: integer('outbox_seq'),
  },
  (t) => [index('push_events_repo').on(t.repoId, t.seq), uniqueIndex('push_events_outbox').on(t.repoId, t.outboxSeq)],
);

/** Failed logins counted per key (`user:NAME`, `addr:IP`) in a fixed window (worker/rate-limit.ts). */
export const loginFailures = sqliteTable('login_failures', {
  key: text('key').primaryKey(),
  count: integer('count').notNull(),
  windowStart: integer('window_start').notNull(),
});

export type Role = 'read' | 'write' | 'admin';
export type RepoRow = typeof repos.$inferSelect;
export type TokenRow = typeof tokens.$inferSelect;
