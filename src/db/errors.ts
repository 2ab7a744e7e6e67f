import { DrizzleQueryError } from "drizzle-orm/errors";

/** The D1 error under drizzle's wrapper, whose own message carries the bound parameters. */
function rootMessage(error: unknown): string {
  const root = error instanceof DrizzleQueryError && error.cause ? error.cause : error;
  return root instanceof Error ? root.message : String(error);
}

export const isUniqueViolation = (error: unknown) => rootMessage(error).includes("UNIQUE constraint failed");

/** Raised by the keep-an-owner triggers (migration 0002). */
export const isLastOwnerViolation = (error: unknown) => rootMessage(error).includes("last_owner");

/** What may be logged of a database error: the SQL text and D1's message, never parameters. */
export function describeDbError(error: DrizzleQueryError) {
  return { name: error.name, query: error.query, cause: rootMessage(error) };
}
