import { z } from "@hono/zod-openapi";
import { fetchJson, httpsUrlOrNull, type OAuthSpec } from "./oauth";

const UserInfo = z.object({
  sub: z.string(),
  email: z.string().nullish(),
  email_verified: z.boolean().nullish(),
  name: z.string().nullish(),
  picture: z.string().nullish(),
});

/** Google accounts, read from Google's OpenID Connect userinfo endpoint. PKCE (S256) supported. */
export function google(): OAuthSpec {
  return {
    id: "google",
    authorizationEndpoint: "https://accounts.google.com/o/oauth2/v2/auth",
    tokenEndpoint: "https://oauth2.googleapis.com/token",
    scopes: ["openid", "email", "profile"],
    pkce: true,
    async fetchProfile(accessToken) {
      const info = await fetchJson("google", "https://openidconnect.googleapis.com/v1/userinfo", accessToken, UserInfo);
      const verified = Boolean(info.email && info.email_verified === true);
      return {
        id: info.sub,
        login: info.email ?? null,
        email: verified ? info.email! : null,
        emailVerified: verified,
        name: info.name ?? null,
        avatarUrl: httpsUrlOrNull(info.picture),
      };
    },
  };
}
