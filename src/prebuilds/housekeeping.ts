import { and, eq, lt } from "drizzle-orm";
import type { Database } from "../db/client";
import { prebuilds, webhookDeliveries } from "../db/schema";

/** Delivery ids are kept this long: SCMs redeliver within hours (GitHub: up to 3 days back, by hand). */
export const DELIVERY_RETENTION_MS = 30 * 24 * 3600_000;

/**
 * The last guard of "nothing stays queued forever": a prebuild whose headless workspace was
 * never made (its creation failed past every retry) has no alarm of its own, so a prebuild
 * queued for longer than its workspace could ever wait is failed here.
 */
export async function failStuckPrebuilds(db: Database, queuedLongerThanMs: number, now = Date.now()): Promise<number> {
  const result = await db
    .update(prebuilds)
    .set({ state: "failed", reason: "The prebuild was never dispatched.", finishedAt: new Date(now), updatedAt: new Date(now) })
    .where(and(eq(prebuilds.state, "queued"), lt(prebuilds.updatedAt, new Date(now - queuedLongerThanMs))))
    .run();
  return result.meta.changes ?? 0;
}

export async function forgetOldDeliveries(db: Database, now = Date.now()): Promise<number> {
  const result = await db.delete(webhookDeliveries).where(lt(webhookDeliveries.receivedAt, new Date(now - DELIVERY_RETENTION_MS))).run();
  return result.meta.changes ?? 0;
}
