/** The pure parts: sandbox arguments, the generation rule, task driver, chunking, config, /proc parsers. */
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { ConfigError, connectUrl, loadConfig } from "../src/config.ts";
import { backoffDelay } from "../src/connection.ts";
import { lastError, validateRepository } from "../src/git.ts";
import { createLogger, redactUrl } from "../src/log.ts";
import { parseListening, parseStat } from "../src/procfs.ts";
import { buildLaunch, bwrapArgs, hostnameFor, makeSandbox, systemBindArgs, type PathKind, type Sandbox } from "../src/sandbox.ts";
import { chunkUtf8, driverScript, shQuote, StageSplitter, stageMarker } from "../src/tasks.ts";
import { planCommand, repoNameFrom } from "../src/workspaces.ts";
import { tmpDir } from "./helpers.ts";

describe("sandbox arguments", () => {
  const sandbox: Sandbox = {
    mode: "bwrap",
    bwrapPath: "/usr/bin/bwrap",
    workdir: "/srv/runner/workspaces",
    systemArgs: ["--ro-bind", "/usr", "/usr", "--symlink", "usr/bin", "/bin"],
    extraBinds: ["/opt/toolchain"],
    dropCaps: true,
  };
  const request = {
    argv: ["/bin/bash", "/srv/runner/workspaces/.state/ws_1/tasks/0-driver.sh"],
    cwd: "/srv/runner/workspaces/ws_1/repo",
    env: { PATH: "/usr/bin:/bin", HOME: "/srv/runner/workspaces/ws_1" },
    workspaceDir: "/srv/runner/workspaces/ws_1",
    readOnly: ["/srv/runner/workspaces/.state/ws_1/tasks"],
    hostname: "ws-1",
  };

  it("isolates PID, IPC and UTS, dies with the runner, drops capabilities as root", () => {
    const args = bwrapArgs(sandbox, request);
    for (const flag of ["--unshare-pid", "--unshare-ipc", "--unshare-uts", "--die-with-parent", "--new-session"]) expect(args).toContain(flag);
    expect(args).not.toContain("--unshare-net"); // ports stay reachable from the host
    expect(args.join(" ")).toContain("--cap-drop ALL");
    expect(bwrapArgs({ ...sandbox, dropCaps: false }, request)).not.toContain("--cap-drop");
    expect(args.join(" ")).toContain("--hostname ws-1");
  });

  it("mounts system read-only, fresh /proc, /dev and /tmp, hides the workdir, then binds only this workspace", () => {
    const args = bwrapArgs(sandbox, request).join(" ");
    const order = [
      "--ro-bind /usr /usr",
      "--symlink usr/bin /bin",
      "--proc /proc",
      "--dev /dev",
      "--tmpfs /tmp",
      "--tmpfs /srv/runner/workspaces",
      "--ro-bind-try /opt/toolchain /opt/toolchain",
      "--ro-bind /srv/runner/workspaces/.state/ws_1/tasks /srv/runner/workspaces/.state/ws_1/tasks",
      "--bind /srv/runner/workspaces/ws_1 /srv/runner/workspaces/ws_1",
      "--chdir /srv/runner/workspaces/ws_1/repo",
    ];
    let at = -1;
    for (const part of order) {
      const i = args.indexOf(part);
      expect(i, part).toBeGreaterThan(at);
      at = i;
    }
    expect(args).not.toMatch(/--bind \/ \//);
    expect(args).not.toContain("--ro-bind / /");
  });

  it("passes exactly the given environment and puts the command after --", () => {
    const launch = buildLaunch(sandbox, request);
    expect(launch.file).toBe("/usr/bin/bwrap");
    expect(launch.env).toEqual(request.env);
    expect(launch.args.slice(launch.args.indexOf("--") + 1)).toEqual(request.argv);
    expect(launch.detached).toBe(true);
  });

  it("without bwrap runs the command itself, detached into its own process group", () => {
    const launch = buildLaunch({ ...sandbox, mode: "none", bwrapPath: null }, request);
    expect(launch).toEqual({ file: "/bin/bash", args: [request.argv[1]], cwd: request.cwd, env: request.env, detached: true });
  });

  it("binds system directories and recreates merged-/usr symlinks, skipping what is missing", () => {
    const fake: Record<string, PathKind> = {
      "/usr": { kind: "dir" },
      "/bin": { kind: "symlink", target: "usr/bin" },
      "/lib64": { kind: "missing" },
      "/etc": { kind: "dir" },
    };
    expect(systemBindArgs(["/usr", "/bin", "/lib64", "/etc"], (p) => fake[p] ?? { kind: "missing" })).toEqual([
      "--ro-bind", "/usr", "/usr",
      "--symlink", "usr/bin", "/bin",
      "--ro-bind", "/etc", "/etc",
    ]);
  });

  it("never exposes /home, /root or /work by default", () => {
    const sb = makeSandbox({ mode: "bwrap", bwrapPath: "/usr/bin/bwrap", workdir: tmpDir() });
    const binds = sb.systemArgs.join(" ");
    for (const p of ["/home", "/root", "/work", "/var", "/srv"]) expect(binds).not.toMatch(new RegExp(`--ro-bind ${p} `));
  });

  it("derives a valid hostname from a workspace id", () => {
    expect(hostnameFor("ws_01HXYZ")).toBe("ws-01hxyz");
    expect(hostnameFor("___")).toBe("workspace");
    expect(hostnameFor("a".repeat(100))).toHaveLength(63);
  });
});

describe("the generation rule", () => {
  const at = (generation: number, desired: "running" | "stopped", phase: Parameters<typeof planCommand>[0] extends infer S ? S extends { phase: infer P } ? P : never : never) => ({ generation, desired, phase });
  const cases: [string, Parameters<typeof planCommand>[0], "start" | "stop", number, ReturnType<typeof planCommand>][] = [
    ["first start of an unknown workspace", null, "start", 1, "start"],
    ["stop of an unknown workspace: nothing to do", null, "stop", 1, "adopt"],
    ["a repeated start", at(3, "running", "running"), "start", 3, "ignore"],
    ["a replayed older start", at(3, "running", "running"), "start", 2, "ignore"],
    ["a repeated stop", at(4, "stopped", "stopped"), "stop", 4, "ignore"],
    ["an older stop after a newer start", at(5, "running", "creating"), "stop", 4, "ignore"],
    ["a newer start while running: adopt the generation", at(3, "running", "running"), "start", 4, "adopt"],
    ["a newer start while initializing: adopt", at(3, "running", "initializing"), "start", 4, "adopt"],
    ["a newer start after a stop: start", at(3, "stopped", "stopped"), "start", 4, "start"],
    ["a newer start while stopping: start after the stop", at(3, "stopped", "stopping"), "start", 4, "start"],
    ["a newer start after a failure: retry", at(3, "running", "failed"), "start", 4, "start"],
    ["a newer stop while running", at(3, "running", "running"), "stop", 4, "stop"],
    ["a newer stop while creating: cut the start short", at(3, "running", "creating"), "stop", 4, "stop"],
    ["a newer stop of a failed workspace", at(3, "running", "failed"), "stop", 4, "stop"],
    ["a newer stop of a stopped workspace: adopt", at(3, "stopped", "stopped"), "stop", 4, "adopt"],
  ];
  it.each(cases)("%s", (_name, current, type, generation, plan) => {
    expect(planCommand(current, { type, generation })).toBe(plan);
  });
});

describe("task driver", () => {
  it("quotes anything for the shell", () => {
    const nasty = `it's "$(rm -rf /)" \`x\` \\ $HOME`;
    const r = spawnSync("/bin/sh", ["-c", `printf %s ${shQuote(nasty)}`], { encoding: "utf8" });
    expect(r.stdout).toBe(nasty);
  });

  const nonce = "0123abcd";
  const splitOutput = (text: string, first: "before" | "init" | "command" = "before") => {
    const parts: [string, string][] = [];
    const splitter = new StageSplitter(nonce, first, (stage, t) => {
      const last = parts.at(-1);
      if (last && last[0] === stage) last[1] += t;
      else parts.push([stage, t]);
    });
    splitter.write(text);
    splitter.end();
    return parts;
  };

  it("runs the stages in one shell, marks them in-band and reports boundaries on fd 3", () => {
    const dir = tmpDir();
    const file = (name: string, body: string) => {
      fs.writeFileSync(path.join(dir, name), body);
      return path.join(dir, name);
    };
    const script = driverScript(
      { before: file("b.sh", "echo B; export X=1\n"), init: file("i.sh", "echo I $X; echo IE >&2\n"), command: file("c.sh", "echo C $X $T; ls /proc/self/fd | sort -n | tr '\\n' ' '\n") },
      { T: "task env" },
      nonce,
    );
    const r = spawnSync("/bin/sh", ["-c", `sh ${shQuote(file("driver.sh", script))} 3>${dir}/ctl`], { encoding: "utf8" });
    expect(fs.readFileSync(path.join(dir, "ctl"), "utf8")).toBe("begin before\nend before 0\nbegin init\nend init 0\nbegin command\n");
    const out = splitOutput(r.stdout);
    expect(out.map(([stage]) => stage)).toEqual(["before", "init", "command"]);
    expect(out.slice(0, 2)).toEqual([["before", "B\n"], ["init", "I 1\n"]]);
    expect(splitOutput(r.stderr)).toEqual([["init", "IE\n"]]);
    // The command sees stdin/out/err and the fd `ls` opens (3): not the control pipe.
    // (The shell's own fd for the sourced file sits at ≥ 10.)
    const [first, fds] = out[2]![1].split("\n");
    expect(first).toBe("C 1 task env");
    expect(fds!.trim().split(" ").map(Number).filter((fd) => fd < 10)).toEqual([0, 1, 2, 3]);
  });

  it.each([
    ["a failing last command", "echo x >&2; false\n", 1, "begin init\nend init 1\n"],
    // `exit` in a sourced stage ends the shell: the boundary is missing, the exit code tells.
    ["an explicit exit", "exit 4\n", 4, "begin init\n"],
  ])("stops at a failing stage (%s) with its exit code", (_name, init, code, ctl) => {
    const dir = tmpDir();
    fs.writeFileSync(path.join(dir, "i.sh"), init);
    fs.writeFileSync(path.join(dir, "c.sh"), "echo never\n");
    fs.writeFileSync(path.join(dir, "d.sh"), driverScript({ init: path.join(dir, "i.sh"), command: path.join(dir, "c.sh") }, {}, nonce));
    const r = spawnSync("/bin/sh", ["-c", `sh ${dir}/d.sh 3>${dir}/ctl`], { encoding: "utf8" });
    expect(r.status).toBe(code);
    expect(splitOutput(r.stdout, "init")).toEqual([]);
    expect(fs.readFileSync(path.join(dir, "ctl"), "utf8")).toBe(ctl);
  });

  it("splits output at stage markers however the reads fall", () => {
    const text = `early\n${stageMarker(nonce, "init")}one\ntwo\n${stageMarker(nonce, "command")}three\x1e not a marker\n`;
    const expected = [
      ["before", "early\n"],
      ["init", "one\ntwo\n"],
      ["command", "three\x1e not a marker\n"],
    ];
    for (let cut1 = 0; cut1 <= text.length; cut1++) {
      for (const cut2 of [cut1, Math.min(text.length, cut1 + 7), text.length]) {
        const parts: [string, string][] = [];
        const splitter = new StageSplitter(nonce, "before", (stage, t) => {
          const last = parts.at(-1);
          if (last && last[0] === stage) last[1] += t;
          else parts.push([stage, t]);
        });
        splitter.write(text.slice(0, cut1));
        splitter.write(text.slice(cut1, cut2));
        splitter.write(text.slice(cut2));
        splitter.end();
        expect(parts, `cut at ${cut1}/${cut2}`).toEqual(expected);
      }
    }
  });

  it("does not take a marker with another nonce for a boundary", () => {
    expect(splitOutput(`a${stageMarker("ffff", "command")}b`)).toEqual([["before", `a${stageMarker("ffff", "command")}b`]]);
  });
});

describe("chunkUtf8", () => {
  it("keeps small text whole and splits large text at character boundaries", () => {
    expect(chunkUtf8("")).toEqual([]);
    expect(chunkUtf8("hello")).toEqual(["hello"]);
    const big = "é".repeat(50_000) + "x".repeat(10) + "😀".repeat(20_000);
    const chunks = chunkUtf8(big);
    expect(chunks.join("")).toBe(big);
    for (const c of chunks) {
      expect(Buffer.byteLength(c)).toBeLessThanOrEqual(64 * 1024);
      expect(c).not.toContain("\uFFFD");
    }
    expect(chunkUtf8("abcdef", 4)).toEqual(["abcd", "ef"]);
    expect(chunkUtf8("aéé", 4)).toEqual(["aé", "é"]);
  });
});

describe("config", () => {
  const env = { EDGEPOD_URL: "https://edgepod.example.com", EDGEPOD_RUNNER_TOKEN: "edr_abc" };
  it("reads the environment with defaults", () => {
    const c = loadConfig(env, "/srv");
    expect(c).toMatchObject({ url: env.EDGEPOD_URL, token: "edr_abc", workdir: "/srv/.runner/workspaces", capacity: 4, graceMs: 300_000, sandbox: "auto", sandboxBinds: [] });
    expect(loadConfig({ ...env, RUNNER_WORKDIR: "/data/ws", RUNNER_CAPACITY: "10", RUNNER_GRACE_MS: "1000", RUNNER_SANDBOX: "none", RUNNER_SANDBOX_BINDS: "/opt/a:/nix" }, "/srv")).toMatchObject({
      workdir: "/data/ws",
      capacity: 10,
      graceMs: 1000,
      sandbox: "none",
      sandboxBinds: ["/opt/a", "/nix"],
    });
  });
  it("lists every problem", () => {
    expect(() => loadConfig({ RUNNER_CAPACITY: "lots" })).toThrowError(ConfigError);
    expect(() => loadConfig({ RUNNER_CAPACITY: "lots" })).toThrowError(/EDGEPOD_URL is required.*EDGEPOD_RUNNER_TOKEN is required.*RUNNER_CAPACITY/);
    expect(() => loadConfig({ ...env, EDGEPOD_URL: "ftp://x" })).toThrowError(/EDGEPOD_URL must be/);
  });
  it("builds the connect URL", () => {
    expect(connectUrl("https://edgepod.example.com")).toBe("wss://edgepod.example.com/api/v1/runners/connect");
    expect(connectUrl("http://127.0.0.1:8787/")).toBe("ws://127.0.0.1:8787/api/v1/runners/connect");
    expect(connectUrl("wss://host/base/")).toBe("wss://host/base/api/v1/runners/connect");
  });
});

describe("logging", () => {
  it("writes JSON lines and never the token", () => {
    const lines: string[] = [];
    const log = createLogger({ secrets: ["edr_supersecret"], write: (l) => lines.push(l) }).child({ component: "test" });
    log.info("connecting", { header: "Bearer edr_supersecret", error: new Error("bad edr_supersecret") });
    log.debug("hidden");
    expect(lines).toHaveLength(1);
    const line = JSON.parse(lines[0]!);
    expect(line).toMatchObject({ level: "info", msg: "connecting", component: "test", header: "Bearer [redacted]", error: { message: "bad [redacted]" } });
    expect(lines[0]).not.toContain("supersecret");
  });
  it("removes credentials from clone URLs", () => {
    expect(redactUrl("https://oauth2:tok@github.com/a/b.git")).toBe("https://***@github.com/a/b.git");
    expect(redactUrl("https://github.com/a/b.git")).toBe("https://github.com/a/b.git");
    expect(lastError("Cloning…\nfatal: could not read https://x:tok@host/r\nfatal: second")).toBe("fatal: could not read https://***@host/r");
  });
});

describe("git input", () => {
  it.each([
    [{ cloneUrl: "https://github.com/a/b", ref: "main", revision: null }, null],
    [{ cloneUrl: "https://github.com/a/b", ref: "refs/heads/feature/x", revision: "0123456789abcdef0123456789abcdef01234567" }, null],
    [{ cloneUrl: "--upload-pack=evil", ref: null, revision: null }, "invalid clone URL"],
    [{ cloneUrl: "https://x/y", ref: "--upload-pack=evil", revision: null }, 'invalid ref "--upload-pack=evil"'],
    [{ cloneUrl: "https://x/y", ref: "a..b", revision: null }, 'invalid ref "a..b"'],
    [{ cloneUrl: "https://x/y", ref: null, revision: "-x" }, 'invalid revision "-x"'],
  ])("validates %j", (repo, problem) => {
    expect(validateRepository(repo)).toBe(problem);
  });
  it("names the checkout after the repository", () => {
    expect(repoNameFrom("https://github.com/acme/web-app.git")).toBe("web-app");
    expect(repoNameFrom("git@github.com:acme/api.git")).toBe("api");
    expect(repoNameFrom("file:///tmp/x/project/")).toBe("project");
    expect(repoNameFrom("https://host/..")).toBe("repo");
  });
});

describe("/proc parsing", () => {
  it("reads pid, parent and group from stat, even with odd command names", () => {
    expect(parseStat("1234 (my (odd) proc) S 1 1234 1234 0 -1 4194560")).toEqual({ pid: 1234, ppid: 1, pgid: 1234 });
  });
  it("finds listening sockets in /proc/net/tcp", () => {
    const text = [
      "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode",
      "   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 4242 1 0000000000000000 100 0 0 10 0",
      "   1: 0100007F:1F91 0100007F:A000 01 00000000:00000000 00:00000000 00000000     0        0 4343 1 0000000000000000 100 0 0 10 0",
    ].join("\n");
    expect([...parseListening(text)]).toEqual([["4242", 8080]]);
  });
});

describe("backoff", () => {
  it("grows exponentially with jitter, capped", () => {
    expect(backoffDelay(0, 500, 30_000, () => 0)).toBe(250);
    expect(backoffDelay(0, 500, 30_000, () => 1)).toBe(500);
    expect(backoffDelay(3, 500, 30_000, () => 0.5)).toBe(3_000);
    expect(backoffDelay(20, 500, 30_000, () => 1)).toBe(30_000);
  });
});
