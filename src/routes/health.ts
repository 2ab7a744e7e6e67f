import { createRoute, z } from "@hono/zod-openapi";
import { PROVIDER_IDS, readConfig } from "../env";
import { createRouter, jsonResponse } from "./openapi";

const Status = z.object({ status: z.enum(["ok", "unavailable"]) }).openapi("Status");

const ConfigSchema = z
  .object({
    devLogin: z.boolean().openapi({ description: "Whether `GET /auth/dev/login` is enabled." }),
    authProviders: z.array(z.enum(PROVIDER_IDS)).openapi({
      description: "Configured sign-in providers, for `GET /auth/{provider}/login`, in display order.",
    }),
  })
  .openapi("PublicConfig");

export const healthRoutes = createRouter()
  .openapi(
    createRoute({
      method: "get",
      path: "/health",
      tags: ["health"],
      summary: "Liveness: the Worker answers",
      responses: { 200: jsonResponse(Status, "Alive.") },
    }),
    (c) => c.json({ status: "ok" as const }, 200),
  )
  .openapi(
    createRoute({
      method: "get",
      path: "/readyz",
      tags: ["health"],
      summary: "Readiness: D1 is reachable",
      responses: { 200: jsonResponse(Status, "Ready."), 503: jsonResponse(Status, "D1 is unreachable.") },
    }),
    async (c) => {
      try {
        await c.env.DB.prepare("SELECT 1").first();
        return c.json({ status: "ok" as const }, 200);
      } catch (error) {
        console.error(JSON.stringify({ msg: "readiness check failed", error: String(error) }));
        return c.json({ status: "unavailable" as const }, 503);
      }
    },
  )
  .openapi(
    createRoute({
      method: "get",
      path: "/api/config",
      tags: ["health"],
      summary: "Public feature flags for the dashboard and CLIs",
      responses: { 200: jsonResponse(ConfigSchema, "Feature flags.") },
    }),
    (c) => {
      const config = readConfig(c.env);
      return c.json({ devLogin: config.devLogin, authProviders: config.providers.map((p) => p.id) }, 200);
    },
  );
