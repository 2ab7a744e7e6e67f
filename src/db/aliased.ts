import { sql, type Column } from "drizzle-orm";

/**
 * A column under another name, still decoded as that column (dates stay dates). Needed in
 * queries run through `db.batch`: D1 returns batched rows as objects keyed by column name,
 * so two joined columns of the same name (`id`, `created_at`) would collapse into one and
 * shift every column after them.
 */
export const aliased = <T extends Column>(column: T, name: string) =>
  sql<T["_"]["data"]>`${column}`.mapWith(column).as(name);
