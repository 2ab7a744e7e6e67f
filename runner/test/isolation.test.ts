/**
 * What the bubblewrap sandbox hides: other workspaces, the runner's environment (its
 * token) and processes, the runner's own files; and what it gives: its own PID namespace,
 * a read-only system, no capabilities. Skipped where bwrap does not work.
 */
import fs from "node:fs";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { bwrapWorks, harness, makeRepo, startCommand, tmpDir, waitFor } from "./helpers.ts";

const TOKEN = "edr_test_runner_token_0123456789abcdef";

describe.skipIf(!bwrapWorks())("bubblewrap isolation", () => {
  let saved: string | undefined;
  beforeEach(() => {
    saved = process.env.EDGEPOD_RUNNER_TOKEN;
    process.env.EDGEPOD_RUNNER_TOKEN = TOKEN; // as the real runner has it
  });
  afterEach(() => {
    if (saved === undefined) delete process.env.EDGEPOD_RUNNER_TOKEN;
    else process.env.EDGEPOD_RUNNER_TOKEN = saved;
  });

  it("a task sees neither other workspaces nor the runner's token, files or processes", async () => {
    const hostSecret = path.join(tmpDir("edgepod-host-"), "host-secret.txt");
    fs.writeFileSync(hostSecret, "host only\n");
    const repo = makeRepo({});
    const { manager, recorder } = await harness("bwrap", [repo.dir]);

    manager.handle(startCommand("ws_victim", 1, { cloneUrl: repo.url }, { tasks: [{ command: `echo secret > "$HOME/victim.txt"; exec sleep 300` }] }));
    await manager.idle("ws_victim");
    const victimDir = manager.inspect("ws_victim")!.dir;
    await waitFor(() => fs.existsSync(path.join(victimDir, "victim.txt")), "victim file");

    const probe = [
      `echo "pid=$$"`,
      `echo "procs=$(ls /proc | grep -cE '^[0-9]+$')"`,
      `test -e ${victimDir} && echo "victim-dir=visible" || echo "victim-dir=hidden"`,
      `cat ${victimDir}/victim.txt 2>/dev/null || echo "victim-file=unreadable"`,
      `echo "token-in-env=$(env | grep -c ${TOKEN})"`,
      `echo "token-in-proc=$(cat /proc/*/environ 2>/dev/null | tr '\\0' '\\n' | grep -c ${TOKEN})"`,
      `test -e ${path.join(process.cwd(), "package.json")} && echo "runner-files=visible" || echo "runner-files=hidden"`,
      `test -e ${hostSecret} && echo "host-tmp=visible" || echo "host-tmp=hidden"`,
      `touch /usr/edgepod-probe 2>/dev/null && echo "usr=writable" || echo "usr=read-only"`,
      `touch "$HOME/mine" && echo "home=writable"`,
      `echo "capeff=$(awk '/CapEff/ {print $2}' /proc/self/status)"`,
      `echo "hostname=$(cat /proc/sys/kernel/hostname)"`,
    ].join("\n");
    manager.handle(startCommand("ws_probe", 1, { cloneUrl: repo.url }, { tasks: [{ command: probe }] }));
    await manager.idle("ws_probe");
    const out = await waitFor(() => {
      const o = recorder.output("ws_probe", "0:command");
      return o.includes("hostname=") && o;
    }, "probe output");
    const facts = Object.fromEntries(out.trim().split("\n").map((l) => l.split("=") as [string, string]));

    expect(Number(facts.pid)).toBeLessThanOrEqual(3); // bwrap's init is 1, the task shell 2
    expect(Number(facts.procs)).toBeLessThan(10);
    expect(facts["victim-dir"]).toBe("hidden");
    expect(out).toContain("victim-file=unreadable");
    expect(facts["token-in-env"]).toBe("0");
    expect(facts["token-in-proc"]).toBe("0");
    expect(facts["runner-files"]).toBe("hidden");
    expect(facts["host-tmp"]).toBe("hidden");
    expect(facts.usr).toBe("read-only");
    expect(facts.home).toBe("writable");
    expect(facts.capeff).toBe("0000000000000000");
    expect(facts.hostname).toBe("ws-probe");
    expect(fs.existsSync("/usr/edgepod-probe")).toBe(false);
    await manager.stopAll("done");
  });

  it("git clones inside the sandbox: a clone URL cannot reach another workspace's checkout", async () => {
    const repo = makeRepo({ "private.txt": "victim's code\n" });
    const { manager, recorder } = await harness("bwrap", [repo.dir]);
    manager.handle(startCommand("ws_owner", 1, { cloneUrl: repo.url }));
    await manager.idle("ws_owner");
    const victimRepo = manager.inspect("ws_owner")!.repoDir;
    expect(fs.existsSync(path.join(victimRepo, "private.txt"))).toBe(true);
    manager.handle(startCommand("ws_thief", 1, { cloneUrl: `file://${victimRepo}` }));
    await manager.idle("ws_thief");
    expect(recorder.last("ws_thief")).toMatchObject({ phase: "failed" });
    expect(recorder.last("ws_thief")?.reason).toMatch(/does not appear to be a git repository|Could not read from remote/);
  });
});
