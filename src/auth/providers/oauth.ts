import type { z } from "@hono/zod-openapi";
import {
  ArcticFetchError,
  CodeChallengeMethod,
  generateCodeVerifier,
  generateState,
  OAuth2Client,
  OAuth2RequestError,
  type OAuth2Tokens,
} from "arctic";
import { ApiError } from "../../lib/errors";
import { accessDenied, invalidCallback, invalidGrant, upstreamFailure } from "./failures";
import type { ExternalProfile, ProviderTokens, SignInProvider } from "./types";

/**
 * A plain OAuth 2.0 provider (GitHub, GitLab, Bitbucket, Google): its endpoints, scopes,
 * whether it takes PKCE, and how to read the account with an access token.
 */
export interface OAuthSpec {
  id: string;
  authorizationEndpoint: string;
  tokenEndpoint: string;
  scopes: string[];
  pkce: boolean;
  fetchProfile(accessToken: string): Promise<ExternalProfile>;
}

/** Codes providers use for a bad, expired or used authorization code (GitHub has its own). */
const BAD_CODE_ERRORS = new Set(["invalid_grant", "bad_verification_code"]);

/**
 * A provider driven by arctic's generic OAuth 2.0 client, pointed at the spec's endpoints
 * (arctic's per-provider classes hard-code github.com and bitbucket.org and leave PKCE out for
 * GitLab, so the generic client serves all four the same way).
 */
export function oauthProvider(
  spec: OAuthSpec,
  credentials: { clientId: string; clientSecret: string },
  redirectUri: string | null,
): SignInProvider {
  const client = new OAuth2Client(credentials.clientId, credentials.clientSecret, redirectUri);
  return {
    async begin() {
      const state = generateState();
      const codeVerifier = generateCodeVerifier();
      const url = spec.pkce
        ? client.createAuthorizationURLWithPKCE(
            spec.authorizationEndpoint,
            state,
            CodeChallengeMethod.S256,
            codeVerifier,
            spec.scopes,
          )
        : client.createAuthorizationURL(spec.authorizationEndpoint, state, spec.scopes);
      return { url, state, codeVerifier, nonce: null };
    },

    async complete(callbackUrl, pending) {
      const params = callbackUrl.searchParams;
      if (params.has("error")) throw accessDenied();
      const code = params.get("code");
      if (!code) throw invalidCallback("No authorization code.");
      const tokens = await tokenRequest(spec.id, "code exchange", () =>
        client.validateAuthorizationCode(spec.tokenEndpoint, code, spec.pkce ? pending.codeVerifier : null),
      );
      return { tokens, profile: await spec.fetchProfile(tokens.accessToken) };
    },

    refresh(refreshToken) {
      return tokenRequest(spec.id, "refresh", () => client.refreshAccessToken(spec.tokenEndpoint, refreshToken, []));
    },
  };
}

async function tokenRequest(provider: string, step: string, send: () => Promise<OAuth2Tokens>): Promise<ProviderTokens> {
  let tokens: OAuth2Tokens;
  try {
    tokens = await send();
  } catch (error) {
    if (error instanceof OAuth2RequestError) throw oauthError(provider, step, error.code);
    const status = error instanceof ArcticFetchError ? "unreachable" : (error as { status?: unknown }).status;
    throw upstreamFailure(provider, step, { status });
  }
  const data = tokens.data as Record<string, unknown>;
  // GitHub answers token errors with 200 and an `error` field.
  if (typeof data.error === "string") throw oauthError(provider, step, data.error);
  try {
    return {
      accessToken: tokens.accessToken(),
      refreshToken: tokens.hasRefreshToken() ? tokens.refreshToken() : null,
      expiresAt: typeof data.expires_in === "number" ? tokens.accessTokenExpiresAt() : null,
    };
  } catch {
    throw upstreamFailure(provider, step, { reason: "malformed token response" });
  }
}

function oauthError(provider: string, step: string, code: string): ApiError {
  return BAD_CODE_ERRORS.has(code) ? invalidGrant() : upstreamFailure(provider, step, { error: code });
}

/**
 * GETs a provider API resource with the user's access token and checks its shape; any
 * failure is the provider's (502).
 */
export async function fetchJson<T extends z.ZodType>(
  provider: string,
  url: string,
  accessToken: string,
  schema: T,
  headers: Record<string, string> = {},
): Promise<z.infer<T>> {
  let response: Response;
  try {
    response = await fetch(url, {
      headers: { authorization: `Bearer ${accessToken}`, accept: "application/json", "user-agent": "edgepod", ...headers },
    });
  } catch {
    throw upstreamFailure(provider, "profile", { url, status: "unreachable" });
  }
  if (!response.ok) {
    await response.body?.cancel();
    throw upstreamFailure(provider, "profile", { url, status: response.status });
  }
  const parsed = schema.safeParse(await response.json().catch(() => undefined));
  if (!parsed.success) throw upstreamFailure(provider, "profile", { url, reason: "unexpected response shape" });
  return parsed.data;
}

/** Avatars are shown by the dashboard: only https URLs are kept. */
export const httpsUrlOrNull = (value: string | null | undefined): string | null =>
  value && /^https:\/\//.test(value) ? value : null;
