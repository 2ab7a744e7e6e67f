import { createRoute, z } from "@hono/zod-openapi";
import { callerOf } from "../auth/principal";
import { isWellFormedToken } from "../auth/token-format";
import { database } from "../db/client";
import type { Runner } from "../db/schema";
import { ApiError, NotFound, Unauthorized } from "../lib/errors";
import { upgradeResponse } from "../lib/websocket";
import { mapPage, pageArgs, PageQuerySchema, pageSchema } from "../lib/pagination";
import {
  deleteRunner,
  findRunnerByToken,
  issueRunnerToken,
  listRunners,
  registerRunner,
  revokeRunnerToken,
  type IssuedRunnerToken,
} from "../services/runners";
import { authedRoute, createRouter, errors, jsonBody, jsonResponse, noContent } from "./openapi";
import { OrgParams } from "./schemas";

const RunnerSchema = z
  .object({
    id: z.string().openapi({ example: "run_01jd3k5v8m0000000000000000" }),
    organizationId: z.string(),
    name: z.string(),
    connected: z.boolean(),
    capacity: z.number().int().openapi({ description: "Workspaces it runs at once, as it announced." }),
    assigned: z.number().int(),
    version: z.string().nullable(),
    lastSeenAt: z.iso.datetime().nullable(),
    createdAt: z.iso.datetime(),
  })
  .openapi("Runner");

const runnerView = (r: Runner): z.infer<typeof RunnerSchema> => ({
  id: r.id,
  organizationId: r.orgId,
  name: r.name,
  connected: r.connected,
  capacity: r.capacity,
  assigned: r.assigned,
  version: r.version,
  lastSeenAt: r.lastSeenAt?.toISOString() ?? null,
  createdAt: r.createdAt.toISOString(),
});

const IssuedRunnerTokenSchema = z
  .object({
    runner: RunnerSchema,
    tokenId: z.string(),
    token: z.string().openapi({ description: "The runner token (`edr_…`); shown only in this response." }),
  })
  .openapi("IssuedRunnerToken");

const issuedView = ({ runner, token, tokenId }: IssuedRunnerToken) => ({ runner: runnerView(runner), tokenId, token });

const RunnerParams = z.object({ id: z.string().min(1).max(64) });
const tags = ["runners"];

export const runnerRoutes = createRouter()
  .openapi(
    authedRoute("org.runners.manage", {
      method: "post",
      path: "/api/v1/orgs/{orgId}/runners",
      tags,
      summary: "Register a runner; its token is shown once",
      request: { params: OrgParams, body: jsonBody(z.strictObject({ name: z.string().trim().min(1).max(100) }).openapi("NewRunner")) },
      responses: { 201: jsonResponse(IssuedRunnerTokenSchema, "Registered."), 400: errors[400], 404: errors[404] },
    }),
    async (c) => {
      const issued = await registerRunner(database(c.env.DB), callerOf(c), c.req.valid("param").orgId, c.req.valid("json").name);
      return c.json(issuedView(issued), 201);
    },
  )
  .openapi(
    authedRoute("org.runners.read", {
      method: "get",
      path: "/api/v1/orgs/{orgId}/runners",
      tags,
      summary: "The organization's runners, with connection and load",
      request: { params: OrgParams, query: PageQuerySchema },
      responses: { 200: jsonResponse(pageSchema(RunnerSchema, "RunnerPage"), "A page of runners."), 400: errors[400], 404: errors[404] },
    }),
    async (c) => {
      const page = await listRunners(database(c.env.DB), callerOf(c), c.req.valid("param").orgId, pageArgs(c.req.valid("query")));
      return c.json(mapPage(page, runnerView), 200);
    },
  )
  .openapi(
    authedRoute("runner.manage", {
      method: "delete",
      path: "/api/v1/runners/{id}",
      tags,
      summary: "Delete a runner: its tokens die and its workspaces fail",
      request: { params: RunnerParams },
      responses: { 204: noContent, 404: errors[404] },
    }),
    async (c) => {
      const runner = await deleteRunner(database(c.env.DB), callerOf(c), c.req.valid("param").id);
      await c.env.RUNNER.get(c.env.RUNNER.idFromName(runner.id)).shutdown();
      return c.body(null, 204);
    },
  )
  .openapi(
    authedRoute("runner.manage", {
      method: "post",
      path: "/api/v1/runners/{id}/tokens",
      tags,
      summary: "Another token for the runner (rotate without downtime)",
      request: { params: RunnerParams },
      responses: { 201: jsonResponse(IssuedRunnerTokenSchema, "Issued."), 404: errors[404] },
    }),
    async (c) => c.json(issuedView(await issueRunnerToken(database(c.env.DB), callerOf(c), c.req.valid("param").id)), 201),
  )
  .openapi(
    authedRoute("runner.manage", {
      method: "delete",
      path: "/api/v1/runners/{id}/tokens/{tokenId}",
      tags,
      summary: "Revoke one of the runner's tokens",
      request: { params: RunnerParams.extend({ tokenId: z.string().min(1).max(64) }) },
      responses: { 204: noContent, 404: errors[404] },
    }),
    async (c) => {
      const { id, tokenId } = c.req.valid("param");
      if (!(await revokeRunnerToken(database(c.env.DB), callerOf(c), id, tokenId))) throw new NotFound("Runner token");
      return c.body(null, 204);
    },
  )
  .openapi(
    createRoute({
      method: "get",
      path: "/api/v1/runners/connect",
      tags,
      summary: "A runner's connection (WebSocket, runner token)",
      description: "The runner dials out with `Authorization: Bearer edr_…`; the protocol is in protocol/README.md.",
      security: [{ runnerToken: [] }],
      responses: { 101: { description: "Switching to the runner protocol." }, 401: errors[401], 426: errors[426] },
    }),
    async (c) => {
      const [scheme, token] = (c.req.header("authorization") ?? "").split(" ");
      if (scheme?.toLowerCase() !== "bearer" || !token || !isWellFormedToken(token, "runner")) {
        throw new Unauthorized("Connect with `Authorization: Bearer <runner token>`.", "invalid_token");
      }
      const runner = await findRunnerByToken(database(c.env.DB), token);
      if (!runner) throw new Unauthorized("The runner token is invalid or revoked.", "invalid_token");
      if (c.req.header("upgrade")?.toLowerCase() !== "websocket") {
        throw new ApiError(426, "upgrade_required", "Connect with a WebSocket.");
      }
      // The DO trusts these headers: only this route reaches it, and it sets them from the token.
      const headers = new Headers(c.req.raw.headers);
      headers.set("x-runner-id", runner.id);
      headers.set("x-org-id", runner.orgId);
      return upgradeResponse(await c.env.RUNNER.get(c.env.RUNNER.idFromName(runner.id)).fetch(new Request(c.req.url, { headers })));
    },
  );
