import { z } from "@hono/zod-openapi";

/**
 * What a personal access token may reach. `*` is everything its user may do; otherwise
 * `<resource>:read` or `<resource>:write`, where write implies read. Sessions carry `*`.
 */
export const SCOPE_RESOURCES = [
  "user",
  "tokens",
  "orgs",
  "projects",
  "workspaces",
  "prebuilds",
  "runners",
  "billing",
] as const;
export type ScopeResource = (typeof SCOPE_RESOURCES)[number];
export type Scope = "*" | `${ScopeResource}:${"read" | "write"}`;

export const ALL_SCOPES = [
  "*",
  ...SCOPE_RESOURCES.flatMap((r) => [`${r}:read`, `${r}:write`] as const),
] as const satisfies readonly Scope[];

export const ScopeSchema = z.enum(ALL_SCOPES).openapi({ description: "A token scope; `write` implies `read`." });

/** Does a holder of `granted` have `required`? */
export function grants(granted: readonly string[], required: Scope): boolean {
  if (granted.includes("*")) return true;
  if (required === "*") return false;
  if (granted.includes(required)) return true;
  const [resource, access] = required.split(":");
  return access === "read" && granted.includes(`${resource}:write`);
}

/** Does a holder of `granted` have every scope in `requested`? */
export function grantsAll(granted: readonly string[], requested: readonly Scope[]): boolean {
  return requested.every((scope) => grants(granted, scope));
}
