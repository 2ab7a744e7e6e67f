/**
 * The protocol client against a small local WebSocket server standing in for the
 * control plane (RunnerDO): it records what the runner sends and sends commands.
 */
import fs from "node:fs";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { HelloSchema, RunnerMessageSchema } from "../../protocol/runner.ts";
import { RunnerConnection } from "../src/connection.ts";
import { silentLogger } from "../src/log.ts";
import { Peer } from "./peer.ts";
import { harness, makeRepo, marker, pidsWithCmdline, startCommand, stopCommand, waitFor, type Harness } from "./helpers.ts";

const TOKEN = "edr_connection_test_token";

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function setup(options: { graceMs?: number } = {}): Promise<{ peer: Peer; h: Harness; connection: RunnerConnection; repoUrl: string }> {
  const peer = new Peer();
  const url = await peer.ready();
  const repo = makeRepo({});
  const connection: RunnerConnection = new RunnerConnection({
    url,
    token: TOKEN,
    version: "edgepod-runner/test",
    capacity: 8,
    graceMs: options.graceMs ?? 60_000,
    logger: silentLogger,
    backoff: { initialMs: 50, maxMs: 200 },
  });
  // The reconciler reports through the connection, as in main.ts (and to a recorder).
  const h = await harness("none", [repo.dir], { sink: connection });
  connection.start(h.manager);
  cleanups.push(async () => {
    await connection.close();
    await h.manager.stopAll("test over");
    await peer.close();
  });
  return { peer, h, connection, repoUrl: repo.url };
}

describe("runner connection", () => {
  it("says hello with the bearer token, acknowledges commands, streams status and logs, pings", async () => {
    const { peer, h, repoUrl } = await setup();
    await waitFor(() => peer.received.length > 0, "hello");
    expect(peer.requests[0]!.headers.authorization).toBe(`Bearer ${TOKEN}`);
    const hello = HelloSchema.parse(peer.received[0]!.json);
    expect(hello).toEqual({ type: "hello", v: 1, version: "edgepod-runner/test", capacity: 8, workspaces: [] });

    peer.welcome(100);
    await waitFor(() => peer.received.filter((r) => r.text === "ping").length >= 2, "pings");

    const m = marker();
    const start = { ...startCommand("ws_c", 1, { cloneUrl: repoUrl }, { tasks: [{ command: `echo hi-from-task; exec sleep ${m}` }] }), id: "c1" };
    peer.send(start);
    await waitFor(() => peer.statuses("ws_c").some((s) => s.phase === "running"), "running");
    expect(peer.messages("ack")).toEqual([{ type: "ack", id: "c1" }]);
    expect(peer.statuses("ws_c").map((s) => s.phase)).toEqual(["creating", "initializing", "running"]);
    await waitFor(() => peer.output("ws_c", "0:command") === "hi-from-task\n", "task output");

    // The same generation again (a replay): acknowledged, not started twice.
    peer.send({ ...start, id: "c2" });
    await waitFor(() => peer.messages("ack").length === 2, "second ack");
    await new Promise((r) => setTimeout(r, 300));
    expect(peer.statuses("ws_c").filter((s) => s.phase === "creating")).toHaveLength(1);
    expect(peer.output("ws_c", "0:command")).toBe("hi-from-task\n");
    await waitFor(() => pidsWithCmdline(`sleep ${m}`).length === 1, "one task process");

    // Invalid messages are dropped; the connection stays up.
    peer.send({ type: "start", id: "c3" });
    peer.send("not json");
    peer.send({ type: "reboot", id: "c4" });
    peer.send({ ...stopCommand("ws_c", 2), id: "c5" });
    await waitFor(() => peer.statuses("ws_c").some((s) => s.phase === "stopped"), "stopped");
    expect(peer.messages("ack").map((a) => a.id)).toEqual(["c1", "c2", "c5"]);
    expect(peer.statuses("ws_c").slice(-2)).toMatchObject([
      { phase: "stopping", generation: 2 },
      { phase: "stopped", generation: 2 },
    ]);
    expect(peer.connections).toBe(1);
    expect(pidsWithCmdline(`sleep ${m}`)).toEqual([]);
    expect(h.manager.inspect("ws_c")!.state.phase).toBe("stopped");

    // Everything the runner sent is a valid protocol message.
    for (const r of peer.received) if (r.text !== "ping") expect(RunnerMessageSchema.safeParse(r.json).success, r.text).toBe(true);
  });

  it("reconnects with a new hello listing its workspaces; the replayed start does not start twice; outage logs follow", async () => {
    const { peer, h, repoUrl } = await setup();
    await waitFor(() => peer.connections === 1, "connected");
    peer.welcome();
    const command = `echo first; while [ ! -e "$HOME/go" ]; do sleep 0.05; done; echo during-outage; exec sleep 300`;
    const start = startCommand("ws_r", 1, { cloneUrl: repoUrl }, { tasks: [{ command }] });
    peer.send(start);
    await waitFor(() => peer.output("ws_r", "0:command") === "first\n", "first output");

    peer.accepting = false;
    peer.cut();
    await waitFor(() => peer.rejected >= 1, "a refused redial");
    fs.writeFileSync(path.join(h.manager.inspect("ws_r")!.dir, "go"), "");
    await waitFor(() => h.recorder.output("ws_r", "0:command").includes("during-outage"), "output during the outage");
    peer.accepting = true;

    await waitFor(() => peer.connections === 2 && peer.output("ws_r", "0:command").includes("during-outage"), "reconnect and buffered logs");
    const second = peer.received.filter((r) => r.conn === 2 && r.json);
    expect(second[0]!.json).toMatchObject({ type: "hello", v: 1, workspaces: [{ workspaceId: "ws_r", generation: 1, phase: "running" }] });
    expect(second[1]!.json).toMatchObject({ type: "status", workspaceId: "ws_r", generation: 1, phase: "running" });
    expect(second.findIndex((r) => r.json?.type === "log")).toBeGreaterThan(1);

    // The control plane answers the hello with the desired state at its generation.
    peer.welcome();
    peer.send({ ...start, id: "replay" });
    await waitFor(() => peer.messages("ack", 2).length === 1, "ack of the replay");
    await new Promise((r) => setTimeout(r, 200));
    expect(peer.statuses("ws_r").filter((s) => s.phase === "creating")).toHaveLength(1);
    expect(h.recorder.output("ws_r", "0:command")).toBe("first\nduring-outage\n");
  });

  it("stops every workspace when the control plane stays away beyond the grace period, and converges after", async () => {
    const { peer, h, repoUrl } = await setup({ graceMs: 400 });
    await waitFor(() => peer.connections === 1, "connected");
    peer.welcome();
    const m = marker();
    const start = startCommand("ws_g", 1, { cloneUrl: repoUrl }, { tasks: [{ init: `echo i >> "$HOME/init-count"`, command: `exec sleep ${m}` }] });
    peer.send(start);
    await waitFor(() => peer.statuses("ws_g").some((s) => s.phase === "running"), "running");

    peer.accepting = false;
    peer.cut();
    await waitFor(() => h.manager.inspect("ws_g")!.state.phase === "stopped", "stopped by the grace period", 10_000);
    expect(h.manager.inspect("ws_g")!.state.reason).toMatch(/^control plane unreachable for more than/);
    expect(pidsWithCmdline(`sleep ${m}`)).toEqual([]);

    peer.accepting = true;
    await waitFor(() => peer.messages("status", 2).length >= 1, "reports after reconnecting");
    expect(peer.messages("hello", 2)[0]).toMatchObject({ workspaces: [{ workspaceId: "ws_g", generation: 1, phase: "stopped" }] });
    expect(peer.messages("status", 2)[0]).toMatchObject({ phase: "stopped", generation: 1, reason: expect.stringMatching(/control plane unreachable/) });

    // Same generation: no restart; a new generation resumes (no clone, no init).
    peer.welcome();
    peer.send(start);
    peer.send(startCommand("ws_g", 2, { cloneUrl: repoUrl }, { tasks: [{ init: `echo i >> "$HOME/init-count"`, command: `exec sleep ${m}` }] }));
    await waitFor(() => peer.statuses("ws_g").some((s) => s.phase === "running" && s.generation === 2), "running again");
    expect(peer.messages("ack", 2)).toHaveLength(2);
    expect(fs.readFileSync(path.join(h.manager.inspect("ws_g")!.dir, "init-count"), "utf8")).toBe("i\n");
  });

  it("redials a control plane that stops answering pings", async () => {
    const { peer, connection } = await setup();
    await waitFor(() => peer.connections === 1, "connected");
    peer.welcome(100);
    await waitFor(() => peer.received.some((r) => r.text === "ping"), "a ping");
    peer.silent = true;
    await waitFor(() => peer.messages("hello", 2).length === 1, "hello on a second connection", 5_000);
    expect(peer.received.filter((r) => r.conn === 2)[0]!.json).toMatchObject({ type: "hello" });
    expect(connection.connects).toBe(2);
  });
});
