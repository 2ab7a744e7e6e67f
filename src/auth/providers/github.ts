import { z } from "@hono/zod-openapi";
import { fetchJson, httpsUrlOrNull, type OAuthSpec } from "./oauth";

const User = z.object({
  id: z.number().int(),
  login: z.string(),
  name: z.string().nullish(),
  avatar_url: z.string().nullish(),
});
const Emails = z.array(z.object({ email: z.string(), primary: z.boolean(), verified: z.boolean() }));

const API_HEADERS = { accept: "application/vnd.github+json", "x-github-api-version": "2022-11-28" };

/**
 * GitHub and GitHub Enterprise Server (an OAuth app; GitHub Apps' user tokens work too, and
 * expire and refresh). PKCE (S256) is supported since July 2025. The REST API lives at
 * api.github.com for github.com and at `<base>/api/v3` for Enterprise Server.
 */
export function github(baseUrl: string): OAuthSpec {
  const api = baseUrl === "https://github.com" ? "https://api.github.com" : `${baseUrl}/api/v3`;
  return {
    id: "github",
    authorizationEndpoint: `${baseUrl}/login/oauth/authorize`,
    tokenEndpoint: `${baseUrl}/login/oauth/access_token`,
    scopes: ["read:user", "user:email"],
    pkce: true,
    async fetchProfile(accessToken) {
      const [user, emails] = await Promise.all([
        fetchJson("github", `${api}/user`, accessToken, User, API_HEADERS),
        fetchJson("github", `${api}/user/emails`, accessToken, Emails, API_HEADERS),
      ]);
      // The primary address if verified, else another verified one that is a real mailbox
      // (not a `…@users.noreply.github.com` one). GitHub's /user `email` is only the public
      // address, and says nothing about verification.
      const verified = emails.filter((e) => e.verified && (e.primary || !/@users\.noreply\./i.test(e.email)));
      const email = (verified.find((e) => e.primary) ?? verified[0])?.email ?? null;
      return {
        id: String(user.id),
        login: user.login,
        email,
        emailVerified: email !== null,
        name: user.name ?? null,
        avatarUrl: httpsUrlOrNull(user.avatar_url),
      };
    },
  };
}
