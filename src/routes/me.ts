import { z } from "@hono/zod-openapi";
import { callerOf } from "../auth/principal";
import { clearSessionCookie } from "../auth/sessions";
import { database } from "../db/client";
import type { AuditLog, User } from "../db/schema";
import { cursorId, PageQuerySchema, pageSchema } from "../lib/pagination";
import { listActorAudit } from "../services/audit";
import { deleteAccount, updateProfile } from "../services/users";
import { authedRoute, createRouter, errors, jsonBody, jsonResponse, noContent } from "./openapi";

export const UserSchema = z
  .object({
    id: z.string().openapi({ example: "usr_01jd3k5v8m0000000000000000" }),
    email: z.email(),
    name: z.string(),
    avatarUrl: z.string().nullable(),
    createdAt: z.iso.datetime(),
    lastSeenAt: z.iso.datetime().nullable(),
    platformAdmin: z.boolean(),
  })
  .openapi("User");

export const userView = (u: User): z.infer<typeof UserSchema> => ({
  id: u.id,
  email: u.email,
  name: u.name,
  avatarUrl: u.avatarUrl,
  createdAt: u.createdAt.toISOString(),
  lastSeenAt: u.lastSeenAt?.toISOString() ?? null,
  platformAdmin: u.platformAdmin,
});

const ProfileChangesSchema = z
  .strictObject({
    name: z.string().trim().min(1).max(100).optional(),
    avatarUrl: z.url({ protocol: /^https$/ }).max(2000).nullable().optional(),
  })
  .openapi("ProfileChanges");

const AuditLogSchema = z
  .object({
    id: z.string(),
    action: z.string().openapi({ example: "token.create" }),
    targetType: z.string(),
    targetId: z.string(),
    before: z.record(z.string(), z.unknown()).nullable(),
    after: z.record(z.string(), z.unknown()).nullable(),
    requestId: z.string(),
    ip: z.string().nullable(),
    createdAt: z.iso.datetime(),
  })
  .openapi("AuditLogEntry");

const auditView = (a: AuditLog): z.infer<typeof AuditLogSchema> => ({
  id: a.id,
  action: a.action,
  targetType: a.targetType,
  targetId: a.targetId,
  before: a.before,
  after: a.after,
  requestId: a.requestId,
  ip: a.ip,
  createdAt: a.createdAt.toISOString(),
});

export const meRoutes = createRouter()
  .openapi(
    authedRoute("user:read", {
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
    authedRoute("user:write", {
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
    authedRoute("user:write", {
      method: "delete",
      path: "/api/v1/me",
      tags: ["me"],
      summary: "Delete your account, with all its sessions and tokens",
      responses: { 204: noContent },
    }),
    async (c) => {
      await deleteAccount(database(c.env.DB), callerOf(c));
      clearSessionCookie(c);
      return c.body(null, 204);
    },
  )
  .openapi(
    authedRoute("user:read", {
      method: "get",
      path: "/api/v1/me/audit-logs",
      tags: ["me"],
      summary: "Your security log: what you did, newest first",
      request: { query: PageQuerySchema },
      responses: { 200: jsonResponse(pageSchema(AuditLogSchema, "AuditLogPage"), "A page of entries."), 400: errors[400] },
    }),
    async (c) => {
      const { limit, cursor } = c.req.valid("query");
      const page = await listActorAudit(database(c.env.DB), callerOf(c).user.id, { limit, after: cursorId(cursor) });
      return c.json({ items: page.items.map(auditView), nextCursor: page.nextCursor }, 200);
    },
  );
