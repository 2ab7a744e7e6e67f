CREATE TABLE `prebuilds` (
	`id` text PRIMARY KEY NOT NULL,
	`project_id` text NOT NULL,
	`org_id` text NOT NULL,
	`commit_sha` text NOT NULL,
	`ref` text NOT NULL,
	`pull_request` integer,
	`trigger` text NOT NULL,
	`delivery_id` text,
	`triggered_by` text,
	`state` text NOT NULL,
	`reason` text,
	`phase` text NOT NULL,
	`attempt` integer NOT NULL,
	`runner_id` text,
	`created_at` integer DEFAULT (unixepoch('subsec') * 1000) NOT NULL,
	`updated_at` integer NOT NULL,
	`started_at` integer,
	`finished_at` integer,
	FOREIGN KEY (`project_id`) REFERENCES `projects`(`id`) ON UPDATE no action ON DELETE cascade,
	FOREIGN KEY (`org_id`) REFERENCES `organizations`(`id`) ON UPDATE no action ON DELETE cascade,
	FOREIGN KEY (`triggered_by`) REFERENCES `users`(`id`) ON UPDATE no action ON DELETE set null
);
--> statement-breakpoint
CREATE UNIQUE INDEX `prebuilds_project_commit_idx` ON `prebuilds` (`project_id`,`commit_sha`);--> statement-breakpoint
CREATE INDEX `prebuilds_project_id_idx` ON `prebuilds` (`project_id`,`id`);--> statement-breakpoint
CREATE INDEX `prebuilds_org_phase_idx` ON `prebuilds` (`org_id`,`phase`);--> statement-breakpoint
CREATE INDEX `prebuilds_state_idx` ON `prebuilds` (`state`,`updated_at`);--> statement-breakpoint
CREATE TABLE `project_refs` (
	`project_id` text NOT NULL,
	`ref` text NOT NULL,
	`commit_sha` text NOT NULL,
	`updated_at` integer NOT NULL,
	PRIMARY KEY(`project_id`, `ref`),
	FOREIGN KEY (`project_id`) REFERENCES `projects`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE TABLE `projects` (
	`id` text PRIMARY KEY NOT NULL,
	`org_id` text NOT NULL,
	`name` text NOT NULL,
	`repository` text NOT NULL,
	`repository_key` text NOT NULL,
	`default_branch` text,
	`prebuild_settings` text NOT NULL,
	`webhook_secret_sealed` text NOT NULL,
	`created_by` text,
	`created_at` integer DEFAULT (unixepoch('subsec') * 1000) NOT NULL,
	`updated_at` integer NOT NULL,
	FOREIGN KEY (`org_id`) REFERENCES `organizations`(`id`) ON UPDATE no action ON DELETE cascade,
	FOREIGN KEY (`created_by`) REFERENCES `users`(`id`) ON UPDATE no action ON DELETE set null
);
--> statement-breakpoint
CREATE UNIQUE INDEX `projects_org_name_idx` ON `projects` (`org_id`,`name`);--> statement-breakpoint
CREATE INDEX `projects_org_id_idx` ON `projects` (`org_id`,`id`);--> statement-breakpoint
CREATE INDEX `projects_org_repository_idx` ON `projects` (`org_id`,`repository_key`);--> statement-breakpoint
CREATE TABLE `team_projects` (
	`id` text PRIMARY KEY NOT NULL,
	`team_id` text NOT NULL,
	`project_id` text NOT NULL,
	`access` text NOT NULL,
	`created_at` integer DEFAULT (unixepoch('subsec') * 1000) NOT NULL,
	FOREIGN KEY (`team_id`) REFERENCES `teams`(`id`) ON UPDATE no action ON DELETE cascade,
	FOREIGN KEY (`project_id`) REFERENCES `projects`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE UNIQUE INDEX `team_projects_team_project_idx` ON `team_projects` (`team_id`,`project_id`);--> statement-breakpoint
CREATE INDEX `team_projects_project_idx` ON `team_projects` (`project_id`);--> statement-breakpoint
CREATE TABLE `webhook_deliveries` (
	`id` text PRIMARY KEY NOT NULL,
	`project_id` text NOT NULL,
	`provider` text NOT NULL,
	`delivery_id` text NOT NULL,
	`event` text NOT NULL,
	`status` text NOT NULL,
	`detail` text,
	`received_at` integer NOT NULL,
	`processed_at` integer
);
--> statement-breakpoint
CREATE UNIQUE INDEX `webhook_deliveries_delivery_idx` ON `webhook_deliveries` (`project_id`,`provider`,`delivery_id`);--> statement-breakpoint
CREATE INDEX `webhook_deliveries_received_idx` ON `webhook_deliveries` (`received_at`);--> statement-breakpoint
ALTER TABLE `workspaces` ADD `prebuild_id` text;