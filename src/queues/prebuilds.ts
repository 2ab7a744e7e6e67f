import { and, eq, sql } from "drizzle-orm";
import { database } from "../db/client";
import { prebuilds } from "../db/schema";
import { PrebuildJobSchema } from "../prebuilds/messages";
import { prebuildStub } from "../services/prebuilds";
import { eachMessage, errorText } from "./retry";

/**
 * The `prebuilds` consumer: dispatches each prebuild attempt to its headless workspace,
 * which schedules it on a runner (or waits for one, in pending). A failure is noted on the
 * prebuild (its reason) and retried with backoff.
 */
export function consumePrebuilds(batch: MessageBatch<unknown>, env: Env): Promise<void> {
  const db = database(env.DB);
  return eachMessage(
    batch,
    (body) => PrebuildJobSchema.safeParse(body).data ?? null,
    async (job) => {
      await prebuildStub(env, job.prebuildId).dispatch(job.attempt);
    },
    (job, error, attempts) =>
      db
        .update(prebuilds)
        .set({ reason: `Dispatch attempt ${attempts} failed: ${errorText(error)}` })
        .where(and(eq(prebuilds.id, job.prebuildId), eq(prebuilds.attempt, job.attempt), eq(prebuilds.state, "queued"))),
  );
}

/**
 * Dead-lettered dispatches: the prebuild fails with the last error as its reason — through
 * its workspace when that answers, else directly on its row, so that it never stays queued.
 */
export async function deadPrebuilds(batch: MessageBatch<unknown>, env: Env): Promise<void> {
  const db = database(env.DB);
  for (const message of batch.messages) {
    const job = PrebuildJobSchema.safeParse(message.body).data;
    if (job) {
      const row = await db
        .select({ reason: prebuilds.reason })
        .from(prebuilds)
        .where(and(eq(prebuilds.id, job.prebuildId), eq(prebuilds.attempt, job.attempt)))
        .get();
      const reason = `The prebuild could not be dispatched: ${row?.reason ?? "the retries were spent"}`;
      let failed = false;
      try {
        failed = (await prebuildStub(env, job.prebuildId).failDispatch(job.attempt, reason)) !== undefined;
      } catch (error) {
        console.error(JSON.stringify({ msg: "prebuild workspace unreachable", prebuildId: job.prebuildId, error: errorText(error) }));
      }
      if (!failed) {
        await db
          .update(prebuilds)
          .set({ state: "failed", reason, finishedAt: new Date(), updatedAt: new Date() })
          .where(and(eq(prebuilds.id, job.prebuildId), eq(prebuilds.attempt, job.attempt), sql`${prebuilds.state} = 'queued'`));
      }
    }
    console.error(JSON.stringify({ msg: "dead-lettered message", queue: batch.queue, id: message.id, attempts: message.attempts, prebuildId: job?.prebuildId }));
    message.ack();
  }
}
