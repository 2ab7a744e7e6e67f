/**
 * Constants shared by the Worker's test bindings (vitest.config.ts), the local fake servers
 * (test/node, in Node) and the tests (in workerd). Nothing here may import either runtime.
 */

/** The origin tests call the Worker on. */
export const ORIGIN = "https://edgepod.test";

/** Test OAuth clients, registered with the fake providers and the OpenID Connect provider. */
export const CLIENTS = {
  github: { id: "gh-client-id", secret: "gh-client-secret" },
  gitlab: { id: "gl-client-id", secret: "gl-client-secret" },
  bitbucket: { id: "bb-client-id", secret: "bb-client-secret" },
  google: { id: "go-client-id.apps.googleusercontent.com", secret: "go-client-secret" },
  oidc: { id: "edgepod-test", secret: "oidc-client-secret-for-tests-only" },
  /** Registered at the organizations' identity provider (a second OpenID Connect provider). */
  sso: { id: "edgepod-org-sso", secret: "org-sso-client-secret-7f3a9c1e-never-echoed" },
} as const;

export type FakeProvider = Exclude<keyof typeof CLIENTS, "oidc" | "sso">;

/**
 * Hosts the fake provider server answers for (the Worker's requests to them are routed to it
 * by test/node/outbound.ts), with the provider each belongs to. The `.test` hosts stand for a
 * GitHub Enterprise Server and a self-managed GitLab.
 */
export const FAKE_HOSTS: Record<string, FakeProvider> = {
  "github.com": "github",
  "api.github.com": "github",
  "github.example.test": "github",
  "gitlab.com": "gitlab",
  "gitlab.example.test": "gitlab",
  "bitbucket.org": "bitbucket",
  "api.bitbucket.org": "bitbucket",
  "accounts.google.com": "google",
  "oauth2.googleapis.com": "google",
  "openidconnect.googleapis.com": "google",
};

/**
 * The account a test signs in as at a fake provider: passed (as base64url JSON) in the
 * `fake_account` query parameter of the provider's authorize URL, standing in for the
 * provider's own login page.
 */
export interface FakeAccount {
  id: string;
  login: string;
  name: string | null;
  email: string | null;
  emailVerified: boolean;
  /** Makes the provider's user API fail with this status. */
  apiStatus?: number;
}

/**
 * Conventions of the OpenID Connect test provider's accounts (the login typed on its login
 * page becomes `sub`): e-mail `<sub>@idp.test`, verified unless `sub` starts `unverified-`.
 */
export const OIDC_EMAIL_DOMAIN = "idp.test";

/** The same conventions at the organizations' identity provider, with e-mail `<sub>@corp.test`. */
export const SSO_EMAIL_DOMAIN = "corp.test";

/**
 * Redirect URIs the organizations' identity provider accepts for the `sso` client: any
 * organization's callback on the test origin (as if each organization had registered its own).
 */
export const SSO_CALLBACK = /^https:\/\/edgepod\.test\/auth\/sso\/[a-z0-9-]+\/callback$/;
