import { z } from "@hono/zod-openapi";

/**
 * A project's prebuild settings, as Gitpod names them: whether pushes start prebuilds, for
 * which branches (the default branch only, every branch, or branches matching patterns),
 * and how long one may build before it is given up (`timeout`).
 */
export const BRANCH_STRATEGIES = ["default-branch", "all-branches", "matched-branches"] as const;
export type BranchStrategy = (typeof BRANCH_STRATEGIES)[number];

/** A branch pattern: `*` within one path segment, `**` across segments (`release/*`, `feat/**`). */
const BranchPattern = z
  .string()
  .min(1)
  .max(200)
  .regex(/^[^\s~^:?[\\]+$/, "A branch name pattern (letters, `/`, `*`).");

export const PrebuildSettingsSchema = z
  .object({
    enabled: z.boolean(),
    branchStrategy: z.enum(BRANCH_STRATEGIES).openapi({ description: "default-branch, all-branches or matched-branches" }),
    branchPatterns: z.array(BranchPattern).max(50).openapi({ description: "For matched-branches: `*` within a segment, `**` across." }),
    timeoutMinutes: z.number().int().min(5).max(24 * 60).openapi({ description: "How long a prebuild may build (clone, before, init)." }),
  })
  .openapi("PrebuildSettings");

export type PrebuildSettings = z.infer<typeof PrebuildSettingsSchema>;

export const DEFAULT_PREBUILD_SETTINGS: PrebuildSettings = {
  enabled: true,
  branchStrategy: "default-branch",
  branchPatterns: [],
  timeoutMinutes: 60,
};

export const PrebuildSettingsChangesSchema = PrebuildSettingsSchema.partial().strict().openapi("PrebuildSettingsChanges");

/** Settings merged over the current ones; the cross-field rule, or null when they hold. */
export function settingsProblem(settings: PrebuildSettings): { path: string; message: string } | null {
  if (settings.branchStrategy === "matched-branches" && settings.branchPatterns.length === 0) {
    return { path: "prebuilds.branchPatterns", message: "matched-branches needs at least one pattern." };
  }
  return null;
}

const regexCache = new Map<string, RegExp>();

/** A glob as a regular expression: `**` any characters, `*` any but `/`, the rest literal. */
export function patternRegex(pattern: string): RegExp {
  let found = regexCache.get(pattern);
  if (!found) {
    const source = pattern
      .split("**")
      .map((part) => part.split("*").map((s) => s.replace(/[.+?^${}()|[\]\\]/g, "\\$&")).join("[^/]*"))
      .join(".*");
    found = new RegExp(`^${source}$`);
    regexCache.set(pattern, found);
  }
  return found;
}

/** Whether a push to `branch` (or a pull request from it) starts a prebuild. */
export function branchSelected(settings: PrebuildSettings, branch: string, defaultBranch: string): boolean {
  switch (settings.branchStrategy) {
    case "default-branch":
      return branch === defaultBranch;
    case "all-branches":
      return true;
    case "matched-branches":
      return settings.branchPatterns.some((p) => patternRegex(p).test(branch));
  }
}
