/**
 * The per-workspace reconciler. The control plane says what it wants (`start`/`stop` with
 * a generation); each workspace applies a command only when its generation is newer than
 * the last one applied, serialises its work (one operation at a time, a `stop` cutting a
 * running `start` short), and reports every phase change as a `status`.
 *
 * On disk, under the work directory:
 *   <id>/                the workspace directory: HOME, bound writable into the sandbox
 *   <id>/<repo>/         the checkout (the tasks' working directory)
 *   .state/<id>.json     what the runner knows (generation, phase, cloned, init done)
 *   .state/<id>/tasks/   the task scripts (read-only inside the sandbox)
 *   .prebuilds/<key>/    prebuild results (snapshots.ts)
 * A stop keeps the workspace directory; the next start resumes there: no clone, no init.
 * A prebuild (`mode: "prebuild"`) runs `before` and `init` only, in a fresh directory, and
 * keeps the result; a workspace given its key starts from a copy of it: no clone, no init.
 */
import fs from "node:fs";
import { fileURLToPath } from "node:url";
import os from "node:os";
import path from "node:path";
import type { StdioOptions } from "node:child_process";
import type { Readable } from "node:stream";
import type { z } from "zod";
import type { LogSchema, RunnerPhase, StartSchema, Status, StopSchema, WorkspaceSpec } from "../../protocol/runner.ts";
import { cloneRepository, GitError, type GitRun } from "./git.ts";
import { GitpodYmlError, readGitpodYml, type RunnerTask } from "./gitpod-yml.ts";
import { redactUrl, type Logger } from "./log.ts";
import { PortWatcher, DEFAULT_PORT_POLL_MS } from "./ports.ts";
import { processTable, sweep } from "./procfs.ts";
import { hostnameFor, SandboxedProcess, sleep, type Sandbox } from "./sandbox.ts";
import { chunkUtf8, RunningTask, startTask, TaskFailure, taskLabel } from "./tasks.ts";
import type { WorkspaceManager } from "./manager.ts";

export type StartCommand = z.infer<typeof StartSchema>;
export type StopCommand = z.infer<typeof StopSchema>;
export type LogMessage = z.infer<typeof LogSchema>;
export type WorkspaceReport = { workspaceId: string; generation: number; phase: RunnerPhase };

/** Where a workspace's statuses and logs go (the connection, or a test's recorder). */
export interface Sink {
  status(message: Status): void;
  log(message: LogMessage): void;
}

export interface ManagerOptions {
  workdir: string;
  capacity: number;
  sandbox: Sandbox;
  sink: Sink;
  logger: Logger;
  /** GIT_ALLOW_PROTOCOL for clones (default https:http:ssh:git). */
  gitProtocols?: string;
  /** Extra `git -c key=value` settings for every git command. */
  gitConfig?: string[];
  portPollMs?: number;
  /** SIGTERM → SIGKILL delay when stopping. */
  killGraceMs?: number;
  /** Shell running the tasks (default: bash where present, else sh). */
  shell?: string;
  /** Prebuild results kept at once (the least recently used go first; default 10). */
  prebuildsKept?: number;
}

export const WORKSPACE_ID = /^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$/;
export const DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
export const ACTIVE: RunnerPhase[] = ["creating", "initializing", "running", "stopping"];

type Desired = "running" | "stopped";

/** What the runner keeps on disk about a workspace (never its env: that may hold secrets). */
export interface PersistedState {
  workspaceId: string;
  /** Last generation applied. */
  generation: number;
  desired: Desired;
  phase: RunnerPhase;
  reason?: string;
  /** For diagnostics; the clone URL without credentials. */
  repository: WorkspaceSpec["repository"] | null;
  /** Name of the checkout directory inside the workspace directory. */
  repoName: string | null;
  cloned: boolean;
  initDone: boolean;
}

export type Plan = "ignore" | "adopt" | "start" | "stop";

/**
 * The generation rule. A command whose generation is not newer than the last applied is
 * ignored (a repeat or a replay). A newer one is adopted without work when the workspace
 * already heads where the command says (the new generation is then reported), otherwise
 * it starts or stops the workspace.
 */
export function planCommand(
  current: { generation: number; desired: Desired; phase: RunnerPhase } | null,
  command: { type: "start" | "stop"; generation: number },
): Plan {
  if (current && command.generation <= current.generation) return "ignore";
  if (command.type === "start") {
    if (current && current.desired === "running" && (current.phase === "creating" || current.phase === "initializing" || current.phase === "running")) return "adopt";
    return "start";
  }
  if (!current || current.desired === "stopped") return "adopt";
  return "stop";
}

class Superseded extends Error {
  override name = "Superseded";
}
class StartTimeout extends Error {
  override name = "StartTimeout";
}

/** Rejects with the signal's reason as soon as it aborts. */
function guard<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener("abort", onAbort, { once: true });
    promise.then(
      (v) => {
        signal.removeEventListener("abort", onAbort);
        resolve(v);
      },
      (e) => {
        signal.removeEventListener("abort", onAbort);
        reject(e);
      },
    );
  });
}

/** `https://github.com/acme/web-app.git` → `web-app`. */
export function repoNameFrom(cloneUrl: string): string {
  const last = cloneUrl.replace(/[?#].*$/, "").replace(/\/+$/, "").split(/[/:]/).pop() ?? "";
  const name = last.replace(/\.git$/, "").replace(/[^A-Za-z0-9._-]/g, "-");
  return name && name !== "." && name !== ".." && !name.startsWith(".") ? name : "repo";
}

export function defaultShell(): string {
  for (const s of ["/bin/bash", "/usr/bin/bash"]) if (fs.existsSync(s)) return s;
  return "/bin/sh";
}

function formatDuration(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000}s` : `${ms}ms`;
}

export class Workspace {
  readonly id: string;
  readonly dir: string;
  readonly stateFile: string;
  readonly scriptsDir: string;
  state: PersistedState;
  lastStatus: Status | null = null;
  readonly #m: WorkspaceManager;
  readonly #log: Logger;
  readonly #procs = new Set<SandboxedProcess>();
  #tasks: RunningTask[] = [];
  #chain: Promise<void> = Promise.resolve();
  /** Operations queued or in progress. */
  readonly #ops = new Set<AbortController>();
  readonly #ports: PortWatcher;

  constructor(manager: WorkspaceManager, state: PersistedState) {
    this.#m = manager;
    this.id = state.workspaceId;
    this.state = state;
    this.dir = path.join(manager.workdir, this.id);
    this.stateFile = path.join(manager.stateDir, `${this.id}.json`);
    this.scriptsDir = path.join(manager.stateDir, this.id, "tasks");
    this.#log = manager.logger.child({ workspaceId: this.id });
    this.#ports = new PortWatcher(
      () => this.processes(),
      (ports) => {
        this.#log.info("ports changed", { ports });
        if (this.state.phase === "initializing" || this.state.phase === "running") this.report(this.state.phase, this.state.reason);
      },
      manager.options.portPollMs ?? DEFAULT_PORT_POLL_MS,
    );
  }

  get repoDir(): string {
    return path.join(this.dir, this.state.repoName ?? "repo");
  }

  get idle(): Promise<void> {
    return this.#chain;
  }

  /** Every live process of this workspace. */
  processes(): Set<number> {
    const table = processTable();
    const out = new Set<number>();
    for (const p of this.#procs) for (const pid of p.processes(table)) out.add(pid);
    return out;
  }

  persist(): void {
    fs.mkdirSync(path.dirname(this.stateFile), { recursive: true });
    const tmp = `${this.stateFile}.tmp`;
    fs.writeFileSync(tmp, JSON.stringify(this.state, null, 2) + "\n");
    fs.renameSync(tmp, this.stateFile);
  }

  report(phase: RunnerPhase, reason?: string): void {
    const changed = this.state.phase !== phase || this.state.reason !== reason;
    this.state.phase = phase;
    if (reason === undefined) delete this.state.reason;
    else this.state.reason = reason;
    if (changed) this.persist();
    const live = phase === "initializing" || phase === "running";
    const status: Status = {
      type: "status",
      workspaceId: this.id,
      generation: this.state.generation,
      phase,
      ports: live ? this.#ports.ports.slice(0, 100).map((port) => ({ port })) : [],
    };
    if (reason !== undefined) status.reason = reason.slice(0, 2_000);
    this.lastStatus = status;
    if (changed) this.#log.info("phase", { phase, generation: this.state.generation, reason });
    this.#m.options.sink.status(status);
  }

  /**
   * Runs `work` after everything queued before it. `preempt` cuts short the operation in
   * progress and cancels those still queued (a `stop` makes pending `start`s moot).
   */
  enqueue(work: (op: AbortController) => Promise<void>, preempt: boolean): void {
    if (preempt) for (const op of this.#ops) op.abort(new Superseded("superseded"));
    const controller = new AbortController();
    this.#ops.add(controller);
    this.#chain = this.#chain.then(async () => {
      try {
        if (!controller.signal.aborted) await work(controller);
      } catch (e) {
        this.#log.error("operation failed", { error: e });
      } finally {
        this.#ops.delete(controller);
      }
    });
  }

  async start(spec: WorkspaceSpec, op: AbortController): Promise<void> {
    const signal = op.signal;
    if (signal.aborted) return;
    this.state.repository = { ...spec.repository, cloneUrl: redactUrl(spec.repository.cloneUrl) };
    const capacity = this.#m.options.capacity;
    if (this.#m.activeCount(this) >= capacity) {
      this.report("failed", `runner at capacity (${capacity} workspace${capacity === 1 ? "" : "s"})`);
      return;
    }
    this.report("creating");
    const startMs = spec.timeouts.startMs;
    const timer = setTimeout(() => {
      op.abort(new StartTimeout(`workspace did not start within ${formatDuration(startMs)} (${this.#pendingWork()})`));
    }, startMs);
    const prebuild = spec.mode === "prebuild";
    try {
      const restored = await this.#prepare(spec, signal);
      let tasks: RunnerTask[];
      if (spec.tasks) tasks = spec.tasks;
      else {
        const config = await readGitpodYml(this.repoDir);
        tasks = config.tasks;
        if (config.image !== null) this.#log.info(".gitpod.yml asks for an image; a pooled runner runs on its host's system", { image: config.image });
        if (config.ports.length) this.#log.info(".gitpod.yml declares ports", { ports: config.ports.map((p) => (p.toPort ? `${p.port}-${p.toPort}` : p.port)) });
      }
      // A prebuild runs `before` and `init` only: there is nobody to run `command` for.
      if (prebuild) tasks = tasks.flatMap(({ command: _command, ...task }) => (task.before || task.init ? [task] : []));
      signal.throwIfAborted();
      const note = restored ? `started from prebuild ${restored}: init skipped` : undefined;
      this.report("initializing", note);
      this.#ports.start();
      fs.rmSync(this.scriptsDir, { recursive: true, force: true });
      const env = this.#taskEnv(spec);
      const runInit = !this.state.initDone;
      for (const [index, task] of tasks.entries()) {
        signal.throwIfAborted();
        const running = await startTask({
          index,
          task,
          runInit,
          scriptsDir: this.scriptsDir,
          shell: this.#m.shell,
          launch: (argv, stdio, readOnly) => this.#launch(argv, env, stdio, readOnly),
          onLog: (name, stream, data) => this.#m.options.sink.log({ type: "log", workspaceId: this.id, task: name, stream, data }),
        });
        this.#tasks.push(running);
        running.proc.exited.then((exit) => {
          this.#procs.delete(running.proc);
          if (this.state.phase === "running") this.#log.info("task ended", { task: index, code: exit.code, signal: exit.signal });
        });
      }
      await guard(Promise.all(this.#tasks.map((t) => t.ready)), signal);
      if (this.#tasks.every((t) => t.initCompleted) && !this.state.initDone) {
        this.state.initDone = true;
        this.persist();
      }
      if (prebuild) await guard(this.#savePrebuild(spec), signal);
      clearTimeout(timer);
      this.report("running", prebuild ? "prebuild saved" : note);
    } catch (e) {
      clearTimeout(timer);
      if (e instanceof Superseded) return;
      const reason =
        e instanceof StartTimeout || e instanceof TaskFailure || e instanceof GitError || e instanceof GitpodYmlError
          ? e.message
          : `internal error: ${(e as Error).message}`;
      await this.killAll();
      this.report("failed", reason);
    }
  }

  /**
   * The workspace directory, ready for the tasks: as it was (a restart resumes), copied from
   * a prebuild's result the runner holds (no clone, no init), or cloned. A prebuild always
   * starts afresh: its result must be what its commit's `init` makes. Returns the prebuild
   * restored from, if any.
   */
  async #prepare(spec: WorkspaceSpec, signal: AbortSignal): Promise<string | null> {
    if (spec.mode === "prebuild") {
      fs.rmSync(this.dir, { recursive: true, force: true });
      Object.assign(this.state, { cloned: false, initDone: false, repoName: null });
    }
    fs.mkdirSync(this.dir, { recursive: true });
    const restored = !this.state.cloned && spec.mode !== "prebuild" && spec.snapshot ? await this.#restore(spec.snapshot.key) : null;
    if (!this.state.cloned) {
      this.state.repoName ??= repoNameFrom(spec.repository.cloneUrl);
      this.persist();
      fs.rmSync(this.repoDir, { recursive: true, force: true });
      this.#log.info("cloning", { cloneUrl: redactUrl(spec.repository.cloneUrl), ref: spec.repository.ref, revision: spec.repository.revision });
      const result = await guard(cloneRepository(spec.repository, this.repoDir, this.#gitRun(signal, spec.repository.cloneUrl)), signal);
      this.#log.info("cloned", { method: result.method, shallow: result.shallow });
      this.state.cloned = true;
      this.persist();
    }
    return restored;
  }

  /** Copies in the prebuild's result, if this runner holds it; says so in the workspace's log either way. */
  async #restore(key: string): Promise<string | null> {
    let manifest = null;
    try {
      manifest = await this.#m.snapshots.restore(key, this.dir);
    } catch (e) {
      this.#log.warn("could not copy the prebuild", { key, error: e });
      fs.rmSync(this.dir, { recursive: true, force: true });
      fs.mkdirSync(this.dir, { recursive: true });
    }
    if (!manifest) {
      this.#note(`Prebuild ${key} is not on this runner: cloning and running init.\n`);
      return null;
    }
    Object.assign(this.state, { repoName: manifest.repoName, cloned: true, initDone: true });
    this.persist();
    const commit = manifest.revision ? ` (${manifest.revision.slice(0, 12)})` : "";
    this.#note(`Starting from prebuild ${key}${commit}: clone and init skipped.\n`);
    this.#log.info("started from a prebuild", { key });
    return key;
  }

  /** A prebuild's result is kept: its processes end first, so it is at rest, then its directory moves into the store. */
  async #savePrebuild(spec: WorkspaceSpec): Promise<void> {
    await this.killAll();
    const key = spec.snapshot?.key ?? this.id;
    const size = await this.#m.snapshots.save(key, this.dir, { repoName: this.state.repoName ?? "repo", revision: spec.repository.revision });
    Object.assign(this.state, { cloned: false, initDone: false });
    this.persist();
    this.#note(`Prebuild saved (${Math.max(1, Math.round(size / 1024))} KiB).\n`);
    this.#log.info("prebuild saved", { key, bytes: size });
  }

  /** A line of the runner's own in the workspace's log (task `prebuild`). */
  #note(data: string): void {
    this.#m.options.sink.log({ type: "log", workspaceId: this.id, task: "prebuild", stream: "stdout", data });
  }

  /** What a start is still busy with (for a timeout's reason). */
  #pendingWork(): string {
    if (!this.state.cloned) return "still cloning";
    const busy = this.#tasks.filter((t) => t.stage === "before" || t.stage === "init" || t.stage === "starting");
    if (busy.length === 0) return "still preparing";
    return busy.map((t) => `${taskLabel(t.index, t.task)} ${t.stage === "starting" ? "still starting" : `${t.stage} still running`}`).join(", ");
  }

  async stop(reason?: string): Promise<void> {
    if (this.state.phase === "stopped") {
      this.report("stopped", this.state.reason);
      return;
    }
    this.report("stopping", reason);
    await this.killAll();
    this.report("stopped", reason);
  }

  /** Ends every process of the workspace (the whole tree of each launch). */
  async killAll(): Promise<void> {
    this.#ports.stop();
    const grace = this.#m.options.killGraceMs ?? 5_000;
    await Promise.all([...this.#procs].map((p) => p.kill(grace)));
    this.#procs.clear();
    this.#tasks = [];
    if (this.#m.options.sandbox.mode === "none") await sweep(`EDGEPOD_WORKSPACE_DIR=${this.dir}`, grace);
  }

  #launch(argv: string[], env: Record<string, string>, stdio: StdioOptions, readOnly: string[] = []): SandboxedProcess {
    const cwd = fs.existsSync(this.repoDir) ? this.repoDir : this.dir;
    const proc = new SandboxedProcess(this.#m.options.sandbox, { argv, cwd, env, workspaceDir: this.dir, readOnly, hostname: hostnameFor(this.id) }, stdio);
    this.#procs.add(proc);
    return proc;
  }

  #baseEnv(): Record<string, string> {
    return {
      PATH: DEFAULT_PATH,
      LANG: "C.UTF-8",
      USER: os.userInfo().username,
      SHELL: this.#m.shell,
    };
  }

  #reservedEnv(): Record<string, string> {
    return {
      HOME: this.dir,
      EDGEPOD_WORKSPACE_ID: this.id,
      EDGEPOD_WORKSPACE_DIR: this.dir,
      GITPOD_WORKSPACE_ID: this.id,
      GITPOD_REPO_ROOT: this.repoDir,
      GITPOD_REPO_ROOTS: this.repoDir,
    };
  }

  /** A clean environment: nothing of the runner's (its token least of all). */
  #taskEnv(spec: WorkspaceSpec): Record<string, string> {
    const env: Record<string, string> = this.#baseEnv();
    for (const [k, v] of Object.entries(spec.env)) {
      if (/^[A-Za-z_][A-Za-z0-9_]*$/.test(k) && !v.includes("\0")) env[k] = v;
    }
    return { ...env, ...this.#reservedEnv() };
  }

  /**
   * Git, in the workspace's sandbox. A `file://` source outside the runner's workdir (local
   * development; only when RUNNER_GIT_PROTOCOLS allows `file`) is exposed read-only to git,
   * and only to git.
   */
  #gitRun(signal: AbortSignal, cloneUrl: string): GitRun {
    const o = this.#m.options;
    const source = cloneUrl.startsWith("file://") ? fileURLToPath(cloneUrl) : null;
    // Never a path under the runner's workdir: that would show git another workspace.
    const inWorkdir = source !== null && !path.relative(this.#m.workdir, source).startsWith("..");
    const readOnly = source !== null && !inWorkdir && fs.existsSync(source) ? [source] : [];
    const env = {
      ...this.#baseEnv(),
      ...this.#reservedEnv(),
      GIT_TERMINAL_PROMPT: "0",
      GIT_ALLOW_PROTOCOL: o.gitProtocols ?? "https:http:ssh:git",
      GIT_SSH_COMMAND: "ssh -o BatchMode=yes",
    };
    const config = (o.gitConfig ?? []).flatMap((c) => ["-c", c]);
    return async (args, cwd) => {
      signal.throwIfAborted();
      const proc = new SandboxedProcess(o.sandbox, { argv: ["git", ...config, ...args], cwd, env, workspaceDir: this.dir, readOnly, hostname: hostnameFor(this.id) }, ["ignore", "pipe", "pipe"]);
      this.#procs.add(proc);
      let output = "";
      const ended: Promise<void>[] = [];
      for (const [fd, stream] of [[1, "stdout"], [2, "stderr"]] as const) {
        const r = proc.child.stdio[fd] as Readable | null;
        if (!r) continue;
        r.setEncoding("utf8");
        r.on("data", (text: string) => {
          output = (output + text).slice(-16_384);
          for (const data of chunkUtf8(redactCredentials(text))) o.sink.log({ type: "log", workspaceId: this.id, task: "clone", stream, data });
        });
        ended.push(new Promise((res) => r.once("close", () => res())));
      }
      const exit = await proc.exited;
      await Promise.race([Promise.all(ended), sleep(1_000)]);
      this.#procs.delete(proc);
      if (exit.error) return { code: null, output: `${output}\nfatal: ${exit.error.message}` };
      return { code: exit.code, output };
    };
  }
}

function redactCredentials(text: string): string {
  return text.replace(/([a-z][a-z0-9+.-]*:\/\/)[^/@\s]*@/gi, "$1***@");
}
