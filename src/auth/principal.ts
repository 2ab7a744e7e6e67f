import type { Context } from "hono";
import type { User } from "../db/schema";
import type { AppEnv } from "../env";
import { Forbidden, Unauthorized } from "../lib/errors";
import { grants, type Scope } from "./scopes";

/**
 * Who is making a request, and through which credential. Sessions hold every scope.
 * `ssoOrgId`: the organization whose single sign-on the credential came through — the session
 * was signed in through it, or the token's secret was issued by a credential that was.
 */
export type Principal =
  | { via: "session"; user: User; sessionId: string; scopes: readonly string[]; ssoOrgId: string | null }
  | { via: "token"; user: User; tokenId: string; scopes: readonly string[]; ssoOrgId: string | null };

/** What services need to know of the caller: who, with which scopes, for the audit log. */
export interface Caller {
  user: User;
  scopes: readonly string[];
  requestId: string;
  ip: string | null;
  /** As the principal's; absent means no single sign-on (so SSO-only organizations refuse). */
  ssoOrgId?: string | null;
}

/**
 * The principal, checked to hold `scope`: anonymous callers get 401, a token without the
 * scope gets 403. Routes declare their scope through `authedRoute`, which calls this.
 */
export function requirePrincipal(c: Context<AppEnv>, scope: Scope): Principal {
  const principal = c.get("principal");
  if (!principal) throw new Unauthorized();
  if (!grants(principal.scopes, scope)) {
    throw new Forbidden(`This token lacks the "${scope}" scope.`, "insufficient_scope");
  }
  return principal;
}

/** The one way a handler reads its caller. */
export function callerOf(c: Context<AppEnv>): Caller {
  const principal = c.get("principal");
  if (!principal) throw new Unauthorized();
  return { user: principal.user, scopes: principal.scopes, ssoOrgId: principal.ssoOrgId, ...requestMetaOf(c) };
}

/** What the audit log records of a request, signed in or not (a sign-in is not, yet). */
export function requestMetaOf(c: Context<AppEnv>): Pick<Caller, "requestId" | "ip"> {
  return { requestId: c.get("requestId"), ip: c.req.header("cf-connecting-ip") ?? null };
}
