import { and, asc, eq, gt, inArray } from "drizzle-orm";
import type { OrgRole } from "../auth/permissions";
import type { Caller } from "../auth/principal";
import type { Database } from "../db/client";
import { isLastOwnerViolation } from "../db/errors";
import { aliased } from "../db/aliased";
import { orgMembers, teamMembers, teams, users } from "../db/schema";
import { Conflict, NotFound } from "../lib/errors";
import type { Page } from "../lib/pagination";
import { auditInsert } from "./audit";
import { authorizeOrg, orgAccessQuery, orgPage } from "./org-access";

export interface Member {
  /** The membership's id: sortable by join time, the list cursor. */
  id: string;
  userId: string;
  email: string;
  name: string;
  avatarUrl: string | null;
  role: OrgRole;
  joinedAt: Date;
}

/** Columns of a member row; names are unique so the query can run inside a D1 batch. */
const memberColumns = {
  id: aliased(orgMembers.id, "member_id"),
  userId: users.id,
  email: users.email,
  name: users.name,
  avatarUrl: users.avatarUrl,
  role: orgMembers.role,
  joinedAt: aliased(orgMembers.createdAt, "joined_at"),
};

export const lastOwner = () => new Conflict("An organization must keep at least one owner.", "last_owner");

function memberQuery(db: Database, orgId: string, userId: string) {
  return db
    .select(memberColumns)
    .from(orgMembers)
    .innerJoin(users, eq(users.id, orgMembers.userId))
    .where(and(eq(orgMembers.orgId, orgId), eq(orgMembers.userId, userId)))
    .limit(1);
}

/** Members in join order, with their role. Access check and page in one round trip. */
export async function listMembers(
  db: Database,
  caller: Caller,
  orgId: string,
  page: { limit: number; after: string | undefined },
): Promise<Page<Member>> {
  const query = db
    .select(memberColumns)
    .from(orgMembers)
    .innerJoin(users, eq(users.id, orgMembers.userId))
    .where(and(eq(orgMembers.orgId, orgId), page.after ? gt(orgMembers.id, page.after) : undefined))
    .orderBy(asc(orgMembers.id))
    .limit(page.limit + 1);
  return orgPage(db, caller, orgId, "org.members.read", query, page.limit);
}

async function loadTarget(db: Database, caller: Caller, orgId: string, userId: string, permission: "org.members.manage" | "org.leave") {
  const [[access], [target]] = await db.batch([orgAccessQuery(db, orgId, caller.user.id), memberQuery(db, orgId, userId)]);
  authorizeOrg(caller, permission, access);
  if (!target) throw new NotFound("Member");
  return target;
}

export async function changeRole(db: Database, caller: Caller, orgId: string, userId: string, role: OrgRole): Promise<Member> {
  const target = await loadTarget(db, caller, orgId, userId, "org.members.manage");
  if (target.role === role) return target;
  try {
    await db.batch([
      db.update(orgMembers).set({ role }).where(eq(orgMembers.id, target.id)),
      auditInsert(db, caller, {
        orgId,
        action: "member.role.update",
        targetType: "user",
        targetId: userId,
        before: { role: target.role },
        after: { role },
      }),
    ]);
  } catch (error) {
    if (isLastOwnerViolation(error)) throw lastOwner();
    throw error;
  }
  return { ...target, role };
}

/**
 * Removes a member (owners), or the caller themself (leaving). Their team memberships in
 * this organization go with them. The last owner can do neither.
 */
export async function removeMember(db: Database, caller: Caller, orgId: string, userId: string): Promise<void> {
  const leaving = userId === caller.user.id;
  const target = await loadTarget(db, caller, orgId, userId, leaving ? "org.leave" : "org.members.manage");
  const orgTeams = db.select({ id: teams.id }).from(teams).where(eq(teams.orgId, orgId));
  try {
    await db.batch([
      db.delete(orgMembers).where(eq(orgMembers.id, target.id)),
      db.delete(teamMembers).where(and(eq(teamMembers.userId, userId), inArray(teamMembers.teamId, orgTeams))),
      auditInsert(db, caller, {
        orgId,
        action: leaving ? "member.leave" : "member.remove",
        targetType: "user",
        targetId: userId,
        before: { role: target.role },
      }),
    ]);
  } catch (error) {
    if (isLastOwnerViolation(error)) throw lastOwner();
    throw error;
  }
}
