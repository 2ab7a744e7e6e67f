import { DurableObject } from "cloudflare:workers";
import type { Status, WorkspaceSpec } from "../protocol/runner";
import type { PrebuildOutcome } from "../src/prebuilds/state";
import { recordStatus } from "../src/prebuilds/view";
import { readWorkspaceConfig } from "../src/workspaces/config";
import { AT_REST, canTransition, ON_RUNNER, STARTING, type WorkspacePhase } from "../src/workspaces/lifecycle";
import { findRunnerFor } from "../src/workspaces/scheduling";
import { deleteWorkspaceRow, insertWorkspaceRow, updateWorkspaceRow } from "../src/workspaces/store";
import { isPrebuild, type PrebuildRecord, type WorkspaceRecord } from "../src/workspaces/types";
import { workspaceView } from "../src/workspaces/view";

/** Subscribers see the public view (never the env, which may hold secrets). */
const stateMessage = (record: WorkspaceRecord) =>
  JSON.stringify(isPrebuild(record) ? { type: "state", prebuild: recordStatus(record) } : { type: "state", workspace: workspaceView(record) });

/** Decides a prebuild's outcome once; later causes (the stop after success) do not change it. */
function decide(record: PrebuildRecord, outcome: PrebuildOutcome): void {
  if (record.prebuild.outcome) return;
  record.prebuild.outcome = outcome;
  record.prebuild.finishedAt = Date.now();
}

/** Recent task output kept for late subscribers (in memory: lost on hibernation, by design). */
const LOG_TAIL = 200;
const SUBSCRIBER = "subscriber";
/** Storage key: the latest prebuild attempt cancelled before its record arrived. */
const CANCELLED = "cancelled";

/**
 * One per workspace: the lifecycle state machine, its timers (one alarm for the nearest
 * deadline), and the WebSocket subscribers watching it (hibernating, so a thousand idle
 * watchers cost nothing). Every transition is written through to D1.
 *
 * A prebuild is a workspace too (`record.prebuild`, named by the prebuild's id): created
 * queued (preparing) when its record is made, scheduled when the `prebuilds` queue
 * dispatches it, run by the runner in prebuild mode (before and init only), and stopped as
 * soon as it reports running (its result saved). Its outcome — available, failed, aborted,
 * timeout — is decided once and written through to its prebuild row (src/prebuilds/).
 *
 * State is persisted before any outside call (D1, a RunnerDO): input gates only hold while
 * storage is awaited, so a concurrent call sees the new state and does not repeat work.
 */
export class WorkspaceDO extends DurableObject<Env> {
  private logTail: string[] = [];

  private async load(): Promise<WorkspaceRecord | undefined> {
    return this.ctx.storage.get<WorkspaceRecord>("workspace");
  }

  private async save(record: WorkspaceRecord): Promise<void> {
    record.updatedAt = Date.now();
    await this.ctx.storage.put("workspace", record);
    await this.armAlarm(record);
  }

  /** Creates the workspace and starts its first instance; a prebuild waits for its dispatch. */
  async create(record: WorkspaceRecord): Promise<WorkspaceRecord> {
    const existing = await this.load();
    if (existing) return existing;
    await this.save(record);
    await insertWorkspaceRow(this.env.DB, record);
    if (!isPrebuild(record)) return this.schedule();
    const cancelled = await this.ctx.storage.get<number>(CANCELLED);
    if (cancelled !== undefined && cancelled >= record.prebuild.attempt) await this.cancel(record.prebuild.attempt, "Cancelled.");
    return (await this.load())!;
  }

  /** The `prebuilds` queue's delivery: schedules this attempt if it is still queued (repeats are no-ops). */
  async dispatch(attempt: number): Promise<WorkspaceRecord | undefined> {
    const record = await this.load();
    if (!record || !isPrebuild(record) || record.prebuild.attempt !== attempt || record.phase !== "preparing") return record;
    return this.schedule();
  }

  /**
   * Cancels a prebuild (attempt `attempt` or earlier): aborted, and stopped on its runner.
   * Before the record exists (its creation is being retried), the cancellation is kept and
   * applied when it arrives. Returns the record, or undefined when there is none yet.
   */
  async cancel(attempt: number, reason: string): Promise<WorkspaceRecord | undefined> {
    const record = await this.load();
    if (!record) {
      const known = (await this.ctx.storage.get<number>(CANCELLED)) ?? 0;
      await this.ctx.storage.put(CANCELLED, Math.max(known, attempt));
      return undefined;
    }
    if (!isPrebuild(record) || record.prebuild.attempt > attempt || record.prebuild.outcome) return record;
    decide(record, "aborted");
    await this.halt(record, reason);
    return record;
  }

  /**
   * Runs a finished prebuild again as its next attempt; waits for dispatch. `rerun` says
   * whether it did; undefined when the record was never made.
   */
  async rerun(attempt: number, timeoutMs: number): Promise<{ record: WorkspaceRecord; rerun: boolean } | undefined> {
    const record = await this.load();
    if (!record) return undefined;
    if (!isPrebuild(record) || !AT_REST.has(record.phase) || attempt <= record.prebuild.attempt) return { record, rerun: false };
    record.prebuild = { ...record.prebuild, attempt, outcome: null, timeoutMs, startedAt: null, finishedAt: null };
    record.generation += 1;
    record.desiredPhase = "running";
    record.deadlines.pending = Date.now() + readWorkspaceConfig(this.env).pendingTimeoutMs;
    await this.enter(record, "preparing", null);
    return { record, rerun: true };
  }

  /** The dispatch of this attempt was dead-lettered: the prebuild fails with the reason. */
  async failDispatch(attempt: number, reason: string): Promise<WorkspaceRecord | undefined> {
    const record = await this.load();
    if (!record || !isPrebuild(record) || record.prebuild.attempt !== attempt || record.phase !== "preparing") return record;
    await this.enter(record, "failed", reason);
    return record;
  }

  async get(): Promise<WorkspaceRecord | undefined> {
    return this.load();
  }

  /** Starts a stopped or failed workspace; anything else is already starting or running. */
  async start(): Promise<WorkspaceRecord> {
    const record = await this.mustLoad();
    if (!AT_REST.has(record.phase)) return record;
    record.generation += 1;
    record.desiredPhase = "running";
    await this.enter(record, "preparing", null);
    return this.schedule();
  }

  async stop(reason: string): Promise<WorkspaceRecord> {
    const record = await this.mustLoad();
    if (isPrebuild(record)) decide(record, "aborted");
    await this.halt(record, reason);
    return record;
  }

  /** Makes the record's desired state stopped: at once when no runner holds it, else through the runner. */
  private async halt(record: WorkspaceRecord, reason: string): Promise<void> {
    if (AT_REST.has(record.phase) || record.phase === "stopping") {
      // Nothing to stop; a prebuild's outcome may just have been decided.
      if (isPrebuild(record)) await this.persist(record);
      return;
    }
    record.desiredPhase = "stopped";
    record.generation += 1;
    if (!ON_RUNNER.has(record.phase)) {
      await this.enter(record, "stopped", reason);
      return;
    }
    const config = readWorkspaceConfig(this.env);
    record.deadlines.stop = Date.now() + config.stopTimeoutMs;
    await this.enter(record, "stopping", reason);
    if (record.runnerId) await this.runner(record.runnerId).stop(record.id, record.generation, reason);
  }

  /** Stops the workspace if it runs, and forgets it. */
  async remove(): Promise<void> {
    const record = await this.load();
    if (!record) return;
    if (record.runnerId && !AT_REST.has(record.phase)) {
      await this.runner(record.runnerId).stop(record.id, record.generation + 1, "Workspace deleted.");
    }
    if (record.runnerId) await this.runner(record.runnerId).release(record.id);
    for (const ws of this.ctx.getWebSockets(SUBSCRIBER)) ws.close(1000, "Workspace deleted.");
    await deleteWorkspaceRow(this.env.DB, record);
    await this.ctx.storage.deleteAlarm();
    await this.ctx.storage.deleteAll();
  }

  /** A phase report from the workspace's runner. Stale generations and other runners are ignored. */
  async runnerStatus(runnerId: string, status: Status): Promise<void> {
    const record = await this.load();
    if (!record || record.runnerId !== runnerId || status.generation !== record.generation) return;
    if (status.ports) record.ports = status.ports.map((p) => p.port).sort((a, b) => a - b);
    const phase: WorkspacePhase = status.phase;
    if (phase === record.phase || !canTransition(record.phase, phase)) return this.persist(record);
    if (phase === "running" && isPrebuild(record)) {
      // The result is saved and its processes ended: available, and the slot is freed.
      decide(record, "available");
      await this.enter(record, phase, status.reason ?? null);
      await this.halt(record, "The prebuild is ready.");
      return;
    }
    if (phase === "running") {
      const config = readWorkspaceConfig(this.env);
      const now = Date.now();
      record.startedAt = now;
      record.lastActivityAt = now;
      record.deadlines.start = undefined;
      record.deadlines.inactivity = now + record.timeoutMinutes * 60_000;
      record.deadlines.maxLifetime = now + config.maxLifetimeMs;
    }
    await this.enter(record, phase, status.reason ?? null);
  }

  /** Task output from the runner, streamed to subscribers as it comes. */
  runnerLog(task: string, stream: "stdout" | "stderr", data: string): void {
    const message = JSON.stringify({ type: "log", task, stream, data });
    this.logTail.push(message);
    if (this.logTail.length > LOG_TAIL) this.logTail.shift();
    for (const ws of this.ctx.getWebSockets(SUBSCRIBER)) ws.send(message);
  }

  /** Use of the workspace (runner or IDE heartbeat) pushes its inactivity timeout back. */
  async activity(): Promise<void> {
    const record = await this.load();
    if (!record || record.phase !== "running") return;
    const now = Date.now();
    // At most one write a minute, however often heartbeats come.
    if (record.lastActivityAt && now - record.lastActivityAt < 60_000) return;
    record.lastActivityAt = now;
    record.deadlines.inactivity = now + record.timeoutMinutes * 60_000;
    await this.save(record);
  }

  /** The runner vanished and did not come back within its grace period. */
  async runnerLost(runnerId: string): Promise<void> {
    const record = await this.load();
    if (!record || record.runnerId !== runnerId || AT_REST.has(record.phase)) return;
    if (record.phase === "stopping") return this.enter(record, "stopped", "The runner was lost while stopping.");
    await this.enter(record, "failed", "The runner was lost: it stopped answering and did not come back.");
  }

  /** A runner with free capacity connected: try again if still waiting for one. */
  async retrySchedule(): Promise<void> {
    const record = await this.load();
    if (record?.phase === "pending") await this.schedule();
  }

  /** Live events: the current state at once, then every transition and the task logs. */
  override async fetch(request: Request): Promise<Response> {
    if (request.headers.get("upgrade")?.toLowerCase() !== "websocket") {
      return new Response("Expected a WebSocket upgrade.", { status: 426 });
    }
    const record = await this.load();
    // A prebuild whose record is still being made (its creation is retried): nothing to watch yet.
    if (!record) return new Response("Not found.", { status: 404 });
    const { 0: client, 1: server } = new WebSocketPair();
    this.ctx.acceptWebSocket(server, [SUBSCRIBER]);
    server.send(stateMessage(record));
    for (const message of this.logTail) server.send(message);
    return new Response(null, { status: 101, webSocket: client });
  }

  override async webSocketMessage(ws: WebSocket, message: string | ArrayBuffer): Promise<void> {
    // Subscribers only listen; a client "ping" is answered so proxies keep the line open.
    if (message === "ping") ws.send("pong");
  }

  override async webSocketClose(ws: WebSocket): Promise<void> {
    // Complete the closing handshake; codes like 1005/1006 only describe, they cannot be sent.
    ws.close(1000, "bye");
  }

  override async alarm(): Promise<void> {
    const record = await this.load();
    if (!record) return;
    const now = Date.now();
    const { start, pending, inactivity, maxLifetime, stop } = record.deadlines;
    if (pending && now >= pending && (record.phase === "pending" || (isPrebuild(record) && record.phase === "preparing"))) {
      record.deadlines.pending = undefined;
      const why = record.phase === "pending" ? "No runner with free capacity became available in time." : "The prebuild was not dispatched in time.";
      return this.enter(record, "failed", why);
    }
    if (start && now >= start && STARTING.has(record.phase)) {
      record.deadlines.start = undefined;
      if (record.runnerId) await this.runner(record.runnerId).stop(record.id, record.generation + 1, "Start timed out.");
      record.generation += 1;
      if (!isPrebuild(record)) return this.enter(record, "failed", "The workspace did not start in time.");
      decide(record, "timeout");
      return this.enter(record, "failed", `The prebuild did not finish within ${Math.round(record.prebuild.timeoutMs / 60_000)} minutes.`);
    }
    if (stop && now >= stop && record.phase === "stopping") {
      record.deadlines.stop = undefined;
      return this.enter(record, "failed", "The runner did not confirm the stop in time.");
    }
    if (record.phase === "running") {
      if (maxLifetime && now >= maxLifetime) {
        await this.stop("The workspace reached its maximum lifetime.");
        return;
      }
      if (inactivity && now >= inactivity) {
        await this.stop("The workspace timed out after inactivity.");
        return;
      }
    }
    await this.armAlarm(record);
  }

  // ── internals ──────────────────────────────────────────────────────────────────────

  private async mustLoad(): Promise<WorkspaceRecord> {
    const record = await this.load();
    if (!record) throw new Error("Workspace not found.");
    return record;
  }

  private runner(runnerId: string) {
    return this.env.RUNNER.get(this.env.RUNNER.idFromName(runnerId));
  }

  /** Moves to `phase` (if the table allows it), persists, writes through, and tells subscribers. */
  private async enter(record: WorkspaceRecord, phase: WorkspacePhase, reason: string | null): Promise<void> {
    if (phase !== record.phase && !canTransition(record.phase, phase)) return;
    record.phase = phase;
    record.reason = reason;
    if (isPrebuild(record)) {
      // Cancels and successes decide before stopping: any other end is a failure (the runner restarted, say).
      if (AT_REST.has(phase)) decide(record, "failed");
      if (phase === "creating") record.prebuild.startedAt = Date.now();
    }
    if (AT_REST.has(phase)) {
      // At rest until a new start (a new generation), whoever stopped it: the user, a
      // timer, or the runner itself (which never restarts a generation it stopped).
      record.desiredPhase = "stopped";
      record.stoppedAt = Date.now();
      record.ports = [];
      record.deadlines = {};
    }
    await this.persist(record);
    if (AT_REST.has(phase) && record.runnerId) await this.runner(record.runnerId).release(record.id);
  }

  /** Saves, writes through to D1, and tells subscribers. */
  private async persist(record: WorkspaceRecord): Promise<void> {
    await this.save(record);
    await updateWorkspaceRow(this.env.DB, record);
    this.broadcast(record);
  }

  /**
   * Finds a runner or waits in pending. Preferred: the previous runner (it holds the workspace
   * directory), else the one holding the prebuild the workspace starts from.
   */
  private async schedule(): Promise<WorkspaceRecord> {
    const record = await this.mustLoad();
    if (record.phase !== "preparing" && record.phase !== "pending") return record;
    const config = readWorkspaceConfig(this.env);
    const generation = record.generation;
    const startMs = isPrebuild(record) ? record.prebuild.timeoutMs : config.startTimeoutMs;
    const preferred = record.runnerId ?? record.basedOn?.runnerId ?? null;
    const runnerId = await findRunnerFor(this.env, record.orgId, preferred, this.spec(record, startMs));
    const current = await this.mustLoad();
    if (current.generation !== generation || (current.phase !== "preparing" && current.phase !== "pending")) {
      // Stopped while a runner was taking it: that runner must not run it.
      if (runnerId && AT_REST.has(current.phase)) {
        await this.runner(runnerId).stop(current.id, current.generation, "Stopped before it started.");
        await this.runner(runnerId).release(current.id);
      }
      return current;
    }
    if (runnerId) {
      current.runnerId = runnerId;
      current.deadlines.pending = undefined;
      current.deadlines.start = Date.now() + startMs;
      await this.enter(current, "creating", null);
    } else if (current.phase === "preparing") {
      current.deadlines.pending = Date.now() + config.pendingTimeoutMs;
      await this.enter(current, "pending", "Waiting for a runner of this organization with free capacity.");
    }
    return current;
  }

  private spec(record: WorkspaceRecord, startMs: number): WorkspaceSpec {
    return {
      workspaceId: record.id,
      generation: record.generation,
      repository: { cloneUrl: record.repository.cloneUrl, ref: record.repository.ref, revision: record.repository.revision },
      tasks: null,
      env: record.env,
      timeouts: { startMs },
      ...(isPrebuild(record)
        ? { mode: "prebuild" as const, snapshot: { key: record.id } }
        : record.basedOn
          ? { snapshot: { key: record.basedOn.prebuildId } }
          : {}),
    };
  }

  /** One serialisation for every subscriber. */
  private broadcast(record: WorkspaceRecord): void {
    const text = stateMessage(record);
    for (const ws of this.ctx.getWebSockets(SUBSCRIBER)) ws.send(text);
  }

  private async armAlarm(record: WorkspaceRecord): Promise<void> {
    const next = Object.values(record.deadlines).filter((d): d is number => typeof d === "number");
    if (next.length === 0) await this.ctx.storage.deleteAlarm();
    else await this.ctx.storage.setAlarm(Math.min(...next));
  }
}
