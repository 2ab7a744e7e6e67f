/** A stand-in control plane (RunnerDO) for tests: records what a runner sends, sends commands. */
import type { IncomingMessage } from "node:http";
import { WebSocketServer, type WebSocket as PeerSocket } from "ws";
import type { Status } from "../../protocol/runner.ts";

export type Received = { conn: number; text: string; json: Record<string, unknown> | null };

export class Peer {
  readonly server: WebSocketServer;
  readonly received: Received[] = [];
  readonly requests: IncomingMessage[] = [];
  accepting = true;
  silent = false;
  rejected = 0;
  #sockets: PeerSocket[] = [];

  constructor() {
    this.server = new WebSocketServer({
      host: "127.0.0.1",
      port: 0,
      path: "/api/v1/runners/connect",
      verifyClient: (_info, cb) => {
        if (!this.accepting) this.rejected++;
        cb(this.accepting, 503);
      },
    });
    this.server.on("connection", (socket, request) => {
      const conn = this.#sockets.push(socket);
      this.requests.push(request);
      socket.on("message", (data, isBinary) => {
        const text = isBinary ? "<binary>" : data.toString();
        let json: Record<string, unknown> | null = null;
        try {
          json = JSON.parse(text);
        } catch {
          // text frame (ping)
        }
        this.received.push({ conn, text, json });
        if (text === "ping" && !this.silent) socket.send("pong");
      });
    });
  }

  async ready(): Promise<string> {
    await new Promise<void>((r) => (this.server.address() ? r() : this.server.once("listening", () => r())));
    const { port } = this.server.address() as { port: number };
    return `ws://127.0.0.1:${port}/api/v1/runners/connect`;
  }

  get connections(): number {
    return this.#sockets.length;
  }

  send(message: unknown, conn = this.#sockets.length): void {
    this.#sockets[conn - 1]!.send(typeof message === "string" ? message : JSON.stringify(message));
  }

  welcome(heartbeatIntervalMs = 15_000, conn = this.#sockets.length): void {
    this.send({ type: "welcome", v: 1, runnerId: "run_test", heartbeatIntervalMs }, conn);
  }

  /** Drops the current connection without a close handshake. */
  cut(): void {
    this.#sockets.at(-1)?.terminate();
  }

  messages(type: string, conn?: number): Record<string, unknown>[] {
    return this.received.filter((r) => r.json?.type === type && (conn === undefined || r.conn === conn)).map((r) => r.json!);
  }

  statuses(workspaceId: string): Status[] {
    return this.messages("status").filter((s) => s.workspaceId === workspaceId) as unknown as Status[];
  }

  output(workspaceId: string, task: string): string {
    return this.messages("log")
      .filter((l) => l.workspaceId === workspaceId && l.task === task)
      .map((l) => l.data)
      .join("");
  }

  close(): Promise<void> {
    for (const s of this.#sockets) s.terminate();
    return new Promise((r) => this.server.close(() => r()));
  }
}
