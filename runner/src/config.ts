/**
 * Runner configuration, read from environment variables (documented in runner/README.md).
 */
import path from "node:path";
import { isLogLevel, type LogLevel } from "./log.ts";

export type SandboxPreference = "auto" | "bwrap" | "none";

export interface RunnerConfig {
  /** Control plane base URL, e.g. https://edgepod.example.com (http/https or ws/wss). */
  url: string;
  /** Runner token (`edr_…`); sent only in the Authorization header, never logged. */
  token: string;
  /** Root under which each workspace gets its directory (absolute). */
  workdir: string;
  /** How many workspaces this runner runs at once (announced in `hello`). */
  capacity: number;
  /** How long the control plane may be unreachable before every workspace is stopped. */
  graceMs: number;
  sandbox: SandboxPreference;
  /** Extra host paths made visible read-only inside the sandbox (toolchains). */
  sandboxBinds: string[];
  /** Git transports a clone URL may use (GIT_ALLOW_PROTOCOL). */
  gitProtocols: string;
  /** Prebuild results kept (the least recently used are deleted first). */
  prebuildsKept: number;
  logLevel: LogLevel;
}

export class ConfigError extends Error {
  override name = "ConfigError";
}

export const DEFAULTS = {
  workdir: ".runner/workspaces",
  capacity: 4,
  graceMs: 5 * 60_000,
  gitProtocols: "https:http:ssh:git",
  prebuildsKept: 10,
} as const;

export function loadConfig(env: NodeJS.ProcessEnv = process.env, cwd: string = process.cwd()): RunnerConfig {
  const problems: string[] = [];
  const url = env.EDGEPOD_URL?.trim() ?? "";
  if (!url) problems.push("EDGEPOD_URL is required (the control plane's base URL)");
  else {
    try {
      connectUrl(url);
    } catch {
      problems.push(`EDGEPOD_URL must be an http(s) or ws(s) URL, got ${JSON.stringify(url)}`);
    }
  }
  const token = env.EDGEPOD_RUNNER_TOKEN?.trim() ?? "";
  if (!token) problems.push("EDGEPOD_RUNNER_TOKEN is required (a runner token, edr_…)");

  const int = (name: string, fallback: number, min: number): number => {
    const raw = env[name]?.trim();
    if (!raw) return fallback;
    const n = Number(raw);
    if (!Number.isInteger(n) || n < min) {
      problems.push(`${name} must be an integer ≥ ${min}, got ${JSON.stringify(raw)}`);
      return fallback;
    }
    return n;
  };
  const capacity = int("RUNNER_CAPACITY", DEFAULTS.capacity, 0);
  const graceMs = int("RUNNER_GRACE_MS", DEFAULTS.graceMs, 0);
  const prebuildsKept = int("RUNNER_PREBUILDS_KEPT", DEFAULTS.prebuildsKept, 0);

  const sandboxRaw = (env.RUNNER_SANDBOX?.trim() || "auto").toLowerCase();
  let sandbox: SandboxPreference = "auto";
  if (sandboxRaw === "auto" || sandboxRaw === "bwrap" || sandboxRaw === "none") sandbox = sandboxRaw;
  else problems.push(`RUNNER_SANDBOX must be auto, bwrap or none, got ${JSON.stringify(sandboxRaw)}`);

  const sandboxBinds = (env.RUNNER_SANDBOX_BINDS ?? "")
    .split(":")
    .map((p) => p.trim())
    .filter(Boolean);
  for (const p of sandboxBinds) if (!path.isAbsolute(p)) problems.push(`RUNNER_SANDBOX_BINDS entries must be absolute paths, got ${p}`);

  const logLevelRaw = env.RUNNER_LOG_LEVEL?.trim() || "info";
  let logLevel: LogLevel = "info";
  if (isLogLevel(logLevelRaw)) logLevel = logLevelRaw;
  else problems.push(`RUNNER_LOG_LEVEL must be debug, info, warn or error`);

  if (problems.length) throw new ConfigError(problems.join("; "));
  return {
    url,
    token,
    workdir: path.resolve(cwd, env.RUNNER_WORKDIR?.trim() || DEFAULTS.workdir),
    capacity,
    graceMs,
    sandbox,
    sandboxBinds,
    gitProtocols: env.RUNNER_GIT_PROTOCOLS?.trim() || DEFAULTS.gitProtocols,
    prebuildsKept,
    logLevel,
  };
}

/** `https://host/base` → `wss://host/base/api/v1/runners/connect`. */
export function connectUrl(base: string): string {
  const u = new URL(base);
  if (u.protocol === "http:") u.protocol = "ws:";
  else if (u.protocol === "https:") u.protocol = "wss:";
  else if (u.protocol !== "ws:" && u.protocol !== "wss:") throw new Error(`unsupported scheme ${u.protocol}`);
  u.pathname = u.pathname.replace(/\/+$/, "") + "/api/v1/runners/connect";
  u.search = "";
  u.hash = "";
  return u.toString();
}
