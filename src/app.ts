import { Scalar } from "@scalar/hono-api-reference";
import { except } from "hono/combine";
import { authenticate } from "./middleware/authenticate";
import { notFound, onError } from "./middleware/errors";
import { requestId } from "./middleware/request-id";
import { requestLog } from "./middleware/request-log";
import { securityHeaders } from "./middleware/security-headers";
import { adminRoutes } from "./routes/admin";
import { authRoutes } from "./routes/auth";
import { healthRoutes } from "./routes/health";
import { identityRoutes } from "./routes/identities";
import { memberRoutes } from "./routes/members";
import { meRoutes } from "./routes/me";
import { createRouter } from "./routes/openapi";
import { orgSsoRoutes } from "./routes/org-sso";
import { orgRoutes } from "./routes/orgs";
import { prebuildRoutes } from "./routes/prebuilds";
import { projectGrantRoutes } from "./routes/project-grants";
import { projectRoutes } from "./routes/projects";
import { runnerRoutes } from "./routes/runners";
import { signInRoutes } from "./routes/sign-in";
import { teamRoutes } from "./routes/teams";
import { tokenRoutes } from "./routes/tokens";
import { webhookRoutes } from "./routes/webhooks";
import { workspaceRoutes } from "./routes/workspaces";

export const SESSION_COOKIE_NAME = "__Host-edgepod_session";
const RUNNER_CONNECT = "/api/v1/runners/connect";

/**
 * The whole HTTP surface. Middleware order matters: the request id comes first so every
 * log line and error carries it; the log wraps everything so it sees the final status;
 * errors are mapped (by `onError`) before the outer middleware see the response; only
 * API and auth routes pay for authentication, so `/health` stays free of D1.
 */
export function createApp() {
  const app = createRouter();

  app.use("*", requestId, requestLog, securityHeaders);
  app.onError(onError);
  app.notFound(notFound);
  // Runners authenticate with their own tokens, on their one route.
  app.use("/api/*", except(RUNNER_CONNECT, authenticate));
  app.use("/auth/*", authenticate);

  // The development sign-in (`/auth/dev/login`) is mounted before `/auth/{provider}/login`, which it would match.
  for (const routes of [
    healthRoutes,
    authRoutes,
    signInRoutes,
    meRoutes,
    identityRoutes,
    tokenRoutes,
    orgRoutes,
    orgSsoRoutes,
    memberRoutes,
    teamRoutes,
    projectRoutes,
    projectGrantRoutes,
    prebuildRoutes,
    workspaceRoutes,
    runnerRoutes,
    webhookRoutes,
    adminRoutes,
  ]) {
    app.route("/", routes);
  }

  app.openAPIRegistry.registerComponent("securitySchemes", "bearer", {
    type: "http",
    scheme: "bearer",
    description: "A personal access token (`edp_…`), created with `POST /api/v1/tokens`.",
  });
  app.openAPIRegistry.registerComponent("securitySchemes", "runnerToken", {
    type: "http",
    scheme: "bearer",
    description: "A runner token (`edr_…`), created with `POST /api/v1/orgs/{orgId}/runners`.",
  });
  app.openAPIRegistry.registerComponent("securitySchemes", "session", {
    type: "apiKey",
    in: "cookie",
    name: SESSION_COOKIE_NAME,
    description: "The browser session. State-changing requests must come from this site (Origin).",
  });
  app.doc31("/openapi.json", (c) => ({
    openapi: "3.1.0",
    info: {
      title: "edgepod API",
      version: "1",
      description:
        "Control plane for cloud development environments. Errors are always " +
        '`{"error": {"code", "message", "requestId", "fields?"}}`; lists are `{"items", "nextCursor"}`.',
    },
    servers: [{ url: new URL(c.req.url).origin }],
  }));
  app.get("/docs", Scalar({ url: "/openapi.json", pageTitle: "edgepod API" }));

  return app;
}
