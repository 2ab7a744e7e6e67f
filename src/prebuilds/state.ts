import type { WorkspacePhase } from "../workspaces/lifecycle";

/**
 * A prebuild is a headless workspace that runs the `before` and `init` tasks of one commit
 * and leaves their result on its runner. Its state follows its workspace's phase until an
 * outcome is decided, which then sticks (the workspace still stops afterwards):
 *
 *   queued ──► building ──► available
 *     │           ├──────► failed    (a task, the runner, or dispatch failed)
 *     │           ├──────► timeout   (building took longer than the project allows)
 *     └───────────┴──────► aborted   (cancelled)
 */
export const PREBUILD_STATES = ["queued", "building", "available", "failed", "aborted", "timeout"] as const;
export type PrebuildState = (typeof PREBUILD_STATES)[number];

export type PrebuildOutcome = Extract<PrebuildState, "available" | "failed" | "aborted" | "timeout">;
export const FINISHED: ReadonlySet<PrebuildState> = new Set(["available", "failed", "aborted", "timeout"]);

export const PREBUILD_TRIGGERS = ["push", "pull_request", "manual"] as const;
export type PrebuildTrigger = (typeof PREBUILD_TRIGGERS)[number];

/** The state shown for a workspace phase and a decided outcome (if any). */
export function prebuildState(phase: WorkspacePhase, outcome: PrebuildOutcome | null): PrebuildState {
  if (outcome) return outcome;
  switch (phase) {
    case "preparing":
    case "pending":
      return "queued";
    case "failed":
      return "failed";
    case "stopping":
    case "stopped":
      return "aborted";
    default:
      return "building";
  }
}
