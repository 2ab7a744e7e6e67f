import { eq } from "drizzle-orm";
import { database } from "../db/client";
import { workspaces } from "../db/schema";
import { updatePrebuildRow } from "../prebuilds/store";
import { isPrebuild, type WorkspaceRecord } from "./types";

/** The WorkspaceDO's write-through to D1: the listable columns of its state. */
const columns = (r: WorkspaceRecord) => ({
  phase: r.phase,
  phaseReason: r.reason,
  desiredPhase: r.desiredPhase,
  generation: r.generation,
  runnerId: r.runnerId,
  ports: r.ports,
  shared: r.shared,
  prebuildId: r.basedOn?.prebuildId ?? null,
  updatedAt: new Date(r.updatedAt),
  startedAt: r.startedAt === null ? null : new Date(r.startedAt),
  stoppedAt: r.stoppedAt === null ? null : new Date(r.stoppedAt),
});

/** A prebuild's row exists before its workspace (made by whoever queued it): it is updated instead. */
export async function insertWorkspaceRow(d1: D1Database, r: WorkspaceRecord): Promise<void> {
  if (isPrebuild(r)) return updatePrebuildRow(d1, r);
  await database(d1)
    .insert(workspaces)
    .values({
      id: r.id,
      orgId: r.orgId,
      ownerId: r.ownerId,
      contextUrl: r.contextUrl,
      repository: r.repository,
      editor: r.editor,
      timeoutMinutes: r.timeoutMinutes,
      createdAt: new Date(r.createdAt),
      ...columns(r),
    });
}

export async function updateWorkspaceRow(d1: D1Database, r: WorkspaceRecord): Promise<void> {
  if (isPrebuild(r)) return updatePrebuildRow(d1, r);
  await database(d1).update(workspaces).set(columns(r)).where(eq(workspaces.id, r.id));
}

/** A prebuild's row stays: it goes with its project. */
export async function deleteWorkspaceRow(d1: D1Database, r: WorkspaceRecord): Promise<void> {
  if (isPrebuild(r)) return;
  await database(d1).delete(workspaces).where(eq(workspaces.id, r.id));
}
