import { and, asc, eq } from "drizzle-orm";
import { database } from "../db/client";
import { runners, workspaces, type Runner } from "../db/schema";

/** The RunnerDO's write-through: connection, capacity and load, for scheduling and lists. */
export async function markRunner(
  d1: D1Database,
  runnerId: string,
  fields: Partial<Pick<Runner, "connected" | "capacity" | "assigned" | "version" | "lastSeenAt">>,
): Promise<void> {
  await database(d1).update(runners).set(fields).where(eq(runners.id, runnerId));
}

/** Workspaces of the organization waiting for capacity, oldest first. */
export async function pendingWorkspaceIds(d1: D1Database, orgId: string, limit: number): Promise<string[]> {
  const rows = await database(d1)
    .select({ id: workspaces.id })
    .from(workspaces)
    .where(and(eq(workspaces.orgId, orgId), eq(workspaces.phase, "pending")))
    .orderBy(asc(workspaces.id))
    .limit(limit);
  return rows.map((r) => r.id);
}
