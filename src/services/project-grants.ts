import { and, asc, eq, gt } from "drizzle-orm";
import type { Caller } from "../auth/principal";
import { aliased } from "../db/aliased";
import type { Database } from "../db/client";
import { projects, teamProjects } from "../db/schema";
import { NotFound } from "../lib/errors";
import { newId } from "../lib/ids";
import type { Page } from "../lib/pagination";
import { auditInsert } from "./audit";
import { authorizeTeam, teamAccessQuery, teamPage } from "./org-access";

/**
 * Team grants: a team's members get read or write access to a project of the organization
 * (the `team_reader`/`team_writer` relations of the permission model). Managed by the
 * organization's owners, as teams are.
 */
export type ProjectAccessLevel = "read" | "write";

export interface TeamProjectGrant {
  id: string;
  projectId: string;
  projectName: string;
  access: ProjectAccessLevel;
  grantedAt: Date;
}

/** Grants (or changes) the team's access to the project; granting the same access again is harmless. */
export async function grantProject(
  db: Database,
  caller: Caller,
  orgId: string,
  teamId: string,
  projectId: string,
  access: ProjectAccessLevel,
): Promise<TeamProjectGrant> {
  const [[teamAccess], [project], [existing]] = await db.batch([
    teamAccessQuery(db, orgId, teamId, caller.user.id),
    db
      .select({ id: projects.id, name: projects.name })
      .from(projects)
      .where(and(eq(projects.id, projectId), eq(projects.orgId, orgId)))
      .limit(1),
    db
      .select({ grantId: teamProjects.id, access: teamProjects.access, grantedAt: teamProjects.createdAt })
      .from(teamProjects)
      .where(and(eq(teamProjects.teamId, teamId), eq(teamProjects.projectId, projectId)))
      .limit(1),
  ]);
  authorizeTeam(caller, "team.manage", teamAccess);
  if (!project) throw new NotFound("Project");
  const grant: TeamProjectGrant = {
    id: existing?.grantId ?? newId("tpg"),
    projectId,
    projectName: project.name,
    access,
    grantedAt: existing?.grantedAt ?? new Date(),
  };
  if (existing?.access === access) return grant;
  await db.batch([
    db
      .insert(teamProjects)
      .values({ id: grant.id, teamId, projectId, access, createdAt: grant.grantedAt })
      .onConflictDoUpdate({ target: [teamProjects.teamId, teamProjects.projectId], set: { access } }),
    auditInsert(db, caller, {
      orgId,
      action: "team.project.grant",
      targetType: "team",
      targetId: teamId,
      before: existing ? { projectId, access: existing.access } : null,
      after: { projectId, access },
    }),
  ]);
  return grant;
}

export async function revokeProject(db: Database, caller: Caller, orgId: string, teamId: string, projectId: string): Promise<void> {
  const [access] = await teamAccessQuery(db, orgId, teamId, caller.user.id);
  authorizeTeam(caller, "team.manage", access);
  const [removed] = await db
    .delete(teamProjects)
    .where(and(eq(teamProjects.teamId, teamId), eq(teamProjects.projectId, projectId)))
    .returning({ access: teamProjects.access });
  if (!removed) throw new NotFound("Project grant");
  await auditInsert(db, caller, {
    orgId,
    action: "team.project.revoke",
    targetType: "team",
    targetId: teamId,
    before: { projectId, access: removed.access },
  });
}

export async function listTeamProjects(
  db: Database,
  caller: Caller,
  orgId: string,
  teamId: string,
  page: { limit: number; after: string | undefined },
): Promise<Page<TeamProjectGrant>> {
  const query = db
    // Unique column names: this runs inside a D1 batch (see db/aliased.ts).
    .select({
      id: aliased(teamProjects.id, "grant_id"),
      projectId: aliased(projects.id, "project_id"),
      projectName: projects.name,
      access: teamProjects.access,
      grantedAt: aliased(teamProjects.createdAt, "granted_at"),
    })
    .from(teamProjects)
    .innerJoin(projects, eq(projects.id, teamProjects.projectId))
    .where(and(eq(teamProjects.teamId, teamId), page.after ? gt(teamProjects.id, page.after) : undefined))
    .orderBy(asc(teamProjects.id))
    .limit(page.limit + 1);
  return teamPage(db, caller, orgId, teamId, "team.read", query, page.limit);
}
