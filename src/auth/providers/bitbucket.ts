import { z } from "@hono/zod-openapi";
import { fetchJson, httpsUrlOrNull, type OAuthSpec } from "./oauth";

const User = z.object({
  uuid: z.string(),
  username: z.string().nullish(),
  nickname: z.string().nullish(),
  display_name: z.string().nullish(),
  links: z.object({ avatar: z.object({ href: z.string().nullish() }).nullish() }).nullish(),
});
const Emails = z.object({
  values: z.array(z.object({ email: z.string(), is_primary: z.boolean(), is_confirmed: z.boolean() })),
});

const API = "https://api.bitbucket.org/2.0";

/**
 * Bitbucket Cloud. Scopes are set on the OAuth consumer, not per request: it needs `account`
 * and `email`. Bitbucket does not document PKCE, so none is sent.
 */
export function bitbucket(): OAuthSpec {
  return {
    id: "bitbucket",
    authorizationEndpoint: "https://bitbucket.org/site/oauth2/authorize",
    tokenEndpoint: "https://bitbucket.org/site/oauth2/access_token",
    scopes: [],
    pkce: false,
    async fetchProfile(accessToken) {
      const [user, emails] = await Promise.all([
        fetchJson("bitbucket", `${API}/user`, accessToken, User),
        fetchJson("bitbucket", `${API}/user/emails`, accessToken, Emails),
      ]);
      const confirmed = emails.values.filter((e) => e.is_confirmed);
      const email = (confirmed.find((e) => e.is_primary) ?? confirmed[0])?.email ?? null;
      return {
        id: user.uuid,
        login: user.username ?? user.nickname ?? null,
        email,
        emailVerified: email !== null,
        name: user.display_name ?? null,
        avatarUrl: httpsUrlOrNull(user.links?.avatar?.href),
      };
    },
  };
}
