import { z } from "@hono/zod-openapi";
import { callerOf } from "../auth/principal";
import { database } from "../db/client";
import { mapPage, pageArgs, PageQuerySchema, pageSchema } from "../lib/pagination";
import { grantProject, listTeamProjects, revokeProject, type TeamProjectGrant } from "../services/project-grants";
import { authedRoute, createRouter, errors, jsonBody, jsonResponse, noContent } from "./openapi";
import { TeamParams, TeamProjectParams } from "./schemas";

const GrantSchema = z
  .object({
    projectId: z.string(),
    projectName: z.string(),
    access: z.enum(["read", "write"]).openapi({ description: "read: see the project and its prebuilds; write: also change it and run prebuilds." }),
    grantedAt: z.iso.datetime(),
  })
  .openapi("TeamProjectGrant");

const grantView = (g: TeamProjectGrant): z.infer<typeof GrantSchema> => ({
  projectId: g.projectId,
  projectName: g.projectName,
  access: g.access,
  grantedAt: g.grantedAt.toISOString(),
});

const tags = ["teams", "projects"];

export const projectGrantRoutes = createRouter()
  .openapi(
    authedRoute("team.read", {
      method: "get",
      path: "/api/v1/orgs/{orgId}/teams/{teamId}/projects",
      tags,
      summary: "Projects granted to a team",
      request: { params: TeamParams, query: PageQuerySchema },
      responses: { 200: jsonResponse(pageSchema(GrantSchema, "TeamProjectGrantPage"), "A page of grants."), 400: errors[400], 404: errors[404] },
    }),
    async (c) => {
      const { orgId, teamId } = c.req.valid("param");
      const page = await listTeamProjects(database(c.env.DB), callerOf(c), orgId, teamId, pageArgs(c.req.valid("query")));
      return c.json(mapPage(page, grantView), 200);
    },
  )
  .openapi(
    authedRoute("team.manage", {
      method: "put",
      path: "/api/v1/orgs/{orgId}/teams/{teamId}/projects/{projectId}",
      tags,
      summary: "Grant a team read or write access to a project (or change it)",
      request: { params: TeamProjectParams, body: jsonBody(z.strictObject({ access: z.enum(["read", "write"]) }).openapi("ProjectAccess")) },
      responses: { 200: jsonResponse(GrantSchema, "Granted."), 400: errors[400], 404: errors[404] },
    }),
    async (c) => {
      const { orgId, teamId, projectId } = c.req.valid("param");
      const grant = await grantProject(database(c.env.DB), callerOf(c), orgId, teamId, projectId, c.req.valid("json").access);
      return c.json(grantView(grant), 200);
    },
  )
  .openapi(
    authedRoute("team.manage", {
      method: "delete",
      path: "/api/v1/orgs/{orgId}/teams/{teamId}/projects/{projectId}",
      tags,
      summary: "Revoke a team's access to a project",
      request: { params: TeamProjectParams },
      responses: { 204: noContent, 404: errors[404] },
    }),
    async (c) => {
      const { orgId, teamId, projectId } = c.req.valid("param");
      await revokeProject(database(c.env.DB), callerOf(c), orgId, teamId, projectId);
      return c.body(null, 204);
    },
  );
