-- Edited after drizzle-kit generate: SQLite cannot ADD a NOT NULL column without a constant
-- default, and rebuilding `repos` would cascade-delete memberships (D1 keeps foreign keys on).
-- So: add with '' as the default, give existing rows a random id, then make it unique.
ALTER TABLE `repos` ADD `id` text DEFAULT '' NOT NULL;--> statement-breakpoint
UPDATE `repos` SET `id` = lower(hex(randomblob(16))) WHERE `id` = '';--> statement-breakpoint
CREATE UNIQUE INDEX `repos_id_unique` ON `repos` (`id`);
