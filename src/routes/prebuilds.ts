import { z } from "@hono/zod-openapi";
import { callerOf } from "../auth/principal";
import { database } from "../db/client";
import { mapPage, pageArgs, PageQuerySchema, pageSchema } from "../lib/pagination";
import { CommitSchema } from "../prebuilds/messages";
import { PREBUILD_STATES, PREBUILD_TRIGGERS } from "../prebuilds/state";
import { prebuildView } from "../prebuilds/view";
import { cancelPrebuild, getPrebuild, listPrebuilds, subscribePrebuild, triggerPrebuild } from "../services/prebuilds";
import { WORKSPACE_PHASES } from "../workspaces/lifecycle";
import { authedRoute, createRouter, errors, jsonBody, jsonResponse, requireEventsUpgrade } from "./openapi";
import { ProjectParams } from "./schemas";

const PrebuildSchema = z
  .object({
    id: z.string().openapi({ example: "pb_01jd3k5v8m0000000000000000" }),
    projectId: z.string(),
    organizationId: z.string(),
    commit: z.string(),
    ref: z.string().openapi({ description: "What was built: a branch, or a pull/merge request's ref (`refs/pull/7/head`)." }),
    pullRequest: z.number().int().nullable(),
    trigger: z.enum(PREBUILD_TRIGGERS),
    deliveryId: z.string().nullable().openapi({ description: "The webhook delivery that started it." }),
    triggeredBy: z.string().nullable().openapi({ description: "The user who triggered (or re-ran) it." }),
    state: z.enum(PREBUILD_STATES),
    reason: z.string().nullable().openapi({ description: "Why it failed, was aborted or timed out (or why it waits)." }),
    phase: z.enum(WORKSPACE_PHASES).openapi({ description: "Its headless workspace's phase." }),
    attempt: z.number().int().openapi({ description: "1, and one more per re-run." }),
    runnerId: z.string().nullable().openapi({ description: "The runner that builds it (and keeps its result)." }),
    createdAt: z.iso.datetime(),
    updatedAt: z.iso.datetime(),
    startedAt: z.iso.datetime().nullable().openapi({ description: "When building began (dispatched to a runner)." }),
    finishedAt: z.iso.datetime().nullable(),
  })
  .openapi("Prebuild");

const ListQuerySchema = PageQuerySchema.extend({
  ref: z.string().max(255).optional().openapi({ description: "Only this branch or ref." }),
  state: z.enum(PREBUILD_STATES).optional(),
});

const TriggerSchema = z
  .strictObject({
    branch: z.string().trim().min(1).max(255).optional().openapi({ description: "Default: the project's default branch." }),
    commit: CommitSchema.optional().openapi({ description: "Default: the branch's head, as the webhooks last reported it." }),
  })
  .openapi("PrebuildTrigger");

const PrebuildParams = z.object({ id: z.string().min(1).max(64) });
const tags = ["prebuilds"];

export const prebuildRoutes = createRouter()
  .openapi(
    authedRoute("project.prebuilds.read", {
      method: "get",
      path: "/api/v1/projects/{projectId}/prebuilds",
      tags,
      summary: "A project's prebuilds, newest first",
      request: { params: ProjectParams, query: ListQuerySchema },
      responses: { 200: jsonResponse(pageSchema(PrebuildSchema, "PrebuildPage"), "A page of prebuilds."), 400: errors[400], 404: errors[404] },
    }),
    async (c) => {
      const query = c.req.valid("query");
      const page = await listPrebuilds(database(c.env.DB), callerOf(c), c.req.valid("param").projectId, query, pageArgs(query));
      return c.json(mapPage(page, prebuildView), 200);
    },
  )
  .openapi(
    authedRoute("project.prebuilds.run", {
      method: "post",
      path: "/api/v1/projects/{projectId}/prebuilds",
      tags,
      summary: "Trigger a prebuild (or re-run a finished one)",
      description:
        "The prebuild of `commit`, or of the head the webhooks last reported for `branch` (default: the project's default " +
        "branch). New: 201, queued. In progress: 200, as it is. Finished (any outcome): 200, queued again as its next attempt. " +
        "Refused with 409 `maintenance_mode` while the organization is in maintenance.",
      request: { params: ProjectParams, body: jsonBody(TriggerSchema) },
      responses: {
        201: jsonResponse(PrebuildSchema, "Queued."),
        200: jsonResponse(PrebuildSchema, "In progress, or queued again."),
        400: errors[400],
        404: errors[404],
        409: errors[409],
      },
    }),
    async (c) => {
      const { prebuild, created } = await triggerPrebuild(c.env, database(c.env.DB), callerOf(c), c.req.valid("param").projectId, c.req.valid("json"));
      return created ? c.json(prebuildView(prebuild), 201) : c.json(prebuildView(prebuild), 200);
    },
  )
  .openapi(
    authedRoute("project.prebuilds.read", {
      method: "get",
      path: "/api/v1/prebuilds/{id}",
      tags,
      summary: "Get a prebuild",
      request: { params: PrebuildParams },
      responses: { 200: jsonResponse(PrebuildSchema, "The prebuild."), 404: errors[404] },
    }),
    async (c) => c.json(prebuildView(await getPrebuild(database(c.env.DB), callerOf(c), c.req.valid("param").id)), 200),
  )
  .openapi(
    authedRoute("project.prebuilds.run", {
      method: "post",
      path: "/api/v1/prebuilds/{id}/cancel",
      tags,
      summary: "Cancel a queued or building prebuild (idempotent)",
      request: { params: PrebuildParams },
      responses: { 200: jsonResponse(PrebuildSchema, "Aborted (or already finished)."), 404: errors[404] },
    }),
    async (c) => c.json(prebuildView(await cancelPrebuild(c.env, database(c.env.DB), callerOf(c), c.req.valid("param").id)), 200),
  )
  .openapi(
    authedRoute("project.prebuilds.read", {
      method: "get",
      path: "/api/v1/prebuilds/{id}/events",
      tags,
      summary: "Live events (WebSocket): the prebuild's state at once, then every change and its task logs",
      description:
        'Messages: `{"type":"state","prebuild":{id,state,reason,phase,attempt,runnerId,…}}` and `{"type":"log","task","stream","data"}`, ' +
        "as a workspace's events socket. With the session cookie the upgrade must come from this site (Origin).",
      request: { params: PrebuildParams },
      responses: { 101: { description: "Switching to the WebSocket protocol." }, 404: errors[404], 409: errors[409], 426: errors[426] },
    }),
    async (c) => {
      const caller = callerOf(c);
      requireEventsUpgrade(c);
      return subscribePrebuild(c.env, database(c.env.DB), caller, c.req.valid("param").id, c.req.raw);
    },
  );
