/**
 * Prebuilds on the runner, for real: a prebuild runs `before` and `init` only in a fresh
 * directory and keeps the result; a workspace given that snapshot starts from a copy of it
 * (no clone, no init) and says so; one whose snapshot is missing clones as usual.
 */
import fs from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { silentLogger } from "../src/log.ts";
import { Snapshots } from "../src/snapshots.ts";
import { git, harness, makeRepo, marker, modes, pidsWithCmdline, startCommand, stopCommand, tmpDir } from "./helpers.ts";

function gitpodYml(m: string) {
  return {
    ".gitpod.yml": `tasks:
  - before: echo b >> "$HOME/before-count"
    init: |
      echo "building $(git rev-parse --short HEAD)"
      echo built > build.out
      echo i >> "$HOME/init-count"
    command: echo "started with $(cat build.out)"; exec sleep ${m}
`,
  };
}

describe.each(modes())("prebuilds (sandbox: %s)", (mode) => {
  it("a prebuild runs before and init only, in a fresh directory, and keeps the result", async () => {
    const m = marker();
    const repo = makeRepo(gitpodYml(m));
    const { manager, recorder } = await harness(mode, [repo.dir]);
    const sha = repo.commits[0]!;
    manager.handle(startCommand("pb_one", 1, { cloneUrl: repo.url, ref: "main", revision: sha }, { mode: "prebuild", snapshot: "pb_one" }));
    await manager.idle("pb_one");
    expect(recorder.phases("pb_one")).toEqual(["creating", "initializing", "running"]);
    expect(recorder.last("pb_one")).toMatchObject({ phase: "running", reason: "prebuild saved" });
    expect(recorder.output("pb_one", "0:init")).toBe(`building ${sha.slice(0, 7)}\n`);
    expect(recorder.taskNames("pb_one")).not.toContain("0:command");
    expect(recorder.output("pb_one", "prebuild")).toMatch(/^Prebuild saved \(\d+ KiB\)\.\n$/);
    expect(pidsWithCmdline(`sleep ${m}`)).toEqual([]);

    const kept = manager.snapshots.manifest("pb_one")!;
    expect(kept).toMatchObject({ key: "pb_one", repoName: "project", revision: sha });
    expect(fs.readFileSync(path.join(manager.snapshots.dir, "pb_one", "project", "build.out"), "utf8")).toBe("built\n");
    expect(fs.existsSync(manager.inspect("pb_one")!.dir)).toBe(false);

    manager.handle(stopCommand("pb_one", 2));
    await manager.idle("pb_one");
    expect(recorder.last("pb_one")).toMatchObject({ phase: "stopped", generation: 2 });
  });

  it("a workspace starts from the prebuild: no clone, no init, before and command as usual, and it says so", async () => {
    const m = marker();
    const repo = makeRepo(gitpodYml(m));
    const { manager, recorder } = await harness(mode, [repo.dir]);
    const sha = repo.commits[0]!;
    manager.handle(startCommand("pb_two", 1, { cloneUrl: repo.url, ref: "main", revision: sha }, { mode: "prebuild", snapshot: "pb_two" }));
    await manager.idle("pb_two");

    // Upstream moves on: the workspace still gets the prebuilt commit (it does not clone).
    repo.commit({ "later.txt": "later\n" });
    for (const id of ["ws_a", "ws_b"]) {
      manager.handle(startCommand(id, 1, { cloneUrl: repo.url, ref: "main", revision: sha }, { snapshot: "pb_two" }));
      await manager.idle(id);
      expect(recorder.phases(id)).toEqual(["creating", "initializing", "running"]);
      expect(recorder.last(id)).toMatchObject({ phase: "running", reason: "started from prebuild pb_two: init skipped" });
      expect(recorder.output(id, "prebuild")).toBe(`Starting from prebuild pb_two (${sha.slice(0, 12)}): clone and init skipped.\n`);
      expect(recorder.taskNames(id)).not.toContain("clone");
      expect(recorder.taskNames(id)).not.toContain("0:init");
      await expect.poll(() => recorder.output(id, "0:command")).toBe("started with built\n");
      const info = manager.inspect(id)!;
      expect(fs.readFileSync(path.join(info.dir, "init-count"), "utf8")).toBe("i\n");
      expect(fs.readFileSync(path.join(info.dir, "before-count"), "utf8")).toBe("b\nb\n");
      expect(fs.existsSync(path.join(info.repoDir, "later.txt"))).toBe(false);
      expect(git(info.repoDir, "rev-parse", "HEAD")).toBe(sha);
      expect(info.state).toMatchObject({ cloned: true, initDone: true });
    }
    for (const id of ["ws_a", "ws_b"]) manager.handle(stopCommand(id, 2));
    await manager.idle();
    expect(pidsWithCmdline(`sleep ${m}`)).toEqual([]);
  });

  it("a workspace whose prebuild this runner does not hold clones and initialises, and says so", async () => {
    const repo = makeRepo(gitpodYml(marker()));
    const { manager, recorder } = await harness(mode, [repo.dir]);
    manager.handle(startCommand("ws_miss", 1, { cloneUrl: repo.url }, { snapshot: "pb_elsewhere", tasks: [{ init: "echo init-ran" }] }));
    await manager.idle("ws_miss");
    expect(recorder.last("ws_miss")).toMatchObject({ phase: "running" });
    expect(recorder.last("ws_miss")!.reason).toBeUndefined();
    expect(recorder.output("ws_miss", "prebuild")).toBe("Prebuild pb_elsewhere is not on this runner: cloning and running init.\n");
    expect(recorder.output("ws_miss", "0:init")).toBe("init-ran\n");
  });
});

describe("prebuild edge cases", () => {
  it("a re-run (a newer generation) starts afresh from a clone; a failed init keeps nothing", async () => {
    const repo = makeRepo({ ".gitpod.yml": 'tasks:\n  - init: echo "init of $(git rev-parse --short HEAD)"; test ! -f fail\n' });
    const { manager, recorder } = await harness("none", [repo.dir]);
    const first = repo.commits[0]!;
    manager.handle(startCommand("pb_rerun", 1, { cloneUrl: repo.url, ref: "main", revision: first }, { mode: "prebuild", snapshot: "pb_rerun" }));
    await manager.idle("pb_rerun");
    manager.handle(stopCommand("pb_rerun", 2));
    await manager.idle("pb_rerun");
    const before = recorder.logs.length;
    manager.handle(startCommand("pb_rerun", 3, { cloneUrl: repo.url, ref: "main", revision: first }, { mode: "prebuild", snapshot: "pb_rerun" }));
    await manager.idle("pb_rerun");
    // Its directory went into the store: the re-run clones and initialises again.
    expect(recorder.logs.slice(before).map((l) => l.task)).toContain("0:init");
    expect(recorder.last("pb_rerun")).toMatchObject({ phase: "running", generation: 3 });

    const broken = repo.commit({ fail: "" });
    manager.handle(startCommand("pb_broken", 1, { cloneUrl: repo.url, ref: "main", revision: broken }, { mode: "prebuild", snapshot: "pb_broken" }));
    await manager.idle("pb_broken");
    expect(recorder.last("pb_broken")).toMatchObject({ phase: "failed", reason: "task 0 init exited with code 1" });
    expect(manager.snapshots.manifest("pb_broken")).toBeNull();
  });

  it("a pull request's prebuild checks out its commit even when the ref has moved on", async () => {
    const repo = makeRepo({ ".gitpod.yml": "tasks:\n  - init: git rev-parse HEAD\n" });
    const wanted = repo.commit({ "a.txt": "a" });
    repo.commit({ "b.txt": "b" });
    git(repo.dir, "update-ref", "refs/pull/1/head", "HEAD");
    git(repo.dir, "reset", "-q", "--hard", repo.commits[0]!);
    const { manager, recorder } = await harness("none", [repo.dir]);
    manager.handle(startCommand("pb_pr", 1, { cloneUrl: repo.url, ref: "refs/pull/1/head", revision: wanted }, { mode: "prebuild", snapshot: "pb_pr" }));
    await manager.idle("pb_pr");
    expect(recorder.last("pb_pr")).toMatchObject({ phase: "running" });
    expect(recorder.output("pb_pr", "0:init")).toBe(`${wanted}\n`);
  });

  it("the store keeps the most recently used results", async () => {
    const store = new Snapshots(path.join(tmpDir(), ".prebuilds"), 2, silentLogger);
    const save = async (key: string) => {
      const dir = path.join(tmpDir(), key);
      fs.mkdirSync(path.join(dir, "repo"), { recursive: true });
      fs.writeFileSync(path.join(dir, "repo", "f"), key);
      await store.save(key, dir, { repoName: "repo", revision: null });
      await new Promise((r) => setTimeout(r, 5));
    };
    await save("pb_1");
    await save("pb_2");
    expect(await store.restore("pb_1", path.join(tmpDir(), "use"))).not.toBeNull();
    await new Promise((r) => setTimeout(r, 5));
    await save("pb_3");
    expect(store.list().map((s) => s.key)).toEqual(["pb_3", "pb_1"]);
    expect(store.manifest("pb_2")).toBeNull();
    expect(await store.restore("../etc", tmpDir())).toBeNull();
  });
});
