/**
 * Retrying a queue message that failed: exponential backoff from the message's attempt
 * count (10 s, 20 s, 40 s, … at most 15 min). Past the consumer's `max_retries`
 * (wrangler.toml) the platform moves it to the dead-letter queue, whose consumer records
 * the failure: nothing is dropped silently and nothing stays queued forever.
 */
export const RETRY_BASE_SECONDS = 10;
export const RETRY_MAX_SECONDS = 900;

export function retryDelaySeconds(attempts: number): number {
  return Math.min(RETRY_MAX_SECONDS, RETRY_BASE_SECONDS * 2 ** Math.max(0, attempts - 1));
}

export const errorText = (error: unknown) => (error instanceof Error ? error.message : String(error)).slice(0, 500);

/**
 * Handles each message on its own (concurrently): acknowledged when `handle` succeeds,
 * retried with backoff when it throws, dropped (logged) when its body is not a message
 * this consumer knows.
 */
export async function eachMessage<T>(
  batch: MessageBatch<unknown>,
  parse: (body: unknown) => T | null,
  handle: (body: T) => Promise<void>,
  onFailure: (body: T, error: unknown, attempts: number) => Promise<unknown>,
): Promise<void> {
  await Promise.all(
    batch.messages.map(async (message) => {
      const body = parse(message.body);
      if (body === null) {
        console.error(JSON.stringify({ msg: "dropping an unreadable message", queue: batch.queue, id: message.id }));
        message.ack();
        return;
      }
      try {
        await handle(body);
        message.ack();
      } catch (error) {
        const delaySeconds = retryDelaySeconds(message.attempts);
        console.error(
          JSON.stringify({ msg: "queue message failed", queue: batch.queue, id: message.id, attempts: message.attempts, retryInSeconds: delaySeconds, error: errorText(error) }),
        );
        await onFailure(body, error, message.attempts).catch(() => {});
        message.retry({ delaySeconds });
      }
    }),
  );
}
