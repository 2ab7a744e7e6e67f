import { describe, expect, it } from "vitest";
import { ControlMessageSchema, PROTOCOL_VERSION } from "../../protocol/runner.ts";

describe("protocol (as the runner reads it)", () => {
  it("parses a start command", () => {
    const start = {
      type: "start",
      id: "cmd_1",
      spec: {
        workspaceId: "ws_1",
        generation: 2,
        repository: { cloneUrl: "file:///tmp/repo", ref: null, revision: null },
        tasks: null,
        env: {},
        timeouts: { startMs: 60_000 },
      },
    };
    expect(ControlMessageSchema.parse(start)).toEqual(start);
    expect(PROTOCOL_VERSION).toBe(1);
  });
});
