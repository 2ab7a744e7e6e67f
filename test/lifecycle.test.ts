import { describe, expect, it } from "vitest";
import { canTransition, TRANSITIONS, WORKSPACE_PHASES, type WorkspacePhase } from "../src/workspaces/lifecycle";

/** Every allowed move, written out: the intended lifecycle. Anything else is illegal. */
const ALLOWED: [WorkspacePhase, WorkspacePhase][] = [
  ["preparing", "pending"],
  ["preparing", "creating"],
  ["preparing", "stopped"],
  ["preparing", "failed"],
  ["pending", "creating"],
  ["pending", "stopped"],
  ["pending", "failed"],
  ["creating", "initializing"],
  ["creating", "running"],
  ["creating", "stopping"],
  ["creating", "stopped"],
  ["creating", "failed"],
  ["initializing", "running"],
  ["initializing", "stopping"],
  ["initializing", "stopped"],
  ["initializing", "failed"],
  ["running", "stopping"],
  ["running", "stopped"],
  ["running", "failed"],
  ["stopping", "stopped"],
  ["stopping", "failed"],
  ["stopped", "preparing"],
  ["failed", "preparing"],
];

describe("workspace lifecycle", () => {
  const pairs = WORKSPACE_PHASES.flatMap((from) => WORKSPACE_PHASES.map((to) => [from, to] as const));
  const allowed = new Set(ALLOWED.map(([a, b]) => `${a}>${b}`));

  it.each(pairs)("%s → %s", (from, to) => {
    expect(canTransition(from, to)).toBe(allowed.has(`${from}>${to}`));
  });

  it("has no transition the written-out table lacks", () => {
    const count = Object.values(TRANSITIONS).reduce((n, targets) => n + targets.length, 0);
    expect(count).toBe(ALLOWED.length);
  });

  it("leaves stopped and failed only through a new start", () => {
    expect(TRANSITIONS.stopped).toEqual(["preparing"]);
    expect(TRANSITIONS.failed).toEqual(["preparing"]);
  });
});
