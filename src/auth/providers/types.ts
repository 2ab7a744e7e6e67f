/** What every sign-in provider offers the shared sign-in pipeline (src/routes/sign-in.ts). */
export interface SignInProvider {
  /** Starts an authorization: where to send the browser, and what to remember for the return. */
  begin(): Promise<AuthorizationStart>;
  /** Finishes it from the callback URL: exchanges the code and reads who signed in. */
  complete(callbackUrl: URL, pending: PendingAuthorization): Promise<SignInResult>;
  /** New tokens for a refresh token. */
  refresh(refreshToken: string): Promise<ProviderTokens>;
}

/** What the browser must bring back; kept in the sealed sign-in flow cookie meanwhile. */
export interface PendingAuthorization {
  state: string;
  /** PKCE verifier; sent only to providers that support PKCE. */
  codeVerifier: string;
  /** OpenID Connect nonce; null for plain OAuth 2.0 providers. */
  nonce: string | null;
}

export interface AuthorizationStart extends PendingAuthorization {
  url: URL;
}

export interface ProviderTokens {
  accessToken: string;
  refreshToken: string | null;
  /** Null when the provider did not say (GitHub OAuth app tokens never expire). */
  expiresAt: Date | null;
}

/** The account at the provider, normalised. */
export interface ExternalProfile {
  /** Stable id at the provider (never the login, which can change). */
  id: string;
  login: string | null;
  /** The account's e-mail, and whether the provider vouches that it was verified. */
  email: string | null;
  emailVerified: boolean;
  name: string | null;
  avatarUrl: string | null;
}

export interface SignInResult {
  profile: ExternalProfile;
  tokens: ProviderTokens;
}
