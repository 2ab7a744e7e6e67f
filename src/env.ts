import type { Principal } from "./auth/principal";
import { decodeSealingKey, type SealingKeys } from "./lib/seal";
import type { VerifiedProject } from "./services/webhooks";
import type { ScmHosts } from "./scm/context-url";

/** Hono's environment for every route and middleware of the app. */
export interface AppEnv {
  Bindings: Env;
  Variables: {
    requestId: string;
    /** Set by the authentication middleware; null for anonymous requests. */
    principal: Principal | null;
    /** Set on the webhook routes once a delivery is verified for the project it names. */
    webhookProject?: VerifiedProject;
  };
}

/** A sign-in provider with its client credentials; only configured providers are listed. */
export type ProviderSettings = { clientId: string; clientSecret: string } & (
  | { id: "github" | "gitlab"; /** Web origin (and path) of the instance. */ baseUrl: string }
  | { id: "bitbucket" | "google" }
  | { id: "oidc"; /** OpenID Connect issuer identifier, verbatim. */ issuer: string }
);

export type ProviderId = ProviderSettings["id"];

/** In the order the dashboard offers them. */
export const PROVIDER_IDS = ["github", "gitlab", "bitbucket", "google", "oidc"] as const satisfies readonly ProviderId[];

/** Configuration parsed from the Worker's vars and secrets; see README "Configuration". */
export interface Config {
  devLogin: boolean;
  sessionTtlMs: number;
  /** Origin that cookie-authenticated writes must come from; null means the request's own. */
  publicOrigin: string | null;
  /** Signing in with this e-mail makes the user platform admin while there is none. */
  bootstrapAdminEmail: string | null;
  /** Where workspaces may come from. */
  scmHosts: ScmHosts;
  /** Configured sign-in providers (client id and secret both set). */
  providers: ProviderSettings[];
  /** Keys sealing provider tokens and the sign-in flow cookie; null when `SEALING_KEY` is unset. */
  sealingKeys: SealingKeys | null;
}

/** The host of a configured base URL, as a one-element list (none when unset or unparsable). */
const hostOf = (url: string | undefined): string[] => {
  try {
    return url ? [new URL(url).host.toLowerCase()] : [];
  } catch {
    return [];
  }
};

const list = (value: string | undefined) =>
  (value ?? "")
    .split(",")
    .map((s) => s.trim().toLowerCase())
    .filter(Boolean);

/**
 * Worker secrets (`wrangler secret put`, or `.dev.vars` locally). They are not in wrangler.toml,
 * so the generated `Env` does not declare them; each is absent until configured.
 */
type Secrets = Partial<
  Record<
    | "SEALING_KEY"
    | "SEALING_KEY_PREVIOUS"
    | "GITHUB_CLIENT_SECRET"
    | "GITLAB_CLIENT_SECRET"
    | "BITBUCKET_CLIENT_SECRET"
    | "GOOGLE_CLIENT_SECRET"
    | "OIDC_CLIENT_SECRET",
    string
  >
>;

const DEFAULT_SESSION_TTL_SECONDS = 30 * 24 * 3600;

export function readConfig(env: Env): Config {
  const ttl = Number(env.SESSION_TTL_SECONDS);
  return {
    devLogin: env.DEV_LOGIN === "true",
    sessionTtlMs: (Number.isFinite(ttl) && ttl > 0 ? ttl : DEFAULT_SESSION_TTL_SECONDS) * 1000,
    publicOrigin: env.PUBLIC_URL ? new URL(env.PUBLIC_URL).origin : null,
    bootstrapAdminEmail: env.BOOTSTRAP_ADMIN_EMAIL ? env.BOOTSTRAP_ADMIN_EMAIL.toLowerCase() : null,
    scmHosts: {
      // A self-hosted instance configured for sign-in also opens workspaces.
      github: [...list(env.GITHUB_HOSTS), ...hostOf(env.GITHUB_BASE_URL)],
      gitlab: [...list(env.GITLAB_HOSTS), ...hostOf(env.GITLAB_BASE_URL)],
      bitbucket: list(env.BITBUCKET_HOSTS),
      plainGit: list(env.GIT_HOSTS),
      allowFileUrls: env.ALLOW_FILE_REPOSITORIES === "true",
    },
    providers: readProviders(env, env as unknown as Secrets),
    sealingKeys: readSealingKeys(env as unknown as Secrets),
  };
}

function readProviders(env: Env, secrets: Secrets): ProviderSettings[] {
  const credentials = (clientId: string | undefined, clientSecret: string | undefined) =>
    clientId?.trim() && clientSecret?.trim()
      ? { clientId: clientId.trim(), clientSecret: clientSecret.trim() }
      : null;
  const all: ProviderSettings[] = [];
  const github = credentials(env.GITHUB_CLIENT_ID, secrets.GITHUB_CLIENT_SECRET);
  if (github) {
    all.push({ id: "github", ...github, baseUrl: baseUrl(env.GITHUB_BASE_URL || "https://github.com", "GITHUB_BASE_URL") });
  }
  const gitlab = credentials(env.GITLAB_CLIENT_ID, secrets.GITLAB_CLIENT_SECRET);
  if (gitlab) {
    all.push({ id: "gitlab", ...gitlab, baseUrl: baseUrl(env.GITLAB_BASE_URL || "https://gitlab.com", "GITLAB_BASE_URL") });
  }
  const bitbucket = credentials(env.BITBUCKET_CLIENT_ID, secrets.BITBUCKET_CLIENT_SECRET);
  if (bitbucket) all.push({ id: "bitbucket", ...bitbucket });
  const google = credentials(env.GOOGLE_CLIENT_ID, secrets.GOOGLE_CLIENT_SECRET);
  if (google) all.push({ id: "google", ...google });
  const oidc = credentials(env.OIDC_CLIENT_ID, secrets.OIDC_CLIENT_SECRET);
  const issuer = env.OIDC_ISSUER?.trim();
  if (oidc && issuer) {
    // Compared verbatim with what the provider says (Auth0's ends in a slash): checked, not normalised.
    checkedUrl(issuer, "OIDC_ISSUER");
    all.push({ id: "oidc", ...oidc, issuer });
  }
  return all;
}

function readSealingKeys(secrets: Secrets): SealingKeys | null {
  if (!secrets.SEALING_KEY) return null;
  const previous = (secrets.SEALING_KEY_PREVIOUS ?? "").split(",").map((k) => k.trim()).filter(Boolean);
  // Checked here so a malformed key fails loudly at once, not at the first sign-in.
  decodeSealingKey(secrets.SEALING_KEY);
  for (const key of previous) decodeSealingKey(key, "SEALING_KEY_PREVIOUS");
  return { current: secrets.SEALING_KEY.trim(), previous };
}

/** The sealing keys, which every provider sign-in needs: a deployment without them is misconfigured. */
export function requireSealingKeys(config: Config): SealingKeys {
  if (!config.sealingKeys) throw new Error("SEALING_KEY is not set; sign-in providers need it (README, Sign-in).");
  return config.sealingKeys;
}

/** A provider instance's base URL, without a trailing slash (paths are appended to it). */
const baseUrl = (value: string, name: string) => checkedUrl(value, name).href.replace(/\/+$/, "");

/**
 * An external service's URL. HTTPS only, except plain HTTP to a loopback host for local
 * development (a deployed Worker cannot reach loopback anyway).
 */
function checkedUrl(value: string, name: string): URL {
  const problem = externalUrlProblem(value);
  if (problem) throw new Error(`${name} ${problem}`);
  return new URL(value);
}

/**
 * Why `value` cannot be an external service's URL (an issuer, a base URL), or null when it
 * can: it must be `https://` (or `http://` to a loopback host) with no query or fragment.
 */
export function externalUrlProblem(value: string): string | null {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return "is not a URL.";
  }
  if (url.protocol !== "https:" && !(url.protocol === "http:" && isLoopback(url))) {
    return "must be an https:// URL (http:// only for localhost).";
  }
  if (url.search || url.hash) return "must not have a query or fragment.";
  return null;
}

export function isLoopback(url: URL): boolean {
  return ["localhost", "127.0.0.1", "[::1]"].includes(url.hostname);
}
