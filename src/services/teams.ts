import { and, asc, desc, eq, gt, lt } from "drizzle-orm";
import type { Caller } from "../auth/principal";
import type { Database } from "../db/client";
import { isUniqueViolation } from "../db/errors";
import { aliased } from "../db/aliased";
import { orgMembers, teamMembers, teams, users, type Team } from "../db/schema";
import { Conflict, NotFound } from "../lib/errors";
import { newId } from "../lib/ids";
import type { Page } from "../lib/pagination";
import { auditInsert } from "./audit";
import { authorizeTeam, loadOrg, orgPage, teamAccessQuery, teamPage } from "./org-access";

type PageArgs = { limit: number; after: string | undefined };

const nameTaken = (name: string) => new Conflict(`A team named "${name}" exists already.`, "team_name_taken");

export async function listTeams(db: Database, caller: Caller, orgId: string, page: PageArgs): Promise<Page<Team>> {
  const query = db
    .select()
    .from(teams)
    .where(and(eq(teams.orgId, orgId), page.after ? lt(teams.id, page.after) : undefined))
    .orderBy(desc(teams.id))
    .limit(page.limit + 1);
  return orgPage(db, caller, orgId, "org.teams.read", query, page.limit);
}

export async function createTeam(db: Database, caller: Caller, orgId: string, name: string): Promise<Team> {
  await loadOrg(db, caller, orgId, "org.teams.create");
  const now = new Date();
  const team: Team = { id: newId("team"), orgId, name, createdAt: now, updatedAt: now };
  try {
    await db.batch([
      db.insert(teams).values(team),
      auditInsert(db, caller, { orgId, action: "team.create", targetType: "team", targetId: team.id, after: { name } }),
    ]);
  } catch (error) {
    if (isUniqueViolation(error)) throw nameTaken(name);
    throw error;
  }
  return team;
}

async function loadTeam(db: Database, caller: Caller, orgId: string, teamId: string, permission: "team.read" | "team.manage") {
  const [access] = await teamAccessQuery(db, orgId, teamId, caller.user.id);
  return authorizeTeam(caller, permission, access);
}

export async function getTeam(db: Database, caller: Caller, orgId: string, teamId: string): Promise<Team> {
  return loadTeam(db, caller, orgId, teamId, "team.read");
}

export async function renameTeam(db: Database, caller: Caller, orgId: string, teamId: string, name: string): Promise<Team> {
  const before = await loadTeam(db, caller, orgId, teamId, "team.manage");
  const team = { ...before, name, updatedAt: new Date() };
  try {
    await db.batch([
      db.update(teams).set({ name, updatedAt: team.updatedAt }).where(eq(teams.id, teamId)),
      auditInsert(db, caller, {
        orgId,
        action: "team.update",
        targetType: "team",
        targetId: teamId,
        before: { name: before.name },
        after: { name },
      }),
    ]);
  } catch (error) {
    if (isUniqueViolation(error)) throw nameTaken(name);
    throw error;
  }
  return team;
}

export async function deleteTeam(db: Database, caller: Caller, orgId: string, teamId: string): Promise<void> {
  const team = await loadTeam(db, caller, orgId, teamId, "team.manage");
  await db.batch([
    db.delete(teams).where(eq(teams.id, teamId)),
    auditInsert(db, caller, { orgId, action: "team.delete", targetType: "team", targetId: teamId, before: { name: team.name } }),
  ]);
}

export interface TeamMember {
  id: string;
  userId: string;
  email: string;
  name: string;
  addedAt: Date;
}

export async function listTeamMembers(
  db: Database,
  caller: Caller,
  orgId: string,
  teamId: string,
  page: PageArgs,
): Promise<Page<TeamMember>> {
  const query = db
    // Unique column names: this runs inside a D1 batch (see db/aliased.ts).
    .select({
      id: aliased(teamMembers.id, "team_member_id"),
      userId: users.id,
      email: users.email,
      name: users.name,
      addedAt: aliased(teamMembers.createdAt, "added_at"),
    })
    .from(teamMembers)
    .innerJoin(users, eq(users.id, teamMembers.userId))
    .where(and(eq(teamMembers.teamId, teamId), page.after ? gt(teamMembers.id, page.after) : undefined))
    .orderBy(asc(teamMembers.id))
    .limit(page.limit + 1);
  return teamPage(db, caller, orgId, teamId, "team.read", query, page.limit);
}

/** Adds an organization member to the team; adding them twice is harmless. */
export async function addTeamMember(db: Database, caller: Caller, orgId: string, teamId: string, userId: string): Promise<void> {
  const [[access], [membership]] = await db.batch([
    teamAccessQuery(db, orgId, teamId, caller.user.id),
    db
      .select({ id: orgMembers.id })
      .from(orgMembers)
      .where(and(eq(orgMembers.orgId, orgId), eq(orgMembers.userId, userId)))
      .limit(1),
  ]);
  authorizeTeam(caller, "team.manage", access);
  if (!membership) throw new NotFound("Member");
  const [added] = await db
    .insert(teamMembers)
    .values({ id: newId("tmm"), teamId, userId })
    .onConflictDoNothing()
    .returning({ id: teamMembers.id });
  if (added) {
    await auditInsert(db, caller, { orgId, action: "team.member.add", targetType: "team", targetId: teamId, after: { userId } });
  }
}

export async function removeTeamMember(db: Database, caller: Caller, orgId: string, teamId: string, userId: string): Promise<void> {
  await loadTeam(db, caller, orgId, teamId, "team.manage");
  const [removed] = await db
    .delete(teamMembers)
    .where(and(eq(teamMembers.teamId, teamId), eq(teamMembers.userId, userId)))
    .returning({ id: teamMembers.id });
  if (!removed) throw new NotFound("Team member");
  await auditInsert(db, caller, { orgId, action: "team.member.remove", targetType: "team", targetId: teamId, before: { userId } });
}
