/**
 * Running `.gitpod.yml` tasks with Gitpod's semantics: each task is one shell session
 * that runs `before`, then `init` (only the first time a workspace is initialised), then
 * `command`; tasks run concurrently. Because the stages share one shell, what `before`
 * exports is visible to `init` and `command`.
 *
 * The runner writes each stage to a script file and a small driver that sources them in
 * order. The driver gives every stage its own output pipes (logged as `0:before`,
 * `0:init`, `0:command`) and reports stage boundaries on a control pipe (fd 3):
 *   fd 1/2 command stdout/stderr · fd 3 control · fd 4/5 before · fd 6/7 init
 * The user's processes never inherit the control pipe, nor other stages' pipes.
 */
import fs from "node:fs/promises";
import path from "node:path";
import { StringDecoder } from "node:string_decoder";
import type { Readable } from "node:stream";
import type { StdioOptions } from "node:child_process";
import type { RunnerTask } from "./gitpod-yml.ts";
import type { SandboxedProcess } from "./sandbox.ts";

export type Stage = "before" | "init" | "command";
export type LogStream = "stdout" | "stderr";

/** Largest `data` of one `log` message, in UTF-8 bytes (the protocol's 64 KiB). */
export const MAX_LOG_BYTES = 64 * 1024;

export class TaskFailure extends Error {
  override name = "TaskFailure";
}

export function taskLabel(index: number, task: RunnerTask): string {
  return task.name ? `task ${index} (${task.name})` : `task ${index}`;
}

/** POSIX single-quoting. */
export function shQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

export interface StageScripts {
  before?: string;
  init?: string;
  command?: string;
}

/** The driver script: sources each stage with its own pipes and reports boundaries on fd 3. */
export function driverScript(scripts: StageScripts, env: Record<string, string> = {}): string {
  const lines = [
    "# edgepod task driver (generated): fd 3 control, 4/5 before, 6/7 init, 1/2 command",
    "__edgepod_ctl() { printf '%s\\n' \"$*\" >&3; }",
  ];
  for (const [k, v] of Object.entries(env)) {
    if (/^[A-Za-z_][A-Za-z0-9_]*$/.test(k)) lines.push(`export ${k}=${shQuote(v)}`);
  }
  const stage = (name: "before" | "init", file: string, out: number, err: number, close: number[]) => {
    lines.push(
      `__edgepod_ctl begin ${name}`,
      `. ${shQuote(file)} 3>&- ${close.map((fd) => `${fd}>&-`).join(" ")} >&${out} 2>&${err} </dev/null`,
      "__edgepod_rc=$?",
      `__edgepod_ctl end ${name} $__edgepod_rc`,
      `[ "$__edgepod_rc" -eq 0 ] || exit "$__edgepod_rc"`,
    );
  };
  if (scripts.before !== undefined) stage("before", scripts.before, 4, 5, [6, 7]);
  lines.push("exec 4>&- 5>&-");
  if (scripts.init !== undefined) stage("init", scripts.init, 6, 7, []);
  lines.push("exec 6>&- 7>&-");
  if (scripts.command !== undefined) {
    lines.push("__edgepod_ctl begin command", "exec 3>&-", `. ${shQuote(scripts.command)} </dev/null`);
  } else {
    lines.push("__edgepod_ctl done", "exec 3>&-");
  }
  return lines.join("\n") + "\n";
}

/** Splits text into pieces of at most `maxBytes` UTF-8 bytes, never inside a character. */
export function chunkUtf8(text: string, maxBytes: number = MAX_LOG_BYTES): string[] {
  if (text.length === 0) return [];
  if (text.length * 3 <= maxBytes) return [text];
  const buf = Buffer.from(text, "utf8");
  if (buf.length <= maxBytes) return [text];
  const out: string[] = [];
  let start = 0;
  while (start < buf.length) {
    let end = Math.min(start + maxBytes, buf.length);
    // Back up to the first byte of a character.
    while (end < buf.length && end > start && (buf[end]! & 0xc0) === 0x80) end--;
    out.push(buf.toString("utf8", start, end));
    start = end;
  }
  return out;
}

export interface TaskOptions {
  index: number;
  task: RunnerTask;
  /** Run `init` (the workspace directory has not been initialised yet). */
  runInit: boolean;
  /** Directory for this task's scripts (created if missing; made visible read-only). */
  scriptsDir: string;
  /** The shell that runs the driver (bash where present). */
  shell: string;
  /** Starts argv in the workspace's sandbox, exposing `readOnly` paths. */
  launch: (argv: string[], stdio: StdioOptions, readOnly: string[]) => SandboxedProcess;
  onLog: (task: string, stream: LogStream, data: string) => void;
}

/** One started task. */
export class RunningTask {
  readonly index: number;
  readonly task: RunnerTask;
  readonly proc: SandboxedProcess;
  /** Stage the shell is in (last boundary seen on the control pipe). */
  stage: Stage | "starting" | "done" = "starting";
  /** `init` ran to success in this run, or was not needed. */
  initCompleted: boolean;
  /**
   * Settles when `before` and `init` are over: resolves once `command` has started (or
   * the task has nothing more to run); rejects with a TaskFailure naming the stage.
   */
  readonly ready: Promise<void>;
  readonly #ranInit: boolean;

  constructor(options: TaskOptions, proc: SandboxedProcess, ranInit: boolean) {
    this.index = options.index;
    this.task = options.task;
    this.proc = proc;
    this.#ranInit = ranInit;
    this.initCompleted = !ranInit;
    this.ready = this.#watch(options);
    this.ready.catch(() => {});
  }

  async #watch(options: TaskOptions): Promise<void> {
    const { index, onLog } = options;
    const stdio = this.proc.child.stdio;
    const pipe = (fd: number, stage: Stage, stream: LogStream) => {
      const r = stdio[fd] as Readable | null | undefined;
      if (!r) return;
      const decoder = new StringDecoder("utf8");
      const name = `${index}:${stage}`;
      r.on("data", (buf: Buffer) => {
        for (const chunk of chunkUtf8(decoder.write(buf))) onLog(name, stream, chunk);
      });
      r.on("end", () => {
        for (const chunk of chunkUtf8(decoder.end())) onLog(name, stream, chunk);
      });
      r.on("error", () => {});
    };
    pipe(1, "command", "stdout");
    pipe(2, "command", "stderr");
    pipe(4, "before", "stdout");
    pipe(5, "before", "stderr");
    pipe(6, "init", "stdout");
    pipe(7, "init", "stderr");

    const label = taskLabel(index, this.task);
    let settle!: { resolve: () => void; reject: (e: Error) => void };
    const result = new Promise<void>((resolve, reject) => (settle = { resolve, reject }));
    let settled = false;
    const resolve = () => {
      if (settled) return;
      settled = true;
      settle.resolve();
    };
    const reject = (e: Error) => {
      if (settled) return;
      settled = true;
      settle.reject(e);
    };

    const ctl = stdio[3] as Readable | null | undefined;
    const ctlEnded = new Promise<void>((r) => {
      if (!ctl) return r();
      ctl.on("end", () => r());
      ctl.on("close", () => r());
      ctl.on("error", () => r());
    });
    let buffered = "";
    ctl?.setEncoding("utf8");
    ctl?.on("data", (text: string) => {
      buffered += text;
      let nl: number;
      while ((nl = buffered.indexOf("\n")) >= 0) {
        const line = buffered.slice(0, nl).trim();
        buffered = buffered.slice(nl + 1);
        const [word, stage, rc] = line.split(" ");
        if (word === "begin" && (stage === "before" || stage === "init" || stage === "command")) {
          this.stage = stage;
          if (stage === "command") resolve();
        } else if (word === "end" && stage === "init" && rc === "0") {
          this.initCompleted = true;
        } else if (word === "done") {
          this.stage = "done";
          resolve();
        }
      }
    });

    this.proc.exited.then(async (exit) => {
      // The control pipe may still hold the last boundaries: read them first.
      await Promise.race([ctlEnded, new Promise((r) => setTimeout(r, 1_000))]);
      if (exit.error) return reject(new TaskFailure(`${label} could not start: ${exit.error.message}`));
      if (settled) return;
      const how = exit.signal ? `was killed by ${exit.signal}` : `exited with code ${exit.code}`;
      if (this.stage === "before" || this.stage === "init") {
        if (exit.code === 0 && !exit.signal) {
          // `exit 0` inside a stage: the task ended early, successfully.
          this.stage = "done";
          return resolve();
        }
        return reject(new TaskFailure(`${label} ${this.stage} ${how}`));
      }
      if (this.stage === "starting") return reject(new TaskFailure(`${label} failed to start: the shell ${how}`));
      resolve();
    });
    return result;
  }

  /** Did this run execute `init`? */
  get ranInit(): boolean {
    return this.#ranInit;
  }
}

/** Writes the task's scripts and starts its shell. */
export async function startTask(options: TaskOptions): Promise<RunningTask> {
  const { index, task, scriptsDir } = options;
  await fs.mkdir(scriptsDir, { recursive: true });
  const scripts: StageScripts = {};
  const write = async (stage: Stage, body: string | undefined) => {
    if (body === undefined || body.trim() === "") return;
    const file = path.join(scriptsDir, `${index}-${stage}.sh`);
    await fs.writeFile(file, body.endsWith("\n") ? body : body + "\n", { mode: 0o644 });
    scripts[stage] = file;
  };
  await write("before", task.before);
  const ranInit = options.runInit && task.init !== undefined && task.init.trim() !== "";
  if (ranInit) await write("init", task.init);
  await write("command", task.command);
  const driver = path.join(scriptsDir, `${index}-driver.sh`);
  await fs.writeFile(driver, driverScript(scripts, task.env ?? {}), { mode: 0o644 });
  const proc = options.launch([options.shell, driver], ["ignore", "pipe", "pipe", "pipe", "pipe", "pipe", "pipe", "pipe"], [scriptsDir]);
  return new RunningTask(options, proc, ranInit);
}
