import type { PrebuildOutcome } from "../prebuilds/state";
import type { RepositoryContext } from "../scm/context-url";
import type { DesiredPhase, WorkspacePhase } from "./lifecycle";

/** Deadlines (UTC ms) that the WorkspaceDO's single alarm watches. */
export interface Deadlines {
  /** Assigned to a runner: must reach running by then. */
  start?: number | undefined;
  /** Waiting for a runner with free capacity (a prebuild: also for its dispatch): gives up then. */
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
  /** Set when this workspace is a prebuild's headless workspace (its id is the prebuild's). */
  prebuild?: PrebuildInfo | undefined;
  /** The prebuild this workspace starts from, and the runner that holds its result. */
  basedOn?: { prebuildId: string; runnerId: string | null } | null | undefined;
}

/** What a prebuild's headless workspace adds to the record. */
export interface PrebuildInfo {
  projectId: string;
  /** 1, and one more for each re-run; a dispatch names the attempt it is for. */
  attempt: number;
  /** Decided once (available, failed, aborted, timeout); the phase may still move afterwards. */
  outcome: PrebuildOutcome | null;
  /** How long building (clone, before, init) may take. */
  timeoutMs: number;
  startedAt: number | null;
  finishedAt: number | null;
}

export type PrebuildRecord = WorkspaceRecord & { prebuild: PrebuildInfo };

export const isPrebuild = (r: WorkspaceRecord): r is PrebuildRecord => r.prebuild !== undefined;
