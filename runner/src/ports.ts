/**
 * Which TCP ports a workspace listens on: the socket inodes its processes hold, matched
 * against /proc/net/tcp{,6} LISTEN entries, polled every few seconds. Workspaces share the
 * host's network namespace, so every port found is reachable on the host.
 */
import { listeningPorts } from "./procfs.ts";

export const DEFAULT_PORT_POLL_MS = 3_000;

export class PortWatcher {
  #timer: NodeJS.Timeout | null = null;
  #ports: number[] = [];
  readonly #pids: () => Iterable<number>;
  readonly #onChange: (ports: number[]) => void;
  readonly #intervalMs: number;

  constructor(pids: () => Iterable<number>, onChange: (ports: number[]) => void, intervalMs: number = DEFAULT_PORT_POLL_MS) {
    this.#pids = pids;
    this.#onChange = onChange;
    this.#intervalMs = intervalMs;
  }

  get ports(): number[] {
    return this.#ports;
  }

  start(): void {
    if (this.#timer) return;
    this.#timer = setInterval(() => this.poll(), this.#intervalMs);
    this.#timer.unref();
    this.poll();
  }

  stop(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = null;
    this.#ports = [];
  }

  /** Scans once; reports when the set of ports changed. */
  poll(): void {
    let ports: number[];
    try {
      ports = listeningPorts(this.#pids());
    } catch {
      return;
    }
    if (ports.length === this.#ports.length && ports.every((p, i) => p === this.#ports[i])) return;
    this.#ports = ports;
    this.#onChange(ports);
  }
}
