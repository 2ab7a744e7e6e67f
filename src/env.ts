import type { Principal } from "./auth/principal";

/** Hono's environment for every route and middleware of the app. */
export interface AppEnv {
  Bindings: Env;
  Variables: {
    requestId: string;
    /** Set by the authentication middleware; null for anonymous requests. */
    principal: Principal | null;
  };
}

/** Configuration parsed from the Worker's vars; see README "Configuration". */
export interface Config {
  devLogin: boolean;
  sessionTtlMs: number;
  /** Origin that cookie-authenticated writes must come from; null means the request's own. */
  publicOrigin: string | null;
  /** Signing in with this e-mail makes the user platform admin while there is none. */
  bootstrapAdminEmail: string | null;
}

const DEFAULT_SESSION_TTL_SECONDS = 30 * 24 * 3600;

export function readConfig(env: Env): Config {
  const ttl = Number(env.SESSION_TTL_SECONDS);
  return {
    devLogin: env.DEV_LOGIN === "true",
    sessionTtlMs: (Number.isFinite(ttl) && ttl > 0 ? ttl : DEFAULT_SESSION_TTL_SECONDS) * 1000,
    publicOrigin: env.PUBLIC_URL ? new URL(env.PUBLIC_URL).origin : null,
    bootstrapAdminEmail: env.BOOTSTRAP_ADMIN_EMAIL ? env.BOOTSTRAP_ADMIN_EMAIL.toLowerCase() : null,
  };
}
