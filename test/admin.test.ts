import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import { asBearer, call, expectError, issueToken } from "./helpers";
import { as, createOrg, person, type Person } from "./org-helpers";

type Page<T> = { items: T[]; nextCursor: string | null };

// vitest.config.ts sets BOOTSTRAP_ADMIN_EMAIL=root@example.com for the tests.
let admin: Person;

beforeAll(async () => {
  const cookie = (await call("/auth/dev/login?email=root@example.com")).headers.get("set-cookie")!.split(";")[0]!;
  const me = (await (await call("/api/v1/me", { headers: { cookie } })).json()) as { id: string; platformAdmin: boolean };
  expect(me.platformAdmin).toBe(true);
  admin = { id: me.id, email: "root@example.com", cookie };
});

describe("bootstrap admin", () => {
  it("applies only while the install has no admin, and only to that e-mail", async () => {
    const other = await person();
    expect(((await (await as(other, "GET", "/api/v1/me")).json()) as { platformAdmin: boolean }).platformAdmin).toBe(false);
    // Demote, then sign in again as the bootstrap e-mail: promoted back, as no admin remains.
    await env.DB.prepare("UPDATE users SET platform_admin = 0").run();
    await call("/auth/dev/login?email=root@example.com");
    const row = await env.DB.prepare("SELECT platform_admin FROM users WHERE id = ?").bind(admin.id).first<{ platform_admin: number }>();
    expect(row!.platform_admin).toBe(1);
    // With an admin present, the bootstrap e-mail grants nothing to a new account.
    await env.DB.prepare("UPDATE users SET platform_admin = 1 WHERE id = ?").bind(other.id).run();
    await env.DB.prepare("UPDATE users SET platform_admin = 0 WHERE id = ?").bind(admin.id).run();
    await call("/auth/dev/login?email=root@example.com");
    const again = await env.DB.prepare("SELECT platform_admin FROM users WHERE id = ?").bind(admin.id).first<{ platform_admin: number }>();
    expect(again!.platform_admin).toBe(0);
    await env.DB.prepare("UPDATE users SET platform_admin = (id = ?)").bind(admin.id).run();
  });
});

describe("admin API", () => {
  it("is refused to non-admins (403) and anonymous callers (401)", async () => {
    const user = await person();
    for (const path of ["/api/admin/users", "/api/admin/orgs", "/api/admin/metrics"]) {
      await expectError(await as(user, "GET", path), 403, "forbidden");
      await expectError(await call(path), 401);
    }
    await expectError(await as(user, "PATCH", `/api/admin/users/${user.id}`, { blocked: true }), 403);
  });

  it("needs a * token, not a narrower one", async () => {
    const narrow = await issueToken(admin.cookie, { scopes: ["user:write", "orgs:write"] });
    await expectError(await call("/api/admin/metrics", { headers: asBearer(narrow.token) }), 403, "insufficient_scope");
    const full = await issueToken(admin.cookie, { scopes: ["*"] });
    expect((await call("/api/admin/metrics", { headers: asBearer(full.token) })).status).toBe(200);
  });

  it("searches users by e-mail or name, with literal wildcards", async () => {
    const zed = await person("zed_searchable");
    await person("zedXsearchable");
    const found = (await (await as(admin, "GET", "/api/admin/users?q=ZED_SEARCH")).json()) as Page<{ id: string; blocked: boolean }>;
    expect(found.items.map((u) => u.id)).toEqual([zed.id]);
    expect(found.items[0]!.blocked).toBe(false);
  });

  it("searches organizations with their member counts", async () => {
    const owner = await person();
    const org = await createOrg(owner, "Searchable Widgets");
    const found = (await (await as(admin, "GET", "/api/admin/orgs?q=searchable%20widg")).json()) as Page<{ id: string; memberCount: number }>;
    expect(found.items).toEqual([expect.objectContaining({ id: org.id, memberCount: 1 })]);
  });

  it("blocks a user: sessions and tokens stop at once; unblocking restores tokens", async () => {
    const user = await person();
    const { token } = await issueToken(user.cookie);
    const res = await as(admin, "PATCH", `/api/admin/users/${user.id}`, { blocked: true });
    expect(await res.json()).toMatchObject({ id: user.id, blocked: true });
    await expectError(await call("/api/v1/me", { headers: asBearer(token) }), 403, "account_blocked");
    await expectError(await call("/api/v1/me", { headers: { cookie: user.cookie } }), 401);

    await as(admin, "PATCH", `/api/admin/users/${user.id}`, { blocked: false });
    expect((await call("/api/v1/me", { headers: asBearer(token) })).status).toBe(200);
    const log = (await (await as(admin, "GET", "/api/v1/me/audit-logs")).json()) as Page<{ action: string; targetId: string }>;
    expect(log.items.filter((e) => e.action === "admin.user.update" && e.targetId === user.id)).toHaveLength(2);
  });

  it("cannot lock itself out", async () => {
    await expectError(await as(admin, "PATCH", `/api/admin/users/${admin.id}`, { blocked: true }), 409, "self_lockout");
    await expectError(await as(admin, "PATCH", `/api/admin/users/${admin.id}`, { platformAdmin: false }), 409);
    await expectError(await as(admin, "PATCH", "/api/admin/users/usr_nobody", { blocked: true }), 404);
  });

  it("reports counts computed by aggregate queries", async () => {
    const before = (await (await as(admin, "GET", "/api/admin/metrics")).json()) as {
      users: { total: number; blocked: number; platformAdmins: number; activeLast24h: number };
      organizations: { total: number };
      memberships: Record<string, number>;
    };
    const owner = await person();
    await createOrg(owner);
    const blocked = await person();
    await as(admin, "PATCH", `/api/admin/users/${blocked.id}`, { blocked: true });
    const after = (await (await as(admin, "GET", "/api/admin/metrics")).json()) as typeof before;
    expect(after.users.total).toBe(before.users.total + 2);
    expect(after.users.blocked).toBe(before.users.blocked + 1);
    expect(after.users.platformAdmins).toBe(1);
    expect(after.organizations.total).toBe(before.organizations.total + 1);
    expect(after.memberships.owner).toBe((before.memberships.owner ?? 0) + 1);
    expect(after.users.activeLast24h).toBeGreaterThanOrEqual(2);

    // Workspaces by phase and runners, from the rows the Durable Objects write through.
    const org = await createOrg(owner);
    await as(owner, "POST", `/api/v1/orgs/${org.id}/runners`, { name: "idle" });
    await as(owner, "POST", "/api/v1/workspaces", { contextUrl: "https://github.com/acme/app", organizationId: org.id });
    const last = (await (await as(admin, "GET", "/api/admin/metrics")).json()) as typeof before & {
      workspaces: Record<string, number>;
      runners: { total: number; connected: number };
    };
    expect(last.workspaces.pending).toBe(((before as typeof last).workspaces.pending ?? 0) + 1);
    expect(last.runners).toEqual({ total: (before as typeof last).runners.total + 1, connected: (before as typeof last).runners.connected });
  });
});
