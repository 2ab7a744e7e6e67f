import { eq } from "drizzle-orm";
import type { Context } from "hono";
import { deleteCookie, getCookie, setCookie } from "hono/cookie";
import type { Database } from "../db/client";
import { sessions, users, type Session, type User } from "../db/schema";
import type { AppEnv } from "../env";
import { hashSecret, randomSecret } from "../lib/crypto";
import { newId } from "../lib/ids";

/** Cookie name without its prefix; Hono adds `__Host-`, which forces Secure and Path=/. */
const COOKIE = "edgepod_session";
/** 256 bits, base32. */
const SECRET_BYTES = 32;

/**
 * A new session for the user; its secret (the cookie value). `ssoOrgId` records the
 * organization whose single sign-on it was signed in through, if any.
 */
export async function createSession(db: Database, userId: string, ttlMs: number, ssoOrgId: string | null = null): Promise<string> {
  const secret = randomSecret(SECRET_BYTES);
  await db.insert(sessions).values({
    id: newId("ses"),
    tokenHash: hashSecret(secret),
    userId,
    expiresAt: new Date(Date.now() + ttlMs),
    ssoOrgId,
  });
  return secret;
}

/** The live session for a cookie secret, with its user, in one query. */
export async function findSession(db: Database, secret: string): Promise<{ session: Session; user: User } | null> {
  const row = await db
    .select({ session: sessions, user: users })
    .from(sessions)
    .innerJoin(users, eq(users.id, sessions.userId))
    .where(eq(sessions.tokenHash, hashSecret(secret)))
    .get();
  return row && row.session.expiresAt.getTime() > Date.now() ? row : null;
}

/** Sliding expiry: renew once less than half the lifetime is left, not on every request. */
export function renewedExpiry(session: Session, ttlMs: number, now = Date.now()): Date | null {
  return session.expiresAt.getTime() - now < ttlMs / 2 ? new Date(now + ttlMs) : null;
}

export function revokeSession(db: Database, id: string) {
  return db.delete(sessions).where(eq(sessions.id, id));
}

export function revokeSessionBySecret(db: Database, secret: string) {
  return db.delete(sessions).where(eq(sessions.tokenHash, hashSecret(secret)));
}

export function readSessionCookie(c: Context<AppEnv>): string | undefined {
  return getCookie(c, COOKIE, "host");
}

export function setSessionCookie(c: Context<AppEnv>, secret: string, ttlMs: number): void {
  setCookie(c, COOKIE, secret, {
    prefix: "host",
    httpOnly: true,
    secure: true,
    sameSite: "Lax",
    path: "/",
    maxAge: Math.floor(ttlMs / 1000),
  });
}

export function clearSessionCookie(c: Context<AppEnv>): void {
  deleteCookie(c, COOKIE, { prefix: "host", secure: true, path: "/", httpOnly: true, sameSite: "Lax" });
}
