import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { hashSecret } from "../src/lib/crypto";
import { MAX_LIVE_TOKENS_PER_USER } from "../src/services/tokens";
import { asBearer, asBrowser, call, expectError, inDays, issueToken, json, signIn } from "./helpers";

type TokenView = {
  id: string;
  name: string;
  description: string | null;
  scopes: string[];
  expiresAt: string;
  createdAt: string;
  updatedAt: string;
  lastUsedAt: string | null;
  token?: string;
};

const withHeaders = (init: RequestInit, headers: Record<string, string>): RequestInit => ({
  ...init,
  headers: { ...(init.headers as Record<string, string>), ...headers },
});

async function securityLog(cookie: string) {
  const res = await call("/api/v1/me/audit-logs?limit=100", { headers: { cookie } });
  return ((await res.json()) as { items: { action: string; targetId: string; requestId: string; ip: string | null }[] })
    .items;
}

describe("creating a token", () => {
  it("returns the secret once, in the edp_ format, and stores only its hash", async () => {
    const cookie = await signIn();
    const expiresAt = inDays(90);
    const res = await call(
      "/api/v1/tokens",
      withHeaders(json({ name: "laptop", description: "CLI", scopes: ["workspaces:write"], expiresAt }), asBrowser(cookie)),
    );
    expect(res.status).toBe(201);
    const created = (await res.json()) as TokenView;
    expect(created).toMatchObject({
      name: "laptop",
      description: "CLI",
      scopes: ["workspaces:write"],
      expiresAt: new Date(expiresAt).toISOString(),
      lastUsedAt: null,
    });
    expect(created.id).toMatch(/^tok_[0-9a-z]{26}$/);
    expect(created.token).toMatch(/^edp_[a-z2-7]{46}$/);

    const rows = await env.DB.prepare("SELECT * FROM personal_access_tokens WHERE id = ?").bind(created.id).all();
    expect(JSON.stringify(rows.results)).not.toContain(created.token!.slice(4));
    expect(rows.results[0]!.token_hash).toBe(hashSecret(created.token!));

    // Never shown again: not by get, not in the list.
    const got = (await (await call(`/api/v1/tokens/${created.id}`, { headers: { cookie } })).json()) as TokenView;
    expect(got.token).toBeUndefined();
    const list = await (await call("/api/v1/tokens", { headers: { cookie } })).text();
    expect(list).not.toContain(created.token!);
  });

  it.each([
    [{ scopes: ["*"], expiresAt: inDays(1) }, "name"],
    [{ name: "", scopes: ["*"], expiresAt: inDays(1) }, "name"],
    [{ name: "x".repeat(101), scopes: ["*"], expiresAt: inDays(1) }, "name"],
    [{ name: "t", scopes: ["repos:read"], expiresAt: inDays(1) }, "scopes.0"],
    [{ name: "t", scopes: ["workspaces:admin"], expiresAt: inDays(1) }, "scopes.0"],
    [{ name: "t", scopes: [], expiresAt: inDays(1) }, "scopes"],
    [{ name: "t", scopes: ["user:read", "user:read"], expiresAt: inDays(1) }, "scopes"],
    [{ name: "t", scopes: "*", expiresAt: inDays(1) }, "scopes"],
    [{ name: "t", scopes: ["*"] }, "expiresAt"],
    [{ name: "t", scopes: ["*"], expiresAt: "tomorrow" }, "expiresAt"],
    [{ name: "t", scopes: ["*"], expiresAt: inDays(-1) }, "expiresAt"],
    [{ name: "t", scopes: ["*"], expiresAt: inDays(367) }, "expiresAt"],
    [{ name: "t", scopes: ["*"], expiresAt: inDays(1), admin: true }, "admin"],
  ])("refuses %j with 400 naming %s", async (body, field) => {
    const cookie = await signIn();
    const error = await expectError(await call("/api/v1/tokens", withHeaders(json(body), asBrowser(cookie))), 400);
    expect(error.fields!.map((f) => (f as { path: string }).path)).toContain(field);
  });

  it("refuses anonymous callers", async () => {
    await expectError(await call("/api/v1/tokens", json({ name: "t", scopes: ["*"], expiresAt: inDays(1) })), 401);
  });

  it("refuses a cross-site browser request", async () => {
    const cookie = await signIn();
    const res = await call(
      "/api/v1/tokens",
      withHeaders(json({ name: "t", scopes: ["*"], expiresAt: inDays(1) }), { cookie, origin: "https://evil.example" }),
    );
    await expectError(res, 403, "cross_site_request");
  });

  it("with a token, needs tokens:write", async () => {
    const cookie = await signIn();
    const { token } = await issueToken(cookie, { scopes: ["tokens:read", "user:write"] });
    const res = await call("/api/v1/tokens", withHeaders(json({ name: "t", scopes: ["user:read"], expiresAt: inDays(1) }), asBearer(token)));
    await expectError(res, 403, "insufficient_scope");
  });

  it("with a token, cannot grant more than the token holds", async () => {
    const cookie = await signIn();
    const { token } = await issueToken(cookie, { scopes: ["tokens:write", "workspaces:read"] });
    const create = (scopes: string[]) =>
      call("/api/v1/tokens", withHeaders(json({ name: "child", scopes, expiresAt: inDays(1) }), asBearer(token)));

    await expectError(await create(["*"]), 403, "scope_escalation");
    await expectError(await create(["workspaces:write"]), 403, "scope_escalation");
    await expectError(await create(["orgs:read"]), 403, "scope_escalation");
    expect((await create(["workspaces:read"])).status).toBe(201);
    // write implies read
    expect((await create(["tokens:read"])).status).toBe(201);
  });

  it(`caps live tokens at ${MAX_LIVE_TOKENS_PER_USER} per user`, async () => {
    const cookie = await signIn();
    const first = await issueToken(cookie);
    for (let i = 1; i < MAX_LIVE_TOKENS_PER_USER; i++) await issueToken(cookie, { name: `t${i}` });
    const over = await call("/api/v1/tokens", withHeaders(json({ name: "one too many", scopes: ["*"], expiresAt: inDays(1) }), asBrowser(cookie)));
    expect((await expectError(over, 422, "limit_exceeded")).message).toContain(String(MAX_LIVE_TOKENS_PER_USER));

    // A deleted or expired token frees its place.
    await call(`/api/v1/tokens/${first.id}`, { method: "DELETE", headers: asBrowser(cookie) });
    await issueToken(cookie, { name: "replacement" });
    await expectError(
      await call("/api/v1/tokens", withHeaders(json({ name: "again", scopes: ["*"], expiresAt: inDays(1) }), asBrowser(cookie))),
      422,
    );
  });
});

describe("authenticating with a token", () => {
  it("works on the API with Authorization: Bearer", async () => {
    const cookie = await signIn();
    const { token } = await issueToken(cookie, { scopes: ["user:read"] });
    const res = await call("/api/v1/me", { headers: asBearer(token) });
    expect(res.status).toBe(200);
  });

  it("refuses a missing, malformed or tampered token with 401", async () => {
    const cookie = await signIn();
    const { token } = await issueToken(cookie);
    const last = token.at(-1)!;
    const tampered = [
      token.slice(0, -1) + (last === "a" ? "b" : "a"), // checksum
      token.slice(0, 10) + (token[10] === "a" ? "b" : "a") + token.slice(11), // body
      "ghp_" + token.slice(4), // prefix
      token.toUpperCase(),
      token + "a",
      "edp_",
    ];
    for (const bad of tampered) {
      await expectError(await call("/api/v1/me", { headers: asBearer(bad) }), 401, "invalid_token");
    }
    await expectError(await call("/api/v1/me", { headers: { authorization: `Basic ${token}` } }), 401, "invalid_token");
    await expectError(await call("/api/v1/me", { headers: { authorization: "Bearer" } }), 401, "invalid_token");
  });

  it("refuses a well-formed token that was never issued", async () => {
    const { generateToken } = await import("../src/auth/token-format");
    await expectError(await call("/api/v1/me", { headers: asBearer(generateToken("personal")) }), 401, "invalid_token");
  });

  it("refuses an expired token", async () => {
    const cookie = await signIn();
    const { id, token } = await issueToken(cookie);
    await env.DB.prepare("UPDATE personal_access_tokens SET expires_at = ? WHERE id = ?").bind(Date.now() - 1, id).run();
    await expectError(await call("/api/v1/me", { headers: asBearer(token) }), 401, "token_expired");
  });

  it("refuses a request outside the token's scopes with 403", async () => {
    const cookie = await signIn();
    const { token } = await issueToken(cookie, { scopes: ["workspaces:read"] });
    await expectError(await call("/api/v1/me", { headers: asBearer(token) }), 403, "insufficient_scope");
    await expectError(await call("/api/v1/tokens", { headers: asBearer(token) }), 403, "insufficient_scope");
  });

  it("treats write as implying read", async () => {
    const cookie = await signIn();
    const { token } = await issueToken(cookie, { scopes: ["user:write"] });
    expect((await call("/api/v1/me", { headers: asBearer(token) })).status).toBe(200);
  });

  it("records last use, at most once a minute", async () => {
    const cookie = await signIn();
    const { id, token } = await issueToken(cookie);
    const lastUsed = async () =>
      ((await (await call(`/api/v1/tokens/${id}`, { headers: { cookie } })).json()) as TokenView).lastUsedAt;

    await call("/api/v1/me", { headers: asBearer(token) });
    await expect.poll(lastUsed).not.toBeNull();
    const first = await lastUsed();
    await call("/api/v1/me", { headers: asBearer(token) });
    await new Promise((r) => setTimeout(r, 50));
    expect(await lastUsed()).toBe(first);

    // A minute later (simulated), the next use is recorded again.
    await env.DB.prepare("UPDATE personal_access_tokens SET last_used_at = ? WHERE id = ?").bind(Date.now() - 61_000, id).run();
    await call("/api/v1/me", { headers: asBearer(token) });
    await expect.poll(async () => Date.parse((await lastUsed())!)).toBeGreaterThan(Date.now() - 5_000);
  });
});

describe("listing and reading tokens", () => {
  it("lists mine, newest first, paginated with a cursor", async () => {
    const cookie = await signIn();
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push((await issueToken(cookie, { name: `t${i}` })).id);

    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const res = await call(`/api/v1/tokens?limit=2${cursor ? `&cursor=${cursor}` : ""}`, { headers: { cookie } });
      const page = (await res.json()) as { items: TokenView[]; nextCursor: string | null };
      expect(page.items.length).toBeLessThanOrEqual(2);
      seen.push(...page.items.map((t) => t.id));
      cursor = page.nextCursor;
      pages++;
    } while (cursor);
    expect(pages).toBe(3);
    expect(seen).toEqual([...ids].reverse());
  });

  it("does not list deleted tokens or other users' tokens", async () => {
    const alice = await signIn();
    const bob = await signIn();
    const kept = await issueToken(alice, { name: "kept" });
    const gone = await issueToken(alice, { name: "gone" });
    await issueToken(bob, { name: "bobs" });
    await call(`/api/v1/tokens/${gone.id}`, { method: "DELETE", headers: asBrowser(alice) });
    const page = (await (await call("/api/v1/tokens", { headers: { cookie: alice } })).json()) as { items: TokenView[] };
    expect(page.items.map((t) => t.id)).toEqual([kept.id]);
  });

  it.each([["limit=0"], ["limit=101"], ["limit=abc"], ["cursor=not-a-cursor"]])("refuses %s with 400", async (query) => {
    const cookie = await signIn();
    const error = await expectError(await call(`/api/v1/tokens?${query}`, { headers: { cookie } }), 400);
    expect(error.fields!.length).toBeGreaterThan(0);
  });
});

describe("another user's token", () => {
  it("is a 404 for every operation", async () => {
    const alice = await signIn();
    const mallory = await signIn();
    const { id, token } = await issueToken(alice);
    const attempts: [string, RequestInit][] = [
      [`/api/v1/tokens/${id}`, {}],
      [`/api/v1/tokens/${id}`, json({ name: "pwned" }, "PATCH")],
      [`/api/v1/tokens/${id}/regenerate`, { method: "POST" }],
      [`/api/v1/tokens/${id}`, { method: "DELETE" }],
    ];
    for (const [path, init] of attempts) {
      const res = await call(path, { ...init, method: init.method ?? "GET", headers: { ...(init.headers as object), ...asBrowser(mallory) } });
      await expectError(res, 404, "not_found");
    }
    // …and Alice's token is untouched.
    expect((await call("/api/v1/me", { headers: asBearer(token) })).status).toBe(200);
  });
});

describe("updating a token", () => {
  it("changes name, description and scopes, and keeps the secret working", async () => {
    const cookie = await signIn();
    const { id, token } = await issueToken(cookie, { scopes: ["user:read"] });
    const changes = { name: "renamed", description: "for CI", scopes: ["user:read", "tokens:read"] };
    const res = await call(`/api/v1/tokens/${id}`, withHeaders(json(changes, "PATCH"), asBrowser(cookie)));
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ name: "renamed", description: "for CI", scopes: ["user:read", "tokens:read"] });
    expect((await call("/api/v1/tokens", { headers: asBearer(token) })).status).toBe(200);
  });

  it("clears the description with null and keeps other fields when absent", async () => {
    const cookie = await signIn();
    const { id } = await issueToken(cookie, { name: "keep", description: "old" });
    const res = await call(`/api/v1/tokens/${id}`, withHeaders(json({ description: null }, "PATCH"), asBrowser(cookie)));
    expect(await res.json()).toMatchObject({ name: "keep", description: null });
  });

  it("refuses unknown scopes and unknown fields with 400", async () => {
    const cookie = await signIn();
    const { id } = await issueToken(cookie);
    const patch = (body: unknown) => call(`/api/v1/tokens/${id}`, withHeaders(json(body, "PATCH"), asBrowser(cookie)));
    expect((await expectError(await patch({ scopes: ["root"] }), 400)).fields).toEqual([{ path: "scopes.0", message: expect.any(String) }]);
    expect((await expectError(await patch({ expiresAt: inDays(5) }), 400)).fields).toHaveLength(1);
  });

  it("with a token, cannot widen scopes beyond its own", async () => {
    const cookie = await signIn();
    const target = await issueToken(cookie, { scopes: ["user:read"] });
    const { token } = await issueToken(cookie, { scopes: ["tokens:write"] });
    const res = await call(`/api/v1/tokens/${target.id}`, withHeaders(json({ scopes: ["*"] }, "PATCH"), asBearer(token)));
    await expectError(res, 403, "scope_escalation");
  });
});

describe("regenerating a token", () => {
  it("issues a new secret and kills the old one at once", async () => {
    const cookie = await signIn();
    const old = await issueToken(cookie, { scopes: ["user:read"], expiresAt: inDays(10) });
    const res = await call(`/api/v1/tokens/${old.id}/regenerate`, { method: "POST", headers: asBrowser(cookie) });
    expect(res.status).toBe(200);
    const fresh = (await res.json()) as TokenView;
    expect(fresh.id).toBe(old.id);
    expect(fresh.token).toMatch(/^edp_/);
    expect(fresh.token).not.toBe(old.token);
    // Same lifetime (10 days), counted from now.
    expect(Math.abs(Date.parse(fresh.expiresAt) - Date.parse(inDays(10)))).toBeLessThan(60_000);

    await expectError(await call("/api/v1/me", { headers: asBearer(old.token) }), 401, "invalid_token");
    expect((await call("/api/v1/me", { headers: asBearer(fresh.token!) })).status).toBe(200);
  });

  it("takes an optional new expiry, validated like creation", async () => {
    const cookie = await signIn();
    const { id } = await issueToken(cookie);
    const regen = (body: unknown) =>
      call(`/api/v1/tokens/${id}/regenerate`, withHeaders(json(body), asBrowser(cookie)));
    const expiresAt = inDays(200);
    expect(await (await regen({ expiresAt })).json()).toMatchObject({ expiresAt: new Date(expiresAt).toISOString() });
    expect((await expectError(await regen({ expiresAt: inDays(400) }), 400)).fields).toEqual([
      { path: "expiresAt", message: expect.any(String) },
    ]);
  });

  it("revives an expired token for its original lifetime", async () => {
    const cookie = await signIn();
    const { id } = await issueToken(cookie);
    // Issued 31 days ago for 30 days: expired yesterday.
    const day = 86_400_000;
    await env.DB.prepare("UPDATE personal_access_tokens SET issued_at = ?, expires_at = ? WHERE id = ?")
      .bind(Date.now() - 31 * day, Date.now() - day, id)
      .run();
    const regenerate = async () =>
      (await (await call(`/api/v1/tokens/${id}/regenerate`, { method: "POST", headers: asBrowser(cookie) })).json()) as TokenView;
    const fresh = await regenerate();
    expect(Math.abs(Date.parse(fresh.expiresAt) - Date.parse(inDays(30)))).toBeLessThan(60_000);
    expect((await call("/api/v1/me", { headers: asBearer(fresh.token!) })).status).toBe(200);
    // Regenerating again does not stretch the lifetime.
    expect(Math.abs(Date.parse((await regenerate()).expiresAt) - Date.parse(inDays(30)))).toBeLessThan(60_000);
  });
});

describe("deleting a token", () => {
  it("revokes it at once and keeps the row soft-deleted", async () => {
    const cookie = await signIn();
    const { id, token } = await issueToken(cookie);
    const res = await call(`/api/v1/tokens/${id}`, { method: "DELETE", headers: asBrowser(cookie) });
    expect(res.status).toBe(204);
    await expectError(await call("/api/v1/me", { headers: asBearer(token) }), 401, "invalid_token");
    await expectError(await call(`/api/v1/tokens/${id}`, { headers: { cookie } }), 404);
    await expectError(await call(`/api/v1/tokens/${id}`, { method: "DELETE", headers: asBrowser(cookie) }), 404);
    const row = await env.DB.prepare("SELECT deleted_at FROM personal_access_tokens WHERE id = ?").bind(id).first<{ deleted_at: number }>();
    expect(row!.deleted_at).toBeGreaterThan(0);
  });

  it("can be done with the token itself when it holds tokens:write", async () => {
    const cookie = await signIn();
    const { id, token } = await issueToken(cookie, { scopes: ["tokens:write"] });
    expect((await call(`/api/v1/tokens/${id}`, { method: "DELETE", headers: asBearer(token) })).status).toBe(204);
    await expectError(await call("/api/v1/tokens", { headers: asBearer(token) }), 401);
  });
});

describe("audit log", () => {
  it("records create, update, regenerate and delete with actor, request id and IP", async () => {
    const cookie = await signIn();
    const { id } = await issueToken(cookie);
    const headers = asBrowser(cookie, { "cf-connecting-ip": "203.0.113.7", "x-request-id": "audit-test-0001" });
    await call(`/api/v1/tokens/${id}`, withHeaders(json({ name: "renamed" }, "PATCH"), headers));
    await call(`/api/v1/tokens/${id}/regenerate`, { method: "POST", headers });
    await call(`/api/v1/tokens/${id}`, { method: "DELETE", headers });

    const entries = (await securityLog(cookie)).filter((e) => e.targetId === id);
    expect(entries.map((e) => e.action)).toEqual(["token.delete", "token.regenerate", "token.update", "token.create"]);
    for (const entry of entries.slice(0, 3)) expect(entry).toMatchObject({ requestId: "audit-test-0001", ip: "203.0.113.7" });
    expect(JSON.stringify(entries)).not.toMatch(/edp_/);
  });
});
