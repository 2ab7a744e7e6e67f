import { and, desc, eq, lt } from "drizzle-orm";
import { authorize, parentRelations, type Permission } from "../auth/permissions";
import type { Caller } from "../auth/principal";
import { generateToken } from "../auth/token-format";
import type { Database } from "../db/client";
import { organizations, orgMembers, runners, runnerTokens, type Runner } from "../db/schema";
import { hashSecret } from "../lib/crypto";
import { newId } from "../lib/ids";
import type { Page } from "../lib/pagination";
import { auditInsert } from "./audit";
import { loadOrg, orgPage, orgPolicyColumns, orgPolicyOf } from "./org-access";

export interface IssuedRunnerToken {
  runner: Runner;
  token: string;
  tokenId: string;
}

function tokenRow(runnerId: string) {
  const token = generateToken("runner");
  return { token, row: { id: newId("rtk"), runnerId, tokenHash: hashSecret(token) } };
}

/** Registers a runner for the organization; its first token is shown once. */
export async function registerRunner(db: Database, caller: Caller, orgId: string, name: string): Promise<IssuedRunnerToken> {
  await loadOrg(db, caller, orgId, "org.runners.manage");
  const runner: Runner = {
    id: newId("run"),
    orgId,
    name,
    createdBy: caller.user.id,
    connected: false,
    capacity: 0,
    assigned: 0,
    version: null,
    lastSeenAt: null,
    createdAt: new Date(),
  };
  const { token, row } = tokenRow(runner.id);
  await db.batch([
    db.insert(runners).values(runner),
    db.insert(runnerTokens).values(row),
    auditInsert(db, caller, { orgId, action: "runner.create", targetType: "runner", targetId: runner.id, after: { name } }),
  ]);
  return { runner, token, tokenId: row.id };
}

export async function listRunners(
  db: Database,
  caller: Caller,
  orgId: string,
  page: { limit: number; after: string | undefined },
): Promise<Page<Runner>> {
  const query = db
    .select()
    .from(runners)
    .where(and(eq(runners.orgId, orgId), page.after ? lt(runners.id, page.after) : undefined))
    .orderBy(desc(runners.id))
    .limit(page.limit + 1);
  return orgPage(db, caller, orgId, "org.runners.read", query, page.limit);
}

async function loadRunner(db: Database, caller: Caller, runnerId: string, permission: Permission): Promise<Runner> {
  const row = await db
    .select({ runner: runners, role: orgMembers.role, ...orgPolicyColumns })
    .from(runners)
    .innerJoin(organizations, eq(organizations.id, runners.orgId))
    .leftJoin(orgMembers, and(eq(orgMembers.orgId, runners.orgId), eq(orgMembers.userId, caller.user.id)))
    .where(eq(runners.id, runnerId))
    .get();
  authorize(caller, permission, new Set(parentRelations(row?.role)), "Runner", orgPolicyOf(row));
  return row!.runner;
}

/** Another live token for the runner (rotation: the old ones keep working until deleted). */
export async function issueRunnerToken(db: Database, caller: Caller, runnerId: string): Promise<IssuedRunnerToken> {
  const runner = await loadRunner(db, caller, runnerId, "runner.manage");
  const { token, row } = tokenRow(runnerId);
  await db.batch([
    db.insert(runnerTokens).values(row),
    auditInsert(db, caller, { orgId: runner.orgId, action: "runner.token.create", targetType: "runner", targetId: runnerId, after: { tokenId: row.id } }),
  ]);
  return { runner, token, tokenId: row.id };
}

export async function revokeRunnerToken(db: Database, caller: Caller, runnerId: string, tokenId: string): Promise<boolean> {
  const runner = await loadRunner(db, caller, runnerId, "runner.manage");
  const [removed] = await db
    .delete(runnerTokens)
    .where(and(eq(runnerTokens.id, tokenId), eq(runnerTokens.runnerId, runnerId)))
    .returning({ id: runnerTokens.id });
  if (removed) {
    await auditInsert(db, caller, { orgId: runner.orgId, action: "runner.token.revoke", targetType: "runner", targetId: runnerId, before: { tokenId } });
  }
  return Boolean(removed);
}

/** Deletes the runner and its tokens; the caller then shuts its RunnerDO down. */
export async function deleteRunner(db: Database, caller: Caller, runnerId: string): Promise<Runner> {
  const runner = await loadRunner(db, caller, runnerId, "runner.manage");
  await db.batch([
    db.delete(runners).where(eq(runners.id, runnerId)),
    auditInsert(db, caller, { orgId: runner.orgId, action: "runner.delete", targetType: "runner", targetId: runnerId, before: { name: runner.name } }),
  ]);
  return runner;
}

/** The runner a presented runner token belongs to, in one query. */
export async function findRunnerByToken(db: Database, token: string): Promise<Runner | null> {
  const row = await db
    .select({ runner: runners })
    .from(runnerTokens)
    .innerJoin(runners, eq(runners.id, runnerTokens.runnerId))
    .where(eq(runnerTokens.tokenHash, hashSecret(token)))
    .get();
  return row?.runner ?? null;
}
