import { z } from "@hono/zod-openapi";
import { callerOf } from "../auth/principal";
import { database } from "../db/client";
import { readConfig } from "../env";
import { mapPage, pageArgs, PageQuerySchema, pageSchema } from "../lib/pagination";
import {
  createWorkspace,
  deleteWorkspace,
  heartbeat,
  listWorkspaces,
  loadWorkspace,
  rowView,
  startWorkspace,
  stopWorkspace,
  subscribe,
} from "../services/workspaces";
import { WORKSPACE_PHASES } from "../workspaces/lifecycle";
import { authedRoute, createRouter, errors, jsonBody, jsonResponse, noContent, requireEventsUpgrade } from "./openapi";

const WorkspaceSchema = z
  .object({
    id: z.string().openapi({ example: "ws_01jd3k5v8m0000000000000000" }),
    organizationId: z.string(),
    ownerId: z.string(),
    contextUrl: z.string(),
    repository: z.object({
      provider: z.enum(["github", "gitlab", "bitbucket", "git"]),
      host: z.string(),
      fullName: z.string(),
      ref: z.string().nullable(),
      revision: z.string().nullable(),
      pullRequest: z.number().int().nullable(),
      path: z.string().nullable(),
    }),
    editor: z.string(),
    timeoutMinutes: z.number().int(),
    phase: z.enum(WORKSPACE_PHASES),
    reason: z.string().nullable().openapi({ description: "Why it is pending, failed or stopped." }),
    desiredPhase: z.enum(["running", "stopped"]),
    generation: z.number().int(),
    runnerId: z.string().nullable(),
    ports: z.array(z.number().int()),
    shared: z.boolean(),
    prebuildId: z.string().nullable().openapi({
      description: "The prebuild it was offered to start from (its runner copies the prebuild's result: no clone, no init; its events say so).",
    }),
    createdAt: z.iso.datetime(),
    updatedAt: z.iso.datetime(),
    startedAt: z.iso.datetime().nullable(),
    stoppedAt: z.iso.datetime().nullable(),
  })
  .openapi("Workspace");

const NewWorkspaceSchema = z
  .strictObject({
    contextUrl: z.string().min(1).max(2000).openapi({ example: "https://github.com/gitpod-io/empty" }),
    organizationId: z.string().min(1).max(64),
    editor: z.string().min(1).max(50).optional(),
    timeoutMinutes: z.number().int().min(5).max(7 * 24 * 60).optional().openapi({ description: "Inactivity timeout." }),
  })
  .openapi("NewWorkspace");

const ListQuerySchema = PageQuerySchema.extend({
  organizationId: z.string().max(64).optional(),
  all: z
    .enum(["true", "false"])
    .transform((v) => v === "true")
    .optional()
    .openapi({ description: "Every workspace of `organizationId` (owners), not only yours." }),
});

const WorkspaceParams = z.object({ id: z.string().min(1).max(64) });
const tags = ["workspaces"];

export const workspaceRoutes = createRouter()
  .openapi(
    authedRoute("org.workspaces.create", {
      method: "post",
      path: "/api/v1/workspaces",
      tags,
      summary: "Create a workspace from a context URL and start it",
      description: "Refused with 409 `maintenance_mode` while the organization is in maintenance.",
      request: { body: jsonBody(NewWorkspaceSchema) },
      responses: { 201: jsonResponse(WorkspaceSchema, "Created; starting."), 400: errors[400], 404: errors[404], 409: errors[409] },
    }),
    async (c) => {
      const view = await createWorkspace(c.env, readConfig(c.env), database(c.env.DB), callerOf(c), c.req.valid("json"));
      return c.json(view, 201);
    },
  )
  .openapi(
    authedRoute("workspace.read", {
      method: "get",
      path: "/api/v1/workspaces",
      tags,
      summary: "Your workspaces, or all of an organization's (owners)",
      request: { query: ListQuerySchema },
      responses: { 200: jsonResponse(pageSchema(WorkspaceSchema, "WorkspacePage"), "A page of workspaces."), 400: errors[400], 404: errors[404] },
    }),
    async (c) => {
      const query = c.req.valid("query");
      const page = await listWorkspaces(database(c.env.DB), callerOf(c), query, pageArgs(query));
      return c.json(mapPage(page, rowView), 200);
    },
  )
  .openapi(
    authedRoute("workspace.read", {
      method: "get",
      path: "/api/v1/workspaces/{id}",
      tags,
      summary: "Get a workspace",
      request: { params: WorkspaceParams },
      responses: { 200: jsonResponse(WorkspaceSchema, "The workspace."), 404: errors[404] },
    }),
    async (c) => c.json(rowView(await loadWorkspace(database(c.env.DB), callerOf(c), c.req.valid("param").id, "workspace.read")), 200),
  )
  .openapi(
    authedRoute("workspace.delete", {
      method: "delete",
      path: "/api/v1/workspaces/{id}",
      tags,
      summary: "Stop (if running) and delete a workspace",
      request: { params: WorkspaceParams },
      responses: { 204: noContent, 404: errors[404] },
    }),
    async (c) => {
      await deleteWorkspace(c.env, database(c.env.DB), callerOf(c), c.req.valid("param").id);
      return c.body(null, 204);
    },
  )
  .openapi(
    authedRoute("workspace.start", {
      method: "post",
      path: "/api/v1/workspaces/{id}/start",
      tags,
      summary: "Start a stopped or failed workspace (idempotent)",
      request: { params: WorkspaceParams },
      responses: { 200: jsonResponse(WorkspaceSchema, "Starting (or already started)."), 404: errors[404], 409: errors[409] },
    }),
    async (c) => c.json(await startWorkspace(c.env, database(c.env.DB), callerOf(c), c.req.valid("param").id), 200),
  )
  .openapi(
    authedRoute("workspace.stop", {
      method: "post",
      path: "/api/v1/workspaces/{id}/stop",
      tags,
      summary: "Stop a workspace, keeping its content (idempotent)",
      request: { params: WorkspaceParams },
      responses: { 200: jsonResponse(WorkspaceSchema, "Stopping (or already stopped)."), 404: errors[404] },
    }),
    async (c) => c.json(await stopWorkspace(c.env, database(c.env.DB), callerOf(c), c.req.valid("param").id), 200),
  )
  .openapi(
    authedRoute("workspace.use", {
      method: "post",
      path: "/api/v1/workspaces/{id}/heartbeat",
      tags,
      summary: "IDE heartbeat: the workspace is in use (extends its inactivity timeout)",
      request: { params: WorkspaceParams },
      responses: { 204: noContent, 404: errors[404], 409: errors[409] },
    }),
    async (c) => {
      await heartbeat(c.env, database(c.env.DB), callerOf(c), c.req.valid("param").id);
      return c.body(null, 204);
    },
  )
  .openapi(
    authedRoute("workspace.read", {
      method: "get",
      path: "/api/v1/workspaces/{id}/events",
      tags,
      summary: "Live events (WebSocket): the state at once, then every transition and task log",
      description:
        'Messages: `{"type":"state","workspace":{…}}` and `{"type":"log","task","stream","data"}`. ' +
        "With the session cookie the upgrade must come from this site (Origin).",
      request: { params: WorkspaceParams },
      responses: { 101: { description: "Switching to the WebSocket protocol." }, 404: errors[404], 426: errors[426] },
    }),
    async (c) => {
      const caller = callerOf(c);
      requireEventsUpgrade(c);
      return subscribe(c.env, database(c.env.DB), caller, c.req.valid("param").id, c.req.raw);
    },
  );
