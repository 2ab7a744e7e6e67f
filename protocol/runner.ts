/**
 * The runner protocol, version 1: JSON messages over one WebSocket that the runner dials
 * out to the control plane (`GET /api/v1/runners/connect`, `Authorization: Bearer edr_…`).
 * Imported by the Worker (RunnerDO) and by the runner (Node runs this file directly, so it
 * uses erasable TypeScript only). Documented in protocol/README.md.
 *
 * Desired state, not scripts: every workspace carries a `generation` that grows on each
 * change of what the control plane wants. `start` and `stop` carry it; the runner applies
 * a command only if its generation is newer than the last it applied for that workspace,
 * so repeats and replays are harmless. On (re)connect the runner says what it runs
 * (`hello`) and the control plane answers with the current desired state of each
 * workspace assigned to it, so the two converge after any outage.
 */
import { z } from "zod";

export const PROTOCOL_VERSION = 1;

/** Sent as a text frame every `heartbeatIntervalMs`; answered `pong` without waking the DO. */
export const PING = "ping";
export const PONG = "pong";

/** Phases a runner reports for a workspace. */
export const RUNNER_PHASES = ["creating", "initializing", "running", "stopping", "stopped", "failed"] as const;
export type RunnerPhase = (typeof RUNNER_PHASES)[number];

/** One `.gitpod.yml` task: `before` and `init` run to completion, `command` keeps running. */
export const TaskSchema = z.object({
  name: z.string().max(200).optional(),
  before: z.string().max(100_000).optional(),
  init: z.string().max(100_000).optional(),
  command: z.string().max(100_000).optional(),
});
export type Task = z.infer<typeof TaskSchema>;

/** A snapshot's key: the prebuild's id (a workspace id, so safe as a file name). */
export const SnapshotKeySchema = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$/);

export const WORKSPACE_MODES = ["workspace", "prebuild"] as const;

export const WorkspaceSpecSchema = z.object({
  workspaceId: z.string(),
  generation: z.number().int().nonnegative(),
  repository: z.object({
    cloneUrl: z.string(),
    /** Branch or tag to check out; null for the default branch. */
    ref: z.string().nullable(),
    /** Exact commit to check out after cloning; null for the tip of `ref`. */
    revision: z.string().nullable(),
  }),
  /** Tasks chosen by the control plane; null means "read .gitpod.yml from the repository". */
  tasks: z.array(TaskSchema).nullable(),
  env: z.record(z.string(), z.string()),
  timeouts: z.object({
    /** How long cloning plus `before`/`init` may take before the runner gives up. */
    startMs: z.number().int().positive(),
  }),
  /**
   * Optional (absent means "workspace"). "prebuild": a headless run of the `before` and
   * `init` tasks only, always in a fresh directory, whose result is saved as the snapshot
   * `snapshot.key`; it reports `running` once the snapshot is saved (its processes are
   * ended by then) and waits for the control plane's `stop`.
   */
  mode: z.enum(WORKSPACE_MODES).optional(),
  /**
   * Optional. For a workspace: start from this snapshot if the runner holds it (copy it in;
   * no clone, no `init`), else as usual. For a prebuild: the key to save its result under.
   */
  snapshot: z.object({ key: SnapshotKeySchema }).optional(),
});
export type WorkspaceSpec = z.infer<typeof WorkspaceSpecSchema>;

// ── control plane → runner ───────────────────────────────────────────────────────────

export const WelcomeSchema = z.object({
  type: z.literal("welcome"),
  v: z.literal(PROTOCOL_VERSION),
  runnerId: z.string(),
  heartbeatIntervalMs: z.number().int().positive(),
});

/** Run this workspace (clone if its directory is new, then tasks); ack with `id`. */
export const StartSchema = z.object({ type: z.literal("start"), id: z.string(), spec: WorkspaceSpecSchema });

/** Stop every process of the workspace and keep its directory; ack with `id`. */
export const StopSchema = z.object({
  type: z.literal("stop"),
  id: z.string(),
  workspaceId: z.string(),
  generation: z.number().int().nonnegative(),
  reason: z.string(),
});

export const ControlMessageSchema = z.discriminatedUnion("type", [WelcomeSchema, StartSchema, StopSchema]);
export type ControlMessage = z.infer<typeof ControlMessageSchema>;

// ── runner → control plane ───────────────────────────────────────────────────────────

export const WorkspaceReportSchema = z.object({
  workspaceId: z.string(),
  generation: z.number().int().nonnegative(),
  phase: z.enum(RUNNER_PHASES),
});

/** First message after connecting, and again after every reconnect. */
export const HelloSchema = z.object({
  type: z.literal("hello"),
  v: z.literal(PROTOCOL_VERSION),
  version: z.string().max(100),
  capacity: z.number().int().min(0).max(10_000),
  workspaces: z.array(WorkspaceReportSchema).max(10_000),
});

export const AckSchema = z.object({ type: z.literal("ack"), id: z.string() });

export const PortSchema = z.object({ port: z.number().int().min(1).max(65_535) });

export const StatusSchema = WorkspaceReportSchema.extend({
  type: z.literal("status"),
  /** Why a workspace failed (or stopped on its own). */
  reason: z.string().max(2_000).optional(),
  ports: z.array(PortSchema).max(100).optional(),
});

/** A chunk of task output; `task` names the task and its stage, e.g. `0:init`. */
export const LogSchema = z.object({
  type: z.literal("log"),
  workspaceId: z.string(),
  task: z.string().max(200),
  stream: z.enum(["stdout", "stderr"]),
  data: z.string().max(64 * 1024),
});

/** Someone used the workspace (terminal input, a port's traffic): extends its inactivity timeout. */
export const ActivitySchema = z.object({ type: z.literal("activity"), workspaceId: z.string() });

export const RunnerMessageSchema = z.discriminatedUnion("type", [
  HelloSchema,
  AckSchema,
  StatusSchema,
  LogSchema,
  ActivitySchema,
]);
export type RunnerMessage = z.infer<typeof RunnerMessageSchema>;
export type Hello = z.infer<typeof HelloSchema>;
export type Status = z.infer<typeof StatusSchema>;
