import { exports } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { asBearer, expectError, issueToken, ORIGIN } from "./helpers";
import { addToTeam, as, createOrg, createTeam, invite, join, person, type Person } from "./org-helpers";
import { createProject, deliver, prebuildRows } from "./project-helpers";
import { connectRunner, expire, runnerRow } from "./runner-peer";

type Prebuild = { id: string; state: string; reason: string | null; attempt: number; runnerId: string | null; commit: string; ref: string; startedAt: string | null; finishedAt: string | null };
type Workspace = { id: string; phase: string; reason: string | null; prebuildId: string | null; runnerId: string | null; repository: { revision: string | null } };

const SHA = "a".repeat(40);
const OTHER_SHA = "b".repeat(40);
const REPO = "https://github.com/acme/app";

async function setup(capacity = 2) {
  const owner = await person("owner");
  const org = await createOrg(owner);
  const project = await createProject(owner, org.id, { repositoryUrl: REPO, defaultBranch: "main" });
  return { owner, org, project, ...(await connectRunner(owner, org.id, capacity)) };
}

const trigger = (who: Person, projectId: string, body: Record<string, unknown> = {}) => as(who, "POST", `/api/v1/projects/${projectId}/prebuilds`, body);
const get = async (who: Person, id: string) => (await (await as(who, "GET", `/api/v1/prebuilds/${id}`)).json()) as Prebuild;
const stateOf = (who: Person, id: string) => async () => (await get(who, id)).state;

/** A push of `commit` to `main`, as GitHub delivers it. */
function push(project: { id: string; webhookSecret: string }, commit: string, deliveryId = crypto.randomUUID()) {
  const payload = { ref: "refs/heads/main", after: commit, deleted: false, repository: { full_name: "acme/app", default_branch: "main" } };
  return deliver("github", project.id, project.webhookSecret, "push", payload, { deliveryId });
}

/** Triggers a prebuild of SHA on main and waits for its runner to be told to start it. */
async function building(s: Awaited<ReturnType<typeof setup>>, commit = SHA) {
  const res = await trigger(s.owner, s.project.id, { branch: "main", commit });
  expect(res.status, await res.clone().text()).toBe(201);
  const prebuild = (await res.json()) as Prebuild;
  const start = await s.peer.next("start", (m) => m.spec.workspaceId === prebuild.id);
  return { prebuild, start };
}

describe("a prebuild on a runner", () => {
  it("is queued, dispatched in prebuild mode, builds and becomes available; its runner is told to stop it", async () => {
    const s = await setup();
    const { prebuild, start } = await building(s);
    expect(prebuild).toMatchObject({ state: "queued", attempt: 1, commit: SHA, ref: "main", trigger: "manual" });
    expect(start.spec).toMatchObject({
      workspaceId: prebuild.id,
      generation: 1,
      mode: "prebuild",
      snapshot: { key: prebuild.id },
      repository: { cloneUrl: "https://github.com/acme/app.git", ref: "main", revision: SHA },
      tasks: null,
      timeouts: { startMs: 60 * 60_000 },
    });
    expect(await get(s.owner, prebuild.id)).toMatchObject({ state: "building", runnerId: s.runnerId, startedAt: expect.any(String) });

    s.peer.report(prebuild.id, 1, "initializing");
    s.peer.report(prebuild.id, 1, "running");
    await expect.poll(stateOf(s.owner, prebuild.id)).toBe("available");
    expect(await s.peer.next("stop")).toMatchObject({ workspaceId: prebuild.id, generation: 2 });
    s.peer.report(prebuild.id, 2, "stopping");
    s.peer.report(prebuild.id, 2, "stopped");
    await expect.poll(async () => (await runnerRow(s.runnerId)).assigned).toBe(0);
    expect(await get(s.owner, prebuild.id)).toMatchObject({ state: "available", reason: null, finishedAt: expect.any(String) });
    s.peer.close();
  });

  it("streams its state and task logs on its events socket", async () => {
    const s = await setup();
    const { prebuild } = await building(s);
    const { token } = await issueToken(s.owner.cookie, { scopes: ["prebuilds:read"] });
    const res = await exports.default.fetch(new Request(`${ORIGIN}/api/v1/prebuilds/${prebuild.id}/events`, { headers: { upgrade: "websocket", ...asBearer(token) } }));
    expect(res.status).toBe(101);
    const messages: { type: string; prebuild?: { state: string }; data?: string }[] = [];
    res.webSocket!.accept();
    res.webSocket!.addEventListener("message", (e) => messages.push(JSON.parse(e.data as string)));
    await expect.poll(() => messages.length).toBeGreaterThan(0);
    s.peer.report(prebuild.id, 1, "initializing");
    s.peer.send({ type: "log", workspaceId: prebuild.id, task: "0:init", stream: "stdout", data: "npm ci\n" });
    s.peer.report(prebuild.id, 1, "running");
    // Consecutive repeats folded (the phase moves on after the outcome: stopping, stopped).
    const seen = () => messages.map((m) => (m.type === "state" ? m.prebuild!.state : `log:${m.data}`)).filter((m, i, all) => m !== all[i - 1]);
    await expect.poll(seen).toEqual(["building", "log:npm ci\n", "available"]);
    res.webSocket!.close();
    s.peer.close();
  });

  it("fails with the runner's reason; a runner that restarted mid-build fails it too", async () => {
    const s = await setup();
    const { prebuild } = await building(s);
    s.peer.report(prebuild.id, 1, "failed", { reason: "task 0 init exited with code 2" });
    await expect.poll(stateOf(s.owner, prebuild.id)).toBe("failed");
    expect((await get(s.owner, prebuild.id)).reason).toBe("task 0 init exited with code 2");

    const second = await building(s, OTHER_SHA);
    s.peer.report(second.prebuild.id, 1, "stopped", { reason: "runner restarted" });
    await expect.poll(stateOf(s.owner, second.prebuild.id)).toBe("failed");
    expect((await get(s.owner, second.prebuild.id)).reason).toBe("runner restarted");
    s.peer.close();
  });

  it("times out after the project's prebuild timeout, and its runner is told to stop", async () => {
    const s = await setup();
    const { prebuild } = await building(s);
    await expire(prebuild.id, "start");
    expect(await get(s.owner, prebuild.id)).toMatchObject({ state: "timeout", reason: expect.stringMatching(/within 60 minutes/) });
    expect(await s.peer.next("stop")).toMatchObject({ workspaceId: prebuild.id });
    s.peer.close();
  });
});

describe("cancel and re-run", () => {
  it("cancels a building prebuild (aborted, stopped on its runner), idempotently", async () => {
    const s = await setup();
    const { prebuild } = await building(s);
    const cancelled = await as(s.owner, "POST", `/api/v1/prebuilds/${prebuild.id}/cancel`);
    expect(cancelled.status).toBe(200);
    expect(await cancelled.json()).toMatchObject({ state: "aborted", reason: "Cancelled by a user." });
    expect(await s.peer.next("stop")).toMatchObject({ workspaceId: prebuild.id, generation: 2 });
    s.peer.report(prebuild.id, 2, "stopped");
    await expect.poll(async () => (await runnerRow(s.runnerId)).assigned).toBe(0);
    expect(await get(s.owner, prebuild.id)).toMatchObject({ state: "aborted" });
    expect(((await (await as(s.owner, "POST", `/api/v1/prebuilds/${prebuild.id}/cancel`)).json()) as Prebuild).state).toBe("aborted");
    s.peer.close();
  });

  it("cancels a queued prebuild waiting for a runner", async () => {
    const owner = await person();
    const org = await createOrg(owner);
    const project = await createProject(owner, org.id, { repositoryUrl: REPO, defaultBranch: "main" });
    const prebuild = (await (await trigger(owner, project.id, { commit: SHA })).json()) as Prebuild;
    await expect.poll(async () => (await prebuildRows(project.id))[0]?.phase, { timeout: 5_000 }).toBe("pending");
    expect((await get(owner, prebuild.id)).reason).toMatch(/runner/);
    const cancelled = (await (await as(owner, "POST", `/api/v1/prebuilds/${prebuild.id}/cancel`)).json()) as Prebuild;
    expect(cancelled).toMatchObject({ state: "aborted", finishedAt: expect.any(String) });
  });

  it("re-runs a finished prebuild as its next attempt; a prebuild in progress is returned as it is", async () => {
    const s = await setup();
    const { prebuild } = await building(s);
    const again = await trigger(s.owner, s.project.id, { commit: SHA });
    expect(again.status).toBe(200);
    expect(await again.json()).toMatchObject({ id: prebuild.id, attempt: 1, state: "building" });

    s.peer.report(prebuild.id, 1, "failed", { reason: "flaky" });
    await expect.poll(stateOf(s.owner, prebuild.id)).toBe("failed");
    const rerun = await trigger(s.owner, s.project.id, { commit: SHA });
    expect(rerun.status).toBe(200);
    expect(await rerun.json()).toMatchObject({ id: prebuild.id, attempt: 2, state: "queued", reason: null, finishedAt: null });
    const start = await s.peer.next("start", (m) => m.spec.workspaceId === prebuild.id);
    expect(start.spec.generation).toBe(2);
    s.peer.report(prebuild.id, 2, "running");
    await expect.poll(stateOf(s.owner, prebuild.id)).toBe("available");
    expect(await get(s.owner, prebuild.id)).toMatchObject({ attempt: 2, state: "available" });
    s.peer.close();
  });

  it("gives up on a prebuild that waits for a runner too long", async () => {
    const owner = await person();
    const org = await createOrg(owner);
    const project = await createProject(owner, org.id, { repositoryUrl: REPO, defaultBranch: "main" });
    const prebuild = (await (await trigger(owner, project.id, { commit: SHA })).json()) as Prebuild;
    await expect.poll(async () => (await prebuildRows(project.id))[0]?.phase, { timeout: 5_000 }).toBe("pending");
    await expire(prebuild.id, "pending");
    expect(await get(owner, prebuild.id)).toMatchObject({ state: "failed", reason: expect.stringMatching(/No runner/) });
  });
});

describe("manual triggers", () => {
  it("build the head the webhooks last reported for a branch, and refuse without one", async () => {
    const s = await setup();
    await expectError(await trigger(s.owner, s.project.id, {}), 400);
    await expectError(await trigger(s.owner, s.project.id, { commit: "not-a-sha" }), 400);
    await as(s.owner, "PATCH", `/api/v1/projects/${s.project.id}`, { prebuilds: { enabled: false } });
    expect((await push(s.project, SHA)).status).toBe(202);
    // Disabled: the push starts nothing, but its head is known.
    await expect.poll(async () => {
      const res = await trigger(s.owner, s.project.id, {});
      return res.status;
    }, { timeout: 10_000, interval: 200 }).toBe(201);
    expect((await prebuildRows(s.project.id)).map((p) => [p.commit_sha, p.trigger])).toEqual([[SHA, "manual"]]);
    s.peer.close();
  });

  it("are refused in maintenance mode, and follow the project's permissions", async () => {
    const s = await setup();
    const member = await person();
    const collaborator = await person();
    await join(member, (await invite(s.owner, s.org.id, "member")).code);
    await join(collaborator, (await invite(s.owner, s.org.id, "collaborator")).code);
    const team = await createTeam(s.owner, s.org.id, "readers");
    await addToTeam(s.owner, s.org.id, team.id, collaborator.id);
    await as(s.owner, "PUT", `/api/v1/orgs/${s.org.id}/teams/${team.id}/projects/${s.project.id}`, { access: "read" });

    const created = (await (await trigger(member, s.project.id, { commit: SHA })).json()) as Prebuild;
    expect((await as(collaborator, "GET", `/api/v1/projects/${s.project.id}/prebuilds`)).status).toBe(200);
    expect((await as(collaborator, "GET", `/api/v1/prebuilds/${created.id}`)).status).toBe(200);
    await expectError(await trigger(collaborator, s.project.id, { commit: OTHER_SHA }), 403, "forbidden");
    await expectError(await as(collaborator, "POST", `/api/v1/prebuilds/${created.id}/cancel`), 403, "forbidden");
    await expectError(await as(await person(), "GET", `/api/v1/prebuilds/${created.id}`), 404);

    await as(s.owner, "PATCH", `/api/v1/orgs/${s.org.id}`, { settings: { maintenanceMode: true } });
    await expectError(await trigger(s.owner, s.project.id, { commit: OTHER_SHA }), 409, "maintenance_mode");
    s.peer.close();
  });
});

describe("a workspace on a prebuilt commit", () => {
  it("starts from the prebuild, on the runner that holds it, pinned to its commit", async () => {
    const s = await setup(4);
    expect((await push(s.project, SHA, "delivery-main")).status).toBe(202);
    // Through both queues (each waits up to its batch timeout).
    const start = await s.peer.next("start", (m) => m.spec.mode === "prebuild", 10_000);
    const prebuildId = start.spec.workspaceId;
    s.peer.report(prebuildId, 1, "running");
    await expect.poll(stateOf(s.owner, prebuildId)).toBe("available");

    // Another runner, emptier: the one holding the prebuild is still preferred.
    const other = await connectRunner(s.owner, s.org.id, 10, "r2");
    const create = async (contextUrl: string) => {
      const res = await as(s.owner, "POST", "/api/v1/workspaces", { contextUrl, organizationId: s.org.id });
      expect(res.status).toBe(201);
      return (await res.json()) as Workspace;
    };
    for (const contextUrl of [REPO, `${REPO}/tree/main`, `${REPO}/commit/${SHA.slice(0, 10)}`]) {
      const ws = await create(contextUrl);
      expect(ws, contextUrl).toMatchObject({ prebuildId, runnerId: s.runnerId, repository: { revision: SHA } });
      const wsStart = await s.peer.next("start", (m) => m.spec.workspaceId === ws.id);
      expect(wsStart.spec.snapshot).toEqual({ key: prebuildId });
      expect(wsStart.spec.mode).toBeUndefined();
    }
    // Another branch, another commit: no prebuild.
    const plain = await create(`${REPO}/tree/feature`);
    expect(plain).toMatchObject({ prebuildId: null, repository: { revision: null } });
    const plainStart = await (plain.runnerId === s.runnerId ? s.peer : other.peer).next("start", (m) => m.spec.workspaceId === plain.id);
    expect(plainStart.spec.snapshot).toBeUndefined();
    s.peer.close();
    other.peer.close();
  });
});

describe("deleting the project", () => {
  it("ends its prebuilds in progress", async () => {
    const s = await setup();
    const { prebuild } = await building(s);
    expect((await as(s.owner, "DELETE", `/api/v1/projects/${s.project.id}`)).status).toBe(204);
    expect(await s.peer.next("stop")).toMatchObject({ workspaceId: prebuild.id });
    await expect.poll(async () => (await runnerRow(s.runnerId)).assigned).toBe(0);
    s.peer.close();
  });
});
