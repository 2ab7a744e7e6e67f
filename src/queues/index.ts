/**
 * Routes each queue batch to its consumer. Dead-letter queues are logged and acknowledged:
 * what lands there has exhausted its retries, and the log line is its record.
 */
export async function handleQueue(batch: MessageBatch<unknown>): Promise<void> {
  if (batch.queue.endsWith("-dlq")) {
    for (const message of batch.messages) {
      console.error(
        JSON.stringify({
          msg: "dead-lettered message",
          queue: batch.queue,
          id: message.id,
          attempts: message.attempts,
          body: message.body,
        }),
      );
      message.ack();
    }
    return;
  }
  // No producer writes to scm-events or prebuilds yet; should anything arrive, keep it
  // (retries, then the dead-letter queue) rather than drop it.
  throw new Error(`No consumer for queue ${batch.queue}`);
}
