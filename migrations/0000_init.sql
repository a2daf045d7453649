CREATE TABLE `repos` (
	`name` text PRIMARY KEY NOT NULL,
	`kind` text NOT NULL,
	`public` integer DEFAULT true NOT NULL,
	`created_at` integer NOT NULL
);
