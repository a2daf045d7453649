/**
 * Hub-wide metadata in D1 (drizzle-orm). Migrations in migrations/ are
 * generated from this file with `npm run db:generate` (drizzle-kit).
 */
import { sqliteTable, text, integer } from 'drizzle-orm/sqlite-core';

/** Repositories: name, kind (git | fossil), visibility. Content lives in the repo's DO and R2. */
export const repos = sqliteTable('repos', {
  name: text('name').primaryKey(),
  kind: text('kind', { enum: ['git', 'fossil'] }).notNull(),
  public: integer('public', { mode: 'boolean' }).notNull().default(true),
  createdAt: integer('created_at').notNull(),
});
