import { and, count, desc, eq, lt, or, sql, type SQL, type SQLWrapper } from "drizzle-orm";
import { authorize, type Relation } from "../auth/permissions";
import type { Caller } from "../auth/principal";
import type { Database } from "../db/client";
import { organizations, orgMembers, runners, sessions, users, workspaces, type Organization, type User } from "../db/schema";
import { Conflict, NotFound } from "../lib/errors";
import { toPage, type Page } from "../lib/pagination";
import { auditInsert } from "./audit";

type PageArgs = { limit: number; after: string | undefined };

/** Platform administration: every function here first asks for `platform.admin`. */
function requireAdmin(caller: Caller): void {
  const relations = new Set<Relation>(caller.user.platformAdmin ? ["admin", "user"] : ["user"]);
  authorize(caller, "platform.admin", relations, "Resource");
}

/** Case-insensitive substring match in which `%`, `_` and `\` of the query are literal. */
function matches(column: SQLWrapper, q: string): SQL {
  const pattern = `%${q.toLowerCase().replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
  return sql`lower(${column}) LIKE ${pattern} ESCAPE '\\'`;
}

export async function searchUsers(db: Database, caller: Caller, q: string | undefined, page: PageArgs): Promise<Page<User>> {
  requireAdmin(caller);
  const rows = await db
    .select()
    .from(users)
    .where(
      and(
        q ? or(matches(users.email, q), matches(users.name, q)) : undefined,
        page.after ? lt(users.id, page.after) : undefined,
      ),
    )
    .orderBy(desc(users.id))
    .limit(page.limit + 1);
  return toPage(rows, page.limit);
}

export interface AdminUserChanges {
  blocked?: boolean | undefined;
  platformAdmin?: boolean | undefined;
}

/** Blocking takes effect at once: every request re-reads the flag, and sessions are revoked. */
export async function updateUserAsAdmin(db: Database, caller: Caller, userId: string, changes: AdminUserChanges): Promise<User> {
  requireAdmin(caller);
  if (userId === caller.user.id && (changes.blocked || changes.platformAdmin === false)) {
    throw new Conflict("Administrators cannot block or demote themselves.", "self_lockout");
  }
  const before = await db.select().from(users).where(eq(users.id, userId)).get();
  if (!before) throw new NotFound("User");
  const after: User = {
    ...before,
    blocked: changes.blocked ?? before.blocked,
    platformAdmin: changes.platformAdmin ?? before.platformAdmin,
  };
  await db.batch([
    db.update(users).set({ blocked: after.blocked, platformAdmin: after.platformAdmin }).where(eq(users.id, userId)),
    ...(after.blocked && !before.blocked ? [db.delete(sessions).where(eq(sessions.userId, userId))] : []),
    auditInsert(db, caller, {
      action: "admin.user.update",
      targetType: "user",
      targetId: userId,
      before: { blocked: before.blocked, platformAdmin: before.platformAdmin },
      after: { blocked: after.blocked, platformAdmin: after.platformAdmin },
    }),
  ]);
  return after;
}

export async function searchOrgs(
  db: Database,
  caller: Caller,
  q: string | undefined,
  page: PageArgs,
): Promise<Page<{ id: string; org: Organization; memberCount: number }>> {
  requireAdmin(caller);
  const rows = await db
    .select({ id: organizations.id, org: organizations, memberCount: count(orgMembers.id) })
    .from(organizations)
    .leftJoin(orgMembers, eq(orgMembers.orgId, organizations.id))
    .where(
      and(
        q ? or(matches(organizations.slug, q), matches(organizations.name, q)) : undefined,
        page.after ? lt(organizations.id, page.after) : undefined,
      ),
    )
    .groupBy(organizations.id)
    .orderBy(desc(organizations.id))
    .limit(page.limit + 1);
  return toPage(rows, page.limit);
}

export interface PlatformMetrics {
  users: { total: number; blocked: number; platformAdmins: number; activeLast24h: number };
  organizations: { total: number };
  memberships: Record<string, number>;
  /** Workspaces by phase, as last written through by their Durable Objects. */
  workspaces: Record<string, number>;
  runners: { total: number; connected: number };
}

/** Aggregates only: one batch of counting queries, never rows. */
export async function platformMetrics(db: Database, caller: Caller): Promise<PlatformMetrics> {
  requireAdmin(caller);
  const dayAgo = new Date(Date.now() - 86_400_000);
  const [[userCounts], [orgCount], roles, phases, [runnerCounts]] = await db.batch([
    db
      .select({
        total: count(),
        blocked: sql<number>`coalesce(sum(${users.blocked}), 0)`,
        platformAdmins: sql<number>`coalesce(sum(${users.platformAdmin}), 0)`,
        activeLast24h: sql<number>`coalesce(sum(${users.lastSeenAt} > ${dayAgo.getTime()}), 0)`,
      })
      .from(users),
    db.select({ total: count() }).from(organizations),
    db.select({ role: orgMembers.role, n: count() }).from(orgMembers).groupBy(orgMembers.role),
    db.select({ phase: workspaces.phase, n: count() }).from(workspaces).groupBy(workspaces.phase),
    db.select({ total: count(), connected: sql<number>`coalesce(sum(${runners.connected}), 0)` }).from(runners),
  ]);
  return {
    users: userCounts!,
    organizations: { total: orgCount!.total },
    memberships: Object.fromEntries(roles.map((r) => [r.role, r.n])),
    workspaces: Object.fromEntries(phases.map((p) => [p.phase, p.n])),
    runners: runnerCounts!,
  };
}
