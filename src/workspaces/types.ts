import type { RepositoryContext } from "../scm/context-url";
import type { DesiredPhase, WorkspacePhase } from "./lifecycle";

/** Deadlines (UTC ms) that the WorkspaceDO's single alarm watches. */
export interface Deadlines {
  /** Assigned to a runner: must reach running by then. */
  start?: number | undefined;
  /** Waiting for a runner with free capacity: gives up then. */
  pending?: number | undefined;
  /** Running: stops then unless activity pushes it back. */
  inactivity?: number | undefined;
  /** Running: stops then regardless. */
  maxLifetime?: number | undefined;
  /** Stopping: the runner must confirm by then. */
  stop?: number | undefined;
}

/** The WorkspaceDO's state; D1 holds a copy of the listable part. */
export interface WorkspaceRecord {
  id: string;
  orgId: string;
  ownerId: string;
  contextUrl: string;
  repository: RepositoryContext;
  editor: string;
  timeoutMinutes: number;
  phase: WorkspacePhase;
  reason: string | null;
  desiredPhase: DesiredPhase;
  /** Grows on every change of the desired state; the runner applies only newer ones. */
  generation: number;
  runnerId: string | null;
  ports: number[];
  shared: boolean;
  env: Record<string, string>;
  deadlines: Deadlines;
  createdAt: number;
  updatedAt: number;
  startedAt: number | null;
  stoppedAt: number | null;
  lastActivityAt: number | null;
}
