import { and, eq, exists, inArray, or, sql, type SQL } from "drizzle-orm";
import { authorize, parentRelations, type Permission, type Relation } from "../auth/permissions";
import type { Caller } from "../auth/principal";
import type { Database } from "../db/client";
import { organizations, orgMembers, projects, teamMembers, teamProjects, type Project } from "../db/schema";
import { orgPolicyColumns, orgPolicyOf } from "./org-access";

/**
 * A caller's relations to a project: the organization role (`parent->…`) and the strongest
 * grant of a team they are in (`team_writer` for write, `team_reader` for read). Loaded as
 * one query builder, so a service can put it in the same D1 batch as the read it guards.
 */

/** 2 for a write grant, 1 for read, null for none: the caller's strongest team grant. */
export const teamGrantColumn = (userId: string) =>
  sql<number | null>`(select max(case ${teamProjects.access} when 'write' then 2 else 1 end)
    from ${teamProjects} inner join ${teamMembers} on ${teamMembers.teamId} = ${teamProjects.teamId}
    where ${teamProjects.projectId} = ${projects.id} and ${teamMembers.userId} = ${userId})`.as("team_grant");

export function projectAccessQuery(db: Database, projectId: string, userId: string) {
  return db
    .select({ project: projects, role: orgMembers.role, teamGrant: teamGrantColumn(userId), ...orgPolicyColumns })
    .from(projects)
    .innerJoin(organizations, eq(organizations.id, projects.orgId))
    .leftJoin(orgMembers, and(eq(orgMembers.orgId, projects.orgId), eq(orgMembers.userId, userId)))
    .where(eq(projects.id, projectId))
    .limit(1);
}

export type ProjectAccess = Awaited<ReturnType<typeof projectAccessQuery>>[number];

export function authorizeProject(caller: Caller, permission: Permission, access: ProjectAccess | undefined): Project {
  const relations = new Set<Relation>(parentRelations(access?.role));
  if (access?.teamGrant) relations.add(access.teamGrant >= 2 ? "team_writer" : "team_reader");
  authorize(caller, permission, relations, "Project", orgPolicyOf(access));
  return (access as ProjectAccess).project;
}

export async function loadProject(db: Database, caller: Caller, projectId: string, permission: Permission): Promise<Project> {
  const [access] = await projectAccessQuery(db, projectId, caller.user.id);
  return authorizeProject(caller, permission, access);
}

/**
 * The projects a user may see in an organization's lists: all of them for owners and
 * members, the ones granted to their teams for collaborators.
 */
export function visibleProjects(db: Database, userId: string): SQL {
  return or(
    exists(
      db
        .select({ one: sql`1` })
        .from(orgMembers)
        .where(and(eq(orgMembers.orgId, projects.orgId), eq(orgMembers.userId, userId), inArray(orgMembers.role, ["owner", "member"]))),
    ),
    exists(
      db
        .select({ one: sql`1` })
        .from(teamProjects)
        .innerJoin(teamMembers, eq(teamMembers.teamId, teamProjects.teamId))
        .where(and(eq(teamProjects.projectId, projects.id), eq(teamMembers.userId, userId))),
    ),
  )!;
}
