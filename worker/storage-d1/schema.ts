/**
 * Hub-wide metadata in D1 (drizzle-orm): repositories, users, memberships.
 * Per-repository state (refs, object index, fossil tables) lives in the
 * repository's Durable Object. Migrations in migrations/ are generated from
 * this file with `npm run db:generate` (drizzle-kit).
 */
import { sqliteTable, text, integer, primaryKey } from 'drizzle-orm/sqlite-core';

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

export type Role = 'read' | 'write' | 'admin';
export type RepoRow = typeof repos.$inferSelect;
