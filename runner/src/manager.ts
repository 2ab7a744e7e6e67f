/**
 * The runner's workspaces as a whole: loads what an earlier run left, routes each
 * command to its workspace by the generation rule (planCommand), enforces capacity, and
 * answers for everything it runs in `hello`. One Workspace (workspaces.ts) per workspace.
 */
import fs from "node:fs";
import path from "node:path";
import type { Status } from "../../protocol/runner.ts";
import type { Logger } from "./log.ts";
import { sweep } from "./procfs.ts";
import { Snapshots } from "./snapshots.ts";
import {
  ACTIVE,
  defaultShell,
  planCommand,
  Workspace,
  WORKSPACE_ID,
  type ManagerOptions,
  type PersistedState,
  type Plan,
  type StartCommand,
  type StopCommand,
  type WorkspaceReport,
} from "./workspaces.ts";

export class WorkspaceManager {
  readonly options: ManagerOptions;
  readonly workdir: string;
  readonly stateDir: string;
  readonly logger: Logger;
  readonly shell: string;
  /** Prebuild results, under the work directory (invisible to workspaces). */
  readonly snapshots: Snapshots;
  readonly #workspaces = new Map<string, Workspace>();

  private constructor(options: ManagerOptions) {
    this.options = options;
    this.workdir = path.resolve(options.workdir);
    this.stateDir = path.join(this.workdir, ".state");
    this.logger = options.logger;
    this.shell = options.shell ?? defaultShell();
    this.snapshots = new Snapshots(path.join(this.workdir, ".prebuilds"), options.prebuildsKept ?? 10, options.logger);
  }

  /**
   * Opens the work directory and loads what an earlier run of the runner left: those
   * workspaces are no longer running (their processes died with it), so they are
   * reported stopped — at the generation they had — and resume on the next `start`.
   */
  static async open(options: ManagerOptions): Promise<WorkspaceManager> {
    const m = new WorkspaceManager(options);
    fs.mkdirSync(m.stateDir, { recursive: true });
    for (const name of fs.readdirSync(m.stateDir)) {
      if (!name.endsWith(".json")) continue;
      try {
        const state = JSON.parse(fs.readFileSync(path.join(m.stateDir, name), "utf8")) as PersistedState;
        if (!WORKSPACE_ID.test(state.workspaceId) || !Number.isInteger(state.generation)) continue;
        const ws = new Workspace(m, state);
        if (ACTIVE.includes(state.phase)) {
          if (options.sandbox.mode === "none") await sweep(`EDGEPOD_WORKSPACE_DIR=${ws.dir}`, options.killGraceMs ?? 5_000);
          state.phase = "stopped";
          state.desired = "stopped";
          state.reason = "runner restarted";
          ws.persist();
        }
        m.#workspaces.set(state.workspaceId, ws);
      } catch (e) {
        m.logger.warn("ignoring unreadable workspace state", { file: name, error: e });
      }
    }
    if (m.#workspaces.size) m.logger.info("loaded workspaces", { count: m.#workspaces.size });
    return m;
  }

  /** For `hello`: every workspace the runner has, with its generation and phase. */
  reports(): WorkspaceReport[] {
    return [...this.#workspaces.values()].map((ws) => ({ workspaceId: ws.id, generation: ws.state.generation, phase: ws.state.phase }));
  }

  /** The latest status of each workspace (re-sent after a reconnect: ports, reasons). */
  statuses(): Status[] {
    return [...this.#workspaces.values()].map(
      (ws) =>
        ws.lastStatus ?? {
          type: "status",
          workspaceId: ws.id,
          generation: ws.state.generation,
          phase: ws.state.phase,
          ...(ws.state.reason !== undefined ? { reason: ws.state.reason.slice(0, 2_000) } : {}),
          ports: [],
        },
    );
  }

  /** Workspaces other than `except` that hold a slot (anything not stopped or failed). */
  activeCount(except?: Workspace): number {
    let n = 0;
    for (const ws of this.#workspaces.values()) if (ws !== except && ACTIVE.includes(ws.state.phase)) n++;
    return n;
  }

  /** Applies a validated `start` or `stop` (the caller has acknowledged it). */
  handle(command: StartCommand | StopCommand): Plan {
    const id = command.type === "start" ? command.spec.workspaceId : command.workspaceId;
    const generation = command.type === "start" ? command.spec.generation : command.generation;
    const log = this.logger.child({ workspaceId: id, command: command.type, generation });
    if (!WORKSPACE_ID.test(id)) {
      log.warn("invalid workspace id");
      this.options.sink.status({ type: "status", workspaceId: id, generation, phase: "failed", reason: "invalid workspace id" });
      return "ignore";
    }
    let ws = this.#workspaces.get(id);
    const plan = planCommand(ws ? ws.state : null, { type: command.type, generation });
    log.info("command", { plan, phase: ws?.state.phase, applied: ws?.state.generation, ...(command.type === "stop" ? { reason: command.reason } : {}) });
    if (plan === "ignore") return plan;
    if (!ws) {
      if (command.type === "stop") {
        // Never had it: nothing to stop, but say so at that generation.
        this.options.sink.status({ type: "status", workspaceId: id, generation, phase: "stopped", ports: [] });
        return plan;
      }
      ws = new Workspace(this, {
        workspaceId: id,
        generation,
        desired: "running",
        phase: "stopped",
        repository: null,
        repoName: null,
        cloned: false,
        initDone: false,
      });
      this.#workspaces.set(id, ws);
    }
    const target = ws;
    target.state.generation = generation;
    if (plan === "adopt") {
      target.persist();
      target.report(target.state.phase, target.state.reason);
      return plan;
    }
    if (command.type === "start") {
      target.state.desired = "running";
      target.persist();
      const spec = command.spec;
      target.enqueue((op) => target.start(spec, op), false);
    } else {
      target.state.desired = "stopped";
      target.persist();
      target.enqueue(() => target.stop(), true);
    }
    return plan;
  }

  /** Stops every workspace on the runner's own initiative (lost control plane, shutdown). */
  async stopAll(reason: string): Promise<void> {
    const waits: Promise<void>[] = [];
    for (const ws of this.#workspaces.values()) {
      if (ws.state.desired === "stopped" && !ACTIVE.includes(ws.state.phase)) continue;
      if (ws.state.phase === "stopped" || ws.state.phase === "failed") {
        ws.state.desired = "stopped";
        ws.persist();
        continue;
      }
      ws.state.desired = "stopped";
      ws.persist();
      this.logger.warn("stopping workspace", { workspaceId: ws.id, reason });
      ws.enqueue(() => ws.stop(reason), true);
      waits.push(ws.idle);
    }
    await Promise.all(waits);
  }

  /** Resolves when every queued operation (of one workspace, or all) has finished. */
  async idle(workspaceId?: string): Promise<void> {
    const list = workspaceId ? [this.#workspaces.get(workspaceId)] : [...this.#workspaces.values()];
    await Promise.all(list.map((ws) => ws?.idle));
  }

  /** A workspace's directory and what the runner knows about it (tests, diagnostics). */
  inspect(workspaceId: string): { dir: string; repoDir: string; state: Readonly<PersistedState>; processes: Set<number> } | null {
    const ws = this.#workspaces.get(workspaceId);
    if (!ws) return null;
    return { dir: ws.dir, repoDir: ws.repoDir, state: ws.state, processes: ws.processes() };
  }
}
