import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { asBearer, asBrowser, call, expectError, issueToken, json, signIn, uniqueEmail } from "./helpers";

const patchMe = (cookie: string, body: unknown) => call("/api/v1/me", { ...json(body, "PATCH"), headers: { "content-type": "application/json", ...asBrowser(cookie) } });

describe("GET /api/v1/me", () => {
  it("returns the signed-in user", async () => {
    const email = uniqueEmail("lin");
    const cookie = await signIn(email);
    const res = await call("/api/v1/me", { headers: { cookie } });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({
      id: expect.stringMatching(/^usr_[0-9a-z]{26}$/),
      email,
      name: email.split("@")[0],
      avatarUrl: null,
      createdAt: expect.any(String),
      lastSeenAt: expect.any(String),
      platformAdmin: false,
    });
  });

  it("is 401 for anonymous callers", async () => {
    await expectError(await call("/api/v1/me"), 401, "unauthenticated");
  });
});

describe("PATCH /api/v1/me", () => {
  it("updates name and avatar, and null clears the avatar", async () => {
    const cookie = await signIn();
    const res = await patchMe(cookie, { name: "  Lin Chen ", avatarUrl: "https://avatars.example.com/lin.png" });
    expect(await res.json()).toMatchObject({ name: "Lin Chen", avatarUrl: "https://avatars.example.com/lin.png" });
    expect(await (await patchMe(cookie, { avatarUrl: null })).json()).toMatchObject({ name: "Lin Chen", avatarUrl: null });
    expect(await (await call("/api/v1/me", { headers: { cookie } })).json()).toMatchObject({ name: "Lin Chen", avatarUrl: null });
  });

  it.each([
    [{ name: "" }, "name"],
    [{ name: "x".repeat(101) }, "name"],
    [{ avatarUrl: "http://insecure.example.com/a.png" }, "avatarUrl"],
    [{ avatarUrl: "javascript:alert(1)" }, "avatarUrl"],
    [{ email: "new@example.com" }, "email"],
    [[], "body"],
  ])("refuses %j with 400 naming %s", async (body, field) => {
    const cookie = await signIn();
    const error = await expectError(await patchMe(cookie, body), 400, "invalid_request");
    expect(error.fields).toContainEqual({ path: field, message: expect.any(String) });
  });

  it("needs user:write with a token", async () => {
    const cookie = await signIn();
    const { token } = await issueToken(cookie, { scopes: ["user:read"] });
    const res = await call("/api/v1/me", { ...json({ name: "x" }, "PATCH"), headers: { "content-type": "application/json", ...asBearer(token) } });
    await expectError(res, 403, "insufficient_scope");
  });
});

describe("DELETE /api/v1/me", () => {
  it("deletes the account with its sessions and tokens, and leaves an audit record", async () => {
    const email = uniqueEmail("leaving");
    const cookie = await signIn(email);
    const otherSession = await signIn(email);
    const { token } = await issueToken(cookie);
    const { id } = (await (await call("/api/v1/me", { headers: { cookie } })).json()) as { id: string };

    const res = await call("/api/v1/me", { method: "DELETE", headers: asBrowser(cookie) });
    expect(res.status).toBe(204);
    expect(res.headers.get("set-cookie")).toMatch(/Max-Age=0/);

    await expectError(await call("/api/v1/me", { headers: { cookie: otherSession } }), 401);
    await expectError(await call("/api/v1/me", { headers: asBearer(token) }), 401);
    const counts = await env.DB.prepare(
      "SELECT (SELECT count(*) FROM sessions WHERE user_id = ?1) AS s, (SELECT count(*) FROM personal_access_tokens WHERE user_id = ?1) AS t, (SELECT count(*) FROM audit_logs WHERE actor_id = ?1 AND action = 'user.delete') AS a",
    )
      .bind(id)
      .first();
    expect(counts).toEqual({ s: 0, t: 0, a: 1 });

    // Signing in again with the same e-mail is a new account.
    const again = await signIn(email);
    expect(((await (await call("/api/v1/me", { headers: { cookie: again } })).json()) as { id: string }).id).not.toBe(id);
  });

  it("needs a same-site request with a session, and user:write with a token", async () => {
    const cookie = await signIn();
    await expectError(await call("/api/v1/me", { method: "DELETE", headers: { cookie } }), 403, "cross_site_request");
    const { token } = await issueToken(cookie, { scopes: ["user:read", "tokens:write"] });
    await expectError(await call("/api/v1/me", { method: "DELETE", headers: asBearer(token) }), 403, "insufficient_scope");
    expect((await call("/api/v1/me", { headers: { cookie } })).status).toBe(200);
  });
});

describe("GET /api/v1/me/audit-logs", () => {
  it("pages through what I did, newest first, and shows nothing of others", async () => {
    const cookie = await signIn();
    const other = await signIn();
    await issueToken(other);
    for (const name of ["a", "b", "c"]) await patchMe(cookie, { name });
    const first = (await (await call("/api/v1/me/audit-logs?limit=2", { headers: { cookie } })).json()) as {
      items: { action: string; after: { name: string } }[];
      nextCursor: string;
    };
    expect(first.items.map((e) => e.after.name)).toEqual(["c", "b"]);
    const second = (await (await call(`/api/v1/me/audit-logs?limit=2&cursor=${first.nextCursor}`, { headers: { cookie } })).json()) as {
      items: { action: string; after: { name: string } }[];
      nextCursor: string | null;
    };
    expect(second.items.map((e) => e.after.name)).toEqual(["a"]);
    expect(second.nextCursor).toBeNull();
  });
});
