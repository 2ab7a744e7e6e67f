import { describe, expect, it } from "vitest";
import { constantTimeEqualStrings, hmacSha256Hex } from "../src/lib/crypto";
import { prebuildState } from "../src/prebuilds/state";
import { branchSelected, DEFAULT_PREBUILD_SETTINGS, patternRegex } from "../src/projects/settings";
import { retryDelaySeconds } from "../src/queues/retry";
import { readDelivery } from "../src/scm/webhook-payloads";
import { WORKSPACE_PHASES } from "../src/workspaces/lifecycle";

describe("branch strategies", () => {
  const settings = (branchStrategy: "default-branch" | "all-branches" | "matched-branches", branchPatterns: string[] = []) => ({
    ...DEFAULT_PREBUILD_SETTINGS,
    branchStrategy,
    branchPatterns,
  });

  it("default-branch selects the default branch only; all-branches every branch", () => {
    expect(branchSelected(settings("default-branch"), "main", "main")).toBe(true);
    expect(branchSelected(settings("default-branch"), "develop", "main")).toBe(false);
    expect(branchSelected(settings("all-branches"), "anything/at/all", "main")).toBe(true);
  });

  it.each([
    ["release/*", "release/1.2", true],
    ["release/*", "release/1.2/hotfix", false],
    ["release/**", "release/1.2/hotfix", true],
    ["feat-*", "feat-login", true],
    ["feat-*", "fix-login", false],
    ["v1.*", "v1.x", true],
    ["v1.*", "v1x", false],
    ["main", "main", true],
    ["main", "mainline", false],
  ])("matched-branches %s against %s: %s", (pattern, branch, selected) => {
    expect(branchSelected(settings("matched-branches", [pattern]), branch, "main")).toBe(selected);
    expect(patternRegex(pattern).test(branch)).toBe(selected);
  });
});

describe("prebuild states", () => {
  it("follow the workspace's phase until an outcome is decided, which then sticks", () => {
    const table = Object.fromEntries(WORKSPACE_PHASES.map((phase) => [phase, prebuildState(phase, null)]));
    expect(table).toEqual({
      preparing: "queued",
      pending: "queued",
      creating: "building",
      initializing: "building",
      running: "building",
      stopping: "aborted",
      stopped: "aborted",
      failed: "failed",
    });
    for (const phase of WORKSPACE_PHASES) expect(prebuildState(phase, "available")).toBe("available");
    expect(prebuildState("failed", "timeout")).toBe("timeout");
  });
});

describe("queue retries", () => {
  it("back off exponentially from 10 s, at most 15 minutes", () => {
    expect([1, 2, 3, 4, 5, 6, 20].map(retryDelaySeconds)).toEqual([10, 20, 40, 80, 160, 320, 900]);
  });
});

describe("constant-time comparison and HMAC", () => {
  it("compares strings of any length without throwing, and signs as the SCMs do", () => {
    expect(constantTimeEqualStrings("secret", "secret")).toBe(true);
    expect(constantTimeEqualStrings("secret", "secreT")).toBe(false);
    expect(constantTimeEqualStrings("secret", "secret-longer")).toBe(false);
    expect(constantTimeEqualStrings("", "")).toBe(true);
    // RFC 4231 test case 2.
    expect(hmacSha256Hex("Jefe", "what do ya want for nothing?")).toBe("5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
  });
});

describe("webhook payloads", () => {
  const header = (values: Record<string, string>) => (name: string) => values[name];

  it("ignore deleted branches and tags, and read every branch of a Bitbucket push", () => {
    const deleted = { ref: "refs/heads/gone", after: "0".repeat(40), deleted: true, repository: { full_name: "a/b" } };
    expect(readDelivery.github(header({ "x-github-event": "push" }), deleted)).toMatchObject({ kind: "ignored", reason: /deleted/ });
    const gitlabDeleted = { ref: "refs/heads/gone", after: "0".repeat(40), project: { path_with_namespace: "a/b" } };
    expect(readDelivery.gitlab(header({ "x-gitlab-event": "Push Hook" }), gitlabDeleted)).toMatchObject({ kind: "ignored" });
    const change = (name: string, hash: string, type = "branch") => ({ new: { type, name, target: { hash } } });
    const push = { push: { changes: [change("a", "1".repeat(40)), change("v1", "2".repeat(40), "tag"), { new: null }, change("b", "3".repeat(40))] }, repository: { full_name: "a/b" } };
    const read = readDelivery.bitbucket(header({ "x-event-key": "repo:push" }), push);
    expect(read).toMatchObject({ kind: "builds", event: "push", builds: [{ ref: "a" }, { ref: "b" }] });
  });

  it("count a GitLab merge request update only when it brings commits", () => {
    const mr = (action: string, extra: Record<string, unknown> = {}) => ({
      object_attributes: { iid: 3, action, source_branch: "feat", last_commit: { id: "4".repeat(40) }, ...extra },
      project: { path_with_namespace: "a/b", default_branch: "main" },
    });
    const read = (payload: unknown) => readDelivery.gitlab(header({ "x-gitlab-event": "Merge Request Hook" }), payload).kind;
    expect(read(mr("update"))).toBe("ignored");
    expect(read(mr("update", { oldrev: "5".repeat(40) }))).toBe("builds");
    expect(read(mr("close"))).toBe("ignored");
  });
});
