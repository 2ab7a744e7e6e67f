import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { createApp } from "../src/app";
import { asBearer, asBrowser, call, expectError, issueToken, signIn } from "./helpers";

describe("request id", () => {
  it("echoes a sane incoming id", async () => {
    const res = await call("/health", { headers: { "x-request-id": "trace-1234.abc:9" } });
    expect(res.headers.get("x-request-id")).toBe("trace-1234.abc:9");
  });

  it("replaces an insane incoming id", async () => {
    for (const bad of ["short", "has space here", "x".repeat(200), "evil\"json"]) {
      const res = await call("/health", { headers: { "x-request-id": bad } });
      expect(res.headers.get("x-request-id")).toMatch(/^[0-9a-f-]{36}$/);
    }
  });

  it("puts the request id in error bodies", async () => {
    const res = await call("/api/v1/me", { headers: { "x-request-id": "req-abcdefgh" } });
    expect((await expectError(res, 401)).requestId).toBe("req-abcdefgh");
  });
});

describe("security headers", () => {
  it("locks down API responses", async () => {
    const res = await call("/health");
    expect(res.headers.get("content-security-policy")).toBe("default-src 'none'; frame-ancestors 'none'");
    expect(res.headers.get("strict-transport-security")).toContain("max-age=63072000");
    expect(res.headers.get("x-content-type-options")).toBe("nosniff");
    expect(res.headers.get("x-frame-options")).toBe("DENY");
    expect(res.headers.get("referrer-policy")).toBe("strict-origin-when-cross-origin");
  });

  it("sets them on errors too", async () => {
    const res = await call("/no/such/route");
    expect(res.headers.get("x-frame-options")).toBe("DENY");
    expect(res.headers.get("x-request-id")).toBeTruthy();
  });
});

describe("errors", () => {
  it("answers unknown routes with 404 in the error shape", async () => {
    const error = await expectError(await call("/no/such/route"), 404, "not_found");
    expect(error.message).toContain("/no/such/route");
  });

  it("answers malformed JSON with 400 and the failing field", async () => {
    const cookie = await signIn();
    const res = await call("/api/v1/me", {
      method: "PATCH",
      body: "{not json",
      headers: { "content-type": "application/json", ...asBrowser(cookie) },
    });
    expect((await expectError(res, 400, "invalid_request")).fields).toEqual([
      { path: "body", message: expect.any(String) },
    ]);
  });

  it("answers a non-JSON body with 400 naming the content type", async () => {
    const cookie = await signIn();
    const res = await call("/api/v1/me", {
      method: "PATCH",
      body: "name=Mallory",
      headers: { "content-type": "application/x-www-form-urlencoded", ...asBrowser(cookie) },
    });
    expect((await expectError(res, 400)).fields).toEqual([{ path: "content-type", message: expect.any(String) }]);
  });

  it("checks authentication before the body", async () => {
    const res = await call("/api/v1/tokens", { method: "POST", body: "x=1", headers: { "content-type": "text/plain" } });
    await expectError(res, 401, "unauthenticated");
  });

  it("maps an unexpected failure to 500 without internals", async () => {
    const cookie = await signIn();
    const { token } = await issueToken(cookie);
    const broken = { ...env, DB: undefined as unknown as D1Database };
    const ctx = { waitUntil() {}, passThroughOnException() {}, props: {} } as unknown as ExecutionContext;
    const res = await createApp().request("/api/v1/me", { headers: asBearer(token) }, broken, ctx);
    const error = await expectError(res, 500, "internal_error");
    expect(JSON.stringify(error)).not.toMatch(/stack|TypeError|undefined|at /i);
  });
});

describe("health", () => {
  it("reports liveness without touching D1", async () => {
    const res = await createApp().request("/health", {}, { ...env, DB: undefined });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ status: "ok" });
  });

  it("reports readiness when D1 answers", async () => {
    const res = await call("/readyz");
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ status: "ok" });
  });

  it("reports unreadiness when D1 fails", async () => {
    const failing = { prepare: () => ({ first: () => Promise.reject(new Error("D1 down")) }) };
    const res = await createApp().request("/readyz", {}, { ...env, DB: failing });
    expect(res.status).toBe(503);
    expect(await res.json()).toEqual({ status: "unavailable" });
  });

  it("publishes the public configuration", async () => {
    const res = await call("/api/config");
    expect(await res.json()).toEqual({ devLogin: true, authProviders: ["github", "gitlab", "bitbucket", "google", "oidc"] });
  });
});

describe("OpenAPI document", () => {
  type Operation = { responses: Record<string, unknown>; security?: unknown[]; description?: string };
  const load = async () =>
    (await (await call("/openapi.json")).json()) as {
      openapi: string;
      paths: Record<string, Record<string, Operation>>;
      components: { securitySchemes: Record<string, { type: string; in?: string; name?: string; scheme?: string }> };
    };

  it("is OpenAPI 3.1 with the bearer and cookie schemes", async () => {
    const doc = await load();
    expect(doc.openapi).toBe("3.1.0");
    expect(doc.components.securitySchemes.bearer).toMatchObject({ type: "http", scheme: "bearer" });
    expect(doc.components.securitySchemes.session).toMatchObject({
      type: "apiKey",
      in: "cookie",
      name: "__Host-edgepod_session",
    });
  });

  it("documents every route of the contract", async () => {
    const doc = await load();
    const operations = Object.entries(doc.paths).flatMap(([path, ops]) =>
      Object.keys(ops).map((method) => `${method.toUpperCase()} ${path}`),
    );
    expect(operations.sort()).toEqual(
      [
        "GET /health",
        "GET /readyz",
        "GET /api/config",
        "GET /auth/dev/login",
        "GET /auth/{provider}/login",
        "GET /auth/{provider}/callback",
        "POST /auth/logout",
        "GET /api/v1/me",
        "PATCH /api/v1/me",
        "DELETE /api/v1/me",
        "GET /api/v1/me/audit-logs",
        "GET /api/v1/me/identities",
        "DELETE /api/v1/me/identities/{id}",
        "POST /api/v1/tokens",
        "GET /api/v1/tokens",
        "GET /api/v1/tokens/{id}",
        "PATCH /api/v1/tokens/{id}",
        "DELETE /api/v1/tokens/{id}",
        "POST /api/v1/tokens/{id}/regenerate",
        "POST /api/v1/orgs",
        "GET /api/v1/orgs",
        "GET /api/v1/orgs/{orgId}",
        "PATCH /api/v1/orgs/{orgId}",
        "DELETE /api/v1/orgs/{orgId}",
        "GET /api/v1/orgs/{orgId}/audit-logs",
        "GET /api/v1/orgs/{orgId}/members",
        "PATCH /api/v1/orgs/{orgId}/members/{userId}",
        "DELETE /api/v1/orgs/{orgId}/members/{userId}",
        "POST /api/v1/orgs/{orgId}/invitations",
        "GET /api/v1/orgs/{orgId}/invitations",
        "DELETE /api/v1/orgs/{orgId}/invitations/{invitationId}",
        "POST /api/v1/orgs/{orgId}/invitations/{invitationId}/reset",
        "POST /api/v1/invitations/{code}/accept",
        "GET /api/v1/orgs/{orgId}/teams",
        "POST /api/v1/orgs/{orgId}/teams",
        "GET /api/v1/orgs/{orgId}/teams/{teamId}",
        "PATCH /api/v1/orgs/{orgId}/teams/{teamId}",
        "DELETE /api/v1/orgs/{orgId}/teams/{teamId}",
        "GET /api/v1/orgs/{orgId}/teams/{teamId}/members",
        "PUT /api/v1/orgs/{orgId}/teams/{teamId}/members/{userId}",
        "DELETE /api/v1/orgs/{orgId}/teams/{teamId}/members/{userId}",
        "GET /api/v1/orgs/{orgId}/sso",
        "PUT /api/v1/orgs/{orgId}/sso",
        "DELETE /api/v1/orgs/{orgId}/sso",
        "POST /api/v1/orgs/{orgId}/sso/test",
        "POST /api/v1/orgs/{orgId}/sso/activate",
        "GET /auth/sso/{orgSlug}/login",
        "GET /auth/sso/{orgSlug}/test",
        "GET /auth/sso/{orgSlug}/callback",
        "GET /api/admin/users",
        "PATCH /api/admin/users/{id}",
        "GET /api/admin/orgs",
        "GET /api/admin/metrics",
        "POST /api/v1/workspaces",
        "GET /api/v1/workspaces",
        "GET /api/v1/workspaces/{id}",
        "DELETE /api/v1/workspaces/{id}",
        "POST /api/v1/workspaces/{id}/start",
        "POST /api/v1/workspaces/{id}/stop",
        "POST /api/v1/workspaces/{id}/heartbeat",
        "GET /api/v1/workspaces/{id}/events",
        "POST /api/v1/orgs/{orgId}/runners",
        "GET /api/v1/orgs/{orgId}/runners",
        "DELETE /api/v1/runners/{id}",
        "POST /api/v1/runners/{id}/tokens",
        "DELETE /api/v1/runners/{id}/tokens/{tokenId}",
        "GET /api/v1/runners/connect",
        "POST /api/v1/orgs/{orgId}/projects",
        "GET /api/v1/orgs/{orgId}/projects",
        "GET /api/v1/projects/{projectId}",
        "PATCH /api/v1/projects/{projectId}",
        "DELETE /api/v1/projects/{projectId}",
        "GET /api/v1/orgs/{orgId}/teams/{teamId}/projects",
        "PUT /api/v1/orgs/{orgId}/teams/{teamId}/projects/{projectId}",
        "DELETE /api/v1/orgs/{orgId}/teams/{teamId}/projects/{projectId}",
        "GET /api/v1/projects/{projectId}/prebuilds",
        "POST /api/v1/projects/{projectId}/prebuilds",
        "GET /api/v1/prebuilds/{id}",
        "POST /api/v1/prebuilds/{id}/cancel",
        "GET /api/v1/prebuilds/{id}/events",
        "POST /webhooks/github",
        "POST /webhooks/gitlab",
        "POST /webhooks/bitbucket",
      ].sort(),
    );
  });

  it("marks every /api/v1 and /api/admin route as secured, with its scope and 401/403 responses", async () => {
    const doc = await load();
    const userRoutes = Object.entries(doc.paths).filter(([p]) => /^\/api\/(v1|admin)\//.test(p) && p !== "/api/v1/runners/connect");
    for (const [path, ops] of userRoutes) {
      for (const [method, op] of Object.entries(ops)) {
        expect(op.security, `${method} ${path}`).toEqual([{ bearer: [] }, { session: [] }]);
        expect(op.description, `${method} ${path}`).toMatch(/Requires scope `[a-z*:]+` \(permission `[a-z.]+`\)/);
        expect(Object.keys(op.responses), `${method} ${path}`).toEqual(expect.arrayContaining(["401", "403"]));
      }
    }
  });

  it("secures the runner connection with the runner token scheme", async () => {
    const doc = await load();
    expect(doc.paths["/api/v1/runners/connect"]!.get!.security).toEqual([{ runnerToken: [] }]);
    expect(doc.components.securitySchemes.runnerToken).toMatchObject({ type: "http", scheme: "bearer" });
  });

  it("serves an interactive reference at /docs", async () => {
    const res = await call("/docs");
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toContain("text/html");
    expect(await res.text()).toContain("/openapi.json");
    expect(res.headers.get("content-security-policy")).toContain("cdn.jsdelivr.net");
  });
});
