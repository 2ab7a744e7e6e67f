import { z } from "@hono/zod-openapi";
import type { Context } from "hono";
import { deleteCookie, getCookie, setCookie } from "hono/cookie";
import type { AppEnv } from "../env";
import { BadRequest } from "../lib/errors";
import { seal, SealError, unseal, type SealingKeys } from "../lib/seal";
import type { PendingAuthorization } from "./providers";

/**
 * A sign-in in progress, bound to the browser that started it: state, PKCE verifier, nonce
 * and where to land afterwards ride in one short-lived cookie, sealed (so neither read nor
 * forged), HttpOnly, Secure, SameSite=Lax (sent on the provider's top-level redirect back) and
 * `__Host-` (no subdomain can plant one). One sign-in at a time per browser: starting another
 * replaces it. It is cleared as the callback reads it.
 */
export interface SignInFlow extends PendingAuthorization {
  /** Which provider the flow is for (`github`, `oidc`, …); the callback must match it. */
  provider: string;
  /** A same-site path, already through safeRedirectPath. */
  returnTo: string;
  startedAt: number;
  /**
   * What the starter of the flow binds to it and reads back at the callback (sealed like the
   * rest): organization single sign-on marks a test sign-in with it.
   */
  data?: Record<string, string | number> | undefined;
}

const COOKIE = "edgepod_signin";
const CONTEXT = "sign-in-flow";
const SIGN_IN_FLOW_TTL_MS = 10 * 60_000;

const FlowSchema = z.object({
  provider: z.string(),
  state: z.string(),
  codeVerifier: z.string(),
  nonce: z.string().nullable(),
  returnTo: z.string(),
  startedAt: z.number(),
  data: z.record(z.string(), z.union([z.string(), z.number()])).optional(),
});

export async function saveSignInFlow(c: Context<AppEnv>, keys: SealingKeys, flow: SignInFlow): Promise<void> {
  setCookie(c, COOKIE, await seal(keys, JSON.stringify(flow), CONTEXT), {
    prefix: "host",
    httpOnly: true,
    secure: true,
    sameSite: "Lax",
    path: "/",
    maxAge: SIGN_IN_FLOW_TTL_MS / 1000,
  });
}

/**
 * The flow this browser started for `provider`, cleared from the browser as it is read.
 * Missing, expired, forged, or for another provider: 400 `invalid_state`.
 */
export async function takeSignInFlow(c: Context<AppEnv>, keys: SealingKeys, provider: string): Promise<SignInFlow> {
  const sealed = getCookie(c, COOKIE, "host");
  if (sealed) deleteCookie(c, COOKIE, { prefix: "host", secure: true, path: "/", httpOnly: true, sameSite: "Lax" });
  const flow = sealed ? await open(keys, sealed) : null;
  if (!flow || flow.provider !== provider || Date.now() - flow.startedAt > SIGN_IN_FLOW_TTL_MS) {
    throw invalidState("No sign-in is in progress in this browser, or it has expired; start again.");
  }
  return flow;
}

async function open(keys: SealingKeys, sealed: string): Promise<SignInFlow | null> {
  try {
    const parsed = FlowSchema.safeParse(JSON.parse(await unseal(keys, sealed, CONTEXT)));
    return parsed.success ? parsed.data : null;
  } catch (error) {
    if (error instanceof SealError || error instanceof SyntaxError) return null;
    throw error;
  }
}

export const invalidState = (message: string) =>
  new BadRequest(message, [{ path: "state", message: "Does not match the sign-in this browser started." }], "invalid_state");
