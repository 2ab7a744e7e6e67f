import { runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { env, exports } from "cloudflare:workers";
import { expect } from "vitest";
import type { ControlMessage, RunnerMessage } from "../protocol/runner";
import type { WorkspaceRecord } from "../src/workspaces/types";
import { ORIGIN } from "./helpers";
import { as, type Person } from "./org-helpers";

/**
 * A test peer that speaks the runner protocol to the Worker over a real WebSocket: it
 * records what the control plane sends and lets a test report phases as a runner would.
 */
export class RunnerPeer {
  readonly received: (ControlMessage | string)[] = [];

  private constructor(readonly ws: WebSocket) {
    ws.accept();
    ws.addEventListener("message", (event) => {
      const data = event.data as string;
      this.received.push(data === "pong" ? data : (JSON.parse(data) as ControlMessage));
    });
  }

  static async connect(token: string): Promise<RunnerPeer> {
    const res = await exports.default.fetch(
      new Request(`${ORIGIN}/api/v1/runners/connect`, { headers: { upgrade: "websocket", authorization: `Bearer ${token}` } }),
    );
    expect(res.status).toBe(101);
    const peer = new RunnerPeer(res.webSocket!);
    await peer.next("welcome");
    return peer;
  }

  send(message: RunnerMessage | string): void {
    this.ws.send(typeof message === "string" ? message : JSON.stringify(message));
  }

  hello(capacity: number, workspaces: { workspaceId: string; generation: number; phase: "running" | "stopped" | "creating" }[] = []) {
    this.send({ type: "hello", v: 1, version: "test-peer", capacity, workspaces });
  }

  report(workspaceId: string, generation: number, phase: "creating" | "initializing" | "running" | "stopping" | "stopped" | "failed", extra: { reason?: string; ports?: { port: number }[] } = {}) {
    this.send({ type: "status", workspaceId, generation, phase, ...extra });
  }

  /** Waits for the next message of `type` (matching `where`) not yet taken, and takes it. */
  async next<T extends ControlMessage["type"]>(
    type: T,
    where: (m: Extract<ControlMessage, { type: T }>) => boolean = () => true,
    timeout = 3000,
  ): Promise<Extract<ControlMessage, { type: T }>> {
    let found: Extract<ControlMessage, { type: T }> | undefined;
    await expect
      .poll(() => {
        const index = this.received.findIndex(
          (m) => typeof m !== "string" && m.type === type && where(m as Extract<ControlMessage, { type: T }>),
        );
        if (index >= 0) found = this.received.splice(index, 1)[0] as Extract<ControlMessage, { type: T }>;
        return found;
      }, { timeout, interval: 10 })
      .toBeDefined();
    return found!;
  }

  pending(type: ControlMessage["type"]): ControlMessage[] {
    return this.received.filter((m): m is ControlMessage => typeof m !== "string" && m.type === type);
  }

  close(): void {
    this.ws.close(1000, "test done");
  }
}

/** Registers a runner for the organization and connects a peer that announced `capacity`. */
export async function connectRunner(owner: Person, orgId: string, capacity = 2, name = "r1") {
  const { runner, token } = (await (await as(owner, "POST", `/api/v1/orgs/${orgId}/runners`, { name })).json()) as {
    runner: { id: string };
    token: string;
  };
  const peer = await RunnerPeer.connect(token);
  peer.hello(capacity);
  await expect.poll(async () => (await runnerRow(runner.id)).capacity).toBe(capacity);
  return { runnerId: runner.id, token, peer };
}

export async function runnerRow(id: string) {
  return (await env.DB.prepare("SELECT connected, capacity, assigned FROM runners WHERE id = ?").bind(id).first<{
    connected: number;
    capacity: number;
    assigned: number;
  }>())!;
}

export const workspaceStub = (id: string) => env.WORKSPACE.get(env.WORKSPACE.idFromName(id));

/** Moves a deadline of a workspace (or prebuild) into the past, then runs the alarm: time passing, without waiting. */
export async function expire(id: string, deadline: keyof WorkspaceRecord["deadlines"]) {
  await runInDurableObject(workspaceStub(id), async (_instance, state) => {
    const record = (await state.storage.get<WorkspaceRecord>("workspace"))!;
    expect(record.deadlines[deadline], `deadline ${deadline}`).toBeDefined();
    record.deadlines[deadline] = Date.now() - 1;
    await state.storage.put("workspace", record);
  });
  await runDurableObjectAlarm(workspaceStub(id));
}
