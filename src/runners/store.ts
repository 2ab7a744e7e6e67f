import { and, eq, sql } from "drizzle-orm";
import { unionAll } from "drizzle-orm/sqlite-core";
import { database } from "../db/client";
import { prebuilds, runners, workspaces, type Runner } from "../db/schema";

/** The RunnerDO's write-through: connection, capacity and load, for scheduling and lists. */
export async function markRunner(
  d1: D1Database,
  runnerId: string,
  fields: Partial<Pick<Runner, "connected" | "capacity" | "assigned" | "version" | "lastSeenAt">>,
): Promise<void> {
  await database(d1).update(runners).set(fields).where(eq(runners.id, runnerId));
}

/** Workspaces (and prebuilds' headless workspaces) of the organization waiting for capacity, oldest first. */
export async function pendingWorkspaceIds(d1: D1Database, orgId: string, limit: number): Promise<string[]> {
  const db = database(d1);
  const rows = await unionAll(
    db
      .select({ id: workspaces.id, waitingSince: workspaces.updatedAt })
      .from(workspaces)
      .where(and(eq(workspaces.orgId, orgId), eq(workspaces.phase, "pending"))),
    db
      .select({ id: prebuilds.id, waitingSince: prebuilds.updatedAt })
      .from(prebuilds)
      .where(and(eq(prebuilds.orgId, orgId), eq(prebuilds.phase, "pending"))),
  )
    // By the second column (when each started waiting): a compound select orders by position.
    .orderBy(sql`2`)
    .limit(limit);
  return rows.map((r) => r.id);
}
