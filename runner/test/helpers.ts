/** Test support: temp dirs, real git repositories, a recording sink, waiting. */
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { afterAll } from "vitest";
import type { RunnerPhase, Status } from "../../protocol/runner.ts";
import { silentLogger } from "../src/log.ts";
import { detectSandbox, makeSandbox, type Sandbox } from "../src/sandbox.ts";
import { WorkspaceManager } from "../src/manager.ts";
import type { LogMessage, ManagerOptions, Sink } from "../src/workspaces.ts";

const dirs: string[] = [];
const managers: WorkspaceManager[] = [];
afterAll(async () => {
  // A test that failed half-way must not leave its workspaces' processes behind.
  await Promise.all(managers.map((m) => m.stopAll("test cleanup")));
  killStragglers(dirs);
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});

/** SIGKILLs processes of workspaces under `roots` (a runner killed mid-test leaves plain ones). */
function killStragglers(roots: string[]): void {
  for (const name of fs.readdirSync("/proc")) {
    if (!/^\d+$/.test(name) || Number(name) === process.pid) continue;
    try {
      const env = fs.readFileSync(`/proc/${name}/environ`, "utf8").split("\0");
      const dir = env.find((e) => e.startsWith("EDGEPOD_WORKSPACE_DIR="))?.slice("EDGEPOD_WORKSPACE_DIR=".length);
      if (dir && roots.some((r) => dir.startsWith(r + "/"))) process.kill(Number(name), "SIGKILL");
    } catch {
      // gone, or not readable
    }
  }
}

export function tmpDir(prefix = "edgepod-runner-"): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  dirs.push(d);
  return d;
}

const GIT_ENV = {
  ...process.env,
  GIT_AUTHOR_NAME: "Test",
  GIT_AUTHOR_EMAIL: "test@example.com",
  GIT_COMMITTER_NAME: "Test",
  GIT_COMMITTER_EMAIL: "test@example.com",
  GIT_CONFIG_NOSYSTEM: "1",
};

export function git(cwd: string, ...args: string[]): string {
  return execFileSync("git", args, { cwd, env: GIT_ENV, encoding: "utf8" }).trim();
}

export interface TestRepo {
  dir: string;
  url: string;
  /** Commit shas, oldest first. */
  commits: string[];
  commit(files: Record<string, string>, message?: string): string;
}

/** A real repository (branch `main`) with one commit of `files`. */
export function makeRepo(files: Record<string, string>, parent = tmpDir("edgepod-repo-")): TestRepo {
  const dir = path.join(parent, "project");
  fs.mkdirSync(dir, { recursive: true });
  git(dir, "init", "-q", "-b", "main");
  const repo: TestRepo = {
    dir,
    url: `file://${dir}`,
    commits: [],
    commit(more, message = "change") {
      for (const [name, content] of Object.entries(more)) {
        fs.mkdirSync(path.dirname(path.join(dir, name)), { recursive: true });
        fs.writeFileSync(path.join(dir, name), content);
      }
      git(dir, "add", "-A");
      git(dir, "commit", "-q", "--allow-empty", "-m", message);
      const sha = git(dir, "rev-parse", "HEAD");
      repo.commits.push(sha);
      return sha;
    },
  };
  repo.commit(files, "initial");
  return repo;
}

/** Records everything a manager reports. */
export class Recorder implements Sink {
  statuses: Status[] = [];
  logs: LogMessage[] = [];
  status(message: Status): void {
    this.statuses.push(message);
  }
  log(message: LogMessage): void {
    this.logs.push(message);
  }
  /** Phases reported for a workspace, consecutive repeats folded. */
  phases(workspaceId: string): RunnerPhase[] {
    const out: RunnerPhase[] = [];
    for (const s of this.statuses) if (s.workspaceId === workspaceId && out.at(-1) !== s.phase) out.push(s.phase);
    return out;
  }
  last(workspaceId: string): Status | undefined {
    return this.statuses.filter((s) => s.workspaceId === workspaceId).at(-1);
  }
  /** Concatenated output of one task stage (`0:init`) and stream. */
  output(workspaceId: string, task: string, stream: "stdout" | "stderr" = "stdout"): string {
    return this.logs
      .filter((l) => l.workspaceId === workspaceId && l.task === task && l.stream === stream)
      .map((l) => l.data)
      .join("");
  }
  /** Task names in order of first output (of one stream, or of both). */
  taskNames(workspaceId: string, stream?: "stdout" | "stderr"): string[] {
    const out: string[] = [];
    for (const l of this.logs) {
      if (l.workspaceId === workspaceId && (!stream || l.stream === stream) && !out.includes(l.task)) out.push(l.task);
    }
    return out;
  }
}

export async function waitFor<T>(check: () => T | undefined | null | false, what: string, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = check();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

let bwrapSandbox: boolean | null = null;
/** Whether bubblewrap works on this machine (probed once). */
export function bwrapWorks(): boolean {
  if (bwrapSandbox === null) bwrapSandbox = detectSandbox({ preference: "auto", workdir: tmpDir(), logger: silentLogger }).mode === "bwrap";
  return bwrapSandbox;
}

/** The sandbox modes to exercise here: plain always, bwrap where it works. */
export function modes(): ("none" | "bwrap")[] {
  return bwrapWorks() ? ["none", "bwrap"] : ["none"];
}

/** Directory of the Node binary running the tests (bound into sandboxes for `node -e`). */
export const NODE_DIR = path.dirname(fs.realpathSync(process.execPath));
export const NODE = path.join(NODE_DIR, path.basename(fs.realpathSync(process.execPath)));

export interface Harness {
  manager: WorkspaceManager;
  recorder: Recorder;
  workdir: string;
  sandbox: Sandbox;
}

export async function harness(
  mode: "none" | "bwrap",
  extraBinds: string[] = [],
  options: Partial<ManagerOptions> = {},
  workdir = tmpDir("edgepod-work-"),
): Promise<Harness> {
  const recorder = new Recorder();
  const tee = options.sink;
  const sink: Sink = tee
    ? {
        status: (s) => {
          recorder.status(s);
          tee.status(s);
        },
        log: (l) => {
          recorder.log(l);
          tee.log(l);
        },
      }
    : recorder;
  const sandbox = makeSandbox({ mode, workdir, extraBinds: [...extraBinds, NODE_DIR] });
  const manager = await WorkspaceManager.open({
    workdir,
    capacity: 8,
    sandbox,
    logger: silentLogger,
    gitProtocols: "file:git",
    killGraceMs: 2_000,
    portPollMs: 100,
    ...options,
    sink,
  });
  managers.push(manager);
  return { manager, recorder, workdir, sandbox };
}

export function startCommand(
  workspaceId: string,
  generation: number,
  repository: { cloneUrl: string; ref?: string | null; revision?: string | null },
  extra: {
    tasks?: { name?: string; before?: string; init?: string; command?: string }[] | null;
    env?: Record<string, string>;
    startMs?: number;
    mode?: "workspace" | "prebuild";
    snapshot?: string;
  } = {},
) {
  return {
    type: "start" as const,
    id: `cmd_${workspaceId}_${generation}`,
    spec: {
      workspaceId,
      generation,
      repository: { cloneUrl: repository.cloneUrl, ref: repository.ref ?? null, revision: repository.revision ?? null },
      tasks: extra.tasks ?? null,
      env: extra.env ?? {},
      timeouts: { startMs: extra.startMs ?? 60_000 },
      ...(extra.mode ? { mode: extra.mode } : {}),
      ...(extra.snapshot ? { snapshot: { key: extra.snapshot } } : {}),
    },
  };
}

export function stopCommand(workspaceId: string, generation: number) {
  return { type: "stop" as const, id: `cmd_stop_${workspaceId}_${generation}`, workspaceId, generation, reason: "requested" };
}

/** Host pids whose command line contains `marker`. */
export function pidsWithCmdline(marker: string): number[] {
  const out: number[] = [];
  for (const name of fs.readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const cmd = fs.readFileSync(`/proc/${name}/cmdline`, "utf8").split("\0").join(" ");
      if (cmd.includes(marker)) out.push(Number(name));
    } catch {
      // gone
    }
  }
  return out;
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const port = (server.address() as net.AddressInfo).port;
      server.close(() => resolve(port));
    });
  });
}

/** A unique number for marker commands (`sleep 1000.<n>`). */
export function marker(): string {
  return `${1000 + Math.floor(Math.random() * 8000)}.${process.pid}${Math.floor(Math.random() * 1000)}`;
}
