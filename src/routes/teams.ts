import { z } from "@hono/zod-openapi";
import { callerOf } from "../auth/principal";
import { database } from "../db/client";
import type { Team } from "../db/schema";
import { mapPage, pageArgs, PageQuerySchema, pageSchema } from "../lib/pagination";
import {
  addTeamMember,
  createTeam,
  deleteTeam,
  getTeam,
  listTeamMembers,
  listTeams,
  removeTeamMember,
  renameTeam,
  type TeamMember,
} from "../services/teams";
import { authedRoute, createRouter, errors, jsonBody, jsonResponse, noContent } from "./openapi";
import { OrgParams, TeamParams, TeamUserParams } from "./schemas";

const TeamSchema = z
  .object({
    id: z.string().openapi({ example: "team_01jd3k5v8m0000000000000000" }),
    name: z.string(),
    createdAt: z.iso.datetime(),
    updatedAt: z.iso.datetime(),
  })
  .openapi("Team");

const teamView = (t: Team): z.infer<typeof TeamSchema> => ({
  id: t.id,
  name: t.name,
  createdAt: t.createdAt.toISOString(),
  updatedAt: t.updatedAt.toISOString(),
});

const TeamMemberSchema = z
  .object({ userId: z.string(), email: z.string(), name: z.string(), addedAt: z.iso.datetime() })
  .openapi("TeamMember");

const teamMemberView = (m: TeamMember): z.infer<typeof TeamMemberSchema> => ({
  userId: m.userId,
  email: m.email,
  name: m.name,
  addedAt: m.addedAt.toISOString(),
});

const TeamNameSchema = z.strictObject({ name: z.string().trim().min(1).max(100) }).openapi("TeamName");

export const teamRoutes = createRouter()
  .openapi(
    authedRoute("org.teams.read", {
      method: "get",
      path: "/api/v1/orgs/{orgId}/teams",
      tags: ["teams"],
      summary: "Teams of the organization",
      request: { params: OrgParams, query: PageQuerySchema },
      responses: { 200: jsonResponse(pageSchema(TeamSchema, "TeamPage"), "A page of teams."), 400: errors[400], 404: errors[404] },
    }),
    async (c) => {
      const page = await listTeams(database(c.env.DB), callerOf(c), c.req.valid("param").orgId, pageArgs(c.req.valid("query")));
      return c.json(mapPage(page, teamView), 200);
    },
  )
  .openapi(
    authedRoute("org.teams.create", {
      method: "post",
      path: "/api/v1/orgs/{orgId}/teams",
      tags: ["teams"],
      summary: "Create a team",
      request: { params: OrgParams, body: jsonBody(TeamNameSchema) },
      responses: { 201: jsonResponse(TeamSchema, "Created."), 400: errors[400], 404: errors[404], 409: errors[409] },
    }),
    async (c) => {
      const team = await createTeam(database(c.env.DB), callerOf(c), c.req.valid("param").orgId, c.req.valid("json").name);
      return c.json(teamView(team), 201);
    },
  )
  .openapi(
    authedRoute("team.read", {
      method: "get",
      path: "/api/v1/orgs/{orgId}/teams/{teamId}",
      tags: ["teams"],
      summary: "Get a team",
      request: { params: TeamParams },
      responses: { 200: jsonResponse(TeamSchema, "The team."), 404: errors[404] },
    }),
    async (c) => {
      const { orgId, teamId } = c.req.valid("param");
      return c.json(teamView(await getTeam(database(c.env.DB), callerOf(c), orgId, teamId)), 200);
    },
  )
  .openapi(
    authedRoute("team.manage", {
      method: "patch",
      path: "/api/v1/orgs/{orgId}/teams/{teamId}",
      tags: ["teams"],
      summary: "Rename a team",
      request: { params: TeamParams, body: jsonBody(TeamNameSchema) },
      responses: { 200: jsonResponse(TeamSchema, "Renamed."), 400: errors[400], 404: errors[404], 409: errors[409] },
    }),
    async (c) => {
      const { orgId, teamId } = c.req.valid("param");
      return c.json(teamView(await renameTeam(database(c.env.DB), callerOf(c), orgId, teamId, c.req.valid("json").name)), 200);
    },
  )
  .openapi(
    authedRoute("team.manage", {
      method: "delete",
      path: "/api/v1/orgs/{orgId}/teams/{teamId}",
      tags: ["teams"],
      summary: "Delete a team",
      request: { params: TeamParams },
      responses: { 204: noContent, 404: errors[404] },
    }),
    async (c) => {
      const { orgId, teamId } = c.req.valid("param");
      await deleteTeam(database(c.env.DB), callerOf(c), orgId, teamId);
      return c.body(null, 204);
    },
  )
  .openapi(
    authedRoute("team.read", {
      method: "get",
      path: "/api/v1/orgs/{orgId}/teams/{teamId}/members",
      tags: ["teams"],
      summary: "Members of a team",
      request: { params: TeamParams, query: PageQuerySchema },
      responses: {
        200: jsonResponse(pageSchema(TeamMemberSchema, "TeamMemberPage"), "A page of team members."),
        400: errors[400],
        404: errors[404],
      },
    }),
    async (c) => {
      const { orgId, teamId } = c.req.valid("param");
      const page = await listTeamMembers(database(c.env.DB), callerOf(c), orgId, teamId, pageArgs(c.req.valid("query")));
      return c.json(mapPage(page, teamMemberView), 200);
    },
  )
  .openapi(
    authedRoute("team.manage", {
      method: "put",
      path: "/api/v1/orgs/{orgId}/teams/{teamId}/members/{userId}",
      tags: ["teams"],
      summary: "Add an organization member to the team",
      request: { params: TeamUserParams },
      responses: { 204: noContent, 404: errors[404] },
    }),
    async (c) => {
      const { orgId, teamId, userId } = c.req.valid("param");
      await addTeamMember(database(c.env.DB), callerOf(c), orgId, teamId, userId);
      return c.body(null, 204);
    },
  )
  .openapi(
    authedRoute("team.manage", {
      method: "delete",
      path: "/api/v1/orgs/{orgId}/teams/{teamId}/members/{userId}",
      tags: ["teams"],
      summary: "Remove a member from the team",
      request: { params: TeamUserParams },
      responses: { 204: noContent, 404: errors[404] },
    }),
    async (c) => {
      const { orgId, teamId, userId } = c.req.valid("param");
      await removeTeamMember(database(c.env.DB), callerOf(c), orgId, teamId, userId);
      return c.body(null, 204);
    },
  );
