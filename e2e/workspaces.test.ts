/**
 * End to end: the Worker under `wrangler dev` and the real runner (`runner/src/main.ts`),
 * a git repository made here, and the events socket watched as a dashboard would.
 */
import type { ChildProcess } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { join, resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  makeRepository,
  runnerConnected,
  signIn,
  startRunner as startRunnerProcess,
  startWorker,
  token as personalToken,
} from "../scripts/local-worker.mjs";

const PORT = 8797;
// Under the project, not /tmp: the runner's sandbox has a private /tmp.
const SCRATCH = resolve(".e2e");

type Api = (method: string, path: string, body?: unknown) => Promise<any>;
type Event = { type: "state"; workspace: { phase: string; reason: string | null } } | { type: "log"; task: string; data: string };

let worker: { base: string; stop(): void };
let api: Api;
let bearer: string;
let orgId: string;
let runnerToken: string;
let runner: ChildProcess | undefined;

const startRunner = () => startRunnerProcess({ base: worker.base, token: runnerToken, workdir: mkdtempSync(join(SCRATCH, "runner-")) });
const repository = (gitpodYml: string) => makeRepository(SCRATCH, gitpodYml);

/** Opens the events socket and records everything it says. */
async function watch(id: string) {
  const events: Event[] = [];
  const ws = new WebSocket(`${worker.base.replace("http", "ws")}/api/v1/workspaces/${id}/events`, {
    headers: { authorization: `Bearer ${bearer}` },
  } as unknown as string[]);
  ws.onmessage = (e) => events.push(JSON.parse(String(e.data)));
  await new Promise((ok, fail) => ((ws.onopen = ok), (ws.onerror = fail)));
  const phases = () => events.flatMap((e) => (e.type === "state" ? [e.workspace.phase] : []));
  const output = () => events.flatMap((e) => (e.type === "log" ? [e.data] : [])).join("");
  const until = (phase: string, timeout = 60_000) => expect.poll(() => phases().at(-1), { timeout, interval: 100 }).toBe(phase);
  return { ws, events, phases, output, until, last: () => events.findLast((e) => e.type === "state") as Extract<Event, { type: "state" }> };
}

const ORDER = ["preparing", "pending", "creating", "initializing", "running", "stopping", "stopped"];
const inOrder = (phases: string[]) => phases.every((p, i) => i === 0 || ORDER.indexOf(p) >= ORDER.indexOf(phases[i - 1]!));

beforeAll(async () => {
  mkdirSync(SCRATCH, { recursive: true });
  worker = await startWorker({
    port: PORT,
    vars: { ALLOW_FILE_REPOSITORIES: "true", RUNNER_HEARTBEAT_SECONDS: "1", RUNNER_LOST_GRACE_SECONDS: "3" },
  });
  ({ api } = await signIn(worker.base, "e2e@example.com"));
  bearer = await personalToken(api);
  orgId = (await api("POST", "/api/v1/orgs", { name: "E2E" })).id;
  runnerToken = (await api("POST", `/api/v1/orgs/${orgId}/runners`, { name: "e2e" })).token;
  runner = startRunner();
  await runnerConnected(api, orgId);
});

afterAll(() => {
  runner?.kill("SIGKILL");
  worker?.stop();
  rmSync(SCRATCH, { recursive: true, force: true });
});

describe("a workspace on a real runner", () => {
  it("clones, initialises and runs its tasks, streaming their output; stops on request", async () => {
    const contextUrl = repository(
      ["tasks:", "  - name: app", "    init: echo init-ran-$((6*7))", "    command: echo command-started && sleep 600", ""].join("\n"),
    );
    const created = await api("POST", "/api/v1/workspaces", { contextUrl, organizationId: orgId });
    const events = await watch(created.id);
    await events.until("running");
    expect(inOrder(events.phases())).toBe(true);
    await expect.poll(events.output, { timeout: 10_000 }).toContain("command-started");
    expect(events.output()).toContain("init-ran-42");

    await api("POST", `/api/v1/workspaces/${created.id}/stop`);
    await events.until("stopped");
    expect(events.phases().slice(-2)).toEqual(["stopping", "stopped"]);
    events.ws.close();
  });

  it("fails with the reason when a task fails", async () => {
    const contextUrl = repository(["tasks:", "  - init: echo about-to-fail && exit 3", ""].join("\n"));
    const created = await api("POST", "/api/v1/workspaces", { contextUrl, organizationId: orgId });
    const events = await watch(created.id);
    await events.until("failed");
    expect(events.last().workspace.reason).toMatch(/exit(ed)? .*3/);
    expect(events.output()).toContain("about-to-fail");
    events.ws.close();
  });

  it("fails after the grace period when its runner is killed mid-start", async () => {
    const contextUrl = repository(["tasks:", "  - init: echo initialising && sleep 600", ""].join("\n"));
    const created = await api("POST", "/api/v1/workspaces", { contextUrl, organizationId: orgId });
    const events = await watch(created.id);
    await events.until("initializing");
    runner!.kill("SIGKILL");
    await events.until("failed", 30_000);
    expect(events.last().workspace.reason).toMatch(/runner was lost/);
    events.ws.close();
  });
});
