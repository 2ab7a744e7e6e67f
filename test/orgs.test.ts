import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { asBearer, call, expectError, issueToken } from "./helpers";
import { as, createOrg, createTeam, invite, join, person, world } from "./org-helpers";

type Page<T> = { items: T[]; nextCursor: string | null };
type Org = { id: string; name: string; slug: string; role: string; settings: Record<string, unknown> };
type Member = { userId: string; email: string; role: string; joinedAt: string };
type AuditEntry = { action: string; actorId: string; targetId: string; before: unknown; after: unknown; requestId: string; ip: string };

const body = async <T>(res: Response) => (await res.json()) as T;

describe("organizations", () => {
  it("are created with their creator as owner and default settings", async () => {
    const owner = await person("owner");
    const res = await as(owner, "POST", "/api/v1/orgs", { name: "Acme Corp!" });
    expect(res.status).toBe(201);
    const org = await body<Org>(res);
    expect(org).toMatchObject({ name: "Acme Corp!", role: "owner" });
    expect(org.slug).toMatch(/^acme-corp/);
    expect(org.settings).toEqual({
      defaultWorkspaceImage: null,
      defaultWorkspaceTimeoutMinutes: 30,
      maxWorkspaceTimeoutMinutes: 480,
      allowedEditors: [],
      membersCanShareWorkspaces: true,
      allowedScmHosts: [],
      maintenanceMode: false,
      requireSso: false,
    });
    const members = await body<Page<Member>>(await as(owner, "GET", `/api/v1/orgs/${org.id}/members`));
    expect(members.items).toEqual([{ userId: owner.id, email: owner.email, name: expect.any(String), avatarUrl: null, role: "owner", joinedAt: expect.any(String) }]);
  });

  it("refuse a taken slug with 409 and a bad one with 400", async () => {
    const owner = await person();
    const slug = `taken-${Date.now()}`;
    expect((await as(owner, "POST", "/api/v1/orgs", { name: "A", slug })).status).toBe(201);
    await expectError(await as(owner, "POST", "/api/v1/orgs", { name: "B", slug }), 409, "slug_taken");
    for (const bad of ["A", "-x", "x-", "has space", "UPPER", "x".repeat(41)]) {
      const error = await expectError(await as(owner, "POST", "/api/v1/orgs", { name: "C", slug: bad }), 400);
      expect(error.fields).toContainEqual({ path: "slug", message: expect.any(String) });
    }
    await expectError(await as(owner, "POST", "/api/v1/orgs", { name: "!!!" }), 400);
  });

  it("list the caller's own, with role, paginated", async () => {
    const alice = await person();
    const bob = await person();
    const mine = [await createOrg(alice), await createOrg(alice), await createOrg(alice)];
    const shared = await createOrg(bob);
    await join(alice, (await invite(bob, shared.id, "collaborator")).code);
    await createOrg(bob);

    const first = await body<Page<Org>>(await as(alice, "GET", "/api/v1/orgs?limit=3"));
    const second = await body<Page<Org>>(await as(alice, "GET", `/api/v1/orgs?limit=3&cursor=${first.nextCursor}`));
    const all = [...first.items, ...second.items];
    expect(second.nextCursor).toBeNull();
    expect(all.map((o) => o.id).sort()).toEqual([...mine.map((o) => o.id), shared.id].sort());
    expect(all.find((o) => o.id === shared.id)!.role).toBe("collaborator");
  });

  it("merge settings changes, validate them as a whole, and audit them", async () => {
    const owner = await person();
    const org = await createOrg(owner);
    const res = await as(owner, "PATCH", `/api/v1/orgs/${org.id}`, {
      settings: { maintenanceMode: true, allowedEditors: ["vscode", "jetbrains"], defaultWorkspaceImage: "node:22" },
    });
    expect((await body<Org>(res)).settings).toMatchObject({
      maintenanceMode: true,
      allowedEditors: ["vscode", "jetbrains"],
      defaultWorkspaceImage: "node:22",
      defaultWorkspaceTimeoutMinutes: 30,
    });
    const inconsistent = await as(owner, "PATCH", `/api/v1/orgs/${org.id}`, { settings: { defaultWorkspaceTimeoutMinutes: 600 } });
    expect((await expectError(inconsistent, 400)).fields).toEqual([
      { path: "settings.defaultWorkspaceTimeoutMinutes", message: expect.any(String) },
    ]);
    for (const settings of [{ allowedScmHosts: ["not a host"] }, { maintenanceMode: "yes" }, { unknownSetting: 1 }]) {
      await expectError(await as(owner, "PATCH", `/api/v1/orgs/${org.id}`, { settings }), 400);
    }
    const log = await body<Page<AuditEntry>>(await as(owner, "GET", `/api/v1/orgs/${org.id}/audit-logs?action=org.settings.update`));
    expect(log.items).toHaveLength(1);
    expect(log.items[0]!.before).toEqual({
      "settings.maintenanceMode": false,
      "settings.allowedEditors": [],
      "settings.defaultWorkspaceImage": null,
    });
  });

  it("deletion removes members, invitations and teams, and is audited", async () => {
    const w = await world();
    const res = await as(w.owner, "DELETE", `/api/v1/orgs/${w.org.id}`);
    expect(res.status).toBe(204);
    await expectError(await as(w.owner, "GET", `/api/v1/orgs/${w.org.id}`), 404);
    await expectError(await as(w.member, "GET", `/api/v1/orgs/${w.org.id}`), 404);
    await expectError(await as(w.outsider, "POST", `/api/v1/invitations/${w.invitation.code}/accept`), 404);
    const left = await env.DB.prepare(
      "SELECT (SELECT count(*) FROM org_members WHERE org_id = ?1) + (SELECT count(*) FROM invitations WHERE org_id = ?1) + (SELECT count(*) FROM teams WHERE org_id = ?1) AS n, (SELECT count(*) FROM audit_logs WHERE org_id = ?1 AND action = 'org.delete') AS audited",
    )
      .bind(w.org.id)
      .first();
    expect(left).toEqual({ n: 0, audited: 1 });
  });
});

describe("members", () => {
  it("list with role and join time, paginated in join order", async () => {
    const w = await world();
    const first = await body<Page<Member>>(await as(w.member, "GET", `/api/v1/orgs/${w.org.id}/members?limit=4`));
    const second = await body<Page<Member>>(await as(w.member, "GET", `/api/v1/orgs/${w.org.id}/members?limit=4&cursor=${first.nextCursor}`));
    const all = [...first.items, ...second.items];
    expect(all.map((m) => m.userId)).toEqual([w.owner.id, w.member.id, w.teamMember.id, w.target.id, w.blocked.id, w.collaborator.id]);
    expect(all.map((m) => m.role)).toEqual(["owner", "member", "member", "member", "member", "collaborator"]);
    expect(new Set(all.map((m) => m.joinedAt)).size).toBeGreaterThan(1);
    expect(Date.parse(all[0]!.joinedAt)).toBeLessThanOrEqual(Date.parse(all[5]!.joinedAt));
  });

  it("role changes are audited with before and after", async () => {
    const w = await world();
    const res = await call(`/api/v1/orgs/${w.org.id}/members/${w.member.id}`, {
      method: "PATCH",
      body: JSON.stringify({ role: "owner" }),
      headers: { "content-type": "application/json", cookie: w.owner.cookie, origin: "https://edgepod.test", "cf-connecting-ip": "198.51.100.4", "x-request-id": "role-change-0001" },
    });
    expect(await body<Member>(res)).toMatchObject({ userId: w.member.id, role: "owner" });
    const log = await body<Page<AuditEntry>>(await as(w.owner, "GET", `/api/v1/orgs/${w.org.id}/audit-logs?action=member.role.update&actor=${w.owner.id}`));
    expect(log.items).toEqual([
      expect.objectContaining({
        actorId: w.owner.id,
        targetId: w.member.id,
        before: { role: "member" },
        after: { role: "owner" },
        requestId: "role-change-0001",
        ip: "198.51.100.4",
      }),
    ]);
  });

  it("the last owner cannot be demoted, removed or leave; a second owner unblocks it", async () => {
    const w = await world();
    const self = `/api/v1/orgs/${w.org.id}/members/${w.owner.id}`;
    await expectError(await as(w.owner, "PATCH", self, { role: "member" }), 409, "last_owner");
    await expectError(await as(w.owner, "DELETE", self), 409, "last_owner");
    await expectError(await as(w.owner, "DELETE", "/api/v1/me"), 409, "last_owner");

    await as(w.owner, "PATCH", `/api/v1/orgs/${w.org.id}/members/${w.member.id}`, { role: "owner" });
    expect((await as(w.owner, "DELETE", self)).status).toBe(204);
    await expectError(await as(w.owner, "GET", `/api/v1/orgs/${w.org.id}`), 404);
    await expectError(await as(w.member, "PATCH", `/api/v1/orgs/${w.org.id}/members/${w.member.id}`, { role: "member" }), 409, "last_owner");
  });

  it("anyone can leave, and leaving drops their team memberships", async () => {
    const w = await world();
    expect((await as(w.teamMember, "DELETE", `/api/v1/orgs/${w.org.id}/members/${w.teamMember.id}`)).status).toBe(204);
    await expectError(await as(w.teamMember, "GET", `/api/v1/orgs/${w.org.id}`), 404);
    const team = await body<Page<{ userId: string }>>(await as(w.owner, "GET", `/api/v1/orgs/${w.org.id}/teams/${w.team.id}/members`));
    expect(team.items.map((m) => m.userId)).toEqual([w.target.id]);
    expect((await as(w.collaborator, "DELETE", `/api/v1/orgs/${w.org.id}/members/${w.collaborator.id}`)).status).toBe(204);
    const log = await body<Page<AuditEntry>>(await as(w.owner, "GET", `/api/v1/orgs/${w.org.id}/audit-logs?action=member.leave`));
    expect(log.items.map((e) => e.actorId).sort()).toEqual([w.teamMember.id, w.collaborator.id].sort());
  });

  it("removing an unknown member is a 404", async () => {
    const w = await world();
    await expectError(await as(w.owner, "DELETE", `/api/v1/orgs/${w.org.id}/members/${w.outsider.id}`), 404);
    await expectError(await as(w.owner, "PATCH", `/api/v1/orgs/${w.org.id}/members/${w.outsider.id}`, { role: "owner" }), 404);
  });
});

describe("invitations", () => {
  it("add the accepting user with the invitation's role; accepting again changes nothing", async () => {
    const owner = await person();
    const org = await createOrg(owner);
    const { code, acceptPath } = await invite(owner, org.id, "collaborator");
    const guest = await person("guest");
    const first = await as(guest, "POST", acceptPath);
    expect(await body(first)).toEqual({ organization: { id: org.id, name: org.name, slug: org.slug }, role: "collaborator", joined: true });
    const again = await as(guest, "POST", `/api/v1/invitations/${code}/accept`);
    expect(await body(again)).toMatchObject({ role: "collaborator", joined: false });
    const members = await body<Page<Member>>(await as(owner, "GET", `/api/v1/orgs/${org.id}/members`));
    expect(members.items.filter((m) => m.userId === guest.id)).toHaveLength(1);
  });

  it("do not change an existing member's role", async () => {
    const owner = await person();
    const org = await createOrg(owner);
    const { code } = await invite(owner, org.id, "collaborator");
    expect(await body(await as(owner, "POST", `/api/v1/invitations/${code}/accept`))).toMatchObject({ role: "owner", joined: false });
  });

  it("store only a hash of the code and never list it", async () => {
    const owner = await person();
    const org = await createOrg(owner);
    const { code } = await invite(owner, org.id);
    expect(code).toMatch(/^[a-z2-7]{32}$/);
    const listed = await (await as(owner, "GET", `/api/v1/orgs/${org.id}/invitations`)).text();
    expect(listed).not.toContain(code);
    const raw = await env.DB.prepare("SELECT * FROM invitations WHERE org_id = ?").bind(org.id).all();
    expect(JSON.stringify(raw.results)).not.toContain(code);
  });

  it("expire, can be revoked, and reset to a new code that kills the old one", async () => {
    const owner = await person();
    const org = await createOrg(owner);
    const expiring = await invite(owner, org.id);
    await env.DB.prepare("UPDATE invitations SET expires_at = ? WHERE id = ?").bind(Date.now() - 1, expiring.id).run();
    await expectError(await as(await person(), "POST", expiring.acceptPath), 410, "invitation_expired");

    const reset = await body<{ code: string; expiresAt: string }>(
      await as(owner, "POST", `/api/v1/orgs/${org.id}/invitations/${expiring.id}/reset`, { expiresInDays: 2 }),
    );
    expect(Math.abs(Date.parse(reset.expiresAt) - (Date.now() + 2 * 86_400_000))).toBeLessThan(60_000);
    await expectError(await as(await person(), "POST", expiring.acceptPath), 404);
    expect((await as(await person(), "POST", `/api/v1/invitations/${reset.code}/accept`)).status).toBe(200);

    const revoked = await invite(owner, org.id);
    expect((await as(owner, "DELETE", `/api/v1/orgs/${org.id}/invitations/${revoked.id}`)).status).toBe(204);
    await expectError(await as(await person(), "POST", revoked.acceptPath), 404);

    const log = await body<Page<AuditEntry>>(await as(owner, "GET", `/api/v1/orgs/${org.id}/audit-logs?limit=100`));
    expect(log.items.map((e) => e.action)).toEqual(
      expect.arrayContaining(["invitation.create", "invitation.reset", "invitation.revoke", "member.join"]),
    );
  });

  it("validate role and expiry", async () => {
    const owner = await person();
    const org = await createOrg(owner);
    for (const bad of [{ role: "admin" }, { expiresInDays: 0 }, { expiresInDays: 31 }, { role: "member", extra: 1 }]) {
      await expectError(await as(owner, "POST", `/api/v1/orgs/${org.id}/invitations`, bad), 400);
    }
  });

  it("need a signed-in user to accept", async () => {
    const owner = await person();
    const org = await createOrg(owner);
    const { acceptPath } = await invite(owner, org.id);
    await expectError(await call(acceptPath, { method: "POST" }), 401);
  });
});

describe("collaborators", () => {
  it("see the organization but not its members or teams", async () => {
    const w = await world();
    expect((await as(w.collaborator, "GET", `/api/v1/orgs/${w.org.id}`)).status).toBe(200);
    await expectError(await as(w.collaborator, "GET", `/api/v1/orgs/${w.org.id}/members`), 403, "forbidden");
    await expectError(await as(w.collaborator, "GET", `/api/v1/orgs/${w.org.id}/teams`), 403, "forbidden");
  });
});

describe("teams", () => {
  it("are created, renamed, listed and deleted by owners, with unique names", async () => {
    const owner = await person();
    const org = await createOrg(owner);
    const team = await createTeam(owner, org.id, "backend");
    await createTeam(owner, org.id, "frontend");
    await expectError(await as(owner, "POST", `/api/v1/orgs/${org.id}/teams`, { name: "backend" }), 409, "team_name_taken");
    await expectError(await as(owner, "PATCH", `/api/v1/orgs/${org.id}/teams/${team.id}`, { name: "frontend" }), 409);
    expect(await body(await as(owner, "PATCH", `/api/v1/orgs/${org.id}/teams/${team.id}`, { name: "platform" }))).toMatchObject({ name: "platform" });
    const list = await body<Page<{ name: string }>>(await as(owner, "GET", `/api/v1/orgs/${org.id}/teams`));
    expect(list.items.map((t) => t.name).sort()).toEqual(["frontend", "platform"]);
    expect((await as(owner, "DELETE", `/api/v1/orgs/${org.id}/teams/${team.id}`)).status).toBe(204);
    await expectError(await as(owner, "GET", `/api/v1/orgs/${org.id}/teams/${team.id}`), 404);
  });

  it("take only organization members, once each", async () => {
    const w = await world();
    const path = (userId: string) => `/api/v1/orgs/${w.org.id}/teams/${w.team.id}/members/${userId}`;
    await expectError(await as(w.owner, "PUT", path(w.outsider.id)), 404);
    expect((await as(w.owner, "PUT", path(w.member.id))).status).toBe(204);
    expect((await as(w.owner, "PUT", path(w.member.id))).status).toBe(204);
    const members = await body<Page<{ userId: string }>>(await as(w.member, "GET", `/api/v1/orgs/${w.org.id}/teams/${w.team.id}/members`));
    expect(members.items.map((m) => m.userId)).toEqual([w.teamMember.id, w.target.id, w.member.id]);
    expect((await as(w.owner, "DELETE", path(w.member.id))).status).toBe(204);
    await expectError(await as(w.owner, "DELETE", path(w.member.id)), 404);
  });

  it("of another organization are not found", async () => {
    const w = await world();
    const other = await createOrg(w.otherOwner);
    const theirs = await createTeam(w.otherOwner, other.id, "theirs");
    await expectError(await as(w.owner, "GET", `/api/v1/orgs/${w.org.id}/teams/${theirs.id}`), 404);
    await expectError(await as(w.owner, "GET", `/api/v1/orgs/${other.id}/teams/${theirs.id}`), 404);
    await expectError(await as(w.owner, "PUT", `/api/v1/orgs/${other.id}/teams/${theirs.id}/members/${w.owner.id}`), 404);
  });
});

describe("audit log", () => {
  it("is for owners, paginated, and filterable by action and actor", async () => {
    const w = await world();
    const path = `/api/v1/orgs/${w.org.id}/audit-logs`;
    await expectError(await as(w.member, "GET", path), 403);
    await expectError(await as(w.outsider, "GET", path), 404);
    const joins = await body<Page<AuditEntry>>(await as(w.owner, "GET", `${path}?action=member.join&limit=2`));
    expect(joins.items).toHaveLength(2);
    const rest = await body<Page<AuditEntry>>(await as(w.owner, "GET", `${path}?action=member.join&limit=10&cursor=${joins.nextCursor}`));
    expect(joins.items.length + rest.items.length).toBe(5);
    const byMember = await body<Page<AuditEntry>>(await as(w.owner, "GET", `${path}?actor=${w.member.id}`));
    expect(byMember.items.map((e) => e.action)).toEqual(["member.join"]);
  });

  it("is readable with an orgs:read token", async () => {
    const w = await world();
    expect((await call(`/api/v1/orgs/${w.org.id}/audit-logs`, { headers: asBearer(w.readOnlyToken) })).status).toBe(200);
    const writer = await issueToken(w.owner.cookie, { scopes: ["orgs:write"] });
    expect((await call(`/api/v1/orgs/${w.org.id}`, { headers: asBearer(writer.token) })).status).toBe(200);
  });
});
