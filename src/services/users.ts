import { eq, lt, sql } from "drizzle-orm";
import type { Caller } from "../auth/principal";
import type { Database } from "../db/client";
import { sessions, users, workspaces, type User } from "../db/schema";
import { isLastOwnerViolation } from "../db/errors";
import { Conflict, Forbidden } from "../lib/errors";
import { newId } from "../lib/ids";
import { auditInsert } from "./audit";
import type { LiveObjects } from "./teardown";

/**
 * Finds the user with this e-mail, creating them on first sign-in, and marks them seen.
 * The bootstrap e-mail (config) becomes platform admin while the install has none. One statement.
 */
export async function findOrCreateUser(
  db: Database,
  email: string,
  name: string,
  bootstrapAdminEmail: string | null,
): Promise<User> {
  const now = new Date();
  const normalized = email.toLowerCase();
  const noAdminYet = sql<boolean>`NOT EXISTS (SELECT 1 FROM ${users} WHERE ${users.platformAdmin} = 1)`;
  const bootstrap = normalized === bootstrapAdminEmail;
  const user = await db
    .insert(users)
    .values({ id: newId("usr"), email: normalized, name, createdAt: now, lastSeenAt: now, platformAdmin: bootstrap ? noAdminYet : false })
    .onConflictDoUpdate({
      target: users.email,
      set: { lastSeenAt: now, ...(bootstrap ? { platformAdmin: sql`${users.platformAdmin} OR ${noAdminYet}` } : {}) },
    })
    .returning()
    .get();
  if (user.blocked) throw new Forbidden("This account is blocked.", "account_blocked");
  return user;
}

export interface ProfileChanges {
  name?: string | undefined;
  avatarUrl?: string | null | undefined;
}

export async function updateProfile(db: Database, caller: Caller, changes: ProfileChanges): Promise<User> {
  const before = caller.user;
  const after: User = {
    ...before,
    name: changes.name ?? before.name,
    avatarUrl: changes.avatarUrl === undefined ? before.avatarUrl : changes.avatarUrl,
  };
  await db.batch([
    db.update(users).set({ name: after.name, avatarUrl: after.avatarUrl }).where(eq(users.id, before.id)),
    auditInsert(db, caller, {
      action: "user.update",
      targetType: "user",
      targetId: before.id,
      before: { name: before.name, avatarUrl: before.avatarUrl },
      after: { name: after.name, avatarUrl: after.avatarUrl },
    }),
  ]);
  return after;
}

/**
 * Deletes the account; its sessions, tokens, memberships and workspaces go with it
 * (foreign-key cascade); returns the workspaces whose objects must be torn down. The last owner of an organization must hand it over or delete it first.
 */
export async function deleteAccount(db: Database, caller: Caller): Promise<LiveObjects> {
  try {
    const [, owned] = await db.batch([
      auditInsert(db, caller, { action: "user.delete", targetType: "user", targetId: caller.user.id }),
      db.select({ id: workspaces.id }).from(workspaces).where(eq(workspaces.ownerId, caller.user.id)),
      db.delete(users).where(eq(users.id, caller.user.id)),
    ]);
    return { workspaceIds: owned.map((w) => w.id), runnerIds: [] };
  } catch (error) {
    if (isLastOwnerViolation(error)) {
      throw new Conflict("You are the last owner of an organization: add another owner or delete it first.", "last_owner");
    }
    throw error;
  }
}

/** Housekeeping: expired sessions are dead already; this reclaims their rows. */
export async function deleteExpiredSessions(db: Database, now = new Date()): Promise<number> {
  const result = await db.delete(sessions).where(lt(sessions.expiresAt, now)).run();
  return result.meta.changes ?? 0;
}
