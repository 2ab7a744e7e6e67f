import { z } from "@hono/zod-openapi";
import { ORG_ROLES } from "../auth/permissions";
import type { AuditLog, User } from "../db/schema";

/** Response schemas and views shared by several resources. */

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

export const AuditLogSchema = z
  .object({
    id: z.string(),
    actorId: z.string().nullable(),
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

export const auditView = (a: AuditLog): z.infer<typeof AuditLogSchema> => ({
  id: a.id,
  actorId: a.actorId,
  action: a.action,
  targetType: a.targetType,
  targetId: a.targetId,
  before: a.before,
  after: a.after,
  requestId: a.requestId,
  ip: a.ip,
  createdAt: a.createdAt.toISOString(),
});

export const OrgRoleSchema = z.enum(ORG_ROLES).openapi({ description: "owner, member or collaborator" });

/** Path parameters; ids are opaque strings. */
const id = z.string().min(1).max(64);
export const OrgParams = z.object({ orgId: id });
export const OrgUserParams = z.object({ orgId: id, userId: id });
export const OrgInvitationParams = z.object({ orgId: id, invitationId: id });
export const TeamParams = z.object({ orgId: id, teamId: id });
export const TeamUserParams = z.object({ orgId: id, teamId: id, userId: id });
export const ProjectParams = z.object({ projectId: id });
export const TeamProjectParams = z.object({ orgId: id, teamId: id, projectId: id });
