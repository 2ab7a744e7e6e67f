import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { call, expectError } from "./helpers";
import { callback, SESSION_COOKIE, setCookie, startSignIn, throughOidcProvider } from "./sign-in-helpers";

let n = 0;
const uniqueLogin = (tag = "alice") => `${tag}-${Date.now()}-${++n}`;

describe("OpenID Connect sign-in", () => {
  it("signs a new user in through the provider and back to where they started", async () => {
    const login = uniqueLogin();
    const { authorizeUrl, flowCookie } = await startSignIn("oidc", "?returnTo=%2Fworkspaces%3Ftab%3Dmine");
    expect(authorizeUrl.origin).toBe(env.OIDC_ISSUER);
    const back = await throughOidcProvider(authorizeUrl, login);
    const res = await callback(back, flowCookie);
    expect(res.status, await res.clone().text()).toBe(302);
    expect(res.headers.get("location")).toBe("/workspaces?tab=mine#");
    const session = setCookie(res, SESSION_COOKIE)!;
    const me = await call("/api/v1/me", { headers: { cookie: session } });
    expect(await me.json()).toMatchObject({ email: `${login}@idp.test`, name: `Name of ${login}` });
  });
});
