import * as oidc from "../oidc";
import { httpsUrlOrNull } from "./oauth";
import type { SignInProvider } from "./types";

/**
 * The instance-wide OpenID Connect provider. Its account id is `<issuer>#<sub>`: `sub` is
 * unique only within one issuer, and an issuer identifier has no fragment, so the pair
 * splits unambiguously and a change of issuer cannot sign anyone into another's account.
 */
export function oidcProvider(config: oidc.OidcClientConfig, redirectUri: string | null): SignInProvider {
  return {
    async begin() {
      if (redirectUri === null) throw new Error("A sign-in needs a redirect URI.");
      return oidc.begin(config, redirectUri);
    },
    async complete(callbackUrl, pending) {
      if (pending.nonce === null) throw new Error("An OpenID Connect sign-in needs its nonce.");
      const { claims, tokens } = await oidc.complete(config, callbackUrl, { ...pending, nonce: pending.nonce });
      const email = typeof claims.email === "string" ? claims.email : null;
      const verified = email !== null && claims.email_verified === true;
      return {
        tokens,
        profile: {
          id: `${claims.iss}#${claims.sub}`,
          login: typeof claims.preferred_username === "string" ? claims.preferred_username : email,
          email: verified ? email : null,
          emailVerified: verified,
          name: typeof claims.name === "string" ? claims.name : null,
          avatarUrl: httpsUrlOrNull(typeof claims.picture === "string" ? claims.picture : null),
        },
      };
    },
    refresh: (refreshToken) => oidc.refresh(config, refreshToken),
  };
}
