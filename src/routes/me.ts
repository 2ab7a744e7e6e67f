import { z } from "@hono/zod-openapi";
import { callerOf } from "../auth/principal";
import { clearSessionCookie } from "../auth/sessions";
import { database } from "../db/client";
import { tearDown } from "../services/teardown";
import { mapPage, pageArgs, PageQuerySchema, pageSchema } from "../lib/pagination";
import { listActorAudit } from "../services/audit";
import { deleteAccount, updateProfile } from "../services/users";
import { authedRoute, createRouter, errors, jsonBody, jsonResponse, noContent } from "./openapi";
import { AuditLogSchema, auditView, UserSchema, userView } from "./schemas";

const ProfileChangesSchema = z
  .strictObject({
    name: z.string().trim().min(1).max(100).optional(),
    avatarUrl: z.url({ protocol: /^https$/ }).max(2000).nullable().optional(),
  })
  .openapi("ProfileChanges");

export const meRoutes = createRouter()
  .openapi(
    authedRoute("user.read", {
      method: "get",
      path: "/api/v1/me",
      tags: ["me"],
      summary: "The signed-in user",
      responses: { 200: jsonResponse(UserSchema, "You.") },
    }),
    // The principal already carries the user row: this route costs no query of its own.
    (c) => c.json(userView(callerOf(c).user), 200),
  )
  .openapi(
    authedRoute("user.update", {
      method: "patch",
      path: "/api/v1/me",
      tags: ["me"],
      summary: "Update your name or avatar",
      request: { body: jsonBody(ProfileChangesSchema) },
      responses: { 200: jsonResponse(UserSchema, "Updated."), 400: errors[400] },
    }),
    async (c) => {
      const user = await updateProfile(database(c.env.DB), callerOf(c), c.req.valid("json"));
      return c.json(userView(user), 200);
    },
  )
  .openapi(
    authedRoute("user.update", {
      method: "delete",
      path: "/api/v1/me",
      tags: ["me"],
      summary: "Delete your account, with all its sessions and tokens",
      description: "Refused (409 `last_owner`) while you are the last owner of an organization.",
      responses: { 204: noContent, 409: errors[409] },
    }),
    async (c) => {
      const left = await deleteAccount(database(c.env.DB), callerOf(c));
      c.executionCtx.waitUntil(tearDown(c.env, left));
      clearSessionCookie(c);
      return c.body(null, 204);
    },
  )
  .openapi(
    authedRoute("user.read", {
      method: "get",
      path: "/api/v1/me/audit-logs",
      tags: ["me"],
      summary: "Your security log: what you did, newest first",
      request: { query: PageQuerySchema },
      responses: { 200: jsonResponse(pageSchema(AuditLogSchema, "AuditLogPage"), "A page of entries."), 400: errors[400] },
    }),
    async (c) => {
      const page = await listActorAudit(database(c.env.DB), callerOf(c).user.id, pageArgs(c.req.valid("query")));
      return c.json(mapPage(page, auditView), 200);
    },
  );
