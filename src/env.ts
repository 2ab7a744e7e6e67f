import type { Principal } from "./auth/principal";
import type { ScmHosts } from "./scm/context-url";

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
  /** Where workspaces may come from. */
  scmHosts: ScmHosts;
}

const list = (value: string | undefined) =>
  (value ?? "")
    .split(",")
    .map((s) => s.trim().toLowerCase())
    .filter(Boolean);

const DEFAULT_SESSION_TTL_SECONDS = 30 * 24 * 3600;

export function readConfig(env: Env): Config {
  const ttl = Number(env.SESSION_TTL_SECONDS);
  return {
    devLogin: env.DEV_LOGIN === "true",
    sessionTtlMs: (Number.isFinite(ttl) && ttl > 0 ? ttl : DEFAULT_SESSION_TTL_SECONDS) * 1000,
    publicOrigin: env.PUBLIC_URL ? new URL(env.PUBLIC_URL).origin : null,
    bootstrapAdminEmail: env.BOOTSTRAP_ADMIN_EMAIL ? env.BOOTSTRAP_ADMIN_EMAIL.toLowerCase() : null,
    scmHosts: {
      github: list(env.GITHUB_HOSTS),
      gitlab: list(env.GITLAB_HOSTS),
      bitbucket: list(env.BITBUCKET_HOSTS),
      plainGit: list(env.GIT_HOSTS),
      allowFileUrls: env.ALLOW_FILE_REPOSITORIES === "true",
    },
  };
}
