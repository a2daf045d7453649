PRAGMA foreign_keys=OFF;--> statement-breakpoint
CREATE TABLE `__new_push_events` (
	`seq` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`repo_id` text NOT NULL,
	`actor` text,
	`kind` text DEFAULT 'git' NOT NULL,
	`ref` text,
	`old_id` text,
	`new_id` text,
	`artifacts` integer,
	`checkins` text,
	`at` integer NOT NULL
);
--> statement-breakpoint
INSERT INTO `__new_push_events`("seq", "repo_id", "actor", "ref", "old_id", "new_id", "at") SELECT "seq", "repo_id", "actor", "ref", "old_id", "new_id", "at" FROM `push_events`;--> statement-breakpoint
DROP TABLE `push_events`;--> statement-breakpoint
ALTER TABLE `__new_push_events` RENAME TO `push_events`;--> statement-breakpoint
PRAGMA foreign_keys=ON;--> statement-breakpoint
CREATE INDEX `push_events_repo` ON `push_events` (`repo_id`,`seq`);