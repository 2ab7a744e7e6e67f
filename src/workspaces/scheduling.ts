import { and, asc, desc, eq, lt, sql } from "drizzle-orm";
import type { WorkspaceSpec } from "../../protocol/runner";
import { database } from "../db/client";
import { runners } from "../db/schema";

/** How many runners to ask before waiting in pending. */
const CANDIDATES = 3;

/**
 * Picks a connected runner of the organization with free capacity, least loaded first,
 * and asks its RunnerDO to take the workspace (the DO has the final word: it serialises
 * assignments, so two workspaces never take the same last slot). The preferred runner
 * comes first whatever its load: the previous one keeps the workspace directory (a
 * restart resumes there), the one that built a prebuild keeps its result.
 */
export async function findRunnerFor(
  env: Env,
  orgId: string,
  preferredRunnerId: string | null,
  spec: WorkspaceSpec,
): Promise<string | null> {
  const rows = await database(env.DB)
    .select({ id: runners.id })
    .from(runners)
    .where(and(eq(runners.orgId, orgId), eq(runners.connected, true), lt(runners.assigned, runners.capacity)))
    .orderBy(
      desc(sql`${runners.id} = ${preferredRunnerId ?? ""}`),
      asc(sql`${runners.assigned} * 1.0 / ${runners.capacity}`),
    )
    .limit(CANDIDATES);
  for (const { id } of rows) {
    if (await env.RUNNER.get(env.RUNNER.idFromName(id)).assign(spec)) return id;
  }
  return null;
}
