import type { WorkspaceRecord } from "./types";

/** The public shape of a workspace: the API's responses and the events socket's state messages. */
export function workspaceView(w: Pick<
  WorkspaceRecord,
  | "id"
  | "orgId"
  | "ownerId"
  | "contextUrl"
  | "repository"
  | "editor"
  | "timeoutMinutes"
  | "phase"
  | "reason"
  | "desiredPhase"
  | "generation"
  | "runnerId"
  | "ports"
  | "shared"
  | "createdAt"
  | "updatedAt"
  | "startedAt"
  | "stoppedAt"
  | "basedOn"
>) {
  const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());
  return {
    id: w.id,
    organizationId: w.orgId,
    ownerId: w.ownerId,
    contextUrl: w.contextUrl,
    repository: {
      provider: w.repository.provider,
      host: w.repository.host,
      fullName: w.repository.fullName,
      ref: w.repository.ref,
      revision: w.repository.revision,
      pullRequest: w.repository.pullRequest,
      path: w.repository.path,
    },
    editor: w.editor,
    timeoutMinutes: w.timeoutMinutes,
    phase: w.phase,
    reason: w.reason,
    desiredPhase: w.desiredPhase,
    generation: w.generation,
    runnerId: w.runnerId,
    ports: w.ports,
    shared: w.shared,
    prebuildId: w.basedOn?.prebuildId ?? null,
    createdAt: iso(w.createdAt)!,
    updatedAt: iso(w.updatedAt)!,
    startedAt: iso(w.startedAt),
    stoppedAt: iso(w.stoppedAt),
  };
}

export type WorkspaceView = ReturnType<typeof workspaceView>;
