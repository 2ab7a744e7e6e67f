import { z } from "@hono/zod-openapi";

/**
 * What the queues carry. `scm-events`: a verified webhook delivery, reduced to what the
 * consumer needs (the raw payload stays at the edge). `prebuilds`: one dispatch of one
 * attempt of a prebuild. Versioned, so a consumer deployed later can tell old messages.
 */
export const WEBHOOK_PROVIDERS = ["github", "gitlab", "bitbucket"] as const;
export type WebhookProvider = (typeof WEBHOOK_PROVIDERS)[number];

export const CommitSchema = z.string().regex(/^[0-9a-f]{7,64}$/i, "A commit SHA.");

/** One thing to build: a branch's new head, or a pull/merge request's. */
export const BuildSchema = z.object({
  /** What a workspace (and the prebuild) checks out: a branch, or `refs/pull/7/head`. */
  ref: z.string().min(1).max(255),
  /** The branch the project's branch strategy is applied to (a pull request's source branch). */
  branch: z.string().min(1).max(255),
  commit: CommitSchema,
  pullRequest: z.number().int().positive().nullable(),
});
export type Build = z.infer<typeof BuildSchema>;

export const ScmEventSchema = z.object({
  v: z.literal(1),
  provider: z.enum(WEBHOOK_PROVIDERS),
  deliveryId: z.string().min(1).max(200),
  projectId: z.string().min(1).max(64),
  event: z.enum(["push", "pull_request"]),
  /** The repository's full name as the payload gives it. */
  repository: z.string().max(500),
  defaultBranch: z.string().max(255).nullable(),
  builds: z.array(BuildSchema).max(100),
  receivedAt: z.number().int(),
});
export type ScmEvent = z.infer<typeof ScmEventSchema>;

export const PrebuildJobSchema = z.object({
  v: z.literal(1),
  prebuildId: z.string().min(1).max(64),
  attempt: z.number().int().positive(),
});
export type PrebuildJob = z.infer<typeof PrebuildJobSchema>;
