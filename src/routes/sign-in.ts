import { createRoute, z } from "@hono/zod-openapi";
import { constantTimeEqual } from "@oslojs/crypto/subtle";
import type { Context, MiddlewareHandler } from "hono";
import { requestMetaOf } from "../auth/principal";
import { providerSettings, signInProvider, type SignInProvider } from "../auth/providers";
import type { SignInResult } from "../auth/providers/types";
import { createSession, revokeSession, setSessionCookie } from "../auth/sessions";
import { invalidState, saveSignInFlow, takeSignInFlow, type SignInFlow } from "../auth/sign-in-flow";
import { database } from "../db/client";
import type { User } from "../db/schema";
import { PROVIDER_IDS, readConfig, requireSealingKeys, type AppEnv } from "../env";
import { NotFound } from "../lib/errors";
import { safeRedirectPath } from "../lib/safe-redirect";
import { signInWithIdentity } from "../services/identities";
import { createRouter, errors } from "./openapi";

const ProviderParams = z.object({
  provider: z.enum(PROVIDER_IDS).openapi({ param: { name: "provider", in: "path" }, example: "github" }),
});

export const LoginQuery = z.object({
  returnTo: z.string().max(2000).optional().openapi({ description: "Same-site path to land on afterwards; default `/`." }),
});

/** What providers send back; anything else they add (`scope`, `session_state`, …) is ignored. */
export const CallbackQuery = z.object({
  code: z.string().max(4096).optional(),
  state: z.string().max(1024).optional(),
  error: z.string().max(256).optional(),
  error_description: z.string().max(2000).optional(),
  iss: z.string().max(2000).optional(),
});

/** An unknown or unconfigured provider does not exist: 404 before any input is looked at. */
const configuredProvider: MiddlewareHandler<AppEnv> = async (c, next) => {
  if (!providerSettings(readConfig(c.env), c.req.param("provider") ?? "")) throw new NotFound("Route");
  await next();
};

export const redirected = { description: "Redirects the browser." };

/** What a provider's callback can answer: the redirect, or a refusal in the error shape. */
export const callbackResponses = {
  302: redirected,
  400: errors[400],
  401: errors[401],
  403: errors[403],
  404: errors[404],
  409: errors[409],
  502: errors[502],
} as const;

/** This deployment's callback URL at `path`: what is registered with the provider. */
export function callbackUri(c: Context<AppEnv>, path: string): string {
  return `${readConfig(c.env).publicOrigin ?? new URL(c.req.url).origin}${path}`;
}

const encoder = new TextEncoder();
const sameState = (a: string, b: string) => constantTimeEqual(encoder.encode(a), encoder.encode(b));

/**
 * The sign-in pipeline, one for every provider (and for organization single sign-on, which
 * passes `sso:…` names and its own providers, src/routes/org-sso.ts): each provider adapts
 * only how it authorizes and reads the account (src/auth/providers).
 *
 * `beginSignIn` binds the flow to the browser (sealed cookie: state, PKCE verifier, nonce,
 * sanitised returnTo, and any `data` the caller wants back) and sends it to the provider.
 */
export async function beginSignIn(
  c: Context<AppEnv>,
  name: string,
  provider: SignInProvider,
  returnTo?: string,
  data?: SignInFlow["data"],
) {
  const keys = requireSealingKeys(readConfig(c.env));
  const start = await provider.begin();
  await saveSignInFlow(c, keys, {
    provider: name,
    state: start.state,
    codeVerifier: start.codeVerifier,
    nonce: start.nonce,
    returnTo: safeRedirectPath(returnTo),
    startedAt: Date.now(),
    ...(data ? { data } : {}),
  });
  return c.redirect(start.url.href, 302);
}

/**
 * `finishSignIn` checks the browser came back with the flow it started (same state), lets the
 * provider finish (code exchange with PKCE; nonce and ID token for OpenID Connect), signs the
 * user in with a new session (or, for a signed-in user, links the account) and returns them
 * where they started. `redirectUri` is the one `provider` was made with.
 *
 * Its three steps are exported for callers that decide something in between (organization
 * single sign-on: whether the flow is a test sign-in, and the membership a sign-in brings).
 */
export async function finishSignIn(c: Context<AppEnv>, name: string, provider: SignInProvider, redirectUri: string) {
  const flow = await returningFlow(c, name);
  return signInWith(c, name, flow, await providerResult(c, provider, redirectUri, flow));
}

/** The flow this browser started for `name`, taken from it and checked against the callback's `state`. */
export async function returningFlow(c: Context<AppEnv>, name: string): Promise<SignInFlow> {
  const flow = await takeSignInFlow(c, requireSealingKeys(readConfig(c.env)), name);
  const state = new URL(c.req.url).searchParams.get("state");
  if (!state || !sameState(state, flow.state)) throw invalidState("The sign-in state does not match; start again.");
  return flow;
}

/** The provider finishes the flow from the callback: who signed in, and the tokens it issued. */
export async function providerResult(
  c: Context<AppEnv>,
  provider: SignInProvider,
  redirectUri: string,
  flow: SignInFlow,
): Promise<SignInResult> {
  const callbackUrl = new URL(redirectUri);
  callbackUrl.search = new URL(c.req.url).search;
  return provider.complete(callbackUrl, flow);
}

export interface SignInOptions {
  /**
   * The organization whose single sign-on this is. The session is then marked with it, and a
   * signed-in user gets a new session too (replacing theirs: what it may reach has changed).
   */
  ssoOrgId?: string;
  /** Runs once the user is known, before the session is issued (an SSO sign-in's membership). */
  afterSignIn?: (user: User) => Promise<void>;
}

/**
 * Signs the provider's account in: its user with a new session (or, for a signed-in user,
 * links the account to them and keeps their session — or, for single sign-on, replaces it
 * with one marked as signed in through it), then back where the flow started.
 */
export async function signInWith(
  c: Context<AppEnv>,
  name: string,
  flow: SignInFlow,
  result: SignInResult,
  options: SignInOptions = {},
) {
  const config = readConfig(c.env);
  const keys = requireSealingKeys(config);
  const principal = c.get("principal");
  const session = principal?.via === "session" ? principal : null;
  const db = database(c.env.DB);
  const { user } = await signInWithIdentity(db, keys, { provider: name, ...result }, requestMetaOf(c), session?.user ?? null);
  await options.afterSignIn?.(user);
  if (!session || options.ssoOrgId) {
    if (session) await revokeSession(db, session.sessionId);
    const secret = await createSession(db, user.id, config.sessionTtlMs, options.ssoOrgId ?? null);
    setSessionCookie(c, secret, config.sessionTtlMs);
  }
  return c.redirect(safeRedirectPath(flow.returnTo), 302);
}

/** The configured provider named in the path (the `configuredProvider` middleware vouched for it). */
function pathProvider(c: Context<AppEnv>, id: string) {
  const settings = providerSettings(readConfig(c.env), id)!;
  const redirectUri = callbackUri(c, `/auth/${settings.id}/callback`);
  return { name: settings.id, provider: signInProvider(settings, redirectUri), redirectUri };
}

/** Sign-in with GitHub, GitLab, Bitbucket, Google or the instance's OpenID Connect provider. */
export const signInRoutes = createRouter()
  .openapi(
    createRoute({
      method: "get",
      path: "/auth/{provider}/login",
      tags: ["auth"],
      summary: "Sign in with a provider: redirects to it",
      description:
        "Starts a sign-in (or, when signed in already, the linking of an account) with the provider and redirects " +
        "the browser there. Only configured providers exist (`GET /api/config` lists them); others are 404.",
      middleware: [configuredProvider] as const,
      request: { params: ProviderParams, query: LoginQuery },
      responses: { 302: redirected, 400: errors[400], 404: errors[404], 502: errors[502] },
    }),
    async (c) => {
      const { name, provider } = pathProvider(c, c.req.valid("param").provider);
      return beginSignIn(c, name, provider, c.req.valid("query").returnTo);
    },
  )
  .openapi(
    createRoute({
      method: "get",
      path: "/auth/{provider}/callback",
      tags: ["auth"],
      summary: "Where the provider returns the browser",
      description:
        "Register `https://<host>/auth/<provider>/callback` with the provider. Completes the sign-in started in " +
        "this browser: sets the session cookie (or links the account to the signed-in user) and redirects to the " +
        "page the sign-in started from. Refusals: 400 `invalid_state` (no sign-in started in this browser, expired, " +
        "or state mismatch), 400 `invalid_grant` (code used or expired), 401 `invalid_id_token`, 403 " +
        "`access_denied`, `account_blocked` or `verified_email_required`, 409 `identity_in_use`, " +
        "`provider_already_linked` or `email_in_use`, 502 `provider_error`.",
      middleware: [configuredProvider] as const,
      request: { params: ProviderParams, query: CallbackQuery },
      responses: callbackResponses,
    }),
    async (c) => {
      const { name, provider, redirectUri } = pathProvider(c, c.req.valid("param").provider);
      return finishSignIn(c, name, provider, redirectUri);
    },
  );
