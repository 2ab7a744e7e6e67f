import { and, asc, eq, lt, sql } from "drizzle-orm";
import type { WorkspaceSpec } from "../../protocol/runner";
import { database } from "../db/client";
import { runners } from "../db/schema";

/** How many runners to ask before waiting in pending. */
const CANDIDATES = 3;

/**
 * Picks a connected runner of the organization with free capacity, least loaded first,
 * and asks its RunnerDO to take the workspace (the DO has the final word: it serialises
 * assignments, so two workspaces never take the same last slot). The previous runner is
 * asked first: it keeps the workspace directory, so a restart resumes there.
 */
export async function findRunnerFor(
  env: Env,
  orgId: string,
  previousRunnerId: string | null,
  spec: WorkspaceSpec,
): Promise<string | null> {
  const rows = await database(env.DB)
    .select({ id: runners.id })
    .from(runners)
    .where(and(eq(runners.orgId, orgId), eq(runners.connected, true), lt(runners.assigned, runners.capacity)))
    .orderBy(asc(sql`${runners.assigned} * 1.0 / ${runners.capacity}`))
    .limit(CANDIDATES);
  const candidates = rows.map((r) => r.id);
  if (previousRunnerId && candidates.includes(previousRunnerId)) {
    candidates.splice(candidates.indexOf(previousRunnerId), 1);
    candidates.unshift(previousRunnerId);
  }
  for (const id of candidates) {
    if (await env.RUNNER.get(env.RUNNER.idFromName(id)).assign(spec)) return id;
  }
  return null;
}
