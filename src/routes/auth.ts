import { createRoute, z } from "@hono/zod-openapi";
import { clearSessionCookie, createSession, readSessionCookie, revokeSessionBySecret, setSessionCookie } from "../auth/sessions";
import { database } from "../db/client";
import type { MiddlewareHandler } from "hono";
import { readConfig, type AppEnv } from "../env";
import { NotFound } from "../lib/errors";
import { safeRedirectPath } from "../lib/safe-redirect";
import { findOrCreateUser } from "../services/users";
import { createRouter, errors, noContent } from "./openapi";

const DevLoginQuery = z.object({
  email: z.email().max(254),
  name: z.string().trim().min(1).max(100).optional(),
  returnTo: z.string().max(2000).optional().openapi({ description: "Same-site path to land on; default `/`." }),
});

const devLoginEnabled: MiddlewareHandler<AppEnv> = async (c, next) => {
  if (!readConfig(c.env).devLogin) throw new NotFound("Route");
  await next();
};

export const authRoutes = createRouter()
  .openapi(
    createRoute({
      method: "get",
      path: "/auth/dev/login",
      tags: ["auth"],
      summary: "Development sign-in (only with DEV_LOGIN=true)",
      description:
        "Signs in as the user with this e-mail, creating them on first use, sets the session cookie and " +
        "redirects to `returnTo` (same-site paths only). Answers 404 unless the Worker runs with `DEV_LOGIN=true`.",
      // Checked before the query is validated, so a disabled route reveals nothing.
      middleware: [devLoginEnabled] as const,
      request: { query: DevLoginQuery },
      responses: { 302: { description: "Signed in; redirects." }, 400: errors[400], 403: errors[403], 404: errors[404] },
    }),
    async (c) => {
      const config = readConfig(c.env);
      const { email, name, returnTo } = c.req.valid("query");
      const db = database(c.env.DB);
      const user = await findOrCreateUser(db, email, name ?? email.split("@")[0]!, config.bootstrapAdminEmail);
      setSessionCookie(c, await createSession(db, user.id, config.sessionTtlMs), config.sessionTtlMs);
      return c.redirect(safeRedirectPath(returnTo), 302);
    },
  )
  .openapi(
    createRoute({
      method: "post",
      path: "/auth/logout",
      tags: ["auth"],
      summary: "Sign out: revokes the session server-side and clears the cookie",
      security: [{ session: [] }],
      responses: { 204: noContent, 403: errors[403] },
    }),
    async (c) => {
      const secret = readSessionCookie(c);
      if (secret) await revokeSessionBySecret(database(c.env.DB), secret);
      clearSessionCookie(c);
      return c.body(null, 204);
    },
  );
