import { describe, expect, it } from "vitest";
import { authorize, can, PERMISSIONS, RELATIONS, type OrgPolicy, type Permission, type Relation } from "../src/auth/permissions";
import { ApiError } from "../src/lib/errors";

/**
 * The intended rules, written out by hand: who may do what. The model in
 * src/auth/permissions.ts must agree with this table for every relation of every resource.
 */
const SPEC: Record<Permission, readonly string[]> = {
  "platform.admin": ["admin"],
  "org.create": ["user"],
  "org.list": ["user"],
  "invitation.accept": ["user"],
  "user.read": ["self"],
  "user.update": ["self"],
  "token.read": ["owner"],
  "token.write": ["owner"],
  "org.read": ["owner", "member", "collaborator"],
  "org.update": ["owner"],
  "org.delete": ["owner"],
  "org.leave": ["owner", "member", "collaborator"],
  "org.members.read": ["owner", "member"],
  "org.members.manage": ["owner"],
  "org.invitations.manage": ["owner"],
  "org.audit.read": ["owner"],
  "org.teams.read": ["owner", "member"],
  "org.teams.create": ["owner"],
  "org.workspaces.create": ["owner", "member"],
  "org.workspaces.list": ["owner"],
  "org.runners.read": ["owner", "member"],
  "org.runners.manage": ["owner"],
  "org.sso.read": ["owner"],
  "org.sso.manage": ["owner"],
  "org.projects.read": ["owner", "member", "collaborator"],
  "org.projects.create": ["owner"],
  "team.read": ["member", "parent->owner", "parent->member"],
  "team.manage": ["parent->owner"],
  "project.read": ["team_reader", "team_writer", "parent->owner", "parent->member"],
  "project.write": ["team_writer", "parent->owner"],
  "project.delete": ["parent->owner"],
  "project.prebuilds.read": ["team_reader", "team_writer", "parent->owner", "parent->member"],
  "project.prebuilds.run": ["team_writer", "parent->owner", "parent->member"],
  "workspace.read": ["owner", "shared", "parent->owner"],
  "workspace.start": ["owner"],
  "workspace.use": ["owner"],
  "workspace.stop": ["owner", "parent->owner"],
  "workspace.delete": ["owner", "parent->owner"],
  "runner.manage": ["parent->owner"],
};

const everything = { scopes: ["*"] };

/** An organization's policy when it does not require single sign-on. */
const open = (role: OrgPolicy["role"]): OrgPolicy => ({ orgId: "org_a", slug: "acme", requireSso: false, role });

const refusal = (fn: () => void) => {
  try {
    fn();
  } catch (error) {
    return error instanceof ApiError ? `${error.status} ${error.code}` : String(error);
  }
  return "allowed";
};

describe("permission model", () => {
  it("covers exactly the specified permissions", () => {
    expect(Object.keys(PERMISSIONS).sort()).toEqual(Object.keys(SPEC).sort());
  });

  const cases = (Object.keys(SPEC) as Permission[]).flatMap((permission) => {
    const relations = RELATIONS[PERMISSIONS[permission].on] as readonly Relation[];
    return [...relations.map((r) => [permission, r] as const), [permission, "none"] as const];
  });

  it.each(cases)("%s with relation %s", (permission, relation) => {
    const held = new Set<Relation>(relation === "none" ? [] : [relation]);
    expect(can(everything, permission, held)).toBe(SPEC[permission].includes(relation));
  });

  it("needs the permission's scope as well as the relation", () => {
    const owner = new Set<Relation>(["owner"]);
    expect(can({ scopes: ["orgs:read"] }, "org.read", owner)).toBe(true);
    expect(can({ scopes: ["orgs:read"] }, "org.update", owner)).toBe(false);
    expect(can({ scopes: ["orgs:write"] }, "org.read", owner)).toBe(true);
    expect(can({ scopes: ["workspaces:write"] }, "org.read", owner)).toBe(false);
    expect(can({ scopes: ["orgs:write"] }, "platform.admin", new Set<Relation>(["admin"]))).toBe(false);
  });

  describe("authorize", () => {

    it("hides resources the subject has no relation to (404)", () => {
      expect(refusal(() => authorize(everything, "org.read", new Set(), "Organization"))).toBe("404 not_found");
    });

    it("refuses a related subject without the permission (403)", () => {
      expect(refusal(() => authorize(everything, "org.update", new Set<Relation>(["member"]), "Organization", open("member")))).toBe("403 forbidden");
    });

    it("refuses a missing scope before looking at relations (403 insufficient_scope)", () => {
      expect(refusal(() => authorize({ scopes: ["user:read"] }, "org.read", new Set(), "Organization"))).toBe("403 insufficient_scope");
    });

    it("allows what can allows", () => {
      expect(refusal(() => authorize(everything, "team.read", new Set<Relation>(["parent->member"]), "Team", open("member")))).toBe("allowed");
    });
  });

  describe("an organization's single sign-on requirement", () => {
    const strict = (role: OrgPolicy["role"]): OrgPolicy => ({ orgId: "org_a", slug: "acme", requireSso: true, role });
    const member = new Set<Relation>(["member"]);
    const check = (subject: Parameters<typeof authorize>[0], permission: Permission, relations: Set<Relation>, policy?: OrgPolicy) =>
      refusal(() => authorize(subject, permission, relations, "Organization", policy));

    it("refuses subjects that did not come through it (403 sso_required), whatever they may otherwise do", () => {
      expect(check(everything, "org.read", member, strict("member"))).toBe("403 sso_required");
      expect(check({ scopes: ["*"], ssoOrgId: "org_b" }, "org.read", member, strict("member"))).toBe("403 sso_required");
      expect(check(everything, "org.update", member, strict("member"))).toBe("403 sso_required");
      expect(check(everything, "workspace.stop", new Set<Relation>(["owner"]), strict(null))).toBe("403 sso_required");
    });

    it("admits subjects that came through it, and owners (break-glass)", () => {
      expect(check({ scopes: ["*"], ssoOrgId: "org_a" }, "org.read", member, strict("member"))).toBe("allowed");
      expect(check({ scopes: ["*"], ssoOrgId: "org_a" }, "org.update", member, strict("member"))).toBe("403 forbidden");
      expect(check(everything, "org.update", new Set<Relation>(["owner"]), strict("owner"))).toBe("allowed");
      expect(check(everything, "org.read", member, { ...strict("member"), requireSso: false })).toBe("allowed");
    });

    it("leaks nothing to subjects without a relation, and checks scopes first", () => {
      expect(check(everything, "org.read", new Set(), strict(null))).toBe("404 not_found");
      expect(check({ scopes: ["user:read"] }, "org.read", member, strict("member"))).toBe("403 insufficient_scope");
    });

    it("cannot be skipped: a resource inside an organization needs its policy", () => {
      expect(check(everything, "org.read", member)).toMatch(/needs the organization's policy/);
      expect(refusal(() => authorize({ scopes: ["*"] }, "platform.admin", new Set<Relation>(["admin"]), "Resource"))).toBe("allowed");
    });
  });
});
