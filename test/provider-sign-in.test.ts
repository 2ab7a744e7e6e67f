import { env } from "cloudflare:workers";
import { describe, expect, it, vi } from "vitest";
import { createApp } from "../src/app";
import { readConfig } from "../src/env";
import { unseal } from "../src/lib/seal";
import { CLIENTS, ORIGIN, type FakeAccount, type FakeProvider } from "./fixtures";
import { asBrowser, call, expectError, signIn, uniqueEmail } from "./helpers";
import {
  callback,
  fakeAccount,
  SESSION_COOKIE,
  setCookie,
  signInWith,
  startSignIn,
  throughFakeProvider,
} from "./sign-in-helpers";

const PROVIDERS: FakeProvider[] = ["github", "gitlab", "bitbucket", "google"];

/** How each provider's account id and login show up on our side. */
const EXPECTED: Record<FakeProvider, (a: FakeAccount) => { providerUserId: string; login: string | null }> = {
  github: (a) => ({ providerUserId: a.id, login: a.login }),
  gitlab: (a) => ({ providerUserId: a.id, login: a.login }),
  bitbucket: (a) => ({ providerUserId: `{${a.id}}`, login: a.login }),
  google: (a) => ({ providerUserId: a.id, login: a.email }),
};

async function sessionOf(res: Response): Promise<string> {
  expect(res.status, await res.clone().text()).toBe(302);
  const session = setCookie(res, SESSION_COOKIE);
  expect(session).not.toBeNull();
  return session!;
}

const identitiesOf = async (cookie: string) =>
  ((await (await call("/api/v1/me/identities", { headers: { cookie } })).json()) as { items: Record<string, unknown>[] }).items;

const identityRow = (provider: string, providerUserId: string) =>
  env.DB.prepare("SELECT * FROM identities WHERE provider = ? AND provider_user_id = ?")
    .bind(provider, providerUserId)
    .first<{ id: string; user_id: string; access_token_sealed: string; refresh_token_sealed: string | null; token_expires_at: number | null }>();

describe.each(PROVIDERS)("sign-in with %s", (provider) => {
  it("creates the user from the provider's account and returns to the start page", async () => {
    const account = fakeAccount();
    const res = await signInWith(provider, account, { query: "?returnTo=%2Fprojects" });
    expect(res.headers.get("location")).toBe("/projects#");
    const cookie = await sessionOf(res);
    const me = await (await call("/api/v1/me", { headers: { cookie } })).json();
    expect(me).toMatchObject({
      email: account.email,
      name: account.name,
      avatarUrl: `https://avatars.example.test/${account.id}.png`,
    });
    const [identity, ...more] = await identitiesOf(cookie);
    expect(more).toEqual([]);
    expect(identity).toEqual({
      id: expect.stringMatching(/^idn_[0-9a-z]{26}$/),
      provider,
      login: EXPECTED[provider](account).login,
      email: account.email,
      createdAt: expect.any(String),
      updatedAt: expect.any(String),
    });
  });

  it("signs the same account into the same user again", async () => {
    const account = fakeAccount();
    const first = await sessionOf(await signInWith(provider, account));
    const again = await sessionOf(await signInWith(provider, { ...account, login: `${account.login}-renamed` }));
    const [a, b] = await Promise.all([first, again].map(async (cookie) => (await call("/api/v1/me", { headers: { cookie } })).json()));
    expect(b).toEqual(a);
    // The handle is refreshed from the provider on each sign-in.
    expect((await identitiesOf(again))[0]!.login).toBe(EXPECTED[provider]({ ...account, login: `${account.login}-renamed` }).login);
  });

  it("seals the provider's tokens at rest", async () => {
    const account = fakeAccount();
    await signInWith(provider, account);
    const row = (await identityRow(provider, EXPECTED[provider](account).providerUserId))!;
    expect(row.access_token_sealed).toMatch(/^v1\./);
    expect(row.access_token_sealed).not.toContain(`${provider}-at-`);
    const keys = readConfig(env).sealingKeys!;
    expect(await unseal(keys, row.access_token_sealed, `identity:${row.id}:access`)).toMatch(new RegExp(`^${provider}-at-`));
    if (provider === "github") {
      expect(row.refresh_token_sealed).toBeNull(); // OAuth app tokens do not expire
      expect(row.token_expires_at).toBeNull();
    } else {
      expect(await unseal(keys, row.refresh_token_sealed!, `identity:${row.id}:refresh`)).toMatch(new RegExp(`^${provider}-rt-`));
      expect(row.token_expires_at).toBeGreaterThan(Date.now());
    }
  });

  it("does not create an account without a verified e-mail", async () => {
    const res = await signInWith(provider, fakeAccount({ emailVerified: false }));
    await expectError(res, 403, "verified_email_required");
    expect(setCookie(res, SESSION_COOKIE)).toBeNull();
  });

  it("answers 502 when the provider's user API fails", async () => {
    await expectError(await signInWith(provider, fakeAccount({ apiStatus: 500 })), 502, "provider_error");
  });

  it("refuses a replayed authorization code", async () => {
    const { authorizeUrl, flowCookie } = await startSignIn(provider);
    const back = await throughFakeProvider(authorizeUrl, fakeAccount());
    await sessionOf(await callback(back, flowCookie));
    await expectError(await callback(back, flowCookie), 400, "invalid_grant");
  });

  it("refuses a tampered state", async () => {
    const { authorizeUrl, flowCookie } = await startSignIn(provider);
    const back = await throughFakeProvider(authorizeUrl, fakeAccount());
    back.searchParams.set("state", "forged");
    await expectError(await callback(back, flowCookie), 400, "invalid_state");
  });
});

describe("provider authorization requests", () => {
  it.each([
    ["github", "https://github.com/login/oauth/authorize", "read:user user:email", true],
    ["gitlab", "https://gitlab.com/oauth/authorize", "read_user", true],
    ["bitbucket", "https://bitbucket.org/site/oauth2/authorize", null, false],
    ["google", "https://accounts.google.com/o/oauth2/v2/auth", "openid email profile", true],
  ] as const)("%s: %s, scope %s, PKCE %s", async (provider, endpoint, scope, pkce) => {
    const { authorizeUrl } = await startSignIn(provider);
    expect(authorizeUrl.origin + authorizeUrl.pathname).toBe(endpoint);
    const params = authorizeUrl.searchParams;
    expect(params.get("client_id")).toBe(CLIENTS[provider].id);
    expect(params.get("redirect_uri")).toBe(`${ORIGIN}/auth/${provider}/callback`);
    expect(params.get("response_type")).toBe("code");
    expect(params.get("scope")).toBe(scope);
    expect(params.get("state")).toMatch(/^[A-Za-z0-9_-]{32,}$/);
    expect(params.get("code_challenge_method")).toBe(pkce ? "S256" : null);
    expect(params.has("code_challenge")).toBe(pkce);
  });

  it("uses PUBLIC_URL for the callback URL behind a proxy", async () => {
    const ctx = { waitUntil() {}, passThroughOnException() {}, props: {} } as unknown as ExecutionContext;
    const res = await createApp().request(`${ORIGIN}/auth/gitlab/login`, {}, { ...env, PUBLIC_URL: "https://pods.example.com" }, ctx);
    expect(new URL(res.headers.get("location")!).searchParams.get("redirect_uri")).toBe("https://pods.example.com/auth/gitlab/callback");
  });
});

describe("self-hosted instances", () => {
  const ctx = { waitUntil() {}, passThroughOnException() {}, props: {} } as unknown as ExecutionContext;

  it.each([
    ["github", { GITHUB_BASE_URL: "https://github.example.test/" }, "https://github.example.test/login/oauth/authorize"],
    ["gitlab", { GITLAB_BASE_URL: "https://gitlab.example.test" }, "https://gitlab.example.test/oauth/authorize"],
  ] as const)("%s at its configured base URL", async (provider, vars, endpoint) => {
    const app = createApp();
    const configured = { ...env, ...vars };
    const login = await app.request(`${ORIGIN}/auth/${provider}/login`, {}, configured, ctx);
    const authorizeUrl = new URL(login.headers.get("location")!);
    expect(authorizeUrl.origin + authorizeUrl.pathname).toBe(endpoint);
    const account = fakeAccount();
    const back = await throughFakeProvider(authorizeUrl, account);
    const flowCookie = setCookie(login, "__Host-edgepod_signin")!;
    const res = await app.request(back.href, { headers: { cookie: flowCookie } }, configured, ctx);
    const cookie = await sessionOf(res);
    expect(await (await call("/api/v1/me", { headers: { cookie } })).json()).toMatchObject({ email: account.email });
  });

  it("refuses a base URL or issuer that is not https (but for localhost)", () => {
    expect(() => readConfig({ ...env, GITLAB_BASE_URL: "http://gitlab.example.com" })).toThrow(/GITLAB_BASE_URL must be an https/);
    expect(() => readConfig({ ...env, OIDC_ISSUER: "http://idp.example.com" })).toThrow(/OIDC_ISSUER must be an https/);
    expect(() => readConfig({ ...env, GITHUB_BASE_URL: "not a url" })).toThrow(/GITHUB_BASE_URL is not a URL/);
    expect(readConfig({ ...env, GITLAB_BASE_URL: "http://localhost:8929/" }).providers).toContainEqual(
      expect.objectContaining({ id: "gitlab", baseUrl: "http://localhost:8929" }),
    );
  });

  it("keeps the OpenID Connect issuer verbatim, trailing slash and all", () => {
    expect(readConfig({ ...env, OIDC_ISSUER: "https://tenant.idp.example/" }).providers).toContainEqual(
      expect.objectContaining({ id: "oidc", issuer: "https://tenant.idp.example/" }),
    );
  });
});

describe("GitHub's own answers", () => {
  it("treats GitHub's 200-with-error token answer for a bad code as invalid_grant", async () => {
    const { authorizeUrl, flowCookie } = await startSignIn("github");
    const back = await throughFakeProvider(authorizeUrl, fakeAccount());
    back.searchParams.set("code", "not-a-code-github-issued");
    await expectError(await callback(back, flowCookie), 400, "invalid_grant");
  });

  it("picks the primary verified address, not the noreply one", async () => {
    const account = fakeAccount();
    const cookie = await sessionOf(await signInWith("github", account));
    expect(await (await call("/api/v1/me", { headers: { cookie } })).json()).toMatchObject({ email: account.email });
  });

  it("refuses a callback without a code", async () => {
    const { authorizeUrl, flowCookie } = await startSignIn("github");
    const back = new URL(`${ORIGIN}/auth/github/callback?state=${authorizeUrl.searchParams.get("state")}`);
    const error = await expectError(await callback(back, flowCookie), 400, "invalid_callback");
    expect(error.fields).toEqual([{ path: "query", message: expect.any(String) }]);
  });

  it("answers 403 access_denied when the user declines", async () => {
    const { authorizeUrl, flowCookie } = await startSignIn("github");
    const back = new URL(`${ORIGIN}/auth/github/callback`);
    back.searchParams.set("error", "access_denied");
    back.searchParams.set("state", authorizeUrl.searchParams.get("state")!);
    await expectError(await callback(back, flowCookie), 403, "access_denied");
  });
});

describe("linking accounts", () => {
  it("links the provider account to the signed-in user, keeping their session", async () => {
    const email = uniqueEmail("linker");
    const cookie = await signIn(email);
    const account = fakeAccount({ email: uniqueEmail("elsewhere") });
    const res = await signInWith("gitlab", account, { cookie, query: "?returnTo=%2Fsettings%2Faccounts" });
    expect(res.status, await res.clone().text()).toBe(302);
    expect(res.headers.get("location")).toBe("/settings/accounts#");
    expect(setCookie(res, SESSION_COOKIE)).toBeNull();
    expect(await identitiesOf(cookie)).toMatchObject([{ provider: "gitlab", login: account.login }]);

    // Later, signing in with GitLab alone signs into that same user.
    const viaGitlab = await sessionOf(await signInWith("gitlab", account));
    expect(await (await call("/api/v1/me", { headers: { cookie: viaGitlab } })).json()).toMatchObject({ email: email.toLowerCase() });

    const audit = (await (await call("/api/v1/me/audit-logs", { headers: { cookie } })).json()) as { items: { action: string; after: unknown }[] };
    expect(audit.items).toContainEqual(expect.objectContaining({ action: "identity.link", after: { provider: "gitlab", login: account.login } }));
  });

  it("refuses to link an account that belongs to another user", async () => {
    const account = fakeAccount();
    await sessionOf(await signInWith("github", account));
    const someoneElse = await signIn();
    await expectError(await signInWith("github", account, { cookie: someoneElse }), 409, "identity_in_use");
    expect(await identitiesOf(someoneElse)).toEqual([]);
  });

  it("refuses a second account of the same provider", async () => {
    const cookie = await signIn();
    await signInWith("bitbucket", fakeAccount(), { cookie });
    await expectError(await signInWith("bitbucket", fakeAccount(), { cookie }), 409, "provider_already_linked");
    expect(await identitiesOf(cookie)).toHaveLength(1);
  });

  it("does not merge a new provider account into an existing user by e-mail", async () => {
    const email = uniqueEmail("owner");
    await signIn(email);
    const res = await signInWith("google", fakeAccount({ email }));
    expect((await expectError(res, 409, "email_in_use")).message).toMatch(/link/);
    expect(setCookie(res, SESSION_COOKIE)).toBeNull();
  });

  it("links an account without a verified e-mail (only creating a user needs one)", async () => {
    const cookie = await signIn();
    expect((await signInWith("google", fakeAccount({ emailVerified: false }), { cookie })).status).toBe(302);
    expect(await identitiesOf(cookie)).toMatchObject([{ provider: "google", email: null }]);
  });

  it("audits sign-ups: the user's creation and the link", async () => {
    const cookie = await sessionOf(await signInWith("github", fakeAccount()));
    const audit = (await (await call("/api/v1/me/audit-logs", { headers: { cookie } })).json()) as { items: { action: string }[] };
    expect(audit.items.map((i) => i.action).sort()).toEqual(["identity.link", "user.create"]);
  });
});

describe("outbound requests in tests", () => {
  it("reach only the local fake servers", async () => {
    const errors = vi.spyOn(console, "error").mockImplementation(() => {});
    const res = await fetch("https://example.com/");
    expect(res.status).toBe(502);
    expect(await res.text()).toMatch(/refused in tests/);
    errors.mockRestore();
  });

  it("signing out after a provider sign-in works like any session", async () => {
    const cookie = await sessionOf(await signInWith("gitlab", fakeAccount()));
    expect((await call("/auth/logout", { method: "POST", headers: asBrowser(cookie) })).status).toBe(204);
    await expectError(await call("/api/v1/me", { headers: { cookie } }), 401);
  });
});
