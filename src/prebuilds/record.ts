import type { Prebuild, Project } from "../db/schema";
import type { PrebuildRecord } from "../workspaces/types";

/**
 * The headless workspace of a prebuild attempt: the project's repository at the prebuild's
 * commit, queued (preparing) until the `prebuilds` queue dispatches it, and given up if
 * that takes longer than `queuedForMs`.
 */
export function prebuildRecord(project: Project, row: Prebuild, queuedForMs: number): PrebuildRecord {
  const now = Date.now();
  return {
    id: row.id,
    orgId: row.orgId,
    // Nobody owns a prebuild's workspace: the field is never used for one.
    ownerId: row.triggeredBy ?? project.createdBy ?? "",
    contextUrl: project.repository.normalizedUrl,
    repository: { ...project.repository, ref: row.ref, revision: row.commitSha, pullRequest: row.pullRequest, path: null },
    editor: "none",
    timeoutMinutes: project.prebuildSettings.timeoutMinutes,
    phase: "preparing",
    reason: null,
    desiredPhase: "running",
    generation: row.attempt,
    runnerId: null,
    ports: [],
    shared: false,
    env: {},
    deadlines: { pending: now + queuedForMs },
    createdAt: row.createdAt.getTime(),
    updatedAt: now,
    startedAt: null,
    stoppedAt: null,
    lastActivityAt: null,
    prebuild: {
      projectId: project.id,
      attempt: row.attempt,
      outcome: null,
      timeoutMs: project.prebuildSettings.timeoutMinutes * 60_000,
      startedAt: null,
      finishedAt: null,
    },
  };
}
