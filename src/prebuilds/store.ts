import { eq } from "drizzle-orm";
import { database } from "../db/client";
import { prebuilds } from "../db/schema";
import type { PrebuildRecord } from "../workspaces/types";
import { prebuildState } from "./state";

/** The WorkspaceDO's write-through for a prebuild's headless workspace: its prebuild row. */
export async function updatePrebuildRow(d1: D1Database, r: PrebuildRecord): Promise<void> {
  const state = prebuildState(r.phase, r.prebuild.outcome);
  await database(d1)
    .update(prebuilds)
    .set({
      state,
      reason: state === "available" ? null : r.reason,
      phase: r.phase,
      attempt: r.prebuild.attempt,
      runnerId: r.runnerId,
      updatedAt: new Date(r.updatedAt),
      startedAt: r.prebuild.startedAt === null ? null : new Date(r.prebuild.startedAt),
      finishedAt: r.prebuild.finishedAt === null ? null : new Date(r.prebuild.finishedAt),
    })
    .where(eq(prebuilds.id, r.id));
}
