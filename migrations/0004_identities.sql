CREATE TABLE `identities` (
	`id` text PRIMARY KEY NOT NULL,
	`user_id` text NOT NULL,
	`provider` text NOT NULL,
	`provider_user_id` text NOT NULL,
	`login` text,
	`email` text,
	`access_token_sealed` text NOT NULL,
	`refresh_token_sealed` text,
	`token_expires_at` integer,
	`created_at` integer DEFAULT (unixepoch('subsec') * 1000) NOT NULL,
	`updated_at` integer NOT NULL,
	FOREIGN KEY (`user_id`) REFERENCES `users`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE UNIQUE INDEX `identities_provider_account_idx` ON `identities` (`provider`,`provider_user_id`);--> statement-breakpoint
CREATE UNIQUE INDEX `identities_user_provider_idx` ON `identities` (`user_id`,`provider`);