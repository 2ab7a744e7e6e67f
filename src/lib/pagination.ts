import { z } from "@hono/zod-openapi";
import { decodeBase64urlIgnorePadding, encodeBase64urlNoPadding } from "@oslojs/encoding";
import { BadRequest } from "./errors";

/**
 * Cursor pagination over time-sortable ids, newest first. The cursor is the last id of
 * a page, base64url-encoded so clients treat it as opaque.
 */
export const PageQuerySchema = z.object({
  limit: z.coerce.number().int().min(1).max(100).default(20).openapi({ example: 20 }),
  cursor: z.string().max(200).optional().openapi({ description: "`nextCursor` of the previous page." }),
});

export type PageQuery = z.infer<typeof PageQuerySchema>;

export interface Page<T> {
  items: T[];
  nextCursor: string | null;
}

export function pageSchema<T extends z.ZodType>(item: T, name: string) {
  return z
    .object({ items: z.array(item), nextCursor: z.string().nullable() })
    .openapi(name);
}

/** The id to continue after, or undefined for the first page. */
export function cursorId(cursor: string | undefined): string | undefined {
  if (cursor === undefined) return undefined;
  try {
    const id = new TextDecoder().decode(decodeBase64urlIgnorePadding(cursor));
    if (/^[a-z]{2,4}_[0-9a-z]{26}$/.test(id)) return id;
  } catch {
    // fall through to the error below
  }
  throw new BadRequest("Invalid cursor.", [{ path: "cursor", message: "Not a cursor this API returned." }]);
}

/** Builds a page from `limit + 1` rows fetched newest first. */
export function toPage<T extends { id: string }>(rows: T[], limit: number): Page<T> {
  const items = rows.slice(0, limit);
  const last = items.at(-1);
  return {
    items,
    nextCursor: rows.length > limit && last ? encodeBase64urlNoPadding(new TextEncoder().encode(last.id)) : null,
  };
}

/** Validated list query → what services take. */
export const pageArgs = (query: PageQuery) => ({ limit: query.limit, after: cursorId(query.cursor) });

/** A page with its items turned into API views. */
export const mapPage = <T, V>(page: Page<T>, view: (item: T) => V): Page<V> => ({
  items: page.items.map(view),
  nextCursor: page.nextCursor,
});
