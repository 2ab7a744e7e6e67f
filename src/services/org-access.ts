import { and, eq, sql } from "drizzle-orm";
import type { BatchItem } from "drizzle-orm/batch";
import {
  authorize,
  orgRelations,
  parentRelations,
  type OrgPolicy,
  type OrgRole,
  type Permission,
  type Relation,
} from "../auth/permissions";
import type { Caller } from "../auth/principal";
import { aliased } from "../db/aliased";
import { toPage, type Page } from "../lib/pagination";
import type { Database } from "../db/client";
import { organizations, orgMembers, teamMembers, teams, type Organization, type Team } from "../db/schema";

/**
 * Loading a caller's relations to an organization's resources. Each loader is one query
 * builder, so a service can put it in the same D1 batch as the read it guards and a whole
 * guarded request stays at one round trip after authentication.
 *
 * Every loader also brings the organization's policy (`OrgPolicy`: its single sign-on
 * requirement and the caller's role), which `authorize` enforces for every resource inside
 * an organization — the one place that requirement is checked.
 */

/**
 * The organization's policy as columns of a query that joins `organizations` (uniquely named,
 * so the query can run inside a D1 batch; see db/aliased.ts). `requireSso` is read out of the
 * settings JSON; absent (settings saved before it existed) is false.
 */
export const orgPolicyColumns = {
  policyOrgId: aliased(organizations.id, "policy_org_id"),
  policyOrgSlug: aliased(organizations.slug, "policy_org_slug"),
  policyRequireSso: sql<boolean>`coalesce(json_extract(${organizations.settings}, '$.requireSso'), 0)`
    .mapWith((value: unknown) => value === 1 || value === true)
    .as("policy_require_sso"),
};

/** The policy from a row selected with `orgPolicyColumns` and the caller's role. */
export function orgPolicyOf(
  row: { policyOrgId: string; policyOrgSlug: string; policyRequireSso: boolean; role: OrgRole | null } | undefined,
): OrgPolicy | undefined {
  return row && { orgId: row.policyOrgId, slug: row.policyOrgSlug, requireSso: row.policyRequireSso, role: row.role };
}

export function orgAccessQuery(db: Database, orgId: string, userId: string) {
  return db
    .select({ org: organizations, role: orgMembers.role })
    .from(organizations)
    .leftJoin(orgMembers, and(eq(orgMembers.orgId, organizations.id), eq(orgMembers.userId, userId)))
    .where(eq(organizations.id, orgId))
    .limit(1);
}

export type OrgAccess = Awaited<ReturnType<typeof orgAccessQuery>>[number];

/** Authorizes `permission` on the organization; returns it with the caller's role. */
export function authorizeOrg(caller: Caller, permission: Permission, access: OrgAccess | undefined) {
  const policy = access && {
    orgId: access.org.id,
    slug: access.org.slug,
    requireSso: access.org.settings.requireSso === true,
    role: access.role,
  };
  authorize(caller, permission, orgRelations(access?.role), "Organization", policy);
  return access as OrgAccess & { org: Organization };
}

/**
 * A page of an organization's rows, guarded by `permission`: the caller's access and the
 * page come back in one D1 batch, and the page is only returned once authorized.
 */
export async function orgPage<Q extends BatchItem<"sqlite">>(
  db: Database,
  caller: Caller,
  orgId: string,
  permission: Permission,
  pageQuery: Q,
  limit: number,
): Promise<Page<Q["_"]["result"][number]>> {
  const [[access], rows] = await db.batch([orgAccessQuery(db, orgId, caller.user.id), pageQuery]);
  authorizeOrg(caller, permission, access);
  return toPage(rows as Q["_"]["result"], limit);
}

export async function loadOrg(db: Database, caller: Caller, orgId: string, permission: Permission) {
  const [access] = await orgAccessQuery(db, orgId, caller.user.id);
  return authorizeOrg(caller, permission, access);
}

export function teamAccessQuery(db: Database, orgId: string, teamId: string, userId: string) {
  return db
    .select({
      team: teams,
      role: orgMembers.role,
      teamMemberId: aliased(teamMembers.id, "team_member_id"),
      ...orgPolicyColumns,
    })
    .from(teams)
    .innerJoin(organizations, eq(organizations.id, teams.orgId))
    .leftJoin(orgMembers, and(eq(orgMembers.orgId, teams.orgId), eq(orgMembers.userId, userId)))
    .leftJoin(teamMembers, and(eq(teamMembers.teamId, teams.id), eq(teamMembers.userId, userId)))
    .where(and(eq(teams.id, teamId), eq(teams.orgId, orgId)))
    .limit(1);
}

type TeamAccess = Awaited<ReturnType<typeof teamAccessQuery>>[number];

export function authorizeTeam(caller: Caller, permission: Permission, access: TeamAccess | undefined): Team {
  const relations = new Set<Relation>(parentRelations(access?.role));
  if (access?.teamMemberId) relations.add("member");
  authorize(caller, permission, relations, "Team", orgPolicyOf(access));
  return (access as TeamAccess).team;
}

/** `orgPage` for a team's rows: the caller's access to the team and the page, in one batch. */
export async function teamPage<Q extends BatchItem<"sqlite">>(
  db: Database,
  caller: Caller,
  orgId: string,
  teamId: string,
  permission: Permission,
  pageQuery: Q,
  limit: number,
): Promise<Page<Q["_"]["result"][number]>> {
  const [[access], rows] = await db.batch([teamAccessQuery(db, orgId, teamId, caller.user.id), pageQuery]);
  authorizeTeam(caller, permission, access);
  return toPage(rows as Q["_"]["result"], limit);
}
