/**
 * What the reconciler's pieces share: the types of commands, reports and persisted state,
 * the manager's side a workspace uses (`WorkspaceHost`), and small helpers.
 */
import type { z } from "zod";
import type { LogSchema, RunnerPhase, StartSchema, Status, StopSchema, WorkspaceSpec } from "../../protocol/runner.ts";
import type { Logger } from "./log.ts";
import { isAlive, processesWithEnv, processTable, signal as signalPids } from "./procfs.ts";
import { sleep, type Sandbox } from "./sandbox.ts";
import type { Snapshots } from "./snapshots.ts";

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

export type Desired = "running" | "stopped";

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

/** What a workspace asks of the manager that holds it. */
export interface WorkspaceHost {
  readonly options: ManagerOptions;
  readonly workdir: string;
  readonly stateDir: string;
  readonly logger: Logger;
  readonly shell: string;
  readonly snapshots: Snapshots;
  /** Workspaces other than `except` that hold a slot. */
  activeCount(except?: object): number;
}

export class Superseded extends Error {
  override name = "Superseded";
}
export class StartTimeout extends Error {
  override name = "StartTimeout";
}

/** Rejects with the signal's reason as soon as it aborts. */
export function guard<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
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

export function formatDuration(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000}s` : `${ms}ms`;
}

export function redactCredentials(text: string): string {
  return text.replace(/([a-z][a-z0-9+.-]*:\/\/)[^/@\s]*@/gi, "$1***@");
}

/** Plain processes may escape their process group: find them by their environment. */
export async function sweep(entry: string, graceMs: number): Promise<void> {
  let pids = processesWithEnv(entry, processTable());
  if (pids.size === 0) return;
  signalPids(pids, "SIGTERM");
  const deadline = Date.now() + graceMs;
  while (Date.now() < deadline && [...pids].some(isAlive)) await sleep(50);
  pids = new Set([...pids, ...processesWithEnv(entry, processTable())]);
  signalPids(pids, "SIGKILL");
}
