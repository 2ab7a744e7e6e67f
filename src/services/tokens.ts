import { and, count, desc, eq, gt, isNull, lt } from "drizzle-orm";
import type { Caller } from "../auth/principal";
import { grantsAll, type Scope } from "../auth/scopes";
import { generateToken } from "../auth/token-format";
import type { Database } from "../db/client";
import { personalAccessTokens as pats, users, type PersonalAccessToken, type User } from "../db/schema";
import { hashSecret } from "../lib/crypto";
import { Forbidden, LimitExceeded, NotFound } from "../lib/errors";
import { newId } from "../lib/ids";
import { toPage, type Page } from "../lib/pagination";
import { auditInsert } from "./audit";

/** Live (neither deleted nor expired) tokens a user may hold at once. */
export const MAX_LIVE_TOKENS_PER_USER = 100;
/** A token lives at most a year (366 days, so "a year from today" always fits). */
export const MAX_TOKEN_LIFETIME_MS = 366 * 24 * 3600 * 1000;

export interface NewToken {
  name: string;
  description?: string | null | undefined;
  scopes: Scope[];
  expiresAt: Date;
}

export interface TokenChanges {
  name?: string | undefined;
  description?: string | null | undefined;
  scopes?: Scope[] | undefined;
}

/** A token with its secret, which exists only in this response. */
export interface IssuedToken {
  token: PersonalAccessToken;
  secret: string;
}

/** A token can never mint or widen a token beyond its own scopes. */
function assertWithinCallerScopes(caller: Caller, scopes: Scope[]): void {
  if (!grantsAll(caller.scopes, scopes)) {
    throw new Forbidden("A token cannot grant scopes it does not hold itself.", "scope_escalation");
  }
}

const auditView = (t: Pick<PersonalAccessToken, "name" | "description" | "scopes" | "expiresAt" | "ssoOrgId">) => ({
  name: t.name,
  description: t.description,
  scopes: t.scopes,
  expiresAt: t.expiresAt.toISOString(),
  ssoOrgId: t.ssoOrgId,
});

export async function createToken(db: Database, caller: Caller, input: NewToken): Promise<IssuedToken> {
  assertWithinCallerScopes(caller, input.scopes);
  const now = new Date();
  // Two round trips (count, then write); concurrent creates may overshoot the cap by a few.
  const live = await db
    .select({ n: count() })
    .from(pats)
    .where(and(eq(pats.userId, caller.user.id), isNull(pats.deletedAt), gt(pats.expiresAt, now)))
    .get();
  if ((live?.n ?? 0) >= MAX_LIVE_TOKENS_PER_USER) {
    throw new LimitExceeded(`You can hold at most ${MAX_LIVE_TOKENS_PER_USER} live tokens; delete one first.`);
  }
  const secret = generateToken("personal");
  const token: PersonalAccessToken = {
    id: newId("tok"),
    userId: caller.user.id,
    name: input.name,
    description: input.description ?? null,
    scopes: input.scopes,
    tokenHash: hashSecret(secret),
    expiresAt: input.expiresAt,
    issuedAt: now,
    createdAt: now,
    updatedAt: now,
    lastUsedAt: null,
    deletedAt: null,
    // A token counts as signed in through the single sign-on its issuer came through (README).
    ssoOrgId: caller.ssoOrgId ?? null,
  };
  await db.batch([
    db.insert(pats).values(token),
    auditInsert(db, caller, { action: "token.create", targetType: "token", targetId: token.id, after: auditView(token) }),
  ]);
  return { token, secret };
}

export async function listTokens(
  db: Database,
  userId: string,
  page: { limit: number; after: string | undefined },
): Promise<Page<PersonalAccessToken>> {
  const rows = await db
    .select()
    .from(pats)
    .where(and(eq(pats.userId, userId), isNull(pats.deletedAt), page.after ? lt(pats.id, page.after) : undefined))
    .orderBy(desc(pats.id))
    .limit(page.limit + 1);
  return toPage(rows, page.limit);
}

/** The caller's own token; another user's or a deleted one is simply not found. */
export async function getToken(db: Database, userId: string, id: string): Promise<PersonalAccessToken> {
  const token = await db
    .select()
    .from(pats)
    .where(and(eq(pats.id, id), eq(pats.userId, userId), isNull(pats.deletedAt)))
    .get();
  if (!token) throw new NotFound("Token");
  return token;
}

export async function updateToken(
  db: Database,
  caller: Caller,
  id: string,
  changes: TokenChanges,
): Promise<PersonalAccessToken> {
  if (changes.scopes) assertWithinCallerScopes(caller, changes.scopes);
  const before = await getToken(db, caller.user.id, id);
  const after: PersonalAccessToken = {
    ...before,
    name: changes.name ?? before.name,
    description: changes.description === undefined ? before.description : changes.description,
    scopes: changes.scopes ?? before.scopes,
    updatedAt: new Date(),
  };
  await db.batch([
    db
      .update(pats)
      .set({ name: after.name, description: after.description, scopes: after.scopes, updatedAt: after.updatedAt })
      .where(eq(pats.id, id)),
    auditInsert(db, caller, {
      action: "token.update",
      targetType: "token",
      targetId: id,
      before: auditView(before),
      after: auditView(after),
    }),
  ]);
  return after;
}

/**
 * A new secret for an existing token; the old secret stops working at once. Without a new
 * expiry the token keeps its original lifetime, counted from now (as GitHub does).
 */
export async function regenerateToken(
  db: Database,
  caller: Caller,
  id: string,
  expiresAt: Date | undefined,
): Promise<IssuedToken> {
  const before = await getToken(db, caller.user.id, id);
  const now = new Date();
  const lifetime = before.expiresAt.getTime() - before.issuedAt.getTime();
  const secret = generateToken("personal");
  const token: PersonalAccessToken = {
    ...before,
    tokenHash: hashSecret(secret),
    expiresAt: expiresAt ?? new Date(now.getTime() + lifetime),
    issuedAt: now,
    updatedAt: now,
    // The new secret carries what its issuer came through, as at creation.
    ssoOrgId: caller.ssoOrgId ?? null,
  };
  await db.batch([
    db
      .update(pats)
      .set({ tokenHash: token.tokenHash, expiresAt: token.expiresAt, issuedAt: now, updatedAt: now, ssoOrgId: token.ssoOrgId })
      .where(eq(pats.id, id)),
    auditInsert(db, caller, {
      action: "token.regenerate",
      targetType: "token",
      targetId: id,
      before: { expiresAt: before.expiresAt.toISOString(), ssoOrgId: before.ssoOrgId },
      after: { expiresAt: token.expiresAt.toISOString(), ssoOrgId: token.ssoOrgId },
    }),
  ]);
  return { token, secret };
}

/** Revokes at once; the row stays, soft-deleted, for the record. */
export async function deleteToken(db: Database, caller: Caller, id: string): Promise<void> {
  const before = await getToken(db, caller.user.id, id);
  await db.batch([
    db.update(pats).set({ deletedAt: new Date() }).where(eq(pats.id, id)),
    auditInsert(db, caller, { action: "token.delete", targetType: "token", targetId: id, before: auditView(before) }),
  ]);
}

/** The live token row and its user for a presented secret, in one query. */
export async function findTokenBySecret(
  db: Database,
  secret: string,
): Promise<{ token: PersonalAccessToken; user: User } | null> {
  const row = await db
    .select({ token: pats, user: users })
    .from(pats)
    .innerJoin(users, eq(users.id, pats.userId))
    .where(and(eq(pats.tokenHash, hashSecret(secret)), isNull(pats.deletedAt)))
    .get();
  return row ?? null;
}
