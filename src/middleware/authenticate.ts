import { eq } from "drizzle-orm";
import type { Context, MiddlewareHandler } from "hono";
import type { Principal } from "../auth/principal";
import { isSameSite } from "../auth/same-site";
import {
  clearSessionCookie,
  findSession,
  readSessionCookie,
  renewedExpiry,
  setSessionCookie,
} from "../auth/sessions";
import { isWellFormedToken } from "../auth/token-format";
import { database, type Database } from "../db/client";
import { personalAccessTokens, sessions, users, type User } from "../db/schema";
import { readConfig, type AppEnv, type Config } from "../env";
import { Forbidden, Unauthorized } from "../lib/errors";
import { findTokenBySecret } from "../services/tokens";

/** Last-use and last-seen times are recorded at most this often, off the response path. */
const TOUCH_INTERVAL_MS = 60_000;
const SAFE_METHODS = new Set(["GET", "HEAD", "OPTIONS"]);

/**
 * Resolves the caller from `Authorization: Bearer <token>` or the session cookie, in one D1
 * query either way. A bad bearer token is refused at once (the client asked to be someone);
 * a stale cookie just makes the request anonymous. Blocked users are refused everywhere.
 */
export const authenticate: MiddlewareHandler<AppEnv> = async (c, next) => {
  const config = readConfig(c.env);
  const db = database(c.env.DB);
  const authorization = c.req.header("authorization");
  const principal = authorization
    ? await fromBearer(c, db, authorization)
    : await fromSessionCookie(c, db, config);
  if (principal?.user.blocked) throw new Forbidden("This account is blocked.", "account_blocked");
  if (principal?.via === "session" && !SAFE_METHODS.has(c.req.method) && !isSameSite(c)) {
    // Cookies ride along on cross-site requests; only bearer tokens prove intent by themselves.
    throw new Forbidden("Cross-site request refused.", "cross_site_request");
  }
  c.set("principal", principal);
  await next();
};

async function fromBearer(c: Context<AppEnv>, db: Database, authorization: string): Promise<Principal> {
  const [scheme, secret] = authorization.split(" ");
  if (scheme?.toLowerCase() !== "bearer" || !secret) {
    throw new Unauthorized("Use `Authorization: Bearer <token>`.", "invalid_token");
  }
  // Malformed or mistyped tokens fail the checksum here, without touching D1.
  if (!isWellFormedToken(secret, "personal")) throw new Unauthorized("The token is malformed.", "invalid_token");
  const found = await findTokenBySecret(db, secret);
  if (!found) {
    throw new Unauthorized("The token is invalid or has been revoked.", "invalid_token");
  }
  const { token, user } = found;
  const now = Date.now();
  if (token.expiresAt.getTime() <= now) throw new Unauthorized("The token has expired.", "token_expired");
  if (isStale(token.lastUsedAt, now)) {
    c.executionCtx.waitUntil(
      db.batch([
        db.update(personalAccessTokens).set({ lastUsedAt: new Date(now) }).where(eq(personalAccessTokens.id, token.id)),
        touchUser(db, user, now),
      ]),
    );
  }
  return { via: "token", user, tokenId: token.id, scopes: token.scopes, ssoOrgId: token.ssoOrgId };
}

async function fromSessionCookie(c: Context<AppEnv>, db: Database, config: Config): Promise<Principal | null> {
  const secret = readSessionCookie(c);
  if (!secret) return null;
  const found = await findSession(db, secret);
  if (!found) {
    clearSessionCookie(c);
    return null;
  }
  const { session, user } = found;
  const now = Date.now();
  const renewed = renewedExpiry(session, config.sessionTtlMs, now);
  if (renewed) setSessionCookie(c, secret, config.sessionTtlMs);
  const writes = [
    ...(renewed ? [db.update(sessions).set({ expiresAt: renewed }).where(eq(sessions.id, session.id))] : []),
    ...(isStale(user.lastSeenAt, now) ? [touchUser(db, user, now)] : []),
  ];
  if (writes.length > 0) c.executionCtx.waitUntil(db.batch(writes as [(typeof writes)[number]]));
  return { via: "session", user, sessionId: session.id, scopes: ["*"], ssoOrgId: session.ssoOrgId };
}

const isStale = (at: Date | null, now: number) => !at || now - at.getTime() >= TOUCH_INTERVAL_MS;

const touchUser = (db: Database, user: User, now: number) =>
  db.update(users).set({ lastSeenAt: new Date(now) }).where(eq(users.id, user.id));
