import { and, desc, eq, lt } from "drizzle-orm";
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
