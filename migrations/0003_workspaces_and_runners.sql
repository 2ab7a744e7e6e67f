CREATE TABLE `runner_tokens` (
	`id` text PRIMARY KEY NOT NULL,
	`runner_id` text NOT NULL,
	`token_hash` text NOT NULL,
	`created_at` integer DEFAULT (unixepoch('subsec') * 1000) NOT NULL,
	FOREIGN KEY (`runner_id`) REFERENCES `runners`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE UNIQUE INDEX `runner_tokens_token_hash_unique` ON `runner_tokens` (`token_hash`);--> statement-breakpoint
CREATE INDEX `runner_tokens_runner_idx` ON `runner_tokens` (`runner_id`);--> statement-breakpoint
CREATE TABLE `runners` (
	`id` text PRIMARY KEY NOT NULL,
	`org_id` text NOT NULL,
	`name` text NOT NULL,
	`created_by` text,
	`connected` integer DEFAULT false NOT NULL,
	`capacity` integer DEFAULT 0 NOT NULL,
	`assigned` integer DEFAULT 0 NOT NULL,
	`version` text,
	`last_seen_at` integer,
	`created_at` integer DEFAULT (unixepoch('subsec') * 1000) NOT NULL,
	FOREIGN KEY (`org_id`) REFERENCES `organizations`(`id`) ON UPDATE no action ON DELETE cascade,
	FOREIGN KEY (`created_by`) REFERENCES `users`(`id`) ON UPDATE no action ON DELETE set null
);
--> statement-breakpoint
CREATE INDEX `runners_org_idx` ON `runners` (`org_id`,`id`);--> statement-breakpoint
CREATE INDEX `runners_org_connected_idx` ON `runners` (`org_id`,`connected`);--> statement-breakpoint
CREATE TABLE `workspaces` (
	`id` text PRIMARY KEY NOT NULL,
	`org_id` text NOT NULL,
	`owner_id` text NOT NULL,
	`context_url` text NOT NULL,
	`repository` text NOT NULL,
	`editor` text NOT NULL,
	`timeout_minutes` integer NOT NULL,
	`phase` text NOT NULL,
	`phase_reason` text,
	`desired_phase` text NOT NULL,
	`generation` integer NOT NULL,
	`runner_id` text,
	`ports` text NOT NULL,
	`shared` integer DEFAULT false NOT NULL,
	`created_at` integer DEFAULT (unixepoch('subsec') * 1000) NOT NULL,
	`updated_at` integer NOT NULL,
	`started_at` integer,
	`stopped_at` integer,
	FOREIGN KEY (`org_id`) REFERENCES `organizations`(`id`) ON UPDATE no action ON DELETE cascade,
	FOREIGN KEY (`owner_id`) REFERENCES `users`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE INDEX `workspaces_owner_idx` ON `workspaces` (`owner_id`,`id`);--> statement-breakpoint
CREATE INDEX `workspaces_org_idx` ON `workspaces` (`org_id`,`id`);--> statement-breakpoint
CREATE INDEX `workspaces_org_phase_idx` ON `workspaces` (`org_id`,`phase`);--> statement-breakpoint
CREATE INDEX `workspaces_runner_idx` ON `workspaces` (`runner_id`);