import { describe, expect, it } from "vitest";
import { ALL_SCOPES, grants, grantsAll, SCOPE_RESOURCES } from "../src/auth/scopes";

describe("scopes", () => {
  it("has * and read/write for every resource", () => {
    expect(ALL_SCOPES).toHaveLength(1 + 2 * SCOPE_RESOURCES.length);
    expect(ALL_SCOPES).toContain("billing:write");
  });

  it.each([
    [["*"], "*", true],
    [["*"], "orgs:write", true],
    [["orgs:write"], "*", false],
    [["orgs:write"], "orgs:write", true],
    [["orgs:write"], "orgs:read", true],
    [["orgs:read"], "orgs:read", true],
    [["orgs:read"], "orgs:write", false],
    [["orgs:write"], "projects:read", false],
    [[], "user:read", false],
  ] as const)("%j grants %s: %s", (granted, required, expected) => {
    expect(grants(granted, required)).toBe(expected);
  });

  it("checks every requested scope", () => {
    expect(grantsAll(["tokens:write", "user:read"], ["tokens:read", "user:read"])).toBe(true);
    expect(grantsAll(["tokens:write"], ["tokens:read", "user:read"])).toBe(false);
    expect(grantsAll(["tokens:write"], [])).toBe(true);
  });
});
