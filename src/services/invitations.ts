import { and, desc, eq, lt } from "drizzle-orm";
import type { OrgRole } from "../auth/permissions";
import type { Caller } from "../auth/principal";
import type { Database } from "../db/client";
import { invitations, organizations, orgMembers, type Invitation, type Organization } from "../db/schema";
import { hashSecret, randomSecret } from "../lib/crypto";
import { ApiError, NotFound } from "../lib/errors";
import { newId } from "../lib/ids";
import type { Page } from "../lib/pagination";
import { auditInsert } from "./audit";
import { authorizeOrg, loadOrg, orgAccessQuery, orgPage } from "./org-access";

/** 160 bits, base32: the code is the whole secret of an invitation link. */
const CODE_BYTES = 20;
const DAY_MS = 86_400_000;

export interface IssuedInvitation {
  invitation: Invitation;
  code: string;
}

function issue(orgId: string, role: OrgRole, expiresInDays: number, createdBy: string) {
  const code = randomSecret(CODE_BYTES);
  const now = new Date();
  const invitation: Invitation = {
    id: newId("inv"),
    orgId,
    codeHash: hashSecret(code),
    role,
    createdBy,
    expiresAt: new Date(now.getTime() + expiresInDays * DAY_MS),
    createdAt: now,
  };
  return { invitation, code };
}

const auditView = (i: Invitation) => ({ role: i.role, expiresAt: i.expiresAt.toISOString() });

/** A reusable invitation link (until it expires or is revoked), as Gitpod's org invites are. */
export async function createInvitation(
  db: Database,
  caller: Caller,
  orgId: string,
  input: { role: OrgRole; expiresInDays: number },
): Promise<IssuedInvitation> {
  await loadOrg(db, caller, orgId, "org.invitations.manage");
  const issued = issue(orgId, input.role, input.expiresInDays, caller.user.id);
  await db.batch([
    db.insert(invitations).values(issued.invitation),
    auditInsert(db, caller, {
      orgId,
      action: "invitation.create",
      targetType: "invitation",
      targetId: issued.invitation.id,
      after: auditView(issued.invitation),
    }),
  ]);
  return issued;
}

export async function listInvitations(
  db: Database,
  caller: Caller,
  orgId: string,
  page: { limit: number; after: string | undefined },
): Promise<Page<Invitation>> {
  const query = db
    .select()
    .from(invitations)
    .where(and(eq(invitations.orgId, orgId), page.after ? lt(invitations.id, page.after) : undefined))
    .orderBy(desc(invitations.id))
    .limit(page.limit + 1);
  return orgPage(db, caller, orgId, "org.invitations.manage", query, page.limit);
}

async function loadInvitation(db: Database, caller: Caller, orgId: string, id: string): Promise<Invitation> {
  const [[access], [invitation]] = await db.batch([
    orgAccessQuery(db, orgId, caller.user.id),
    db
      .select()
      .from(invitations)
      .where(and(eq(invitations.id, id), eq(invitations.orgId, orgId)))
      .limit(1),
  ]);
  authorizeOrg(caller, "org.invitations.manage", access);
  if (!invitation) throw new NotFound("Invitation");
  return invitation;
}

export async function revokeInvitation(db: Database, caller: Caller, orgId: string, id: string): Promise<void> {
  const invitation = await loadInvitation(db, caller, orgId, id);
  await db.batch([
    db.delete(invitations).where(eq(invitations.id, id)),
    auditInsert(db, caller, { orgId, action: "invitation.revoke", targetType: "invitation", targetId: id, before: auditView(invitation) }),
  ]);
}

/** A new code (and expiry) for an invitation; the old link stops working at once. */
export async function resetInvitation(
  db: Database,
  caller: Caller,
  orgId: string,
  id: string,
  expiresInDays: number,
): Promise<IssuedInvitation> {
  const before = await loadInvitation(db, caller, orgId, id);
  const { code, invitation: fresh } = issue(orgId, before.role, expiresInDays, caller.user.id);
  const invitation: Invitation = { ...before, codeHash: fresh.codeHash, expiresAt: fresh.expiresAt };
  await db.batch([
    db.update(invitations).set({ codeHash: invitation.codeHash, expiresAt: invitation.expiresAt }).where(eq(invitations.id, id)),
    auditInsert(db, caller, {
      orgId,
      action: "invitation.reset",
      targetType: "invitation",
      targetId: id,
      before: auditView(before),
      after: auditView(invitation),
    }),
  ]);
  return { invitation, code };
}

export interface Acceptance {
  org: Organization;
  role: OrgRole;
  joined: boolean;
}

/**
 * Joins the invitation's organization. Accepting again, or as an existing member, is
 * harmless: the membership (and its role) stays as it is.
 */
export async function acceptInvitation(db: Database, caller: Caller, code: string): Promise<Acceptance> {
  const found = await db
    .select({ invitation: invitations, org: organizations, role: orgMembers.role })
    .from(invitations)
    .innerJoin(organizations, eq(organizations.id, invitations.orgId))
    .leftJoin(orgMembers, and(eq(orgMembers.orgId, invitations.orgId), eq(orgMembers.userId, caller.user.id)))
    .where(eq(invitations.codeHash, hashSecret(code)))
    .get();
  if (!found) throw new NotFound("Invitation");
  if (found.role) return { org: found.org, role: found.role, joined: false };
  if (found.invitation.expiresAt.getTime() <= Date.now()) {
    throw new ApiError(410, "invitation_expired", "This invitation has expired; ask an owner for a new link.");
  }
  const { invitation, org } = found;
  await db.batch([
    db
      .insert(orgMembers)
      .values({ id: newId("mem"), orgId: org.id, userId: caller.user.id, role: invitation.role })
      .onConflictDoNothing(),
    auditInsert(db, caller, {
      orgId: org.id,
      action: "member.join",
      targetType: "user",
      targetId: caller.user.id,
      after: { role: invitation.role, invitationId: invitation.id },
    }),
  ]);
  return { org, role: invitation.role, joined: true };
}
