import { eq, lt } from "drizzle-orm";
import type { Caller } from "../auth/principal";
import type { Database } from "../db/client";
import { sessions, users, type User } from "../db/schema";
import { Forbidden } from "../lib/errors";
import { newId } from "../lib/ids";
import { auditInsert } from "./audit";

/** Finds the user with this e-mail, creating them on first sign-in, and marks them seen. One statement. */
export async function findOrCreateUser(db: Database, email: string, name: string): Promise<User> {
  const now = new Date();
  const user = await db
    .insert(users)
    .values({ id: newId("usr"), email: email.toLowerCase(), name, createdAt: now, lastSeenAt: now })
    .onConflictDoUpdate({ target: users.email, set: { lastSeenAt: now } })
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

/** Deletes the account; its sessions and tokens go with it (foreign-key cascade). */
export async function deleteAccount(db: Database, caller: Caller): Promise<void> {
  await db.batch([
    auditInsert(db, caller, { action: "user.delete", targetType: "user", targetId: caller.user.id }),
    db.delete(users).where(eq(users.id, caller.user.id)),
  ]);
}

/** Housekeeping: expired sessions are dead already; this reclaims their rows. */
export async function deleteExpiredSessions(db: Database, now = new Date()): Promise<number> {
  const result = await db.delete(sessions).where(lt(sessions.expiresAt, now)).run();
  return result.meta.changes ?? 0;
}
