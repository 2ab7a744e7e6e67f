import { DurableObject } from "cloudflare:workers";
import {
  PING,
  PONG,
  PROTOCOL_VERSION,
  RunnerMessageSchema,
  type ControlMessage,
  type Hello,
  type WorkspaceSpec,
} from "../protocol/runner";
import { newId } from "../src/lib/ids";
import { markRunner, pendingWorkspaceIds } from "../src/runners/store";
import { readWorkspaceConfig } from "../src/workspaces/config";

const RUNNER = "runner";

/** What the control plane wants of one workspace on this runner. */
interface Assignment {
  generation: number;
  desired: "running" | "stopped";
  spec: WorkspaceSpec;
  reason?: string;
}

interface RunnerState {
  runnerId: string;
  orgId: string;
  /** Announced in `hello`; nothing is assigned before it. */
  capacity: number | null;
  assignments: Record<string, Assignment>;
  disconnectedAt: number | null;
  connectedAt: number | null;
}

/**
 * One per runner: holds its WebSocket (hibernating; `ping` is answered without waking the
 * object), assigns workspaces within the capacity it announced, pushes the desired state
 * of each, and forwards what the runner reports to the workspaces' DOs. A runner that goes
 * silent is disconnected; if it does not come back within the grace period, its
 * workspaces fail with a reason rather than stay stuck.
 */
export class RunnerDO extends DurableObject<Env> {
  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.ctx.setWebSocketAutoResponse(new WebSocketRequestResponsePair(PING, PONG));
  }

  private async load(): Promise<RunnerState | undefined> {
    return this.ctx.storage.get<RunnerState>("runner");
  }

  private async save(state: RunnerState): Promise<void> {
    await this.ctx.storage.put("runner", state);
  }

  /** The runner's connection, already authenticated by the Worker (which names the runner). */
  override async fetch(request: Request): Promise<Response> {
    const runnerId = request.headers.get("x-runner-id");
    const orgId = request.headers.get("x-org-id");
    if (!runnerId || !orgId || request.headers.get("upgrade")?.toLowerCase() !== "websocket") {
      return new Response("Expected a runner WebSocket upgrade.", { status: 400 });
    }
    // One connection per runner: a new one replaces the old (a reconnect after a network change).
    for (const old of this.ctx.getWebSockets(RUNNER)) old.close(4000, "Replaced by a new connection.");
    const state: RunnerState = (await this.load()) ?? {
      runnerId,
      orgId,
      capacity: null,
      assignments: {},
      disconnectedAt: null,
      connectedAt: null,
    };
    state.connectedAt = Date.now();
    state.disconnectedAt = null;
    state.capacity = null; // until this connection's hello
    await this.save(state);

    const { 0: client, 1: server } = new WebSocketPair();
    this.ctx.acceptWebSocket(server, [RUNNER]);
    const config = readWorkspaceConfig(this.env);
    this.send(server, { type: "welcome", v: PROTOCOL_VERSION, runnerId, heartbeatIntervalMs: config.runnerHeartbeatMs });
    await markRunner(this.env.DB, runnerId, { connected: true, lastSeenAt: new Date() });
    await this.ctx.storage.setAlarm(Date.now() + 3 * config.runnerHeartbeatMs);
    return new Response(null, { status: 101, webSocket: client });
  }

  /** Messages are handled one after another, in the order the runner sent them. */
  private inbox: Promise<void> = Promise.resolve();

  override webSocketMessage(ws: WebSocket, raw: string | ArrayBuffer): Promise<void> {
    // Forwarding awaits other objects, which lets the next message in; without this chain a
    // log line could overtake the phase change sent before it.
    const handled = this.inbox.then(() => this.handle(ws, raw));
    this.inbox = handled.catch((error: unknown) => {
      console.error(JSON.stringify({ msg: "runner message failed", error: String(error) }));
    });
    return handled;
  }

  private async handle(ws: WebSocket, raw: string | ArrayBuffer): Promise<void> {
    let parsed: unknown;
    try {
      parsed = JSON.parse(typeof raw === "string" ? raw : new TextDecoder().decode(raw));
    } catch {
      parsed = undefined;
    }
    const result = RunnerMessageSchema.safeParse(parsed);
    const state = await this.load();
    if (!state) return;
    if (!result.success) {
      console.warn(JSON.stringify({ msg: "invalid runner message", runnerId: state.runnerId, issues: result.error.issues.length }));
      return;
    }
    const message = result.data;
    switch (message.type) {
      case "hello":
        return this.onHello(ws, state, message);
      case "ack":
        return;
      case "status":
        return this.workspace(message.workspaceId).runnerStatus(state.runnerId, message);
      case "log":
        return this.workspace(message.workspaceId).runnerLog(message.task, message.stream, message.data);
      case "activity":
        return this.workspace(message.workspaceId).activity();
    }
  }

  override async webSocketClose(ws: WebSocket): Promise<void> {
    // Complete the closing handshake; codes like 1005/1006 only describe, they cannot be sent.
    ws.close(1000, "bye");
    await this.onDisconnect();
  }

  override async webSocketError(): Promise<void> {
    await this.onDisconnect();
  }

  /** Takes the workspace if connected and within capacity; sends it a `start`. */
  async assign(spec: WorkspaceSpec): Promise<boolean> {
    const state = await this.load();
    const ws = this.socket();
    if (!state || !ws || state.capacity === null) return false;
    const running = Object.entries(state.assignments).filter(
      ([id, a]) => a.desired === "running" && id !== spec.workspaceId,
    ).length;
    if (running >= state.capacity) return false;
    state.assignments[spec.workspaceId] = { generation: spec.generation, desired: "running", spec };
    await this.save(state);
    await this.publishLoad(state);
    this.send(ws, { type: "start", id: newId("cmd"), spec });
    return true;
  }

  /** Records that the workspace should stop; tells the runner now, or when it reconnects. */
  async stop(workspaceId: string, generation: number, reason: string): Promise<void> {
    const state = await this.load();
    const assignment = state?.assignments[workspaceId];
    if (!state || !assignment) return;
    Object.assign(assignment, { desired: "stopped", generation, reason });
    await this.save(state);
    await this.publishLoad(state);
    const ws = this.socket();
    if (ws) this.send(ws, { type: "stop", id: newId("cmd"), workspaceId, generation, reason });
  }

  /** The workspace is at rest (or deleted): it no longer holds a place on this runner. */
  async release(workspaceId: string): Promise<void> {
    const state = await this.load();
    if (!state?.assignments[workspaceId]) return;
    delete state.assignments[workspaceId];
    await this.save(state);
    await this.publishLoad(state);
  }

  /** The runner was deleted: drop its connection; its workspaces fail. */
  async shutdown(): Promise<void> {
    for (const ws of this.ctx.getWebSockets(RUNNER)) ws.close(4001, "Runner deleted.");
    const state = await this.load();
    if (state) await this.loseWorkspaces(state);
    await this.ctx.storage.deleteAlarm();
    await this.ctx.storage.deleteAll();
  }

  /** Liveness: a silent socket is closed; a runner gone past the grace period loses its workspaces. */
  override async alarm(): Promise<void> {
    const state = await this.load();
    if (!state) return;
    const config = readWorkspaceConfig(this.env);
    const now = Date.now();
    const ws = this.socket();
    if (ws) {
      const heard = Math.max(this.ctx.getWebSocketAutoResponseTimestamp(ws)?.getTime() ?? 0, state.connectedAt ?? 0);
      if (now - heard < 3 * config.runnerHeartbeatMs) {
        await markRunner(this.env.DB, state.runnerId, { lastSeenAt: new Date(heard) });
        await this.ctx.storage.setAlarm(heard + 3 * config.runnerHeartbeatMs);
        return;
      }
      ws.close(4002, "No heartbeat.");
      await this.onDisconnect();
      return;
    }
    if (state.disconnectedAt !== null && now - state.disconnectedAt >= config.runnerLostGraceMs) {
      await this.loseWorkspaces(state);
      return;
    }
    if (state.disconnectedAt !== null) await this.ctx.storage.setAlarm(state.disconnectedAt + config.runnerLostGraceMs);
  }

  // ── internals ──────────────────────────────────────────────────────────────────────

  /**
   * Reconciliation after every (re)connect: the runner said what it has; answer with the
   * desired state of everything assigned here, stop what is not ours, pass on what it
   * reported, and offer the new capacity to workspaces waiting in pending.
   */
  private async onHello(ws: WebSocket, state: RunnerState, hello: Hello): Promise<void> {
    state.capacity = hello.capacity;
    await this.save(state);
    await markRunner(this.env.DB, state.runnerId, {
      connected: true,
      capacity: hello.capacity,
      version: hello.version,
      lastSeenAt: new Date(),
    });
    await this.publishLoad(state);
    for (const [workspaceId, a] of Object.entries(state.assignments)) {
      this.send(
        ws,
        a.desired === "running"
          ? { type: "start", id: newId("cmd"), spec: a.spec }
          : { type: "stop", id: newId("cmd"), workspaceId, generation: a.generation, reason: a.reason ?? "Stopped." },
      );
    }
    for (const report of hello.workspaces) {
      if (!state.assignments[report.workspaceId]) {
        this.send(ws, {
          type: "stop",
          id: newId("cmd"),
          workspaceId: report.workspaceId,
          generation: report.generation + 1,
          reason: "Not assigned to this runner.",
        });
      } else {
        await this.workspace(report.workspaceId).runnerStatus(state.runnerId, { type: "status", ...report });
      }
    }
    const free = hello.capacity - Object.values(state.assignments).filter((a) => a.desired === "running").length;
    if (free > 0) {
      const waiting = await pendingWorkspaceIds(this.env.DB, state.orgId, free);
      this.ctx.waitUntil(Promise.all(waiting.map((id) => this.workspace(id).retrySchedule())));
    }
  }

  private async onDisconnect(): Promise<void> {
    const state = await this.load();
    if (!state || this.socket()) return;
    state.disconnectedAt ??= Date.now();
    state.capacity = null;
    await this.save(state);
    await markRunner(this.env.DB, state.runnerId, { connected: false });
    const config = readWorkspaceConfig(this.env);
    await this.ctx.storage.setAlarm(state.disconnectedAt + config.runnerLostGraceMs);
  }

  private async loseWorkspaces(state: RunnerState): Promise<void> {
    const lost = Object.keys(state.assignments);
    state.assignments = {};
    await this.save(state);
    await this.publishLoad(state);
    await Promise.all(lost.map((id) => this.workspace(id).runnerLost(state.runnerId)));
  }

  private async publishLoad(state: RunnerState): Promise<void> {
    const assigned = Object.values(state.assignments).filter((a) => a.desired === "running").length;
    await markRunner(this.env.DB, state.runnerId, { assigned });
  }

  /** The open connection; a replaced or closing one does not count. */
  private socket(): WebSocket | undefined {
    return this.ctx.getWebSockets(RUNNER).find((ws) => ws.readyState === WebSocket.OPEN);
  }

  private send(ws: WebSocket, message: ControlMessage): void {
    ws.send(JSON.stringify(message));
  }

  private workspace(id: string) {
    return this.env.WORKSPACE.get(this.env.WORKSPACE.idFromName(id));
  }
}
