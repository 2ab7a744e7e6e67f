import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import Provider, { type Configuration, type KoaContextWithOIDC } from "oidc-provider";
import { CLIENTS, OIDC_EMAIL_DOMAIN, ORIGIN, SSO_CALLBACK, SSO_EMAIL_DOMAIN } from "../fixtures.ts";

/**
 * A real OpenID Connect provider (the certified `oidc-provider`) on 127.0.0.1, with one
 * confidential client for the Worker. Its development login page accepts any login, which
 * becomes the account's `sub`; consent is implied for the test client.
 *
 * Two run during the tests: the instance's provider (`instance`, client `oidc`, e-mails
 * `@idp.test`) and the organizations' identity provider (`organizations`, client `sso`,
 * e-mails `@corp.test`), which accepts any organization's `/auth/sso/<slug>/callback`.
 */
export async function startOidcProvider(
  kind: "instance" | "organizations" = "instance",
): Promise<{ issuer: string; close(): Promise<void> }> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const provider = new Provider(issuer, configuration(kind));
  if (kind === "organizations") {
    // Each test organization has its own slug, so its own callback: accept any of them.
    const allowed = provider.Client.prototype.redirectUriAllowed;
    provider.Client.prototype.redirectUriAllowed = function (this: { clientId: string }, value: string) {
      return (this.clientId === CLIENTS.sso.id && SSO_CALLBACK.test(value)) || allowed.call(this, value);
    };
  }
  server.on("request", provider.callback());
  return { issuer, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}

function configuration(kind: "instance" | "organizations"): Configuration {
  const client = kind === "instance" ? CLIENTS.oidc : CLIENTS.sso;
  const emailDomain = kind === "instance" ? OIDC_EMAIL_DOMAIN : SSO_EMAIL_DOMAIN;
  return {
    clients: [
      {
        client_id: client.id,
        client_secret: client.secret,
        redirect_uris: [kind === "instance" ? `${ORIGIN}/auth/oidc/callback` : `${ORIGIN}/auth/sso/registered/callback`],
        grant_types: ["authorization_code", "refresh_token"],
        response_types: ["code"],
        token_endpoint_auth_method: "client_secret_basic",
      },
    ],
    claims: {
      openid: ["sub"],
      email: ["email", "email_verified"],
      profile: ["name", "preferred_username"],
    },
    async findAccount(_ctx, sub) {
      return {
        accountId: sub,
        claims: async () => ({
          sub,
          email: `${sub}@${emailDomain}`,
          email_verified: !sub.startsWith("unverified-"),
          name: `Name of ${sub}`,
          preferred_username: sub,
        }),
      };
    },
    // The test client is first-party: consent is implied, as an organization's IdP would do.
    async loadExistingGrant(ctx: KoaContextWithOIDC) {
      const { client, session, provider } = ctx.oidc;
      if (!client || !session?.accountId) return undefined;
      const grant = new provider.Grant({ clientId: client.clientId, accountId: session.accountId });
      grant.addOIDCScope("openid email profile");
      await grant.save();
      return grant;
    },
    pkce: { required: () => true },
    cookies: { keys: ["edgepod-test-cookie-signing-key"] },
    // Short enough that a test can let an ID token expire by moving the Worker's clock.
    ttl: { IdToken: 120, AccessToken: 3600, AuthorizationCode: 60, Grant: 3600, Interaction: 600, Session: 3600 },
    features: { devInteractions: { enabled: true } },
  };
}
