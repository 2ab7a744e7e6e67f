import { eq } from "drizzle-orm";
import { database } from "../db/client";
import { workspaces } from "../db/schema";
import type { WorkspaceRecord } from "./types";

/** The WorkspaceDO's write-through to D1: the listable columns of its state. */
const columns = (r: WorkspaceRecord) => ({
  phase: r.phase,
  phaseReason: r.reason,
  desiredPhase: r.desiredPhase,
  generation: r.generation,
  runnerId: r.runnerId,
  ports: r.ports,
  shared: r.shared,
  updatedAt: new Date(r.updatedAt),
  startedAt: r.startedAt === null ? null : new Date(r.startedAt),
  stoppedAt: r.stoppedAt === null ? null : new Date(r.stoppedAt),
});

export async function insertWorkspaceRow(d1: D1Database, r: WorkspaceRecord): Promise<void> {
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
  await database(d1).update(workspaces).set(columns(r)).where(eq(workspaces.id, r.id));
}

export async function deleteWorkspaceRow(d1: D1Database, id: string): Promise<void> {
  await database(d1).delete(workspaces).where(eq(workspaces.id, id));
}
