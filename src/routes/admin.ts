import { z } from "@hono/zod-openapi";
import { callerOf } from "../auth/principal";
import { database } from "../db/client";
import { mapPage, pageArgs, PageQuerySchema, pageSchema } from "../lib/pagination";
import { platformMetrics, searchOrgs, searchUsers, updateUserAsAdmin } from "../services/admin";
import { authedRoute, createRouter, errors, jsonBody, jsonResponse } from "./openapi";
import { UserSchema, userView } from "./schemas";

const AdminUserSchema = UserSchema.extend({ blocked: z.boolean() }).openapi("AdminUser");
const adminUserView = (u: Parameters<typeof userView>[0]) => ({ ...userView(u), blocked: u.blocked });

const SearchQuerySchema = PageQuerySchema.extend({
  q: z.string().trim().min(1).max(100).optional().openapi({ description: "Substring of e-mail/name (users) or slug/name (orgs)." }),
});

const AdminOrgSchema = z
  .object({ id: z.string(), name: z.string(), slug: z.string(), memberCount: z.number().int(), createdAt: z.iso.datetime() })
  .openapi("AdminOrganization");

const MetricsSchema = z
  .object({
    users: z.object({
      total: z.number().int(),
      blocked: z.number().int(),
      platformAdmins: z.number().int(),
      activeLast24h: z.number().int(),
    }),
    organizations: z.object({ total: z.number().int() }),
    memberships: z.record(z.string(), z.number().int()).openapi({ description: "Members by role." }),
    workspaces: z.record(z.string(), z.number().int()).openapi({ description: "Workspaces by phase." }),
    runners: z.object({ total: z.number().int(), connected: z.number().int() }),
  })
  .openapi("PlatformMetrics");

const tags = ["admin"];

export const adminRoutes = createRouter()
  .openapi(
    authedRoute("platform.admin", {
      method: "get",
      path: "/api/admin/users",
      tags,
      summary: "List and search users",
      request: { query: SearchQuerySchema },
      responses: { 200: jsonResponse(pageSchema(AdminUserSchema, "AdminUserPage"), "A page of users."), 400: errors[400] },
    }),
    async (c) => {
      const query = c.req.valid("query");
      const page = await searchUsers(database(c.env.DB), callerOf(c), query.q, pageArgs(query));
      return c.json(mapPage(page, adminUserView), 200);
    },
  )
  .openapi(
    authedRoute("platform.admin", {
      method: "patch",
      path: "/api/admin/users/{id}",
      tags,
      summary: "Block or unblock a user, or grant or revoke platform admin",
      description: "A blocked user's sessions are revoked and their tokens stop working at once.",
      request: {
        params: z.object({ id: z.string().min(1).max(64) }),
        body: jsonBody(
          z.strictObject({ blocked: z.boolean().optional(), platformAdmin: z.boolean().optional() }).openapi("AdminUserChanges"),
        ),
      },
      responses: { 200: jsonResponse(AdminUserSchema, "Updated."), 400: errors[400], 404: errors[404], 409: errors[409] },
    }),
    async (c) => {
      const user = await updateUserAsAdmin(database(c.env.DB), callerOf(c), c.req.valid("param").id, c.req.valid("json"));
      return c.json(adminUserView(user), 200);
    },
  )
  .openapi(
    authedRoute("platform.admin", {
      method: "get",
      path: "/api/admin/orgs",
      tags,
      summary: "List and search organizations",
      request: { query: SearchQuerySchema },
      responses: { 200: jsonResponse(pageSchema(AdminOrgSchema, "AdminOrganizationPage"), "A page of organizations."), 400: errors[400] },
    }),
    async (c) => {
      const query = c.req.valid("query");
      const page = await searchOrgs(database(c.env.DB), callerOf(c), query.q, pageArgs(query));
      return c.json(
        mapPage(page, ({ org, memberCount }) => ({
          id: org.id,
          name: org.name,
          slug: org.slug,
          memberCount,
          createdAt: org.createdAt.toISOString(),
        })),
        200,
      );
    },
  )
  .openapi(
    authedRoute("platform.admin", {
      method: "get",
      path: "/api/admin/metrics",
      tags,
      summary: "Platform counts, computed with aggregate queries",
      responses: { 200: jsonResponse(MetricsSchema, "Counts.") },
    }),
    async (c) => c.json(await platformMetrics(database(c.env.DB), callerOf(c)), 200),
  );
