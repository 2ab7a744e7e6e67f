import { describe, expect, it } from "vitest";
import { authorize, can, PERMISSIONS, RELATIONS, type Permission, type Relation } from "../src/auth/permissions";
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
  "team.read": ["member", "parent->owner", "parent->member"],
  "team.manage": ["parent->owner"],
  "project.read": ["team_reader", "team_writer", "parent->owner", "parent->member"],
  "project.write": ["team_writer", "parent->owner"],
  "workspace.read": ["owner", "shared", "parent->owner"],
  "workspace.start": ["owner"],
  "workspace.use": ["owner"],
  "workspace.stop": ["owner", "parent->owner"],
  "workspace.delete": ["owner", "parent->owner"],
  "runner.manage": ["parent->owner"],
};

const everything = { scopes: ["*"] };

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
    const refusal = (fn: () => void) => {
      try {
        fn();
      } catch (error) {
        return error instanceof ApiError ? `${error.status} ${error.code}` : String(error);
      }
      return "allowed";
    };

    it("hides resources the subject has no relation to (404)", () => {
      expect(refusal(() => authorize(everything, "org.read", new Set(), "Organization"))).toBe("404 not_found");
    });

    it("refuses a related subject without the permission (403)", () => {
      expect(refusal(() => authorize(everything, "org.update", new Set<Relation>(["member"]), "Organization"))).toBe("403 forbidden");
    });

    it("refuses a missing scope before looking at relations (403 insufficient_scope)", () => {
      expect(refusal(() => authorize({ scopes: ["user:read"] }, "org.read", new Set(), "Organization"))).toBe("403 insufficient_scope");
    });

    it("allows what can allows", () => {
      expect(refusal(() => authorize(everything, "team.read", new Set<Relation>(["parent->member"]), "Team"))).toBe("allowed");
    });
  });
});
