/**
 * The workspace lifecycle as an explicit state machine, with Gitpod's phases. The
 * WorkspaceDO owns one instance per workspace and moves only where `canTransition` allows;
 * anything else (a late or out-of-order report) is refused and leaves the phase as it is.
 *
 *   preparing ─► pending ─► creating ─► initializing ─► running ─► stopping ─► stopped
 *       │           │          │             │             │           │
 *       └───────────┴──────────┴─────────────┴─────────────┴───────────┴──► failed
 *
 * `stopped` and `failed` are at rest: only a new start (a new generation) leaves them.
 */
export const WORKSPACE_PHASES = [
  "preparing",
  "pending",
  "creating",
  "initializing",
  "running",
  "stopping",
  "stopped",
  "failed",
] as const;
export type WorkspacePhase = (typeof WORKSPACE_PHASES)[number];

export type DesiredPhase = "running" | "stopped";

export const TRANSITIONS: Record<WorkspacePhase, readonly WorkspacePhase[]> = {
  // Scheduling: a runner takes it (creating), none has room (pending), or it is stopped first.
  preparing: ["pending", "creating", "stopped", "failed"],
  pending: ["creating", "stopped", "failed"],
  // The runner's reports; it may skip ahead (a prebuilt or resumed workspace has no init).
  creating: ["initializing", "running", "stopping", "stopped", "failed"],
  initializing: ["running", "stopping", "stopped", "failed"],
  running: ["stopping", "stopped", "failed"],
  stopping: ["stopped", "failed"],
  stopped: ["preparing"],
  failed: ["preparing"],
};

/** Phases in which a runner holds (or is about to hold) the workspace. */
export const ON_RUNNER: ReadonlySet<WorkspacePhase> = new Set(["creating", "initializing", "running", "stopping"]);
/** Phases before the workspace reaches running. */
export const STARTING: ReadonlySet<WorkspacePhase> = new Set(["preparing", "pending", "creating", "initializing"]);
export const AT_REST: ReadonlySet<WorkspacePhase> = new Set(["stopped", "failed"]);

export function canTransition(from: WorkspacePhase, to: WorkspacePhase): boolean {
  return TRANSITIONS[from].includes(to);
}
