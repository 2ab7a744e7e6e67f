/**
 * The runner's side of protocol v1: one WebSocket dialled out to the control plane.
 * - `hello` first on every (re)connect, listing every workspace with generation and phase,
 *   then the latest status of each (ports and reasons survive an outage);
 * - text `ping` every `heartbeatIntervalMs` from `welcome`; a peer silent for three
 *   intervals is taken for dead and the socket is redialled;
 * - every incoming message is validated; invalid ones are logged and dropped;
 * - every command is acknowledged once accepted, then handed to the reconciler;
 * - reconnects with jittered exponential backoff; logs produced while disconnected are
 *   kept (bounded) and sent after the next `hello`;
 * - unreachable for longer than the grace period: every workspace is stopped.
 */
import {
  ControlMessageSchema,
  PING,
  PONG,
  PROTOCOL_VERSION,
  RunnerMessageSchema,
  type RunnerMessage,
  type Status,
} from "../../protocol/runner.ts";
import type { Logger } from "./log.ts";
import type { LogMessage, Sink, StartCommand, StopCommand, WorkspaceReport } from "./workspaces.ts";

export interface CommandTarget {
  reports(): WorkspaceReport[];
  statuses(): Status[];
  handle(command: StartCommand | StopCommand): unknown;
  stopAll(reason: string): Promise<void>;
}

export interface ConnectionOptions {
  /** The full connect URL (ws:// or wss://…/api/v1/runners/connect). */
  url: string;
  token: string;
  version: string;
  capacity: number;
  /** Stop every workspace after the control plane has been unreachable this long. */
  graceMs: number;
  logger: Logger;
  backoff?: { initialMs: number; maxMs: number };
  /** Log bytes kept while disconnected (oldest dropped first). */
  logBufferBytes?: number;
  /** No `welcome` this long after opening: redial. */
  welcomeTimeoutMs?: number;
}

const MAX_SOCKET_BUFFER = 8 * 1024 * 1024;

/** "Equal jitter": half the exponential delay, plus up to as much again at random. */
export function backoffDelay(attempt: number, initialMs: number, maxMs: number, random: () => number = Math.random): number {
  const ceiling = Math.min(maxMs, initialMs * 2 ** Math.min(attempt, 30));
  return Math.round(ceiling / 2 + random() * (ceiling / 2));
}

export class RunnerConnection implements Sink {
  readonly #o: ConnectionOptions;
  #target: CommandTarget | null = null;
  #ws: WebSocket | null = null;
  #open = false;
  #welcomed = false;
  #closing = false;
  #attempt = 0;
  #runnerId: string | null = null;
  #lastHeard = 0;
  #heartbeat: NodeJS.Timeout | null = null;
  #reconnect: NodeJS.Timeout | null = null;
  #welcomeTimer: NodeJS.Timeout | null = null;
  #grace: NodeJS.Timeout | null = null;
  /** The grace period of the current outage has run out (stop once per outage). */
  #graceSpent = false;
  #pendingLogs: { message: LogMessage; bytes: number }[] = [];
  #pendingBytes = 0;
  #droppedLogs = 0;
  /** Connections opened so far (tests, diagnostics). */
  connects = 0;

  constructor(options: ConnectionOptions) {
    this.#o = options;
  }

  get connected(): boolean {
    return this.#open;
  }

  get runnerId(): string | null {
    return this.#runnerId;
  }

  /** Starts dialling; commands go to `target`. */
  start(target: CommandTarget): void {
    this.#target = target;
    this.#closing = false;
    this.#armGrace();
    this.#dial();
  }

  /**
   * Closes for good (no reconnect). Resolves once the close handshake is done (what was
   * sent before has then been delivered), or after `timeoutMs`.
   */
  close(timeoutMs = 2_000): Promise<void> {
    this.#closing = true;
    for (const t of [this.#heartbeat, this.#reconnect, this.#welcomeTimer, this.#grace]) if (t) clearTimeout(t);
    this.#heartbeat = this.#reconnect = this.#welcomeTimer = this.#grace = null;
    const ws = this.#ws;
    this.#ws = null;
    this.#open = false;
    this.#welcomed = false;
    if (!ws || ws.readyState === WebSocket.CLOSED) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, timeoutMs);
      ws.addEventListener("close", () => {
        clearTimeout(timer);
        resolve();
      });
      try {
        ws.close(1000, "runner shutting down");
      } catch {
        clearTimeout(timer);
        resolve();
      }
    });
  }

  // ── Sink: what the reconciler reports ─────────────────────────────────────────────

  status(message: Status): void {
    // Not queued while disconnected: the next hello and the statuses after it carry it.
    if (this.#open) this.#send(message);
  }

  log(message: LogMessage): void {
    if (this.#open) {
      if ((this.#ws?.bufferedAmount ?? 0) > MAX_SOCKET_BUFFER) {
        this.#drop(1);
        return;
      }
      this.#send(message);
      return;
    }
    const bytes = message.data.length * 2 + 200;
    this.#pendingLogs.push({ message, bytes });
    this.#pendingBytes += bytes;
    const limit = this.#o.logBufferBytes ?? 1024 * 1024;
    while (this.#pendingBytes > limit && this.#pendingLogs.length) {
      this.#pendingBytes -= this.#pendingLogs.shift()!.bytes;
      this.#drop(1);
    }
  }

  #drop(n: number): void {
    if (this.#droppedLogs === 0) this.#o.logger.warn("dropping task output: control plane unreachable or too slow");
    this.#droppedLogs += n;
  }

  // ── the socket ────────────────────────────────────────────────────────────────────

  #dial(): void {
    if (this.#closing) return;
    const log = this.#o.logger;
    let ws: WebSocket;
    try {
      // Node's WebSocket (undici) accepts request headers as its second argument.
      ws = new WebSocket(this.#o.url, { headers: { Authorization: `Bearer ${this.#o.token}` } });
    } catch (e) {
      log.error("cannot open a WebSocket", { url: this.#o.url, error: e });
      this.#scheduleReconnect();
      return;
    }
    ws.binaryType = "arraybuffer";
    this.#ws = ws;
    log.info("connecting", { url: this.#o.url, attempt: this.#attempt });
    ws.addEventListener("open", () => {
      if (this.#ws !== ws) return;
      this.#onOpen();
    });
    ws.addEventListener("message", (event) => {
      if (this.#ws !== ws) return;
      this.#onMessage(event.data);
    });
    ws.addEventListener("error", () => {
      // The close event follows; it carries what little we learn.
    });
    ws.addEventListener("close", (event) => {
      if (this.#ws !== ws) return;
      this.#onDisconnect(`closed (${event.code}${event.reason ? ` ${event.reason}` : ""})`);
    });
  }

  #onOpen(): void {
    this.#open = true;
    this.connects++;
    this.#lastHeard = Date.now();
    const target = this.#target!;
    this.#send({ type: "hello", v: PROTOCOL_VERSION, version: this.#o.version, capacity: this.#o.capacity, workspaces: target.reports() });
    for (const status of target.statuses()) this.#send(status);
    const pending = this.#pendingLogs;
    this.#pendingLogs = [];
    this.#pendingBytes = 0;
    for (const { message } of pending) this.#send(message);
    if (this.#droppedLogs) {
      this.#o.logger.warn("task output was dropped while disconnected", { messages: this.#droppedLogs });
      this.#droppedLogs = 0;
    }
    this.#welcomeTimer = setTimeout(() => this.#abandon("no welcome"), this.#o.welcomeTimeoutMs ?? 30_000);
    this.#welcomeTimer.unref();
  }

  #onMessage(data: unknown): void {
    this.#lastHeard = Date.now();
    const log = this.#o.logger;
    if (typeof data !== "string") {
      log.warn("dropping a binary message");
      return;
    }
    if (data === PONG) return;
    if (data === PING) {
      this.#ws?.send(PONG);
      return;
    }
    let json: unknown;
    try {
      json = JSON.parse(data);
    } catch {
      log.warn("dropping a message that is not JSON", { bytes: data.length });
      return;
    }
    const parsed = ControlMessageSchema.safeParse(json);
    if (!parsed.success) {
      const type = typeof json === "object" && json !== null && "type" in json ? String((json as { type: unknown }).type) : undefined;
      log.warn("dropping an invalid message", { type, issues: parsed.error.issues.slice(0, 5).map((i) => `${i.path.join(".")}: ${i.message}`) });
      return;
    }
    const message = parsed.data;
    switch (message.type) {
      case "welcome":
        this.#onWelcome(message.runnerId, message.heartbeatIntervalMs);
        return;
      case "start":
      case "stop":
        this.#send({ type: "ack", id: message.id });
        try {
          this.#target!.handle(message);
        } catch (e) {
          log.error("command failed", { id: message.id, error: e });
        }
        return;
    }
  }

  #onWelcome(runnerId: string, intervalMs: number): void {
    this.#runnerId = runnerId;
    this.#welcomed = true;
    this.#attempt = 0;
    if (this.#welcomeTimer) clearTimeout(this.#welcomeTimer);
    this.#welcomeTimer = null;
    if (this.#grace) clearTimeout(this.#grace);
    this.#grace = null;
    this.#graceSpent = false;
    this.#o.logger.info("connected", { runnerId, heartbeatIntervalMs: intervalMs });
    if (this.#heartbeat) clearInterval(this.#heartbeat);
    this.#heartbeat = setInterval(() => {
      if (Date.now() - this.#lastHeard > 3 * intervalMs) {
        this.#abandon("control plane silent for three heartbeat intervals");
        return;
      }
      this.#ws?.send(PING);
    }, intervalMs);
    this.#heartbeat.unref();
  }

  /** Gives up on the current socket at once (a dead peer may never finish a close handshake). */
  #abandon(why: string): void {
    const ws = this.#ws;
    this.#onDisconnect(why);
    try {
      ws?.close(4000, why.slice(0, 100));
    } catch {
      // ignore
    }
  }

  #onDisconnect(why: string): void {
    const wasOpen = this.#open;
    this.#open = false;
    this.#welcomed = false;
    this.#ws = null;
    if (this.#heartbeat) clearInterval(this.#heartbeat);
    if (this.#welcomeTimer) clearTimeout(this.#welcomeTimer);
    this.#heartbeat = this.#welcomeTimer = null;
    if (this.#closing) return;
    this.#o.logger.warn(wasOpen ? "disconnected" : "connection failed", { why });
    this.#armGrace();
    this.#scheduleReconnect();
  }

  #armGrace(): void {
    if (this.#grace || this.#graceSpent || this.#closing) return;
    const graceMs = this.#o.graceMs;
    this.#grace = setTimeout(() => {
      this.#grace = null;
      if (this.#welcomed) return;
      this.#graceSpent = true;
      this.#o.logger.warn("control plane unreachable beyond the grace period: stopping every workspace", { graceMs });
      void this.#target?.stopAll(`control plane unreachable for more than ${Math.round(graceMs / 1000)}s`);
    }, graceMs);
    this.#grace.unref();
  }

  #scheduleReconnect(): void {
    if (this.#closing || this.#reconnect) return;
    const { initialMs, maxMs } = this.#o.backoff ?? { initialMs: 500, maxMs: 30_000 };
    const delay = backoffDelay(this.#attempt++, initialMs, maxMs);
    this.#reconnect = setTimeout(() => {
      this.#reconnect = null;
      this.#dial();
    }, delay);
  }

  #send(message: RunnerMessage): void {
    const ws = this.#ws;
    if (!ws || !this.#open) return;
    const checked = RunnerMessageSchema.safeParse(message);
    if (!checked.success) {
      this.#o.logger.error("not sending an invalid message (runner bug)", { type: message.type, issues: checked.error.issues.slice(0, 3).map((i) => i.message) });
      return;
    }
    try {
      ws.send(JSON.stringify(message));
    } catch (e) {
      this.#o.logger.warn("send failed", { error: e });
    }
  }
}
