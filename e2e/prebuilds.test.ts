/**
 * End to end, with the Worker under `wrangler dev` (its queues run locally) and the real
 * runner: a signed GitHub push for a local repository → 202 → scm-events → prebuilds →
 * the runner builds it → available; then a workspace on that commit starts from the
 * prebuild's result, skips init, and says so in its events.
 */
import type { ChildProcess } from "node:child_process";
import { createHmac, randomBytes } from "node:crypto";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { join, resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { headCommit, makeRepository, runnerConnected, signIn, startRunner, startWorker, token as personalToken } from "../scripts/local-worker.mjs";

const PORT = 8798;
// Under the project, not /tmp: the runner's sandbox has a private /tmp.
const SCRATCH = resolve(".e2e-prebuilds");
/** init is slow on purpose (a dependency install, say): the prebuild is what saves it. */
const GITPOD_YML = [
  "tasks:",
  "  - init: |",
  "      sleep 3",
  "      echo built-$((6*7)) > build.out",
  "      echo init-done",
  '    command: echo "command sees $(cat build.out)" && sleep 600',
  "",
].join("\n");

type Api = (method: string, path: string, body?: unknown) => Promise<any>;
type Event = { type: "state"; workspace?: { phase: string; reason: string | null }; prebuild?: { state: string } } | { type: "log"; task: string; data: string };

let worker: { base: string; stop(): void };
let api: Api;
let bearer: string;
let orgId: string;
let runner: ChildProcess | undefined;

/** A committed repository with the `.gitpod.yml` above; its file:// URL and head commit. */
function repository(): { url: string; sha: string } {
  const url = makeRepository(SCRATCH, GITPOD_YML);
  return { url, sha: headCommit(url) };
}

/** Opens an events socket (a workspace's or a prebuild's) and records what it says. */
async function watch(path: string) {
  const events: Event[] = [];
  const ws = new WebSocket(`${worker.base.replace("http", "ws")}${path}`, { headers: { authorization: `Bearer ${bearer}` } } as unknown as string[]);
  ws.onmessage = (e) => events.push(JSON.parse(String(e.data)));
  await new Promise((ok, fail) => ((ws.onopen = ok), (ws.onerror = fail)));
  const states = () => events.flatMap((e) => (e.type === "state" ? [e] : []));
  const output = (task?: string) => events.flatMap((e) => (e.type === "log" && (!task || e.task === task) ? [e.data] : [])).join("");
  return { ws, states, output };
}

async function startWorkspace(contextUrl: string) {
  const started = Date.now();
  const created = await api("POST", "/api/v1/workspaces", { contextUrl, organizationId: orgId });
  const events = await watch(`/api/v1/workspaces/${created.id}/events`);
  await expect.poll(() => events.states().at(-1)?.workspace?.phase, { timeout: 60_000, interval: 50 }).toBe("running");
  return { created, events, ms: Date.now() - started };
}

beforeAll(async () => {
  mkdirSync(SCRATCH, { recursive: true });
  worker = await startWorker({
    port: PORT,
    vars: { ALLOW_FILE_REPOSITORIES: "true", SEALING_KEY: randomBytes(32).toString("base64"), RUNNER_HEARTBEAT_SECONDS: "2" },
  });
  ({ api } = await signIn(worker.base, "prebuilds@example.com"));
  bearer = await personalToken(api);
  orgId = (await api("POST", "/api/v1/orgs", { name: "Prebuilds E2E" })).id;
  const { token: runnerToken } = await api("POST", `/api/v1/orgs/${orgId}/runners`, { name: "e2e" });
  runner = startRunner({ base: worker.base, token: runnerToken, workdir: mkdtempSync(join(SCRATCH, "runner-")) });
  await runnerConnected(api, orgId);
});

afterAll(() => {
  runner?.kill("SIGKILL");
  worker?.stop();
  rmSync(SCRATCH, { recursive: true, force: true });
});

describe("a push, prebuilt on a real runner", () => {
  it("202 → queues → available on the runner → a workspace on that commit skips init and says so", async () => {
    const repo = repository();
    const project = await api("POST", `/api/v1/orgs/${orgId}/projects`, { name: "local", repositoryUrl: repo.url });
    expect(project.webhook.url).toBe(`${worker.base}/webhooks/github?project=${project.id}`);

    // What GitHub sends for a push to main, signed with the project's secret.
    const body = JSON.stringify({
      ref: "refs/heads/main",
      before: "0".repeat(40),
      after: repo.sha,
      created: true,
      deleted: false,
      forced: false,
      repository: { full_name: "local/prebuilt", default_branch: "main" },
      pusher: { name: "e2e", email: "e2e@example.com" },
      commits: [],
    });
    const signature = `sha256=${createHmac("sha256", project.webhookSecret).update(body).digest("hex")}`;
    const delivered = Date.now();
    const res = await fetch(project.webhook.url, {
      method: "POST",
      body,
      headers: { "content-type": "application/json", "x-github-event": "push", "x-github-delivery": crypto.randomUUID(), "x-hub-signature-256": signature },
    });
    expect(res.status).toBe(202);
    expect(await res.json()).toMatchObject({ status: "queued", event: "push" });

    let prebuildId = "";
    await expect
      .poll(async () => ((prebuildId = (await api("GET", `/api/v1/projects/${project.id}/prebuilds`)).items[0]?.id ?? "")), { timeout: 30_000, interval: 100 })
      .not.toBe("");
    const prebuildEvents = await watch(`/api/v1/prebuilds/${prebuildId}/events`);
    await expect.poll(() => prebuildEvents.states().at(-1)?.prebuild?.state, { timeout: 60_000, interval: 100 }).toBe("available");
    const prebuild = await api("GET", `/api/v1/prebuilds/${prebuildId}`);
    expect(prebuild).toMatchObject({ state: "available", commit: repo.sha, ref: "main", trigger: "push", runnerId: expect.any(String) });
    expect(prebuildEvents.output("0:init")).toContain("init-done");
    expect(prebuildEvents.output("prebuild")).toMatch(/Prebuild saved/);
    console.log(
      `prebuild: delivery → building ${Date.parse(prebuild.startedAt) - delivered} ms, → available ${Date.parse(prebuild.finishedAt) - delivered} ms`,
    );
    prebuildEvents.ws.close();

    const withPrebuild = await startWorkspace(repo.url);
    expect(withPrebuild.created).toMatchObject({ prebuildId, repository: { revision: repo.sha } });
    const last = withPrebuild.events.states().at(-1)!.workspace!;
    expect(last.reason).toBe(`started from prebuild ${prebuildId}: init skipped`);
    expect(withPrebuild.events.output("prebuild")).toContain(`Starting from prebuild ${prebuildId}`);
    await expect.poll(() => withPrebuild.events.output("0:command"), { timeout: 10_000 }).toContain("command sees built-42");
    expect(withPrebuild.events.output("0:init")).toBe("");

    // The same repository without a project (so without a prebuild): clone and init.
    const without = await startWorkspace(repository().url);
    expect(without.created.prebuildId).toBeNull();
    expect(without.events.output("0:init")).toContain("init-done");
    console.log(`workspace start: with prebuild ${withPrebuild.ms} ms, without ${without.ms} ms`);
    expect(withPrebuild.ms).toBeLessThan(without.ms);
    for (const w of [withPrebuild, without]) {
      w.events.ws.close();
      await api("POST", `/api/v1/workspaces/${w.created.id}/stop`);
    }
  });
});
