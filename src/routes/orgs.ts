import { z } from "@hono/zod-openapi";
import { callerOf } from "../auth/principal";
import { database } from "../db/client";
import { tearDown } from "../services/teardown";
import { mapPage, pageArgs, PageQuerySchema, pageSchema } from "../lib/pagination";
import { listOrgAudit } from "../services/audit";
import { OrgSettingsChangesSchema, OrgSettingsSchema, withDefaults } from "../services/org-settings";
import { createOrg, deleteOrg, getOrg, listMyOrgs, updateOrg, type OrgWithRole } from "../services/orgs";
import { authedRoute, createRouter, errors, jsonBody, jsonResponse, noContent } from "./openapi";
import { AuditLogSchema, auditView, OrgParams, OrgRoleSchema } from "./schemas";

const OrganizationSchema = z
  .object({
    id: z.string().openapi({ example: "org_01jd3k5v8m0000000000000000" }),
    name: z.string(),
    slug: z.string(),
    settings: OrgSettingsSchema,
    role: OrgRoleSchema.openapi({ description: "Your role in it." }),
    createdAt: z.iso.datetime(),
    updatedAt: z.iso.datetime(),
  })
  .openapi("Organization");

export const orgView = ({ org, role }: OrgWithRole): z.infer<typeof OrganizationSchema> => ({
  id: org.id,
  name: org.name,
  slug: org.slug,
  settings: withDefaults(org.settings),
  role,
  createdAt: org.createdAt.toISOString(),
  updatedAt: org.updatedAt.toISOString(),
});

const name = z.string().trim().min(1).max(100);
const slug = z
  .string()
  .regex(/^[a-z0-9](?:[a-z0-9-]{0,38}[a-z0-9])$/, "2-40 lower-case letters, digits and dashes, not at either end.")
  .openapi({ example: "acme" });

const NewOrgSchema = z
  .strictObject({
    name,
    slug: slug.optional().openapi({ description: "Defaults to one made from the name." }),
    settings: OrgSettingsChangesSchema.optional(),
  })
  .openapi("NewOrganization");

const OrgChangesSchema = z
  .strictObject({ name: name.optional(), slug: slug.optional(), settings: OrgSettingsChangesSchema.optional() })
  .openapi("OrganizationChanges");

const AuditQuerySchema = PageQuerySchema.extend({
  action: z.string().max(100).optional().openapi({ example: "member.role.update" }),
  actor: z.string().max(64).optional().openapi({ description: "A user id." }),
});

export const orgRoutes = createRouter()
  .openapi(
    authedRoute("org.create", {
      method: "post",
      path: "/api/v1/orgs",
      tags: ["organizations"],
      summary: "Create an organization; you become its owner",
      request: { body: jsonBody(NewOrgSchema) },
      responses: { 201: jsonResponse(OrganizationSchema, "Created."), 400: errors[400], 409: errors[409] },
    }),
    async (c) => c.json(orgView(await createOrg(database(c.env.DB), callerOf(c), c.req.valid("json"))), 201),
  )
  .openapi(
    authedRoute("org.list", {
      method: "get",
      path: "/api/v1/orgs",
      tags: ["organizations"],
      summary: "The organizations you belong to, with your role",
      request: { query: PageQuerySchema },
      responses: {
        200: jsonResponse(pageSchema(OrganizationSchema, "OrganizationPage"), "A page of organizations."),
        400: errors[400],
      },
    }),
    async (c) => {
      const page = await listMyOrgs(database(c.env.DB), callerOf(c).user.id, pageArgs(c.req.valid("query")));
      return c.json(mapPage(page, orgView), 200);
    },
  )
  .openapi(
    authedRoute("org.read", {
      method: "get",
      path: "/api/v1/orgs/{orgId}",
      tags: ["organizations"],
      summary: "Get an organization",
      request: { params: OrgParams },
      responses: { 200: jsonResponse(OrganizationSchema, "The organization."), 404: errors[404] },
    }),
    async (c) => c.json(orgView(await getOrg(database(c.env.DB), callerOf(c), c.req.valid("param").orgId)), 200),
  )
  .openapi(
    authedRoute("org.update", {
      method: "patch",
      path: "/api/v1/orgs/{orgId}",
      tags: ["organizations"],
      summary: "Rename, change the slug, or change settings (merged)",
      request: { params: OrgParams, body: jsonBody(OrgChangesSchema) },
      responses: {
        200: jsonResponse(OrganizationSchema, "Updated."),
        400: errors[400],
        404: errors[404],
        409: errors[409],
      },
    }),
    async (c) => {
      const updated = await updateOrg(database(c.env.DB), callerOf(c), c.req.valid("param").orgId, c.req.valid("json"));
      return c.json(orgView(updated), 200);
    },
  )
  .openapi(
    authedRoute("org.delete", {
      method: "delete",
      path: "/api/v1/orgs/{orgId}",
      tags: ["organizations"],
      summary: "Delete an organization with its members, invitations and teams",
      request: { params: OrgParams },
      responses: { 204: noContent, 404: errors[404] },
    }),
    async (c) => {
      const left = await deleteOrg(database(c.env.DB), callerOf(c), c.req.valid("param").orgId);
      c.executionCtx.waitUntil(tearDown(c.env, left));
      return c.body(null, 204);
    },
  )
  .openapi(
    authedRoute("org.audit.read", {
      method: "get",
      path: "/api/v1/orgs/{orgId}/audit-logs",
      tags: ["organizations"],
      summary: "The organization's audit log, newest first",
      request: { params: OrgParams, query: AuditQuerySchema },
      responses: {
        200: jsonResponse(pageSchema(AuditLogSchema, "OrgAuditLogPage"), "A page of entries."),
        400: errors[400],
        404: errors[404],
      },
    }),
    async (c) => {
      const query = c.req.valid("query");
      const page = await listOrgAudit(
        database(c.env.DB),
        callerOf(c),
        c.req.valid("param").orgId,
        { action: query.action, actorId: query.actor },
        pageArgs(query),
      );
      return c.json(mapPage(page, auditView), 200);
    },
  );
