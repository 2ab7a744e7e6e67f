/**
 * Running `.gitpod.yml` tasks with Gitpod's semantics: each task is one shell session
 * that runs `before`, then `init` (only the first time a workspace is initialised), then
 * `command`; tasks run concurrently. Because the stages share one shell, what `before`
 * exports is visible to `init` and `command`.
 *
 * The runner writes each stage to a script file and a small driver that sources them in
 * order. Output keeps its order: all stages write to the task's one stdout and one stderr
 * pipe, and the driver marks each stage boundary in-band on both (a line starting with
 * the ASCII record separator and a per-run nonce), which the runner strips and uses to
 * name the output (`0:before`, `0:init`, `0:command`). Phase changes and exit codes go on
 * a separate control pipe (fd 3) that the user's processes never inherit.
 */
import crypto from "node:crypto";
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

const RS = "\x1e";
/** The in-band boundary line: `\x1eedgepod-stage <nonce> <stage>\n`. */
export function stageMarker(nonce: string, stage: Stage): string {
  return `${RS}edgepod-stage ${nonce} ${stage}\n`;
}

/** The driver script: sources each stage in one shell, marking boundaries in-band and on fd 3. */
export function driverScript(scripts: StageScripts, env: Record<string, string>, nonce: string): string {
  if (!/^[0-9a-f]+$/.test(nonce)) throw new Error("nonce must be hex");
  const lines = [
    "# edgepod task driver (generated): stages marked on stdout/stderr, control on fd 3",
    "__edgepod_ctl() { printf '%s\\n' \"$*\" >&3; }",
    `__edgepod_stage() { printf '\\036edgepod-stage ${nonce} %s\\n' "$1"; printf '\\036edgepod-stage ${nonce} %s\\n' "$1" >&2; __edgepod_ctl begin "$1"; }`,
  ];
  for (const [k, v] of Object.entries(env)) {
    if (/^[A-Za-z_][A-Za-z0-9_]*$/.test(k)) lines.push(`export ${k}=${shQuote(v)}`);
  }
  for (const stage of ["before", "init"] as const) {
    const file = scripts[stage];
    if (file === undefined) continue;
    lines.push(
      `__edgepod_stage ${stage}`,
      `. ${shQuote(file)} 3>&- </dev/null`,
      "__edgepod_rc=$?",
      `__edgepod_ctl end ${stage} $__edgepod_rc`,
      `[ "$__edgepod_rc" -eq 0 ] || exit "$__edgepod_rc"`,
    );
  }
  if (scripts.command !== undefined) {
    lines.push("__edgepod_stage command", "exec 3>&-", `. ${shQuote(scripts.command)} </dev/null`);
  } else {
    lines.push("__edgepod_ctl done", "exec 3>&-");
  }
  return lines.join("\n") + "\n";
}

/**
 * Splits one output stream at the driver's stage markers: text is attributed to the
 * stage in force when it was written, and the markers themselves are removed. A marker
 * split across reads is held back until it is complete.
 */
export class StageSplitter {
  stage: Stage;
  readonly #prefix: string;
  readonly #emit: (stage: Stage, text: string) => void;
  #held = "";

  constructor(nonce: string, initial: Stage, emit: (stage: Stage, text: string) => void) {
    this.#prefix = `${RS}edgepod-stage ${nonce} `;
    this.stage = initial;
    this.#emit = emit;
  }

  write(text: string): void {
    let buf = this.#held + text;
    this.#held = "";
    for (;;) {
      const at = buf.indexOf(this.#prefix);
      if (at < 0) break;
      const nl = buf.indexOf("\n", at + this.#prefix.length);
      if (nl < 0) {
        // The marker is not complete yet.
        this.#out(buf.slice(0, at));
        this.#held = buf.slice(at);
        return;
      }
      this.#out(buf.slice(0, at));
      const name = buf.slice(at + this.#prefix.length, nl);
      if (name === "before" || name === "init" || name === "command") this.stage = name;
      buf = buf.slice(nl + 1);
    }
    // Hold back a tail that may be the start of a marker.
    const rs = buf.lastIndexOf(RS);
    if (rs >= 0 && this.#prefix.startsWith(buf.slice(rs))) {
      this.#held = buf.slice(rs);
      buf = buf.slice(0, rs);
    }
    this.#out(buf);
  }

  /** The stream ended: whatever is held is plain output. */
  end(): void {
    const held = this.#held;
    this.#held = "";
    this.#out(held);
  }

  #out(text: string): void {
    if (text) this.#emit(this.stage, text);
  }
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

interface WatchOptions extends TaskOptions {
  nonce: string;
  /** Stage that output before the first marker belongs to. */
  firstStage: Stage;
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

  constructor(options: WatchOptions, proc: SandboxedProcess, ranInit: boolean) {
    this.index = options.index;
    this.task = options.task;
    this.proc = proc;
    this.initCompleted = !ranInit;
    this.ready = this.#watch(options);
    this.ready.catch(() => {});
  }

  async #watch(options: WatchOptions): Promise<void> {
    const { index, onLog } = options;
    const stdio = this.proc.child.stdio;
    for (const [fd, stream] of [[1, "stdout"], [2, "stderr"]] as const) {
      const r = stdio[fd] as Readable | null | undefined;
      if (!r) continue;
      const decoder = new StringDecoder("utf8");
      const splitter = new StageSplitter(options.nonce, options.firstStage, (stage, text) => {
        for (const chunk of chunkUtf8(text)) onLog(`${index}:${stage}`, stream, chunk);
      });
      r.on("data", (buf: Buffer) => splitter.write(decoder.write(buf)));
      r.on("end", () => {
        splitter.write(decoder.end());
        splitter.end();
      });
      r.on("error", () => {});
    }

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
  const nonce = crypto.randomBytes(8).toString("hex");
  const driver = path.join(scriptsDir, `${index}-driver.sh`);
  await fs.writeFile(driver, driverScript(scripts, task.env ?? {}, nonce), { mode: 0o644 });
  const proc = options.launch([options.shell, driver], ["ignore", "pipe", "pipe", "pipe"], [scriptsDir]);
  const firstStage: Stage = scripts.before ? "before" : scripts.init ? "init" : "command";
  return new RunningTask({ ...options, nonce, firstStage }, proc, ranInit);
}
