import { consumePrebuilds, deadPrebuilds } from "./prebuilds";
import { consumeScmEvents, deadScmEvents } from "./scm-events";

/** The consumers, by queue (wrangler.toml declares them, with their retries and dead-letter queues). */
const CONSUMERS: Record<string, (batch: MessageBatch<unknown>, env: Env) => Promise<void>> = {
  "scm-events": consumeScmEvents,
  "scm-events-dlq": deadScmEvents,
  prebuilds: consumePrebuilds,
  "prebuilds-dlq": deadPrebuilds,
};

/** Routes each queue batch to its consumer; a queue without one keeps its messages (retries, then its DLQ). */
export async function handleQueue(batch: MessageBatch<unknown>, env: Env, _ctx?: ExecutionContext): Promise<void> {
  const consumer = CONSUMERS[batch.queue];
  if (!consumer) throw new Error(`No consumer for queue ${batch.queue}`);
  await consumer(batch, env);
}
