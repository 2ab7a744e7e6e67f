import { z } from "@hono/zod-openapi";
import { fetchJson, httpsUrlOrNull, type OAuthSpec } from "./oauth";

const User = z.object({
  id: z.number().int(),
  username: z.string(),
  name: z.string().nullish(),
  email: z.string().nullish(),
  avatar_url: z.string().nullish(),
  /** Set once the primary address is confirmed (GitLab shows it to the user themself). */
  confirmed_at: z.string().nullish(),
});

/** GitLab.com or a self-managed instance at `baseUrl`. PKCE (S256) supported. */
export function gitlab(baseUrl: string): OAuthSpec {
  return {
    id: "gitlab",
    authorizationEndpoint: `${baseUrl}/oauth/authorize`,
    tokenEndpoint: `${baseUrl}/oauth/token`,
    scopes: ["read_user"],
    pkce: true,
    async fetchProfile(accessToken) {
      const user = await fetchJson("gitlab", `${baseUrl}/api/v4/user`, accessToken, User);
      const verified = Boolean(user.email && user.confirmed_at);
      return {
        id: String(user.id),
        login: user.username,
        email: verified ? user.email! : null,
        emailVerified: verified,
        name: user.name ?? null,
        avatarUrl: httpsUrlOrNull(user.avatar_url),
      };
    },
  };
}
