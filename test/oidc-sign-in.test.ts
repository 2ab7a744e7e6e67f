import { env } from "cloudflare:workers";
import { describe, expect, it, vi } from "vitest";
import { createApp } from "../src/app";
import { ORIGIN } from "./fixtures";
import { call, expectError } from "./helpers";
import {
  callback,
  SESSION_COOKIE,
  setCookie,
  SIGN_IN_COOKIE,
  startSignIn,
  throughOidcProvider,
} from "./sign-in-helpers";

let n = 0;
const uniqueLogin = (tag = "alice") => `${tag}-${Date.now()}-${++n}`;

/** A whole sign-in through the local OpenID Connect provider; returns the callback's response. */
async function signInAs(login: string, query = "") {
  const { authorizeUrl, flowCookie } = await startSignIn("oidc", query);
  return callback(await throughOidcProvider(authorizeUrl, login), flowCookie);
}

async function me(res: Response) {
  const session = setCookie(res, SESSION_COOKIE);
  expect(session).not.toBeNull();
  return (await call("/api/v1/me", { headers: { cookie: session! } })).json() as Promise<{ id: string; email: string; name: string }>;
}

describe("OpenID Connect sign-in", () => {
  it("signs a new user in through the provider and back to where they started", async () => {
    const login = uniqueLogin();
    const { authorizeUrl, flowCookie } = await startSignIn("oidc", "?returnTo=%2Fworkspaces%3Ftab%3Dmine");
    expect(authorizeUrl.origin).toBe(env.OIDC_ISSUER);
    const back = await throughOidcProvider(authorizeUrl, login);
    const res = await callback(back, flowCookie);
    expect(res.status, await res.clone().text()).toBe(302);
    expect(res.headers.get("location")).toBe("/workspaces?tab=mine#");
    expect(await me(res)).toMatchObject({ email: `${login}@idp.test`, name: `Name of ${login}` });
  });

  it("asks for the code with PKCE (S256), state and nonce, for this deployment's callback", async () => {
    const { authorizeUrl } = await startSignIn("oidc");
    const params = Object.fromEntries(authorizeUrl.searchParams);
    expect(params).toMatchObject({
      response_type: "code",
      client_id: env.OIDC_CLIENT_ID,
      redirect_uri: `${ORIGIN}/auth/oidc/callback`,
      scope: "openid email profile",
      code_challenge_method: "S256",
    });
    expect(params.code_challenge).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(params.state).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(params.nonce).toMatch(/^[A-Za-z0-9_-]{43}$/);
  });

  it("binds the flow to the browser in a short-lived, hardened, sealed cookie, cleared on return", async () => {
    const res = await call("/auth/oidc/login");
    const line = res.headers.getSetCookie().find((c) => c.startsWith(`${SIGN_IN_COOKIE}=`))!;
    for (const attribute of ["HttpOnly", "Secure", "SameSite=Lax", "Path=/", "Max-Age=600"]) expect(line).toContain(attribute);
    const location = new URL(res.headers.get("location")!);
    // Sealed: neither the state nor anything else readable in it.
    expect(line).not.toContain(location.searchParams.get("state")!);
    expect(line).toMatch(/^__Host-edgepod_signin=v1\./);

    const back = await throughOidcProvider(location, uniqueLogin());
    const done = await callback(back, line.split(";")[0]);
    expect(done.headers.getSetCookie().find((c) => c.startsWith(`${SIGN_IN_COOKIE}=`))).toMatch(/Max-Age=0/);
  });

  it("signs the same account into the same user again, with a new session", async () => {
    const login = uniqueLogin();
    const first = await signInAs(login);
    const second = await signInAs(login);
    expect(setCookie(second, SESSION_COOKIE)).not.toBe(setCookie(first, SESSION_COOKIE));
    expect((await me(second)).id).toBe((await me(first)).id);
  });

  it.each([
    ["https://evil.example/phish", "/#"],
    ["//evil.example", "/#"],
    ["/\\evil.example", "/#"],
    ["javascript:alert(1)", "/#"],
    ["/settings#access_token=leak", "/settings#"],
  ])("returns the browser only to same-site paths (returnTo=%s → %s)", async (returnTo, location) => {
    const res = await signInAs(uniqueLogin(), `?returnTo=${encodeURIComponent(returnTo)}`);
    expect(res.status).toBe(302);
    expect(res.headers.get("location")).toBe(location);
  });

  it("refuses an over-long returnTo with 400 naming the field", async () => {
    const error = await expectError(await call(`/auth/oidc/login?returnTo=/${"a".repeat(2001)}`), 400, "invalid_request");
    expect(error.fields).toEqual([{ path: "returnTo", message: expect.any(String) }]);
  });
});

describe("OpenID Connect sign-in refusals", () => {
  it("refuses a tampered state", async () => {
    const { authorizeUrl, flowCookie } = await startSignIn("oidc");
    const back = await throughOidcProvider(authorizeUrl, uniqueLogin());
    back.searchParams.set("state", "attacker-chosen-state");
    const res = await callback(back, flowCookie);
    const error = await expectError(res, 400, "invalid_state");
    expect(error.fields).toEqual([{ path: "state", message: expect.any(String) }]);
    expect(setCookie(res, SESSION_COOKIE)).toBeNull();
  });

  it("refuses a callback in a browser that did not start the sign-in (login CSRF)", async () => {
    const { authorizeUrl } = await startSignIn("oidc");
    const back = await throughOidcProvider(authorizeUrl, uniqueLogin("attacker"));
    await expectError(await callback(back), 400, "invalid_state");
    // Nor with the flow cookie of another sign-in of that browser.
    const { flowCookie: other } = await startSignIn("oidc");
    await expectError(await callback(back, other), 400, "invalid_state");
  });

  it("refuses a forged or tampered flow cookie", async () => {
    const { authorizeUrl, flowCookie } = await startSignIn("oidc");
    const back = await throughOidcProvider(authorizeUrl, uniqueLogin());
    const tampered = flowCookie.slice(0, -3) + (flowCookie.endsWith("AAA") ? "BBB" : "AAA");
    await expectError(await callback(back, tampered), 400, "invalid_state");
    await expectError(await callback(back, `${SIGN_IN_COOKIE}={"state":"x"}`), 400, "invalid_state");
  });

  it("refuses a flow started for another provider", async () => {
    const { authorizeUrl } = await startSignIn("oidc");
    const { flowCookie: githubFlow } = await startSignIn("github");
    const back = await throughOidcProvider(authorizeUrl, uniqueLogin());
    await expectError(await callback(back, githubFlow), 400, "invalid_state");
  });

  it("refuses a response that names another issuer (mix-up, RFC 9207)", async () => {
    const { authorizeUrl, flowCookie } = await startSignIn("oidc");
    const back = await throughOidcProvider(authorizeUrl, uniqueLogin());
    expect(back.searchParams.get("iss")).toBe(env.OIDC_ISSUER);
    back.searchParams.set("iss", "https://attacker.example");
    await expectError(await callback(back, flowCookie), 400, "invalid_callback");
  });

  it("refuses a replayed authorization code", async () => {
    const { authorizeUrl, flowCookie } = await startSignIn("oidc");
    const back = await throughOidcProvider(authorizeUrl, uniqueLogin());
    expect((await callback(back, flowCookie)).status).toBe(302);
    const replay = await callback(back, flowCookie);
    const error = await expectError(replay, 400, "invalid_grant");
    expect(error.fields).toEqual([{ path: "code", message: expect.any(String) }]);
    expect(setCookie(replay, SESSION_COOKIE)).toBeNull();
  });

  it("refuses an ID token whose nonce is not the one this browser's sign-in sent", async () => {
    const { authorizeUrl, flowCookie } = await startSignIn("oidc");
    // A code obtained for another authorization request (another nonce), injected into this one.
    authorizeUrl.searchParams.set("nonce", "nonce-of-another-request");
    const back = await throughOidcProvider(authorizeUrl, uniqueLogin());
    const res = await callback(back, flowCookie);
    expect((await expectError(res, 401, "invalid_id_token")).message).toMatch(/nonce/);
    expect(setCookie(res, SESSION_COOKIE)).toBeNull();
  });

  it("refuses an expired ID token", async () => {
    const { authorizeUrl, flowCookie } = await startSignIn("oidc");
    const back = await throughOidcProvider(authorizeUrl, uniqueLogin());
    // The provider's ID tokens live 120 s; by the Worker's clock five minutes have passed.
    vi.useFakeTimers({ toFake: ["Date"] });
    vi.setSystemTime(Date.now() + 5 * 60_000);
    try {
      const error = await expectError(await callback(back, flowCookie), 401, "invalid_id_token");
      expect(error.message).toMatch(/exp/);
    } finally {
      vi.useRealTimers();
    }
  });

  it("refuses a sign-in flow older than ten minutes", async () => {
    const { authorizeUrl, flowCookie } = await startSignIn("oidc");
    const back = await throughOidcProvider(authorizeUrl, uniqueLogin());
    vi.useFakeTimers({ toFake: ["Date"] });
    vi.setSystemTime(Date.now() + 11 * 60_000);
    try {
      await expectError(await callback(back, flowCookie), 400, "invalid_state");
    } finally {
      vi.useRealTimers();
    }
  });

  it("answers 403 access_denied when the user declines at the provider", async () => {
    const { authorizeUrl, flowCookie } = await startSignIn("oidc");
    const back = await throughOidcProvider(authorizeUrl, uniqueLogin(), "abort");
    expect(back.searchParams.get("error")).toBe("access_denied");
    await expectError(await callback(back, flowCookie), 403, "access_denied");
  });

  it("does not create an account without a verified e-mail", async () => {
    await expectError(await signInAs(uniqueLogin("unverified")), 403, "verified_email_required");
  });

  it("refuses a blocked user", async () => {
    const login = uniqueLogin();
    const { id } = await me(await signInAs(login));
    await env.DB.prepare("UPDATE users SET blocked = 1 WHERE id = ?").bind(id).run();
    const res = await signInAs(login);
    await expectError(res, 403, "account_blocked");
    expect(setCookie(res, SESSION_COOKIE)).toBeNull();
  });

  it("answers 502 when the issuer cannot be reached, and logs no secret", async () => {
    const errors = vi.spyOn(console, "error");
    const ctx = { waitUntil() {}, passThroughOnException() {}, props: {} } as unknown as ExecutionContext;
    const res = await createApp().request(`${ORIGIN}/auth/oidc/login`, {}, { ...env, OIDC_ISSUER: "https://idp.unreachable.example" }, ctx);
    await expectError(res, 502, "provider_error");
    const logged = errors.mock.calls.flat().join(" ");
    expect(logged).toContain("discovery");
    expect(logged).not.toContain(String((env as unknown as Record<string, string>).OIDC_CLIENT_SECRET));
    errors.mockRestore();
  });
});
