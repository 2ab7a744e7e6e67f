import { z } from "@hono/zod-openapi";
import { callerOf } from "../auth/principal";
import { database } from "../db/client";
import type { Invitation } from "../db/schema";
import { mapPage, pageArgs, PageQuerySchema, pageSchema } from "../lib/pagination";
import {
  acceptInvitation,
  createInvitation,
  listInvitations,
  resetInvitation,
  revokeInvitation,
  type IssuedInvitation,
} from "../services/invitations";
import { changeRole, listMembers, removeMember, type Member } from "../services/members";
import { authedRoute, createRouter, errors, jsonBody, jsonResponse, noContent } from "./openapi";
import { OrgInvitationParams, OrgParams, OrgRoleSchema, OrgUserParams } from "./schemas";

const MemberSchema = z
  .object({
    userId: z.string(),
    email: z.string(),
    name: z.string(),
    avatarUrl: z.string().nullable(),
    role: OrgRoleSchema,
    joinedAt: z.iso.datetime(),
  })
  .openapi("Member");

const memberView = (m: Member): z.infer<typeof MemberSchema> => ({
  userId: m.userId,
  email: m.email,
  name: m.name,
  avatarUrl: m.avatarUrl,
  role: m.role,
  joinedAt: m.joinedAt.toISOString(),
});

const InvitationSchema = z
  .object({
    id: z.string(),
    role: OrgRoleSchema,
    createdBy: z.string().nullable(),
    expiresAt: z.iso.datetime(),
    createdAt: z.iso.datetime(),
  })
  .openapi("Invitation");

const IssuedInvitationSchema = InvitationSchema.extend({
  code: z.string().openapi({ description: "The invitation code; shown only in this response." }),
  acceptPath: z.string().openapi({ example: "/api/v1/invitations/abc…/accept" }),
}).openapi("IssuedInvitation");

const invitationView = (i: Invitation): z.infer<typeof InvitationSchema> => ({
  id: i.id,
  role: i.role,
  createdBy: i.createdBy,
  expiresAt: i.expiresAt.toISOString(),
  createdAt: i.createdAt.toISOString(),
});

const issuedView = ({ invitation, code }: IssuedInvitation) => ({
  ...invitationView(invitation),
  code,
  acceptPath: `/api/v1/invitations/${code}/accept`,
});

const expiresInDays = z.number().int().min(1).max(30).default(7).openapi({ description: "Days until the link expires." });
const NewInvitationSchema = z
  .strictObject({ role: OrgRoleSchema.default("member"), expiresInDays })
  .openapi("NewInvitation");
const ResetInvitationSchema = z.strictObject({ expiresInDays }).openapi("ResetInvitation");

const AcceptanceSchema = z
  .object({
    organization: z.object({ id: z.string(), name: z.string(), slug: z.string() }),
    role: OrgRoleSchema,
    joined: z.boolean().openapi({ description: "False when you were a member already." }),
  })
  .openapi("InvitationAcceptance");

export const memberRoutes = createRouter()
  .openapi(
    authedRoute("org.members.read", {
      method: "get",
      path: "/api/v1/orgs/{orgId}/members",
      tags: ["members"],
      summary: "Members with their role, in join order",
      request: { params: OrgParams, query: PageQuerySchema },
      responses: {
        200: jsonResponse(pageSchema(MemberSchema, "MemberPage"), "A page of members."),
        400: errors[400],
        404: errors[404],
      },
    }),
    async (c) => {
      const page = await listMembers(database(c.env.DB), callerOf(c), c.req.valid("param").orgId, pageArgs(c.req.valid("query")));
      return c.json(mapPage(page, memberView), 200);
    },
  )
  .openapi(
    authedRoute("org.members.manage", {
      method: "patch",
      path: "/api/v1/orgs/{orgId}/members/{userId}",
      tags: ["members"],
      summary: "Change a member's role",
      description: "Demoting the last owner is refused (409 `last_owner`).",
      request: { params: OrgUserParams, body: jsonBody(z.strictObject({ role: OrgRoleSchema }).openapi("RoleChange")) },
      responses: { 200: jsonResponse(MemberSchema, "Updated."), 400: errors[400], 404: errors[404], 409: errors[409] },
    }),
    async (c) => {
      const { orgId, userId } = c.req.valid("param");
      const member = await changeRole(database(c.env.DB), callerOf(c), orgId, userId, c.req.valid("json").role);
      return c.json(memberView(member), 200);
    },
  )
  .openapi(
    authedRoute("org.members.manage", {
      method: "delete",
      path: "/api/v1/orgs/{orgId}/members/{userId}",
      tags: ["members"],
      summary: "Remove a member, or leave (your own user id)",
      description:
        "Owners remove members; anyone leaves by naming themself (permission `org.leave`). " +
        "The last owner can do neither (409 `last_owner`).",
      request: { params: OrgUserParams },
      responses: { 204: noContent, 404: errors[404], 409: errors[409] },
    }),
    async (c) => {
      const { orgId, userId } = c.req.valid("param");
      await removeMember(database(c.env.DB), callerOf(c), orgId, userId);
      return c.body(null, 204);
    },
  )
  .openapi(
    authedRoute("org.invitations.manage", {
      method: "post",
      path: "/api/v1/orgs/{orgId}/invitations",
      tags: ["invitations"],
      summary: "Create an invitation link",
      request: { params: OrgParams, body: jsonBody(NewInvitationSchema) },
      responses: { 201: jsonResponse(IssuedInvitationSchema, "Created; the code is shown once."), 400: errors[400], 404: errors[404] },
    }),
    async (c) => {
      const issued = await createInvitation(database(c.env.DB), callerOf(c), c.req.valid("param").orgId, c.req.valid("json"));
      return c.json(issuedView(issued), 201);
    },
  )
  .openapi(
    authedRoute("org.invitations.manage", {
      method: "get",
      path: "/api/v1/orgs/{orgId}/invitations",
      tags: ["invitations"],
      summary: "List invitations (never their codes)",
      request: { params: OrgParams, query: PageQuerySchema },
      responses: {
        200: jsonResponse(pageSchema(InvitationSchema, "InvitationPage"), "A page of invitations."),
        400: errors[400],
        404: errors[404],
      },
    }),
    async (c) => {
      const page = await listInvitations(database(c.env.DB), callerOf(c), c.req.valid("param").orgId, pageArgs(c.req.valid("query")));
      return c.json(mapPage(page, invitationView), 200);
    },
  )
  .openapi(
    authedRoute("org.invitations.manage", {
      method: "delete",
      path: "/api/v1/orgs/{orgId}/invitations/{invitationId}",
      tags: ["invitations"],
      summary: "Revoke an invitation",
      request: { params: OrgInvitationParams },
      responses: { 204: noContent, 404: errors[404] },
    }),
    async (c) => {
      const { orgId, invitationId } = c.req.valid("param");
      await revokeInvitation(database(c.env.DB), callerOf(c), orgId, invitationId);
      return c.body(null, 204);
    },
  )
  .openapi(
    authedRoute("org.invitations.manage", {
      method: "post",
      path: "/api/v1/orgs/{orgId}/invitations/{invitationId}/reset",
      tags: ["invitations"],
      summary: "Reset an invitation: new code and expiry, the old link dies at once",
      request: {
        params: OrgInvitationParams,
        body: { required: false, content: { "application/json": { schema: ResetInvitationSchema } } },
      },
      responses: { 200: jsonResponse(IssuedInvitationSchema, "Reset."), 400: errors[400], 404: errors[404] },
    }),
    async (c) => {
      const { orgId, invitationId } = c.req.valid("param");
      // Without a body the validator yields {}; parsing applies the default expiry.
      const days = ResetInvitationSchema.parse(c.req.valid("json")).expiresInDays;
      const issued = await resetInvitation(database(c.env.DB), callerOf(c), orgId, invitationId, days);
      return c.json(issuedView(issued), 200);
    },
  )
  .openapi(
    authedRoute("invitation.accept", {
      method: "post",
      path: "/api/v1/invitations/{code}/accept",
      tags: ["invitations"],
      summary: "Join an organization with an invitation code",
      description: "Accepting again, or as a member already, changes nothing.",
      request: { params: z.object({ code: z.string().min(1).max(100) }) },
      responses: { 200: jsonResponse(AcceptanceSchema, "Joined (or already a member)."), 404: errors[404], 410: errors[410] },
    }),
    async (c) => {
      const { org, role, joined } = await acceptInvitation(database(c.env.DB), callerOf(c), c.req.valid("param").code);
      return c.json({ organization: { id: org.id, name: org.name, slug: org.slug }, role, joined }, 200);
    },
  );
