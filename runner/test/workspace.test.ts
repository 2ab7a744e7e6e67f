/**
 * The reconciler end to end: real git repositories, real processes, real sandboxes
 * (plain processes always; bubblewrap where it works), a recording sink.
 */
import fs from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import {
  freePort,
  git,
  harness,
  makeRepo,
  marker,
  modes,
  NODE,
  pidsWithCmdline,
  startCommand,
  stopCommand,
  waitFor,
} from "./helpers.ts";

const gitpodYml = (body: string) => ({ ".gitpod.yml": body });

describe.each(modes())("workspace lifecycle (sandbox: %s)", (mode) => {
  it("clones, runs before → init → command in one shell, and reports creating → initializing → running", async () => {
    const m = marker();
    const repo = makeRepo({
      "README.md": "hello\n",
      ...gitpodYml(`tasks:
  - name: app
    before: |
      echo "before 1"
      export SHARED=from-before
    init: |
      echo "init 1"; echo "init warning" >&2
      echo "init saw $SHARED"
    command: |
      echo "command saw $SHARED in $(basename "$PWD")"
      cat README.md
      exec sleep ${m}
  - name: second
    command: echo "second task"
`),
    });
    const { manager, recorder } = await harness(mode, [repo.dir]);
    manager.handle(startCommand("ws_life", 1, { cloneUrl: repo.url }));
    await manager.idle("ws_life");
    expect(recorder.phases("ws_life")).toEqual(["creating", "initializing", "running"]);
    expect(recorder.statuses.every((s) => s.generation === 1)).toBe(true);
    await waitFor(() => recorder.output("ws_life", "0:command").includes("hello"), "command output");
    expect(recorder.output("ws_life", "0:before")).toBe("before 1\n");
    expect(recorder.output("ws_life", "0:init")).toBe("init 1\ninit saw from-before\n");
    expect(recorder.output("ws_life", "0:init", "stderr")).toBe("init warning\n");
    expect(recorder.output("ws_life", "0:command")).toBe("command saw from-before in project\nhello\n");
    await waitFor(() => recorder.output("ws_life", "1:command") === "second task\n", "second task output");
    // One pipe per stream with in-band stage markers: order holds within a stream.
    expect(recorder.taskNames("ws_life", "stdout").filter((n) => n.startsWith("0:"))).toEqual(["0:before", "0:init", "0:command"]);
    for (const l of recorder.logs) expect(Buffer.byteLength(l.data)).toBeLessThanOrEqual(64 * 1024);

    manager.handle(stopCommand("ws_life", 2));
    await manager.idle("ws_life");
    expect(recorder.phases("ws_life").slice(-2)).toEqual(["stopping", "stopped"]);
    expect(recorder.last("ws_life")).toMatchObject({ generation: 2, phase: "stopped", ports: [] });
    expect(pidsWithCmdline(`sleep ${m}`)).toEqual([]);
  });

  it("fails the workspace when init exits non-zero, with the task in the reason, and ends the other tasks", async () => {
    const m = marker();
    const repo = makeRepo(
      gitpodYml(`tasks:
  - name: setup
    init: echo "installing"; exit 3
  - name: server
    command: exec sleep ${m}
`),
    );
    const { manager, recorder } = await harness(mode, [repo.dir]);
    manager.handle(startCommand("ws_fail", 1, { cloneUrl: repo.url }));
    await manager.idle("ws_fail");
    expect(recorder.phases("ws_fail")).toEqual(["creating", "initializing", "failed"]);
    expect(recorder.last("ws_fail")?.reason).toBe("task 0 (setup) init exited with code 3");
    expect(recorder.output("ws_fail", "0:init")).toBe("installing\n");
    expect(pidsWithCmdline(`sleep ${m}`)).toEqual([]);
  });

  it("fails on a failing before too", async () => {
    const repo = makeRepo({});
    const { manager, recorder } = await harness(mode, [repo.dir]);
    manager.handle(startCommand("ws_before", 1, { cloneUrl: repo.url }, { tasks: [{ before: "false" }] }));
    await manager.idle("ws_before");
    expect(recorder.last("ws_before")).toMatchObject({ phase: "failed", reason: "task 0 before exited with code 1" });
  });

  it("stop ends the whole process tree (background and detached children) and keeps the directory", async () => {
    const [m1, m2, m3] = [marker(), marker(), marker()];
    const repo = makeRepo({ "app.txt": "v1\n" });
    const { manager, recorder } = await harness(mode, [repo.dir]);
    const command = [
      `echo "work in progress" > "$HOME/notes.txt"`,
      `echo edit >> app.txt`,
      `sleep ${m1} &`,
      `(setsid sleep ${m2} > /dev/null 2>&1 &)`,
      `trap '' TERM`, // the shell itself ignores SIGTERM: SIGKILL must follow
      `sleep ${m3}`,
    ].join("\n");
    manager.handle(startCommand("ws_tree", 1, { cloneUrl: repo.url }, { tasks: [{ command }] }));
    await manager.idle("ws_tree");
    await waitFor(() => [m1, m2, m3].every((m) => pidsWithCmdline(`sleep ${m}`).length === 1), "three sleeps");

    manager.handle(stopCommand("ws_tree", 2));
    await manager.idle("ws_tree");
    expect(recorder.phases("ws_tree")).toEqual(["creating", "initializing", "running", "stopping", "stopped"]);
    for (const m of [m1, m2, m3]) expect(pidsWithCmdline(`sleep ${m}`)).toEqual([]);
    const info = manager.inspect("ws_tree")!;
    expect(info.processes.size).toBe(0);
    expect(fs.readFileSync(path.join(info.dir, "notes.txt"), "utf8")).toBe("work in progress\n");
    expect(fs.readFileSync(path.join(info.repoDir, "app.txt"), "utf8")).toBe("v1\nedit\n");
  });

  it("a restart resumes in the same directory: no clone, no init, before and command again", async () => {
    const repo = makeRepo(
      gitpodYml(`tasks:
  - before: echo b >> "$HOME/before-count"
    init: echo i >> "$HOME/init-count"; echo built > build.out
    command: echo "started with $(cat build.out)"; exec sleep 300
`),
    );
    const { manager, recorder } = await harness(mode, [repo.dir]);
    manager.handle(startCommand("ws_resume", 1, { cloneUrl: repo.url }));
    await manager.idle("ws_resume");
    await waitFor(() => recorder.output("ws_resume", "0:command").includes("started with built"), "first command");
    manager.handle(stopCommand("ws_resume", 2));
    await manager.idle("ws_resume");

    // A change upstream must not reach the stopped workspace: a resume does not re-clone.
    repo.commit({ "new-upstream.txt": "x" });
    const before = recorder.logs.length;
    manager.handle(startCommand("ws_resume", 3, { cloneUrl: repo.url }));
    await manager.idle("ws_resume");
    expect(recorder.last("ws_resume")).toMatchObject({ phase: "running", generation: 3 });
    await waitFor(() => recorder.logs.slice(before).some((l) => l.task === "0:command" && l.data.includes("started with built")), "second command");
    const second = recorder.logs.slice(before);
    expect(second.map((l) => l.task)).not.toContain("0:init");
    expect(second.map((l) => l.task)).not.toContain("clone");
    const info = manager.inspect("ws_resume")!;
    expect(fs.readFileSync(path.join(info.dir, "init-count"), "utf8")).toBe("i\n");
    expect(fs.readFileSync(path.join(info.dir, "before-count"), "utf8")).toBe("b\nb\n");
    expect(fs.existsSync(path.join(info.repoDir, "new-upstream.txt"))).toBe(false);
    manager.handle(stopCommand("ws_resume", 4));
    await manager.idle("ws_resume");
  });

  it("a stop cuts a start in progress short; queued starts it makes moot never run", async () => {
    const m = marker();
    const repo = makeRepo({});
    const { manager, recorder } = await harness(mode, [repo.dir]);
    const tasks = [{ init: `echo i >> "$HOME/init-count"; sleep ${m}`, command: "exec sleep 300" }];
    manager.handle(startCommand("ws_cut", 1, { cloneUrl: repo.url }, { tasks }));
    await waitFor(() => pidsWithCmdline(`sleep ${m}`).length === 1, "init running");
    manager.handle(stopCommand("ws_cut", 2));
    manager.handle(startCommand("ws_cut", 3, { cloneUrl: repo.url }, { tasks }));
    manager.handle(stopCommand("ws_cut", 4));
    await manager.idle("ws_cut");
    expect(recorder.phases("ws_cut")).toEqual(["creating", "initializing", "stopping", "stopped"]);
    expect(recorder.last("ws_cut")).toMatchObject({ phase: "stopped", generation: 4 });
    expect(pidsWithCmdline(`sleep ${m}`)).toEqual([]);

    // init never finished, so the next start runs it again (on the kept checkout).
    manager.handle(startCommand("ws_cut", 5, { cloneUrl: repo.url }, { tasks: [{ init: `echo i >> "$HOME/init-count"`, command: "exec sleep 300" }] }));
    await manager.idle("ws_cut");
    expect(recorder.last("ws_cut")).toMatchObject({ phase: "running", generation: 5 });
    expect(fs.readFileSync(path.join(manager.inspect("ws_cut")!.dir, "init-count"), "utf8")).toBe("i\ni\n");
    await manager.stopAll("done");
  });

  it("reports the ports the workspace listens on, and none once stopped", async () => {
    const port = await freePort();
    const repo = makeRepo({});
    const { manager, recorder } = await harness(mode, [repo.dir]);
    const serve = `exec "${NODE}" -e "require('node:http').createServer((q, s) => s.end('ok')).listen(Number(process.env.PORT), '127.0.0.1', () => console.log('listening'))"`;
    manager.handle(startCommand("ws_ports", 1, { cloneUrl: repo.url }, { tasks: [{ command: serve }], env: { PORT: String(port) } }));
    await manager.idle("ws_ports");
    const status = await waitFor(() => recorder.statuses.find((s) => s.workspaceId === "ws_ports" && s.ports?.some((p) => p.port === port)), `port ${port} reported`);
    expect(status).toMatchObject({ phase: "running", generation: 1, ports: [{ port }] });
    // Shared network namespace: reachable from the host.
    expect(await (await fetch(`http://127.0.0.1:${port}/`)).text()).toBe("ok");
    manager.handle(stopCommand("ws_ports", 2));
    await manager.idle("ws_ports");
    expect(recorder.last("ws_ports")).toMatchObject({ phase: "stopped", ports: [] });
  });

  it("fails with a reason when clone + before + init exceed the start timeout", async () => {
    const m = marker();
    const repo = makeRepo({});
    const { manager, recorder } = await harness(mode, [repo.dir]);
    manager.handle(startCommand("ws_slow", 1, { cloneUrl: repo.url }, { tasks: [{ name: "deps", init: `sleep ${m}` }], startMs: 1_000 }));
    await manager.idle("ws_slow");
    expect(recorder.last("ws_slow")).toMatchObject({ phase: "failed", reason: "workspace did not start within 1s (task 0 (deps) init still running)" });
    expect(pidsWithCmdline(`sleep ${m}`)).toEqual([]);
  });

  it("runs without tasks when the repository has no .gitpod.yml; spec tasks override the file", async () => {
    const repo = makeRepo({ "x.txt": "x" });
    const { manager, recorder } = await harness(mode, [repo.dir]);
    manager.handle(startCommand("ws_plain", 1, { cloneUrl: repo.url }));
    await manager.idle("ws_plain");
    expect(recorder.phases("ws_plain")).toEqual(["creating", "initializing", "running"]);
    expect(recorder.taskNames("ws_plain").filter((n) => n !== "clone")).toEqual([]);

    const withFile = makeRepo(gitpodYml("tasks:\n  - command: echo from-file\n"));
    const h2 = await harness(mode, [withFile.dir]);
    h2.manager.handle(startCommand("ws_override", 1, { cloneUrl: withFile.url }, { tasks: [{ command: "echo from-spec" }] }));
    await h2.manager.idle("ws_override");
    await waitFor(() => h2.recorder.output("ws_override", "0:command") === "from-spec\n", "spec task output");
  });

  it("fails with a clear reason on an invalid .gitpod.yml or an unreachable repository", async () => {
    const repo = makeRepo(gitpodYml("tasks:\n  - init: [not, a, string]\n"));
    const { manager, recorder } = await harness(mode, [repo.dir]);
    manager.handle(startCommand("ws_badyml", 1, { cloneUrl: repo.url }));
    await manager.idle("ws_badyml");
    expect(recorder.last("ws_badyml")).toMatchObject({ phase: "failed" });
    expect(recorder.last("ws_badyml")?.reason).toMatch(/^invalid \.gitpod\.yml: tasks\[0\]\.init: /);

    manager.handle(startCommand("ws_norepo", 1, { cloneUrl: `file://${repo.dir}-missing` }));
    await manager.idle("ws_norepo");
    expect(recorder.last("ws_norepo")?.reason).toMatch(/^git clone of file:\/\/.*-missing failed: fatal: /);
  });

  it("refuses a start beyond its capacity", async () => {
    const repo = makeRepo({});
    const { manager, recorder } = await harness(mode, [repo.dir], { capacity: 1 });
    manager.handle(startCommand("ws_cap1", 1, { cloneUrl: repo.url }, { tasks: [{ command: "exec sleep 300" }] }));
    manager.handle(startCommand("ws_cap2", 1, { cloneUrl: repo.url }));
    await manager.idle();
    expect(recorder.last("ws_cap1")?.phase).toBe("running");
    expect(recorder.last("ws_cap2")).toMatchObject({ phase: "failed", reason: "runner at capacity (1 workspace)" });
    await manager.stopAll("test over");
    expect(recorder.last("ws_cap1")).toMatchObject({ phase: "stopped", reason: "test over" });
  });

  it("a runner restart finds its workspaces stopped at their generation, and resumes them", async () => {
    const m = marker();
    const repo = makeRepo({});
    const first = await harness(mode, [repo.dir]);
    const tasks = [{ init: `echo i >> "$HOME/init-count"`, command: `exec sleep ${m}` }];
    first.manager.handle(startCommand("ws_reboot", 4, { cloneUrl: repo.url }, { tasks }));
    await first.manager.idle();
    await waitFor(() => pidsWithCmdline(`sleep ${m}`).length === 1, "task running");

    // A second runner on the same work directory (the first one "crashed").
    const second = await harness(mode, [repo.dir], {}, first.workdir);
    expect(second.manager.reports()).toEqual([{ workspaceId: "ws_reboot", generation: 4, phase: "stopped" }]);
    expect(second.manager.statuses()[0]).toMatchObject({ phase: "stopped", reason: "runner restarted" });
    if (mode === "none") {
      // Plain processes outlive their runner; the new one ends them.
      expect(pidsWithCmdline(`sleep ${m}`)).toEqual([]);
    } else {
      // bwrap --die-with-parent ends them when the runner process dies; here it lives on.
      await first.manager.stopAll("cleanup");
    }
    second.manager.handle(startCommand("ws_reboot", 4, { cloneUrl: repo.url }, { tasks }));
    expect(second.recorder.statuses).toEqual([]); // same generation: ignored
    second.manager.handle(startCommand("ws_reboot", 5, { cloneUrl: repo.url }, { tasks }));
    await second.manager.idle();
    expect(second.recorder.last("ws_reboot")).toMatchObject({ phase: "running", generation: 5 });
    expect(second.recorder.taskNames("ws_reboot")).not.toContain("clone");
    expect(fs.readFileSync(path.join(second.manager.inspect("ws_reboot")!.dir, "init-count"), "utf8")).toBe("i\n");
    await second.manager.stopAll("cleanup");
  });
});

describe.each(modes())("cloning (sandbox: %s)", (mode) => {
  it("checks out a branch shallowly, or an exact revision with a shallow fetch", async () => {
    const repo = makeRepo({ "v.txt": "1" });
    const first = repo.commits[0]!;
    git(repo.dir, "checkout", "-q", "-b", "feature");
    repo.commit({ "v.txt": "feature" });
    git(repo.dir, "checkout", "-q", "main");
    repo.commit({ "v.txt": "2" });
    const { manager } = await harness(mode, [repo.dir]);

    manager.handle(startCommand("ws_branch", 1, { cloneUrl: repo.url, ref: "feature" }));
    manager.handle(startCommand("ws_rev", 1, { cloneUrl: repo.url, ref: "main", revision: first }));
    await manager.idle();
    const branch = manager.inspect("ws_branch")!.repoDir;
    expect(fs.readFileSync(path.join(branch, "v.txt"), "utf8")).toBe("feature");
    expect(git(branch, "rev-parse", "--is-shallow-repository")).toBe("true");
    const rev = manager.inspect("ws_rev")!.repoDir;
    expect(git(rev, "rev-parse", "HEAD")).toBe(first);
    expect(git(rev, "rev-parse", "--abbrev-ref", "HEAD")).toBe("main");
    expect(git(rev, "rev-parse", "--is-shallow-repository")).toBe("true");
    expect(fs.readFileSync(path.join(rev, "v.txt"), "utf8")).toBe("1");
  });

  it("checks out a pull request's head ref (refs/pull/N/head), which is not a branch", async () => {
    const repo = makeRepo({ "v.txt": "main" });
    const head = repo.commit({ "v.txt": "pull request" });
    git(repo.dir, "update-ref", "refs/pull/7/head", head);
    git(repo.dir, "reset", "-q", "--hard", repo.commits[0]!);
    const { manager, recorder } = await harness(mode, [repo.dir]);
    manager.handle(startCommand("ws_pr", 1, { cloneUrl: repo.url, ref: "refs/pull/7/head" }));
    await manager.idle();
    expect(recorder.last("ws_pr")?.phase).toBe("running");
    const dir = manager.inspect("ws_pr")!.repoDir;
    expect(git(dir, "rev-parse", "HEAD")).toBe(head);
    expect(fs.readFileSync(path.join(dir, "v.txt"), "utf8")).toBe("pull request");
  });

  it("falls back to a full clone when the server refuses a shallow fetch of a revision", async () => {
    const repo = makeRepo({ "v.txt": "1" });
    const first = repo.commits[0]!;
    repo.commit({ "v.txt": "2" });
    // Protocol v0 without uploadpack.allow*SHA1InWant refuses unadvertised objects.
    const { manager, recorder } = await harness(mode, [repo.dir], { gitConfig: ["protocol.version=0"] });
    manager.handle(startCommand("ws_full", 1, { cloneUrl: repo.url, revision: first }));
    await manager.idle();
    expect(recorder.last("ws_full")?.phase).toBe("running");
    const dir = manager.inspect("ws_full")!.repoDir;
    expect(git(dir, "rev-parse", "HEAD")).toBe(first);
    expect(git(dir, "rev-parse", "--is-shallow-repository")).toBe("false");
  });

  it("clones a revision shallowly over git:// from a git daemon on 127.0.0.1", async () => {
    const { spawn } = await import("node:child_process");
    const repo = makeRepo({ "v.txt": "1" });
    const first = repo.commits[0]!;
    repo.commit({ "v.txt": "2" });
    const port = await freePort();
    const base = path.dirname(repo.dir);
    const daemon = spawn("git", ["daemon", "--reuseaddr", "--export-all", "--verbose", `--base-path=${base}`, "--listen=127.0.0.1", `--port=${port}`, base], { stdio: ["ignore", "ignore", "pipe"] });
    try {
      let err = "";
      daemon.stderr.on("data", (d) => (err += d));
      await waitFor(() => err.includes("Ready to rumble"), "git daemon ready");
      const { manager, recorder } = await harness(mode);
      manager.handle(startCommand("ws_daemon", 1, { cloneUrl: `git://127.0.0.1:${port}/project`, revision: first }));
      await manager.idle();
      expect(recorder.last("ws_daemon")?.phase).toBe("running");
      const dir = manager.inspect("ws_daemon")!.repoDir;
      expect(git(dir, "rev-parse", "HEAD")).toBe(first);
      expect(git(dir, "rev-parse", "--is-shallow-repository")).toBe("true");
    } finally {
      daemon.kill();
    }
  });

  it("refuses transports outside the allowed list (file:// on a production runner)", async () => {
    const repo = makeRepo({});
    const { manager, recorder } = await harness(mode, [repo.dir], { gitProtocols: "https:ssh" });
    manager.handle(startCommand("ws_proto", 1, { cloneUrl: repo.url }));
    await manager.idle();
    expect(recorder.last("ws_proto")?.reason).toMatch(/transport 'file' not allowed/);
  });
});
