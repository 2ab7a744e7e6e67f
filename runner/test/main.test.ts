/** The runner as shipped: `node runner/src/main.ts`, configured by env, against a stand-in control plane. */
import { spawn } from "node:child_process";
import { afterEach, describe, expect, it } from "vitest";
import { Peer } from "./peer.ts";
import { makeRepo, modes, marker, pidsWithCmdline, startCommand, tmpDir, waitFor } from "./helpers.ts";

const TOKEN = "edr_main_test_token_do_not_log";
const MAIN = new URL("../src/main.ts", import.meta.url).pathname;

let peer: Peer | null = null;
afterEach(async () => {
  await peer?.close();
  peer = null;
});

function run(env: Record<string, string>) {
  const child = spawn(process.execPath, [MAIN], { env: { PATH: process.env.PATH ?? "/usr/bin:/bin", ...env }, stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  child.stdout.on("data", (d) => (out += d));
  child.stderr.on("data", (d) => (out += d));
  const exited = new Promise<number | null>((r) => child.once("exit", (code) => r(code)));
  return { child, exited, output: () => out };
}

describe("node runner/src/main.ts", () => {
  it("refuses to start without its configuration, saying what is missing", async () => {
    const r = run({});
    expect(await r.exited).toBe(2);
    expect(r.output()).toMatch(/EDGEPOD_URL is required.*EDGEPOD_RUNNER_TOKEN is required/);
  });

  it("connects, runs a workspace, and on SIGTERM stops it before exiting; logs JSON without the token", async () => {
    peer = new Peer();
    const url = await peer.ready();
    const m = marker();
    const repo = makeRepo({ ".gitpod.yml": `tasks:\n  - command: echo main-ok; exec sleep ${m}\n` });
    const r = run({
      EDGEPOD_URL: url.replace("ws://", "http://").replace("/api/v1/runners/connect", ""),
      EDGEPOD_RUNNER_TOKEN: TOKEN,
      RUNNER_WORKDIR: tmpDir("edgepod-main-"),
      RUNNER_CAPACITY: "3",
      RUNNER_GIT_PROTOCOLS: "file",
      RUNNER_SANDBOX_BINDS: repo.dir,
    });
    try {
      await waitFor(() => peer!.connections === 1 && peer!.messages("hello").length === 1, "hello");
      expect(peer.requests[0]!.headers.authorization).toBe(`Bearer ${TOKEN}`);
      expect(peer.messages("hello")[0]).toMatchObject({ v: 1, capacity: 3, workspaces: [], version: expect.stringMatching(/^edgepod-runner\//) });
      peer.welcome(1_000);
      peer.send(startCommand("ws_main", 1, { cloneUrl: repo.url }));
      await waitFor(() => peer!.output("ws_main", "0:command") === "main-ok\n", "task output");
      await waitFor(() => peer!.statuses("ws_main").some((s) => s.phase === "running"), "running");
      expect(peer.statuses("ws_main").map((s) => s.phase)).toEqual(["creating", "initializing", "running"]);

      r.child.kill("SIGTERM");
      expect(await r.exited).toBe(0);
      expect(peer.statuses("ws_main").slice(-2)).toMatchObject([
        { phase: "stopping", reason: "runner shutting down" },
        { phase: "stopped", reason: "runner shutting down" },
      ]);
      const lines = r.output().trim().split("\n");
      for (const line of lines) expect(() => JSON.parse(line), line).not.toThrow();
      expect(r.output()).not.toContain(TOKEN);
      expect(r.output()).toMatch(/"msg":"sandbox: bubblewrap"|WARNING: bubblewrap unavailable/);
    } finally {
      r.child.kill("SIGKILL");
    }
    expect(pidsWithCmdline(`sleep ${m}`)).toEqual([]);
  });

  it.each(modes())("a runner killed with SIGKILL (sandbox: %s) loses its workspaces cleanly; the next one reports them stopped and resumes them", async (mode) => {
    peer = new Peer();
    const url = (await peer.ready()).replace("/api/v1/runners/connect", "");
    const m = marker();
    const repo = makeRepo({ ".gitpod.yml": `tasks:\n  - init: echo i >> "$HOME/init-count"\n    command: echo up; exec sleep ${m}\n` });
    const env = {
      EDGEPOD_URL: url,
      EDGEPOD_RUNNER_TOKEN: TOKEN,
      RUNNER_WORKDIR: tmpDir("edgepod-main-"),
      RUNNER_GIT_PROTOCOLS: "file",
      RUNNER_SANDBOX_BINDS: repo.dir,
      RUNNER_SANDBOX: mode,
    };
    const first = run(env);
    try {
      await waitFor(() => peer!.messages("hello").length === 1, "first hello");
      peer.welcome();
      peer.send(startCommand("ws_crash", 7, { cloneUrl: repo.url }));
      await waitFor(() => peer!.output("ws_crash", "0:command") === "up\n", "task output");
      await waitFor(() => pidsWithCmdline(`sleep ${m}`).length === 1, "the task's process");
      first.child.kill("SIGKILL");
      await first.exited;
      if (mode === "bwrap") {
        // --die-with-parent: the sandbox goes with the runner.
        await waitFor(() => pidsWithCmdline(`sleep ${m}`).length === 0, "sandbox gone with the runner", 5_000);
      } else {
        expect(pidsWithCmdline(`sleep ${m}`)).toHaveLength(1); // plain processes outlive it…
      }
    } finally {
      first.child.kill("SIGKILL");
    }

    const second = run(env);
    try {
      await waitFor(() => peer!.messages("hello").length === 2 && peer!.messages("status", 2).length > 0, "second hello and status");
      expect(peer.messages("hello")[1]).toMatchObject({ workspaces: [{ workspaceId: "ws_crash", generation: 7, phase: "stopped" }] });
      expect(peer.messages("status", 2)[0]).toMatchObject({ workspaceId: "ws_crash", phase: "stopped", reason: "runner restarted" });
      expect(pidsWithCmdline(`sleep ${m}`)).toEqual([]); // …until the next runner ends them
      peer.welcome();
      peer.send(startCommand("ws_crash", 8, { cloneUrl: repo.url }));
      await waitFor(() => peer!.statuses("ws_crash").some((s) => s.generation === 8 && s.phase === "running"), "resumed");
      const logs = peer.messages("log", 2).map((l) => l.task);
      expect(logs).not.toContain("clone");
      expect(logs).not.toContain("0:init");
      second.child.kill("SIGTERM");
      expect(await second.exited).toBe(0);
    } finally {
      second.child.kill("SIGKILL");
    }
  });
});
