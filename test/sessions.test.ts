import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { createApp } from "../src/app";
import { hashSecret } from "../src/lib/crypto";
import { asBearer, asBrowser, call, expectError, issueToken, ORIGIN, signIn, uniqueEmail } from "./helpers";

const secretOf = (cookie: string) => cookie.split("=")[1]!;

async function blockUser(email: string) {
  await env.DB.prepare("UPDATE users SET blocked = 1 WHERE email = ?").bind(email).run();
}

describe("dev login", () => {
  it("creates the user on first use, sets a hardened cookie and redirects home", async () => {
    const email = uniqueEmail("Ada");
    const res = await call(`/auth/dev/login?email=${encodeURIComponent(email)}&name=Ada%20Lovelace`);
    expect(res.status).toBe(302);
    expect(res.headers.get("location")).toBe("/#");
    const cookie = res.headers.get("set-cookie")!;
    expect(cookie).toMatch(/^__Host-edgepod_session=[a-z2-7]{52};/);
    for (const attribute of ["HttpOnly", "Secure", "SameSite=Lax", "Path=/", "Max-Age=2592000"]) {
      expect(cookie).toContain(attribute);
    }
    const me = await call("/api/v1/me", { headers: { cookie: cookie.split(";")[0]! } });
    expect(await me.json()).toMatchObject({ email: email.toLowerCase(), name: "Ada Lovelace" });
  });

  it("signs the same user in again, case-insensitively, without renaming them", async () => {
    const email = uniqueEmail("grace");
    const first = await signIn(email);
    await call(`/auth/dev/login?email=${encodeURIComponent(email.toUpperCase())}&name=Other`);
    const again = await signIn(email.toUpperCase());
    const [a, b] = await Promise.all(
      [first, again].map(async (cookie) => (await call("/api/v1/me", { headers: { cookie } })).json()),
    );
    expect(a).toEqual(b);
    expect((a as { name: string }).name).toBe(email.split("@")[0]);
  });

  it("stores only a hash of the session secret", async () => {
    const cookie = await signIn();
    const row = await env.DB.prepare("SELECT token_hash FROM sessions WHERE token_hash = ?")
      .bind(hashSecret(secretOf(cookie)))
      .first();
    expect(row).not.toBeNull();
    const leaked = await env.DB.prepare("SELECT count(*) AS n FROM sessions WHERE token_hash = ?")
      .bind(secretOf(cookie))
      .first<{ n: number }>();
    expect(leaked!.n).toBe(0);
  });

  it.each([
    ["/workspaces?tab=mine", "/workspaces?tab=mine#"],
    ["/settings#access_token=stolen", "/settings#"],
    ["https://evil.example/", "/#"],
    ["//evil.example/path", "/#"],
    ["/\\evil.example", "/#"],
    ["/\t/evil.example", "/#"],
    ["javascript:alert(1)", "/#"],
  ])("redirects returnTo=%s only to a same-site path (%s)", async (returnTo, location) => {
    const res = await call(`/auth/dev/login?email=${encodeURIComponent(uniqueEmail())}&returnTo=${encodeURIComponent(returnTo)}`);
    expect(res.headers.get("location")).toBe(location);
  });

  it("refuses a bad e-mail with 400 and the field", async () => {
    const error = await expectError(await call("/auth/dev/login?email=not-an-email"), 400);
    expect(error.fields).toEqual([{ path: "email", message: expect.any(String) }]);
  });

  it("does not exist without DEV_LOGIN=true, whatever the input", async () => {
    const app = createApp();
    for (const query of ["?email=a%40example.com", "?email=bad", ""]) {
      const res = await app.request(`/auth/dev/login${query}`, {}, { ...env, DEV_LOGIN: "false" });
      await expectError(res, 404, "not_found");
    }
  });

  it("refuses a blocked user", async () => {
    const email = uniqueEmail("blocked");
    await signIn(email);
    await blockUser(email);
    await expectError(await call(`/auth/dev/login?email=${encodeURIComponent(email)}`), 403, "account_blocked");
  });
});

describe("sessions", () => {
  it("are refused once the user is blocked, with session or token", async () => {
    const email = uniqueEmail("blocked");
    const cookie = await signIn(email);
    const { token } = await issueToken(cookie);
    await blockUser(email);
    await expectError(await call("/api/v1/me", { headers: { cookie } }), 403, "account_blocked");
    await expectError(await call("/api/v1/me", { headers: asBearer(token) }), 403, "account_blocked");
  });

  it("logout revokes the session server-side and clears the cookie", async () => {
    const cookie = await signIn();
    const res = await call("/auth/logout", { method: "POST", headers: asBrowser(cookie) });
    expect(res.status).toBe(204);
    expect(res.headers.get("set-cookie")).toMatch(/^__Host-edgepod_session=;.*Max-Age=0/);
    // Replaying the old cookie does not work: the server forgot it.
    await expectError(await call("/api/v1/me", { headers: { cookie } }), 401, "unauthenticated");
  });

  it("logout is refused cross-site", async () => {
    const cookie = await signIn();
    const res = await call("/auth/logout", { method: "POST", headers: { cookie, origin: "https://evil.example" } });
    await expectError(res, 403, "cross_site_request");
    expect((await call("/api/v1/me", { headers: { cookie } })).status).toBe(200);
  });

  it("expired sessions are anonymous and their cookie is cleared", async () => {
    const cookie = await signIn();
    await env.DB.prepare("UPDATE sessions SET expires_at = ? WHERE token_hash = ?")
      .bind(Date.now() - 1000, hashSecret(secretOf(cookie)))
      .run();
    const res = await call("/api/v1/me", { headers: { cookie } });
    await expectError(res, 401);
    expect(res.headers.get("set-cookie")).toMatch(/Max-Age=0/);
  });

  it("slide forward once less than half their lifetime is left", async () => {
    const cookie = await signIn();
    const hash = hashSecret(secretOf(cookie));
    const fresh = await call("/api/v1/me", { headers: { cookie } });
    expect(fresh.headers.get("set-cookie")).toBeNull();

    const soon = Date.now() + 3 * 86_400_000;
    await env.DB.prepare("UPDATE sessions SET expires_at = ? WHERE token_hash = ?").bind(soon, hash).run();
    const res = await call("/api/v1/me", { headers: { cookie } });
    expect(res.status).toBe(200);
    expect(res.headers.get("set-cookie")).toContain("Max-Age=2592000");
    await expect
      .poll(async () => {
        const row = await env.DB.prepare("SELECT expires_at FROM sessions WHERE token_hash = ?")
          .bind(hash)
          .first<{ expires_at: number }>();
        return row!.expires_at;
      })
      .toBeGreaterThan(Date.now() + 29 * 86_400_000);
  });

  it("an unknown cookie is simply anonymous", async () => {
    const res = await call("/api/config", { headers: { cookie: `__Host-edgepod_session=${"a".repeat(52)}` } });
    expect(res.status).toBe(200);
  });
});

describe("cross-site protection for cookie requests", () => {
  const rename = (headers: Record<string, string>) =>
    call("/api/v1/me", {
      method: "PATCH",
      body: JSON.stringify({ name: "Renamed" }),
      headers: { "content-type": "application/json", ...headers },
    });

  it("refuses a write without Origin or Sec-Fetch-Site", async () => {
    const cookie = await signIn();
    await expectError(await rename({ cookie }), 403, "cross_site_request");
  });

  it("refuses a write from another origin", async () => {
    const cookie = await signIn();
    await expectError(await rename({ cookie, origin: "https://evil.example" }), 403, "cross_site_request");
    await expectError(await rename({ cookie, "sec-fetch-site": "cross-site" }), 403, "cross_site_request");
  });

  it("accepts a write from this origin, by Origin or by Sec-Fetch-Site", async () => {
    const cookie = await signIn();
    expect((await rename({ cookie, origin: ORIGIN })).status).toBe(200);
    expect((await rename({ cookie, "sec-fetch-site": "same-origin" })).status).toBe(200);
  });

  it("honours PUBLIC_URL as this site's origin behind a proxy", async () => {
    const cookie = await signIn();
    const app = createApp();
    const proxied = { ...env, PUBLIC_URL: "https://pods.example.com" };
    const ctx = { waitUntil() {}, passThroughOnException() {}, props: {} } as unknown as ExecutionContext;
    const req = (origin: string) =>
      app.request(
        "/api/v1/me",
        { method: "PATCH", body: JSON.stringify({ name: "Proxied" }), headers: { "content-type": "application/json", cookie, origin } },
        proxied,
        ctx,
      );
    expect((await req("https://pods.example.com")).status).toBe(200);
    await expectError(await req(ORIGIN), 403, "cross_site_request");
  });

  it("lets reads through without Origin", async () => {
    const cookie = await signIn();
    expect((await call("/api/v1/me", { headers: { cookie } })).status).toBe(200);
  });

  it("exempts bearer requests, which carry no ambient credential", async () => {
    const cookie = await signIn();
    const { token } = await issueToken(cookie);
    expect((await rename(asBearer(token, { origin: "https://elsewhere.example" }))).status).toBe(200);
  });
});
