ALTER TABLE `push_events` ADD `outbox_seq` integer;--> statement-breakpoint
CREATE UNIQUE INDEX `push_events_outbox` ON `push_events` (`repo_id`,`outbox_seq`);