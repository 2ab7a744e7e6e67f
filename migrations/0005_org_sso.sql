CREATE TABLE `org_sso` (
	`org_id` text PRIMARY KEY NOT NULL,
	`issuer` text NOT NULL,
	`client_id` text NOT NULL,
	`client_secret_sealed` text NOT NULL,
	`state` text NOT NULL,
	`revision` integer NOT NULL,
	`verified_at` integer,
	`verified_by` text,
	`activated_at` integer,
	`created_at` integer DEFAULT (unixepoch('subsec') * 1000) NOT NULL,
	`updated_at` integer NOT NULL,
	FOREIGN KEY (`org_id`) REFERENCES `organizations`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
ALTER TABLE `personal_access_tokens` ADD `sso_org_id` text;--> statement-breakpoint
ALTER TABLE `sessions` ADD `sso_org_id` text;