/**
 * How a workspace process is launched, and how it is ended.
 *
 * With bubblewrap (`bwrap`) every launch gets its own PID, mount, IPC and UTS namespaces:
 * the host's system directories read-only, a fresh /proc, a minimal /dev, a private /tmp,
 * its own workspace directory writable (working directory and HOME), and nothing else of
 * the host — in particular not the other workspaces' directories, nor the runner's files,
 * environment or processes. The network namespace is shared, so the ports a workspace
 * listens on are reachable from the host. Without bwrap, a launch is a plain child process
 * in its own session and process group (no isolation; the runner warns at start-up).
 */
import { spawn, spawnSync, type ChildProcess, type StdioOptions } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import type { Logger } from "./log.ts";
import { descendants, isAlive, processTable, signal, signalGroup } from "./procfs.ts";
import type { SandboxPreference } from "./config.ts";

export interface Sandbox {
  mode: "bwrap" | "none";
  bwrapPath: string | null;
  /** Root of all workspace directories: hidden inside a sandbox except its own directory. */
  workdir: string;
  /** `--ro-bind`/`--symlink` arguments exposing the host system (computed once). */
  systemArgs: string[];
  /** Further host paths every sandbox sees read-only (toolchains; RUNNER_SANDBOX_BINDS). */
  extraBinds: string[];
  /** Running as root: drop every capability inside the sandbox. */
  dropCaps: boolean;
}

export interface LaunchRequest {
  argv: string[];
  /** Working directory (inside the workspace directory). */
  cwd: string;
  /** The complete environment of the process; nothing of the runner's is added. */
  env: Record<string, string>;
  /** Bound writable; everything else under the sandbox's workdir stays hidden. */
  workspaceDir: string;
  /** Further paths bound read-only at the same place (the runner's task scripts). */
  readOnly?: string[];
  hostname?: string;
}

export interface Launch {
  file: string;
  args: string[];
  cwd: string;
  env: Record<string, string>;
  /** Spawn in a new session / process group (so the group can be signalled as one). */
  detached: boolean;
}

/** Host paths a sandbox sees read-only by default: the system, not the users' homes. */
export const SYSTEM_PATHS = ["/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/etc", "/opt"];

export type PathKind = { kind: "dir" } | { kind: "symlink"; target: string } | { kind: "missing" };

export function probePath(p: string): PathKind {
  try {
    const st = fs.lstatSync(p);
    if (st.isSymbolicLink()) return { kind: "symlink", target: fs.readlinkSync(p) };
    if (st.isDirectory()) return { kind: "dir" };
  } catch {
    // missing
  }
  return { kind: "missing" };
}

/**
 * The bind arguments for the host system: a directory is bound read-only, a symlink (as
 * /bin → usr/bin on merged-/usr systems) is recreated as the same symlink.
 */
export function systemBindArgs(paths: string[], probe: (p: string) => PathKind = probePath): string[] {
  const args: string[] = [];
  for (const p of paths) {
    const k = probe(p);
    if (k.kind === "dir") args.push("--ro-bind", p, p);
    else if (k.kind === "symlink") args.push("--symlink", k.target, p);
  }
  return args;
}

/** /etc/resolv.conf often links into /run (systemd-resolved): bind that directory too. */
function resolvConfArgs(bound: string[]): string[] {
  try {
    const real = fs.realpathSync("/etc/resolv.conf");
    if (bound.some((b) => real === b || real.startsWith(b + "/"))) return [];
    const dir = path.dirname(real);
    return ["--ro-bind-try", dir, dir];
  } catch {
    return [];
  }
}

export function makeSandbox(options: {
  mode: "bwrap" | "none";
  bwrapPath?: string | null;
  workdir: string;
  extraBinds?: string[];
  dropCaps?: boolean;
}): Sandbox {
  const extra = options.extraBinds ?? [];
  const systemArgs = [...systemBindArgs(SYSTEM_PATHS), ...resolvConfArgs(SYSTEM_PATHS)];
  return {
    mode: options.mode,
    extraBinds: extra.map((p) => path.resolve(p)),
    bwrapPath: options.mode === "bwrap" ? (options.bwrapPath ?? findBwrap()) : null,
    workdir: path.resolve(options.workdir),
    systemArgs,
    dropCaps: options.dropCaps ?? process.getuid?.() === 0,
  };
}

/** A valid host name derived from a workspace id. */
export function hostnameFor(id: string): string {
  const h = id.toLowerCase().replace(/[^a-z0-9-]/g, "-").replace(/^-+|-+$/g, "").slice(0, 63);
  return h || "workspace";
}

/** The bubblewrap arguments (before `--` and the command) for one launch. */
export function bwrapArgs(sb: Sandbox, req: LaunchRequest): string[] {
  const args = [
    "--die-with-parent",
    "--new-session",
    "--unshare-pid",
    "--unshare-ipc",
    "--unshare-uts",
    "--unshare-cgroup-try",
    "--hostname",
    req.hostname ?? "workspace",
  ];
  if (sb.dropCaps) args.push("--cap-drop", "ALL");
  args.push(...sb.systemArgs);
  args.push("--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp");
  // Hide every workspace (and the runner's state) that a system bind might expose, then
  // bring back only what this launch may see.
  args.push("--tmpfs", sb.workdir);
  for (const p of sb.extraBinds) args.push("--ro-bind-try", p, p);
  for (const p of req.readOnly ?? []) args.push("--ro-bind", p, p);
  args.push("--bind", req.workspaceDir, req.workspaceDir);
  args.push("--chdir", req.cwd);
  return args;
}

export function buildLaunch(sb: Sandbox, req: LaunchRequest): Launch {
  const [file, ...rest] = req.argv;
  if (!file) throw new Error("empty argv");
  if (sb.mode === "bwrap") {
    return {
      file: sb.bwrapPath ?? "bwrap",
      args: [...bwrapArgs(sb, req), "--", ...req.argv],
      cwd: req.workspaceDir,
      env: req.env,
      detached: true,
    };
  }
  return { file, args: rest, cwd: req.cwd, env: req.env, detached: true };
}

export function findBwrap(envPath: string = process.env.PATH ?? ""): string | null {
  const dirs = [...envPath.split(":").filter(Boolean), "/usr/bin", "/bin", "/usr/local/bin"];
  for (const dir of dirs) {
    const candidate = path.join(dir, "bwrap");
    try {
      fs.accessSync(candidate, fs.constants.X_OK);
      return candidate;
    } catch {
      // next
    }
  }
  return null;
}

/**
 * Picks the sandbox: bubblewrap when present and working (probed once with the real
 * arguments), plain processes otherwise — with a WARNING, or an error if bwrap was required.
 */
export function detectSandbox(options: {
  preference: SandboxPreference;
  workdir: string;
  extraBinds?: string[];
  logger: Logger;
}): Sandbox {
  const { preference, logger } = options;
  fs.mkdirSync(options.workdir, { recursive: true });
  const none = () => makeSandbox({ mode: "none", workdir: options.workdir });
  if (preference === "none") {
    logger.warn("WARNING: sandbox disabled (RUNNER_SANDBOX=none): workspaces run as plain processes with the runner's user and see the whole host", { sandbox: "none" });
    return none();
  }
  const bwrapPath = findBwrap();
  let problem = bwrapPath ? null : "bwrap not found";
  if (bwrapPath) {
    const sb = makeSandbox({ mode: "bwrap", bwrapPath, workdir: options.workdir, extraBinds: options.extraBinds });
    const probeDir = fs.mkdtempSync(path.join(os.tmpdir(), "edgepod-probe-"));
    try {
      const launch = buildLaunch(sb, { argv: ["/bin/sh", "-c", "exit 0"], cwd: probeDir, env: { PATH: "/usr/bin:/bin" }, workspaceDir: probeDir });
      const r = spawnSync(launch.file, launch.args, { cwd: launch.cwd, env: launch.env, timeout: 10_000, encoding: "utf8" });
      if (r.status === 0) {
        logger.info("sandbox: bubblewrap", { sandbox: "bwrap", bwrap: bwrapPath, dropCaps: sb.dropCaps });
        return sb;
      }
      problem = `bwrap probe failed: ${(r.stderr || r.error?.message || `exit ${r.status}`).trim()}`;
    } finally {
      fs.rmSync(probeDir, { recursive: true, force: true });
    }
  }
  if (preference === "bwrap") throw new Error(`RUNNER_SANDBOX=bwrap but ${problem}`);
  logger.warn("WARNING: bubblewrap unavailable: workspaces run as plain processes with the runner's user and see the whole host", { sandbox: "none", problem });
  return none();
}

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
  error?: Error;
}

/** One launched process (bwrap or plain) and everything it starts. */
export class SandboxedProcess {
  readonly child: ChildProcess;
  readonly exited: Promise<Exit>;
  readonly mode: Sandbox["mode"];
  #exit: Exit | null = null;

  constructor(sb: Sandbox, req: LaunchRequest, stdio: StdioOptions) {
    const launch = buildLaunch(sb, req);
    this.mode = sb.mode;
    this.child = spawn(launch.file, launch.args, { cwd: launch.cwd, env: launch.env, stdio, detached: launch.detached });
    this.exited = new Promise<Exit>((resolve) => {
      this.child.once("error", (error) => {
        this.#exit ??= { code: null, signal: null, error };
        resolve(this.#exit);
      });
      this.child.once("exit", (code, sig) => {
        this.#exit ??= { code, signal: sig };
        resolve(this.#exit);
      });
    });
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  get exit(): Exit | null {
    return this.#exit;
  }

  /**
   * Every process of this launch. Inside a PID namespace orphans are re-parented to the
   * namespace's init, a descendant of bwrap, so descendants are all of them; a plain
   * launch adds its process group (children that outlived their parent).
   */
  processes(table = processTable()): Set<number> {
    const pid = this.child.pid;
    if (pid === undefined) return new Set();
    const out = descendants(pid, table);
    if (this.mode === "none") for (const p of table.values()) if (p.pgid === pid) out.add(p.pid);
    return out;
  }

  /**
   * Ends the whole tree: SIGTERM to every process (bwrap itself excepted: its death would
   * SIGKILL the namespace at once), then after `graceMs` SIGKILL to whatever is left.
   */
  async kill(graceMs: number): Promise<void> {
    const pid = this.child.pid;
    if (pid === undefined) return;
    let targets = this.processes();
    const term = [...targets].filter((p) => !(this.mode === "bwrap" && p === pid));
    if (this.mode === "none") signalGroup(pid, "SIGTERM");
    signal(term, "SIGTERM");
    const deadline = Date.now() + graceMs;
    while (Date.now() < deadline && [...targets].some(isAlive)) await sleep(50);
    targets = new Set([...targets, ...this.processes()]);
    if (this.mode === "none") signalGroup(pid, "SIGKILL");
    signal(targets, "SIGKILL");
    if (this.#exit === null) await Promise.race([this.exited, sleep(2_000)]);
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
