import { and, desc, eq, lt, sql, type SQL } from "drizzle-orm";
import type { Caller } from "../auth/principal";
import { orgPage } from "./org-access";
import type { Database } from "../db/client";
import { auditLogs, type AuditLog } from "../db/schema";
import { newId } from "../lib/ids";
import { toPage, type Page } from "../lib/pagination";

export interface AuditEntry {
  action: string;
  targetType: string;
  targetId: string;
  orgId?: string | null;
  before?: Record<string, unknown> | null;
  after?: Record<string, unknown> | null;
}

/** The insert for one audit row; callers put it in the same batch as the change it records. */
export function auditInsert(db: Database, caller: Caller, entry: AuditEntry) {
  return db.insert(auditLogs).values({
    id: newId("aud"),
    orgId: entry.orgId ?? null,
    actorId: caller.user.id,
    action: entry.action,
    targetType: entry.targetType,
    targetId: entry.targetId,
    before: entry.before ?? null,
    after: entry.after ?? null,
    requestId: caller.requestId,
    ip: caller.ip,
  });
}

/**
 * The insert for one audit row written only if `condition` holds once the statements before
 * it in the same batch have run: for a change made by a conditional write (an update guarded
 * by a revision, an insert that may conflict), so the log records it exactly when it happened.
 */
export function auditInsertWhere(db: Database, caller: Caller, entry: AuditEntry, condition: SQL) {
  const json = (value: Record<string, unknown> | null | undefined) => (value ? JSON.stringify(value) : null);
  // Columns in the table's order (id, org_id, actor_id, action, target_type, target_id, before, after, request_id, ip, created_at).
  return db.insert(auditLogs).select(
    sql`select ${newId("aud")}, ${entry.orgId ?? null}, ${caller.user.id}, ${entry.action}, ${entry.targetType}, ${entry.targetId}, ${json(entry.before)}, ${json(entry.after)}, ${caller.requestId}, ${caller.ip}, ${Date.now()} where ${condition}`,
  );
}

/** What a user did, newest first: their security log. */
export async function listActorAudit(
  db: Database,
  actorId: string,
  page: { limit: number; after: string | undefined },
): Promise<Page<AuditLog>> {
  const rows = await db
    .select()
    .from(auditLogs)
    .where(and(eq(auditLogs.actorId, actorId), page.after ? lt(auditLogs.id, page.after) : undefined))
    .orderBy(desc(auditLogs.id))
    .limit(page.limit + 1);
  return toPage(rows, page.limit);
}

export interface OrgAuditFilter {
  action?: string | undefined;
  actorId?: string | undefined;
}

/** An organization's audit log, newest first, filterable by action and actor (owners). */
export async function listOrgAudit(
  db: Database,
  caller: Caller,
  orgId: string,
  filter: OrgAuditFilter,
  page: { limit: number; after: string | undefined },
): Promise<Page<AuditLog>> {
  const query = db
    .select()
    .from(auditLogs)
    .where(
      and(
        eq(auditLogs.orgId, orgId),
        filter.action ? eq(auditLogs.action, filter.action) : undefined,
        filter.actorId ? eq(auditLogs.actorId, filter.actorId) : undefined,
        page.after ? lt(auditLogs.id, page.after) : undefined,
      ),
    )
    .orderBy(desc(auditLogs.id))
    .limit(page.limit + 1);
  return orgPage(db, caller, orgId, "org.audit.read", query, page.limit);
}
