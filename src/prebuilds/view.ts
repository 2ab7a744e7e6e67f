import type { Prebuild } from "../db/schema";
import type { WorkspacePhase } from "../workspaces/lifecycle";
import type { PrebuildRecord } from "../workspaces/types";
import { prebuildState, type PrebuildOutcome, type PrebuildState } from "./state";

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

/** What a prebuild's state is made of, wherever it is read from (its DO's record or its D1 row). */
interface StatusFields {
  id: string;
  phase: WorkspacePhase;
  outcome: PrebuildOutcome | null;
  reason: string | null;
  attempt: number;
  runnerId: string | null;
  updatedAt: number;
  startedAt: number | null;
  finishedAt: number | null;
}

/** The live part of a prebuild: the events socket's `state` messages and the fields the DO writes through. */
export function prebuildStatus(s: StatusFields) {
  const state: PrebuildState = prebuildState(s.phase, s.outcome);
  return {
    id: s.id,
    state,
    // An available prebuild has nothing to explain (its workspace's stop reason is internal).
    reason: state === "available" ? null : s.reason,
    phase: s.phase,
    attempt: s.attempt,
    runnerId: s.runnerId,
    updatedAt: iso(s.updatedAt)!,
    startedAt: iso(s.startedAt),
    finishedAt: iso(s.finishedAt),
  };
}

export type PrebuildStatus = ReturnType<typeof prebuildStatus>;

export function recordStatus(r: PrebuildRecord): PrebuildStatus {
  return prebuildStatus({ ...r, ...r.prebuild });
}

/** The public shape of a prebuild (the API's responses). */
export function prebuildView(p: Prebuild) {
  const FINAL = ["available", "failed", "aborted", "timeout"];
  return {
    projectId: p.projectId,
    organizationId: p.orgId,
    commit: p.commitSha,
    ref: p.ref,
    pullRequest: p.pullRequest,
    trigger: p.trigger,
    deliveryId: p.deliveryId,
    triggeredBy: p.triggeredBy,
    createdAt: p.createdAt.toISOString(),
    ...prebuildStatus({
      ...p,
      outcome: FINAL.includes(p.state) ? (p.state as PrebuildOutcome) : null,
      updatedAt: p.updatedAt.getTime(),
      startedAt: p.startedAt?.getTime() ?? null,
      finishedAt: p.finishedAt?.getTime() ?? null,
    }),
  };
}

export type PrebuildView = ReturnType<typeof prebuildView>;
