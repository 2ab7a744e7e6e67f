/**
 * The workspace lifecycle as an explicit state machine, with Gitpod's phases. The
 * WorkspaceDO owns one instance per workspace; every transition goes through `transition`,
 * which refuses what the table does not allow.
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

export class IllegalTransition extends Error {
  constructor(
    readonly from: WorkspacePhase,
    readonly to: WorkspacePhase,
  ) {
    super(`A workspace cannot go from ${from} to ${to}.`);
    this.name = "IllegalTransition";
  }
}

export function canTransition(from: WorkspacePhase, to: WorkspacePhase): boolean {
  return TRANSITIONS[from].includes(to);
}

/** The next phase, or an IllegalTransition. Staying in the same phase is not a transition. */
export function transition(from: WorkspacePhase, to: WorkspacePhase): WorkspacePhase {
  if (!canTransition(from, to)) throw new IllegalTransition(from, to);
  return to;
}
