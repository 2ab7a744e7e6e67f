import { createRoute, OpenAPIHono, type RouteConfig, z } from "@hono/zod-openapi";
import type { Context, MiddlewareHandler } from "hono";
import { requirePrincipal } from "../auth/principal";
import { isSameSite } from "../auth/same-site";
import { PERMISSIONS, type Permission } from "../auth/permissions";
import type { Scope } from "../auth/scopes";
import type { AppEnv } from "../env";
import { requireJsonBody } from "../middleware/json-body";
import { ApiError, BadRequest, Forbidden, type FieldError } from "../lib/errors";

export const ErrorSchema = z
  .object({
    error: z.object({
      code: z.string().openapi({ example: "not_found" }),
      message: z.string(),
      requestId: z.string(),
      fields: z.array(z.object({ path: z.string(), message: z.string() })).optional(),
    }),
  })
  .openapi("Error");

const errorResponse = (description: string) => ({
  description,
  content: { "application/json": { schema: ErrorSchema } },
});

export const errors = {
  400: errorResponse("Invalid input; `fields` names what failed."),
  401: errorResponse("Not signed in, or the credential is invalid or expired."),
  403: errorResponse("Signed in, but not allowed (missing scope, blocked account, cross-site request)."),
  404: errorResponse("Not found, or not yours."),
  409: errorResponse("Conflicts with the current state."),
  410: errorResponse("Gone: it existed but has expired."),
  413: errorResponse("The request body is too large."),
  415: errorResponse("The request body is not of a type this route reads (JSON)."),
  426: errorResponse("This route speaks WebSocket only."),
  422: errorResponse("A limit was reached."),
  502: errorResponse("An upstream service (a sign-in provider) failed or answered unexpectedly."),
  503: errorResponse("A service edgepod depends on (a queue) is unavailable; retry later."),
} as const;

export const jsonBody = <T extends z.ZodType>(schema: T) => ({
  required: true,
  content: { "application/json": { schema } },
});

export const jsonResponse = <T extends z.ZodType>(schema: T, description: string) => ({
  description,
  content: { "application/json": { schema } },
});

export const noContent = { description: "Done; no content." } as const;

/** Where a problem at the root of each validation target is reported. */
const TARGET_ROOT: Record<string, string> = { json: "body", query: "query", param: "path", header: "header" };

/** One entry per failing field; an unknown key is reported under its own name. */
function fieldErrors(issues: readonly z.core.$ZodIssue[], target: string): FieldError[] {
  return issues.flatMap((issue) => {
    const prefix = issue.path.map(String);
    if (issue.code === "unrecognized_keys") {
      return issue.keys.map((key) => ({ path: [...prefix, key].join("."), message: "Unknown field." }));
    }
    return [{ path: prefix.join(".") || (TARGET_ROOT[target] ?? target), message: issue.message }];
  });
}

/** Routers share the validation hook that turns zod failures into the error shape. */
export function createRouter() {
  return new OpenAPIHono<AppEnv>({
    defaultHook: (result) => {
      if (!result.success) throw new BadRequest("The request is invalid.", fieldErrors(result.error.issues, result.target));
    },
  });
}

const requireScope =
  (scope: Scope): MiddlewareHandler<AppEnv> =>
  async (c, next) => {
    requirePrincipal(c, scope);
    await next();
  };

// Declared apart and typed: an inline array literal here defeats createRoute's input inference.
const SECURITY: NonNullable<RouteConfig["security"]> = [{ bearer: [] }, { session: [] }];

/**
 * A route that needs a signed-in caller allowed `permission`. The permission's token scope
 * is checked before any input (so anonymous callers get 401, not 400); relations to an
 * organization's resources are checked by the service, in the same D1 round trip as its
 * read. The OpenAPI document shows the security schemes, the scope and the permission.
 */
export function authedRoute<R extends Omit<RouteConfig, "security" | "middleware">>(
  permission: Permission,
  config: R,
) {
  const { scope } = PERMISSIONS[permission];
  return createRoute({
    ...config,
    description: [config.description, `Requires scope \`${scope}\` (permission \`${permission}\`).`]
      .filter(Boolean)
      .join("\n\n"),
    "x-permission": permission,
    security: SECURITY,
    middleware: [requireScope(scope), requireJsonBody] as const,
    responses: { 401: errors[401], 403: errors[403], ...config.responses },
  });
}

/**
 * An events socket's request: a WebSocket upgrade (else 426), and with the session cookie
 * one from this site (else 403: a cross-site page must not open it with the user's cookie).
 */
export function requireEventsUpgrade(c: Context<AppEnv>): void {
  if (c.req.header("upgrade")?.toLowerCase() !== "websocket") throw new ApiError(426, "upgrade_required", "Connect with a WebSocket.");
  if (c.get("principal")?.via === "session" && !isSameSite(c)) throw new Forbidden("Cross-site WebSocket refused.", "cross_site_request");
}
