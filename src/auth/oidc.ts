import * as oauth from "oauth4webapi";
import { isLoopback } from "../env";
import { ApiError, BadGateway, BadRequest, Unauthorized } from "../lib/errors";
import { accessDenied, invalidCallback, invalidGrant, upstreamFailure } from "./providers/failures";
import type { ProviderTokens } from "./providers/types";

/**
 * An OpenID Connect relying party (Authorization Code flow with PKCE and nonce), on
 * oauth4webapi: discovery, the authorization URL, the callback's validation (state, `iss`),
 * the code exchange, ID token validation (issuer, audience, expiry, nonce, azp) and UserInfo
 * (its `sub` checked against the ID token's). Nothing here parses a JWT by hand.
 *
 * Used for the instance-wide `oidc` provider and for organization single sign-on (each
 * organization's own issuer and client, src/services/org-sso.ts): give it an issuer and client
 * credentials; it keeps no state between `begin` and `complete` other than what the caller
 * saves (state, code verifier, nonce).
 *
 * ID token signatures are not checked: the token comes straight from the issuer's token
 * endpoint over TLS, which OpenID Connect Core §3.1.3.7 accepts in place of the signature.
 * Plain HTTP is allowed only to a loopback issuer (local development and tests).
 */

export interface OidcClientConfig {
  /** Issuer identifier, e.g. `https://login.example.com/realms/dev`. */
  issuer: string;
  clientId: string;
  clientSecret: string;
}

export interface OidcAuthorization {
  url: URL;
  state: string;
  codeVerifier: string;
  nonce: string;
}

export type OidcPending = Omit<OidcAuthorization, "url">;

/** Validated ID token claims, merged with the UserInfo claims of the same subject. */
export interface OidcClaims {
  iss: string;
  sub: string;
  email?: string;
  email_verified?: boolean;
  name?: string;
  preferred_username?: string;
  picture?: string;
  readonly [claim: string]: unknown;
}

export interface OidcResult {
  claims: OidcClaims;
  tokens: ProviderTokens;
}

const SCOPE = "openid email profile";
const DISCOVERY_TTL_MS = 10 * 60_000;
const DISCOVERY_CACHE_SIZE = 100;

/** Starts a sign-in: the URL to send the browser to, and what to keep for `complete`. */
export async function begin(config: OidcClientConfig, redirectUri: string): Promise<OidcAuthorization> {
  const as = await discover(config);
  if (!as.authorization_endpoint) throw upstreamFailure("oidc", "discovery", { reason: "no authorization_endpoint" });
  const state = oauth.generateRandomState();
  const nonce = oauth.generateRandomNonce();
  const codeVerifier = oauth.generateRandomCodeVerifier();
  const url = new URL(as.authorization_endpoint);
  url.search = new URLSearchParams({
    response_type: "code",
    client_id: config.clientId,
    redirect_uri: redirectUri,
    scope: SCOPE,
    state,
    nonce,
    code_challenge: await oauth.calculatePKCECodeChallenge(codeVerifier),
    code_challenge_method: "S256",
  }).toString();
  return { url, state, codeVerifier, nonce };
}

/**
 * Completes a sign-in from the full callback URL (the redirect URI is that URL without its
 * query) and what `begin` returned. Refusals are ApiErrors: 403 `access_denied` (the user or
 * the provider said no), 400 `invalid_callback` (state or issuer mismatch, no code), 400
 * `invalid_grant` (a used or expired code), 401 `invalid_id_token`, 502 `provider_error`.
 */
export async function complete(config: OidcClientConfig, callbackUrl: URL, saved: OidcPending): Promise<OidcResult> {
  const as = await discover(config);
  const client = clientOf(config);
  const options = httpOptions(config);
  const redirectUri = callbackUrl.origin + callbackUrl.pathname;

  let params: URLSearchParams;
  try {
    params = oauth.validateAuthResponse(as, client, callbackUrl, saved.state);
  } catch (error) {
    if (error instanceof oauth.AuthorizationResponseError) throw accessDenied();
    throw invalidCallback(messageOf(error));
  }

  let result: oauth.TokenEndpointResponse;
  try {
    const response = await oauth.authorizationCodeGrantRequest(
      as,
      client,
      clientAuth(as, config),
      params,
      redirectUri,
      saved.codeVerifier,
      options,
    );
    result = await oauth.processAuthorizationCodeResponse(as, client, response, {
      expectedNonce: saved.nonce,
      requireIdToken: true,
    });
  } catch (error) {
    throw tokenFailure(error, "code exchange");
  }
  const idToken = oauth.getValidatedIdTokenClaims(result)!;

  let claims: OidcClaims = { ...idToken } as OidcClaims;
  if (as.userinfo_endpoint) {
    try {
      const response = await oauth.userInfoRequest(as, client, result.access_token, options);
      const userInfo = await oauth.processUserInfoResponse(as, client, idToken.sub, response);
      // The ID token's own claims (iss, sub, aud, …) win over UserInfo's.
      claims = { ...userInfo, ...idToken } as OidcClaims;
    } catch (error) {
      throw upstreamFailure("oidc", "userinfo", { error: messageOf(error) });
    }
  }
  return { claims, tokens: tokensOf(result) };
}

/** New tokens for a refresh token. */
export async function refresh(config: OidcClientConfig, refreshToken: string): Promise<ProviderTokens> {
  const as = await discover(config);
  const client = clientOf(config);
  try {
    const auth = clientAuth(as, config);
    const response = await oauth.refreshTokenGrantRequest(as, client, auth, refreshToken, httpOptions(config));
    return tokensOf(await oauth.processRefreshTokenResponse(as, client, response));
  } catch (error) {
    throw tokenFailure(error, "refresh");
  }
}

/**
 * Checks an issuer before it is used (organization single sign-on, when saved): its discovery
 * document answers, names this very issuer, and offers the Authorization Code flow with PKCE
 * (S256) that `begin` asks for. Always asks the issuer afresh, and caches what it says.
 *
 * Refusals: 400 `invalid_issuer` (with `fields` on `issuer`) when the document is missing,
 * malformed, or describes another issuer or an unusable one; 502 `issuer_unreachable` when the
 * issuer cannot be reached or fails (5xx).
 */
export async function validateIssuer(issuer: string): Promise<void> {
  const url = new URL(issuer);
  const invalid = (message: string) =>
    new BadRequest("The issuer's OpenID Connect discovery document is not usable.", [{ path: "issuer", message }], "invalid_issuer");
  const unreachable = (detail: Record<string, unknown>) => {
    console.error(JSON.stringify({ msg: "issuer unreachable", issuer, ...detail }));
    return new BadGateway(`The issuer ${issuer} could not be reached; check the URL, or try again later.`, "issuer_unreachable");
  };
  let response: Response;
  try {
    response = await oauth.discoveryRequest(url, { algorithm: "oidc", ...httpOptions({ issuer }) });
  } catch (error) {
    throw unreachable({ error: messageOf(error) });
  }
  if (response.status >= 500) {
    await response.body?.cancel();
    throw unreachable({ status: response.status });
  }
  let as: oauth.AuthorizationServer;
  try {
    as = await oauth.processDiscoveryResponse(url, response);
  } catch (error) {
    const status = response.status === 200 ? "" : ` (HTTP ${response.status})`;
    throw invalid(`${url.href.replace(/\/$/, "")}/.well-known/openid-configuration${status}: ${messageOf(error)}`);
  }
  if (!as.authorization_endpoint || !as.token_endpoint) {
    throw invalid("The discovery document names no authorization or token endpoint.");
  }
  if (as.response_types_supported && !as.response_types_supported.includes("code")) {
    throw invalid("The issuer does not support the Authorization Code flow (response type `code`).");
  }
  if (as.code_challenge_methods_supported && !as.code_challenge_methods_supported.includes("S256")) {
    throw invalid("The issuer does not support PKCE with S256.");
  }
  remember(issuer, as);
}

const discovered = new Map<string, { as: oauth.AuthorizationServer; at: number }>();

function remember(issuer: string, as: oauth.AuthorizationServer) {
  discovered.delete(issuer);
  if (discovered.size >= DISCOVERY_CACHE_SIZE) discovered.delete(discovered.keys().next().value!);
  discovered.set(issuer, { as, at: Date.now() });
}

/** The issuer's metadata, cached per isolate for a few minutes. */
async function discover(config: OidcClientConfig): Promise<oauth.AuthorizationServer> {
  const cached = discovered.get(config.issuer);
  if (cached && Date.now() - cached.at < DISCOVERY_TTL_MS) return cached.as;
  const issuer = new URL(config.issuer);
  let as: oauth.AuthorizationServer;
  try {
    const response = await oauth.discoveryRequest(issuer, { algorithm: "oidc", ...httpOptions(config) });
    as = await oauth.processDiscoveryResponse(issuer, response);
  } catch (error) {
    throw upstreamFailure("oidc", "discovery", { issuer: config.issuer, error: messageOf(error) });
  }
  remember(config.issuer, as);
  return as;
}

const clientOf = (config: OidcClientConfig): oauth.Client => ({ client_id: config.clientId });

/** client_secret_basic, the default, unless the issuer supports only client_secret_post. */
function clientAuth(as: oauth.AuthorizationServer, config: OidcClientConfig): oauth.ClientAuth {
  const methods = as.token_endpoint_auth_methods_supported;
  return methods && !methods.includes("client_secret_basic") && methods.includes("client_secret_post")
    ? oauth.ClientSecretPost(config.clientSecret)
    : oauth.ClientSecretBasic(config.clientSecret);
}

function httpOptions(config: Pick<OidcClientConfig, "issuer">): { [oauth.allowInsecureRequests]?: boolean } {
  const issuer = new URL(config.issuer);
  return issuer.protocol === "http:" && isLoopback(issuer) ? { [oauth.allowInsecureRequests]: true } : {};
}

function tokensOf(result: oauth.TokenEndpointResponse): ProviderTokens {
  return {
    accessToken: result.access_token,
    refreshToken: result.refresh_token ?? null,
    expiresAt: typeof result.expires_in === "number" ? new Date(Date.now() + result.expires_in * 1000) : null,
  };
}

function tokenFailure(error: unknown, step: string): ApiError {
  if (error instanceof ApiError) return error;
  if (error instanceof oauth.ResponseBodyError) {
    return error.error === "invalid_grant"
      ? invalidGrant()
      : upstreamFailure("oidc", step, { error: error.error, status: error.status });
  }
  if (
    error instanceof oauth.OperationProcessingError &&
    (error.code === oauth.JWT_TIMESTAMP_CHECK || error.code === oauth.JWT_CLAIM_COMPARISON)
  ) {
    return new Unauthorized(`The ID token was refused: ${error.message}.`, "invalid_id_token");
  }
  return upstreamFailure("oidc", step, { error: messageOf(error) });
}

const messageOf = (error: unknown) => (error instanceof Error ? error.message : String(error));
